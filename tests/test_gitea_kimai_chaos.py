"""Crash and fault tolerance: never a duplicate, nothing missing once runs converge."""

import random
import signal
import time

from gitea_helpers import assert_converged, seed


def converge(workdir, runs=6):
    """Run the sync until it finishes cleanly; returns the exit codes seen."""
    codes = []
    for _ in range(runs):
        codes.append(workdir.sync().returncode)
        if codes[-1] == 0:
            break
    return codes


def test_store_deleted_between_runs_links_instead_of_duplicating(workdir):
    sb = workdir.sandbox
    seed(sb, issues=20)
    workdir.sync(check_code=0)
    for suffix in ("", "-wal", "-shm"):
        (workdir.path / f"sync.db{suffix}").unlink(missing_ok=True)
    sb.gitea.edit_issue("acme", "web", 3, title="Renamed after the store was lost")
    sb.clear_requests()
    workdir.sync(check_code=0)
    posts = [r for r in sb.requests if r.method == "POST"]
    assert posts == []
    assert_converged(sb)


def test_sigkill_at_random_moments_then_converges(workdir):
    sb = workdir.sandbox
    seed(sb, repos=("web", "api", "docs"), issues=300)
    workdir.set(SYNC_WORKERS="2")
    sb.faults.configure(latency_ms=10)  # a full first run takes about 2 s: kills land inside runs
    rng = random.Random(7)
    killed = 0
    for _ in range(4):
        proc = workdir.start("sync.py")
        time.sleep(rng.uniform(0.4, 1.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
        sb.gitea.edit_issue("acme", "web", rng.randint(1, 300), title=f"Edited {rng.random():.5f}")
    assert killed >= 2, "the runs finished before they could be killed: use more data"
    sb.faults.reset()
    assert converge(workdir)[-1] == 0
    assert_converged(sb)


def test_twenty_percent_faults_including_commit_then_drop(workdir):
    sb = workdir.sandbox
    seed(sb, issues=60)
    sb.faults.configure(error_rate=0.05, rate_429=0.05, drop_rate=0.05, commit_drop_rate=0.05, retry_after=0, seed=3)
    codes = converge(workdir)
    faults = {r.fault for r in sb.requests if r.fault}
    sb.faults.reset()
    assert faults >= {"error", "429", "drop", "commit_drop"}, faults
    assert codes[-1] == 0, codes
    assert_converged(sb)
    for n in (1, 2, 3):  # and changes still flow after the chaos
        sb.gitea.edit_issue("acme", "web", n, title=f"After chaos {n}")
    workdir.sync(check_code=0)
    assert_converged(sb)


def test_two_runs_started_together_one_waits_its_turn(workdir):
    sb = workdir.sandbox
    seed(sb, issues=80)
    sb.faults.configure(latency_ms=5)
    first, second = workdir.start("sync.py"), workdir.start("sync.py")
    codes = sorted([first.wait(), second.wait()])
    assert codes == [0, 75], (codes, first.stderr.read(), second.stderr.read())
    sb.faults.reset()
    assert_converged(sb)

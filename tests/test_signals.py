"""A polite stop: SIGTERM (systemd stop, `kill`) or Ctrl-C during a sync finishes the writes in
flight, records them and the run as `interrupted`, frees the lock and exits 75; the next run
carries on with exactly the rest, never a duplicate."""

import signal
import sqlite3

import pytest
from conftest import wait_for
from gitea_helpers import assert_converged, expected_issues, seed

WORKERS = 2


def activity_posts(sb):
    return [r for r in sb.requests if r.service == "kimai" and r.method == "POST" and r.path.endswith("/activities")]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_mid_run_finishes_the_writes_in_flight_and_the_next_run_does_the_rest(workdir, signum):
    sb = workdir.sandbox
    seed(sb, repos=("web",), issues=150)
    total = len(expected_issues(sb))
    workdir.set(SYNC_WORKERS=str(WORKERS))
    sb.faults.configure(latency_ms=15)  # about 2 s of creates: the signal lands among them
    proc = workdir.start("sync.py", "gitea-kimai")
    wait_for(lambda: len(sb.kimai.activities) >= 20 or proc.poll() is not None)
    proc.send_signal(signum)
    at_signal = len(sb.kimai.activities)
    out, err = proc.communicate(timeout=60)

    assert proc.returncode == 75, (out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "stopped by a signal" in lines[0], err
    assert "Traceback" not in out + err
    created = len(sb.kimai.activities)
    assert created < total, "the run finished before the signal: use more data"
    assert created - at_signal <= 2 * WORKERS, "writes were started after the stop was asked for"

    with sqlite3.connect(workdir.db) as db:
        status, code = db.execute("SELECT status, exit_code FROM runs ORDER BY id DESC").fetchone()
        synced = {
            row[0]
            for row in db.execute("SELECT target_id FROM links WHERE target_type = 'activity' AND state = 'synced'")
        }
    assert (status, code) == ("interrupted", 75)
    assert synced == {a["id"] for a in sb.kimai.activities}, "a write that was answered was not recorded"

    sb.faults.reset()
    sb.clear_requests()
    workdir.sync("gitea-kimai", check_code=0)  # the lock is free: the next run starts at once
    assert len(activity_posts(sb)) == total - created  # exactly the rest
    assert_converged(sb)

"""confluence-jira end to end, both deployments: sync.py runs as a subprocess against the Jira and
Confluence stand-ins; the checks read the stand-ins' state (issues, labels, remote links, page
bodies and versions) and count the requests made."""

import signal
import threading
import time

import pytest
from conftest import Workdir

from common.confluence_storage import TaskEdit, apply_edits, read_page
from sandbox import Sandbox, seed_atlassian

DEPLOYMENTS = ["cloud", "datacenter"]


@pytest.fixture(params=DEPLOYMENTS)
def atl(request, tmp_path):
    """(workdir, sandbox, seed): the demo tree on a Jira and Confluence of one deployment, a page of
    children holding at most 5 pages (so the 12 children of the root come in several)."""
    sb = Sandbox(atlassian=request.param, services=["jira", "confluence"]).start()
    seed = seed_atlassian.demo(sb)
    sb.confluence.max_limit = 5
    env = dict(
        sb.env(),
        DATABASE_PATH=str(tmp_path / "sync.db"),
        LOG_FILE=str(tmp_path / "tracksync.log"),
        CACHE_DIR=str(tmp_path / ".cache"),
        HTTP_TIMEOUT="5",
        HTTP_RETRY_BACKOFF="0",
    )
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    env_file.chmod(0o600)
    yield Workdir(tmp_path, env_file, sb), sb, seed
    threading.Thread(target=sb.stop, daemon=True).start()
    assert not sb.violations, "off the contract:\n" + "\n".join(sb.violations[:10])
    assert not sb.failures, "\n".join(sb.failures[:5])


def tracksync_issues(sb):
    return [i for i in sb.jira.issues.values() if "tracksync" in i.labels]


def per_origin(sb):
    counts = {}
    for issue in tracksync_issues(sb):
        for label in issue.labels:
            if label.startswith("confluence-task-"):
                counts[label] = counts.get(label, 0) + 1
    return counts


def expected_origins(seed):
    return {f"confluence-task-{page}-{task}" for page, tasks in seed.open_tasks.items() for task in tasks}


def explain(proc):
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-2000:]}"


def test_one_issue_per_open_task_in_page_order_macros_in_place_the_rest_byte_identical(atl):
    work, sb, seed = atl
    before = {pid: sb.confluence.pages[pid].body for pid in seed.open_tasks}
    proc = work.sync("confluence-jira")
    assert proc.returncode == 0, explain(proc)
    counts = per_origin(sb)
    assert counts == dict.fromkeys(expected_origins(seed), 1)
    for page_id, open_ids in seed.open_tasks.items():
        page = sb.confluence.pages[page_id]
        issues = {i.labels[-1]: i for i in tracksync_issues(sb) if f"confluence-task-{page_id}-" in " ".join(i.labels)}
        keys = [issues[f"confluence-task-{page_id}-{t}"].key for t in open_ids]
        assert keys == sorted(keys, key=lambda k: int(k.split("-")[1])), "issues created in page order"
        # the page holds exactly the old body with one macro appended to each open task
        expected = apply_edits(before[page_id], {t: TaskEdit("link", k) for t, k in zip(open_ids, keys, strict=True)})
        assert page.body == expected.body
        tasks = {t.task_id: t for t in read_page(page.body).tasks}
        assert all(tasks[t].jira_keys == (k,) for t, k in zip(open_ids, keys, strict=True))
        assert all(not t.jira_keys for tid, t in tasks.items() if tid not in open_ids)  # complete / nested: none
        for task_id, key in zip(open_ids, keys, strict=True):
            issue = sb.jira.issue_by_key(key)
            assert f"confluence-task-{page_id}-{task_id}" in issue.labels and "tracksync" in issue.labels
            assert [link.global_id for link in issue.remote_links] == [f"tracksync:confluence:{page_id}:{task_id}"]
    kickoff = seed.pages[seed_atlassian.TASK_PAGE]
    kickoff_issues = [i for i in tracksync_issues(sb) if f"confluence-task-{kickoff}-1" in i.labels]
    assert kickoff_issues[0].duedate == "2026-12-15" and kickoff_issues[0].assignee is not None
    # the re-run writes nothing, and reads little
    sb.clear_requests()
    again = work.sync("confluence-jira", "--json")
    assert again.returncode == 0, explain(again)
    assert sb.count(writes=True) == 0
    assert sb.count() <= 10
    full = work.sync("confluence-jira", "--full")  # every page and issue read again: still nothing to write
    assert full.returncode == 0, explain(full)
    assert sb.count(writes=True) == 0 and per_origin(sb) == dict.fromkeys(expected_origins(seed), 1)


def test_a_colleagues_save_between_read_and_write_is_kept_and_the_macros_added(atl):
    work, sb, seed = atl
    kickoff = seed.pages[seed_atlassian.TASK_PAGE]
    sb.confluence.collide_on_next_put(kickoff, lambda body: body + "<p>Added by Alice meanwhile.</p>")
    proc = work.sync("confluence-jira")
    assert proc.returncode == 0, explain(proc)
    body = sb.confluence.pages[kickoff].body
    assert body.endswith("<p>Added by Alice meanwhile.</p>")
    tasks = {t.task_id: t for t in read_page(body).tasks}
    assert all(len(tasks[t].jira_keys) == 1 for t in seed.open_tasks[kickoff])
    versions = [v.number for v in sb.confluence.pages[kickoff].versions]
    assert versions == [1, 2, 3]  # seed, Alice, tracksync (after one 409)
    assert per_origin(sb) == dict.fromkeys(expected_origins(seed), 1)


def test_a_page_update_that_fails_after_the_creates_then_a_lost_store_never_a_second_issue(atl):
    work, sb, seed = atl
    kickoff = seed.pages[seed_atlassian.TASK_PAGE]

    def colleague(body):  # saves before every PUT of the run: 4 times 409
        sb.confluence._collisions[kickoff] = colleague
        return body + "<p>again</p>"

    sb.confluence._collisions[kickoff] = colleague
    proc = work.sync("confluence-jira")
    assert proc.returncode == 3, explain(proc)
    assert f"page {kickoff}" in proc.stderr
    sb.confluence._collisions.clear()
    assert per_origin(sb) == dict.fromkeys(expected_origins(seed), 1)
    assert not any(t.jira_keys for t in read_page(sb.confluence.pages[kickoff].body).tasks)
    proc = work.sync("confluence-jira")  # linked without a create
    assert proc.returncode == 0, explain(proc)
    assert per_origin(sb) == dict.fromkeys(expected_origins(seed), 1)
    assert all(len(t.jira_keys) == 1 for t in read_page(sb.confluence.pages[kickoff].body).tasks if t.task_id != "3")
    work.db.unlink()  # the store is lost: the labels and macros link everything again
    proc = work.sync("confluence-jira")
    assert proc.returncode == 0, explain(proc)
    assert per_origin(sb) == dict.fromkeys(expected_origins(seed), 1)
    sb.clear_requests()
    assert work.sync("confluence-jira").returncode == 0 and sb.count(writes=True) == 0


def test_commit_then_drop_and_errors_on_create_with_search_lag_converge_without_duplicates(atl):
    """20% of creates committed then dropped, 20% answered 5xx without creating, search 2.5 s behind:
    an unanswered create is never sent again while search may still not show it (JIRA_SEARCH_LAG
    4 s), and the runs converge on exactly one issue per task."""
    work, sb, seed = atl
    work.set(JIRA_SEARCH_LAG="4")
    sb.jira.create_faults(error_rate=0.2, commit_drop_rate=0.2, seed=7)
    sb.jira.search_lag(2.5)
    codes = []
    for _ in range(20):
        codes.append(work.sync("confluence-jira").returncode)
        assert max(per_origin(sb).values(), default=1) == 1, codes
        if per_origin(sb).keys() == expected_origins(seed):
            break
        time.sleep(0.2)
    assert per_origin(sb) == dict.fromkeys(expected_origins(seed), 1), codes
    creates = [r for r in sb.requests if r.method == "POST" and r.path.endswith("/issue")]
    assert {r.status for r in creates} & {None, 500, 502, 503}, "the faults hit some creates"


def test_sigkill_mid_run_then_the_runs_converge_without_duplicates(atl):
    work, sb, seed = atl
    sb.faults.configure(latency_ms=40, services=["jira", "confluence"])
    process = work.start("sync.py", "confluence-jira", capture=False)
    deadline = time.monotonic() + 30
    while len(tracksync_issues(sb)) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 1 <= len(tracksync_issues(sb)) < len(expected_origins(seed))
    sb.faults.reset()
    work.set(JIRA_SEARCH_LAG="0")
    proc = work.sync("confluence-jira")
    assert proc.returncode == 0, explain(proc)
    assert per_origin(sb) == dict.fromkeys(expected_origins(seed), 1)


def test_a_task_deleted_by_the_colleague_meanwhile_is_reported_and_its_issue_kept(atl):
    work, sb, seed = atl
    kickoff = seed.pages[seed_atlassian.TASK_PAGE]
    first = seed.open_tasks[kickoff][0]

    def delete_first_task(body):
        start = body.index(f"<ac:task>\n<ac:task-id>{first}</ac:task-id>")
        return body[:start] + body[body.index("</ac:task>", start) + len("</ac:task>") :]

    sb.confluence.collide_on_next_put(kickoff, delete_first_task)
    proc = work.sync("confluence-jira")
    assert proc.returncode == 0, explain(proc)
    assert f"task {first} was deleted meanwhile" in proc.stderr
    assert per_origin(sb) == dict.fromkeys(expected_origins(seed), 1)  # its issue is kept
    tasks = {t.task_id: t for t in read_page(sb.confluence.pages[kickoff].body).tasks}
    assert first not in tasks
    assert all(len(tasks[t].jira_keys) == 1 for t in seed.open_tasks[kickoff][1:])

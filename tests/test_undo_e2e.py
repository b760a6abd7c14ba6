"""sync.py undo RUN_ID, both deployments: the pages the run changed get their bodies back (only
when nobody saved them since), the run's issues move to JIRA_UNDO_STATUS (or are deleted), the
links go; undo is recorded as a run, has --dry-run and is safe to repeat."""

import json
import sqlite3
import time

from test_confluence_jira_e2e import atl, explain, tracksync_issues  # noqa: F401

from sandbox import seed_atlassian


def last_run(work):
    with sqlite3.connect(work.db) as conn:
        return conn.execute("SELECT id FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0]


def test_undo_restores_the_pages_it_changed_and_leaves_an_edited_page_alone(atl):
    work, sb, seed = atl
    bodies = {pid: sb.confluence.pages[pid].body for pid in seed.open_tasks}
    assert work.sync("confluence-jira").returncode == 0
    run_id = last_run(work)
    created = {i.key for i in tracksync_issues(sb)}
    edited = seed.pages["Meeting notes 06"]
    sb.confluence.edit_page(edited, sb.confluence.pages[edited].body + "<p>A later edit.</p>")
    after_edit = sb.confluence.pages[edited].body
    # --dry-run: lists, writes nothing
    sb.clear_requests()
    dry = work.sync("undo", str(run_id), "--dry-run", "--json")
    assert dry.returncode == 3, explain(dry)
    plan = json.loads(dry.stdout)
    assert plan["counts"]["pages_restored"] == len(seed.open_tasks) - 1 and len(plan["left_alone"]) == 1
    assert sb.count(writes=True) == 0
    proc = work.sync("undo", str(run_id))
    assert proc.returncode == 3, explain(proc)  # one page left alone
    assert f"page {edited}" in proc.stderr and "left alone" in proc.stderr
    for page_id, body in bodies.items():
        if page_id != edited:
            assert sb.confluence.pages[page_id].body == body
    assert sb.confluence.pages[edited].body == after_edit
    for key in created:
        issue = sb.jira.issue_by_key(key)
        assert issue.status.name == "Backlog"
        assert not any(label.startswith("confluence-task-") for label in issue.labels)
    with sqlite3.connect(work.db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM jira_task_issues WHERE created_run = ?", (run_id,)).fetchone()[0] == 0
        runs = conn.execute("SELECT job, params, status FROM runs ORDER BY id").fetchall()
    assert json.loads(runs[-1][1])["undo"] == run_id and runs[-1][2] == "partial"
    logged = [ln for ln in (work.path / "tracksync.log").read_text().splitlines() if "job=undo" in ln]
    assert len(logged) == 2 and f"undo_of={run_id} outcome=partial dry_run=no" in logged[-1]
    # repeated: nothing more is written
    sb.clear_requests()
    again = work.sync("undo", str(run_id))
    assert again.returncode == 3 and sb.count(writes=True) == 0


def test_undo_with_delete_issues_and_an_unknown_run(atl):
    work, sb, seed = atl
    kickoff = seed.pages[seed_atlassian.TASK_PAGE]  # and its child, the table page
    table = seed.pages[seed_atlassian.TABLE_PAGE]
    before = {pid: sb.confluence.pages[pid].body for pid in (kickoff, table)}
    assert work.sync("confluence-jira", "--page", kickoff).returncode == 0
    run_id = last_run(work)
    assert len(tracksync_issues(sb)) == 5
    proc = work.sync("undo", str(run_id), "--delete-issues")
    assert proc.returncode == 0, explain(proc)
    assert tracksync_issues(sb) == []
    assert {pid: sb.confluence.pages[pid].body for pid in (kickoff, table)} == before
    unknown = work.sync("undo", "4242")
    assert unknown.returncode == 2 and "4242" in unknown.stderr and "Traceback" not in unknown.stderr


def test_an_undo_run_is_not_undone_again(atl):
    work, sb, _seed = atl
    assert work.sync("confluence-jira").returncode == 0
    run_id = last_run(work)
    assert work.sync("undo", str(run_id)).returncode == 0
    undo_id = last_run(work)
    sb.clear_requests()
    proc = work.sync("undo", str(undo_id), "--json")
    assert proc.returncode == 2, explain(proc)
    error = json.loads(proc.stdout)["error"]
    assert f"run {undo_id} is itself the undo of run {run_id}" in error and "Traceback" not in proc.stderr
    assert sb.count() == 0 and last_run(work) == undo_id  # no request, no run recorded


def test_an_undo_whose_page_write_answer_was_lost_completes_on_the_next_undo(atl):
    """The restore landed but its answer was dropped: the next undo sees the page at its old body
    (a new version, written by the undo itself), counts it done instead of 'edited since'."""
    work, sb, seed = atl
    bodies = {pid: sb.confluence.pages[pid].body for pid in seed.open_tasks}
    assert work.sync("confluence-jira").returncode == 0
    run_id = last_run(work)
    created = {i.key for i in tracksync_issues(sb)}
    sb.faults.configure(commit_drop_rate=1.0, services=["confluence"], methods=["PUT"])
    first = work.sync("undo", str(run_id))
    sb.faults.configure()
    assert first.returncode not in (0, 1) and "Traceback" not in first.stderr, explain(first)
    again = work.sync("undo", str(run_id))
    assert again.returncode == 0, explain(again)
    assert "left alone" not in again.stderr
    assert {pid: sb.confluence.pages[pid].body for pid in bodies} == bodies
    assert created and all(sb.jira.issue_by_key(key).status.name == "Backlog" for key in created)
    sb.clear_requests()
    assert work.sync("undo", str(run_id)).returncode == 0 and sb.count(writes=True) == 0


def test_issues_whose_create_answer_was_lost_belong_to_the_run_that_sent_them(atl):
    """Run 1 creates the issues but every answer is lost and search does not show them yet; run 2
    finds them by their labels and links them. They are run 1's: undo 1 moves them back."""
    work, sb, seed = atl
    kickoff = seed.pages[seed_atlassian.TASK_PAGE]
    sb.jira.search_lag(1.0)
    sb.faults.configure(commit_drop_rate=1.0, services=["jira"], methods=["POST"], paths="/issue$")
    first = work.sync("confluence-jira", "--page", kickoff)
    sb.faults.configure()
    assert first.returncode in (0, 3), explain(first)
    sent = last_run(work)
    created = {i.key for i in tracksync_issues(sb)}
    assert created
    time.sleep(1.2)
    assert work.sync("confluence-jira", "--page", kickoff).returncode == 0
    assert {i.key for i in tracksync_issues(sb)} == created  # found, not created again
    undo = work.sync("undo", str(sent), "--json")
    assert undo.returncode == 0, explain(undo)
    assert all(sb.jira.issue_by_key(key).status.name == "Backlog" for key in created)

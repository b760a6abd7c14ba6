"""confluence-jira end to end, both deployments: the checkbox and the issue's status kept in step,
a conflict when both changed (nothing written, settled with resolve), and the documented exit
codes: a wrong token 77 naming the service, an unreadable page 3 with the rest synced, a
project or issue type that does not exist 78 naming the key."""

import json

from test_confluence_jira_e2e import atl, expected_origins, explain, per_origin, tracksync_issues  # noqa: F401

from common.confluence_storage import TaskEdit, apply_edits, read_page
from sandbox import seed_atlassian


def issue_of(sb, page_id, task_id):
    label = f"confluence-task-{page_id}-{task_id}"
    return next(i for i in tracksync_issues(sb) if label in i.labels)


def task_of(sb, page_id, task_id):
    return next(t for t in read_page(sb.confluence.pages[page_id].body).tasks if t.task_id == task_id)


def check(sb, page_id, task_id, complete):
    body = apply_edits(sb.confluence.pages[page_id].body, {task_id: TaskEdit(complete=complete)}).body
    sb.confluence.edit_page(page_id, body)


def test_task_checked_moves_the_issue_to_done_and_an_issue_done_checks_its_task(atl):
    work, sb, seed = atl
    kickoff = seed.pages[seed_atlassian.TASK_PAGE]
    assert work.sync("confluence-jira").returncode == 0  # the issues' statuses are not read yet: both change now
    check(sb, kickoff, "1", True)
    sb.jira.set_status(issue_of(sb, kickoff, "2").key, "Done")
    proc = work.sync("confluence-jira")
    assert proc.returncode == 0, explain(proc)
    assert issue_of(sb, kickoff, "1").status.name == "Done"  # by target status, not by transition name
    assert task_of(sb, kickoff, "2").complete
    assert not task_of(sb, kickoff, "5").complete and issue_of(sb, kickoff, "5").status.category == "new"
    sb.clear_requests()
    assert work.sync("confluence-jira").returncode == 0 and sb.count(writes=True) == 0
    # unchecked -> reopened; reopened in Jira -> unchecked
    check(sb, kickoff, "1", False)
    sb.jira.set_status(issue_of(sb, kickoff, "2").key, "In Progress")
    assert work.sync("confluence-jira").returncode == 0
    assert issue_of(sb, kickoff, "1").status.category != "done"
    assert not task_of(sb, kickoff, "2").complete
    assert per_origin(sb) == dict.fromkeys(expected_origins(seed), 1)


def test_both_sides_changed_is_a_conflict_nothing_written_then_resolved(atl):
    work, sb, seed = atl
    kickoff = seed.pages[seed_atlassian.TASK_PAGE]
    assert work.sync("confluence-jira").returncode == 0
    assert work.sync("confluence-jira").returncode == 0
    check(sb, kickoff, "1", True)
    key = issue_of(sb, kickoff, "1").key
    sb.jira.set_status(key, "In Progress")
    version = sb.confluence.pages[kickoff].current.number
    sb.clear_requests()
    proc = work.sync("confluence-jira")
    assert proc.returncode == 0, explain(proc)
    assert "conflict" in proc.stderr
    assert sb.count(writes=True) == 0
    assert issue_of(sb, kickoff, "1").status.name == "In Progress" and task_of(sb, kickoff, "1").complete
    assert sb.confluence.pages[kickoff].current.number == version
    table = work.sync("conflicts")
    assert "task: confluence 'complete' / jira 'In Progress'" in table.stdout
    listed = json.loads(work.sync("conflicts", "--json").stdout)
    assert [c["source_key"] for c in listed] == [f"confluence-task-{kickoff}-1"]
    # still a conflict on the next run, nothing written
    sb.clear_requests()
    assert work.sync("confluence-jira").returncode == 0 and sb.count(writes=True) == 0
    resolved = work.sync("resolve", str(listed[0]["id"]), "--keep", "jira")
    assert resolved.returncode == 0, explain(resolved)
    assert work.sync("confluence-jira").returncode == 0
    assert not task_of(sb, kickoff, "1").complete  # the issue's state (In Progress) won
    assert issue_of(sb, kickoff, "1").status.name == "In Progress"
    assert json.loads(work.sync("conflicts", "--json").stdout) == []


def test_a_wrong_token_is_77_naming_the_service(atl):
    work, sb, _seed = atl
    work.set(CONFLUENCE_TOKEN="not-the-token")
    proc = work.sync("confluence-jira")
    assert proc.returncode == 77, explain(proc)
    assert "confluence" in proc.stderr.lower() and "not-the-token" not in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    work.set(CONFLUENCE_TOKEN=sb.confluence.token, JIRA_TOKEN="wrong-jira-token")
    proc = work.sync("confluence-jira")
    assert proc.returncode == 77, explain(proc)
    assert "jira" in proc.stderr.lower() and "wrong-jira-token" not in proc.stderr + proc.stdout
    assert not tracksync_issues(sb)


def test_an_unreadable_or_missing_page_is_reported_the_rest_synced_exit_3(atl):
    work, sb, seed = atl
    hidden = seed.pages["Meeting notes 03"]
    sb.confluence.restrict(hidden, 403)
    proc = work.sync("confluence-jira", "--page", hidden, "--page", "999999", "--page", seed.root_id)
    assert proc.returncode == 3, explain(proc)
    assert "page 999999" in proc.stderr and f"page {hidden}" in proc.stderr
    created = per_origin(sb)
    assert created and f"confluence-task-{hidden}-1" not in created
    assert set(created) == expected_origins(seed) - {f"confluence-task-{hidden}-1"}


def test_a_project_or_issue_type_that_does_not_exist_is_78_naming_the_key(atl):
    work, sb, seed = atl
    meeting = seed.pages["Meeting notes 03"]  # no macro above it: JIRA_PROJECT
    work.set(JIRA_PROJECT="NOPE")
    proc = work.sync("confluence-jira", "--page", meeting)
    assert proc.returncode == 78, explain(proc)
    assert "JIRA_PROJECT" in proc.stderr and "NOPE" in proc.stderr and "Traceback" not in proc.stderr
    work.set(JIRA_PROJECT="ACME", JIRA_ISSUE_TYPE="Spaceship")
    proc = work.sync("confluence-jira", "--page", meeting)
    assert proc.returncode == 78, explain(proc)
    assert "JIRA_ISSUE_TYPE" in proc.stderr and "Spaceship" in proc.stderr
    assert not tracksync_issues(sb)


def test_429_with_retry_after_is_waited_out(atl):
    work, sb, seed = atl
    sb.jira.throttle(2, retry_after=1)
    sb.confluence.throttle(1, retry_after=1)
    proc = work.sync("confluence-jira")
    assert proc.returncode == 0, explain(proc)
    assert per_origin(sb) == dict.fromkeys(expected_origins(seed), 1)
    assert sum(1 for r in sb.requests if r.status == 429) == 3


def test_a_page_update_answered_5xx_then_the_next_run_links_without_a_second_create(atl):
    work, sb, seed = atl
    kickoff = seed.pages[seed_atlassian.TASK_PAGE]
    sb.confluence.fail_next("PUT", f"/pages/{kickoff}$|/content/{kickoff}$", 503, times=20)
    proc = work.sync("confluence-jira")
    assert proc.returncode == 69, explain(proc)  # the service failed: the run stops
    assert "Traceback" not in proc.stderr
    sb.confluence.clear_hooks()
    assert max(per_origin(sb).values()) == 1
    proc = work.sync("confluence-jira")
    assert proc.returncode == 0, explain(proc)
    assert per_origin(sb) == dict.fromkeys(expected_origins(seed), 1)
    assert all(len(t.jira_keys) == 1 for t in read_page(sb.confluence.pages[kickoff].body).tasks if not t.complete)

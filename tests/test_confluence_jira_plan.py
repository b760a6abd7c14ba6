"""The confluence-jira planner on real payloads (the storage-format examples Confluence returns,
Jira's search answer): one issue per open task in page order, never a second create while a
pending one may still appear in search, links found by label or macro, status in step, conflicts."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from common.clients.confluence import Page
from common.confluence_storage import apply_edits, read_page
from common.jobs.base import ActionKind
from common.jobs.confluence_jira_plan import (
    ConfluenceJiraRead,
    IssueState,
    PageRead,
    Settings_,
    issue_state,
    origin_label,
    plan_confluence_jira,
)

CONTRACTS = Path(__file__).resolve().parents[1] / "sandbox" / "contracts"
EXAMPLES = json.loads((CONTRACTS / "confluence" / "storage-format-tasklist.examples.json").read_text())["examples"]
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SETTINGS = Settings_("OPS", "link", "skip", 60.0)


def page_read(body, page_id="100", project=None, parent=None, version=3):
    return PageRead(Page(page_id, "Minutes", version, body), "100", read_page(body), project, parent)


def read_of(pages, links=None, by_label=None, by_key=None, conflicts=()):
    return ConfluenceJiraRead(
        list(pages), dict(links or {}), dict(by_label or {}), dict(by_key or {}), set(conflicts), NOW
    )


FOUR_TASKS = EXAMPLES["as-returned-by-confluence"]["storage"].replace(
    "</ac:task-list>",
    "<ac:task><ac:task-id>7</ac:task-id><ac:task-status>incomplete</ac:task-status>"
    "<ac:task-body>Write the minutes</ac:task-body></ac:task>"
    "<ac:task-list><ac:task><ac:task-id>8</ac:task-id><ac:task-status>incomplete</ac:task-status>"
    "<ac:task-body>Nested item</ac:task-body></ac:task></ac:task-list></ac:task-list>",
)


def test_one_create_per_open_top_level_task_in_page_order_with_the_ancestors_project():
    plan = plan_confluence_jira(read_of([page_read(FOUR_TASKS, project="WEB", parent="WEB-1")]), SETTINGS)
    assert [(c.task.task_id, c.project, c.parent) for c in plan.creates] == [
        ("1", "WEB", "WEB-1"),
        ("7", "WEB", "WEB-1"),
    ]
    assert [c.origin for c in plan.creates] == [origin_label("100", "1"), origin_label("100", "7")]
    assert plan.creates[0].task.summary == "Review the sync report"
    assert not plan.page_edits  # macros are added once the issues exist


def test_without_a_macro_the_configured_project_and_a_completed_task_is_skipped_or_created_done():
    body = EXAMPLES["as-returned-by-confluence"]["storage"]
    plan = plan_confluence_jira(read_of([page_read(body)]), SETTINGS)
    assert [(c.task.task_id, c.project) for c in plan.creates] == [("1", "OPS")]
    done = plan_confluence_jira(read_of([page_read(body)]), Settings_("OPS", "link", "create-done", 60.0))
    assert [(c.task.task_id, c.done) for c in done.creates] == [("1", False), ("2", True)]


def test_a_pending_create_is_not_sent_again_inside_the_search_lag_and_is_after_it():
    body = EXAMPLES["with-mention-and-due-date"]["storage"]
    origin = origin_label("100", "3")
    recent = {origin: {"state": "pending", "sent_at": (NOW - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")}}
    plan = plan_confluence_jira(read_of([page_read(body)], links=recent), SETTINGS)
    assert not plan.creates and plan.waiting == [origin]
    old = {origin: {"state": "pending", "sent_at": (NOW - timedelta(seconds=61)).strftime("%Y-%m-%dT%H:%M:%SZ")}}
    plan = plan_confluence_jira(read_of([page_read(body)], links=old), SETTINGS)
    assert [c.origin for c in plan.creates] == [origin]
    assert plan.creates[0].task.due.isoformat() == "2026-09-30"


def test_an_issue_found_by_its_label_is_linked_and_its_macro_added_never_created():
    body = EXAMPLES["with-mention-and-due-date"]["storage"]
    origin = origin_label("100", "3")
    issue = IssueState("10002", "OPS-9", "To Do", False, ("tracksync", origin))
    plan = plan_confluence_jira(read_of([page_read(body)], by_label={origin: issue}), SETTINGS)
    assert not plan.creates
    assert [(f.origin, f.issue.key) for f in plan.found] == [(origin, "OPS-9")]
    edited = apply_edits(body, plan.page_edits["100"])
    assert read_page(edited.body).tasks[0].jira_keys == ("OPS-9",)


def test_a_task_holding_a_macro_is_never_given_a_second_issue():
    body = apply_edits(EXAMPLES["with-mention-and-due-date"]["storage"], {"3": _link("OPS-4")}).body
    plan = plan_confluence_jira(read_of([page_read(body)]), SETTINGS)
    assert not plan.creates and plan.waiting == [origin_label("100", "3")]
    found = plan_confluence_jira(
        read_of([page_read(body)], by_key={"OPS-4": IssueState("1", "OPS-4", "To Do", False)}), SETTINGS
    )
    assert [f.issue.key for f in found.found] == ["OPS-4"] and not found.page_edits


def _link(key):
    from common.confluence_storage import TaskEdit

    return TaskEdit("link", key)


def linked(body, task_complete, status, done, key="OPS-4"):
    origin = origin_label("100", "3")
    row = {
        "state": "linked",
        "issue_key": key,
        "task_complete": task_complete,
        "issue_status": status,
        "issue_done": done,
        "on_page": True,
    }
    return origin, {origin: row}


@pytest.mark.parametrize("complete", [True, False])
def test_status_in_step_both_ways_and_a_conflict_when_both_changed(complete):
    body = apply_edits(EXAMPLES["with-mention-and-due-date"]["storage"], {"3": _link("OPS-4")}).body
    checked = apply_edits(body, {"3": _with(complete=True)}).body
    origin, links = linked(body, False, "To Do", False)
    # the task checked in Confluence -> the issue to done
    plan = plan_confluence_jira(read_of([page_read(checked)], links=links), SETTINGS)
    assert [(t.key, t.done) for t in plan.transitions] == [("OPS-4", True)] and not plan.page_edits
    # the issue done in Jira -> the task checked
    done = IssueState("1", "OPS-4", "Done", True)
    plan = plan_confluence_jira(read_of([page_read(body)], links=links, by_key={"OPS-4": done}), SETTINGS)
    assert plan.page_edits == {"100": {"3": _with(complete=True)}} and not plan.transitions
    # the task checked and the issue moved to another status that is not done -> conflict, nothing written
    moved = IssueState("1", "OPS-4", "In Progress", False)
    plan = plan_confluence_jira(read_of([page_read(checked)], links=links, by_key={"OPS-4": moved}), SETTINGS)
    assert [a.kind for a in plan.conflicts] == [ActionKind.CONFLICT]
    assert not plan.transitions and not plan.page_edits
    # both changed the same way: nothing to write
    plan = plan_confluence_jira(read_of([page_read(checked)], links=links, by_key={"OPS-4": done}), SETTINGS)
    assert not plan.transitions and not plan.page_edits and not plan.conflicts
    # unchanged on both sides: nothing at all
    plan = plan_confluence_jira(read_of([page_read(body)], links=links), SETTINGS)
    assert not plan.actions and plan.unchanged == 1
    del complete


def _with(complete):
    from common.confluence_storage import TaskEdit

    return TaskEdit(complete=complete)


def test_issue_state_reads_jiras_search_answer():
    answer = json.loads((CONTRACTS / "jira" / "examples" / "get_rest_api_3_search_jql.response200.json").read_text())
    issue = dict(answer["issues"][0])
    issue["fields"] = dict(issue["fields"], status={"name": "Done", "statusCategory": {"key": "done"}}, labels=["x"])
    state = issue_state(issue)
    assert state == IssueState(str(answer["issues"][0]["id"]), answer["issues"][0]["key"], "Done", True, ("x",))
    assert issue_state({"fields": {}}) is None
    for key in ('ACME-3"><script>x</script>', "acme-3", "ACME-0", "ACME", 3):  # never into a page's macro
        assert issue_state(dict(issue, key=key)) is None

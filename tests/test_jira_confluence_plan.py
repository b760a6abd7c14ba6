"""jira-confluence planner and body, without HTTP: search answers of both deployments -> rows ->
the plan of each epic's page."""

from common.clients.confluence import Page
from common.jobs.jira_confluence_body import anchor, issue_row, marker_of, page_body, text
from common.jobs.jira_confluence_plan import EpicPagesRead, body_hash, content_hash, plan_jira_confluence

EPIC_TYPE = {"name": "Epic", "hierarchyLevel": 1, "subtask": False}
TASK_TYPE = {"name": "Task", "hierarchyLevel": 0, "subtask": False}


def cloud_issue(issue_id, key, summary, epic=None, status="To Do"):
    fields = {
        "summary": summary,
        "status": {"name": status},
        "issuetype": EPIC_TYPE if epic == "self" else TASK_TYPE,
        "assignee": {"accountId": "a1", "displayName": "Alice"},
        "duedate": "2026-12-01",
        "description": {
            "type": "doc",
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Why"}]}],
        },
    }
    if epic and epic != "self":
        fields["parent"] = {"id": epic[0], "key": epic[1], "fields": {"issuetype": EPIC_TYPE}}
    return {"id": issue_id, "key": key, "fields": fields}


def rows(*records, epic_field=None):
    out = {}
    keys = {}
    for record in records:
        row = issue_row(record, epic_field)
        if row["data"]["epic"]:
            keys[row["issue_key"]] = row["issue_id"]
        out[row["issue_id"]] = row
    for row in out.values():
        epic = row.pop("epic")
        row["epic_id"] = keys.get(epic[4:]) if epic and epic.startswith("key:") else epic
    return out


def read_of(issues, rows_=None, children=None, bodies=None, present=None):
    parent = Page("100", "Plan", 1, None, None, "ENG")
    return EpicPagesRead("ACME", parent, issues, present, None, rows_ or {}, children or {}, bodies or {})


def test_one_create_per_epic_and_one_without_epic_tables_sorted_numerically():
    issues = rows(
        cloud_issue("1", "ACME-1", "Launch", "self"),
        cloud_issue("10", "ACME-10", "ten", ("1", "ACME-1")),
        cloud_issue("9", "ACME-9", "nine", ("1", "ACME-1")),
        cloud_issue("11", "ACME-11", "loose"),
    )
    plan = plan_jira_confluence(read_of(issues, present={"1"}))
    assert [(a.kind, a.title) for a in plan.actions] == [("create", "ACME-1 Launch"), ("create", "Without epic")]
    body = plan.actions[0].body
    assert body.index("ACME-9<") < body.index("ACME-10<") and "Why" in body and "Alice" in body
    assert "ACME-11" not in body and "ACME-11" in plan.actions[1].body


def test_data_center_epic_link_by_field_id():
    epic = cloud_issue("1", "ACME-1", "Launch", "self")
    child = cloud_issue("2", "ACME-2", "child")
    child["fields"]["customfield_10101"] = "ACME-1"
    issues = rows(epic, child, epic_field="customfield_10101")
    assert issues["2"]["epic_id"] == "1"


def test_hostile_summary_is_text_not_markup():
    hostile = '</td></tr></tbody></table><ac:structured-macro ac:name="html">x</ac:structured-macro>'
    issues = rows(cloud_issue("1", "ACME-1", "E", "self"), cloud_issue("2", "ACME-2", hostile, ("1", "ACME-1")))
    body = plan_jira_confluence(read_of(issues, present={"1"})).actions[0].body
    assert hostile not in body and text(hostile) in body and body.count("<table>") == 1


def linked(issues, version=1, seen_body=None):
    first = plan_jira_confluence(read_of(issues, present={"1"})).actions[0]
    row = {
        "state": "linked", "page_id": "200", "title": first.title, "version": 1,
        "body_hash": body_hash(first.body), "content_hash": first.content_hash,
    }  # fmt: skip
    page = Page("200", first.title, version, None, "100", "ENG")
    bodies = {"200": seen_body} if seen_body is not None else {}
    return first, {first.origin: row}, {"200": (page, [first.origin])}, bodies


def test_unchanged_then_changed_then_edited_by_a_person():
    issues = rows(cloud_issue("1", "ACME-1", "E", "self"), cloud_issue("2", "ACME-2", "a", ("1", "ACME-1")))
    first, stored, children, _ = linked(issues)
    assert plan_jira_confluence(read_of(issues, stored, children, present={"1"})).actions[0].kind == "unchanged"
    issues["2"]["data"]["summary"] = "renamed"
    assert plan_jira_confluence(read_of(issues, stored, children, present={"1"})).actions[0].kind == "update"
    _, stored, children, bodies = linked(issues, version=2, seen_body=first.body + "<p>mine</p>")
    action = plan_jira_confluence(read_of(issues, stored, children, bodies, present={"1"})).actions[0]
    assert action.kind == "conflict"


def test_epic_gone_gets_the_note_once_and_a_lost_create_is_found_by_its_anchor():
    issues = rows(cloud_issue("1", "ACME-1", "E", "self"))
    first, stored, children, _ = linked(issues)
    action = plan_jira_confluence(read_of(issues, stored, children, present=set())).actions[0]
    assert action.kind == "update" and "no longer in ACME" in action.body
    stored[first.origin]["state"] = "gone"
    stored[first.origin]["content_hash"] = content_hash(action.title, action.body)
    assert plan_jira_confluence(read_of(issues, stored, children, present=set())).actions[0].kind == "unchanged"
    # a pending create whose answer was lost: the page under the parent carries the anchor
    page = Page("300", "ACME-1 E", 1, None, "100", "ENG")
    pending = {first.origin: {"state": "pending", "page_id": None}}
    body = page_body(marker_of("1", "ACME"), None, []) + "x"
    assert anchor(first.origin) in body
    found = plan_jira_confluence(read_of(issues, pending, {"300": (page, [])}, {"300": body}, present={"1"}))
    assert found.actions[0].kind == "link" and found.actions[0].page.id == "300"
    assert plan_jira_confluence(read_of(issues, pending, {"300": (page, [])}, {}, present={"1"})).actions[0].kind == (
        "create"
    )

"""The pure parts of the gitea-kimai job: mapping, names, planning and cursors (no HTTP)."""

from common.config import KEYS, Settings
from common.http import RequestCounter
from common.jobs.base import Result, content_hash
from common.jobs.gitea_kimai import (
    JOB,
    GiteaKimaiJob,
    GiteaRead,
    Options,
    RepoRead,
    activity_fields,
    next_cursor,
    plan_activities,
)
from common.jobs.kimai_targets import KimaiState, index_by_marker, kimai_safe_name, plan_project


def issue(number, title="Title", state="open", body="", updated="2026-01-01T10:00:00Z"):
    return {
        "number": number,
        "title": title,
        "state": state,
        "body": body,
        "updated_at": updated,
        "html_url": f"https://git.example.com/acme/web/issues/{number}",
        "pull_request": None,
    }


def activity(id_, fields, billable=True):
    return {
        "id": id_,
        "name": fields["name"],
        "comment": fields["comment"],
        "visible": fields["visible"],
        "billable": billable,
    }


def test_safe_name_replaces_forbidden_characters_and_collapses_space():
    assert kimai_safe_name('#1 a < b > c "d" = e\n\tf') == "#1 a ‹ b › c 'd' - e f"


def test_safe_name_is_at_most_150_characters():
    name = kimai_safe_name("#7 " + "x" * 300)
    assert len(name) == 150 and name.endswith("…")
    assert kimai_safe_name("Ünïcødé 日本語のタイトル") == "Ünïcødé 日本語のタイトル"


def test_activity_comment_starts_with_marker_then_url_then_body():
    fields = activity_fields("acme", "web", issue(42, body="Steps:\n1. open"), "hide")
    assert fields["comment"].split("\n") == [
        "gitea:acme/web#42",
        "https://git.example.com/acme/web/issues/42",
        "Steps:",
        "1. open",
    ]
    assert fields["name"] == "#42 Title" and fields["visible"] is True


def test_closed_issue_hidden_or_kept():
    assert activity_fields("acme", "web", issue(1, state="closed"), "hide")["visible"] is False
    assert activity_fields("acme", "web", issue(1, state="closed"), "keep")["visible"] is True


def test_plan_creates_updates_hides_shows_and_links():
    issues = [issue(1), issue(2, title="Renamed"), issue(3, state="closed"), issue(4), issue(5)]
    f = {n: activity_fields("acme", "web", issue(n), "hide") for n in range(1, 6)}
    target = index_by_marker(
        [activity(12, f[2]), activity(13, f[3]), activity(14, {**f[4], "visible": False}), activity(15, f[5])]
    )
    links = {"gitea:acme/web#5": {"state": "synced", "target_id": 15, "source_hash": content_hash(f[5])}}
    plan = {a.key.split("#")[1]: a for a in plan_activities("acme", "web", issues, target, links, "hide")}
    assert plan["1"].kind == "create"
    assert plan["2"].kind == "update" and plan["2"].detail == "name '#2 Title' -> '#2 Renamed'"
    assert plan["3"].kind == "hide" and plan["3"].target_id == 13
    assert plan["4"].kind == "show"
    assert plan["5"].kind == "unchanged"
    assert [a.line() for a in plan.values() if a.writes][0] == "create #1 acme/web: activity '#1 Title'"


def test_plan_links_an_existing_activity_found_by_marker_when_store_is_lost():
    fields = activity_fields("acme", "web", issue(9), "hide")
    target = index_by_marker([activity(90, fields)])
    [action] = plan_activities("acme", "web", [issue(9)], target, {}, "hide")
    assert action.kind == "link" and action.target_id == 90


def test_update_keeps_the_billable_flag_of_the_target():
    fields = activity_fields("acme", "web", issue(9), "hide")
    target = index_by_marker([activity(90, {**fields, "name": "old"}, billable=False)])
    [action] = plan_activities("acme", "web", [issue(9)], target, {}, "hide")
    assert action.kind == "update" and action.keep == {"billable": False}


def test_duplicate_markers_resolve_to_the_lowest_id():
    fields = activity_fields("acme", "web", issue(9), "hide")
    assert index_by_marker([activity(7, fields), activity(3, fields)])["gitea:acme/web#9"]["id"] == 3


def test_project_reused_by_marker_or_by_name_under_customer():
    projects = [
        {"id": 5, "name": "web", "customer": 2, "comment": None},
        {"id": 6, "name": "moved", "customer": 9, "comment": "gitea:acme/api\nhttps://x"},
    ]
    assert plan_project("gitea:acme/web", "web", "c", 2, projects, None, "acme/web").target_id == 5
    assert plan_project("gitea:acme/web", "web", "c", 3, projects, None, "acme/web").kind == "create"
    assert plan_project("gitea:acme/api", "api", "c", 2, projects, None, "acme/api").target_id == 6


def test_short_names_are_padded_to_kimais_minimum():
    assert len(kimai_safe_name("x")) >= 2


def test_cursor_moves_to_newest_but_not_past_failures_or_cut_lists():
    read = RepoRead("web", [issue(1, updated="2026-01-01T10:00:00Z"), issue(2, updated="2026-01-02T10:00:00+00:00")])
    assert next_cursor(read, [], None) == "2026-01-02T10:00:00+00:00"
    assert next_cursor(read, ["2026-01-01T10:00:00Z"], None) == "2026-01-01T10:00:00Z"
    assert next_cursor(RepoRead("web", read.issues, complete=False), [], "old") == "old"
    assert next_cursor(RepoRead("web", []), [], "old") == "old"


def job(counter):
    values = {name: key.default for name, key in KEYS.items()}
    values.update(
        GITEA_URL="http://gitea.invalid",
        GITEA_TOKEN="gitea-token-0001",
        GITEA_ORGANIZATION="acme",
        KIMAI_URL="http://kimai.invalid",
        KIMAI_TOKEN="kimai-token-0001",
    )
    return GiteaKimaiJob(Settings(values), Options(), None, counter, Result(job=JOB))


def synced(target_id, fields=None):
    return {"state": "synced", "target_id": target_id, "source_hash": content_hash(fields) if fields else None}


def test_job_plan_from_a_hand_built_read_sends_nothing():
    web = [issue(1), issue(2)]  # web: a new project (and customer), #1 created, #2 found unlinked
    api = [issue(5, title="Renamed"), issue(6)]  # api's project is linked: #5 renamed, #6 as last written
    fields = {n: activity_fields("acme", r, issue(n), "hide") for r, n in (("web", 2), ("api", 5), ("api", 6))}
    links = {
        "gitea:acme/api": synced(7),
        "gitea:acme/api#6": synced(60, fields[6]),
    }
    read = GiteaRead(
        {
            "web": RepoRead("web", web),
            "api": RepoRead("api", api, complete=False),
            "docs": RepoRead("docs", error="gitea: reading its issues: not found"),
        },
        links,
        KimaiState(customers=[], projects=[]),
        index_by_marker([activity(50, fields[5]), activity(20, fields[2])]),
    )
    counter = RequestCounter()
    plan = job(counter).plan(read)
    assert plan.failures == [("acme/docs", "gitea: reading its issues: not found")]
    assert plan.warnings == ["acme/api: MAX_PAGES reached; the rest is read next run"]
    assert plan.unchanged == 1  # #6: no Kimai request at all
    assert [(a.kind, a.target_type, a.fields["name"]) for a in plan.containers] == [
        ("create", "customer", "acme"),
        ("create", "project", "web"),
    ]
    project = plan.containers[1]
    assert plan.projects == {"web": project, "api": 7}
    assert [(a.kind, a.key, a.parent, a.target_id) for a in plan.activities] == [
        ("create", "gitea:acme/web#1", None, None),
        ("link", "gitea:acme/web#2", None, 20),
        ("update", "gitea:acme/api#5", 7, 50),
    ]
    assert plan.activities[0].needs == {"parent": project} and plan.activities[2].needs is None
    assert plan.activities[0].detail == "activity '#1 Title' in project 'web' (customer 'acme')"
    assert plan.repos is read.repos  # the cursors move by them once applied
    assert not counter.requests and not counter.writes


def test_job_plan_is_empty_when_every_issue_hashes_as_last_written_and_projects_are_linked():
    fields = activity_fields("acme", "web", issue(1), "hide")
    links = {"gitea:acme/web": synced(7), "gitea:acme/web#1": synced(10, fields)}
    plan = job(RequestCounter()).plan(GiteaRead({"web": RepoRead("web", [issue(1)])}, links))
    assert (plan.containers, plan.activities, plan.projects, plan.failures, plan.unchanged) == ([], [], {}, [], 1)

"""graph-kimai planning without I/O (common/jobs/graph_plan.py), on Graph's own example payloads
(sandbox/contracts/msgraph/examples) and events shaped like them."""

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from common.graph_categories import CategoryMap
from common.jobs.base import ActionKind
from common.jobs.graph_plan import (
    PRIVATE_TEXT,
    InvalidEvent,
    KimaiNames,
    Rules,
    decide,
    event_row,
    mailbox_zone,
    needs_look,
    plan_timesheet,
    repeated_hour,
    timesheet_fields,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "sandbox" / "contracts" / "msgraph" / "examples"
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
BOX = "ann@acme.example"
RULES = Rules(categories=CategoryMap.from_lines({"Website relaunch": "Web site"}), default_activity="Meeting")
NAMES = KimaiNames(
    projects=[{"id": 3, "name": "Web site", "visible": True}, {"id": 4, "name": "Support", "visible": True}],
    activities=[{"id": 7, "name": "Meeting", "project": None}, {"id": 8, "name": "Design", "project": 3}],
)


def example(name):
    return json.loads((EXAMPLES / name).read_text())


def graph_event(event_id="AAMkADNVxRAAA=", starts="2026-11-03T08:00:00", ends="2026-11-03T09:30:00", **extra):
    event = {
        "id": event_id,
        "subject": "Relaunch sync",
        "start": {"dateTime": starts + ".0000000", "timeZone": "UTC"},
        "end": {"dateTime": ends + ".0000000", "timeZone": "UTC"},
        "type": "singleInstance",
        "showAs": "busy",
        "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
        "sensitivity": "normal",
        "isCancelled": False,
        "isAllDay": False,
        "categories": ["Website relaunch"],
        "organizer": {"emailAddress": {"name": "Ann", "address": "ann@acme.example"}},
    }
    event.update(extra)
    return event


def row_of(event, zone=BERLIN):
    return {**event_row(event, zone), "mailbox": BOX, "deleted_at": None}


def test_delta_pages_become_rows_with_utc_instants():
    rows = [event_row(e, BERLIN) for e in example("calendarView.delta.page1.response.json")["value"]]
    assert [(r["event_id"], r["start_utc"], r["end_utc"]) for r in rows] == [
        ("AAMkADNVxRAAA=", "2016-12-09T20:30:00Z", "2016-12-09T22:00:00Z"),
        ("AAMkADVxSAAA=", "2016-12-10T01:00:00Z", "2016-12-10T02:00:00Z"),
    ]
    assert rows[0]["organizer"] == "samanthab@contoso.onmicrosoft.com" and rows[0]["time_zone"] == "Europe/Berlin"
    removed = [e for e in example("calendarView.delta.next_round.response.json")["value"] if "@removed" in e]
    assert removed and removed[0]["@removed"]["reason"] == "deleted"


def test_occurrences_and_exceptions_keep_their_type_and_series():
    rows = [event_row(e, BERLIN) for e in example("event.instances.response.json")["value"]]
    exception = next(r for r in rows if r["type"] == "exception")
    assert exception["series_master_id"] == "AAMkAGUzYRgWAAA=" and exception["start_utc"] == "2019-04-16T20:30:00Z"
    assert len({r["event_id"] for r in rows}) == len(rows)


def test_times_not_in_utc_and_all_day_dates_use_their_zone():
    pacific = graph_event(starts="2026-11-03T09:00:00", ends="2026-11-03T10:00:00")
    pacific["start"]["timeZone"] = pacific["end"]["timeZone"] = "Pacific Standard Time"
    assert event_row(pacific, BERLIN)["start_utc"] == "2026-11-03T17:00:00Z"
    all_day = graph_event(starts="2026-11-03T00:00:00", ends="2026-11-04T00:00:00", isAllDay=True)
    row = event_row(all_day, BERLIN)
    assert (row["start_utc"], row["end_utc"], row["is_all_day"]) == (
        "2026-11-02T23:00:00Z",
        "2026-11-03T23:00:00Z",
        True,
    )
    assert event_row(all_day, ZoneInfo("America/Los_Angeles"))["start_utc"] == "2026-11-03T08:00:00Z"


@pytest.mark.parametrize(
    "name, zone",
    [
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("Pacific Standard Time", "America/Los_Angeles"),
        ("Tokyo Standard Time", "Asia/Tokyo"),
        ("Asia/Kolkata", "Asia/Kolkata"),
        ("UTC", "Etc/UTC"),
    ],
)
def test_mailbox_zones_windows_and_iana(name, zone):
    assert mailbox_zone(name).key == zone


@pytest.mark.parametrize("name", ["Wonderland Standard Time", "", None, 3, "../../etc/passwd"])
def test_unknown_mailbox_zones(name):
    assert mailbox_zone(name) is None


@pytest.mark.parametrize(
    "change",
    [
        {"id": "AAMk\nfake:marker"},
        {"id": ""},
        {"id": 5},
        {"categories": "Website relaunch"},
        {"start": {"dateTime": "yesterday", "timeZone": "UTC"}},
        {"start": {"dateTime": "2026-11-03T08:00:00", "timeZone": "Mars/Olympus"}},
        {"end": {"dateTime": "2026-11-03T07:00:00.0000000", "timeZone": "UTC"}},
        {"subject": {"html": 1}},
    ],
)
def test_malformed_events_are_refused_naming_the_field(change):
    with pytest.raises(InvalidEvent):
        event_row(graph_event(**change), BERLIN)


def test_an_ended_mapped_event_wants_a_timesheet_at_local_time():
    decision = decide(row_of(graph_event()), RULES, NOW)
    assert decision.kind == "wanted"
    fields, reason = timesheet_fields(decision.wanted, NAMES, BERLIN)
    assert reason is None
    assert fields == {
        "begin": "2026-11-03T09:00:00",
        "end": "2026-11-03T10:30:00",
        "project": 3,
        "activity": 7,
        "description": f"graph:{BOX}/AAMkADNVxRAAA=\nRelaunch sync",
    }
    action = plan_timesheet(decision.wanted, fields, None, None, None, "manual", "Europe/Berlin")
    assert action.kind == ActionKind.CREATE
    assert action.line() == "create graph:ann@acme.example/AAMkADNVxRAAA= 2026-11-03 09:00–10:30 Web site"


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"responseStatus": {"response": "declined"}}, "declined"),
        ({"isCancelled": True}, "cancelled"),
        ({"showAs": "free"}, "free"),
        (
            {
                "isAllDay": True,
                "start": {"dateTime": "2026-11-03T00:00:00", "timeZone": "UTC"},
                "end": {"dateTime": "2026-11-04T00:00:00", "timeZone": "UTC"},
            },
            "all-day",
        ),
        ({"categories": ["Blue category"]}, "no category names a project"),
        ({"end": {"dateTime": "2026-11-27T12:30:00", "timeZone": "UTC"}}, "not ended"),
        ({"type": "seriesMaster"}, "series master"),
    ],
)
def test_events_that_are_not_timesheets(change, reason):
    decision = decide(row_of(graph_event(**change)), RULES, NOW)
    assert decision.kind in ("gone", "skip") and reason in decision.reason


def test_graph_skip_none_counts_declined_and_free_events():
    rules = Rules(categories=RULES.categories, default_activity="Meeting", skip=frozenset())
    for change in ({"responseStatus": {"response": "declined"}}, {"showAs": "free"}, {"isCancelled": True}):
        assert decide(row_of(graph_event(**change)), rules, NOW).kind == "wanted"
    tentative = {"responseStatus": {"response": "tentativelyAccepted"}}
    assert decide(row_of(graph_event(**tentative)), RULES, NOW).kind == "wanted"
    strict = Rules(categories=RULES.categories, default_activity="Meeting", skip=frozenset({"tentative"}))
    assert decide(row_of(graph_event(**tentative)), strict, NOW).kind == "gone"


def test_private_events_are_redacted_or_skipped():
    private = row_of(graph_event(sensitivity="private", subject="Doctor: results"))
    decision = decide(private, RULES, NOW)
    assert decision.wanted.description.endswith("\n" + PRIVATE_TEXT) and "Doctor" not in decision.wanted.description
    skip = Rules(categories=RULES.categories, default_activity="Meeting", private="skip")
    assert decide(private, skip, NOW).kind == "gone"


def test_two_projects_fail_as_ambiguous_and_missing_mappings_fail():
    ambiguous = decide(row_of(graph_event(categories=["Website relaunch", "[PROJECT] Support"])), RULES, NOW)
    assert ambiguous.kind == "fail" and "ambiguous" in ambiguous.reason
    assert ambiguous.label == f"graph:{BOX}/AAMkADNVxRAAA="  # a failure names the whole marker
    no_activity = Rules(categories=RULES.categories)
    assert "GRAPH_DEFAULT_ACTIVITY" in decide(row_of(graph_event()), no_activity, NOW).reason
    mapped = Rules(categories=RULES.categories, default_activity="Meeting", user_map={"bob@acme.example": 4})
    assert "GRAPH_USER_MAP" in decide(row_of(graph_event()), mapped, NOW).reason
    with_user = Rules(categories=RULES.categories, default_activity="Meeting", user_map={BOX: 9})
    fields, _ = timesheet_fields(decide(row_of(graph_event()), with_user, NOW).wanted, NAMES, BERLIN)
    assert fields["user"] == 9
    unknown = decide(row_of(graph_event(categories=["[PROJECT] Nowhere"])), RULES, NOW)
    assert timesheet_fields(unknown.wanted, NAMES, BERLIN)[1] == "Kimai has no project 'Nowhere'"


def test_activity_categories_prefer_the_project_s_own_activity():
    decision = decide(row_of(graph_event(categories=["Website relaunch", "[ACTIVITY] design"])), RULES, NOW)
    fields, _ = timesheet_fields(decision.wanted, NAMES, BERLIN)
    assert (fields["project"], fields["activity"]) == (3, 8)


def test_spring_forward_lands_at_the_right_instants():
    # 2026-03-29: Berlin goes from 02:00 CET to 03:00 CEST at 01:00 UTC
    decision = decide(row_of(graph_event(starts="2026-03-29T00:30:00", ends="2026-03-29T01:30:00")), RULES, NOW)
    fields, reason = timesheet_fields(decision.wanted, NAMES, BERLIN)
    assert reason is None and (fields["begin"], fields["end"]) == ("2026-03-29T01:30:00", "2026-03-29T03:30:00")


@pytest.mark.parametrize(
    "start, end, fails",
    [
        ("2026-10-25T00:30:00", "2026-10-25T00:45:00", True),  # 02:30 CEST, the first 02:30
        ("2026-10-25T01:15:00", "2026-10-25T03:00:00", True),  # begins at the second 02:15 (CET)
        ("2026-10-24T23:00:00", "2026-10-25T00:30:00", True),  # ends in the repeated hour
        ("2026-10-24T22:00:00", "2026-10-24T23:00:00", False),  # 00:00-01:00 CEST
        ("2026-10-25T02:00:00", "2026-10-25T03:00:00", False),  # 03:00-04:00 CET
    ],
)
def test_the_repeated_autumn_hour_is_refused_never_guessed(start, end, fails):
    decision = decide(row_of(graph_event(starts=start, ends=end)), RULES, NOW)
    fields, reason = timesheet_fields(decision.wanted, NAMES, BERLIN)
    assert (fields is None) == fails
    if fails:
        assert reason.startswith(("begins at 2026-10-25 02:", "ends at 2026-10-25 02:")) and "repeated" in reason
    assert repeated_hour(datetime(2026, 10, 25, 0, 30, tzinfo=UTC), BERLIN)
    assert not repeated_hour(datetime(2026, 10, 25, 0, 30, tzinfo=UTC), ZoneInfo("Asia/Tokyo"))


def sheet(fields, sheet_id=41):
    return {"id": sheet_id, **fields, "billable": True, "exported": False}


def test_moves_updates_hand_edits_and_conflicts():
    decision = decide(row_of(graph_event()), RULES, NOW)
    wanted = decision.wanted
    fields, _ = timesheet_fields(wanted, NAMES, BERLIN)
    link = {"state": "synced", "target_id": 41, "source_hash": wanted.version, "data": dict(fields)}
    same = plan_timesheet(wanted, fields, link, sheet(fields), dict(fields), "manual", "Europe/Berlin")
    assert same.kind == ActionKind.UNCHANGED
    assert plan_timesheet(wanted, fields, None, sheet(fields), dict(fields), "manual", "x").kind == ActionKind.LINK
    moved_row = row_of(graph_event(starts="2026-11-03T10:00:00", ends="2026-11-03T11:00:00"))
    moved = decide(moved_row, RULES, NOW).wanted
    assert moved.version != wanted.version and needs_look(link, decide(moved_row, RULES, NOW), RULES, False)
    assert not needs_look(link, decision, RULES, False) and needs_look(link, decision, RULES, True)
    new_fields, _ = timesheet_fields(moved, NAMES, BERLIN)
    update = plan_timesheet(moved, new_fields, link, sheet(fields), dict(fields), "manual", "Europe/Berlin")
    assert update.kind == ActionKind.UPDATE and update.keep == {"billable": True, "exported": False}
    assert "begin 2026-11-03 09:00 -> 2026-11-03 11:00" in update.detail
    edited = {**fields, "end": "2026-11-03T10:45:00"}
    keep = plan_timesheet(wanted, fields, link, sheet(edited), edited, "manual", "x")
    assert keep.kind == ActionKind.KEEP and keep.fields == edited
    conflict = plan_timesheet(moved, new_fields, link, sheet(edited), edited, "manual", "x")
    assert conflict.kind == ActionKind.CONFLICT and "Outlook" in conflict.detail
    assert plan_timesheet(moved, new_fields, link, sheet(edited), edited, "graph-wins", "x").kind == ActionKind.UPDATE
    assert plan_timesheet(moved, new_fields, link, sheet(edited), edited, "kimai-wins", "x").kind == ActionKind.KEEP


def test_gone_events_need_a_look_only_while_their_timesheet_is_unsettled():
    deleted = {**row_of(graph_event()), "deleted_at": "2026-11-20T10:00:00Z"}
    decision = decide(deleted, RULES, NOW)
    assert decision.kind == "gone" and decision.reason == "deleted in Outlook"
    link = {"state": "synced", "target_id": 41, "source_hash": "x", "data": {}}
    assert needs_look(link, decision, RULES, False)
    assert not needs_look(None, decision, RULES, False)
    assert not needs_look({**link, "state": "deleted"}, decision, RULES, False)
    assert not needs_look({**link, "state": "orphaned"}, decision, RULES, False)
    delete = Rules(categories=RULES.categories, delete_policy="delete")
    assert needs_look({**link, "state": "orphaned"}, decision, delete, False)

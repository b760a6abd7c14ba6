"""report.py hours: the sums themselves, without a server (days cut at DST changes and midnights,
ISO weeks, months, the rounding that keeps rows adding up to the total, and which calendar
events count)."""

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from common.config import load_settings
from common.errors import UsageError
from common.reports.hours import apportion, parse_window, period_of, split_days
from common.reports.hours_calendar import sum_events

BERLIN, LA = ZoneInfo("Europe/Berlin"), ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def utc(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_split_days_at_local_midnights_and_dst_changes():
    # 22:00 UTC 28 March = midnight in Berlin (CET); the 29th has 23 hours
    assert split_days(utc("2026-03-28T20:00"), utc("2026-03-29T23:00"), BERLIN) == [
        (date(2026, 3, 28), 3 * 3600),  # to 23:00 UTC, midnight in Berlin (CET)
        (date(2026, 3, 29), 23 * 3600),  # 23:00 UTC 28th to 22:00 UTC 29th (CEST): the whole short day
        (date(2026, 3, 30), 3600),
    ]
    # autumn: 25 October has 25 hours in Berlin
    day = split_days(utc("2026-10-24T22:00"), utc("2026-10-25T23:00"), BERLIN)
    assert day == [(date(2026, 10, 25), 25 * 3600)]
    # the same instants cut in Los Angeles (PDT, UTC-7)
    assert split_days(utc("2026-10-24T22:00"), utc("2026-10-25T23:00"), LA) == [
        (date(2026, 10, 24), 9 * 3600),
        (date(2026, 10, 25), 16 * 3600),
    ]


def test_periods_iso_weeks_and_months():
    assert period_of(date(2026, 12, 31), "week") == "2026-W53"
    assert period_of(date(2027, 1, 3), "week") == "2026-W53"  # a Sunday: still the last ISO week of 2026
    assert period_of(date(2027, 1, 4), "week") == "2027-W01"
    assert period_of(date(2025, 12, 29), "week") == "2026-W01"  # a Monday of December in week 1 of 2026
    assert period_of(date(2026, 2, 28), "month") == "2026-02" and period_of(date(2026, 2, 28), "day") == "2026-02-28"
    assert period_of(date(2026, 2, 28), None) is None


def test_apportion_keeps_the_sum_and_each_share_within_one_unit():
    thirds = [1200, 1200, 1200]  # three times 20 minutes = 1.00 h, not 0.99
    assert apportion(thirds, 36) == [34, 33, 33] and sum(apportion(thirds, 36)) == 100
    assert apportion(thirds, 60) == [20, 20, 20]
    values = [1, 59, 61, 3599, 7, 1234, 86399]
    for unit in (36, 60):
        shares = apportion(values, unit)
        assert sum(shares) == (sum(values) + unit // 2) // unit
        assert all(abs(s * unit - v) < unit for s, v in zip(shares, values, strict=True))


def test_window_parsing():
    assert parse_window("2026-11-01", "2026-11-30", NOW).span(BERLIN) == (
        utc("2026-10-31T23:00"),
        utc("2026-11-30T23:00"),
    )
    window = parse_window("yesterday", "today", utc("2026-11-27T23:30"))
    assert window.span(UTC) == (utc("2026-11-26T00:00"), utc("2026-11-28T00:00"))
    # today is the day it is in each zone: already the 28th in Berlin
    assert window.span(BERLIN) == (utc("2026-11-26T23:00"), utc("2026-11-28T23:00"))
    assert parse_window("2026-11-01T08:00+01:00", "2026-11-02", NOW).span(LA)[0] == utc("2026-11-01T07:00")
    for bad in (
        ("2026-11-30", "2026-11-01"),
        ("2026-13-01", "2026-11-01"),
        ("soon", "2026-11-01"),
        ("2026-11-01", "9999-12-31"),
        ("0001-01-01", "2026-11-01"),
        ("2026-11-01T08:00+01:00", "2026-11-01T07:00Z"),
    ):
        with pytest.raises(UsageError):
            parse_window(*bad, NOW)


def event(event_id, start, end, mailbox="ann@acme.example", tz="Europe/Berlin", **fields):
    return {
        "mailbox": mailbox,
        "event_id": event_id,
        "type": "singleInstance",
        "start_utc": start,
        "end_utc": end,
        "is_all_day": False,
        "time_zone": tz,
        "show_as": "busy",
        "response": "organizer",
        "sensitivity": "normal",
        "is_cancelled": False,
        "categories": ["[PROJECT] Website"],
        "deleted_at": None,
        **fields,
    }


@pytest.fixture
def settings(tmp_path):
    env_file = tmp_path / "empty.env"
    env_file.write_text("")

    def make(**values):
        return load_settings(env_file, values, environ={})

    return make


def sums(events, settings, by="project", per=None, window=("2026-11-01", "2026-11-30"), planned=False, **keys):
    return sum_events(events, parse_window(*window, NOW), by, per, NOW, planned, settings(**keys))


def by_key(report):
    assert sum(r["seconds"] for r in report["rows"]) == report["total"]["seconds"]
    return {(r["period"], r["key"]) if r["period"] else r["key"]: r["hm"] for r in report["rows"]}


def test_an_event_crossing_midnight_is_split_in_its_mailbox_zone(settings):
    events = [
        event("a", "2026-11-02T22:30:00Z", "2026-11-03T00:30:00Z"),  # Berlin 23:30-01:30: 0:30 + 1:30
        event(
            "b", "2026-11-03T07:30:00Z", "2026-11-03T08:30:00Z", mailbox="bob@acme.example", tz="America/Los_Angeles"
        ),
    ]  # bob: 23:30-00:30 in Los Angeles, on the 2nd and the 3rd
    report = sums(events, settings, by="mailbox", per="day")
    assert by_key(report) == {
        ("2026-11-02", "ann@acme.example"): "0:30",
        ("2026-11-03", "ann@acme.example"): "1:30",
        ("2026-11-02", "bob@acme.example"): "0:30",
        ("2026-11-03", "bob@acme.example"): "0:30",
    }
    assert report["zones"] == {"ann@acme.example": "Europe/Berlin", "bob@acme.example": "America/Los_Angeles"}
    assert report["total"] == {"items": 2, "seconds": 3 * 3600, "hours": 3.0, "hm": "3:00"}


def test_the_window_is_cut_in_each_mailbox_zone(settings):
    events = [
        event("a", "2026-10-31T22:30:00Z", "2026-10-31T23:30:00Z"),  # Berlin: 31 Oct 23:30 - 1 Nov 00:30
        event(
            "b", "2026-12-01T06:00:00Z", "2026-12-01T09:00:00Z", mailbox="bob@acme.example", tz="America/Los_Angeles"
        ),
    ]  # bob: 30 Nov 22:00 - 1 Dec 01:00 in Los Angeles
    report = sums(events, settings, by="mailbox", planned=True)  # bob's event is after NOW
    assert by_key(report) == {"ann@acme.example": "0:30", "bob@acme.example": "2:00"}


def test_excluded_events_by_reason_per_graph_skip(settings):
    events = [
        event("ok", "2026-11-02T09:00:00Z", "2026-11-02T10:00:00Z"),
        event("gone", "2026-11-02T10:00:00Z", "2026-11-02T11:00:00Z", deleted_at="2026-11-05T00:00:00Z"),
        event("off", "2026-11-02T11:00:00Z", "2026-11-02T12:00:00Z", is_cancelled=True),
        event("no", "2026-11-02T12:00:00Z", "2026-11-02T13:30:00Z", response="declined"),
        event("free", "2026-11-03T09:00:00Z", "2026-11-03T10:00:00Z", show_as="free"),
        event("day", "2026-11-03T23:00:00Z", "2026-11-04T23:00:00Z", is_all_day=True),
        event("mine", "2026-11-05T09:00:00Z", "2026-11-05T10:00:00Z", sensitivity="private"),
        event("none", "2026-11-05T10:00:00Z", "2026-11-05T10:15:00Z", categories=[]),
        event("other", "2026-11-05T11:00:00Z", "2026-11-05T11:15:00Z", categories=["Lunch"]),
        event("two", "2026-11-05T12:00:00Z", "2026-11-05T12:15:00Z", categories=["[project] A", "[PROJECT] B"]),
        event("master", "2026-11-05T12:00:00Z", "2026-11-05T12:15:00Z", type="seriesMaster"),
    ]
    report = sums(events, settings)
    assert by_key(report) == {"Website": "2:00"}  # ok and the private one (redacted, still work)
    excluded = {e["reason"]: (e["items"], e["hm"]) for e in report["excluded"]}
    assert excluded == {
        "deleted": (1, "1:00"),
        "cancelled": (1, "1:00"),
        "declined": (1, "1:30"),
        "free": (1, "1:00"),
        "all-day": (1, "24:00"),
        "uncategorised": (1, "0:15"),
        "unmapped": (1, "0:15"),
        "ambiguous": (1, "0:15"),
    }
    report = sums(events, settings, GRAPH_SKIP="declined", GRAPH_PRIVATE="skip")
    # ok, cancelled, free and the all-day event (24 hours: the user asked for it) count, private not
    assert by_key(report) == {"Website": "27:00"}
    excluded = {e["reason"]: e["items"] for e in report["excluded"]}
    assert excluded == {"deleted": 1, "declined": 1, "private": 1, "uncategorised": 1, "unmapped": 1, "ambiguous": 1}
    report = sums(events, settings, GRAPH_SKIP="none")
    assert by_key(report) == {"Website": "29:30"} and "declined" not in {e["reason"] for e in report["excluded"]}


def test_category_map_and_an_event_in_two_categories(settings):
    events = [
        event("a", "2026-11-02T09:00:00Z", "2026-11-02T10:00:00Z", categories=["Website relaunch", "Calls"]),
        event("b", "2026-11-02T10:00:00Z", "2026-11-02T10:30:00Z", categories=["website RELAUNCH"]),
        event("c", "2026-11-02T11:00:00Z", "2026-11-02T11:20:00Z", categories=[]),
        event("d", "2026-11-02T12:00:00Z", "2026-11-02T12:10:00Z", categories=["[PROJECT] RELAUNCH"]),
    ]
    keys = {"GRAPH_CATEGORY_MAP": "Website relaunch=Relaunch;Calls=activity:Meeting", "GRAPH_DEFAULT_ACTIVITY": "Work"}
    assert by_key(sums(events, settings, **keys)) == {"Relaunch": "1:40"}  # one project, as Kimai sees it
    assert by_key(sums(events, settings, by="activity", **keys)) == {"Meeting": "1:00", "Work": "1:00"}
    report = sums(events, settings, by="category", **keys)
    assert by_key(report) == {
        "Website relaunch": "1:30",
        "Calls": "1:00",
        "(no category)": "0:20",
        "[PROJECT] RELAUNCH": "0:10",
    }
    assert report["total"]["hm"] == "3:00" and report["total"]["items"] == 4
    repeated = report["counted_more_than_once"]
    assert (repeated["items"], repeated["hm"]) == (1, "1:00") and "several categories" in repeated["note"]
    assert sums(events, settings, by="mailbox")["counted_more_than_once"]["note"] is None


def test_planned_time_counts_only_with_include_planned(settings):
    events = [
        event("past", "2026-11-27T08:00:00Z", "2026-11-27T09:00:00Z"),
        event("now", "2026-11-27T11:00:00Z", "2026-11-27T13:00:00Z"),  # in progress at 12:00 UTC
        event("later", "2026-11-28T09:00:00Z", "2026-11-28T10:00:00Z"),
    ]
    report = sums(events, settings)
    assert by_key(report) == {"Website": "2:00"}  # 1:00 + the first hour of "now"
    assert report["excluded"] == [{"reason": "planned", "items": 2, "seconds": 7200, "hours": 2.0, "hm": "2:00"}]
    report = sums(events, settings, planned=True)
    assert by_key(report) == {"Website": "4:00"} and report["excluded"] == []


def test_dst_days_in_a_calendar_week(settings):
    # Berlin's autumn change: an event 00:30-03:30 local on 25 Oct lasts 4 real hours
    events = [event("a", "2026-10-24T22:30:00Z", "2026-10-25T02:30:00Z")]
    report = sums(events, settings, per="week", window=("2026-10-19", "2026-10-25"))
    assert by_key(report) == {("2026-W43", "Website"): "4:00"}
    assert by_key(sums(events, settings, per="day", window=("2026-10-25", "2026-10-25"))) == {
        ("2026-10-25", "Website"): "4:00"
    }


def test_a_row_the_store_should_never_hold_is_shown_not_guessed(settings):
    events = [
        event("ok", "2026-11-02T09:00:00Z", "2026-11-02T10:00:00Z", time_zone="W. Europe Standard Time"),
        event("bad", "yesterday", "2026-11-02T10:00:00Z"),
        event("backwards", "2026-11-02T10:00:00Z", "2026-11-02T09:00:00Z"),
        event("odd", "2026-11-02T09:00:00Z", "2026-11-02T10:00:00Z", mailbox="x@acme.example", time_zone="Mars/Base"),
    ]
    report = sums(events, settings, by="mailbox", per="day")
    assert by_key(report) == {("2026-11-02", "ann@acme.example"): "1:00", ("2026-11-02", "x@acme.example"): "1:00"}
    assert report["zones"] == {"ann@acme.example": "Europe/Berlin", "x@acme.example": "UTC"}  # CLDR; unknown: UTC
    assert [(e["reason"], e["items"]) for e in report["excluded"]] == [("unreadable", 2)]


# -- reading Kimai's timesheets of a window (the pager against canned pages) --------------------
KIMAI = "http://kimai.test/api/timesheets"


def sheet(number, end):
    return {"id": number, "begin": "2026-01-01T00:00:00+0000", "end": end, "user": 1, "project": 1, "activity": 1}


def kimai_pages(mock, pages):
    """GET /timesheets: the ended ones page by page (X-Total-Pages says more exist), none running."""

    def answer(request):
        query = request.params
        if query.get("active") == "1":
            return 200, {"X-Total-Pages": "1"}, json.dumps([])
        assert query["orderBy"] == "end" and query["order"] == "DESC" and query["active"] == "0"
        body = pages[int(query.get("page", 1)) - 1]
        return 200, {"X-Total-Pages": str(len(pages) + 3)}, json.dumps(body)

    mock.add_callback("GET", KIMAI, callback=answer)


def ends(first, count, step_minutes=-1):
    """`count` end times from `first` (UTC), `step_minutes` apart, in Kimai's format."""
    return [(utc(first) + timedelta(minutes=n * step_minutes)).strftime("%Y-%m-%dT%H:%M:%S+0000") for n in range(count)]


def read_window(settings):
    from common.clients.kimai import KimaiClient
    from common.http import RequestCounter
    from common.reports.hours_kimai import window_timesheets

    kimai = KimaiClient(
        settings(KIMAI_URL="http://kimai.test", KIMAI_TOKEN="t0ken-123456", CACHE_ENABLED="false"),
        RequestCounter(),
        dry_run=True,
    )
    return window_timesheets(kimai, utc("2026-11-12T00:00:00Z"), utc("2026-11-13T00:00:00Z"), ZoneInfo("UTC"))


def test_the_read_by_end_stops_one_page_past_the_window(settings):
    import responses

    with responses.RequestsMock() as mock:
        first = [sheet(n, e) for n, e in enumerate(ends("2026-11-13T23:00:00Z", 500, 0), 1)]  # after the window
        second = [sheet(1000 + n, e) for n, e in enumerate(ends("2026-11-12T01:00:00Z", 500), 1)]  # reaches 11 Nov
        kimai_pages(mock, [first, second, [sheet(9999, "2026-11-01T00:00:00+0000")] * 500])
        found = read_window(settings)
        pages = [c.request.params.get("page", "1") for c in mock.calls if c.request.params.get("active") == "0"]
    assert pages == ["1", "2"] and len(found) == 1000


def test_a_server_that_ignores_order_by_end_is_refused_not_summed_short(settings):
    import responses

    from common.errors import ServiceUnavailable

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        kimai_pages(mock, [[sheet(n, e) for n, e in enumerate(ends("2026-11-12T01:00:00Z", 500, 1), 1)]])  # ascending
        with pytest.raises(ServiceUnavailable, match="not ordered by end"):
            read_window(settings)

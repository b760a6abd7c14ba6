"""report.py hours --source calendar end to end: the real script over a store whose graph_events
rows the test wrote (three mailboxes in three zones), and the documented JSON shape."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from ops_helpers import offline_env, run
from test_report_json_shapes import documented, same_shape

from common.store import Store

MAP = "Website relaunch=Relaunch;Calls=activity:Meeting"


def event(event_id, start, end, **fields):
    return {
        "event_id": event_id,
        "ical_uid": f"uid-{event_id}",
        "type": "singleInstance",
        "subject": f"=subject {event_id}",
        "start_utc": start,
        "end_utc": end,
        "is_all_day": False,
        "show_as": "busy",
        "response": "organizer",
        "sensitivity": "normal",
        "is_cancelled": False,
        "categories": ["[PROJECT] Website"],
        "organizer": "ann@acme.example",
        "last_modified": "2026-11-01T00:00:00Z",
        "change_key": "ck",
        **fields,
    }


def stamp(instant):
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def store(tmp_path):
    env_file = offline_env(tmp_path, GRAPH_CATEGORY_MAP=MAP)
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    berlin = [
        event("a1", "2026-11-02T08:00:00Z", "2026-11-02T09:30:00Z"),  # 1:30
        event("a2", "2026-11-02T22:30:00Z", "2026-11-03T00:30:00Z", categories=["website relaunch", "Calls"]),
        event("a3", "2026-11-04T09:00:00Z", "2026-11-04T10:00:00Z", response="declined"),
        event("a4", "2026-11-05T09:00:00Z", "2026-11-05T10:00:00Z", categories=[]),
        event("a5", "2026-11-05T23:00:00Z", "2026-11-06T23:00:00Z", is_all_day=True),
        event("a6", "2026-11-06T09:00:00Z", "2026-11-06T09:45:00Z"),  # deleted below
        event("a7", stamp(soon), stamp(soon + timedelta(hours=1))),  # planned
    ]
    la = [  # 23:30-00:30 in Los Angeles (PST) on 9/10 November
        event("b1", "2026-11-10T07:30:00Z", "2026-11-10T08:30:00Z", categories=["[Project] Website"]),
        event("b2", "2026-11-11T17:00:00Z", "2026-11-11T18:00:00Z", show_as="free"),
    ]
    kolkata = [event("c1", "2026-11-12T04:30:00Z", "2026-11-12T05:20:00Z", categories=["Lunch"])]
    with Store(tmp_path / "sync.db") as db:
        for box, zone, events in (
            ("ann@acme.example", "Europe/Berlin", berlin),
            ("bob@acme.example", "Pacific Standard Time", la),
            ("cem@acme.example", "Asia/Kolkata", kolkata),
        ):
            iana = {"Pacific Standard Time": "America/Los_Angeles"}.get(zone, zone)
            db.save_graph_events(box, [{**e, "time_zone": iana} for e in events])
        db.save_graph_events("ann@acme.example", [], removed=["a6"])
    return tmp_path, env_file


def hours(store, *args, code=0):
    folder, env_file = store
    proc = run("report.py", "hours", "--source", "calendar", *args, cwd=folder, env_file=env_file)
    assert proc.returncode == code, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    return proc


def report(store, *args):
    return json.loads(hours(store, "--from", "2026-11-01", "--to", "2026-11-30", "--json", *args).stdout)


def check_sums(doc):
    rows, total = doc["rows"], doc["total"]
    minutes = lambda text: int(text.split(":")[0]) * 60 + int(text.split(":")[1])  # noqa: E731
    assert sum(r["seconds"] for r in rows) == total["seconds"]
    assert sum(round(r["hours"] * 100) for r in rows) == round(total["hours"] * 100)
    assert sum(minutes(r["hm"]) for r in rows) == minutes(total["hm"])


def test_by_project_per_day_in_each_mailbox_zone(store):
    doc = report(store, "--by", "project", "--per", "day")
    same_shape({**documented("hours"), "zones": {}}, {**doc, "zones": {}})  # zones: keys are mailboxes
    check_sums(doc)
    assert {(r["period"], r["key"]): r["hm"] for r in doc["rows"]} == {
        ("2026-11-02", "Website"): "1:30",
        ("2026-11-02", "Relaunch"): "0:30",  # Berlin: 23:30-00:30 ...
        ("2026-11-03", "Relaunch"): "1:30",  # ... to 01:30 the next day
        ("2026-11-09", "Website"): "0:30",  # Los Angeles: 23:30 ...
        ("2026-11-10", "Website"): "0:30",  # ... to 00:30
    }
    assert doc["zones"] == {
        "ann@acme.example": "Europe/Berlin",
        "bob@acme.example": "America/Los_Angeles",
        "cem@acme.example": "Asia/Kolkata",
    }
    excluded = {e["reason"]: (e["items"], e["hm"]) for e in doc["excluded"]}
    assert excluded == {
        "declined": (1, "1:00"),
        "uncategorised": (1, "1:00"),
        "all-day": (1, "24:00"),
        "deleted": (1, "0:45"),
        "free": (1, "1:00"),
        "unmapped": (1, "0:50"),
        "planned": (1, "1:00"),
    }
    assert doc["total"] == {"items": 3, "seconds": 4 * 3600 + 30 * 60, "hours": 4.5, "hm": "4:30"}


def test_by_category_counts_an_event_in_each_and_says_so(store):
    doc = report(store, "--by", "category")
    check_sums(doc)
    rows = {r["key"]: r["hm"] for r in doc["rows"]}
    assert rows == {
        "[PROJECT] Website": "2:30",  # ann's 1:30 and bob's 1:00 ("[Project] Website" is the same category)
        "website relaunch": "2:00",
        "Calls": "2:00",
        "(no category)": "1:00",
        "Lunch": "0:50",
    }
    assert doc["total"]["hm"] == "8:20" and doc["total"]["items"] == 5
    assert doc["counted_more_than_once"]["items"] == 1 and doc["counted_more_than_once"]["hm"] == "2:00"
    table = hours(store, "--from", "2026-11-01", "--to", "2026-11-30", "--by", "category").stdout
    assert "several categories counts under each of them" in table
    assert "Europe/Berlin" in table and "America/Los_Angeles" in table


def test_include_planned_and_by_mailbox(store):
    doc = report(store, "--by", "mailbox", "--include-planned", "--to", "2027-01-31")
    assert {r["key"]: r["hm"] for r in doc["rows"]} == {
        "ann@acme.example": "5:30",  # a1, a2, a4 (no project needed by mailbox), a7
        "bob@acme.example": "1:00",
        "cem@acme.example": "0:50",
    }
    assert "planned" not in {e["reason"] for e in doc["excluded"]}


def test_csv_is_spreadsheet_safe_and_has_a_total_line(store):
    folder, _ = store
    with Store(folder / "sync.db") as db:
        db.save_graph_events(
            "dan@acme.example",
            [
                event(
                    "d1", "2026-11-03T09:00:00Z", "2026-11-03T10:00:00Z", categories=["=HYPERLINK(1)"], time_zone="UTC"
                )
            ],
        )
    text = hours(store, "--from", "2026-11-01", "--to", "2026-11-30", "--by", "category", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert "'=HYPERLINK(1)" in [r["category"] for r in rows]
    total = next(r for r in rows if r["line"] == "total")
    assert total["hours"] == "9.33" and total["hm"] == "9:20"
    assert sum(int(r["seconds"]) for r in rows if r["line"] == "row") == int(total["seconds"])


@pytest.mark.parametrize("by", ["customer", "user", "tag"])
def test_kimai_only_keys_are_usage_errors(store, by):
    proc = hours(store, "--from", "2026-11-01", "--to", "2026-11-30", "--by", by, code=2)
    assert f"--by {by}" in proc.stderr and "--source kimai" in proc.stderr


def test_an_empty_store(tmp_path):
    env_file = offline_env(tmp_path)
    proc = run(
        "report.py",
        "hours",
        "--source",
        "calendar",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--json",
        cwd=tmp_path,
        env_file=env_file,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["rows"] == [] and doc["total"]["seconds"] == 0 and doc["excluded"] == []
    assert not (tmp_path / "sync.db").exists()  # read-only: nothing created

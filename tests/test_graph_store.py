"""The store's copy of Outlook events and the graph-kimai delta links (migration 5, store_graph.py)."""

import sqlite3

from common.store import Store
from common.store_schema import MIGRATIONS, TABLES


def event(event_id, **fields):
    row = {
        "event_id": event_id,
        "ical_uid": "uid-" + event_id,
        "type": "singleInstance",
        "subject": "Standup",
        "start_utc": "2026-11-03T08:00:00Z",
        "end_utc": "2026-11-03T09:30:00Z",
        "time_zone": "Europe/Berlin",
        "show_as": "busy",
        "response": "organizer",
        "sensitivity": "normal",
        "categories": ["Website relaunch"],
        "organizer": "ann@acme.example",
        "change_key": "ck1",
    }
    row.update(fields)
    return row


def test_events_are_written_only_when_changed_and_deletions_are_kept(tmp_path):
    with Store(tmp_path / "s.db") as store:
        assert "graph_events" in TABLES
        assert store.save_graph_events("Ann@Acme.example", [event("A"), event("B")]) == 2
        assert store.save_graph_events("ann@acme.example", [event("A"), event("B")]) == 0  # unchanged: no write
        assert store.save_graph_events("ann@acme.example", [event("A", end_utc="2026-11-03T10:00:00Z")]) == 1
        assert store.save_graph_events("ann@acme.example", [], removed=["B", "missing"]) == 1
        assert store.save_graph_events("ann@acme.example", [], removed=["B"]) == 0  # already marked
        rows = store.graph_mailbox_events("ann@acme.example")
        assert rows["A"]["end_utc"] == "2026-11-03T10:00:00Z" and rows["A"]["categories"] == ["Website relaunch"]
        assert rows["B"]["deleted_at"] and rows["A"]["deleted_at"] is None and rows["A"]["is_all_day"] is False
        assert [r["event_id"] for r in store.graph_events(include_deleted=False)] == ["A"]
        assert store.save_graph_events("ann@acme.example", [event("B")]) == 1  # back at the source: undeleted
        assert store.graph_mailbox_events("ann@acme.example")["B"]["deleted_at"] is None


def test_event_window_and_mailbox_filters(tmp_path):
    with Store(tmp_path / "s.db") as store:
        store.save_graph_events(
            "ann@acme.example",
            [event("A"), event("C", start_utc="2026-11-05T08:00:00Z", end_utc="2026-11-05T09:00:00Z")],
        )
        store.save_graph_events("bob@acme.example", [event("B")])
        assert [r["event_id"] for r in store.graph_events(["ANN@acme.example"])] == ["A", "C"]
        overlapping = store.graph_events(start="2026-11-03T09:00:00Z", end="2026-11-05T08:00:00Z")
        assert [(r["mailbox"], r["event_id"]) for r in overlapping] == [
            ("ann@acme.example", "A"),
            ("bob@acme.example", "B"),
        ]


def test_delta_state_is_saved_with_the_events(tmp_path):
    with Store(tmp_path / "s.db") as store:
        assert store.graph_delta("ann@acme.example") is None
        state = {"link": "https://graph.example/delta?$deltatoken=x", "start": "2026-08-05", "end": "2026-12-03"}
        store.save_graph_events("ann@acme.example", [event("A")], delta=state)
        assert store.graph_delta("ANN@acme.example") == state
        assert store.cursor("graph-kimai", "delta:ann@acme.example")
        store.set_cursor("graph-kimai", "delta:ann@acme.example", "not json")
        assert store.graph_delta("ann@acme.example") is None


def test_a_schema_4_store_gains_the_events_table(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript("".join(MIGRATIONS[:4]) + "; PRAGMA user_version = 4;")
    db.close()
    with Store(path) as store:
        assert store.graph_events() == [] and "deleted_at" in store.table_columns("graph_events")


def test_graph_links_are_one_mailbox_s_only(tmp_path):
    with Store(tmp_path / "s.db") as store:
        for key in (
            "graph:ann@acme.example/A",
            "graph:ann@acme.example/B",
            "graph:ann@acme.examplex/C",
            "graph:bob@x.example/D",
        ):
            store.mark_synced("graph-kimai", key, "timesheet", 1, "h", {"begin": "x"}, None)
        store.mark_synced("zammad-kimai", "graph:ann@acme.example/Z", "timesheet", 1, "h", None, None)
        links = store.graph_links("ANN@acme.example")
        assert sorted(links) == ["graph:ann@acme.example/A", "graph:ann@acme.example/B"]
        assert links["graph:ann@acme.example/A"]["data"] == {"begin": "x"}

"""The store's copy of Outlook calendar events (table graph_events, migration 5) and the graph-kimai
delta links (table cursors, scope `delta:{mailbox}`): a part of Store (`store.graph_events(...)`).

A row is written only when something in it changed, so re-reading an unchanged window writes
nothing. Events the source removed are kept with `deleted_at` set, never dropped."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

Row = dict[str, Any]
GRAPH_JOB = "graph-kimai"
DELTA_SCOPE = "delta:"
EVENT_COLUMNS = (  # the columns an event row carries, besides mailbox, deleted_at and seen_at
    "event_id",
    "ical_uid",
    "type",
    "series_master_id",
    "subject",
    "start_utc",
    "end_utc",
    "is_all_day",
    "time_zone",
    "show_as",
    "response",
    "sensitivity",
    "is_cancelled",
    "categories",
    "organizer",
    "last_modified",
    "change_key",
)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stored(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """An event's columns as SQLite holds them (categories as JSON, flags as 0/1)."""
    values = []
    for column in EVENT_COLUMNS:
        value = row.get(column)
        if column == "categories":
            value = json.dumps(list(value or []), ensure_ascii=False)
        elif column in ("is_all_day", "is_cancelled"):
            value = 1 if value else 0
        values.append(value)
    return tuple(values)


def _event(row: sqlite3.Row) -> Row:
    data = dict(row)
    data["categories"] = json.loads(data["categories"]) if data.get("categories") else []
    data["is_all_day"], data["is_cancelled"] = bool(data["is_all_day"]), bool(data["is_cancelled"])
    return data


class StoreGraph:
    conn: sqlite3.Connection

    def graph_events(
        self,
        mailboxes: Iterable[str] | None = None,
        start: str | None = None,
        end: str | None = None,
        include_deleted: bool = True,
    ) -> list[Row]:
        """Stored events (categories decoded, flags as bools) by mailbox and start, optionally of
        some mailboxes and overlapping [start, end) (UTC 'YYYY-MM-DDTHH:MM:SSZ' strings)."""
        sql, args = "SELECT * FROM graph_events WHERE 1 = 1", []
        if mailboxes is not None:
            boxes = sorted({box.lower() for box in mailboxes})
            sql += f" AND mailbox IN ({', '.join('?' * len(boxes))})"
            args += boxes
        if start is not None:
            sql += " AND end_utc > ?"
            args.append(start)
        if end is not None:
            sql += " AND start_utc < ?"
            args.append(end)
        if not include_deleted:
            sql += " AND deleted_at IS NULL"
        sql += " ORDER BY mailbox, start_utc, event_id"
        return [_event(row) for row in self.conn.execute(sql, args)]

    def graph_mailbox_events(self, mailbox: str) -> dict[str, Row]:
        """One mailbox's stored events by event id (deleted ones included)."""
        rows = self.conn.execute("SELECT * FROM graph_events WHERE mailbox = ?", (mailbox.lower(),))
        return {row["event_id"]: _event(row) for row in rows}

    def save_graph_events(
        self,
        mailbox: str,
        events: Sequence[Mapping[str, Any]],
        removed: Iterable[str] = (),
        delta: Mapping[str, Any] | None = None,
        at: str | None = None,
    ) -> int:
        """Write the events that are new or changed (a removed one that comes back is undeleted),
        mark `removed` event ids deleted (kept), and, with `delta`, store the mailbox's delta
        state, all in one transaction. Returns the number of event rows written."""
        box, now = mailbox.lower(), at or _now()
        written = 0
        with self.conn:
            for event in events:
                values = _stored(event)
                old = self.conn.execute(
                    f"SELECT {', '.join(EVENT_COLUMNS)}, deleted_at FROM graph_events "
                    "WHERE mailbox = ? AND event_id = ?",
                    (box, values[0]),
                ).fetchone()
                if old is not None and tuple(old)[:-1] == values and old[-1] is None:
                    continue
                columns = ("mailbox", *EVENT_COLUMNS, "deleted_at", "seen_at")
                updates = ", ".join(f"{c} = excluded.{c}" for c in columns[2:])
                self.conn.execute(
                    f"INSERT INTO graph_events ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
                    f"ON CONFLICT (mailbox, event_id) DO UPDATE SET {updates}",
                    (box, *values, None, now),
                )
                written += 1
            for event_id in removed:
                cur = self.conn.execute(
                    "UPDATE graph_events SET deleted_at = ? WHERE mailbox = ? AND event_id = ? AND deleted_at IS NULL",
                    (now, box, event_id),
                )
                written += max(cur.rowcount, 0)
            if delta is not None:
                self.conn.execute(
                    "INSERT INTO cursors (job, scope, value, updated_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (job, scope) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    (GRAPH_JOB, DELTA_SCOPE + box, json.dumps(dict(delta), sort_keys=True), now),
                )
        return written

    def graph_delta(self, mailbox: str) -> Row | None:
        """The mailbox's stored delta state ({"link", "start", "end", "started"} as the job saved
        it), or None (never synced, or the state is unreadable: a new round starts)."""
        row = self.conn.execute(
            "SELECT value FROM cursors WHERE job = ? AND scope = ?", (GRAPH_JOB, DELTA_SCOPE + mailbox.lower())
        ).fetchone()
        try:
            value = json.loads(row[0]) if row else None
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def graph_links(self, mailbox: str) -> dict[str, Row]:
        """One mailbox's graph-kimai links (source key `graph:{mailbox}/...`) by source key, data decoded."""
        prefix = f"graph:{mailbox.lower()}/"
        rows = self.conn.execute(
            "SELECT * FROM links WHERE job = ? AND source_key >= ? AND source_key < ?",  # the primary key's range
            (GRAPH_JOB, prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)),
        )
        return {
            row["source_key"]: {**dict(row), "data": json.loads(row["data"]) if row["data"] else None} for row in rows
        }

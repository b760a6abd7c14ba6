"""The store's part for confluence-jira (migration 6): the issue of each page task, the pages of
the trees read, and every page write with the body it replaced (`sync.py undo`). A part of Store
(`store.task_issues()`, ...).

A task's row is written `pending` (with the time the create was first sent) before the issue is
created, and `linked` once the issue is known: a crash, a dropped answer or a 5xx after the
commit leaves the row pending, and the next run looks for the issue's origin label before it
creates anything."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

Row = dict[str, Any]
ISSUE_COLUMNS = (
    "page_id",
    "task_id",
    "state",
    "sent_at",
    "issue_id",
    "issue_key",
    "created_run",
    "task_complete",
    "issue_status",
    "issue_done",
    "on_page",
    "remote_link",
    "run_id",
)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _issue_row(row: sqlite3.Row) -> Row:
    data = dict(row)
    for flag in ("task_complete", "issue_done"):
        data[flag] = None if data[flag] is None else bool(data[flag])
    data["on_page"], data["remote_link"] = bool(data["on_page"]), bool(data["remote_link"])
    return data


class StoreAtlassian:
    conn: sqlite3.Connection

    # -- task -> issue ------------------------------------------------------------------------
    def task_issues(self, origins: Iterable[str] | None = None) -> dict[str, Row]:
        """Rows of jira_task_issues by origin label (all, or those of `origins`)."""
        if origins is None:
            rows = self.conn.execute("SELECT * FROM jira_task_issues")
            return {row["origin"]: _issue_row(row) for row in rows}
        wanted = list(origins)
        found: dict[str, Row] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            sql = f"SELECT * FROM jira_task_issues WHERE origin IN ({', '.join('?' * len(chunk))})"
            found.update({row["origin"]: _issue_row(row) for row in self.conn.execute(sql, chunk)})
        return found

    def issues_created_by(self, run_id: int) -> list[Row]:
        rows = self.conn.execute("SELECT * FROM jira_task_issues WHERE created_run = ? ORDER BY origin", (run_id,))
        return [_issue_row(row) for row in rows]

    def mark_issue_pending(self, origin: str, page_id: str, task_id: str, run_id: int | None) -> str:
        """Record the intent to create (committed before the POST is sent) and when it is sent:
        JIRA_SEARCH_LAG counts from the latest send. Returns that time."""
        now = _now()
        with self.conn:
            self.conn.execute(
                "INSERT INTO jira_task_issues (origin, page_id, task_id, state, sent_at, run_id, updated_at) "
                "VALUES (?, ?, ?, 'pending', ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET "
                "state = 'pending', sent_at = excluded.sent_at, "
                "run_id = excluded.run_id, updated_at = excluded.updated_at",
                (origin, page_id, task_id, now, run_id, now),
            )
            sent = self.conn.execute("SELECT sent_at FROM jira_task_issues WHERE origin = ?", (origin,)).fetchone()
        return str(sent[0])

    def save_issue_link(self, origin: str, values: Mapping[str, Any]) -> None:
        """Insert or update a task's row (state linked unless given), sent_at cleared."""
        data = {"state": "linked", "sent_at": None, **values}
        columns = [c for c in ISSUE_COLUMNS if c in data]
        args = [data[c] for c in columns]
        now = _now()
        updates = ", ".join(f"{c} = excluded.{c}" for c in [*columns, "updated_at"])
        with self.conn:
            self.conn.execute(
                f"INSERT INTO jira_task_issues (origin, {', '.join(columns)}, updated_at) "
                f"VALUES (?, {', '.join('?' * len(columns))}, ?) ON CONFLICT (origin) DO UPDATE SET {updates}",
                [origin, *args, now],
            )

    def update_issue_link(self, origin: str, **values: Any) -> None:
        """Change some columns of an existing row."""
        columns = [c for c in values if c in ISSUE_COLUMNS]
        if not columns:
            return
        sets = ", ".join(f"{c} = ?" for c in columns)
        with self.conn:
            self.conn.execute(
                f"UPDATE jira_task_issues SET {sets}, updated_at = ? WHERE origin = ?",
                [*(values[c] for c in columns), _now(), origin],
            )

    def drop_issue_links(self, origins: Iterable[str]) -> int:
        wanted = list(origins)
        with self.conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                self.conn.execute(
                    f"DELETE FROM jira_task_issues WHERE origin IN ({', '.join('?' * len(chunk))})", chunk
                )
        return len(wanted)

    # -- pages read ---------------------------------------------------------------------------
    def confluence_pages(self, root_id: str | None = None) -> dict[str, Row]:
        if root_id is None:
            rows = self.conn.execute("SELECT * FROM confluence_pages")
        else:
            rows = self.conn.execute("SELECT * FROM confluence_pages WHERE root_id = ?", (root_id,))
        return {row["page_id"]: dict(row) for row in rows}

    def save_confluence_page(
        self,
        page_id: str,
        root_id: str,
        parent_id: str | None,
        title: str,
        version: int,
        jira_project: str | None,
        jira_issue: str | None,
    ) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT INTO confluence_pages (page_id, root_id, parent_id, title, version, jira_project, jira_issue, "
                "seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (page_id) DO UPDATE SET root_id = "
                "excluded.root_id, parent_id = excluded.parent_id, title = excluded.title, version = excluded.version, "
                "jira_project = excluded.jira_project, jira_issue = excluded.jira_issue, seen_at = excluded.seen_at",
                (page_id, root_id, parent_id, title, version, jira_project, jira_issue, _now()),
            )

    def forget_confluence_page(self, page_id: str) -> None:
        """The page's stored version no longer stands for what was synced (read it fully next run)."""
        with self.conn:
            self.conn.execute("DELETE FROM confluence_pages WHERE page_id = ?", (page_id,))

    # -- page writes (undo) -------------------------------------------------------------------
    def record_page_write(
        self, run_id: int, page_id: str, title: str, version_before: int, body_before: str, version_written: int
    ) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT INTO confluence_page_writes (run_id, page_id, title, version_before, body_before, "
                "version_written, written_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, page_id, title, version_before, body_before, version_written, _now()),
            )

    def page_writes(self, run_id: int, include_undone: bool = False) -> list[Row]:
        sql = "SELECT * FROM confluence_page_writes WHERE run_id = ?" + (
            "" if include_undone else " AND undone_run IS NULL"
        )
        return [dict(row) for row in self.conn.execute(sql + " ORDER BY id", (run_id,))]

    def mark_page_write_undone(self, write_id: int, undo_run: int) -> None:
        with self.conn:
            self.conn.execute("UPDATE confluence_page_writes SET undone_run = ? WHERE id = ?", (undo_run, write_id))

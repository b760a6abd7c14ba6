"""The store's part for jira-confluence (migration 7): the page of each epic and the issues last
read. A part of Store (`store.epic_pages()`, ...).

A page's row is written `pending` before its create is sent and `linked` with the page id once
the answer came back: after a crash or a dropped answer the next run looks for the page's marker
under the parent before it creates anything."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

Row = dict[str, Any]
PAGE_COLUMNS = (
    "project",
    "parent_id",
    "epic_key",
    "state",
    "page_id",
    "title",
    "version",
    "body_hash",
    "content_hash",
    "run_id",
)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StoreEpicPages:
    conn: sqlite3.Connection

    def epic_pages(self, project: str, parent_id: str) -> dict[str, Row]:
        rows = self.conn.execute("SELECT * FROM epic_pages WHERE project = ? AND parent_id = ?", (project, parent_id))
        return {row["origin"]: dict(row) for row in rows}

    def epic_page(self, origin: str) -> Row | None:
        row = self.conn.execute("SELECT * FROM epic_pages WHERE origin = ?", (origin,)).fetchone()
        return dict(row) if row else None

    def save_epic_page(self, origin: str, values: Mapping[str, Any]) -> None:
        """Insert or update a page's row with these columns (committed at once)."""
        columns = [c for c in PAGE_COLUMNS if c in values]
        updates = ", ".join(f"{c} = excluded.{c}" for c in [*columns, "updated_at"])
        with self.conn:
            self.conn.execute(
                f"INSERT INTO epic_pages (origin, {', '.join(columns)}, updated_at) "
                f"VALUES (?, {', '.join('?' * len(columns))}, ?) ON CONFLICT (origin) DO UPDATE SET {updates}",
                [origin, *(values[c] for c in columns), _now()],
            )

    def epic_issues(self, project: str) -> dict[str, Row]:
        rows = self.conn.execute("SELECT * FROM epic_issues WHERE project = ?", (project,))
        return {row["issue_id"]: {**dict(row), "data": json.loads(row["data"])} for row in rows}

    def save_epic_issues(
        self, project: str, rows: Iterable[Mapping[str, Any]], drop: Iterable[str] = (), replace: bool = False
    ) -> None:
        """Store the issues read (issue_id, issue_key, epic_id, data) in one transaction; with
        `replace` (a full read) every other issue of the project is dropped."""
        now = _now()
        with self.conn:
            if replace:
                self.conn.execute("DELETE FROM epic_issues WHERE project = ?", (project,))
            for issue_id in drop:
                self.conn.execute("DELETE FROM epic_issues WHERE issue_id = ?", (issue_id,))
            self.conn.executemany(
                "INSERT INTO epic_issues (issue_id, project, issue_key, epic_id, data, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (issue_id) DO UPDATE SET project = excluded.project, "
                "issue_key = excluded.issue_key, epic_id = excluded.epic_id, data = excluded.data, "
                "updated_at = excluded.updated_at",
                [
                    (
                        r["issue_id"],
                        project,
                        r["issue_key"],
                        r.get("epic_id"),
                        json.dumps(r["data"], sort_keys=True),
                        now,
                    )
                    for r in rows
                ],
            )

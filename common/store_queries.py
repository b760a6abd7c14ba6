"""The store's read-only queries for reports, exports and GDPR access requests (a part of Store:
`store.last_run(job)`, `store.audit_events(...)`). Rows come back as dicts, JSON columns decoded
where noted."""

import json
import sqlite3
from typing import Any

from .store_schema import TABLES

Row = dict[str, Any]
EXPORTED = {  # table -> its columns in an export, in this order
    "links": (
        "job",
        "source_key",
        "target_type",
        "target_id",
        "state",
        "source_hash",
        "error",
        "run_id",
        "created_at",
        "updated_at",
    ),
    "runs": ("*",),
    "audit": ("*",),
}
EXPORT_ORDER = {"links": "job, source_key", "runs": "id", "audit": "id"}


def known_table(table: str) -> str:
    if table not in TABLES:
        raise ValueError(f"the store has no table {table!r}")
    return table


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


def like_pattern(text: str) -> str:
    """`text` escaped for LIKE ... ESCAPE '\\'."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class StoreQueries:
    conn: sqlite3.Connection

    # runs
    def jobs_with_runs(self) -> list[str]:
        """The jobs that have at least one run, by name."""
        return [row[0] for row in self.conn.execute("SELECT DISTINCT job FROM runs ORDER BY job")]

    def last_run(self, job: str) -> Row | None:
        row = self.conn.execute("SELECT * FROM runs WHERE job = ? ORDER BY id DESC LIMIT 1", (job,)).fetchone()
        return dict(row) if row else None

    def run(self, run_id: int) -> Row | None:
        row = self.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return dict(row) if row else None

    def run_failures(self, run_id: int) -> list[Row]:
        """The item errors recorded in one run, in order, each with its link's target type (job,
        source_key, target_type, message, run_id, at)."""
        return [
            dict(row)
            for row in self.conn.execute(
                "SELECT e.job, e.source_key, l.target_type, e.message, e.run_id, e.at FROM item_errors e "
                "LEFT JOIN links l ON l.job = e.job AND l.source_key = e.source_key "
                "WHERE e.run_id = ? ORDER BY e.id",
                (run_id,),
            )
        ]

    # links
    def link_states(self, job: str) -> dict[str, int]:
        """The number of one job's links in each state."""
        return dict(
            self.conn.execute("SELECT state, COUNT(*) FROM links WHERE job = ? GROUP BY state", (job,)).fetchall()
        )

    def search_links(
        self, job: str | None = None, state: str | None = None, text: str | None = None, limit: int | None = None
    ) -> list[Row]:
        """Links by job and source key, `data` decoded; `text` is found in the source key, the data
        or the error, or is the target id."""
        sql, args = "SELECT * FROM links WHERE 1 = 1", []
        if job:
            sql += " AND job = ?"
            args.append(job)
        if state:
            sql += " AND state = ?"
            args.append(state)
        if text:
            pattern = f"%{like_pattern(text)}%"
            sql += (
                " AND (source_key LIKE ? ESCAPE '\\' OR CAST(target_id AS TEXT) = ? "
                "OR data LIKE ? ESCAPE '\\' OR error LIKE ? ESCAPE '\\')"
            )
            args += [pattern, text, pattern, pattern]
        sql += " ORDER BY job, source_key"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [{**dict(row), "data": _loads(row["data"])} for row in self.conn.execute(sql, args)]

    def failed_links(self) -> list[Row]:
        """The items failed now (state failed), by job and source key."""
        return [
            dict(row)
            for row in self.conn.execute(
                "SELECT job, source_key, target_type, error, run_id, updated_at FROM links "
                "WHERE state = 'failed' ORDER BY job, source_key"
            )
        ]

    # audit
    def audit_events(self, job: str | None = None, item: str | None = None, limit: int | None = None) -> list[Row]:
        """Audit events oldest first (the last `limit` of them), `before` and `after` decoded. `item`
        is the full origin marker or the part after the service prefix ("acme/web#4")."""
        sql, args = "SELECT * FROM audit WHERE 1 = 1", []
        if job:
            sql += " AND job = ?"
            args.append(job)
        if item:
            sql += " AND (source_key = ? OR source_key LIKE ? ESCAPE '\\')"
            args += [item, "%:" + like_pattern(item)]
        sql += " ORDER BY id"
        if limit:
            sql = f"SELECT * FROM ({sql.replace('ORDER BY id', 'ORDER BY id DESC')} LIMIT {int(limit)}) ORDER BY id"
        return [
            {**dict(row), "before": _loads(row["before"]), "after": _loads(row["after"])}
            for row in self.conn.execute(sql, args)
        ]

    # whole tables: exports and GDPR access requests
    def export_rows(self, table: str) -> list[Row]:
        """A table as exported (links, runs or audit): its exported columns, in a stable order."""
        if table not in EXPORTED:
            raise ValueError(f"the store does not export {table!r}")
        return [
            dict(row)
            for row in self.conn.execute(
                f"SELECT {', '.join(EXPORTED[table])} FROM {table} ORDER BY {EXPORT_ORDER[table]}"
            )
        ]

    def table_columns(self, table: str) -> list[str]:
        return [column[1] for column in self.conn.execute(f"PRAGMA table_info({known_table(table)})")]

    def table_rows(self, table: str) -> list[Row]:
        """Every row of a table in rowid order, with its rowid as `_rowid` (for purge_person)."""
        return [
            dict(row)
            for row in self.conn.execute(f"SELECT rowid AS _rowid, * FROM {known_table(table)} ORDER BY rowid")
        ]

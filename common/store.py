"""The SQLite store: links between source items and target objects, runs, cursors, audit events.

Each item commits on its own (WAL mode), so a crash loses at most the item in flight. Under
--dry-run the store is opened read-only: the file is never changed.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any

from .errors import CONFIG, SyncError
from .store_queries import Row, StoreQueries, known_table
from .store_schema import MIGRATIONS, RUN_COUNTS, SCHEMA_VERSION  # noqa: F401 (imported from here)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


TargetId = int | str | None  # the id of the object a link points to in the target service


class StoreError(SyncError):
    exit_code = CONFIG


class Store(StoreQueries):
    """Every SQL statement of tracksync lives here, in store_queries.py (reads for reports,
    exports and GDPR), store_schema.py (the migrations) or store_files.py (snapshots and WAL of
    a store file)."""

    def __init__(self, path: str | PathLike[str], readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._clocks: dict[int, float] = {}  # run id -> monotonic start, for the run's duration
        if readonly:
            self.conn = sqlite3.connect(":memory:")
            if self.path.exists():
                source = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
                if source.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                    source.backup(self.conn)  # an older store: migrate a copy in memory, never the file
                    source.close()
                else:
                    self.conn.close()
                    self.conn = source
            self._migrate()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, timeout=30)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        self.conn.row_factory = sqlite3.Row
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"store {self.path} has schema {version}, newer than this tracksync ({SCHEMA_VERSION}); "
                "upgrade tracksync"
            )

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.conn:
                self.conn.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # runs
    def start_run(self, job: str, params: Mapping[str, Any]) -> int:
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO runs (job, started_at, status, params) VALUES (?, ?, 'running', ?)",
                (job, now_iso(), json.dumps(params, sort_keys=True)),
            )
        run_id = _inserted(cur)
        self._clocks[run_id] = time.monotonic()
        return run_id

    def finish_run(
        self, run_id: int, status: str, exit_code: int, counts: Mapping[str, int], message: str | None = None
    ) -> None:
        """Close a run: status ok, partial, failed or interrupted, its counts, and its duration in
        milliseconds (from the monotonic clock of start_run; from the wall clock when the run was
        started by another Store object)."""
        values = [counts.get(name, 0) for name in RUN_COUNTS]
        sets = ", ".join(f"{name} = ?" for name in RUN_COUNTS)
        finished = datetime.now(UTC)
        started = self._clocks.pop(run_id, None)
        if started is not None:
            duration_ms: int | None = round((time.monotonic() - started) * 1000)
        else:
            row = self.conn.execute("SELECT started_at FROM runs WHERE id = ?", (run_id,)).fetchone()
            duration_ms = round((finished - datetime.fromisoformat(row[0])).total_seconds() * 1000) if row else None
        with self.conn:
            self.conn.execute(
                f"UPDATE runs SET finished_at = ?, status = ?, exit_code = ?, message = ?, duration_ms = ?, {sets} "
                "WHERE id = ?",
                (finished.isoformat(timespec="seconds"), status, exit_code, message, duration_ms, *values, run_id),
            )

    def runs(self, job: str | None = None, limit: int | None = None, since: str | None = None) -> list[dict[str, Any]]:
        """Runs newest first: of one job, started at or after `since` (UTC ISO text), the last `limit`."""
        sql, args = "SELECT * FROM runs WHERE 1 = 1", []
        if job:
            sql += " AND job = ?"
            args.append(job)
        if since:
            sql += " AND started_at >= ?"
            args.append(since)
        sql += " ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [dict(row) for row in self.conn.execute(sql, args)]

    # links
    def links(self, job: str, target_type: str | None = None) -> dict[str, Row]:
        sql = "SELECT * FROM links WHERE job = ?" + (" AND target_type = ?" if target_type else "")
        rows = self.conn.execute(sql, (job, target_type) if target_type else (job,))
        return {row["source_key"]: _link(row) for row in rows}

    def _upsert_link(
        self, job: str, key: str, target_type: str | None, state: str, run_id: int | None, **fields: Any
    ) -> None:
        now = now_iso()
        columns = ["job", "source_key", "target_type", "state", "run_id", "created_at", "updated_at", *fields]
        values = [job, key, target_type, state, run_id, now, now, *fields.values()]
        updates = ", ".join(f"{c} = excluded.{c}" for c in ["target_type", "state", "run_id", "updated_at", *fields])
        self.conn.execute(
            f"INSERT INTO links ({', '.join(columns)}) VALUES ({', '.join('?' * len(values))}) "
            f"ON CONFLICT (job, source_key) DO UPDATE SET {updates}",
            values,
        )

    def mark_pending(self, job: str, keys: Iterable[str], target_type: str | None, run_id: int | None) -> None:
        """Record the intent to write, before the remote requests (one transaction for all keys)."""
        with self.conn:
            for key in keys:
                self._upsert_link(job, key, target_type, "pending", run_id)

    def mark_synced(
        self,
        job: str,
        key: str,
        target_type: str | None,
        target_id: TargetId,
        source_hash: str | None,
        data: Any,
        run_id: int | None,
        audit: tuple[str, Any, Any] | None = None,
        state: str = "synced",
    ) -> None:
        """Record a write's result, and its audit event (action, before, after) in the same commit.
        `state` may also be kept (a person's edit in the target stands), deleted or orphaned."""
        with self.conn:
            self._upsert_link(
                job,
                key,
                target_type,
                state,
                run_id,
                target_id=target_id,
                source_hash=source_hash,
                data=json.dumps(data, sort_keys=True),
                error=None,
            )
            if audit:
                self._audit(run_id, job, key, audit[0], target_type, target_id, audit[1], audit[2])

    def mark_failed(self, job: str, key: str, target_type: str | None, run_id: int | None, error: str) -> None:
        with self.conn:
            self._upsert_link(job, key, target_type, "failed", run_id, error=error)
            self.conn.execute(
                "INSERT INTO item_errors (run_id, job, source_key, message, at) VALUES (?, ?, ?, ?, ?)",
                (run_id, job, key, error, now_iso()),
            )

    # cursors
    def cursor(self, job: str, scope: str) -> str | None:
        row = self.conn.execute("SELECT value FROM cursors WHERE job = ? AND scope = ?", (job, scope)).fetchone()
        return str(row[0]) if row and row[0] is not None else None

    def set_cursor(self, job: str, scope: str, value: str) -> None:
        self.set_cursors(job, {scope: value})

    def set_cursors(self, job: str, values: Mapping[str, str]) -> None:
        """Several cursors (scope -> value) in one transaction."""
        now = now_iso()
        with self.conn:
            self.conn.executemany(
                "INSERT INTO cursors (job, scope, value, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (job, scope) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                [(job, scope, value, now) for scope, value in values.items()],
            )

    # audit
    def record_audit(
        self,
        run_id: int | None,
        job: str,
        key: str,
        action: str,
        target_type: str | None,
        target_id: TargetId,
        before: Any,
        after: Any,
    ) -> None:
        with self.conn:
            self._audit(run_id, job, key, action, target_type, target_id, before, after)

    def _audit(
        self,
        run_id: int | None,
        job: str,
        key: str,
        action: str,
        target_type: str | None,
        target_id: TargetId,
        before: Any,
        after: Any,
    ) -> None:
        self.conn.execute(
            "INSERT INTO audit (run_id, job, source_key, action, target_type, target_id, before, after, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                job,
                key,
                action,
                target_type,
                target_id,
                json.dumps(before, sort_keys=True) if before is not None else None,
                json.dumps(after, sort_keys=True) if after is not None else None,
                now_iso(),
            ),
        )

    # erasure (GDPR)
    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One write transaction taken before anything is read (BEGIN IMMEDIATE), so no writer
        slips in between what is read and what is then written: committed at the end, rolled
        back when the block raises."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.commit()

    def purge_person(self, job: str, person_key: str, rowids: Mapping[str, Sequence[int]]) -> dict[str, int]:
        """Delete one person's rows (table -> rowids from table_rows) and record the purge as one
        audit event of `job` (action purge, the counts only, the person named by `person_key`), in
        one transaction: the one open (exclusive, which commits it) or its own. Returns the counts per table."""
        counts: dict[str, int] = {}
        with nullcontext() if self.conn.in_transaction else self.conn:
            for table, ids in rowids.items():
                table = known_table(table)
                for start in range(0, len(ids), 500):
                    chunk = list(ids[start : start + 500])
                    self.conn.execute(f"DELETE FROM {table} WHERE rowid IN ({', '.join('?' * len(chunk))})", chunk)
                counts[table] = len(ids)
            self._audit(None, job, person_key, "purge", "person", None, None, counts)
        return counts

    # conflicts
    def add_conflict(
        self,
        job: str,
        key: str,
        target_type: str | None,
        target_id: TargetId,
        source_data: Any,
        target_data: Any,
        last_data: Any,
        source_hash: str | None,
        run_id: int | None,
    ) -> None:
        """Record an open conflict (replacing an open one for the same item)."""
        with self.conn:
            self.conn.execute(
                "DELETE FROM conflicts WHERE job = ? AND source_key = ? AND resolved_at IS NULL", (job, key)
            )
            self.conn.execute(
                "INSERT INTO conflicts (job, source_key, target_type, target_id, source_data, target_data, last_data, "
                "source_hash, run_id, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job,
                    key,
                    target_type,
                    target_id,
                    _dump(source_data),
                    _dump(target_data),
                    _dump(last_data),
                    source_hash,
                    run_id,
                    now_iso(),
                ),
            )

    def conflicts(self, job: str | None = None, open_only: bool = True, conflict_id: int | None = None) -> list[Row]:
        sql = "SELECT * FROM conflicts WHERE 1 = 1"
        args: list[str | int] = []
        for clause, value in (("job = ?", job), ("id = ?", conflict_id)):
            if value is not None:
                sql += f" AND {clause}"
                args.append(value)
        if open_only:
            sql += " AND resolved_at IS NULL"
        rows = []
        for found in self.conn.execute(sql + " ORDER BY id", args):
            row = dict(found)
            for column in ("source_data", "target_data", "last_data"):
                row[column] = json.loads(row[column]) if row[column] else None
            rows.append(row)
        return rows

    def resolve_conflict(self, conflict_id: int, resolution: str) -> None:
        with self.conn:
            self.conn.execute(
                "UPDATE conflicts SET resolved_at = ?, resolution = ? WHERE id = ?",
                (now_iso(), resolution, conflict_id),
            )

    # imports
    def start_import(
        self, run_id: int | None, job: str, source: str, parameters: Mapping[str, Any], file_sha256: str | None = None
    ) -> int:
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO imports (run_id, job, source, parameters, file_sha256, started_at, status) "
                "VALUES (?, ?, ?, ?, ?, ?, 'running')",
                (run_id, job, source, json.dumps(parameters, sort_keys=True), file_sha256, now_iso()),
            )
        return _inserted(cur)

    def finish_import(
        self,
        import_id: int,
        status: str,
        counts: Mapping[str, int],
        errors: Iterable[tuple[int | None, str | None, str]] = (),
    ) -> None:
        """counts: read, created, updated, skipped, failed; errors: (line, item, message)."""
        with self.conn:
            self.conn.execute(
                "UPDATE imports SET finished_at = ?, status = ?, read = ?, created = ?, updated = ?, skipped = ?, "
                "failed = ? WHERE id = ?",
                (
                    now_iso(),
                    status,
                    *(counts.get(k, 0) for k in ("read", "created", "updated", "skipped", "failed")),
                    import_id,
                ),
            )
            self.conn.executemany(
                "INSERT INTO import_errors (import_id, line, item, message) VALUES (?, ?, ?, ?)",
                [(import_id, line, item, message) for line, item, message in errors],
            )

    def imports(self, job: str | None = None, limit: int | None = None) -> list[Row]:
        sql = "SELECT * FROM imports" + (" WHERE job = ?" if job else "") + " ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        rows = [dict(r) for r in self.conn.execute(sql, (job,) if job else ())]
        for row in rows:
            row["parameters"] = json.loads(row["parameters"]) if row["parameters"] else {}
            row["errors"] = [
                dict(e)
                for e in self.conn.execute(
                    "SELECT line, item, message FROM import_errors WHERE import_id = ? ORDER BY id", (row["id"],)
                )
            ]
        return rows

    # webhook deliveries
    def first_delivery(self, delivery_id: str, job: str, item: str) -> bool:
        """True the first time a delivery id is seen (and remember it), False for a repeat."""
        try:
            with self.conn:
                self.conn.execute(
                    "INSERT INTO webhook_deliveries (delivery_id, job, item, received_at) VALUES (?, ?, ?, ?)",
                    (delivery_id, job, item, now_iso()),
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def stats(self) -> dict[str, Any]:
        """Counts per job and state, plus run totals, for --stats and reports."""
        links = [
            dict(r)
            for r in self.conn.execute(
                "SELECT job, target_type, state, COUNT(*) AS count FROM links "
                "GROUP BY job, target_type, state ORDER BY 1, 2, 3"
            )
        ]
        runs = [
            dict(r)
            for r in self.conn.execute(
                "SELECT job, COUNT(*) AS runs, MAX(started_at) AS last_run, SUM(created) AS created, "
                "SUM(updated) AS updated, SUM(hidden) AS hidden, SUM(failed) AS failed "
                "FROM runs GROUP BY job ORDER BY job"
            )
        ]
        return {"links": links, "runs": runs, "schema_version": self.schema_version}


def _inserted(cursor: sqlite3.Cursor) -> int:
    """The rowid of the row an INSERT just added."""
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _dump(data: Any) -> str | None:
    return json.dumps(data, sort_keys=True) if data is not None else None


def _link(row: sqlite3.Row) -> Row:
    link = dict(row)
    link["data"] = json.loads(link["data"]) if link["data"] else None
    return link

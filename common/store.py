"""The SQLite store: links between source items and target objects, runs, cursors, audit events.

Each item commits on its own (WAL mode), so a crash loses at most the item in flight. Under
--dry-run the store is opened read-only: the file is never changed.

Every SQLite or file failure on the store becomes one StoreError naming DATABASE_PATH with its
exit code (errors.py): a folder or a path that cannot be opened 78, damaged or not SQLite 65,
locked beyond the wait 75, disk full or failing 74. A file that is not a store, or a damaged
one, is refused before anything is written to it. Opening and migrating are safe when several
processes open a new store at once.
"""

from __future__ import annotations

import errno
import json
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from .errors import StoreDamaged, StoreError, StoreFull, StoreLocked
from .logs import redact
from .store_atlassian import StoreAtlassian
from .store_epic_pages import StoreEpicPages
from .store_graph import StoreGraph
from .store_queries import Row, StoreQueries, known_table
from .store_schema import MIGRATIONS, RUN_COUNTS, SCHEMA_VERSION  # noqa: F401 (imported from here)

__all__ = ["BUSY_TIMEOUT", "SCHEMA_VERSION", "Store", "StoreError", "now_iso", "store_problem"]

BUSY_TIMEOUT = 30.0  # seconds a write waits for another process's write lock before giving up (75)
SQLITE_MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file
RESTORE_HINT = (
    "python diagnose.py --database; restore a backup: python backup.py list --detail, then backup.py restore FILE"
)


UNFINISHED = "never finished: the process was killed, crashed or could not record its end"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


TargetId = int | str | None  # the id of the object a link points to in the target service


def store_problem(exc: BaseException, path: str | PathLike[str], writable: bool = True) -> StoreError | None:
    """The StoreError (naming DATABASE_PATH and its exit code) for a failure of the store at
    `path`, or None when `exc` is not a problem of the store itself (a constraint, a bug)."""
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
            return StoreFull(path, f"cannot be written ({reason})", "free space on the disk that holds it")
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR, errno.EEXIST):
            return StoreError(path, f"cannot be opened ({reason})", "check the path and its folder's owner and mode")
        return None
    if not isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError) or isinstance(
        exc, sqlite3.IntegrityError | sqlite3.ProgrammingError | sqlite3.InterfaceError
    ):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(exc)
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "database is locked" in text:
        return StoreLocked(
            path, f"another process held the store's write lock for over {BUSY_TIMEOUT:g} s ({text})", "retry later"
        )
    if primary == sqlite3.SQLITE_FULL or "disk is full" in text:
        return StoreFull(path, f"the disk is full ({text})", "free space on the disk that holds it, then run again")
    if primary == sqlite3.SQLITE_IOERR or "disk I/O error" in text:
        if 0 <= _free_bytes(Path(path)) < 1 << 20:  # SQLite names a full disk so only on some writes
            return StoreFull(path, f"the disk is full ({text})", "free space on the disk that holds it, then run again")
        return StoreFull(path, f"the disk failed ({text})", "check the disk that holds it, then run again")
    if primary == sqlite3.SQLITE_CORRUPT or "malformed" in text:
        return StoreDamaged(path, f"the store is damaged ({text})", RESTORE_HINT)
    if primary == sqlite3.SQLITE_NOTADB or "not a database" in text:
        if _head(Path(path)).startswith(SQLITE_MAGIC):
            return StoreDamaged(path, f"the store is damaged ({text})", RESTORE_HINT)
        return _not_a_store(path)
    if primary in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH) or (
        writable and primary == sqlite3.SQLITE_READONLY
    ):
        return StoreError(path, f"cannot be opened ({text})", "check the path and its folder's owner and mode")
    return None


def _not_a_store(path: str | PathLike[str]) -> StoreError:
    """Content that is not SQLite's (65, as a damaged store): the file is left as it is."""
    return StoreDamaged(
        path,
        "is not a SQLite store (the file was left unchanged)",
        "point DATABASE_PATH at the store or at a new file name; python diagnose.py --database",
    )


def _free_bytes(path: Path) -> int:
    """Free bytes on the disk holding `path` (or its nearest existing folder); -1 if unknown."""
    for folder in (path, *path.parents):
        try:
            return shutil.disk_usage(folder).free
        except OSError:
            continue
    return -1


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            return file.read(100)
    except OSError:
        return b""


class _Cursor(sqlite3.Cursor):
    """A cursor whose failures are the store's StoreErrors (lazy reads included)."""

    def _problem(self, exc: BaseException) -> BaseException:
        conn = self.connection
        if isinstance(conn, _Connection):
            return store_problem(exc, conn.store_path, conn.writable) or exc
        return exc

    def execute(self, *args: Any, **kwargs: Any) -> Self:
        try:
            return super().execute(*args, **kwargs)
        except (sqlite3.Error, OSError) as exc:
            raise self._problem(exc) from exc

    def executemany(self, *args: Any, **kwargs: Any) -> Self:
        try:
            return super().executemany(*args, **kwargs)
        except (sqlite3.Error, OSError) as exc:
            raise self._problem(exc) from exc

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except (sqlite3.Error, OSError) as exc:
            raise self._problem(exc) from exc

    def fetchmany(self, *args: Any, **kwargs: Any) -> list[Any]:
        try:
            return super().fetchmany(*args, **kwargs)
        except (sqlite3.Error, OSError) as exc:
            raise self._problem(exc) from exc

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except (sqlite3.Error, OSError) as exc:
            raise self._problem(exc) from exc

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except (sqlite3.Error, OSError) as exc:
            raise self._problem(exc) from exc


class _Connection(sqlite3.Connection):
    """A connection to the store at `store_path` whose every failure is a StoreError."""

    store_path: Path = Path()
    writable: bool = True

    def _problem(self, exc: BaseException) -> BaseException:
        return store_problem(exc, self.store_path, self.writable) or exc

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or _Cursor)

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        return self.cursor().execute(*args, **kwargs)

    def executemany(self, *args: Any, **kwargs: Any) -> Any:
        return self.cursor().executemany(*args, **kwargs)

    def commit(self) -> None:
        try:
            super().commit()
        except (sqlite3.Error, OSError) as exc:
            raise self._problem(exc) from exc

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None, /
    ) -> Literal[False]:
        try:
            return super().__exit__(kind, value, traceback)
        except (sqlite3.Error, OSError) as exc:
            raise self._problem(exc) from exc


def _connect(target: str | Path, store_path: Path, writable: bool, **kwargs: Any) -> _Connection:
    conn = sqlite3.connect(target, factory=_Connection, **kwargs)
    assert isinstance(conn, _Connection)
    conn.store_path, conn.writable = store_path, writable
    return conn


class Store(StoreQueries, StoreGraph, StoreAtlassian, StoreEpicPages):
    """Every SQL statement of tracksync lives here, in store_queries.py (reads for reports,
    exports and GDPR), store_schema.py (the migrations) or store_files.py (snapshots and WAL of
    a store file)."""

    def __init__(self, path: str | PathLike[str], readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._clocks: dict[int, float] = {}  # run id -> monotonic start, for the run's duration
        self.conn: sqlite3.Connection = _connect(":memory:", self.path, False)
        try:
            self._open()
        except (sqlite3.Error, OSError) as exc:
            self.conn.close()
            problem = store_problem(exc, self.path, not readonly)
            if problem is None:
                raise
            raise problem from exc
        except BaseException:
            self.conn.close()
            raise
        self.conn.row_factory = sqlite3.Row

    def _open(self) -> None:
        """Refuse what is not a usable store before SQLite touches it, then open (and migrate)."""
        if self.path.is_dir():
            raise StoreError(self.path, "is a folder, not a SQLite store", "point DATABASE_PATH at a file in it")
        head = _head(self.path) if self.path.exists() else b""
        if head and not head.startswith(SQLITE_MAGIC):
            raise _not_a_store(self.path)
        if head and len(head) < 100:
            raise StoreDamaged(self.path, "the store is damaged (its header is cut short)", RESTORE_HINT)
        if self.readonly:
            if self.path.exists():
                source = _connect(f"file:{self.path}?mode=ro", self.path, False, uri=True, timeout=BUSY_TIMEOUT)
                try:
                    if head:
                        _check(source, self.path)
                    if source.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                        source.backup(self.conn)  # an older store: migrate a copy in memory, never the file
                        source.close()
                    else:
                        self.conn.close()
                        self.conn = source
                except BaseException:
                    source.close()
                    raise
            self._migrate()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn.close()
            self.conn = _connect(self.path, self.path, True, timeout=BUSY_TIMEOUT)
            if head:
                _check(self.conn, self.path)
            self._use_wal()
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise StoreError(
                self.path,
                f"the store has schema {version}, newer than this tracksync ({SCHEMA_VERSION})",
                "upgrade tracksync",
            )

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _use_wal(self) -> None:
        """Switch a new store to WAL. SQLite answers `database is locked` at once, without the
        busy wait, while another process opens the same new store: retry until BUSY_TIMEOUT."""
        deadline = time.monotonic() + BUSY_TIMEOUT
        while True:
            try:
                self.conn.execute("PRAGMA journal_mode=WAL").fetchone()
                return
            except StoreLocked:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)

    def _migrate(self) -> None:
        """Bring the schema up to date in one write transaction taken before the version is read
        (BEGIN IMMEDIATE), so two processes opening a new store at once migrate it once: the
        second waits, then finds it done."""
        if self.schema_version >= SCHEMA_VERSION:
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            version = self.schema_version
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in _statements(script):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # runs
    def start_run(self, job: str, params: Mapping[str, Any]) -> int:
        """Record a new run of `job`. The caller holds the job's lock (runlock.JobLock), so a run
        of `job` still marked running is dead (killed, crashed, or its end could not be written
        to a full disk): it is closed here as interrupted, with its import if it had one, in the
        same transaction."""
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO runs (job, started_at, status, params) VALUES (?, ?, 'running', ?)",
                (job, now_iso(), _dump(params)),
            )
            run_id = _inserted(cur)
            self.conn.execute(
                "UPDATE runs SET status = 'interrupted', message = COALESCE(message, ?) "
                "WHERE job = ? AND status = 'running' AND id < ?",
                (f"{UNFINISHED} (found by run {run_id})", job, run_id),
            )
            self.conn.execute(  # the import history of such a run, likewise
                "UPDATE imports SET status = 'interrupted' WHERE job = ? AND status = 'running'", (job,)
            )
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
                (
                    finished.isoformat(timespec="seconds"),
                    status,
                    exit_code,
                    _text(message),
                    duration_ms,
                    *values,
                    run_id,
                ),
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

    def links_of(self, job: str, keys: Iterable[str]) -> dict[str, Row]:
        """The job's links of these source keys only (a batch of an import: never every link)."""
        found: dict[str, Row] = {}
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), 500):  # SQLite's variable limit is at least 999
            chunk = wanted[start : start + 500]
            sql = f"SELECT * FROM links WHERE job = ? AND source_key IN ({', '.join('?' * len(chunk))})"
            found.update((row["source_key"], _link(row)) for row in self.conn.execute(sql, (job, *chunk)))
        return found

    def each_link(self, job: str, target_type: str) -> Iterator[Row]:
        """The job's links of one target type one at a time, read in slices by key so that none
        is held longer than its turn (the caller may write between slices)."""
        last = ""
        while True:
            rows = self.conn.execute(
                "SELECT * FROM links WHERE job = ? AND target_type = ? AND source_key > ? "
                "ORDER BY source_key LIMIT 1000",
                (job, target_type, last),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield _link(row)
            last = rows[-1]["source_key"]

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
            self._upsert_link(job, key, target_type, "failed", run_id, error=_text(error))
            self.conn.execute(
                "INSERT INTO item_errors (run_id, job, source_key, message, at) VALUES (?, ?, ?, ?, ?)",
                (run_id, job, key, _text(error), now_iso()),
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
                _dump(before),
                _dump(after),
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
                (run_id, job, source, _dump(parameters), file_sha256, now_iso()),
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
                [(import_id, line, _text(item), _text(message)) for line, item, message in errors],
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


def _check(conn: sqlite3.Connection, path: Path) -> None:
    """Damaged content is found before anything is read from it or written to it: SQLite's
    quick check (0.1 s for 80 MB), not only the pages a command happens to read."""
    found = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    if found != "ok":
        raise StoreDamaged(path, f"the store is damaged ({found})", RESTORE_HINT)


def _statements(script: str) -> list[str]:
    """The SQL statements of a migration script, one by one (comments and quotes respected)."""
    statements, current = [], ""
    for part in script.split(";"):
        current += part + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n\t;"):
                statements.append(current.strip())
            current = ""
    if current.strip(" \n\t;"):
        raise ValueError(f"incomplete SQL statement in a migration: {current.strip()[:80]}")
    return statements


def _inserted(cursor: sqlite3.Cursor) -> int:
    """The rowid of the row an INSERT just added."""
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _text(text: str | None) -> str | None:
    """A text kept in the store that may come from a server or an exception, redacted as the log
    is (logs.redact: every form of every configured secret): one place for every caller."""
    return redact(text) if text else text


def _dump(data: Any) -> str | None:
    """`data` as JSON text for the store, redacted like _text (conflict and audit values, run and
    import parameters)."""
    return _text(json.dumps(data, sort_keys=True)) if data is not None else None


def _link(row: sqlite3.Row) -> Row:
    link = dict(row)
    link["data"] = json.loads(link["data"]) if link["data"] else None
    return link

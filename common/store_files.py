"""A store file as a whole, without opening it as a Store (no migration): a consistent copy, its
description (schema, integrity, row counts), and its write-ahead log. Used by backups, restores
and the database checks."""

import sqlite3
from collections.abc import Sequence
from os import PathLike
from typing import Any, Union

from .store_queries import known_table

StrPath = Union[str, "PathLike[str]"]


def copy_store_file(db_path: StrPath, dest: StrPath) -> None:
    """Copy a store with SQLite's online backup API, in one step (one read transaction, so writers
    keep writing and the copy is the state of one moment), into a single self-contained file
    (rollback journal, no -wal)."""
    source = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(dest)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")
        target.commit()
    finally:
        source.close()
        target.close()


class StoreFile:
    """A store file opened read-only, for its health: what `python diagnose.py --database` checks.
    Opening raises sqlite3.Error when the file cannot be opened; each question raises
    sqlite3.DatabaseError when it is not a readable SQLite database."""

    def __init__(self, path: StrPath, timeout: float = 5.0) -> None:
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "StoreFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def integrity_problems(self, limit: int | None = None) -> list[str]:
        """integrity_check's lines (["ok"] for a sound file), at most `limit` of them."""
        pragma = "PRAGMA integrity_check" + (f"({int(limit)})" if limit else "")
        return [row[0] for row in self.conn.execute(pragma)]

    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def journal_mode(self) -> str:
        return self.conn.execute("PRAGMA journal_mode").fetchone()[0]

    def tables(self) -> set[str]:
        return {row[0] for row in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def count(self, table: str) -> int:
        return self.conn.execute(f"SELECT COUNT(*) FROM {known_table(table)}").fetchone()[0]

    def last_run_start(self) -> str | None:
        return self.conn.execute("SELECT MAX(started_at) FROM runs").fetchone()[0]

    def pending_links(self) -> dict[str, int]:
        """job -> the number of its links left pending."""
        return dict(
            self.conn.execute("SELECT job, COUNT(*) FROM links WHERE state = 'pending' GROUP BY job").fetchall()
        )

    def failed_links(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM links WHERE state = 'failed'").fetchone()[0]

    def unfinished_runs(self) -> list[tuple[int, str]]:
        """(run id, job) of the runs still marked running, oldest first."""
        return [
            tuple(row) for row in self.conn.execute("SELECT id, job FROM runs WHERE status = 'running' ORDER BY id")
        ]


# The columns that may hold a text from a server or an exception (the store redacts them as it
# writes; a copy made of an older store is redacted with redact_store_file).
TEXT_COLUMNS = {
    "runs": ("message", "params"),
    "links": ("error",),
    "item_errors": ("message",),
    "conflicts": ("source_data", "target_data", "last_data"),
    "audit": ("before", "after"),
    "imports": ("parameters",),
    "import_errors": ("item", "message"),
}


def redact_store_file(path: StrPath, secrets: Sequence[str]) -> int:
    """Replace every text in `secrets` by *** in the TEXT_COLUMNS of a store file (a copy: a
    backup's snapshot), the freed space overwritten (secure_delete). Returns the rows changed."""
    forms = sorted({s for s in secrets if s}, key=len, reverse=True)
    if not forms:
        return 0

    def clean(text: str | None) -> str | None:
        if isinstance(text, str):
            for form in forms:
                text = text.replace(form, "***")
        return text

    def holds(text: str | None) -> int:
        return int(isinstance(text, str) and any(form in text for form in forms))

    conn = sqlite3.connect(path)
    changed = 0
    try:
        conn.create_function("tracksync_clean", 1, clean, deterministic=True)
        conn.create_function("tracksync_holds", 1, holds, deterministic=True)
        conn.execute("PRAGMA secure_delete = ON")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        with conn:
            for table, columns in TEXT_COLUMNS.items():
                if table not in tables:
                    continue
                present = {row[1] for row in conn.execute(f"PRAGMA table_info({known_table(table)})")}
                for column in columns:
                    if column in present:
                        changed += conn.execute(
                            f"UPDATE {table} SET {column} = tracksync_clean({column}) WHERE tracksync_holds({column})"
                        ).rowcount
    finally:
        conn.close()
    return changed


def describe_store_file(path: StrPath, counted: tuple[str, ...]) -> dict[str, Any]:
    """Schema version, integrity_check's first line, the row counts of the `counted` tables the
    file has, and the start of its last run (when it has runs). Opened read-only."""
    with StoreFile(path, timeout=5.0) as store:
        integrity = store.integrity_problems()[0]
        info = {"schema_version": store.schema_version(), "integrity": integrity}
        tables = store.tables()
        info["counts"] = {t: store.count(t) for t in counted if t in tables}
        if "runs" in tables:
            info["last_run"] = store.last_run_start()
        return info


def set_wal_mode(path: StrPath) -> None:
    """Put a store file in WAL mode, as the store runs; closing folds the log back in."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


def checkpoint_wal(path: StrPath) -> None:
    """Fold a store file's write-ahead log into it and empty the log; nothing when the file
    cannot be read as a database."""
    try:
        conn = sqlite3.connect(path, timeout=10)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        pass

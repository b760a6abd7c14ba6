"""A store file as a whole, without opening it as a Store (no migration): a consistent copy, its
description (schema, integrity, row counts), and its write-ahead log. Used by backups, restores
and the database checks."""
import sqlite3
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


def describe_store_file(path: StrPath, counted: tuple[str, ...]) -> dict[str, Any]:
    """Schema version, integrity_check's first line, the row counts of the `counted` tables the
    file has, and the start of its last run (when it has runs). Opened read-only."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        info = {"schema_version": db.execute("PRAGMA user_version").fetchone()[0], "integrity": integrity}
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        info["counts"] = {t: db.execute(f"SELECT COUNT(*) FROM {known_table(t)}").fetchone()[0]
                          for t in counted if t in tables}
        if "runs" in tables:
            info["last_run"] = db.execute("SELECT MAX(started_at) FROM runs").fetchone()[0]
        return info
    finally:
        db.close()


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

"""Restoring a backup: verified first, refused while any job's lock is held, the current store
kept as a safety copy, the snapshot moved into place atomically with no stale write-ahead log."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataError
from ..runlock import JobLock
from ..store_files import StrPath, checkpoint_wal, set_wal_mode
from .backup import backup_dir, create_backup, describe_store, require_archive, scratch_dir, verify_archive

if TYPE_CHECKING:
    from ..config import Settings


def restore_backup(settings: Settings, archive_path: StrPath, jobs: Iterable[str]) -> dict[str, Any]:
    """Replace the store with the archive's snapshot. Verified first; refused while any job's
    lock is held; the current store is kept as a safety copy. Returns what happened."""
    require_archive(archive_path)
    db = Path(settings.database_path)
    db.parent.mkdir(parents=True, exist_ok=True)
    with scratch_dir(backup_dir(settings)) as tmp, ExitStack() as stack:
        manifest, snapshot, info = verify_archive(archive_path, tmp)
        with ExitStack() as locks:
            for job in sorted(jobs):
                locks.enter_context(JobLock(settings.database_path, job))
            replaced: dict[str, Any] | None = None
            safety: Path | None = None
            if db.exists():
                replaced = _describe_or_note(db)
                safety = _safety_copy(settings, db)
            # the one copy beside the store: a rename into place is atomic only on the same disk
            staged = Path(stack.enter_context(scratch_dir(db.parent))) / "staged.db"
            shutil.copyfile(snapshot, staged)
            set_wal_mode(staged)  # as the store runs; closing folds the log back in
            with open(staged, "rb+") as handle:
                os.fsync(handle.fileno())
            _retire_wal(db)
            os.replace(staged, db)
            _fsync_dir(db.parent)
    return {
        "archive": str(archive_path),
        "created": manifest.get("created"),
        "restored": info,
        "store": str(db),
        "replaced": replaced,
        "safety_copy": str(safety) if safety else None,
    }


def _describe_or_note(db: Path) -> dict[str, Any]:
    try:
        return describe_store(db)
    except sqlite3.DatabaseError as exc:
        return {"unreadable": str(exc)}


def _safety_copy(settings: Settings, db: Path) -> Path:
    """An archive of the current store; a raw copy of its files when it cannot be read."""
    try:
        path, _ = create_backup(settings, label="pre-restore")
        return path
    except (sqlite3.DatabaseError, DataError):
        folder = backup_dir(settings) / f"pre-restore-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        folder.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{db}{suffix}")
            if source.exists():
                shutil.copy2(source, folder / source.name)
        return folder


def _retire_wal(db: Path) -> None:
    """Fold the current store's write-ahead log in and remove it, so no stale log can ever be
    replayed onto the restored file."""
    checkpoint_wal(db)
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

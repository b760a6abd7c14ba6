"""One run per job at a time: an exclusive lock file next to the store.

The lock is an OS file lock (filelock), so it disappears with the process that held it, even
after SIGKILL. A sidecar `.pid` file says who holds it, for messages and diagnose.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from .errors import IOFailure, LockHeld, StoreError


def lock_path(database_path: str | PathLike[str], job: str) -> Path:
    """The job's lock file beside the store, keyed on the store's absolute path (symlinks
    resolved), so runs started from any folder on the same store share one lock."""
    return Path(f"{Path(database_path).expanduser().resolve()}.{job}.lock")


class JobLock:
    def __init__(self, database_path: str | PathLike[str], job: str) -> None:
        self.job = job
        self.path = lock_path(database_path, job)
        self.info_path = Path(f"{self.path}.pid")
        self._lock = FileLock(str(self.path), timeout=0)

    def __enter__(self) -> JobLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except Timeout:
            holder = read_holder(self.info_path)
            who = f" (pid {holder['pid']})" if holder else ""
            raise LockHeld(f"another {self.job} run is in progress{who}; try again later") from None
        except OSError as exc:  # the store's folder is a file, or not ours
            raise StoreError(
                self.path.parent,
                f"cannot hold the lock file there ({exc.strerror or exc})",
                "point DATABASE_PATH into a folder this user may write",
            ) from None
        try:
            self.info_path.write_text(json.dumps({"pid": os.getpid(), "job": self.job}))
        except OSError as exc:  # a full or failing disk: 74 naming the path, never a traceback
            self._lock.release()
            raise IOFailure(f"cannot write {self.info_path}: {exc.strerror or exc}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        self.info_path.unlink(missing_ok=True)
        self._lock.release()


def read_holder(info_path: str | PathLike[str]) -> dict[str, Any] | None:
    try:
        holder = json.loads(Path(info_path).read_text())
        return holder if isinstance(holder, dict) else None
    except (OSError, ValueError):
        return None


def lock_state(database_path: str | PathLike[str], job: str) -> dict[str, Any]:
    """{'held': bool, 'pid': int|None, 'stale': bool}: stale = a pid file left by a process that
    no longer exists (killed mid-run); the lock itself is free then."""
    path = lock_path(database_path, job)
    holder = read_holder(f"{path}.pid")
    probe = FileLock(str(path), timeout=0)
    try:
        probe.acquire()
    except Timeout:
        return {"held": True, "pid": holder and holder.get("pid"), "stale": False}
    probe.release()
    return {"held": False, "pid": holder and holder.get("pid"), "stale": holder is not None}


CONTAINERS_WAIT = 60.0  # seconds a run waits for another one creating Kimai containers


@contextmanager
def containers_lock(database_path: str | PathLike[str], timeout: float = CONTAINERS_WAIT) -> Iterator[Path]:
    """Store-wide, whatever the job: held while a run creates Kimai customers, projects or
    activities, so two jobs needing the same new one do not both create it (the holder creates,
    the other one then finds it in its fresh read). Waits at most `timeout` seconds: LockHeld."""
    path = lock_path(database_path, "containers")
    lock = FileLock(str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=timeout)
    except Timeout:
        raise LockHeld(
            f"{path} was held for over {timeout:g} s by another run creating Kimai customers, projects"
            " or activities; try again later"
        ) from None
    except OSError as exc:
        raise StoreError(
            path.parent,
            f"cannot hold the lock file there ({exc.strerror or exc})",
            "point DATABASE_PATH into a folder this user may write",
        ) from None
    try:
        yield path
    finally:
        lock.release()

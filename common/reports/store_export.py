"""Exports of the store: links, runs and audit events as CSV or JSON files.

CSV cells that a spreadsheet would run as a formula (= + - @, tab, carriage return first) are
prefixed with an apostrophe."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ConfigError, IOFailure, SyncError, UsageError
from ..logs import DEVICE_ERRORS, redact
from ..store import Store
from ..store_files import StrPath
from ..store_queries import Row

T = TypeVar("T")

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: T) -> T | str:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Rows (dicts) as CSV text with a header: safe cells, lists and dicts as JSON text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(_flat(row.get(column))) for column in columns])
    return buffer.getvalue()


def _flat(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


PARTIAL = ".partial"  # a file being written: .NAME.PID-RANDOM.partial


def remove_partials(folder: Path) -> None:
    """Remove the files a killed process left half-written in `folder` (write_atomic's, named
    with the pid of their process, which is gone)."""
    try:
        entries = [p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(PARTIAL)]
    except OSError:
        return
    for entry in entries:
        pid = entry.name[: -len(PARTIAL)].rsplit(".", 1)[-1].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            entry.unlink(missing_ok=True)


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists (another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def write_atomic(destination: StrPath, data: bytes, mode: int | None = None, key: str | None = None) -> Path:
    """Write bytes to `destination` through a temporary file in the same folder (created 600) and
    a rename, so a reader never sees half a file; `mode` (e.g. 0o600) is kept, else the umask's.
    A file that cannot be written is, with `key` (the setting or flag that named it), one error
    naming it (file_problem: 74 full disk, else 78 or 2); without, the OSError names `destination`."""
    path = Path(destination)
    try:
        _write_atomic(path, data, mode)
    except OSError as exc:
        if key is not None:
            raise file_problem(exc, key, path) from None
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    return path


def _write_atomic(path: Path, data: bytes, mode: int | None) -> None:
    if path.exists() and not path.is_file():  # a folder, a device (/dev/null), a pipe: never replaced
        raise OSError(errno.EISDIR if path.is_dir() else errno.EINVAL, "not a regular file", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_partials(path.parent)
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}-", suffix=PARTIAL)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(partial, mode)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def table_rows(store: Store, table: str) -> list[Row]:
    """The rows of one table, every text redacted (logs.redact): rows written before the store
    redacted its texts may still hold a secret an error message quoted."""
    return [{k: redact(v) if isinstance(v, str) else v for k, v in row.items()} for row in store.export_rows(table)]


def export_store(
    store: Store,
    out_dir: str | Path,
    fmt: str = "csv",
    tables: Sequence[str] = ("links", "runs", "audit"),
    key: str = "EXPORT_DIR",
) -> list[Path]:
    """Write one file per table, each whole or not at all (write_atomic); returns the paths
    written. A folder that cannot be made or written is one error naming it: 78 for a path that
    is not a folder or not this user's, 74 for a full or failing disk."""
    out = Path(out_dir)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    paths = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for table in tables:
            rows = table_rows(store, table)
            if fmt == "json":
                text = json.dumps(rows, indent=2, ensure_ascii=False)
            else:
                text = csv_text(rows, list(rows[0]) if rows else store.table_columns(table))
            paths.append(write_atomic(out / f"{table}-{stamp}.{fmt}", text.encode("utf-8")))
    except OSError as exc:
        raise file_problem(exc, key, out) from None
    return paths


def file_problem(exc: OSError, key: str, path: StrPath) -> SyncError:
    """The error for a file the toolkit could not write under the folder of setting `key`:
    74 (IOFailure) for a full or failing disk, else 78 naming the key."""
    reason = exc.strerror or str(exc)
    if exc.errno in DEVICE_ERRORS:
        return IOFailure(f"{key} {path}: cannot be written ({reason}); free space on its disk, then run again")
    if key.startswith("--"):  # a flag's value: a usage error (2)
        return UsageError(f"{key} {path}: cannot write there ({reason}); give a folder this user may write")
    return ConfigError(key, f"cannot write {path} ({reason}); point it at a folder this user may write")

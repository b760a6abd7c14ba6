"""Exports of the store: links, runs and audit events as CSV or JSON files.

CSV cells that a spreadsheet would run as a formula (= + - @, tab, carriage return first) are
prefixed with an apostrophe."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

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


def write_atomic(destination: StrPath, data: bytes, mode: int | None = None) -> Path:
    """Write bytes to `destination` through a temporary file in the same folder (created 600) and
    a rename, so a reader never sees half a file; `mode` (e.g. 0o600) is kept, else the umask's."""
    path = Path(destination)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
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
    return path


def table_rows(store: Store, table: str) -> list[Row]:
    return store.export_rows(table)


def export_store(
    store: Store, out_dir: str | Path, fmt: str = "csv", tables: Sequence[str] = ("links", "runs", "audit")
) -> list[Path]:
    """Write one file per table; returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    paths = []
    for table in tables:
        rows = table_rows(store, table)
        path = out / f"{table}-{stamp}.{fmt}"
        if fmt == "json":
            path.write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
        else:
            columns = list(rows[0]) if rows else store.table_columns(table)
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=columns)
                writer.writeheader()
                writer.writerows({k: safe_cell(v) for k, v in row.items()} for row in rows)
        paths.append(path)
    return paths

"""Read-only queries behind report.py: run status and history, links, failures and the audit
trail. The store is always opened read-only; it is never created or migrated here."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import DataError, UsageError
from ..runlock import lock_path, lock_state, read_holder
from ..store import UNFINISHED, Store
from ..store_queries import Row

RUN_COLUMNS = ("created", "updated", "hidden", "deleted", "unchanged", "failed", "conflicts", "requests", "writes")
LINK_STATES = ("pending", "synced", "failed")  # always shown; jobs may add others (kept, deleted, ...)


@contextmanager
def reading_store(settings: Settings) -> Iterator[Store]:
    """The store opened read-only (an empty one when the file does not exist yet); an unreadable
    file becomes one line with exit 65 instead of a traceback."""
    path = settings.database_path
    try:
        with Store(path, readonly=True) as store:
            yield store
    except sqlite3.DatabaseError as exc:
        raise DataError(f"the store {path} cannot be read ({exc}); run `python diagnose.py --database`") from None


def lock_info(database_path: str, job: str) -> dict[str, Any]:
    """Like runlock.lock_state, without creating a lock file when there is none."""
    path = lock_path(database_path, job)
    if not path.exists():
        holder = read_holder(f"{path}.pid")
        return {"held": False, "pid": holder and holder.get("pid"), "stale": holder is not None}
    return lock_state(database_path, job)


def parse_since(text: str, flag: str = "--since") -> str:
    """An instant in the zone it states (ISO 8601 with an offset or Z), or a bare date (midnight)
    or date-time in this machine's local zone; returned as the store's UTC ISO text."""
    value = text.strip()
    try:
        if len(value) == 10:
            moment = datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time())
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{flag}: expected a date like 2026-05-01, a local time like 2026-05-01T08:00 or an "
            f"instant like 2026-05-01T08:00+02:00 or 2026-05-01T06:00Z, got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # the machine's local time zone
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _seconds(run: Row) -> float | None:
    """The run's duration in seconds, to the millisecond when the store kept it (schema 4)."""
    duration_ms = run["duration_ms"] if "duration_ms" in run.keys() else None
    if duration_ms is not None:
        return round(duration_ms / 1000, 3)
    if not (run["started_at"] and run["finished_at"]):
        return None
    return round(
        (datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(run["started_at"])).total_seconds(), 3
    )


def run_outcome(status: str, held: bool) -> str:
    """A run still `running` whose job lock is free never finished: it was killed (interrupted)."""
    return ("running" if held else "interrupted") if status == "running" else status


def _run_row(run: Row, settings: Settings | None = None) -> Row:
    held = settings is not None and run["status"] == "running" and lock_info(settings.database_path, run["job"])["held"]
    row = {
        "run": run["id"],
        "job": run["job"],
        "started": run["started_at"],
        "finished": run["finished_at"],
        "seconds": _seconds(run),
        "outcome": run_outcome(run["status"], held),
        "exit_code": run["exit_code"],
    }
    row.update({name: run[name] for name in RUN_COLUMNS})
    row["message"] = run["message"]
    if run["status"] == "running" and row["outcome"] == "interrupted" and not row["message"]:
        row["message"] = UNFINISHED  # what the job's next start will record
    return row


def status(store: Store, settings: Settings, jobs: Iterable[str]) -> list[Row]:
    """One row per job: its last run, the links by state, and whether a run is going on now."""
    known = list(jobs) + [job for job in store.jobs_with_runs() if job not in jobs]
    rows = []
    for job in known:
        last = store.last_run(job)
        states = store.link_states(job)
        row: Row = {
            "job": job,
            "last_run": None,
            "started": None,
            "finished": None,
            "seconds": None,
            "outcome": "never run",
            "exit_code": None,
            **{name: None for name in RUN_COLUMNS},
            "message": None,
        }
        if last:
            row.update(_run_row(last, settings))
            row["last_run"] = row.pop("run")
        row.update(links={**{state: 0 for state in LINK_STATES}, **states})
        rows.append(row)
    return rows


def history(
    store: Store,
    job: str | None = None,
    since: str | None = None,
    limit: int | None = 20,
    settings: Settings | None = None,
) -> list[Row]:
    return [_run_row(run, settings) for run in store.runs(job, limit, since)]


def imports(store: Store, settings: Settings, job: str | None = None, limit: int | None = None) -> list[Row]:
    """The import history, newest first; an import still `running` whose job lock is free was
    killed with its run: shown `interrupted` (run_outcome)."""
    rows = store.imports(job, limit)
    for row in rows:
        if row["status"] == "running":
            row["status"] = run_outcome("running", lock_info(settings.database_path, row["job"])["held"])
    return rows


def items(
    store: Store, job: str | None = None, state: str | None = None, search: str | None = None, limit: int | None = None
) -> list[Row]:
    rows = []
    for link in store.search_links(job, state, search, limit):
        data = link["data"] or {}
        rows.append(
            {
                "job": link["job"],
                "item": link["source_key"],
                "name": data.get("name"),
                "target_type": link["target_type"],
                "target_id": link["target_id"],
                "state": link["state"],
                "changed": link["updated_at"],
                "run": link["run_id"],
                "error": link["error"],
            }
        )
    return rows


def errors(store: Store, run_id: int | None = None) -> tuple[Row | None, list[Row]]:
    """Without a run: the items failed now (state failed). With one: the failures recorded in
    that run, and the error that stopped the run if any. Returns (run or None, rows)."""
    if run_id is None:
        return None, [
            {
                "job": r["job"],
                "item": r["source_key"],
                "target_type": r["target_type"],
                "reason": r["error"],
                "run": r["run_id"],
                "at": r["updated_at"],
            }
            for r in store.failed_links()
        ]
    run = store.run(run_id)
    if run is None:
        raise UsageError(f"--run: there is no run {run_id} in the store")
    return _run_row(run), [
        {
            "job": r["job"],
            "item": r["source_key"],
            "target_type": r["target_type"],
            "reason": r["message"],
            "run": r["run_id"],
            "at": r["at"],
        }
        for r in store.run_failures(run_id)
    ]


def wall_clock_zone(settings: Settings) -> str:
    """The zone of the wall-clock times (a timesheet's begin and end) in audit and conflict
    values: Kimai takes and gives local times without an offset, in KIMAI_TIMEZONE or else the
    Kimai token user's own zone."""
    return str(settings.kimai_timezone or "") or "the Kimai user's zone (KIMAI_TIMEZONE unset)"


def audit(
    store: Store,
    job: str | None = None,
    item: str | None = None,
    limit: int | None = None,
    zone: str | None = None,
) -> list[Row]:
    """Every write the toolkit recorded, oldest first, with the values before and after; `zone`
    (KIMAI_TIMEZONE, None: the Kimai user's own) names the zone of their wall-clock times."""
    return [
        {
            "id": event["id"],
            "at": event["at"],
            "run": event["run_id"],
            "job": event["job"],
            "item": event["source_key"],
            "action": event["action"],
            "target_type": event["target_type"],
            "target_id": event["target_id"],
            "before": event["before"],
            "after": event["after"],
            "timezone": zone,
        }
        for event in store.audit_events(job, item, limit)
    ]


WALL_CLOCK = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?$")  # a time without an offset


def describe_changes(before: Row | None, after: Row | None, width: int = 48, zone: str | None = None) -> str:
    """`field: old -> new` for each changed field, one per line, values shortened; a time without
    an offset (Kimai's wall-clock begin and end) is followed by the `zone` it is in."""
    old_fields, new_fields = before or {}, after or {}
    lines = []
    for name in sorted(set(old_fields) | set(new_fields)):
        old, new = old_fields.get(name), new_fields.get(name)
        if old == new:
            continue
        if name not in old_fields:
            lines.append(f"{name}: {_short(new, width, zone)}")
        else:
            lines.append(f"{name}: {_short(old, width, zone)} -> {_short(new, width, zone)}")
    return "\n".join(lines) or "(no field changed)"


def _short(value: Any, width: int, zone: str | None = None) -> str:
    if zone and isinstance(value, str) and WALL_CLOCK.match(value):
        return f"{value.replace('T', ' ')} {zone}"
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    text = text.replace("\\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def export_folder(settings: Settings, out: str | Path | None) -> Path:
    return Path(out or settings.export_dir)

"""Harvest -> Kimai: time entries of a window (--from/--to) or, incrementally, every entry updated
since the last run (`updated_since`), 2000 a page following links.next.

Harvest's dates and started/ended times are wall-clock times in HARVEST_TIMEZONE (default the
Kimai time zone). An entry without times is laid end to end with the other untimed entries of its
person and day, from IMPORT_DAY_START, in Harvest id order.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from ..clients import Record
from ..clients.harvest import HarvestClient
from ..errors import ConfigError, DataError
from ..timeutil import from_local, parse_instant, zone
from .import_plan import ImportEntry, SourceRead, source_version
from .imports import ImportJob, ImportOptions

if TYPE_CHECKING:
    from ..config import Settings
    from ..http import RequestCounter
    from ..store import Store
    from .base import Result

OVERLAP = timedelta(minutes=5)  # a new cursor starts this long before the server's time
CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*([ap]m)?\s*$", re.I)


def clock_time(text: str | None) -> time | None:
    """'3:00pm', '15:00' -> time; None for an empty or unreadable value."""
    match = CLOCK.match(text or "")
    if not match:
        return None
    hour, minute, half = int(match.group(1)), int(match.group(2)), (match.group(3) or "").lower()
    if half == "pm" and hour < 12:
        hour += 12
    if half == "am" and hour == 12:
        hour = 0
    return time(hour, minute) if hour < 24 and minute < 60 else None


class HarvestKimaiJob(ImportJob):
    name = JOB = "harvest-kimai"
    services = ("harvest", "kimai")
    summary = "Import Harvest time entries as Kimai timesheets (the first import needs --from)."
    examples = (
        "python sync.py harvest-kimai --from 2026-11-01 --to 2026-11-30 --dry-run",
        "python sync.py harvest-kimai --quiet",
    )
    SOURCE = "harvest"

    def __init__(
        self,
        settings: Settings,
        options: ImportOptions,
        store: Store,
        counter: RequestCounter,
        result: Result,
        run_id: int | None = None,
    ) -> None:
        super().__init__(settings, options, store, counter, result, run_id)
        self.harvest = HarvestClient(self.settings, self.counter, self.opts.dry_run)
        start = clock_time(self.settings.import_day_start)
        if start is None:
            raise ConfigError("IMPORT_DAY_START", f"expected HH:MM, got {self.settings.import_day_start!r}")
        self.day_start = start

    def read_source(self) -> SourceRead:
        """The window, the changes since the cursor, or (no cursor yet) every entry from the
        floor on. A new cursor comes from Harvest's clock (the Date of its first answer, else the
        newest `updated_at` seen), less OVERLAP; a window never sets one."""
        scope = self.read_scope()
        self.harvest.http.watch_time()
        if scope.first is not None:
            last = scope.last.isoformat() if scope.last else None
            raw, complete = self.harvest.time_entries(scope.first.isoformat(), last)
            parameters: dict[str, Any] = {"from": scope.first.isoformat(), **({"to": last} if last else {})}
        else:
            raw, complete = self.harvest.time_entries(updated_since=scope.cursor)
            raw = self.with_whole_days(raw)
            parameters = {"updated_since": scope.cursor}
        read = self.convert(raw)
        read.parameters, read.complete, read.floor = parameters, complete, scope.floor
        read.cursor = self.next_cursor(raw, scope.cursor) if scope.moves_cursor else None
        if not complete:
            self.result.warnings.append("MAX_PAGES reached; the rest is read next run")
        return read

    def next_cursor(self, raw: list[Record], old: str | None) -> str | None:
        """Harvest's time when the read began, less the overlap: its Date header, else the newest
        change seen; never the local clock (with neither, the old cursor stays)."""
        seen = self.harvest.http.server_time(first=True)
        if seen is None:
            changes = [parse_instant(e["updated_at"]) for e in raw if e.get("updated_at")]
            seen = max(changes) if changes else None
        if seen is None:
            return old
        return (seen - OVERLAP).strftime("%Y-%m-%dT%H:%M:%SZ")

    def with_whole_days(self, raw: list[Record]) -> list[Record]:
        """Untimed entries are laid out per person and day: read their whole days again."""
        days = sorted(
            {
                e["spent_date"]
                for e in raw
                if not (clock_time(e.get("started_time")) and clock_time(e.get("ended_time")))
            }
        )
        if not days:
            return raw
        extra, _ = self.harvest.time_entries(days[0], days[-1])
        wanted = set(days)
        by_id = {e["id"]: e for e in extra if e["spent_date"] in wanted}
        by_id.update({e["id"]: e for e in raw})
        return list(by_id.values())

    def convert(self, raw: list[Record]) -> SourceRead:
        tz = zone(self.settings.harvest_timezone) if self.settings.harvest_timezone else self.tz
        assert tz is not None, "Kimai's time zone is read before the source (read_zone)"
        read = SourceRead()
        cursor_of_day: dict[tuple[Any, date], datetime] = {}  # (person id, day) -> where the next untimed entry begins
        for e in sorted(raw, key=lambda e: (e["spent_date"], e["id"])):
            label = f"harvest {e['id']}"
            if e.get("is_running"):
                read.skipped.append((None, label, "running timer (imported once it is stopped)"))
                continue
            day = datetime.fromisoformat(e["spent_date"]).date()
            minutes = round(float(e.get("hours") or 0) * 60)
            started, ended = clock_time(e.get("started_time")), clock_time(e.get("ended_time"))
            try:
                if started and ended:
                    begin = from_local(datetime.combine(day, started), tz)
                    end = from_local(datetime.combine(day, ended), tz)
                    if end <= begin:
                        end = begin + timedelta(minutes=minutes)
                else:
                    person = (e.get("user") or {}).get("id")
                    begin = cursor_of_day.get((person, day)) or from_local(datetime.combine(day, self.day_start), tz)
                    end = begin + timedelta(minutes=minutes)
                    cursor_of_day[(person, day)] = end
            except DataError as exc:
                read.skipped.append((None, label, str(exc)))
                continue
            user = e.get("user") or {}
            mapped_user = next((str(v) for v in (user.get("id"), user.get("name")) if str(v) in self.map["user"]), None)
            version, earlier = source_version(
                begin,
                end,
                e.get("notes"),
                e.get("project"),
                e.get("task"),
                e.get("client"),
                e.get("billable"),
                mapped_user,
            )
            read.entries.append(
                ImportEntry(
                    key=f"harvest:{e['id']}",
                    label=label,
                    begin=begin,
                    end=end,
                    project=(e.get("project") or {}).get("name") or "(no project)",
                    activity=(e.get("task") or {}).get("name") or self.settings.import_default_activity,
                    customer=(e.get("client") or {}).get("name"),
                    description=e.get("notes") or "",
                    billable=bool(e.get("billable")),
                    user=mapped_user,
                    version=version,
                    earlier_version=earlier,
                )
            )
        return read

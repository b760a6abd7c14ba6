"""Harvest -> Kimai: time entries of a window (--from/--to) or, incrementally, every entry updated
since the last run (`updated_since`), 2000 a page following links.next.

Harvest's dates and started/ended times are wall-clock times in HARVEST_TIMEZONE (default the
Kimai time zone). An entry without times is laid end to end with the other untimed entries of its
person and day, from IMPORT_DAY_START, in Harvest id order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..clients import Record
from ..clients.harvest import HarvestClient
from ..errors import ConfigError, DataError
from ..timeutil import from_local, parse_instant, zone
from .import_plan import ImportEntry, SourceRead, source_version
from .import_scope import ReadScope
from .imports import ImportJob

if TYPE_CHECKING:
    pass

OVERLAP = timedelta(minutes=5)  # a new cursor starts this long before the server's time
CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*([ap]m)?\s*$", re.I)


def is_timed(entry: Record) -> bool:
    """Whether an entry has start and end times (else it is laid out among its day's)."""
    return bool(clock_time(entry.get("started_time")) and clock_time(entry.get("ended_time")))


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

    def prepare(self) -> None:
        super().prepare()
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
        if scope.first is not None:  # a window (or everything from the floor on): streamed page by page
            last = scope.last.isoformat() if scope.last else None
            parameters: dict[str, Any] = {"from": scope.first.isoformat(), **({"to": last} if last else {})}
            read = SourceRead(parameters=parameters, floor=scope.floor, seen=set())
            pages = self.harvest.time_entry_pages(scope.first.isoformat(), last)
            read.batches = self.stream(pages, read, scope)
            return read
        read = SourceRead(parameters={"updated_since": scope.cursor}, floor=scope.floor)
        read.batches = self.stream_changes(self.harvest.time_entry_pages(updated_since=scope.cursor), read, scope)
        return read

    def stream(self, pages: Iterator[list[Record]], read: SourceRead, scope: ReadScope) -> Iterator[list[ImportEntry]]:
        """The entries of a window's pages, converted a page at a time (by_day). When the pages
        ran out complete, the read covers the window (`covers`): a linked entry dated in it that
        did not come back was deleted in Harvest. The cursor, when this run moves it, is set last."""
        newest: list[datetime] = []
        yield from self.by_day(self.noted(pages, read, newest), read)
        read.complete = self.harvest.complete
        if not read.complete:
            self.result.warnings.append("MAX_PAGES reached; the rest is read next run")
        else:
            read.covers = self.window_covers(scope)
        read.cursor = self.next_cursor(max(newest, default=None), scope.cursor) if scope.moves_cursor else None

    def stream_changes(
        self, pages: Iterator[list[Record]], read: SourceRead, scope: ReadScope
    ) -> Iterator[list[ImportEntry]]:
        """The entries updated since the cursor, a page at a time: those with start and end
        times at once; an untimed one is laid out among the untimed entries of its person and
        day, so its days are read whole afterwards (one window over them, streamed too) and
        their entries imported then. Only ids and days are kept meanwhile."""
        newest: list[datetime] = []
        untimed_days: set[str] = set()
        handed: set[int] = set()
        layout: dict[tuple[Any, date], datetime] = {}
        for page in self.noted(pages, read, newest):
            timed = [e for e in page if is_timed(e)]
            untimed_days.update(e["spent_date"] for e in page if not is_timed(e))
            handed.update(e["id"] for e in timed)
            yield self.converted(timed, read, layout)
        read.complete = self.harvest.complete
        if untimed_days:
            first, last = min(untimed_days), max(untimed_days)
            days = self.harvest.time_entry_pages(first, last)
            wanted = lambda e: e["spent_date"] in untimed_days and e["id"] not in handed  # noqa: E731
            yield from self.by_day(([e for e in page if wanted(e)] for page in days), read, layout)
        if not read.complete:
            self.result.warnings.append("MAX_PAGES reached; the rest is read next run")
        read.cursor = self.next_cursor(max(newest, default=None), scope.cursor) if scope.moves_cursor else None

    @staticmethod
    def noted(pages: Iterator[list[Record]], read: SourceRead, newest: list[datetime]) -> Iterator[list[Record]]:
        """The pages, each entry noted as it passes: its marker as seen (a window read), and the
        newest `updated_at` so far (newest[0], for the cursor when there is no Date header)."""
        for page in pages:
            for e in page:
                if read.seen is not None:
                    read.seen.add(f"harvest:{e['id']}")
                if e.get("updated_at"):
                    changed = parse_instant(e["updated_at"])
                    newest[:] = [max([changed, *newest])]
            yield page

    def by_day(
        self,
        pages: Iterable[list[Record]],
        read: SourceRead,
        layout: dict[tuple[Any, date], datetime] | None = None,
    ) -> Iterator[list[ImportEntry]]:
        """Pages of entries converted a page at a time. Harvest lists by spent_date, so a page's
        last day may go on in the next one: its entries wait for it (an untimed entry's begin
        depends on the others of its person and day)."""
        layout = {} if layout is None else layout
        waiting: dict[str, list[Record]] = {}
        for page in pages:
            for e in page:
                waiting.setdefault(e["spent_date"], []).append(e)
            if page:
                open_day = page[-1]["spent_date"]
                done = [e for day in sorted(d for d in waiting if d != open_day) for e in waiting.pop(day)]
                yield self.converted(done, read, layout)
        yield self.converted([e for day in sorted(waiting) for e in waiting.pop(day)], read, layout)

    def converted(
        self, raw: list[Record], read: SourceRead, layout: dict[tuple[Any, date], datetime]
    ) -> list[ImportEntry]:
        part = self.convert(raw, layout)
        read.skipped += part.skipped
        return part.entries

    def window_covers(self, scope: ReadScope) -> Callable[[datetime], bool]:
        """Whether an entry beginning at an instant had to come back from a complete read of the
        window: its day in HARVEST_TIMEZONE is inside. On the window's first day only from
        IMPORT_DAY_START on: an untimed entry of the day before, laid end to end past midnight,
        begins there too and was rightly not listed."""
        tz = self.harvest_zone()
        first, last = scope.first, scope.last

        def covers(instant: datetime) -> bool:
            local = instant.astimezone(tz)
            assert first is not None, "a window has a first day"
            if local.date() < first or (last is not None and local.date() > last):
                return False
            return local.date() > first or local.time() >= self.day_start

        return covers

    def harvest_zone(self) -> ZoneInfo:
        tz = zone(self.settings.harvest_timezone) if self.settings.harvest_timezone else self.tz
        assert tz is not None, "Kimai's time zone is read before the source (read_zone)"
        return tz

    def next_cursor(self, newest: datetime | None, old: str | None) -> str | None:
        """Harvest's time when the read began, less the overlap: its Date header, else the newest
        change seen; never the local clock (with neither, the old cursor stays)."""
        seen = self.harvest.http.server_time(first=True) or newest
        if seen is None:
            return old
        return (seen - OVERLAP).strftime("%Y-%m-%dT%H:%M:%SZ")

    def convert(self, raw: list[Record], layout: dict[tuple[Any, date], datetime] | None = None) -> SourceRead:
        """Entries as ImportEntry rows, by day and id. `layout`: (person id, day) -> where the
        person's next untimed entry of that day begins, kept across the pages of one read."""
        tz = self.harvest_zone()
        read = SourceRead()
        cursor_of_day = {} if layout is None else layout
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

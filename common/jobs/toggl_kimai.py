"""Toggl Track -> Kimai: time entries of a window (--from/--to) or, incrementally, every entry
changed since the last run (Toggl's `since`, which also returns deleted entries).

Projects, clients and tasks of the workspace are read once per run. Running entries are skipped.
A 402 (quota) or 429 stops the run with exit 75; the next run resumes: what was imported is
linked, the rest is created.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..clients import Record
from ..clients.toggl import TogglClient
from ..timeutil import parse_instant, zone
from .import_plan import ImportEntry, SourceRead, source_version
from .imports import BATCH, ImportJob

if TYPE_CHECKING:
    pass

OVERLAP_SECONDS = 300
OPEN_END_DAYS = 3660  # a read open at the end (--from alone, the first plain run): Toggl needs an end_date


class TogglKimaiJob(ImportJob):
    name = JOB = "toggl-kimai"
    services = ("toggl", "kimai")
    summary = "Import Toggl Track time entries as Kimai timesheets (the first import needs --from)."
    examples = (
        "python sync.py toggl-kimai --from 2026-11-01 --to 2026-11-30 --create-missing --dry-run",
        "python sync.py toggl-kimai --quiet",
    )
    SOURCE = "toggl"

    def prepare(self) -> None:
        super().prepare()
        self.toggl = TogglClient(self.settings, self.counter, self.opts.dry_run)

    def read_source(self) -> SourceRead:
        """The window, the changes since the cursor, or (no cursor yet) every entry from the
        floor on. A new cursor comes from Toggl's clock (the Date of its first answer, else the
        newest `at` seen), less OVERLAP_SECONDS; a window never sets one."""
        scope = self.read_scope()
        self.toggl.http.watch_time()
        if scope.first is not None:
            end = scope.last + timedelta(days=1) if scope.last else scope.first + timedelta(days=OPEN_END_DAYS)
            raw = self.toggl.time_entries(scope.first.isoformat(), end.isoformat())
            parameters = {"from": scope.first.isoformat(), **({"to": scope.last.isoformat()} if scope.last else {})}
        else:
            assert scope.cursor is not None, "a plain run reads from its cursor"
            raw = self.toggl.time_entries(since=int(scope.cursor))
            parameters = {"since": datetime.fromtimestamp(int(scope.cursor), UTC).isoformat()}
        cursor = self.next_cursor(raw, scope.cursor) if scope.moves_cursor else None
        read = self.convert(raw, parameters, cursor, lazy=True)
        read.floor = scope.floor
        if scope.first is not None:  # one answer holds the whole window: what did not come back is gone
            read.seen = {f"toggl:{e['id']}" for e in raw}
            read.covers = self.window_covers(scope.first, scope.last or end - timedelta(days=1))
        return read

    def window_covers(self, first: date, last: date) -> Callable[[datetime], bool]:
        """Whether an entry beginning at an instant had to come back from the window's read:
        Toggl takes start_date/end_date as days of its user's time zone, which is asked for
        (GET me, cached) only for an entry near the window's edges, never otherwise."""
        zones: list[ZoneInfo] = []

        def covers(instant: datetime) -> bool:
            day = instant.astimezone(UTC).date()
            if not first - timedelta(days=1) <= day <= last + timedelta(days=1):
                return False
            if first + timedelta(days=1) <= day <= last - timedelta(days=1):
                return True  # inside by more than any time zone's offset
            if not zones:
                zones.append(zone(self.toggl.me().get("timezone") or "UTC"))
            return first <= instant.astimezone(zones[0]).date() <= last

        return covers

    def next_cursor(self, raw: list[Record], old: str | None) -> str | None:
        """Toggl's time when the read began, less the overlap: its Date header, else the newest
        change seen; never the local clock (with neither, the old cursor stays)."""
        seen = self.toggl.http.server_time(first=True)
        if seen is None:
            changes = [parse_instant(e["at"]) for e in raw if e.get("at")]
            seen = max(changes) if changes else None
        if seen is None:
            return old
        return str(int(seen.timestamp()) - OVERLAP_SECONDS)

    def convert(
        self, raw: list[Record], parameters: dict[str, Any], new_cursor: str | None, lazy: bool = False
    ) -> SourceRead:
        """The entries as rows (`entries`), or with `lazy` handed over in batches while they are
        imported (`batches`), each answer's record let go once converted (Toggl answers a window
        in one list: that list is what memory holds, not its rows as well)."""
        read = SourceRead(parameters=parameters, cursor=new_cursor)
        live = [e for e in raw if not e.get("server_deleted_at")]
        read.deleted = [f"toggl:{e['id']}" for e in raw if e.get("server_deleted_at")]
        projects = {p["id"]: p for p in self.toggl.projects()} if any(e.get("project_id") for e in live) else {}
        clients = {c["id"]: c["name"] for c in self.toggl.clients()} if projects else {}
        tasks = {t["id"]: t["name"] for t in self.toggl.tasks()} if any(e.get("task_id") for e in live) else {}
        rows = self.rows(live, read, projects, clients, tasks)
        if lazy:
            read.batches = batched(rows)
        else:
            read.entries = list(rows)
        return read

    def rows(
        self,
        live: list[Record],
        read: SourceRead,
        projects: dict[Any, Record],
        clients: dict[Any, str],
        tasks: dict[Any, str],
    ) -> Iterator[ImportEntry]:
        live.reverse()
        while live:
            e = live.pop()  # the record is let go once converted
            label = f"toggl {e['id']}"
            if e.get("stop") is None or (e.get("duration") or 0) < 0:
                read.skipped.append((None, label, "running entry (imported once it is stopped)"))
                continue
            project = projects.get(e.get("project_id")) or {}
            version, earlier = source_version(
                e["start"],
                e["stop"],
                e.get("description"),
                e.get("project_id"),
                e.get("task_id"),
                e.get("tags"),
                e.get("billable"),
                project.get("name"),
            )
            yield (
                ImportEntry(
                    key=f"toggl:{e['id']}",
                    label=label,
                    begin=parse_instant(e["start"]),
                    end=parse_instant(e["stop"]),
                    project=project.get("name") or "(no project)",
                    activity=tasks.get(e.get("task_id")) or self.settings.import_default_activity,
                    customer=clients.get(project.get("client_id") or project.get("cid")),
                    description=e.get("description") or "",
                    tags=tuple(e.get("tags") or ()),
                    billable=bool(e.get("billable")),
                    version=version,
                    earlier_version=earlier,
                )
            )


def batched(rows: Iterator[ImportEntry]) -> Iterator[list[ImportEntry]]:
    """Rows in lists of at most BATCH."""
    batch: list[ImportEntry] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch

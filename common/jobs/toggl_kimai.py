"""Toggl Track -> Kimai: time entries of a window (--from/--to) or, incrementally, every entry
changed since the last run (Toggl's `since`, which also returns deleted entries).

Projects, clients and tasks of the workspace are read once per run. Running entries are skipped.
A 402 (quota) or 429 stops the run with exit 75; the next run resumes: what was imported is
linked, the rest is created.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..clients import Record
from ..clients.toggl import TogglClient
from ..timeutil import parse_instant
from .import_plan import ImportEntry, SourceRead, source_version
from .imports import ImportJob, ImportOptions

if TYPE_CHECKING:
    from ..config import Settings
    from ..http import RequestCounter
    from ..store import Store
    from .base import Result

OVERLAP_SECONDS = 300


class TogglKimaiJob(ImportJob):
    name = JOB = "toggl-kimai"
    services = ("toggl", "kimai")
    summary = "Import Toggl Track time entries as Kimai timesheets (the first import needs --from)."
    examples = (
        "python sync.py toggl-kimai --from 2026-11-01 --to 2026-11-30 --create-missing --dry-run",
        "python sync.py toggl-kimai --quiet",
    )
    SOURCE = "toggl"

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
        self.toggl = TogglClient(self.settings, self.counter, self.opts.dry_run)

    def read_source(self) -> SourceRead:
        started = int(time.time())
        window = self.window_or_cursor()
        if window[0] is not None:
            first, last, cursor = window
            raw = self.toggl.time_entries(first.isoformat(), (last + timedelta(days=1)).isoformat())
            parameters = {"from": first.isoformat(), "to": last.isoformat()}
            new_cursor = None if cursor else str(started - OVERLAP_SECONDS)  # a backfill leaves a cursor alone
        else:
            cursor = window[2]
            raw = self.toggl.time_entries(since=int(cursor))
            parameters = {"since": datetime.fromtimestamp(int(cursor), UTC).isoformat()}
            new_cursor = str(started - OVERLAP_SECONDS)
        return self.convert(raw, parameters, new_cursor)

    def convert(self, raw: list[Record], parameters: dict[str, Any], new_cursor: str | None) -> SourceRead:
        read = SourceRead(parameters=parameters, cursor=new_cursor)
        live = [e for e in raw if not e.get("server_deleted_at")]
        read.deleted = [f"toggl:{e['id']}" for e in raw if e.get("server_deleted_at")]
        projects = {p["id"]: p for p in self.toggl.projects()} if any(e.get("project_id") for e in live) else {}
        clients = {c["id"]: c["name"] for c in self.toggl.clients()} if projects else {}
        tasks = {t["id"]: t["name"] for t in self.toggl.tasks()} if any(e.get("task_id") for e in live) else {}
        for e in live:
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
            read.entries.append(
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
        return read

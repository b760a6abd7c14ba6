"""What the imports (toggl-kimai, harvest-kimai, csv-kimai) share: a source hands over plain
ImportEntry rows; this maps them to Kimai customers, projects, activities and users, and
creates or updates exactly one timesheet per row, found again by its origin marker.

Never twice: the description's first line is the marker (`toggl:{id}`, `harvest:{id}`,
`csv:{hash}`) and the timesheet carries the tag `import`. A row whose source version was
imported before costs no Kimai request; a changed one updates its timesheet.
Memory does not grow with the data: rows come in batches of BATCH (a file or a source's pages are
read while they are imported), and each batch reads only its own links and Kimai timesheets.
The rows and their planning without I/O are in import_plan.py; ImportJob here reads and writes.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import chain
from typing import TYPE_CHECKING, ClassVar
from zoneinfo import ZoneInfo

from ..clients.kimai import KimaiClient
from ..errors import PARTIAL, DataError
from ..store_queries import Row
from ..timeutil import zone
from .base import Action, ActionKind, Applier, Target
from .import_plan import (
    Desired,
    ImportEntry,
    ImportPlan,
    ImportRead,
    SourceRead,
    current_fields,
    gone_from_source,
    kimai_names,
    pending,
    plan_references,
    plan_timesheet,
    read_import_map,
    timesheet_fields,
)
from .import_scope import CURSOR, FLOOR, ReadScope, read_scope
from .kimai_targets import (
    ContainerRef,
    Containers,
    ContainerWriter,
    KimaiState,
    needs_of,
    plan_source_deleted,
    ref_id,
    timesheets_by_marker,
    write_timesheet,
)
from .options import CREATE_MISSING, DATE_FROM, DATE_TO, Job, JobOptions

if TYPE_CHECKING:
    pass

log = logging.getLogger("tracksync.imports")

WINDOW_MARGIN = timedelta(days=7)
BATCH = 1000  # rows read from Kimai, planned and written together: what memory holds at a time
HELD_BATCHES = 4  # rows of other months waiting for their batch, at most, in batches
LISTED_INVALID = 100  # invalid rows named in the error message; the history keeps them all


@dataclass(frozen=True)
class Options(JobOptions):
    date_from: str | None = None  # YYYY-MM-DD
    date_to: str | None = None  # YYYY-MM-DD, included
    create_missing: bool = False
    file: str | None = None  # csv-kimai
    date_format: str | None = None  # csv-kimai: strftime codes of the date column
    skip_invalid: bool = False  # csv-kimai: import the valid rows, list the others


ImportOptions = Options  # its name inside ImportJob, where the class attribute `Options` hides it


def created(ref: ContainerRef) -> ContainerRef:
    """A container reference as an id once it was created (by an earlier batch of the run):
    a row then refers to it as to one found, without waiting for it."""
    return ref.target_id if isinstance(ref, Action) and ref.target_id is not None else ref


def kimai_instant(local: str, tz: ZoneInfo) -> datetime:
    """A Kimai local time ('2026-11-02T09:00:00', as a link's data holds it) as an instant."""
    moment = datetime.fromisoformat(local)
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


class ImportJob(Job):
    """Subclasses set name (= JOB), summary, examples and SOURCE, and implement read_source() ->
    SourceRead. run(): Kimai's time zone, the source, the import history opened, then sync():
    batch by batch, read what planning needs of Kimai, plan every action without I/O, apply the
    plan; last the closing part (deletions, skipped rows, the cursor)."""

    JOB: ClassVar[str]  # the job's name
    SOURCE: ClassVar[str]  # the source an import records: toggl, harvest, csv
    options: ClassVar[tuple[Callable, ...]] = (DATE_FROM, DATE_TO, CREATE_MISSING)
    Options = Options

    opts: ImportOptions

    def prepare(self) -> None:
        self.kimai = KimaiClient(self.settings, self.counter, self.opts.dry_run)
        self.applier = Applier(self.JOB, self.store, self.run_id, self.opts.workers, self.result, self.opts.dry_run)
        self.map = read_import_map(self.settings)
        self.tz: ZoneInfo | None = None  # Kimai's time zone, read first (read_zone)
        self.kimai_state: KimaiState | None = None  # read once per run, when a row needs it
        self.activities_read: set[int] = set()  # projects whose own activities were read
        self.containers: Containers | None = None  # planned across the run's batches
        self.containers_of: KimaiState | None = None  # the state `containers` was made from
        self.containers_planned: set[str] = set()  # the containers an earlier batch's plan holds
        self.handed = 0  # rows handed over by the source so far
        self.container_links: dict[str, Row] | None = None  # the store's links of containers, read once

    @abstractmethod
    def read_source(self) -> SourceRead:
        """Read the source (Kimai's time zone is read before): a SourceRead."""

    def read_zone(self) -> ZoneInfo:
        """Kimai's time zone (KIMAI_TIMEZONE, else the token's user's), which reading the source needs."""
        self.tz = zone(self.settings.kimai_timezone or self.kimai.me().get("timezone") or "UTC")
        return self.tz

    def read_scope(self) -> ReadScope:
        """What this run reads (import_scope.read_scope)."""
        return read_scope(self.store, self.JOB, self.opts.date_from, self.opts.date_to)

    def run(self) -> None:
        """The import history is opened once the source is read (it records the source's
        parameters), so that a failure reading or writing Kimai is recorded too."""
        self.read_zone()
        source = self.read_source()
        import_id: int | None = None
        status = "failed"
        try:
            if not self.opts.dry_run:
                import_id = self.store.start_import(
                    self.run_id, self.JOB, self.SOURCE, source.parameters, source.file_sha256
                )
            if source.invalid and not self.opts.skip_invalid:
                status = "invalid"
                raise DataError(self.invalid_message(source))
            self.sync(source)
            status = "partial" if self.result.failures or source.invalid else "ok"
        finally:
            if import_id is not None:
                self.finish_history(import_id, status, source)

    def sync(self, source: SourceRead) -> None:
        """Import the rows of a source read in batches of at most BATCH rows, each read from Kimai,
        planned and applied before the next is taken (a file or a paged source is read while it
        is imported: memory does not grow with the data). The closing part then settles what the
        source reports deleted (and, after a complete date-range read, the linked entries that
        did not come back), counts the skipped rows and saves the cursor."""
        self.handed = 0
        for entries in self.batches(source):
            self.handed += len(entries)
            part = SourceRead(entries=entries, parameters=source.parameters, closing=False)
            self.apply(self.plan(self.read(part)))
        closing = replace(source, entries=[], batches=None, deleted=source.deleted + self.unseen(source))
        self.apply(self.plan(self.read(closing)))

    @staticmethod
    def batches(source: SourceRead) -> Iterator[list[ImportEntry]]:
        """The source's rows (its entries, then its lazy batches) in lists of at most BATCH rows
        of one month each, so that the Kimai timesheets a batch reads around its days stay few
        even when the source is not in date order: rows wait in their month's list until it is
        full, or, once more than HELD_BATCHES x BATCH rows wait, the longest list goes; the rest
        go at the end, month by month in the order the months came (rows in their own order)."""
        waiting: dict[tuple[int, int], list[ImportEntry]] = {}  # insertion order: the months' first rows
        held, limit = 0, HELD_BATCHES * BATCH
        for entry in chain(source.entries, (entry for entries in source.batches or () for entry in entries)):
            month = (entry.begin.year, entry.begin.month)
            waiting.setdefault(month, []).append(entry)
            held += 1
            if len(waiting[month]) >= BATCH or held > limit:
                part = waiting.pop(max(waiting, key=lambda m: len(waiting[m])))
                held -= len(part)
                yield part
        for part in waiting.values():
            for start in range(0, len(part), BATCH):
                yield part[start : start + BATCH]

    def unseen(self, source: SourceRead) -> list[str]:
        """After a complete date-range read (source.covers set): the markers of the linked entries
        dated inside it that did not come back, which the source deleted. Nothing is concluded
        from a read that was cut (MAX_PAGES, a failed page) or that is not a date range. The
        links are walked one slice at a time; only the markers of the missing are kept."""
        if source.covers is None or source.seen is None:
            return []
        policy, prefix, missing = self.settings.import_delete_policy, f"{self.SOURCE}:", []
        assert self.tz is not None, "Kimai's time zone is read before the source"
        for link in self.store.each_link(self.JOB, "timesheet"):
            key, begin = link["source_key"], (link["data"] or {}).get("begin")
            if not key.startswith(prefix) or key in source.seen or not gone_from_source(link, policy):
                continue
            if isinstance(begin, str) and source.covers(kimai_instant(begin, self.tz)):
                missing.append(key)
        return missing

    def finish_history(self, import_id: int, status: str, source: SourceRead) -> None:
        counts = self.result.counts
        rows = source.rows if source.rows is not None else self.handed
        refused = len(source.invalid) if status == "invalid" else 0
        errors = [(line, item, reason) for line, item, reason in source.invalid + source.skipped]
        errors += [(None, label, reason) for label, reason in self.result.failures]
        self.store.finish_import(
            import_id,
            status,
            {
                "read": rows + len(source.skipped) + len(source.invalid),
                "created": counts.get("created", 0),
                "updated": counts.get("updated", 0) + counts.get("deleted", 0),
                "skipped": len(source.skipped) + len(source.invalid) - refused,
                "failed": len(self.result.failures) + refused,
            },
            errors,
        )

    def invalid_message(self, source: SourceRead) -> str:
        """Every invalid row on its own line (the first LISTED_INVALID of them)."""
        rows = source.invalid
        listed = [
            f"line {line}: {reason}" if line else f"{item}: {reason}" for line, item, reason in rows[:LISTED_INVALID]
        ]
        if len(rows) > LISTED_INVALID:
            where = "" if self.opts.dry_run else " (python report.py imports --errors lists them all)"
            listed.append(f"... and {len(rows) - LISTED_INVALID} more{where}")
        name = source.parameters.get("file") or self.SOURCE
        return (
            f"{name}: {len(rows)} invalid row{'s' if len(rows) != 1 else ''}; nothing imported "
            f"(fix {'them' if len(rows) != 1 else 'it'}, or --skip-invalid imports the valid rows):\n  "
            + "\n  ".join(listed)
        )

    def read(self, source: SourceRead | None = None) -> ImportRead:
        """The source (unless given: run() reads it first, Kimai's zone before it), the store's
        links, then of Kimai only what the rows to import or delete need: customers, projects,
        activities, and the timesheets around their begin times. Nothing when every row is current."""
        if source is None:
            self.read_zone()
            source = self.read_source()
        assert self.tz is not None, "Kimai's time zone is read before the source"
        read = ImportRead(source, self.tz, self.links_of(source))
        work, _, deleted = pending(source, read.links, self.opts.full, self.settings.import_delete_policy)
        if not (work or deleted):
            return read
        read.kimai = self.read_kimai_state(work)
        _, desired, _ = self.desired(work, read)
        with_user = any("user" in fields for _, fields, _ in desired.values())
        begins = [f["begin"] for _, f, _ in desired.values()] + [
            link["data"]["begin"] for link in deleted if link.get("data")
        ]
        found = timesheets_by_marker(
            self.kimai, begins, WINDOW_MARGIN, with_user, read.links, desired, read.warnings.append
        )
        wanted = set(desired) | {link["source_key"] for link in deleted}
        read.timesheets = {key: sheet for key, sheet in found.items() if key in wanted}  # this batch's only
        return read

    def links_of(self, source: SourceRead) -> dict[str, Row]:
        """The store links planning needs: those of the rows and reported deletions at hand, the
        containers' (few), and in the closing part under IMPORT_DELETE_POLICY=delete every
        orphaned timesheet link (reported earlier, deleted now). Never every link of the job."""
        links = self.store.links_of(self.JOB, [e.key for e in source.entries] + source.deleted)
        if self.container_links is None:  # read once: later creates are in the run's Containers
            self.container_links = {}
            for kind in ("customer", "project", "activity"):
                self.container_links.update(self.store.links(self.JOB, kind))
        links.update(self.container_links)
        if source.closing and self.settings.import_delete_policy == "delete":
            links.update(
                (link["source_key"], link)
                for link in self.store.each_link(self.JOB, "timesheet")
                if link["state"] == "orphaned"
            )
        return links

    def read_kimai_state(self, work: list[ImportEntry]) -> KimaiState:
        """The Kimai customers, projects and global activities (read once per run), and the
        activities of the existing projects the entries name (each project's read once)."""
        state = self.kimai_state
        if state is None:
            state = self.kimai_state = KimaiState(
                self.kimai.list_customers(), self.kimai.list_projects(), self.kimai.list_global_activities()
            )
        probe = Containers(state)
        wanted: set[int] = set()  # ids of the existing projects whose own activities may be needed
        for entry in work:
            customer, project, activity = kimai_names(entry, self.map, self.settings.import_customer)
            if probe.activity(activity, None, create=False) is None:  # not a global activity
                found = probe.project(project, customer, any_customer=not entry.customer, create=False)
                if isinstance(found, int) and found not in self.activities_read:  # a project found, not read yet
                    wanted.add(found)
        if wanted:
            added = [a for a in self.kimai.list_activities(wanted) if a.get("project") in wanted]
            state.activities += added
            self.activities_read |= wanted
            if self.containers is not None and self.containers_of is state:
                self.containers.project_activities.update(((a["project"], a["name"]), a["id"]) for a in added)
        return state

    def containers_for(self, read: ImportRead) -> Containers:
        """One Containers for the whole run (so each customer, project and activity is planned and
        created once across batches), made anew for another Kimai state (a hand-built read)."""
        assert read.kimai is not None, "the Kimai state was read"
        if self.containers is None or self.containers_of is not read.kimai:
            self.containers = Containers(read.kimai, read.links, comment=f"{self.SOURCE} import")
            self.containers_of = read.kimai
            self.containers_planned = set()
        else:
            self.containers.links = read.links
        return self.containers

    def desired(self, work: list[ImportEntry], read: ImportRead) -> tuple[Containers, Desired, dict[str, str]]:
        """(the containers planned, {key: (row, timesheet fields, planned containers it needs)}
        for the rows that map to Kimai, {key: reason} for the others). Without I/O: read() and
        plan() both ask it, read() to know which timesheets to read; what it plans joins the run's
        Containers (containers_for), so a later batch refers to the same customer, project, activity."""
        containers = self.containers_for(read)
        refs, reasons = plan_references(
            work, self.map, self.settings.import_customer, containers, self.opts.create_missing
        )
        desired: Desired = {}
        for entry in work:
            if entry.key not in reasons:
                planned_project, planned_activity, user = refs[entry.key]
                project, activity = created(planned_project), created(planned_activity)
                fields = timesheet_fields(entry, read.tz, ref_id(project), ref_id(activity), user)
                desired[entry.key] = (entry, fields, needs_of(project=project, activity=activity))
        return containers, desired, reasons

    def plan(self, read: ImportRead) -> ImportPlan:
        """Every action of the run from what was read, without any request or store write."""
        source = read.source
        work, unchanged, deleted = pending(source, read.links, self.opts.full, self.settings.import_delete_policy)
        plan = ImportPlan(
            source.skipped,
            source.invalid,
            unchanged,
            list(read.warnings),
            cursor=source.cursor if source.complete else None,
            floor=source.floor,
        )
        if read.kimai is None:  # every row is current: nothing to do
            return plan
        containers, desired, reasons = self.desired(work, read)
        for key, (entry, fields, needs) in desired.items():
            target = read.timesheets.get(key)
            current = current_fields(target, read.tz, "user" in fields) if target else None
            plan.timesheets.append(
                plan_timesheet(entry, fields, read.links.get(key), target, current, read.tz.key, needs)
            )
        plan.timesheets += self.plan_deleted(deleted, read.timesheets)
        plan.refused = [
            (Action(ActionKind.CREATE, entry.key, "timesheet", entry.label, entry.project, {}), reasons[entry.key])
            for entry in work
            if entry.key in reasons
        ]
        plan.containers = [a for a in containers.actions if a.key not in self.containers_planned]  # once a run
        self.containers_planned.update(a.key for a in plan.containers)
        plan.all_users = any("user" in fields for _, fields, _ in desired.values())
        return plan

    def apply(self, plan: ImportPlan) -> None:
        """Count the rows skipped and current, record the refused ones, send the containers then
        the timesheets through the applier, and save the cursor once nothing failed."""
        for _line, item, reason in plan.skipped:
            self.result.counts["skipped"] += 1
            log.info("skipped %s: %s", item, reason)
        for _line, item, reason in plan.invalid:  # reached under skip_invalid only: listed, and the run exits 3
            self.result.counts["skipped"] += 1
            self.result.warnings.append(f"{item}: skipped, {reason}")
            self.result.exit_code = PARTIAL
        if plan.unchanged:
            self.result.counts["unchanged"] += plan.unchanged
        self.result.warnings += [w for w in plan.warnings if w not in self.result.warnings]  # batches overlap
        for action, reason in plan.refused:  # rows the plan cannot import: the applier records why
            self.applier.fail(action, reason)
        if plan.containers or plan.timesheets:
            ContainerWriter(self.kimai, self.settings, self.applier).apply(
                plan.containers,
                plan.timesheets,
                self.write,
                lambda unknown: timesheets_by_marker(
                    self.kimai, [a.fields["begin"] for a in unknown], timedelta(days=1), plan.all_users
                ),
            )
        if not self.opts.dry_run and plan.floor:
            self.store.set_cursor(self.JOB, FLOOR, plan.floor)
        if not self.opts.dry_run and plan.cursor and not self.result.failures:
            self.store.set_cursor(self.JOB, CURSOR, plan.cursor)

    def plan_deleted(self, deleted: list[Row], existing: Mapping[str, Target]) -> list[Action]:
        """The rows deleted at the source: their timesheet deleted (IMPORT_DELETE_POLICY=delete) or
        reported once, or the link settled when the timesheet is gone from Kimai too."""
        return [
            plan_source_deleted(
                link,
                existing.get(link["source_key"]),
                self.settings.import_delete_policy,
                link["source_key"],
                f"deleted in {self.SOURCE}",
                f"deleted in {self.SOURCE}; its timesheet is kept (IMPORT_DELETE_POLICY=report)",
            )
            for link in deleted
        ]

    def write(self, action: Action) -> Target:
        return write_timesheet(self.kimai, action, {"exported": False})

"""Zammad -> Kimai: every time accounting entry becomes exactly one Kimai timesheet.

read():  tickets updated since the cursor (search pages until a short one), their time
         accountings, on --full the linked tickets deleted outright (zammad_read.py), then (only
         if an entry or orphan needs a look) activity types, agents, Kimai's projects and the
         timesheets around the entries' days, each read once per run;
plan():  per entry create / update / conflict / keep / delete, by origin marker and store link,
         without I/O: a ZammadPlan also holds the failures, counts and cursors to record;
apply(): in parallel; a create with no answer is resolved by its marker; then the cursors.
A timesheet edited in Kimai since the last sync is never overwritten silently
(ZAMMAD_CONFLICT_POLICY).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..clients import Record
from ..clients.kimai import KimaiClient
from ..clients.zammad import ZammadClient
from ..config import read_map
from ..errors import ConfigError, UsageError
from ..store_queries import Row
from ..timeutil import parse_instant, to_kimai_local, zone
from .base import Action, ActionKind, Applier, Target
from .kimai_targets import (
    ContainerRef,
    Containers,
    ContainerWriter,
    KimaiState,
    needs_customers,
    needs_of,
    ref_id,
    timesheets_by_marker,
    write_timesheet,
)
from .options import DATE_FROM, DATE_TO, Job, JobOptions
from .zammad_plan import (
    Entry,
    References,
    Resolution,
    Selection,
    TicketRead,
    Window,
    WindowRead,
    ZammadPlan,
    ZammadRead,
    current_fields,
    entry_links_by_ticket,
    entry_marker,
    linked_tickets,
    minutes_per_unit,
    plan_entry,
    plan_orphans,
    resolve_entry,
    select_entries,
    timesheet_fields,
    wanted_projects,
)
from .zammad_read import ZammadTickets

if TYPE_CHECKING:
    pass

log = logging.getLogger("tracksync.zammad_kimai")

JOB = "zammad-kimai"
TAG = "zammad"
WINDOW_MARGIN = timedelta(days=7)  # timesheets moved by hand up to a week are still found by marker


@dataclass(frozen=True)
class Options(JobOptions):
    date_from: str | None = None  # YYYY-MM-DD: only entries created from this day (Kimai's zone)
    date_to: str | None = None  # YYYY-MM-DD: ... up to and including this day
    ticket_ids: tuple[int, ...] = ()  # sync only these tickets (webhook)


ZammadOptions = Options  # its name inside ZammadKimaiJob, where the class attribute `Options` hides it


class ZammadKimaiJob(Job):
    name = JOB
    services = ("zammad", "kimai")
    summary = "Zammad ticket time accounting -> Kimai timesheets."
    examples = (
        "python sync.py zammad-kimai --dry-run",
        "python sync.py zammad-kimai --from 2026-11-01 --to 2026-11-30",
        "python sync.py zammad-kimai --quiet --fail-on-conflicts",
    )
    options = (DATE_FROM, DATE_TO)
    Options = Options

    opts: ZammadOptions

    def prepare(self) -> None:
        self.zammad = ZammadClient(self.settings, self.counter, self.opts.dry_run)
        self.kimai = KimaiClient(self.settings, self.counter, self.opts.dry_run)
        self.applier = Applier(JOB, self.store, self.run_id, self.opts.workers, self.result, self.opts.dry_run)
        self.per_unit = minutes_per_unit(self.settings.zammad_time_unit)
        self.activity_map = read_map(self.settings, "ZAMMAD_ACTIVITY_MAP")
        self.user_map = read_map(self.settings, "ZAMMAD_USER_MAP")
        for email, user in self.user_map.items():
            if not user.isdigit():
                raise ConfigError("ZAMMAD_USER_MAP", f"{email}: expected a Kimai user id (a number), got {user!r}")
        self.policy = self.settings.zammad_conflict_policy
        self.tz: ZoneInfo | None = None  # Kimai's time zone, read first by read() (or read_window)

    # -- read ---------------------------------------------------------------------------
    @property
    def tickets(self) -> ZammadTickets:
        """The Zammad side of the read (zammad_read.py), with the options as they are now."""
        return ZammadTickets(self.zammad, self.store, JOB, self.opts)

    def read(self) -> ZammadRead:
        """Zammad first (the tickets, then the entries of those changed), then, only when an
        entry or orphan needs a look, the references and the Kimai state planning compares with."""
        self.zammad.me()  # fail fast (77 / 69) before reading anything
        me = self.kimai.me()
        self.tz = zone(self.settings.kimai_timezone or me.get("timezone") or "UTC")
        window = self.window()
        tickets, complete, missing, warnings = self.tickets.listed(window)
        read = ZammadRead(self.tz, window, self.store.links(JOB), complete=complete, warnings=warnings)
        if not complete:
            read.warnings.append("MAX_PAGES reached; the remaining tickets are read next run")
        synced = entry_links_by_ticket(read.links)  # the webhook's tickets answering 404 with time synced: deleted
        read.deleted = {i for i in missing if i in synced}
        read.missing = [i for i in missing if i not in synced]
        if self.opts.full and not window and not self.opts.ticket_ids and complete:  # every ticket listed
            tickets += self.tickets.find_deleted(linked_tickets(read.links) - {t["id"] for t in tickets}, read)
        read.unchanged = {t["id"] for t in tickets if self.tickets.unchanged(t)}
        read.tickets = self.tickets.entries([t for t in tickets if t["id"] not in read.unchanged])
        selection = self.select(read.tickets, read.links, window, read.deleted)
        if selection.work or selection.orphans:
            read.references = refs = self.read_references(selection.work)
            mapped = [(t, e, v) for t, e, v in selection.work if not self.resolve(e, refs)[2]]
            read.kimai = self.read_projects(mapped, read.links)
            begins = {
                entry_marker(t["id"], e["id"]): to_kimai_local(parse_instant(e["created_at"]), self.tz)
                for t, e, _ in mapped
            }
            read.timesheets = self.read_timesheets(begins, selection.orphans, read.links, read.warnings)
        return read

    def window(self) -> Window | None:
        """(from, to) instants for --from/--to, else None."""
        if not (self.opts.date_from or self.opts.date_to):
            return None
        try:
            start = (
                datetime.fromisoformat(self.opts.date_from).date()
                if self.opts.date_from
                else datetime(1970, 1, 1).date()
            )
            stop = (
                datetime.fromisoformat(self.opts.date_to).date() if self.opts.date_to else datetime.now(self.tz).date()
            )
        except ValueError as exc:
            raise UsageError(f"--from/--to take dates like 2026-03-31: {exc}") from None
        if stop < start:
            raise UsageError("--to is before --from")
        return (
            datetime.combine(start, time(0), self.tz).astimezone(UTC),
            datetime.combine(stop + timedelta(days=1), time(0), self.tz).astimezone(UTC),
        )

    def read_references(self, work: Sequence[Entry]) -> References:
        refs = References({t["id"]: t["name"] for t in self.zammad.activity_types()})
        if self.activity_map or self.settings.zammad_default_activity:
            globals_ = self.kimai.list_global_activities()
            refs.activities = {a["name"]: a["id"] for a in globals_}
            refs.activities.update({str(a["id"]): a["id"] for a in globals_})
        if self.user_map:
            for agent_id in {e["created_by_id"] for _, e, _ in work}:
                refs.agents[agent_id] = self.zammad.get_user(agent_id).get("email", "")
        return refs

    def read_projects(self, work: Sequence[Entry], links: Mapping[str, Row]) -> KimaiState:
        """Kimai's projects (and customers, when one must be found or made) if a ticket's project
        is not known by id or link."""
        state = KimaiState()
        wanted = wanted_projects(work, links, self.settings, self.opts.full)[0]
        if wanted:
            state.projects = self.kimai.list_projects()
            if needs_customers([(marker, w[0]) for marker, w in wanted.items()], state.projects, links):
                state.customers = self.kimai.list_customers()
        return state

    def read_timesheets(
        self, begins: Mapping[str, str], orphans: list[Row], links: Mapping[str, Row], warnings: list[str]
    ) -> dict[str, Target]:
        """Kimai timesheets of the affected days (and a week around them), by marker; `begins`
        holds each mapped entry's begin by its marker."""
        days = list(begins.values()) + [link["data"]["begin"] for link in orphans if link.get("data")]
        return timesheets_by_marker(
            self.kimai, days, WINDOW_MARGIN, bool(self.user_map), links, begins, warnings.append
        )

    # -- plan -----------------------------------------------------------------------------
    def plan(self, read: ZammadRead) -> ZammadPlan:
        """Every action, failure, count and cursor of the run, from `read` alone."""
        selection = self.select(read.tickets, read.links, read.window, read.deleted)
        plan = ZammadPlan(tickets=read.tickets, complete=read.complete, warnings=list(read.warnings))
        plan.failed = [(f"ticket {i}", "not found in Zammad", None) for i in read.missing] + list(selection.failed)
        unchanged = selection.unchanged
        if read.unchanged:  # their entries are synced as they are: count them
            plan.counts["tickets_unchanged"] = len(read.unchanged)
            unchanged += sum(
                1
                for key, link in read.links.items()
                if link["target_type"] == "timesheet"
                and link["state"] in ("synced", "kept")
                and int(key.split("/")[1]) in read.unchanged
            )
        if unchanged or read.unchanged:
            plan.counts["unchanged"] = unchanged
        if selection.work or selection.orphans:
            self.plan_entries(read, selection, plan)
        if not self.opts.dry_run:
            plan.save_versions = not read.window
            plan.save_cursor = not (self.opts.ticket_ids or read.window)
        return plan

    def select(
        self,
        reads: list[TicketRead],
        links: Mapping[str, Row],
        window: Window | None,
        deleted: Collection[int] | None = None,
    ) -> Selection:
        return select_entries(reads, links, window, self.opts.full, self.settings.zammad_delete_policy, deleted or ())

    def plan_entries(self, read: ZammadRead, selection: Selection, plan: ZammadPlan) -> None:
        """Each selected entry's action (or why it cannot map), the containers they need, and
        the orphans' actions, into `plan`."""
        tz, links = read.tz, read.links
        resolved = [(t, e, v, *self.resolve(e, read.references)) for t, e, v in selection.work]
        containers, project_of = self.plan_projects(
            [(t, e, v) for t, e, v, _, _, reason in resolved if not reason], links, read.kimai
        )
        for ticket, entry, version, activity_id, user_id, reason in resolved:
            key = entry_marker(ticket["id"], entry["id"])
            label = f"#{ticket['number']} time/{entry['id']}"
            if reason:
                plan.unmapped.append(
                    (Action(ActionKind.CREATE, key, "timesheet", label, str(ticket["id"]), {}), reason)
                )
                continue
            project = project_of(ticket)
            type_name = read.references.type_names.get(entry.get("type_id"))
            fields = timesheet_fields(
                ticket, entry, tz, self.per_unit, ref_id(project), activity_id, user_id, type_name
            )
            target = read.timesheets.get(key)
            current = current_fields(target, tz, bool(self.user_map)) if target else None
            plan.actions.append(
                plan_entry(
                    key,
                    label,
                    fields,
                    version,
                    links.get(key),
                    target,
                    current,
                    self.policy,
                    str(ticket["id"]),
                    tz.key,
                    needs_of(project=project),
                )
            )
        plan.actions += self.plan_orphans(selection.orphans, read.timesheets, selection.deleted)
        plan.containers = containers.actions

    def resolve(self, entry: Record, refs: References) -> Resolution:
        return resolve_entry(entry, refs, self.activity_map, self.user_map, self.settings.zammad_default_activity)

    def plan_projects(
        self, work: Sequence[Entry], links: Mapping[str, Row], state: KimaiState
    ) -> tuple[Containers, Callable[[Record], ContainerRef]]:
        """(Containers, ticket -> project): the Kimai project of each ticket's entries, an id or
        the planned create (and its customer's), from the projects read (`state`)."""
        wanted, refs, key_of = wanted_projects(work, links, self.settings, self.opts.full)
        containers = Containers(state, links)
        for marker, (title, comment, customer, scope) in wanted.items():
            refs[marker] = containers.marked_project(marker, title, comment, customer, scope)
        return containers, lambda ticket: refs[key_of(ticket)]

    def references(self, work: Sequence[Entry]) -> Callable[[Record], Resolution]:
        """For reconciliation: a function entry -> (activity id, user id, failure reason)."""
        refs = self.read_references(work)
        return lambda entry: self.resolve(entry, refs)

    def projects(self, work: Sequence[Entry], links: Mapping[str, Row]) -> Callable[[Record], int | None]:
        """ticket -> Kimai project id (None for one only planned): for reconciliation, which reads only."""
        _, project_of = self.plan_projects(work, links, self.read_projects(work, links))
        return lambda ticket: ref_id(project_of(ticket))

    def read_window(self) -> WindowRead:
        """For reconciliation, which reads only: the entries created in the --from/--to window, the
        Kimai timesheets of the window and WINDOW_MARGIN around it, and the fields each entry maps to."""
        me = self.kimai.me()
        self.tz = tz = zone(self.settings.kimai_timezone or me.get("timezone") or "UTC")
        window = self.window()
        assert window is not None, "reconciliation gives --from and --to"
        tickets, complete, _, _ = self.tickets.listed(window)
        if not complete:
            self.result.warnings.append("MAX_PAGES reached; the remaining tickets are read next run")
        reads = self.tickets.entries(tickets)
        entries = [
            (r.ticket, e) for r in reads for e in r.entries if window[0] <= parse_instant(e["created_at"]) < window[1]
        ]
        work: list[Entry] = [(ticket, entry, None) for ticket, entry in entries]
        resolve = self.references(work)
        project_of = self.projects(work, self.store.links(JOB))
        low, high = to_kimai_local(window[0], self.tz), to_kimai_local(window[1], self.tz)
        shift = lambda text, delta: (datetime.fromisoformat(text) + delta).strftime("%Y-%m-%dT%H:%M:%S")  # noqa: E731
        sheets = self.kimai.list_timesheets(
            shift(low, -WINDOW_MARGIN), shift(high, WINDOW_MARGIN), user="all" if self.user_map else None
        )

        def desired(ticket: Record, entry: Record) -> tuple[dict[str, Any], int, str | None]:
            activity_id, user_id, reason = resolve(entry)
            fields = timesheet_fields(ticket, entry, tz, self.per_unit, project_of(ticket), activity_id, user_id)
            return fields, round(float(entry["time_unit"]) * self.per_unit), reason

        return WindowRead(self.tz, low, high, entries, {r.ticket["id"] for r in reads}, sheets, desired)

    def plan_orphans(
        self, orphans: list[Row], existing: Mapping[str, Target], deleted_tickets: Collection[int] = ()
    ) -> list[Action]:
        return plan_orphans(orphans, existing, self.settings.zammad_delete_policy, deleted_tickets)

    # -- apply ----------------------------------------------------------------------------
    def apply(self, plan: ZammadPlan) -> None:
        """Records what the read found (failures, counts, warnings), fails the entries that cannot
        be mapped, sends the plan to the applier whole (it writes the changes and records the rest:
        links, kept edits, conflicts, entries deleted in Zammad), then saves the cursors."""
        plan.record(self.result, self.applier)
        if plan.containers or plan.actions:
            ContainerWriter(self.kimai, self.settings, self.applier).apply(
                plan.containers, plan.actions, self.write, self.reread, fresh=True
            )
        if plan.save_versions:
            self.save_ticket_versions(plan.tickets)
        if plan.save_cursor:
            self.save_cursor(plan.tickets, plan.complete)

    def write(self, action: Action) -> Target:
        return write_timesheet(self.kimai, action, {"tags": TAG, "billable": True, "exported": False})

    def reread(self, unknown: list[Action]) -> dict[str, Target]:
        return timesheets_by_marker(
            self.kimai, [a.fields["begin"] for a in unknown], timedelta(days=1), bool(self.user_map)
        )

    def save_ticket_versions(self, reads: list[TicketRead]) -> None:
        """Remember each ticket's updated_at once all its entries are synced."""
        self.store.set_cursors(
            JOB,
            {
                f"ticket/{r.ticket['id']}": r.ticket["updated_at"]
                for r in reads
                if not r.error and str(r.ticket["id"]) not in self.result.failed_scopes
            },
        )

    def save_cursor(self, reads: list[TicketRead], complete: bool) -> None:
        """The newest ticket updated_at seen, but never past a ticket with a failed entry."""
        if not complete or not reads:
            return
        failed = [r.ticket["updated_at"] for r in reads if str(r.ticket["id"]) in self.result.failed_scopes]
        value = (
            min(failed, key=parse_instant)
            if failed
            else max((r.ticket["updated_at"] for r in reads), key=parse_instant)
        )
        if value != self.store.cursor(JOB, "tickets"):
            self.store.set_cursor(JOB, "tickets", value)

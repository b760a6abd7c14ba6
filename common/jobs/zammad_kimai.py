"""Zammad -> Kimai: every time accounting entry becomes exactly one Kimai timesheet.

read():  tickets updated since the cursor (search pages until a short one), their time
         accountings, then (only if an entry or orphan needs a look) activity types, agents,
         Kimai's projects and the timesheets around the entries' days, each read once per run;
plan():  per entry create / update / conflict / keep / delete, by origin marker and store link,
         without I/O: a ZammadPlan also holds the failures, counts and cursors to record;
apply(): in parallel; a create with no answer is resolved by its marker; then the cursors.
A timesheet edited in Kimai since the last sync is never overwritten silently
(ZAMMAD_CONFLICT_POLICY).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..clients import Record
from ..clients.kimai import KimaiClient
from ..clients.zammad import ZammadClient
from ..config import read_map
from ..errors import STOPS_RUN, ConfigError, NotFound, SyncError, UsageError
from ..store_queries import Row
from ..timeutil import parse_instant, to_kimai_local, zone
from .base import Action, ActionKind, Applier, Result, Target, content_hash
from .kimai_targets import (
    ContainerRef,
    Containers,
    ContainerWriter,
    KimaiState,
    describe_changes,
    needs_customers,
    needs_of,
    ref_id,
    time_span,
    timesheets_by_marker,
    without_path,
)
from .options import DATE_FROM, DATE_TO, Job, JobOptions

if TYPE_CHECKING:
    from ..config import Settings
    from ..http import RequestCounter
    from ..store import Store

log = logging.getLogger("tracksync.zammad_kimai")

JOB = "zammad-kimai"
TAG = "zammad"
OVERLAP = timedelta(minutes=5)
WINDOW_MARGIN = timedelta(days=7)  # timesheets moved by hand up to a week are still found by marker
COMPARED = ("begin", "end", "project", "activity", "description", "user")
DEFAULT_CUSTOMER = "Zammad"
ENTRY_MARKER = re.compile(r"^zammad:ticket/(\d+)/time/(\d+)$")

Window = tuple[datetime, datetime]  # --from/--to as instants: [from, to)
Entry = tuple[Record, Record, str | None]  # (ticket, time accounting entry, the entry's version where it is needed)
Resolution = tuple[int | None, int | None, str | None]  # (activity id, user id, why the entry cannot be mapped)


def entry_marker(ticket_id: int, entry_id: int) -> str:
    return f"zammad:ticket/{ticket_id}/time/{entry_id}"


def ticket_marker(ticket_id: int) -> str:
    return f"zammad:ticket/{ticket_id}"


def minutes_per_unit(setting: str | None) -> float:
    value = (setting or "minutes").strip().lower()
    if value in ("minute", "minutes"):
        return 1.0
    if value in ("hour", "hours"):
        return 60.0
    try:
        minutes = float(value)
    except ValueError:
        minutes = 0.0
    if minutes <= 0:
        raise ConfigError("ZAMMAD_TIME_UNIT", f"expected minutes, hours or a positive number, got {setting!r}")
    return minutes


def timesheet_fields(
    ticket: Record,
    entry: Record,
    tz: tzinfo,
    per_unit: float,
    project_id: int | None,
    activity_id: int | None,
    user_id: int | None,
    type_name: str | None = None,
) -> dict[str, Any]:
    """The Kimai timesheet an entry maps to: begin = its creation time in Kimai's zone, end =
    begin + duration (both computed as instants, so DST days come out right)."""
    begin = parse_instant(entry["created_at"])
    end = begin + timedelta(minutes=float(entry["time_unit"]) * per_unit)
    lines = [entry_marker(ticket["id"], entry["id"]), f"#{ticket['number']} {ticket['title']}"]
    if type_name:
        lines.append(type_name)
    fields = {
        "begin": to_kimai_local(begin, tz),
        "end": to_kimai_local(end, tz),
        "project": project_id,
        "activity": activity_id,
        "description": "\n".join(lines),
    }
    if user_id is not None:
        fields["user"] = user_id
    return fields


def current_fields(timesheet: Target, tz: tzinfo, with_user: bool) -> dict[str, Any]:
    """A Kimai timesheet in the same shape as timesheet_fields, for comparison."""
    fields = {
        "begin": to_kimai_local(parse_instant(timesheet["begin"]), tz),
        "end": to_kimai_local(parse_instant(timesheet["end"]), tz) if timesheet.get("end") else None,
        "project": timesheet["project"],
        "activity": timesheet["activity"],
        "description": timesheet.get("description") or "",
    }
    if with_user:
        fields["user"] = timesheet["user"]
    return fields


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    return [k for k in COMPARED if k in after and before.get(k) != after.get(k)]


def plan_entry(
    key: str,
    label: str,
    desired: dict[str, Any],
    version: str,
    link: Row | None,
    target: Target | None,
    current: dict[str, Any] | None,
    policy: str,
    scope: str,
    zone_name: str,
    needs: dict[str, Action] | None = None,
) -> Action:
    """One entry's action. `target` is its Kimai timesheet (found by link or marker), `current`
    that timesheet as fields; `link` what the store remembers (the fields last written);
    `version` the hash of the entry as Zammad has it now; `needs` the planned project whose id
    `desired` takes once it is created."""
    action = _plan_entry(key, label, desired, version, link, target, current, policy, scope, zone_name, needs)
    action.source_hash = version
    return action


def _plan_entry(
    key: str,
    label: str,
    desired: dict[str, Any],
    version: str,
    link: Row | None,
    target: Target | None,
    current: dict[str, Any] | None,
    policy: str,
    scope: str,
    zone_name: str,
    needs: dict[str, Action] | None,
) -> Action:
    if target is None:
        return Action(
            ActionKind.CREATE,
            key,
            "timesheet",
            label,
            scope,
            desired,
            needs=needs,
            detail=time_span(desired["begin"], desired["end"], zone_name),
        )
    assert current is not None, "a target comes with its current fields"
    if current == desired and not needs:
        linked = (
            link and link["state"] == "synced" and link["target_id"] == target["id"] and link["source_hash"] == version
        )
        return Action(
            ActionKind.UNCHANGED if linked else ActionKind.LINK,
            key,
            "timesheet",
            label,
            scope,
            desired,
            target_id=target["id"],
        )
    last = link["data"] if link and link.get("data") else None
    edited_in_kimai = last is not None and current != last
    keep = {"billable": target.get("billable", True), "exported": target.get("exported", False)}
    if edited_in_kimai:
        if last == desired:  # only Kimai changed: a person's edit stands
            return Action(
                ActionKind.KEEP,
                key,
                "timesheet",
                label,
                scope,
                current,
                target_id=target["id"],
                detail="edited in Kimai",
            )
        if policy == "kimai-wins":
            return Action(
                ActionKind.KEEP,
                key,
                "timesheet",
                label,
                scope,
                current,
                target_id=target["id"],
                detail="changed on both sides; Kimai wins",
            )
        if policy == "manual":
            return Action(
                ActionKind.CONFLICT,
                key,
                "timesheet",
                label,
                scope,
                desired,
                target_id=target["id"],
                before=current,
                last=last,
                detail=f"changed in Zammad and in Kimai ({', '.join(changed_fields(current, desired))})",
            )
    changed = [k for k in changed_fields(current, desired) if k != "description"]
    return Action(
        ActionKind.UPDATE,
        key,
        "timesheet",
        label,
        scope,
        desired,
        target_id=target["id"],
        before=current,
        keep=keep,
        needs=needs,
        detail=describe_changes(current, desired, changed, zone_name, needs) or "description changed",
    )


@dataclass(frozen=True)
class Options(JobOptions):
    date_from: str | None = None  # YYYY-MM-DD: only entries created from this day (Kimai's zone)
    date_to: str | None = None  # YYYY-MM-DD: ... up to and including this day
    ticket_ids: tuple[int, ...] = ()  # sync only these tickets (webhook)


ZammadOptions = Options  # its name inside ZammadKimaiJob, where the class attribute `Options` hides it


@dataclass
class TicketRead:
    ticket: Record
    entries: list[Record] = field(default_factory=list)
    error: str | None = None


@dataclass
class Selection:
    """What select finds in the entries read: the work (ticket, entry, its version) that needs a
    look at Kimai, the links whose entry is gone from Zammad, how many entries are synced as they
    are, and the tickets whose entries could not be read (result.fail's label, reason, scope)."""

    work: list[tuple[Record, Record, str]] = field(default_factory=list)
    orphans: list[Row] = field(default_factory=list)
    unchanged: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class References:
    """Zammad's activity types by id, Kimai's global activities by name and by id (read when one
    can be wanted), the agents' e-mails by Zammad user id (read when ZAMMAD_USER_MAP is set)."""

    type_names: dict[int | None, str] = field(default_factory=dict)
    activities: dict[str, int] = field(default_factory=dict)
    agents: dict[int, str] = field(default_factory=dict)


@dataclass
class ZammadRead:
    """What ZammadKimaiJob.read returns. The source: the tickets updated since the cursor (or the
    webhook's, or those of --from/--to) with their entries, the ticket ids Zammad does not know,
    the tickets skipped as unchanged. The target, read only when an entry or orphan needs a look:
    the references, Kimai's projects (and customers) when a project is found by marker, and the
    timesheets around the entries' days by marker."""

    tz: ZoneInfo
    window: Window | None
    links: Mapping[str, Row]
    tickets: list[TicketRead] = field(default_factory=list)  # the tickets whose entries were read
    complete: bool = True  # every page of the ticket search was read
    missing: list[int] = field(default_factory=list)  # webhook ticket ids not found in Zammad
    unchanged: set[int] = field(default_factory=set)  # tickets synced at their updated_at: entries not read
    references: References = field(default_factory=References)
    kimai: KimaiState = field(default_factory=KimaiState)
    timesheets: dict[str, Target] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass
class ZammadPlan:
    """Everything run() does after reading: results to record (failures, counts, warnings), the
    entries that cannot be mapped (each fails), the container and timesheet actions, and which
    cursors to save afterwards."""

    tickets: list[TicketRead] = field(default_factory=list)
    complete: bool = True
    failed: list[tuple[str, str, str | None]] = field(default_factory=list)  # result.fail(label, reason, scope)
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    unmapped: list[tuple[Action, str]] = field(default_factory=list)  # (create that cannot be made, why)
    containers: list[Action] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    save_versions: bool = False  # each ticket's updated_at, once its entries are synced
    save_cursor: bool = False  # the newest updated_at seen


@dataclass
class WindowRead:
    """What ZammadKimaiJob.read_window returns: the window in Kimai's local time, the Zammad
    entries created in it, the ids of the tickets read, the Kimai timesheets around it, and
    desired(ticket, entry) -> (the timesheet fields the mapping gives, minutes, why it cannot map or None)."""

    tz: ZoneInfo
    low: str
    high: str
    entries: list[tuple[Record, Record]]
    ticket_ids: set[int]
    timesheets: list[Record]
    desired: Callable[[Record, Record], tuple[dict[str, Any], int, str | None]]


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

    def __init__(
        self,
        settings: Settings,
        options: ZammadOptions,
        store: Store,
        counter: RequestCounter,
        result: Result,
        run_id: int | None = None,
    ) -> None:
        self.settings, self.opts, self.store, self.result, self.run_id = settings, options, store, result, run_id
        self.zammad = ZammadClient(settings, counter, options.dry_run)
        self.kimai = KimaiClient(settings, counter, options.dry_run)
        self.applier = Applier(JOB, store, run_id, options.workers, result, options.dry_run)
        self.per_unit = minutes_per_unit(settings.zammad_time_unit)
        self.activity_map = read_map(settings, "ZAMMAD_ACTIVITY_MAP")
        self.user_map = read_map(settings, "ZAMMAD_USER_MAP")
        for email, user in self.user_map.items():
            if not user.isdigit():
                raise ConfigError("ZAMMAD_USER_MAP", f"{email}: expected a Kimai user id (a number), got {user!r}")
        self.policy = settings.zammad_conflict_policy
        self.tz: ZoneInfo | None = None  # Kimai's time zone, read first by read() (or read_window)

    # -- read ---------------------------------------------------------------------------
    def read(self) -> ZammadRead:
        """Zammad first (the tickets, then the entries of those changed), then, only when an
        entry or orphan needs a look, the references and the Kimai state planning compares with."""
        self.zammad.me()  # fail fast (77 / 69) before reading anything
        me = self.kimai.me()
        self.tz = zone(self.settings.kimai_timezone or me.get("timezone") or "UTC")
        window = self.window()
        tickets, complete, missing = self.read_tickets(window)
        read = ZammadRead(self.tz, window, self.store.links(JOB), complete=complete, missing=missing)
        if not complete:
            read.warnings.append("MAX_PAGES reached; the remaining tickets are read next run")
        read.unchanged = {t["id"] for t in tickets if self.ticket_unchanged(t)}
        read.tickets = self.read_entries([t for t in tickets if t["id"] not in read.unchanged])
        selection = self.select(read.tickets, read.links, window)
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

    def read_tickets(self, window: Window | None) -> tuple[list[Record], bool, list[int]]:
        """(tickets, every search page read, the webhook's ticket ids Zammad does not know)."""
        if self.opts.ticket_ids:
            tickets: list[Record] = []
            missing: list[int] = []
            for ticket_id in self.opts.ticket_ids:
                try:
                    tickets.append(self.zammad.get_ticket(ticket_id))
                except NotFound:
                    missing.append(ticket_id)
            return tickets, True, missing
        since = window[0] if window else None
        cursor = None if (self.opts.full or window) else self.store.cursor(JOB, "tickets")
        if cursor:
            since = parse_instant(cursor) - OVERLAP
        # Elasticsearch query syntax: the colons inside the value must be escaped
        query = f"updated_at:>={since.strftime('%Y-%m-%dT%H:%M:%SZ').replace(':', chr(92) + ':')}" if since else "*"
        tickets, complete = self.zammad.search_tickets(query)
        return tickets, complete, []

    def ticket_unchanged(self, ticket: Record) -> bool:
        """The ticket's updated_at is the one all its entries were synced at (adding, changing or
        deleting time touches the ticket): no need to read its entries again."""
        if self.opts.full or self.opts.date_from or self.opts.date_to:
            return False
        return bool(self.store.cursor(JOB, f"ticket/{ticket['id']}") == ticket["updated_at"])

    def read_entries(self, tickets: Iterable[Record]) -> list[TicketRead]:
        def read(ticket: Record) -> TicketRead:
            try:
                return TicketRead(ticket, self.zammad.time_accountings(ticket["id"]))
            except SyncError as exc:
                if isinstance(exc, STOPS_RUN):
                    raise
                return TicketRead(ticket, error=f"zammad: {without_path(exc, 'reading its time accounting')}")

        with ThreadPoolExecutor(max_workers=self.opts.workers) as pool:
            return list(pool.map(read, tickets))

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
        wanted = self.wanted_projects(work, links)[0]
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
        selection = self.select(read.tickets, read.links, read.window)
        plan = ZammadPlan(read.tickets, read.complete, warnings=list(read.warnings))
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

    def select(self, reads: list[TicketRead], links: Mapping[str, Row], window: Window | None) -> Selection:
        """Entries that need a look at Kimai (new, changed, pending or failed), and links whose
        entry is gone from Zammad."""
        selection = Selection()
        for read in reads:
            ticket = read.ticket
            if read.error:
                selection.failed.append((f"ticket #{ticket.get('number')}", read.error, str(ticket["id"])))
                continue
            present: set[str] = set()
            for entry in read.entries:
                key = entry_marker(ticket["id"], entry["id"])
                present.add(key)
                if window and not window[0] <= parse_instant(entry["created_at"]) < window[1]:
                    continue
                link = links.get(key)
                version = content_hash({"entry": entry, "ticket": [ticket["number"], ticket["title"]]})
                if (
                    link
                    and link["state"] in ("synced", "kept")
                    and link["source_hash"] == version
                    and not self.opts.full
                ):
                    selection.unchanged += 1
                    continue
                selection.work.append((ticket, entry, version))
            prefix = ticket_marker(ticket["id"]) + "/time/"
            selection.orphans += [
                link
                for key, link in links.items()
                if key.startswith(prefix) and key not in present and link["state"] == "synced"
            ]
        return selection

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
        plan.actions += self.plan_orphans(selection.orphans, read.timesheets)
        plan.containers = containers.actions

    def resolve(self, entry: Record, refs: References) -> Resolution:
        """An entry's (activity id, user id, failure reason)."""
        type_id = entry.get("type_id")
        wanted: str | None = None
        if type_id is not None:
            wanted = self.activity_map.get(str(type_id)) or self.activity_map.get(refs.type_names.get(type_id, ""))
        wanted = wanted or self.settings.zammad_default_activity
        if not wanted:
            what = (
                f"activity type {refs.type_names.get(type_id, type_id)!r} is not in ZAMMAD_ACTIVITY_MAP"
                if type_id
                else "the entry has no activity type"
            )
            return None, None, f"{what} and ZAMMAD_DEFAULT_ACTIVITY is not set"
        activity_id = refs.activities.get(wanted)
        if activity_id is None:
            return None, None, f"Kimai has no global activity {wanted!r}"
        user_id = None
        if self.user_map:
            email = refs.agents.get(entry["created_by_id"], "")
            if email not in self.user_map:
                return None, None, f"agent {email or entry['created_by_id']} is not in ZAMMAD_USER_MAP"
            user_id = int(self.user_map[email])
        return activity_id, user_id, None

    def wanted_projects(
        self, work: Sequence[Entry], links: Mapping[str, Row]
    ) -> tuple[dict[str, tuple[str, str, str, str]], dict[str, ContainerRef], Callable[[Record], str]]:
        """(marker -> (name, comment, customer, scope) of each project to find or make, marker ->
        project already known, ticket -> marker)."""
        strategy = self.settings.zammad_project_strategy
        default_customer = self.settings.kimai_customer or DEFAULT_CUSTOMER
        wanted: dict[str, tuple[str, str, str, str]] = {}
        refs: dict[str, ContainerRef] = {}
        if strategy == "fixed":
            self.settings.require("ZAMMAD_PROJECT")
            name = self.settings.zammad_project
            key = name if name.isdigit() else f"zammad:project/{name}"
            if name.isdigit():
                refs[key] = int(name)
            else:
                wanted[key] = (name, key, default_customer, name)
            return wanted, refs, lambda ticket: key
        for ticket, _, _ in work:
            key, link = ticket_marker(ticket["id"]), links.get(ticket_marker(ticket["id"]))
            if link and link["state"] == "synced" and not self.opts.full:
                refs[key] = link["target_id"]  # linked before: no need to list the projects
            elif key not in wanted:
                customer = (ticket.get("organization") if strategy == "organization" else None) or default_customer
                wanted[key] = (f"#{ticket['number']} {ticket['title']}", key, customer, f"ticket #{ticket['number']}")
        return wanted, refs, lambda ticket: ticket_marker(ticket["id"])

    def plan_projects(
        self, work: Sequence[Entry], links: Mapping[str, Row], state: KimaiState
    ) -> tuple[Containers, Callable[[Record], ContainerRef]]:
        """(Containers, ticket -> project): the Kimai project of each ticket's entries, an id or
        the planned create (and its customer's), from the projects read (`state`)."""
        wanted, refs, key_of = self.wanted_projects(work, links)
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
        tickets, complete, _ = self.read_tickets(window)
        if not complete:
            self.result.warnings.append("MAX_PAGES reached; the remaining tickets are read next run")
        reads = self.read_entries(tickets)
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

    def plan_orphans(self, orphans: list[Row], existing: Mapping[str, Target]) -> list[Action]:
        actions: list[Action] = []
        for link in orphans:
            target = existing.get(link["source_key"])
            label = link["source_key"].replace("zammad:ticket/", "ticket ")
            if target is None:
                continue
            if self.settings.zammad_delete_policy == "delete":
                actions.append(
                    Action(
                        ActionKind.DELETE,
                        link["source_key"],
                        "timesheet",
                        label,
                        "",
                        link["data"] or {},
                        target_id=target["id"],
                        before=link["data"],
                        detail="deleted in Zammad",
                    )
                )
            else:
                actions.append(
                    Action(
                        ActionKind.REPORT,
                        link["source_key"],
                        "timesheet",
                        label,
                        "",
                        link["data"] or {},
                        target_id=target["id"],
                        detail="deleted in Zammad; timesheet kept (ZAMMAD_DELETE_POLICY=report)",
                    )
                )
        return actions

    # -- apply ----------------------------------------------------------------------------
    def apply(self, plan: ZammadPlan) -> None:
        """Records what the read found (failures, counts, warnings), fails the entries that cannot
        be mapped, sends the plan to the applier whole (it writes the changes and records the rest:
        links, kept edits, conflicts, entries deleted in Zammad), then saves the cursors."""
        for label, reason, scope in plan.failed:
            self.result.fail(label, reason, scope=scope)
        for key, count in plan.counts.items():
            self.result.counts[key] += count
        self.result.warnings += plan.warnings
        for action, reason in plan.unmapped:
            self.applier.fail(action, reason)
        if plan.containers or plan.actions:
            ContainerWriter(self.kimai, self.settings, self.applier).apply(
                plan.containers, plan.actions, self.write, self.reread
            )
        if plan.save_versions:
            self.save_ticket_versions(plan.tickets)
        if plan.save_cursor:
            self.save_cursor(plan.tickets, plan.complete)

    def write(self, action: Action) -> Target:
        f = dict(action.fields)
        if action.kind == ActionKind.CREATE:
            f.update(tags=TAG, billable=True, exported=False)
            return self.kimai.create_timesheet(f)
        assert action.target_id is not None, "updates and deletes act on a timesheet found"
        if action.kind == ActionKind.DELETE:
            self.kimai.delete_timesheet(action.target_id)
            return {"id": action.target_id}
        assert action.keep is not None, "an update repeats the values Kimai would reset"
        return self.kimai.update_timesheet(action.target_id, {**f, **action.keep})

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

"""Zammad -> Kimai planning, without I/O: what ZammadKimaiJob reads (TicketRead, References,
ZammadRead, WindowRead) and plans (Selection, ZammadPlan), the entries that need a look
(select_entries), the timesheet an entry maps to (timesheet_fields) and its action (plan_entry),
and the orphans' actions (plan_orphans). The job (zammad_kimai.py) does the requests and writes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..clients import Record
from ..errors import ConfigError
from ..store_queries import Row
from ..timeutil import parse_instant, to_kimai_local
from .base import Action, PlanOutcome, Target, content_hash
from .kimai_targets import ContainerRef, KimaiState, plan_source_deleted, time_span
from .timesheet_plan import plan_synced_timesheet

if TYPE_CHECKING:
    from ..config import Settings

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
    return plan_synced_timesheet(
        (key, label, scope),
        desired,
        version,
        link,
        target,
        current,
        policy,
        zone_name,
        "Zammad",
        needs,
        time_span(desired["begin"], desired["end"], zone_name),
    )


@dataclass
class TicketRead:
    ticket: Record
    entries: list[Record] = field(default_factory=list)
    error: str | None = None
    deleted: bool = False  # its entries were not found, and Zammad confirmed the ticket is gone (404)


@dataclass
class Selection:
    """What select finds in the entries read: the work (ticket, entry, its version) that needs a
    look at Kimai, the links whose entry is gone from Zammad, how many entries are synced as they
    are, the tickets whose entries could not be read (result.fail's label, reason, scope), and
    the tickets deleted outright."""

    work: list[tuple[Record, Record, str]] = field(default_factory=list)
    orphans: list[Row] = field(default_factory=list)
    unchanged: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    deleted: set[int] = field(default_factory=set)  # the tickets deleted outright


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
    missing: list[int] = field(
        default_factory=list
    )  # webhook ticket ids not found in Zammad (none of their time synced)
    deleted: set[int] = field(default_factory=set)  # linked tickets Zammad answered 404 for: deleted outright
    unchanged: set[int] = field(default_factory=set)  # tickets synced at their updated_at: entries not read
    references: References = field(default_factory=References)
    kimai: KimaiState = field(default_factory=KimaiState)
    timesheets: dict[str, Target] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass
class ZammadPlan(PlanOutcome):
    """Everything run() does after reading: results to record (failures, counts, warnings), the
    entries that cannot be mapped (each fails), the container and timesheet actions, and which
    cursors to save afterwards."""

    tickets: list[TicketRead] = field(default_factory=list)
    complete: bool = True
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


def gone_from_source(link: Row, delete_policy: str) -> bool:
    """Whether a link whose source item is gone needs a look: every state but deleted (synced,
    kept after a conflict settled for the target, pending, failed), and orphaned (reported
    once) when the policy is now delete."""
    return link["state"] != "deleted" and (link["state"] != "orphaned" or delete_policy == "delete")


def entry_links_by_ticket(links: Mapping[str, Row]) -> dict[int, list[Row]]:
    """The entry links (`zammad:ticket/{id}/time/{entry}`) by ticket id."""
    found: dict[int, list[Row]] = {}
    for key, link in links.items():
        match = ENTRY_MARKER.match(key)
        if match:
            found.setdefault(int(match.group(1)), []).append(link)
    return found


def linked_tickets(links: Mapping[str, Row]) -> set[int]:
    """The tickets with time synced whose deletion would still change something: those with an
    entry link neither deleted nor already reported gone (orphaned)."""
    found: set[int] = set()
    for key, link in links.items():
        match = ENTRY_MARKER.match(key)
        if match and link["state"] not in ("deleted", "orphaned"):
            found.add(int(match.group(1)))
    return found


def select_entries(
    reads: list[TicketRead],
    links: Mapping[str, Row],
    window: Window | None,
    full: bool,
    delete_policy: str = "report",
    deleted: Collection[int] = (),
) -> Selection:
    """Entries that need a look at Kimai (new, changed, pending or failed), and links whose
    entry is gone from Zammad (gone_from_source): an entry missing from its ticket's list, or
    every entry of a ticket deleted outright (`deleted`: Zammad answered 404 for it)."""
    selection = Selection()
    selection.deleted = set(deleted) | {read.ticket["id"] for read in reads if read.deleted}
    by_ticket = entry_links_by_ticket(links)  # once: a scan of every link per ticket read grows as their product
    for ticket_id in sorted(selection.deleted):
        selection.orphans += [link for link in by_ticket.get(ticket_id, ()) if gone_from_source(link, delete_policy)]
    for read in reads:
        ticket = read.ticket
        if read.deleted:
            continue  # its links come with `deleted`
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
            if link and link["state"] in ("synced", "kept") and link["source_hash"] == version and not full:
                selection.unchanged += 1
                continue
            selection.work.append((ticket, entry, version))
        selection.orphans += [
            link
            for link in by_ticket.get(ticket["id"], ())
            if link["source_key"] not in present and gone_from_source(link, delete_policy)
        ]
    if delete_policy == "delete":  # reported earlier under report: known gone, whether or not its ticket was read
        chosen = {link["source_key"] for link in selection.orphans}
        selection.orphans += [
            link
            for key, link in links.items()
            if link["state"] == "orphaned" and link["target_type"] == "timesheet" and key not in chosen
        ]
    return selection


def plan_orphans(
    orphans: list[Row], existing: Mapping[str, Target], delete_policy: str, deleted_tickets: Collection[int] = ()
) -> list[Action]:
    """The actions for links whose entry is gone from Zammad: a delete (ZAMMAD_DELETE_POLICY=delete)
    or a report of the timesheet still in Kimai, or the link settled when the timesheet is gone too.
    The entries of a ticket deleted outright (`deleted_tickets`) say so."""
    actions = []
    for link in orphans:
        match = ENTRY_MARKER.match(link["source_key"])
        what = "ticket deleted in Zammad" if match and int(match.group(1)) in deleted_tickets else "deleted in Zammad"
        actions.append(
            plan_source_deleted(
                link,
                existing.get(link["source_key"]),
                delete_policy,
                link["source_key"].replace("zammad:ticket/", "ticket "),
                what,
                f"{what}; timesheet kept (ZAMMAD_DELETE_POLICY=report)",
            )
        )
    return actions


def resolve_entry(
    entry: Record,
    refs: References,
    activity_map: Mapping[str, str],
    user_map: Mapping[str, str],
    default_activity: str | None,
) -> Resolution:
    """An entry's (activity id, user id, failure reason)."""
    type_id = entry.get("type_id")
    wanted: str | None = None
    if type_id is not None:
        wanted = activity_map.get(str(type_id)) or activity_map.get(refs.type_names.get(type_id, ""))
    wanted = wanted or default_activity
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
    if user_map:
        email = refs.agents.get(entry["created_by_id"], "")
        if email not in user_map:
            return None, None, f"agent {email or entry['created_by_id']} is not in ZAMMAD_USER_MAP"
        user_id = int(user_map[email])
    return activity_id, user_id, None


def wanted_projects(
    work: Sequence[Entry], links: Mapping[str, Row], settings: Settings, full: bool
) -> tuple[dict[str, tuple[str, str, str, str]], dict[str, ContainerRef], Callable[[Record], str]]:
    """(marker -> (name, comment, customer, scope) of each project to find or make, marker ->
    project already known, ticket -> marker)."""
    strategy = settings.zammad_project_strategy
    default_customer = settings.kimai_customer or DEFAULT_CUSTOMER
    wanted: dict[str, tuple[str, str, str, str]] = {}
    refs: dict[str, ContainerRef] = {}
    if strategy == "fixed":
        settings.require("ZAMMAD_PROJECT")
        name = settings.zammad_project
        key = name if name.isdigit() else f"zammad:project/{name}"
        if name.isdigit():
            refs[key] = int(name)
        else:
            wanted[key] = (name, key, default_customer, name)
        return wanted, refs, lambda ticket: key
    for ticket, _, _ in work:
        key, link = ticket_marker(ticket["id"]), links.get(ticket_marker(ticket["id"]))
        if link and link["state"] == "synced" and not full:
            refs[key] = link["target_id"]  # linked before: no need to list the projects
        elif key not in wanted:
            customer = (ticket.get("organization") if strategy == "organization" else None) or default_customer
            wanted[key] = (f"#{ticket['number']} {ticket['title']}", key, customer, f"ticket #{ticket['number']}")
    return wanted, refs, lambda ticket: ticket_marker(ticket["id"])

"""The rows an import hands over and their planning, without I/O: ImportEntry (one source row)
and its version (source_version), SourceRead, IMPORT_MAP (read_import_map, kimai_names,
kimai_user), the Kimai containers and timesheet a row maps to (plan_references, timesheet_fields)
and its action (plan_timesheet), which rows need a look (pending), and what ImportJob reads and
plans (ImportRead, ImportPlan). The job (imports.py) does the requests and writes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..config import read_map
from ..errors import ConfigError
from ..store_queries import Row
from ..timeutil import parse_instant, to_kimai_local
from .base import Action, ActionKind, Target, content_hash
from .kimai_targets import ContainerRef, Containers, KimaiState, describe_changes, kimai_safe_name, time_span

if TYPE_CHECKING:
    from ..config import Settings

ImportMap = dict[str, dict[str, str]]  # IMPORT_MAP: kind (customer, project, activity, user) -> source name -> Kimai
Problem = tuple[int | None, str, str]  # (line or None, item, reason): a row skipped or refused

TAG = "import"
MAP_KINDS = ("customer", "project", "activity", "user")


def source_version(*parts: Any) -> tuple[str, str | None]:
    """(version, earlier version or None) of a source row as read, for change detection: the
    content_hash of its parts (datetimes as str). Stores written before the imports used
    content_hash hold the same value, except for text beyond ASCII, which was hashed \\u-escaped:
    that earlier value is returned too while it differs, so those links still count as current."""
    values = [str(p) if isinstance(p, datetime) else p for p in parts]
    version = content_hash(values)
    escaped = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]
    return version, (escaped if escaped != version else None)


@dataclass(frozen=True, slots=True)
class ImportEntry:
    """One source row, in source terms, as every source hands it over (a Toggl or Harvest entry, a
    checked CSV row). begin/end are aware instants."""

    key: str  # origin marker: toggl:123, harvest:456, csv:<hash>
    label: str  # how people name it: "toggl 123", "line 14"
    begin: datetime
    end: datetime
    project: str
    activity: str
    customer: str | None = None
    description: str = ""
    tags: tuple[str, ...] = ()
    billable: bool = True
    user: str | None = None  # a source user (e-mail, name or id), mapped through IMPORT_MAP user: lines
    version: str = ""  # hash of the source row as read (source_version)
    line: int | None = None  # CSV line number (header = line 1)
    earlier_version: str | None = None  # the hash stores written before source_version hold, where it differs

    def is_version(self, stored: str | None) -> bool:
        """Whether a link's stored hash is this row's version (or its earlier one)."""
        return stored is not None and stored in (self.version, self.earlier_version)


@dataclass
class SourceRead:
    """What a source read hands over: its rows (`entries`, then the lazy `batches` that a source
    streams page by page or from a file), what it reports deleted or skipped, and the facts about
    the read that the end of a run needs (cursor, floor, complete, a covered date range)."""

    entries: list[ImportEntry] = field(default_factory=list)
    batches: Iterable[list[ImportEntry]] | None = None  # more rows, read while they are imported: bounded memory
    deleted: list[str] = field(default_factory=list)  # markers the source reports deleted
    skipped: list[Problem] = field(default_factory=list)  # (line, item, reason): running, invalid, ...
    invalid: list[Problem] = field(default_factory=list)  # (line, item, reason): rows the source refuses; none
    # is imported unless Options.skip_invalid
    complete: bool = True
    parameters: dict[str, Any] = field(default_factory=dict)
    file_sha256: str | None = None
    cursor: str | None = None  # new change cursor once the run succeeds (from the server's clock)
    floor: str | None = None  # a window read while no change cursor exists: its first day
    closing: bool = True  # the run's last part: deletions, the orphaned sweep, skipped rows and the cursor
    rows: int | None = None  # how many valid rows the source holds, when known before they are handed over
    seen: set[str] | None = None  # a date-range read: the marker of every entry that came back (running too)
    covers: Callable[[datetime], bool] | None = None  # set once a date-range read ended complete: whether an
    # entry beginning at this instant would have come back; a linked one that did not was deleted at the source


def read_import_map(settings: Settings) -> ImportMap:
    """IMPORT_MAP: {'customer': {...}, 'project': {...}, 'activity': {...}, 'user': {...}}."""
    mapping: ImportMap = {kind: {} for kind in MAP_KINDS}
    for left, right in read_map(settings, "IMPORT_MAP").items():
        kind, sep, name = left.partition(":")
        if not sep or kind.strip() not in MAP_KINDS:
            raise ConfigError(
                "IMPORT_MAP", f"{left!r}: expected customer:, project:, activity: or user: before the name"
            )
        mapping[kind.strip()][name.strip()] = right
    return mapping


def timesheet_fields(
    entry: ImportEntry, tz: tzinfo, project_id: int | None, activity_id: int | None, user_id: int | None
) -> dict[str, Any]:
    description = "\n".join(part for part in (entry.key, entry.description) if part)
    fields = {
        "begin": to_kimai_local(entry.begin, tz),
        "end": to_kimai_local(entry.end, tz),
        "project": project_id,
        "activity": activity_id,
        "description": description,
        "tags": ",".join([TAG, *entry.tags]),
        "billable": bool(entry.billable),
    }
    if user_id is not None:
        fields["user"] = user_id
    return fields


def current_fields(sheet: Target, tz: tzinfo, with_user: bool) -> dict[str, Any]:
    fields = {
        "begin": to_kimai_local(parse_instant(sheet["begin"]), tz),
        "end": to_kimai_local(parse_instant(sheet["end"]), tz) if sheet.get("end") else None,
        "project": sheet["project"],
        "activity": sheet["activity"],
        "description": sheet.get("description") or "",
        "tags": ",".join(sheet.get("tags") or []),
        "billable": bool(sheet.get("billable")),
    }
    if with_user:
        fields["user"] = sheet["user"]
    return fields


def same_tags(a: str, b: str) -> bool:
    return sorted(filter(None, a.split(","))) == sorted(filter(None, b.split(",")))


def plan_timesheet(
    entry: ImportEntry,
    desired: dict[str, Any],
    link: Row | None,
    target: Target | None,
    current: dict[str, Any] | None,
    zone_name: str,
    needs: dict[str, Action] | None = None,
) -> Action:
    """create / update / unchanged / link for one row; the source wins on a change. `needs`: the
    planned containers (project, activity) whose ids `desired` takes once they are created.
    `current`: `target` as fields (current_fields), given with it."""
    scope = entry.project
    if target is None:
        return Action(
            ActionKind.CREATE,
            entry.key,
            "timesheet",
            entry.label,
            scope,
            desired,
            source_hash=entry.version,
            needs=needs,
            detail=f"{time_span(desired['begin'], desired['end'], zone_name)}, {entry.project} / {entry.activity}",
        )
    assert current is not None, "a target comes with its current fields"
    if not needs and {**current, "tags": ""} == {**desired, "tags": ""} and same_tags(current["tags"], desired["tags"]):
        linked = (
            link
            and link["state"] == "synced"
            and link["target_id"] == target["id"]
            and entry.is_version(link["source_hash"])
        )
        return Action(
            ActionKind.UNCHANGED if linked else ActionKind.LINK,
            entry.key,
            "timesheet",
            entry.label,
            scope,
            desired,
            target_id=target["id"],
            source_hash=entry.version,
        )
    changed = [
        k for k in desired if k not in ("description", "tags") and (current.get(k) != desired[k] or k in (needs or {}))
    ]
    return Action(
        ActionKind.UPDATE,
        entry.key,
        "timesheet",
        entry.label,
        scope,
        desired,
        target_id=target["id"],
        before=current,
        source_hash=entry.version,
        keep={"exported": bool(target.get("exported"))},
        needs=needs,
        detail=describe_changes(current, desired, changed, zone_name, needs) or "description or tags changed",
    )


def kimai_names(entry: ImportEntry, mapping: ImportMap, default_customer: str) -> tuple[str, str, str]:
    """(customer, project, activity): the Kimai names an entry maps to (IMPORT_MAP, safe names)."""
    customer = mapping["customer"].get(entry.customer, entry.customer) if entry.customer else default_customer
    return (
        kimai_safe_name(customer),
        kimai_safe_name(mapping["project"].get(entry.project, entry.project)),
        kimai_safe_name(mapping["activity"].get(entry.activity, entry.activity)),
    )


def kimai_user(entry: ImportEntry, mapping: ImportMap) -> tuple[int | None, str | None]:
    """(Kimai user id or None, failure reason or None)."""
    if not entry.user:
        return None, None
    mapped = mapping["user"].get(entry.user, entry.user)
    if not str(mapped).isdigit():
        return None, f"user {entry.user!r} is not mapped to a Kimai user id (IMPORT_MAP user: lines)"
    return int(mapped), None


def plan_references(
    entries: Iterable[ImportEntry],
    mapping: ImportMap,
    default_customer: str,
    containers: Containers,
    create_missing: bool,
) -> tuple[dict[str, tuple[ContainerRef, ContainerRef, int | None]], dict[str, str]]:
    """{entry key: (project, activity, user id)} for the entries that can be imported (project
    and activity: an id, or the planned create in `containers`), and {entry key: reason} for the
    others. Pure: `containers` holds the Kimai state read before."""
    refs: dict[str, tuple[ContainerRef, ContainerRef, int | None]] = {}
    reasons: dict[str, str] = {}
    for entry in entries:
        user, reason = kimai_user(entry, mapping)
        if reason:
            reasons[entry.key] = reason
            continue
        customer, project_name, activity_name = kimai_names(entry, mapping, default_customer)
        project = containers.project(project_name, customer, any_customer=not entry.customer, create=create_missing)
        if project is None:
            reasons[entry.key] = (
                f"Kimai has no project {project_name!r} (customer {customer!r}); map it in IMPORT_MAP "
                "or use --create-missing"
            )
            continue
        activity = containers.activity(activity_name, project, create=create_missing)
        if activity is None:
            reasons[entry.key] = (
                f"Kimai has no activity {activity_name!r} (global or of project {project_name!r}); "
                "map it in IMPORT_MAP or use --create-missing"
            )
            continue
        refs[entry.key] = (project, activity, user)
    return refs, reasons


@dataclass
class ImportRead:
    """What an import read: the source's rows and, of Kimai, what planning them needs."""

    source: SourceRead
    tz: ZoneInfo  # Kimai's time zone
    links: Mapping[str, Row] = field(default_factory=dict)  # the job's store links, by marker
    kimai: KimaiState | None = None  # None: no row to import or delete, Kimai not asked
    timesheets: dict[str, Target] = field(default_factory=dict)  # the Kimai timesheets found, by marker
    warnings: list[str] = field(default_factory=list)  # heard while reading: a marker on several timesheets


@dataclass
class ImportPlan:
    """Everything an import does, computed without I/O: rows counted as skipped or unchanged,
    rows refused, containers to create, then timesheets to create, update, link, delete or report."""

    skipped: list[Problem] = field(default_factory=list)  # logged and counted
    invalid: list[Problem] = field(default_factory=list)  # under --skip-invalid: counted, listed, exit 3
    unchanged: int = 0  # rows whose imported version is current: no Kimai request
    warnings: list[str] = field(default_factory=list)
    refused: list[tuple[Action, str]] = field(default_factory=list)  # rows not imported, and why
    containers: list[Action] = field(default_factory=list)
    timesheets: list[Action] = field(default_factory=list)
    all_users: bool = False  # the timesheets name their user: a re-read lists every user's
    cursor: str | None = None  # saved once the plan is applied without failure
    floor: str | None = None  # saved by a window while no change cursor exists: where a plain run reads from


def is_current(entry: ImportEntry, link: Row | None) -> bool:
    """Whether the row's link says this version of it is imported."""
    return link is not None and link["state"] == "synced" and entry.is_version(link["source_hash"])


def gone_from_source(link: Row, delete_policy: str) -> bool:
    """Whether a link whose source row is reported deleted needs a look: every state but deleted
    (synced, pending, failed), and orphaned (reported once) when the policy is now delete."""
    return link["state"] != "deleted" and (link["state"] != "orphaned" or delete_policy == "delete")


def pending(
    source: SourceRead, links: Mapping[str, Row], full: bool, delete_policy: str = "report"
) -> tuple[list[ImportEntry], int, list[Row]]:
    """(the rows to import, how many are current, the links of rows deleted at the source that
    need a look: gone_from_source, and under the delete policy every orphaned one): a row is
    current when its link holds its version (unless --full)."""
    work = [entry for entry in source.entries if full or not is_current(entry, links.get(entry.key))]
    deleted = [links[k] for k in source.deleted if k in links and gone_from_source(links[k], delete_policy)]
    if delete_policy == "delete" and source.closing:  # reported earlier under report: known gone, listed again or not
        chosen = {link["source_key"] for link in deleted}
        deleted += [
            link
            for key, link in links.items()
            if link["state"] == "orphaned" and link["target_type"] == "timesheet" and key not in chosen
        ]
    return work, len(source.entries) - len(work), deleted


Desired = dict[str, tuple[ImportEntry, dict[str, Any], dict[str, Action] | None]]  # key -> (row, fields, needs)

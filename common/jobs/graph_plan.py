"""Outlook (Microsoft Graph) -> Kimai planning, without I/O: a Graph event as the store keeps it
(event_row), what a stored event asks of Kimai (wanted: a timesheet, or why not), and the action
for it (plan_timesheet). The job (graph_kimai.py) does the requests and the writes.

An event becomes a timesheet when it has ended, GRAPH_SKIP does not exclude it, and its categories
name one project (graph_categories.py). The hash of what it maps to (UTC instants and Kimai names)
is its version: an event whose version is the one last synced costs no request at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..graph_categories import CategoryMap
from ..store_queries import Row
from ..timeutil import to_kimai_local
from ..windows_zones import windows_to_iana
from .base import Action, Target, content_hash
from .kimai_targets import plan_source_deleted, wall_clock
from .timesheet_plan import plan_synced_timesheet

JOB = "graph-kimai"
TAG = "outlook"
PRIVATE_TEXT = "Private appointment"
PRIVATE = ("private", "confidential")
UTC_TEXT = "%Y-%m-%dT%H:%M:%SZ"
MAX_ID = 1024  # Graph ids are about 150 characters; anything far longer is not one
MAX_TEXT = 1024
GRAPH_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d{1,9})?")
SAFE_ID = re.compile(r"[A-Za-z0-9+/=_\-.]+")


class InvalidEvent(ValueError):
    """A Graph event that cannot be stored (the reason names the field)."""


def event_marker(mailbox: str, event_id: str) -> str:
    """The origin marker: the first line of the timesheet's description."""
    return f"graph:{mailbox}/{event_id}"


def short_marker(mailbox: str, event_id: str) -> str:
    """The marker as plan lines show it: a long Graph id shortened to its first and last characters."""
    shown = event_id if len(event_id) <= 20 else f"{event_id[:6]}…{event_id[-8:]}"
    return f"graph:{mailbox}/{shown}"


def mailbox_zone(name: str | None) -> ZoneInfo | None:
    """A mailbox's time zone (mailboxSettings.timeZone: a Windows name, mapped with the CLDR
    table's 001 row, or an IANA id) as a ZoneInfo; None when neither knows it."""
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        return None
    iana = windows_to_iana(name.strip()) or name.strip()
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def utc_text(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime(UTC_TEXT)


def _graph_time(value: Any, what: str, zone: ZoneInfo, all_day: bool) -> datetime:
    """A Graph dateTimeTimeZone ({"dateTime": "2026-11-03T08:00:00.0000000", "timeZone": "UTC"}) as
    an aware UTC instant. All-day events are dates: their midnight in the mailbox's zone."""
    if not isinstance(value, Mapping) or not isinstance(value.get("dateTime"), str):
        raise InvalidEvent(f"{what}: expected a dateTimeTimeZone")
    match = GRAPH_TIME.fullmatch(value["dateTime"].strip())
    if not match:
        raise InvalidEvent(f"{what}: unreadable time {value['dateTime'][:40]!r}")
    try:
        day = date.fromisoformat(match.group(1))
        if all_day:
            return datetime.combine(day, time(0), zone).astimezone(UTC)
        local = datetime.fromisoformat(f"{match.group(1)}T{match.group(2)}")
    except ValueError:
        raise InvalidEvent(f"{what}: unreadable time {value['dateTime'][:40]!r}") from None
    source = value.get("timeZone") or "UTC"
    if not isinstance(source, str):
        raise InvalidEvent(f"{what}: timeZone is not a text")
    tz = UTC if source.strip().upper() in ("UTC", "ETC/UTC", "GMT") else mailbox_zone(source)
    if tz is None:
        raise InvalidEvent(f"{what}: unknown time zone {source[:60]!r}")
    return local.replace(tzinfo=tz).astimezone(UTC)


def _text(event: Mapping[str, Any], key: str, limit: int = MAX_TEXT) -> str | None:
    value = event.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEvent(f"{key}: expected a text")
    return value[:limit]


def event_row(event: Mapping[str, Any], zone: ZoneInfo) -> Row:
    """A Graph event (as calendarView/delta gives it, times in UTC) as a graph_events row
    (store_graph.EVENT_COLUMNS). Every value is type-checked: InvalidEvent names the field."""
    event_id = event.get("id")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_ID or not SAFE_ID.fullmatch(event_id):
        raise InvalidEvent("id: missing or not a Graph id")
    all_day = event.get("isAllDay") is True
    start = _graph_time(event.get("start"), "start", zone, all_day)
    end = _graph_time(event.get("end"), "end", zone, all_day)
    if end < start:
        raise InvalidEvent("end: before start")
    categories = event.get("categories") or []
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        raise InvalidEvent("categories: expected a list of texts")
    response = event.get("responseStatus") or {}
    organizer = (
        ((event.get("organizer") or {}).get("emailAddress") or {}) if isinstance(event.get("organizer"), dict) else {}
    )
    return {
        "event_id": event_id,
        "ical_uid": _text(event, "iCalUId"),
        "type": _text(event, "type", 40),
        "series_master_id": _text(event, "seriesMasterId"),
        "subject": _text(event, "subject"),
        "start_utc": utc_text(start),
        "end_utc": utc_text(end),
        "is_all_day": all_day,
        "time_zone": zone.key,
        "show_as": _text(event, "showAs", 40),
        "response": _text(response, "response", 40) if isinstance(response, Mapping) else None,
        "sensitivity": _text(event, "sensitivity", 40),
        "is_cancelled": event.get("isCancelled") is True,
        "categories": [c[:255] for c in categories[:50]],
        "organizer": _text(organizer, "address", 320) if isinstance(organizer, Mapping) else None,
        "last_modified": _text(event, "lastModifiedDateTime", 40),
        "change_key": _text(event, "changeKey", 200),
    }


@dataclass(frozen=True)
class Rules:
    """The settings planning applies (GRAPH_SKIP, GRAPH_PRIVATE, maps, policies)."""

    categories: CategoryMap = field(default_factory=CategoryMap)
    skip: frozenset[str] = frozenset({"declined", "cancelled", "free", "all-day"})
    private: str = "redact"  # or skip
    default_activity: str | None = None
    user_map: Mapping[str, int] = field(default_factory=dict)  # lower-cased mailbox -> Kimai user id
    delete_policy: str = "report"
    conflict_policy: str = "manual"


@dataclass
class Wanted:
    """The timesheet an event asks for, before Kimai's ids: UTC instants, Kimai names."""

    key: str
    label: str
    scope: str  # the mailbox
    begin: datetime
    end: datetime
    project: str
    activity: str
    description: str
    user: int | None
    version: str


@dataclass
class Decision:
    """What a stored event asks of Kimai: `wanted` (a timesheet), or nothing, with why:
    kind skip (not a timesheet, nothing to report), gone (removed at the source, cancelled, or no
    longer a timesheet: its timesheet follows GRAPH_DELETE_POLICY) or fail (reported, exit 3)."""

    key: str
    label: str
    kind: str  # wanted, skip, gone, fail
    reason: str = ""
    wanted: Wanted | None = None


def label_of(row: Row) -> str:
    return short_marker(row["mailbox"], row["event_id"])


def decide(row: Row, rules: Rules, now: datetime) -> Decision:
    """What one stored event asks of Kimai (see Decision)."""
    key, label = event_marker(row["mailbox"], row["event_id"]), label_of(row)
    if row.get("deleted_at"):
        return Decision(key, label, "gone", "deleted in Outlook")
    if row.get("type") == "seriesMaster":
        return Decision(key, label, "skip", "a series master (its occurrences are the events)")
    skip = rules.skip
    if row.get("is_cancelled") and "cancelled" in skip:
        return Decision(key, label, "gone", "cancelled in Outlook")
    reasons = [
        ("all-day", bool(row.get("is_all_day")), "an all-day event"),
        ("declined", row.get("response") == "declined", "declined"),
        ("tentative", row.get("response") == "tentativelyAccepted", "tentatively accepted"),
        ("free", row.get("show_as") == "free", "shown as free"),
    ]
    for word, applies, reason in reasons:
        if applies and word in skip:
            return Decision(key, label, "gone", f"{reason} (GRAPH_SKIP)")
    private = row.get("sensitivity") in PRIVATE
    if private and rules.private == "skip":
        return Decision(key, label, "gone", "private (GRAPH_PRIVATE=skip)")
    begin, end = _instant(row["start_utc"]), _instant(row["end_utc"])
    if end > now:
        return Decision(key, label, "gone", "not ended yet")
    resolution = rules.categories.resolve(row.get("categories") or [])
    if resolution.is_ambiguous:
        return Decision(key, key, "fail", resolution.problem() or "ambiguous")
    if not resolution.project:
        return Decision(key, label, "gone", "no category names a project")
    activity = resolution.activity or rules.default_activity
    if not activity:
        return Decision(key, key, "fail", "no category names an activity and GRAPH_DEFAULT_ACTIVITY is not set")
    user = None
    if rules.user_map:
        user = rules.user_map.get(row["mailbox"].lower())
        if user is None:
            return Decision(key, key, "fail", f"mailbox {row['mailbox']} is not in GRAPH_USER_MAP")
    subject = PRIVATE_TEXT if private else " ".join((row.get("subject") or "").split()) or "(no subject)"
    description = f"{key}\n{subject}"
    version = content_hash(
        [row["start_utc"], row["end_utc"], resolution.project.casefold(), activity.casefold(), description, user]
    )
    wanted = Wanted(key, label, row["mailbox"], begin, end, resolution.project, activity, description, user, version)
    return Decision(key, label, "wanted", wanted=wanted)


def _instant(text: str) -> datetime:
    return datetime.strptime(text, UTC_TEXT).replace(tzinfo=UTC)


def repeated_hour(instant: datetime, tz: tzinfo) -> bool:
    """Whether the instant's wall-clock time in `tz` happens twice (the hour repeated when clocks go
    back): Kimai's offset-less API cannot say which one is meant."""
    local = instant.astimezone(tz).replace(tzinfo=None)
    return local.replace(tzinfo=tz, fold=0).utcoffset() != local.replace(tzinfo=tz, fold=1).utcoffset()


@dataclass
class KimaiNames:
    """Kimai's projects and activities (read once), to resolve the names categories give."""

    projects: list[Target] = field(default_factory=list)
    activities: list[Target] = field(default_factory=list)

    def project(self, name: str) -> tuple[int | None, str | None]:
        """(id, None) or (None, why): by id, else by name (case-insensitive, a visible one first)."""
        if name.isdigit() and any(p["id"] == int(name) for p in self.projects):
            return int(name), None
        found = [p for p in self.projects if str(p.get("name", "")).casefold() == name.casefold()]
        visible = [p for p in found if p.get("visible", True)]
        found = visible or found
        if not found:
            return None, f"Kimai has no project {name!r}"
        if len(found) > 1:
            return None, f"Kimai has {len(found)} projects named {name!r} (name it by id in GRAPH_CATEGORY_MAP)"
        return int(found[0]["id"]), None

    def activity(self, name: str, project: int) -> tuple[int | None, str | None]:
        """(id, None) or (None, why): by id, else the project's own activity of that name, else a
        global one."""
        if name.isdigit() and any(a["id"] == int(name) for a in self.activities):
            return int(name), None
        named = [a for a in self.activities if str(a.get("name", "")).casefold() == name.casefold()]
        own = [a for a in named if a.get("project") == project]
        found = own or [a for a in named if a.get("project") is None]
        if not found:
            return None, f"Kimai has no activity {name!r} (global or of the project)"
        return int(sorted(found, key=lambda a: (not a.get("visible", True), a["id"]))[0]["id"]), None


def timesheet_fields(wanted: Wanted, names: KimaiNames, tz: tzinfo) -> tuple[dict[str, Any] | None, str | None]:
    """(Kimai fields, None) for a wanted timesheet, begin and end in Kimai's zone (local time
    without offset, converted as instants: DST-right), or (None, why it cannot be written)."""
    for what, instant in (("begins", wanted.begin), ("ends", wanted.end)):
        if repeated_hour(instant, tz):
            return None, (
                f"{what} at {to_kimai_local(instant, tz).replace('T', ' ')} {getattr(tz, 'key', tz)}, "
                "in the hour repeated when clocks go back: Kimai's API takes local times without offset and "
                "cannot tell which one is meant; not written (enter it by hand)"
            )
    project, reason = names.project(wanted.project)
    if project is None:
        return None, reason
    activity, reason = names.activity(wanted.activity, project)
    if activity is None:
        return None, reason
    fields: dict[str, Any] = {
        "begin": to_kimai_local(wanted.begin, tz),
        "end": to_kimai_local(wanted.end, tz),
        "project": project,
        "activity": activity,
        "description": wanted.description,
    }
    if wanted.user is not None:
        fields["user"] = wanted.user
    return fields, None


def span(fields: Mapping[str, Any]) -> str:
    """'2026-11-03 09:00–10:30' (the end's date only when it differs)."""
    first, last = wall_clock(fields["begin"]), wall_clock(fields["end"])
    return f"{first}–{last[11:] if last[:10] == first[:10] else last}"


def plan_timesheet(
    wanted: Wanted,
    desired: dict[str, Any],
    link: Row | None,
    target: Target | None,
    current: dict[str, Any] | None,
    policy: str,
    zone_name: str,
) -> Action:
    """One event's action: create (no timesheet with its marker), link / unchanged (as wanted),
    update (moved, shortened, renamed), keep (only edited in Kimai: the edit stands) or conflict
    (changed in Outlook and in Kimai, GRAPH_CONFLICT_POLICY manual; graph-wins updates, kimai-wins
    keeps)."""
    label = f"{wanted.label} {span(desired)} {wanted.project}"
    return plan_synced_timesheet(
        (wanted.key, label, wanted.scope), desired, wanted.version, link, target, current, policy, zone_name, "Outlook"
    )


def plan_gone(link: Row, target: Target | None, policy: str, label: str, reason: str) -> Action:
    """A linked event removed at the source, cancelled or no longer a timesheet: its timesheet is
    deleted (GRAPH_DELETE_POLICY=delete) or reported once; settled when it is gone from Kimai too."""
    return plan_source_deleted(
        link, target, policy, label, reason, f"{reason}; timesheet kept (GRAPH_DELETE_POLICY=report)"
    )


def needs_look(link: Row | None, decision: Decision, rules: Rules, full: bool) -> bool:
    """Whether a decided event needs Kimai: a wanted one not synced at its version (or --full), a
    gone one whose timesheet is still to delete or report."""
    if decision.kind == "wanted":
        assert decision.wanted is not None
        synced = link is not None and link["state"] in ("synced", "kept")
        return full or not (synced and link is not None and link["source_hash"] == decision.wanted.version)
    if decision.kind == "gone" and link is not None and link.get("target_id"):
        return link["state"] != "deleted" and (link["state"] != "orphaned" or rules.delete_policy == "delete")
    return False

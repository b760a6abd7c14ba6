"""`report.py hours --source calendar`: the hours of the Outlook events graph-kimai stored
(table graph_events), cut at the midnights of each mailbox's zone.

Which events count, checked in this order, the first reason that applies naming the excluded line:
`deleted` (removed at the source: always), then per GRAPH_SKIP `cancelled`, `all-day`,
`declined`, `tentative` (the owner answered tentatively), `free` (shown as free); `private`
(private or confidential, with GRAPH_PRIVATE=skip); for `--by project` (and `activity`) an event
whose categories name two projects is `ambiguous`, one without categories `uncategorised`, one
whose categories name no project `unmapped`. Series masters are not events of the window (their
occurrences are) and are not read. Time after now is `planned`: left out (an event in progress
counts its past part, its rest is on the planned line) unless --include-planned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..config import Settings
from ..errors import DataError
from ..graph_categories import CategoryMap, Resolution, fold
from ..timeutil import parse_instant, zone
from ..windows_zones import windows_to_iana
from .hours import NONE_LABEL, Item, Report, Sums, Window, report_body
from .runs import reading_store

PRIVATE = ("private", "confidential")
SPREAD = timedelta(days=2)  # the widest gap between two zones' midnights, and then some


def skip_reason(event: Mapping[str, Any], skip: Iterable[str], private: str = "redact") -> str | None:
    """Why an event is no work time (GRAPH_SKIP, GRAPH_PRIVATE), or None."""
    skipped = set(skip)
    if event.get("deleted_at"):
        return "deleted"
    checks = (  # in the order graph-kimai's planner (common/jobs/graph_plan.decide) checks them
        ("cancelled", bool(event.get("is_cancelled"))),
        ("all-day", bool(event.get("is_all_day"))),
        ("declined", event.get("response") == "declined"),
        ("tentative", event.get("response") == "tentativelyAccepted"),
        ("free", event.get("show_as") == "free"),
    )
    for reason, applies in checks:
        if applies and reason in skipped:
            return reason
    if private == "skip" and event.get("sensitivity") in PRIVATE:
        return "private"
    return None


def mailbox_zone(name: str | None) -> ZoneInfo:
    """The event's mailbox zone (IANA as the job stores it, or a Windows name mapped with the CLDR
    table); UTC when it has none or an unknown one."""
    for candidate in (name, windows_to_iana(name) if name else None):
        try:
            if candidate:
                return zone(candidate)
        except DataError:
            continue
    return zone("UTC")


class Keys:
    """The --by keys of one event: (label, None) pairs, or a reason to leave it out."""

    def __init__(self, by: str, settings: Settings) -> None:
        self.by = by
        self.categories = CategoryMap.from_settings(settings) if by in ("project", "activity") else None
        self.default_activity = settings.get("GRAPH_DEFAULT_ACTIVITY") if by == "activity" else None
        self.spelling: dict[str, str] = {}  # folded category -> the spelling first seen
        self.resolved: dict[tuple[str, ...], Resolution] = {}

    def of(self, event: Mapping[str, Any]) -> tuple[list[tuple[str, int | None]], str | None]:
        categories = [c for c in event.get("categories") or [] if isinstance(c, str) and c.strip()]
        if self.by == "mailbox":
            return [(str(event["mailbox"]), None)], None
        if self.by == "category":
            labels = sorted({self.spelling.setdefault(fold(c), c.strip()) for c in categories})
            return [(label, None) for label in labels] or [(NONE_LABEL["category"], None)], None
        assert self.categories is not None
        resolution = self.resolved.get(tuple(categories))
        if resolution is None:  # most events share a few sets of categories: resolve each set once
            resolution = self.resolved[tuple(categories)] = self.categories.resolve(categories)
        if resolution.is_ambiguous:
            return [], "ambiguous"
        if self.by == "project":
            if resolution.project:
                return [(self.named(resolution.project), None)], None
            return [], "unmapped" if categories else "uncategorised"
        activity = resolution.activity or self.default_activity
        return [(self.named(str(activity)) if activity else NONE_LABEL["activity"], None)], None

    def named(self, name: str) -> str:
        """A Kimai name as first spelled: Kimai compares names case-insensitively, so `[PROJECT] web`
        and a map line to `Web` are one project and one row."""
        return self.spelling.setdefault("\0" + name.casefold(), name)


def calendar_hours(
    settings: Settings, window: Window, by: str, per: str | None, now: datetime, include_planned: bool
) -> Report:
    with reading_store(settings) as store:
        start, stop = window.span(UTC)
        events = store.graph_events(start=stamp(start - SPREAD), end=stamp(stop + SPREAD), include_deleted=True)
    return sum_events(events, window, by, per, now, include_planned, settings)


def event_span(event: Mapping[str, Any]) -> tuple[datetime, datetime] | None:
    """The event's [start, end) as UTC instants; None for values the store should never hold."""
    try:
        begin, end = parse_instant(str(event["start_utc"])), parse_instant(str(event["end_utc"]))
    except (DataError, ValueError):
        return None
    return (begin, end) if begin <= end else None


def stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sum_events(
    events: Iterable[Mapping[str, Any]],
    window: Window,
    by: str,
    per: str | None,
    now: datetime,
    include_planned: bool,
    settings: Settings,
) -> Report:
    """The report's body from stored event rows (pure: no I/O besides reading GRAPH_CATEGORY_MAP)."""
    keys = Keys(by, settings)
    skip = [s for s in settings.get("GRAPH_SKIP") or () if s != "none"]
    private = settings.get("GRAPH_PRIVATE") or "redact"
    sums = Sums()
    zones: dict[str, str] = {}
    spans: dict[str | None, tuple[ZoneInfo, datetime, datetime]] = {}  # per zone name, worked out once
    for event in events:
        if event.get("type") == "seriesMaster" or not event.get("start_utc") or not event.get("end_utc"):
            continue
        name = event.get("time_zone")
        if name not in spans:
            tz = mailbox_zone(name)
            spans[name] = (tz, *window.span(tz))
        tz, start, stop = spans[name]
        ident = f"graph:{event.get('mailbox')}/{event.get('event_id')}"
        span = event_span(event)
        if span is None:
            sums.exclude("unreadable", ident, 0)
            continue
        begin, end = span
        inside = (max(begin, start), min(end, stop))
        if inside[1] <= inside[0]:
            continue
        zones.setdefault(str(event["mailbox"]), tz.key)
        seconds = int((inside[1] - inside[0]).total_seconds())
        reason = skip_reason(event, skip, private)
        labels: list[tuple[str, int | None]] = []
        if reason is None:
            labels, reason = keys.of(event)
        if reason is not None:
            sums.exclude(reason, ident, seconds)
            continue
        if not include_planned and inside[1] > now:
            future = int((inside[1] - max(inside[0], now)).total_seconds())
            sums.exclude("planned", ident, future)
            stop = min(stop, now)
        item = Item(ident, begin, end, int((end - begin).total_seconds()), tz, labels)
        sums.add(item, start, stop, per)
    return {
        "timezone": None,
        "zones": dict(sorted(zones.items())),
        "timesheets_of": None,
        **report_body(sums, by, per),
        "requests": 0,
    }

"""Kimai timesheets of a window of days as CSV or JSON, for spreadsheets and other tools.

Reads only: the Kimai client runs in dry-run mode, so the HTTP layer refuses any write. One
request each for customers, projects and activities (names and filters), then the timesheets of
the window in pages of 500, filtered by Kimai where its API allows (customers, projects,
activities, user, billable). Times are local ISO 8601 (with their offset) in the Kimai user's
zone (KIMAI_TIMEZONE, else the token user's preference); durations in hours with 2 decimals.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

from ..clients import Record
from ..clients.kimai import KimaiClient
from ..config import Settings
from ..errors import UsageError
from ..http import RequestCounter
from ..logs import redact
from ..store_files import StrPath
from ..store_queries import Row
from ..timeutil import parse_instant, to_kimai_local, zone
from .store_export import csv_text, write_atomic

PAGE_SIZE = 500
Report = dict[str, Any]  # from, to, timezone, filters, totals, timesheets
COLUMNS = (
    "id",
    "date",
    "begin",
    "end",
    "hours",
    "user",
    "customer",
    "project",
    "activity",
    "description",
    "tags",
    "billable",
    "exported",
)


@dataclass
class Filters:
    customer: str | None = None  # name or id
    project: str | None = None  # name or id (under --customer when both are given)
    activity: str | None = None  # name or id
    user: str | None = None  # Kimai user id, "me", an e-mail the user maps know, or "all" (default)
    billable_only: bool = False


def parse_days(date_from: str | None, date_to: str | None) -> list[date]:
    """The window's first and last day (inclusive), checked before anything is read."""
    days = []
    for flag, text in (("--from", date_from), ("--to", date_to)):
        try:
            days.append(date.fromisoformat(text))  # type: ignore[arg-type]  # None: TypeError, refused below
        except (TypeError, ValueError):
            raise UsageError(f"{flag}: expected a date like 2026-03-31, got {text!r}") from None
    if days[1] < days[0]:
        raise UsageError(f"--to {date_to} is before --from {date_from}")
    return days


def export_timesheets(
    settings: Settings,
    date_from: str | None,
    date_to: str | None,
    filters: Filters,
    fmt: str = "json",
    bom: bool = False,
) -> tuple[Report, bytes]:
    """(the report {from, to, timezone, filters, totals, timesheets}, the file's bytes in `fmt`).
    Arguments are checked before the first request."""
    first, last = parse_days(date_from, date_to)
    if bom and fmt != "csv":
        raise UsageError("--bom is for --format csv (JSON must not start with a byte order mark)")
    kimai = KimaiClient(settings, RequestCounter(), dry_run=True)
    me = kimai.me()
    tz = zone(settings.kimai_timezone or me.get("timezone") or "UTC")
    api_tz = zone(me.get("timezone") or tz.key)  # Kimai reads begin/end in the token user's own zone
    start = datetime.combine(first, time(0), tz)
    stop = datetime.combine(last + timedelta(days=1), time(0), tz)
    names = Names(kimai.list_customers(), kimai.list_projects(), kimai.list_all_activities())
    query, described = server_filters(filters, names, settings, me)
    user = query.pop("user")
    sheets = kimai.list_timesheets(
        to_kimai_local(start, api_tz),
        to_kimai_local(stop - timedelta(seconds=1), api_tz),
        user=user,
        page_size=PAGE_SIZE,
        filters=query,
    )
    rows = [timesheet_row(sheet, tz, names) for sheet in sheets if start <= parse_instant(sheet["begin"]) < stop]
    report = {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "timezone": tz.key,
        "filters": described,
        "totals": totals(rows),
        "timesheets": rows,
    }
    return report, render(report, fmt, bom)


class Names:
    """Customers, projects and activities by id, read once per run."""

    def __init__(self, customers: Iterable[Record], projects: Iterable[Record], activities: Iterable[Record]) -> None:
        self.tables = {
            "customer": {c["id"]: c for c in customers},
            "project": {p["id"]: p for p in projects},
            "activity": {a["id"]: a for a in activities},
        }

    def name(self, kind: str, object_id: int | None) -> str | None:
        return (self.tables[kind].get(object_id) or {}).get("name")

    def project_customer(self, project_id: int | None) -> int | None:
        customer = (self.tables["project"].get(project_id) or {}).get("customer")
        return customer.get("id") if isinstance(customer, dict) else customer

    def resolve(
        self, kind: str, value: str, within: Callable[[Record], bool] | None = None, where: str = ""
    ) -> list[int]:
        """Ids of the objects with this id or name (case-insensitive); several when the name is
        used more than once. An unknown value is a usage error naming it."""
        candidates = [o for o in self.tables[kind].values() if within is None or within(o)]
        text = str(value).strip()
        if text.isdigit() and any(o["id"] == int(text) for o in candidates):
            return [int(text)]
        ids = sorted(o["id"] for o in candidates if (o.get("name") or "").casefold() == text.casefold())
        if not ids:
            raise UsageError(f"--{kind}: Kimai has no {kind} {value!r}{where}")
        return ids


def server_filters(
    filters: Filters, names: Names, settings: Settings, me: Record
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Kimai list parameters, the filters as applied for the report's header)."""
    query: dict[str, Any] = {}
    described: dict[str, Any] = {"billable_only": bool(filters.billable_only)}
    customers: list[int] | None = None
    projects: list[int] | None = None
    if filters.customer:
        customers = names.resolve("customer", filters.customer)
        query["customers[]"] = [str(i) for i in customers]
    if filters.project:
        where = f" of customer {filters.customer!r}" if customers else ""
        projects = names.resolve(
            "project",
            filters.project,
            where=where,
            within=(lambda p: names.project_customer(p["id"]) in customers) if customers else None,
        )
        query["projects[]"] = [str(i) for i in projects]
    if filters.activity:
        where = f" for project {filters.project!r}" if projects else ""
        activities = names.resolve(
            "activity",
            filters.activity,
            where=where,
            within=(lambda a: a.get("project") in (None, *projects)) if projects else None,
        )
        query["activities[]"] = [str(i) for i in activities]
    for kind in ("customer", "project", "activity"):
        value = getattr(filters, kind)
        plural = {"customer": "customers[]", "project": "projects[]", "activity": "activities[]"}[kind]
        described[kind] = {"value": value, "ids": [int(i) for i in query[plural]]} if value else None
    if filters.billable_only:
        query["billable"] = "1"
    query["user"] = user_param(filters.user, settings, me)
    described["user"] = query["user"]
    return query, described


def user_param(value: str | None, settings: Settings, me: Record) -> str:
    """Kimai's `user` list parameter for --user: `all` (default), an id, `me` or a mapped e-mail."""
    text = (value or "all").strip()
    if text.casefold() == "all":
        return "all"
    if text.casefold() == "me":
        return str(me["id"])
    if text.isdigit():
        return text
    if "@" in text:
        from .gdpr import kimai_user_of

        user_id, _ = kimai_user_of(text, settings, me)
        if user_id is not None:
            return str(user_id)
        raise UsageError(
            f"--user: no Kimai user id known for {text}: it is not the token's user nor in a user map; "
            "pass the Kimai user id"
        )
    raise UsageError(f"--user: expected a Kimai user id, an e-mail, 'me' or 'all', got {text!r}")


def timesheet_row(sheet: Record, tz: tzinfo, names: Names) -> Row:
    begin = parse_instant(sheet["begin"]).astimezone(tz)
    end = parse_instant(sheet["end"]).astimezone(tz) if sheet.get("end") else None
    seconds = sheet.get("duration")
    if seconds is None:
        seconds = int((end - begin).total_seconds()) if end else 0
    customer_id = names.project_customer(sheet["project"])
    return {
        "id": sheet["id"],
        "date": begin.date().isoformat(),
        "begin": begin.isoformat(),
        "end": end.isoformat() if end else None,
        "hours": hours(seconds),
        "duration": seconds,
        "user": sheet.get("user"),
        "customer_id": customer_id,
        "customer": names.name("customer", customer_id),
        "project_id": sheet["project"],
        "project": names.name("project", sheet["project"]),
        "activity_id": sheet["activity"],
        "activity": names.name("activity", sheet["activity"]),
        "description": sheet.get("description") or "",
        "tags": list(sheet.get("tags") or []),
        "billable": bool(sheet.get("billable")),
        "exported": bool(sheet.get("exported")),
    }


def hours(seconds: float | None) -> float:
    return round((seconds or 0) / 3600, 2)


def totals(rows: Iterable[Row]) -> dict[str, Any]:
    """Count and hours, overall and per project (from the exact seconds, rounded once)."""
    rows = list(rows)
    per_project: dict[int, Row] = {}
    for row in rows:
        entry = per_project.setdefault(
            row["project_id"],
            {
                "customer": row["customer"],
                "project": row["project"],
                "project_id": row["project_id"],
                "count": 0,
                "seconds": 0,
            },
        )
        entry["count"] += 1
        entry["seconds"] += row["duration"] or 0
    projects = sorted(per_project.values(), key=lambda e: (e["customer"] or "", e["project"] or "", e["project_id"]))
    return {
        "count": len(rows),
        "hours": hours(sum(row["duration"] or 0 for row in rows)),
        "per_project": [
            {**{k: v for k, v in e.items() if k != "seconds"}, "hours": hours(e["seconds"])} for e in projects
        ],
    }


def render(report: Report, fmt: str, bom: bool = False) -> bytes:
    """The report as bytes: UTF-8 JSON, or UTF-8 CSV (optionally with a byte order mark)."""
    if fmt == "json":
        return (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    rows = [
        {
            **row,
            "hours": f"{row['hours']:.2f}",
            "tags": ", ".join(row["tags"]),
            "billable": "yes" if row["billable"] else "no",
            "exported": "yes" if row["exported"] else "no",
        }
        for row in report["timesheets"]
    ]
    return (("\ufeff" if bom else "") + csv_text(rows, COLUMNS)).encode("utf-8")


def write(data: bytes, out: StrPath | None = None) -> Path | None:
    """To the file `out` (atomically; returns its path), else as bytes to stdout (always UTF-8).
    Redacted either way (logs.redact): a timesheet's text may quote a configured secret."""
    data = redact(data.decode("utf-8")).encode("utf-8")
    if out:
        return write_atomic(out, data, key="--out")
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return None


def summary_line(report: Report, path: StrPath | None = None) -> str:
    t = report["totals"]
    where = f" -> {path}" if path else ""
    projects = len(t["per_project"])
    return (
        f"{t['count']} timesheets, {t['hours']:.2f} hours, {projects} project{'' if projects == 1 else 's'}, "
        f"{report['from']} to {report['to']} ({report['timezone']}){where}"
    )

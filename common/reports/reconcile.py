"""Reconciliation of zammad-kimai over a window of days: every Zammad time entry and every Kimai
timesheet of the window gets one class. Reads only, on both sides.

- matched: the entry's timesheet has the values the mapping gives;
- mismatched: it differs in begin, duration, activity, project or user (named);
- missing_in_kimai: no timesheet carries the entry's marker;
- missing_in_zammad: a timesheet's marker names an entry that no longer exists;
- duplicated: a second timesheet with one marker, or an unmarked timesheet on the same project,
  day and duration as a synced one (a likely manual double entry).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import tzinfo
from typing import Any

from ..config import Settings
from ..http import RequestCounter
from ..jobs.base import Result
from ..jobs.kimai_targets import marker_of
from ..jobs.zammad_kimai import JOB, Options, ZammadKimaiJob
from ..jobs.zammad_plan import ENTRY_MARKER, WindowRead, entry_marker
from ..store import Store
from ..timeutil import parse_instant, to_kimai_local

CLASSES = ("matched", "mismatched", "missing_in_kimai", "missing_in_zammad", "duplicated")


def reconcile(settings: Settings, date_from: str, date_to: str) -> dict[str, Any]:
    """Every Zammad entry and Kimai timesheet of the window, classified, with totals per class and per ticket."""
    counter = RequestCounter()
    with Store(settings.database_path, readonly=True) as store:
        job = ZammadKimaiJob(
            settings,
            Options(dry_run=True, date_from=date_from, date_to=date_to, workers=settings.sync_workers),
            store,
            counter,
            Result(JOB, dry_run=True),
        )
        read = job.read_window()
    rows = classify(read)
    totals = Counter(row["class"] for row in rows)
    per_ticket: defaultdict[Any, Counter[str]] = defaultdict(Counter)
    for row in rows:
        per_ticket[row["ticket"]][row["class"]] += 1
    return {
        "from": date_from,
        "to": date_to,
        "timezone": read.tz.key,
        "totals": {c: totals.get(c, 0) for c in CLASSES},
        "per_ticket": {
            t: {c: counts.get(c, 0) for c in CLASSES}
            for t, counts in sorted(per_ticket.items(), key=lambda x: str(x[0]))
        },
        "items": rows,
        "requests": counter.totals()["requests"],
    }


def classify(read: WindowRead) -> list[dict[str, Any]]:
    """One row per entry and per timesheet of the window that is not simply matched to one entry."""
    in_window = [
        s for s in read.timesheets if read.low <= to_kimai_local(parse_instant(s["begin"]), read.tz) < read.high
    ]
    rows = []
    by_marker = defaultdict(list)
    for sheet in sorted(read.timesheets, key=lambda s: s["id"]):
        by_marker[marker_of(sheet.get("description"))].append(sheet)
    present = set()
    for ticket, entry in read.entries:
        key = entry_marker(ticket["id"], entry["id"])
        present.add(key)
        desired, minutes, reason = read.desired(ticket, entry)
        base = {"ticket": f"#{ticket['number']}", "entry": entry["id"], "marker": key}
        found = by_marker.get(key, [])
        if not found:
            rows.append({**base, "class": "missing_in_kimai", "timesheet": None, "detail": reason or ""})
            continue
        differences = _differences(read.tz, found[0], desired, minutes)
        rows.append(
            {
                **base,
                "class": "mismatched" if differences else "matched",
                "timesheet": found[0]["id"],
                "detail": ", ".join(differences),
            }
        )
        rows += [
            {**base, "class": "duplicated", "timesheet": extra["id"], "detail": "second timesheet with this marker"}
            for extra in found[1:]
        ]
    synced = {(s["project"], s["begin"][:10], s.get("duration")) for key in present for s in by_marker.get(key, [])[:1]}
    for sheet in in_window:
        key = marker_of(sheet.get("description"))
        match = ENTRY_MARKER.match(key)
        if match and key not in present:
            ticket_id = int(match.group(1))
            why = "entry deleted in Zammad" if ticket_id in read.ticket_ids else "ticket not found in Zammad"
            rows.append(
                {
                    "ticket": f"id {ticket_id}",
                    "entry": int(match.group(2)),
                    "marker": key,
                    "class": "missing_in_zammad",
                    "timesheet": sheet["id"],
                    "detail": why,
                }
            )
        elif not match and (sheet["project"], sheet["begin"][:10], sheet.get("duration")) in synced:
            rows.append(
                {
                    "ticket": "",
                    "entry": None,
                    "marker": "",
                    "class": "duplicated",
                    "timesheet": sheet["id"],
                    "detail": "unmarked timesheet on the same project, day and duration as a synced one",
                }
            )
    return rows


def _differences(tz: tzinfo, sheet: dict[str, Any], desired: dict[str, Any], minutes: int) -> list[str]:
    begin = to_kimai_local(parse_instant(sheet["begin"]), tz)
    differences = []
    if begin != desired["begin"]:
        differences.append(f"begin {begin} (Zammad {desired['begin']})")
    actual = round(sheet["duration"] / 60) if sheet.get("end") and sheet.get("duration") is not None else None
    if actual != minutes:
        differences.append(f"duration {'running' if actual is None else actual} min (Zammad {minutes})")
    for field in ("activity", "project", "user"):
        wanted = desired.get(field)
        if wanted is not None and sheet.get(field) != wanted:
            differences.append(f"{field} {sheet.get(field)} (mapping gives {wanted})")
    return differences

"""How many hours went where: `report.py hours`, summed from Kimai's timesheets or from the
calendar events the graph-kimai job stored.

Reads only (the Kimai client runs in dry-run mode; the store is opened read-only). Every item
(a timesheet or an event) is cut at the local midnights of its zone (KIMAI_TIMEZONE for Kimai,
the mailbox's zone for an event), clipped to the window, and its seconds summed per `--by` key
and `--per` period (a day, an ISO week `2026-W48`, a month `2026-11`). Sums are kept in whole
seconds; hours (two decimals) and H:MM are rounded once for display, by largest remainders, so
the rows always add up to the total row exactly as shown.

This module holds the window, the cutting, the sums and the output; the two sources read their
items in hours_kimai.py and hours_calendar.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from tabulate import tabulate

from ..config import Settings
from ..errors import UsageError
from .store_export import csv_text

SOURCES = ("kimai", "calendar")
BY = ("project", "activity", "customer", "user", "tag", "category", "mailbox")
BY_SOURCE = {
    "kimai": ("project", "activity", "customer", "user", "tag"),
    "calendar": ("project", "activity", "category", "mailbox"),
}
MULTI_KEY = {"tag": "a timesheet with several tags", "category": "an event in several categories"}
PERIODS = ("day", "week", "month")
NONE_LABEL = {"tag": "(no tag)", "category": "(no category)", "activity": "(no activity)"}
Report = dict[str, Any]


# -- the window ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bound:
    """One end of the window: a day (read in the zone of each item; `today` and `yesterday` too,
    as they are there), a wall-clock time (likewise) or an instant (an ISO time with its offset,
    read in the zone it states)."""

    text: str
    day: date | None = None
    local: datetime | None = None  # naive
    instant: datetime | None = None  # aware
    days_ago: int | None = None  # today (0) or yesterday (1), as of `now`
    now: datetime | None = None

    def at(self, tz: tzinfo, end: bool = False) -> datetime:
        """This bound as an aware instant for items cut in zone `tz`; a day as `--to` ends at the
        midnight after it (the day is included)."""
        if self.instant is not None:
            return self.instant
        if self.local is not None:
            return self.local.replace(tzinfo=tz).astimezone(UTC)
        day = self.day
        if self.days_ago is not None and self.now is not None:
            day = self.now.astimezone(tz).date() - timedelta(days=self.days_ago)
        assert day is not None
        return local_midnight(day + timedelta(days=1) if end else day, tz)


BOUND_FORM = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:?\d{2})?)?", re.ASCII)
YEARS = range(1900, 9000)  # beyond these a date is a typo, and its midnight may not be representable


def parse_bound(text: str | None, flag: str, now: datetime) -> Bound:
    value = (text or "").strip()
    words = {"today": 0, "yesterday": 1}
    if value.casefold() in words:
        return Bound(value, days_ago=words[value.casefold()], now=now)
    problem = (
        f"{flag}: expected a day like 2026-11-01 (read in the report's zone), today, yesterday, a local "
        f"time like 2026-11-01T08:00 or an instant like 2026-11-01T08:00+01:00, got {text!r}"
    )
    if not BOUND_FORM.fullmatch(value):  # fromisoformat alone takes 20261101 and 2026-W45 too
        raise UsageError(problem)
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            if day.year not in YEARS:
                raise ValueError(day)
            return Bound(value, day=day)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        if moment.year not in YEARS:
            raise ValueError(moment)
    except ValueError:
        raise UsageError(problem) from None
    if moment.tzinfo is None:
        return Bound(value, local=moment)
    return Bound(value, instant=moment.astimezone(UTC))


@dataclass(frozen=True)
class Window:
    first: Bound
    last: Bound

    def span(self, tz: tzinfo) -> tuple[datetime, datetime]:
        return self.first.at(tz), self.last.at(tz, end=True)


def parse_window(date_from: str | None, date_to: str | None, now: datetime) -> Window:
    window = Window(parse_bound(date_from, "--from", now), parse_bound(date_to, "--to", now))
    start, stop = window.span(UTC)
    if stop <= start and (window.first.instant or window.last.instant) is None:
        raise UsageError(f"--to {date_to} is before --from {date_from}")
    if stop <= start:
        raise UsageError(f"--to {date_to} is not after --from {date_from}")
    return window


# -- cutting and summing ------------------------------------------------------------------------
def local_midnight(day: date, tz: tzinfo) -> datetime:
    """The first instant of `day` in `tz` (where midnight does not exist, the instant the day
    starts: zoneinfo reads the missing wall time with the offset before the change)."""
    return datetime.combine(day, time(0), tz).astimezone(UTC)


def split_days(begin: datetime, end: datetime, tz: tzinfo) -> list[tuple[date, int]]:
    """[begin, end) cut at the local midnights of `tz`: (local day, seconds) in order. DST-right:
    a day of 23 or 25 hours holds what really elapsed."""
    pieces: list[tuple[date, int]] = []
    cursor = begin
    while cursor < end:
        day = cursor.astimezone(tz).date()
        boundary = min(local_midnight(day + timedelta(days=1), tz), end)
        if boundary <= cursor:  # a zone whose day would not advance: never loop
            boundary = end
        pieces.append((day, round((boundary - cursor).total_seconds())))
        cursor = boundary
    return [(d, s) for d, s in pieces if s > 0]


def period_of(day: date, per: str | None) -> str | None:
    if per == "day":
        return day.isoformat()
    if per == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if per == "month":
        return f"{day:%Y-%m}"
    return None


def apportion(values: Sequence[int], unit: int) -> list[int]:
    """Seconds as whole units (36 s = 0.01 h, 60 s = one minute) that add up to the rounded total:
    each value rounded down, then the units left over go to the largest remainders (on a tie, to
    the largest values). Each share is within one unit of its exact value."""
    total = sum(values)
    target = (total + unit // 2) // unit
    shares = [v // unit for v in values]
    order = sorted(range(len(values)), key=lambda i: (-(values[i] % unit), -values[i], i))
    for i in order[: max(target - sum(shares), 0)]:
        shares[i] += 1
    return shares


def hm(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


@dataclass
class Item:
    """One timesheet or event: what elapsed in [begin, end), worth `seconds` of work (Kimai's
    duration, less a break), cut in zone `tz`, counted under each of `keys` (label, id)."""

    ident: str
    begin: datetime
    end: datetime
    seconds: int
    tz: ZoneInfo
    keys: list[tuple[str, int | None]]


@dataclass
class Sums:
    """Seconds and items per (period, key), the excluded ones per reason, and the items counted
    under more than one key."""

    rows: dict[tuple[str | None, str, int | None], dict[str, Any]] = field(default_factory=dict)
    items: set[str] = field(default_factory=set)
    excluded: dict[str, dict[str, Any]] = field(default_factory=dict)
    repeated: dict[str, int] = field(default_factory=dict)  # item -> seconds counted beyond the first key

    def exclude(self, reason: str, ident: str, seconds: int) -> None:
        entry = self.excluded.setdefault(reason, {"items": set(), "seconds": 0})
        entry["items"].add(ident)
        entry["seconds"] += max(seconds, 0)

    def add(self, item: Item, start: datetime, stop: datetime, per: str | None) -> int:
        """Count the part of `item` inside [start, stop); returns the seconds counted (once)."""
        begin, end = max(item.begin, start), min(item.end, stop)
        if end <= begin:
            return 0
        wall = (item.end - item.begin).total_seconds()
        pieces = split_days(begin, end, item.tz)
        exact = [s * item.seconds / wall if wall > 0 else 0 for _, s in pieces]
        worked = round(sum(exact))
        shares = _whole(exact, worked)
        counted = 0
        for (day, _), seconds in zip(pieces, shares, strict=True):
            for n, (label, key_id) in enumerate(item.keys):
                row = self.rows.setdefault((period_of(day, per), label, key_id), {"items": set(), "seconds": 0})
                row["items"].add(item.ident)
                row["seconds"] += seconds
                if n:
                    self.repeated[item.ident] = self.repeated.get(item.ident, 0) + seconds
            counted += seconds
        if counted:
            self.items.add(item.ident)
        return counted


def _whole(exact: Sequence[float], total: int) -> list[int]:
    """Non-negative floats as whole numbers adding up to `total` (largest remainders)."""
    shares = [int(x) for x in exact]
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[: max(total - sum(shares), 0)]:
        shares[i] += 1
    return shares


def report_body(sums: Sums, by: str, per: str | None) -> Report:
    """rows, total, excluded and counted_more_than_once of the report, from the exact seconds."""
    keys = sorted(sums.rows, key=lambda k: (k[0] or "", k[1].casefold(), k[1], k[2] or 0))
    seconds = [sums.rows[k]["seconds"] for k in keys]
    hundredths, minutes = apportion(seconds, 36), apportion(seconds, 60)
    rows = [
        {
            "period": period,
            "key": label,
            "id": key_id,
            "items": len(sums.rows[(period, label, key_id)]["items"]),
            "seconds": s,
            "hours": round(h / 100, 2),
            "hm": hm(m),
        }
        for (period, label, key_id), s, h, m in zip(keys, seconds, hundredths, minutes, strict=True)
    ]
    total = sum(seconds)
    repeated = sum(sums.repeated.values())
    return {
        "rows": rows,
        "total": {
            "items": len(sums.items),
            "seconds": total,
            "hours": round(sum(hundredths) / 100, 2),
            "hm": hm(sum(minutes)),
        },
        "counted_more_than_once": {
            "items": len(sums.repeated),
            "seconds": repeated,
            "hours": round(repeated / 3600, 2),
            "hm": hm((repeated + 30) // 60),
            "note": (
                f"{MULTI_KEY[by]} counts under each of them: the total adds its hours once per {by}"
                if by in MULTI_KEY
                else None
            ),
        },
        "excluded": [
            {
                "reason": reason,
                "items": len(entry["items"]),
                "seconds": entry["seconds"],
                "hours": round(entry["seconds"] / 3600, 2),
                "hm": hm((entry["seconds"] + 30) // 60),
            }
            for reason, entry in sorted(sums.excluded.items())
        ],
    }


# -- the report ---------------------------------------------------------------------------------
def check_options(source: str, by: str, per: str | None) -> None:
    if source not in SOURCES:
        raise UsageError(f"--source: expected one of {', '.join(SOURCES)}, got {source!r}")
    if by not in BY:
        raise UsageError(f"--by: expected one of {', '.join(BY)}, got {by!r}")
    if by not in BY_SOURCE[source]:
        other = next(s for s in SOURCES if by in BY_SOURCE[s]) if any(by in BY_SOURCE[s] for s in SOURCES) else None
        raise UsageError(
            f"--by {by} is not available with --source {source} (it is for --source {other}); "
            f"with {source}: {', '.join(BY_SOURCE[source])}"
        )
    if per is not None and per not in PERIODS:
        raise UsageError(f"--per: expected one of {', '.join(PERIODS)}, got {per!r}")


def hours_report(
    settings: Settings,
    date_from: str | None,
    date_to: str | None,
    source: str = "kimai",
    by: str = "project",
    per: str | None = None,
    include_planned: bool = False,
    now: datetime | None = None,
) -> Report:
    """The report (see docs/json-report.md); every argument is checked before anything is read."""
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    check_options(source, by, per)
    window = parse_window(date_from, date_to, now)
    if source == "kimai":
        from .hours_kimai import kimai_hours

        body = kimai_hours(settings, window, by, per)
    else:
        from .hours_calendar import calendar_hours

        body = calendar_hours(settings, window, by, per, now, include_planned)
    return {
        "source": source,
        "from": window.first.text,
        "to": window.last.text,
        "by": by,
        "per": per,
        "include_planned": include_planned if source == "calendar" else False,
        "as_of": now.isoformat(),
        **{k: body[k] for k in ("timezone", "zones", "timesheets_of")},
        **{k: v for k, v in body.items() if k not in ("source", "timezone", "zones", "timesheets_of")},
    }


# -- output -------------------------------------------------------------------------------------
def header_line(report: Report) -> str:
    if report["source"] == "kimai":
        cut = f"days cut in {report['timezone']} (Kimai's zone)"
        if report["timesheets_of"] not in (None, "every user"):
            cut += f"; timesheets of {report['timesheets_of']} (what Kimai shows this token)"
    else:
        zones = sorted(set(report["zones"].values()))
        cut = f"days cut in each mailbox's zone ({', '.join(zones) or 'no mailbox'})"
    planned = "" if report["source"] == "kimai" else ("; planned events included" if report["include_planned"] else "")
    return (
        f"Hours by {report['by']} from {report['source']}, {report['from']} to {report['to']}, {cut}; "
        f"as of {report['as_of']}{planned}"
    )


def table_lines(report: Report) -> tuple[list[list[Any]], list[str]]:
    """(the table's rows with the total row last, its headers)."""
    with_period = report["per"] is not None
    headers = ([report["per"]] if with_period else []) + [report["by"], "items", "hours", "h:mm"]
    rows = [
        ([row["period"]] if with_period else []) + [shown(row["key"]), row["items"], f"{row['hours']:.2f}", row["hm"]]
        for row in report["rows"]
    ]
    total = report["total"]
    rows.append(
        (["total"] if with_period else [])
        + (["" if with_period else "total", total["items"], f"{total['hours']:.2f}", total["hm"]])
    )
    return rows, headers


def shown(text: str) -> str:
    """A name as one line of plain text: a newline or an escape sequence in a project, tag or
    category name (anyone may type one) is shown escaped, never run by the terminal or taken for
    a line of the report."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def table_text(report: Report) -> str:
    """The report for people: a header naming the window, the zones and the moment, the table
    (numbers right-aligned, the total row last), then the notes and the excluded line."""
    rows, headers = table_lines(report)
    numbers = ("items", "hours", "h:mm")
    table = tabulate(
        rows,
        headers=headers,
        tablefmt="simple",
        disable_numparse=True,
        colalign=["right" if h in numbers else "left" for h in headers],
    )
    return "\n".join([header_line(report), table, *notes(report)])


def notes(report: Report) -> list[str]:
    lines = []
    repeated = report["counted_more_than_once"]
    if repeated["note"]:
        lines.append(
            f"note: {repeated['note']} ({repeated['items']} counted more than once, "
            f"{repeated['hours']:.2f} h / {repeated['hm']} beyond their first {report['by']})"
        )
    if report["excluded"]:
        parts = [f"{e['reason']} {e['items']} ({e['hours']:.2f} h, {e['hm']})" for e in report["excluded"]]
        lines.append("excluded: " + ", ".join(parts))
    return lines


CSV_COLUMNS = ("line", "period", "key", "reason", "items", "seconds", "hours", "hm")


def csv_report(report: Report) -> str:
    """One CSV line per row, then `total`, then one `excluded` line per reason; cells a
    spreadsheet would run as a formula are made plain text."""
    lines: list[dict[str, Any]] = [{"line": "row", **row} for row in report["rows"]]
    lines.append({"line": "total", "key": "total", **report["total"]})
    lines += [{"line": "excluded", **e} for e in report["excluded"]]
    for line in lines:
        line["hours"] = f"{line['hours']:.2f}"
    columns = [c if c != "key" else report["by"] for c in CSV_COLUMNS]
    return csv_text([{report["by"]: line.get("key"), **line} for line in lines], columns)


def json_report(report: Report) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)

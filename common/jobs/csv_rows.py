"""The rules of a timesheet CSV (csv-kimai): its encoding, header and each row's values checked,
with one error per invalid row naming its line (the header is line 1). No I/O, no Kimai: pure and
fast. Reading a file row by row is csv_file.py's.

Rules (docs/csv.md is the user's version):
- UTF-8 with or without BOM; `,` or `;` (or tab) separated, picked by which one splits the header
  into known column names; header names are case-insensitive, surrounding spaces ignored.
- date: ISO 8601 (2026-03-31) unless a strftime format is given; 03/04/2026 without one is refused.
- begin/end: HH:MM or HH:MM:SS wall-clock in the Kimai user's zone; `end` before `begin` ends the
  next day; `end` 24:00 is the midnight that ends the day; `end` equal to `begin` is refused.
- duration: H:MM, H:MM:SS or decimal hours (1.5 or 1,5); more than 0, at most 24 hours. Given
  with `end`, the two must agree (within a minute).
- The row's marker `csv:{hash}` hashes the normalised values (instants, names, description,
  sorted tags, billable, user), never the line: a second identical row is refused as a duplicate.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, overload
from zoneinfo import ZoneInfo

from ..errors import DataError, UsageError
from ..timeutil import from_local
from .import_plan import ImportEntry

COLUMNS = (
    "date",
    "begin",
    "end",
    "duration",
    "project",
    "activity",
    "customer",
    "description",
    "tags",
    "billable",
    "user",
)
REQUIRED = ("date", "begin", "project", "activity")
SEPARATORS = (",", ";", "\t")
TEMPLATE = (
    "date,begin,end,duration,project,activity,customer,description,tags,billable,user\n"
    "2026-03-31,09:00,10:30,,Website,Development,Acme Corp,Kick-off with the client,meeting;dev,yes,\n"
)
MAX_DURATION = timedelta(hours=24)
AGREE_WITHIN = timedelta(minutes=1)
CACHE_LIMIT = 20_000  # dates and local times a RowParser remembers
NAME_SHOWN = 40  # characters of an unknown column name repeated in the message

LINE_BREAK = re.compile(r"\r\n|\r|\n")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
OTHER_DATE = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{2}|\d{4})$")
CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
HOURS_MINUTES = re.compile(r"^(\d{1,3}):(\d{2})(?::(\d{2}))?$")
DECIMAL_HOURS = re.compile(r"^(\d{1,3})(?:[.,](\d+))?$")
BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
Clock = time | Literal["24:00"]  # a clock time; "24:00" (an `end` only) is the midnight that ends the day


def check_date_format(fmt: str) -> None:
    """A --date-format must round-trip a date with day, month and year (else exit 2)."""
    sample = date(2026, 3, 31)
    try:
        ok = datetime.strptime(sample.strftime(fmt), fmt).date() == sample
    except ValueError:
        ok = False
    if not ok:
        raise UsageError(
            f"--date-format {fmt!r} does not describe a day, month and year in strftime codes, "
            "e.g. %d/%m/%Y or %m/%d/%Y"
        )


def decode(data: bytes, name: str) -> str:
    """File bytes as text: UTF-8, a leading BOM dropped. Anything else is refused (exit 65)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{name}: not UTF-8 (byte {exc.start + 1}); save it as 'CSV UTF-8'") from None
    if not text.strip():
        raise DataError(f"{name}: the file is empty; expected a header line like {TEMPLATE.splitlines()[0]}")
    return text


def column_name(text: str) -> str:
    return text.strip().lower()


def pick_separator(header_line: str) -> str:
    """The separator that splits the header into the most known column names (`,` on a tie)."""

    def known(sep: str) -> int:
        try:
            cells = next(csv.reader([header_line], delimiter=sep), [])
        except csv.Error:  # quoting broken for this separator: the header reader names it
            cells = []
        return sum(column_name(c) in COLUMNS for c in cells)

    return max(SEPARATORS, key=lambda sep: (known(sep), sep == ","))


def check_header(cells: list[str], name: str) -> dict[str, int]:
    """Column names -> their positions; every header problem in one line (exit 65)."""
    names = [column_name(c) for c in cells]
    if any("=" in n for n in names if n not in COLUMNS):  # KEY=value: a configuration file, maybe with secrets
        raise DataError(
            f"{name}: line 1 is not a CSV header: it reads like KEY=value configuration (an env file?), "
            f"which is not repeated here; expected a header like {TEMPLATE.splitlines()[0]}"
        )
    problems: list[str] = []
    unnamed = [str(i + 1) for i, n in enumerate(names) if not n]
    if unnamed:
        problems.append(f"column {', '.join(unnamed)} has no name")
    unknown = [n for n in names if n and n not in COLUMNS]
    if unknown:
        problems.append(
            f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(repr(n[:NAME_SHOWN]) for n in unknown)} "
            f"(known: {', '.join(COLUMNS)})"
        )
    twice = sorted({n for n in names if n and names.count(n) > 1})
    if twice:
        several = len(twice) > 1
        problems.append(
            f"column{'s' if several else ''} {', '.join(map(repr, twice))} appear{'' if several else 's'} twice"
        )
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        problems.append(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    if "end" not in names and "duration" not in names:
        problems.append("needs an end or a duration column")
    if problems:
        raise DataError(f"{name}: line 1 (header): {'; '.join(problems)}")
    return {n: i for i, n in enumerate(names)}


class RowParser:
    """Checks one row's values. Dates and local times are cached: files repeat them a lot."""

    def __init__(self, tz: ZoneInfo, date_format: str | None = None) -> None:
        self.tz, self.date_format = tz, date_format
        self._dates: dict[str, date | None] = {}  # only days read without a problem are kept
        self._instants: dict[tuple[date, time], datetime | str] = {}  # an instant, or why it has none

    def forget(self) -> None:
        """Empty the caches once they are large: a long file must not make them grow without end."""
        if len(self._instants) > CACHE_LIMIT or len(self._dates) > CACHE_LIMIT:
            self._instants.clear()
            self._dates.clear()

    def row(self, values: dict[str, str], line: int) -> tuple[ImportEntry, list[str]] | tuple[None, list[str]]:
        """-> (ImportEntry, []) or (None, [problem, ...]). Its version is its marker's hash."""
        self.forget()
        problems: list[str] = []
        day = self.day(values["date"].strip(), problems)
        begin_clock = self.clock("begin", values["begin"].strip(), problems)
        end_text, duration_text = values.get("end", "").strip(), values.get("duration", "").strip()
        end_clock = self.clock("end", end_text, problems, allow_24=True) if end_text else None
        duration = self.duration(duration_text, problems) if duration_text else None
        if not end_text and not duration_text:
            problems.append("needs an end or a duration")
        project, activity = " ".join(values["project"].split()), " ".join(values["activity"].split())
        if not project:
            problems.append("project is empty")
        if not activity:
            problems.append("activity is empty")
        tags = self.tags(values.get("tags", ""), problems)
        billable = self.billable(values.get("billable", "").strip(), problems)
        begin: datetime | None = None
        end: datetime | None = None
        if day and begin_clock:
            begin = self.instant(day, begin_clock, "begin", problems)
            if begin and end_clock:
                end = self.end(day, begin_clock, end_clock, problems)
                if end and duration is not None and abs((end - begin) - duration) > AGREE_WITHIN:
                    problems.append(f"end {end_text} and duration {duration_text} disagree")
            elif begin and duration is not None:
                end = begin + duration
        if problems:
            return None, problems
        assert begin is not None and end is not None and billable is not None, "else a problem was named"
        customer = " ".join(values.get("customer", "").split()) or None
        description = values.get("description", "").replace("\r\n", "\n").strip()
        user = values.get("user", "").strip() or None
        key = row_key(begin, end, project, activity, customer, description, tags, billable, user)
        return ImportEntry(
            key,
            f"line {line}",
            begin,
            end,
            project,
            activity,
            customer,
            description,
            tags,
            billable,
            user,
            version=key.partition(":")[2],
            line=line,
        ), []

    def day(self, text: str, problems: list[str]) -> date | None:
        if text in self._dates:
            return self._dates[text]
        found: date | None = None
        problem: str | None = None
        if not text:
            problem = "date is empty"
        elif self.date_format:
            try:
                found = datetime.strptime(text, self.date_format).date()
            except ValueError:
                problem = f"date {text!r} does not match --date-format {self.date_format}"
        elif ISO_DATE.match(text):
            try:
                found = date.fromisoformat(text)
            except ValueError:
                problem = f"date {text!r} is not a day of the calendar"
        else:
            other = OTHER_DATE.match(text)
            if other and int(other.group(1)) <= 12 and int(other.group(2)) <= 12 and other.group(1) != other.group(2):
                problem = (
                    f"date {text!r} is ambiguous (day/month or month/day?): pass --date-format, "
                    "e.g. %d/%m/%Y or %m/%d/%Y"
                )
            else:
                problem = f"date {text!r} is not YYYY-MM-DD: pass --date-format, e.g. %d/%m/%Y"
        if problem:
            problems.append(problem)
            return None
        self._dates[text] = found
        return found

    @overload
    @staticmethod
    def clock(column: str, text: str, problems: list[str], allow_24: Literal[False] = False) -> time | None: ...

    @overload
    @staticmethod
    def clock(column: str, text: str, problems: list[str], allow_24: bool) -> Clock | None: ...

    @staticmethod
    def clock(column: str, text: str, problems: list[str], allow_24: bool = False) -> Clock | None:
        match = CLOCK.match(text)
        if not text:
            problems.append(f"{column} is empty")
            return None
        if match:
            hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
            if allow_24 and hour == 24 and minute == 0 and second == 0:
                return "24:00"
            if hour < 24 and minute < 60 and second < 60:
                return time(hour, minute, second)
        problems.append(f"{column} {text!r} is not HH:MM or HH:MM:SS" + (" (00:00 to 24:00)" if allow_24 else ""))
        return None

    @staticmethod
    def duration(text: str, problems: list[str]) -> timedelta | None:
        """H:MM, H:MM:SS or decimal hours -> timedelta; at most 24 hours, more than zero."""
        clock, decimal = HOURS_MINUTES.match(text), DECIMAL_HOURS.match(text)
        found: timedelta | None = None
        if clock and int(clock.group(2)) < 60 and int(clock.group(3) or 0) < 60:
            found = timedelta(hours=int(clock.group(1)), minutes=int(clock.group(2)), seconds=int(clock.group(3) or 0))
        elif decimal:
            found = timedelta(seconds=round(float(f"{decimal.group(1)}.{decimal.group(2) or 0}") * 3600))
        if found is None:
            problems.append(f"duration {text!r} is not H:MM or decimal hours")
        elif not found:
            problems.append(f"duration {text!r} is zero")
        elif found > MAX_DURATION:
            problems.append(f"duration {text!r} is longer than 24 hours")
        else:
            return found
        return None

    @staticmethod
    def tags(text: str, problems: list[str]) -> tuple[str, ...]:
        tags: list[str] = []
        for tag in text.split(";"):
            tag = " ".join(tag.split())
            if "," in tag:
                problems.append(f"tag {tag!r} contains ','; separate tags with ';'")
            elif tag and tag not in tags:
                tags.append(tag)
        return tuple(sorted(tags))

    @staticmethod
    def billable(text: str, problems: list[str]) -> bool | None:
        if not text:
            return True
        value = BOOLEANS.get(text.lower())
        if value is None:
            problems.append(f"billable {text!r} is not true/false, yes/no or 1/0")
        return value

    def instant(self, day: date, clock: time, column: str, problems: list[str]) -> datetime | None:
        cache_key = (day, clock)
        if cache_key not in self._instants:
            try:
                self._instants[cache_key] = from_local(datetime.combine(day, clock), self.tz)
            except DataError as exc:
                self._instants[cache_key] = str(exc)
        found = self._instants[cache_key]
        if isinstance(found, str):
            problems.append(f"{column} {found}")
            return None
        return found

    def end(self, day: date, begin_clock: time, end_clock: Clock, problems: list[str]) -> datetime | None:
        """`end` before `begin` (or 24:00) is on the next day; equal to `begin` is refused."""
        if end_clock == "24:00":
            return self.instant(day + timedelta(days=1), time(0), "end", problems)
        if end_clock == begin_clock:
            problems.append(f"end {end_clock:%H:%M} equals begin: the entry would last no time")
            return None
        return self.instant(day + timedelta(days=1) if end_clock < begin_clock else day, end_clock, "end", problems)


def row_key(
    begin: datetime,
    end: datetime,
    project: str,
    activity: str,
    customer: str | None,
    description: str,
    tags: tuple[str, ...],
    billable: bool,
    user: str | None,
) -> str:
    """csv:<16 hex digits of SHA-256 over the normalised values> (no line number)."""
    values = [
        begin.astimezone(UTC).isoformat(),
        end.astimezone(UTC).isoformat(),
        project,
        activity,
        customer or "",
        description,
        list(tags),
        bool(billable),
        user or "",
    ]
    digest = hashlib.sha256(json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()
    return f"csv:{digest[:16]}"

"""Evaluates parsed ``query_string`` queries (``zammad_query``) for the Zammad stand-in's ``?query=``.

Zammad sends the query to Elasticsearch as ``query_string`` with ``default_operator: AND``
and appends ``*`` to queries without a ``:`` (so ``logi`` finds "Login"). Free text matches
case-insensitive whole words (wildcards per word, phrases as consecutive words) over the
record's text; ``field:...`` terms go through the record's field table (``Field``: int,
number, date, text or bool).

Dates are read as Elasticsearch reads ``strict_date_optional_time||epoch_millis``: missing
components round *down* for ``>=``/``<`` and *up* for ``>``/``<=`` (so ``updated_at:>2024-05-01``
starts after the whole day and ``updated_at:2024-05-01`` matches that whole day), ``now``
with date math (``now-1d/d``), ``||`` math after a date, millisecond precision, UTC unless
an offset is given. A query Elasticsearch would reject raises ``QueryError`` (Zammad then
answers with an empty result, not an error).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.zammad_query import Bool, Node, QueryError, Term, parse

WORD = re.compile(r"\w+", re.UNICODE)


# -- evaluation --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    """How one searchable field of a record is read: its kind and a getter."""

    kind: str  # "int" | "number" | "date" | "text" | "bool"
    get: Callable[[Any], Any]  # record -> value or list of values


class Matcher:
    """Evaluates parsed queries against records described by a field table.

    ``fields`` maps field names (``id``, ``updated_at``, ``state.name``, ...) to ``Field``;
    ``default_text(record)`` returns the text searched by field-less terms.
    """

    def __init__(
        self, fields: dict[str, Field], default_text: Callable[[Any], str], now: Callable[[], datetime]
    ) -> None:
        self.fields = fields
        self.default_text = default_text
        self.now = now

    def compile(self, query: str) -> Callable[[Any], bool]:
        """A predicate for ``query`` as Zammad sends it to Elasticsearch (``*`` appended to
        queries without a colon). Raises QueryError where Elasticsearch would answer 400."""
        text = query.strip()
        if text and ":" not in text:
            text += "*"
        node = parse(text)
        if node is None or (isinstance(node, Term) and node.field is None and set(node.value) == {"*"}):
            return lambda record: True
        self._prepare(node)
        return lambda record: self._matches(node, record)

    def _prepare(self, node: Node) -> None:
        """Validate field kinds and range bounds up front (Elasticsearch fails the whole query)."""
        if isinstance(node, Bool):
            for child in node.children:
                self._prepare(child)
            return
        field = self.fields.get(node.field) if node.field else None
        if field is None:
            return
        if node.kind == "range":
            for bound, round_up in ((node.lower, not node.include_lower), (node.upper, node.include_upper)):
                if bound is not None:
                    self._bound(field, bound, round_up)
        elif field.kind in ("int", "number", "date") and not _has_wildcard(node.value):
            self._bound(field, node.value, False)

    def _matches(self, node: Node, record: Any) -> bool:
        if isinstance(node, Bool):
            if node.op == "and":
                positives = [child for child in node.children if not _is_not(child)]
                negatives = [child.children[0] for child in node.children if _is_not(child)]  # type: ignore[union-attr]
                if not positives:  # a purely negative query matches everything else (Lucene adds *:*)
                    return not any(self._matches(child, record) for child in negatives)
                return all(self._matches(child, record) for child in positives) and not any(
                    self._matches(child, record) for child in negatives
                )
            if node.op == "or":
                return any(self._matches(child, record) for child in node.children)
            return not self._matches(node.children[0], record)
        if node.field is None or node.field == "*":
            return _text_matches(node, self.default_text(record))
        field = self.fields.get(node.field)
        if field is None:
            return False  # unmapped field: no hits
        values = field.get(record)
        values = values if isinstance(values, list) else [values]
        return any(self._value_matches(field, node, value) for value in values if value is not None)

    def _value_matches(self, field: Field, term: Term, value: Any) -> bool:
        if field.kind == "text":
            return _text_matches(term, str(value))
        if field.kind == "bool":
            return term.kind == "value" and term.value.lower() == str(bool(value)).lower()
        if term.kind == "range":
            if term.lower is not None:
                low = self._bound(field, term.lower, round_up=not term.include_lower)
                if value < low or (value == low and not term.include_lower):
                    return False
            if term.upper is not None:
                high = self._bound(field, term.upper, round_up=term.include_upper)
                if value > high or (value == high and not term.include_upper):
                    return False
            return True
        if _has_wildcard(term.value):
            return fnmatch.fnmatchcase(str(value), term.value)
        if field.kind == "date":  # a date term is the range its precision covers
            return self._bound(field, term.value, False) <= value <= self._bound(field, term.value, True)
        return value == self._bound(field, term.value, False)

    def _bound(self, field: Field, text: str, round_up: bool) -> Any:
        if field.kind == "date":
            return parse_date(text, round_up, self.now())
        if field.kind == "int":
            if not re.fullmatch(r"[+-]?\d+", text.strip()):
                raise QueryError(f"{text!r} is not a number")
            return int(text)
        try:
            return Decimal(text)
        except InvalidOperation:
            raise QueryError(f"{text!r} is not a number") from None


def _is_not(node: Node) -> bool:
    return isinstance(node, Bool) and node.op == "not"


def _has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def _text_matches(term: Term, text: str) -> bool:
    """Standard-analyzer matching: lowercase words; every word of the term must be a word of the
    text (wildcards per word), a phrase must appear as consecutive words."""
    words = WORD.findall(text.lower())
    if term.kind == "range":
        return any(
            (term.lower is None or word >= term.lower.lower()) and (term.upper is None or word <= term.upper.lower())
            for word in words
        )
    wanted = term.value.lower()
    if term.kind == "phrase":
        phrase = WORD.findall(wanted)
        return bool(phrase) and any(
            words[index : index + len(phrase)] == phrase for index in range(len(words) - len(phrase) + 1)
        )
    if _has_wildcard(wanted):
        pattern = re.sub(r"[^\w*?]+", " ", wanted).split()
        return all(any(fnmatch.fnmatchcase(word, part) for word in words) for part in pattern) if pattern else True
    parts = WORD.findall(wanted)
    return bool(parts) and all(part in words for part in parts)


# -- dates -------------------------------------------------------------------------------------
_DATE = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})(?:T(?P<hour>\d{2})(?::(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?)?(?P<zone>Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?"
)
_MATH = re.compile(r"([+-]\d+[yMwdhHms])|(/[yMwdhHms])")
_UNITS = {"y": "year", "M": "month", "w": "week", "d": "day", "h": "hour", "H": "hour", "m": "minute", "s": "second"}


def parse_date(text: str, round_up: bool, now: datetime) -> datetime:
    """An Elasticsearch date bound as an aware UTC datetime with millisecond precision."""
    text = text.strip()
    if text.startswith("now"):
        return _date_math(now.astimezone(UTC), text[3:], round_up)
    anchor, _, math = text.partition("||")
    if re.fullmatch(r"\d{5,}", anchor):  # epoch_millis
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(anchor))
        return _date_math(moment, math, round_up)
    match = _DATE.fullmatch(anchor)
    if match is None:
        raise QueryError(f"failed to parse date field [{text}]")
    parts = match.groupdict()
    try:
        moment = _fill(parts, round_up)
    except ValueError:
        raise QueryError(f"failed to parse date field [{text}]") from None
    return _date_math(moment, math, round_up)


def _fill(parts: dict[str, str | None], round_up: bool) -> datetime:
    year = int(parts["year"])  # type: ignore[arg-type]
    month = int(parts["month"] or 1)  # Elasticsearch defaults a missing month/day to 01 even when rounding up
    day = int(parts["day"]) if parts["day"] else 1
    if round_up:
        hour = int(parts["hour"]) if parts["hour"] else 23
        minute = int(parts["minute"]) if parts["minute"] else 59
        second = int(parts["second"]) if parts["second"] else 59
        fraction = (parts["fraction"] or "").ljust(3, "0")[:3] if parts["fraction"] else "999"
    else:
        hour, minute, second = (int(parts[key]) if parts[key] else 0 for key in ("hour", "minute", "second"))
        fraction = (parts["fraction"] or "0").ljust(3, "0")[:3]
    zone = UTC
    if parts["zone"] and parts["zone"] != "Z":
        sign = 1 if parts["zone"][0] == "+" else -1
        digits = parts["zone"][1:].replace(":", "")
        zone = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0)))
    moment = datetime(year, month, day, hour, minute, second, int(fraction) * 1000, tzinfo=zone)
    return moment.astimezone(UTC)


def _date_math(moment: datetime, math: str, round_up: bool) -> datetime:
    position = 0
    while position < len(math):
        match = _MATH.match(math, position)
        if match is None:
            raise QueryError(f"bad date math {math!r}")
        if match.group(1):
            amount, unit = int(match.group(1)[:-1]), match.group(1)[-1]
            moment = _shift(moment, amount, unit)
        else:
            moment = _round(moment, match.group(2)[1], round_up)
        position = match.end()
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _shift(moment: datetime, amount: int, unit: str) -> datetime:
    if unit in "yM":
        months = moment.month - 1 + amount * (12 if unit == "y" else 1)
        year, month = moment.year + months // 12, months % 12 + 1
        day = min(
            moment.day,
            [
                31,
                29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28,
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ][month - 1],
        )
        return moment.replace(year=year, month=month, day=day)
    seconds = {"w": 604800, "d": 86400, "h": 3600, "H": 3600, "m": 60, "s": 1}[unit]
    return moment + timedelta(seconds=amount * seconds)


def _round(moment: datetime, unit: str, round_up: bool) -> datetime:
    start = moment.replace(microsecond=0)
    if unit == "y":
        start = start.replace(month=1, day=1, hour=0, minute=0, second=0)
    elif unit == "M":
        start = start.replace(day=1, hour=0, minute=0, second=0)
    elif unit == "w":
        start = (start - timedelta(days=start.weekday())).replace(hour=0, minute=0, second=0)
    elif unit == "d":
        start = start.replace(hour=0, minute=0, second=0)
    elif unit in "hH":
        start = start.replace(minute=0, second=0)
    elif unit == "m":
        start = start.replace(second=0)
    if not round_up:
        return start
    return _shift(start, 1, unit) - timedelta(milliseconds=1)

"""A small Elasticsearch ``query_string`` engine for the Zammad stand-in's ``?query=``.

Zammad sends the query to Elasticsearch as ``query_string`` with ``default_operator: AND``
and appends ``*`` to queries without a ``:`` (so ``logi`` finds "Login"). Supported:

* free text (``login page``; case-insensitive whole words, ``*``/``?`` wildcards, "quoted
  phrases") over the ticket's text fields;
* ``field:value``, ``field:"a phrase"``, ``field:wild*card``;
* ranges ``field:>V``, ``>=``, ``<``, ``<=``, ``[A TO B]``, ``{A TO B}`` (exclusive), mixed
  brackets, ``*`` as an open end;
* ``AND``/``&&``, ``OR``/``||``, ``NOT``/``!``, ``+``/``-`` prefixes, parentheses, ``field:(a OR b)``.

Lucene's grammar ends a bare term at an unescaped ``:``, so ``updated_at:>2024-01-01T10:00:00Z``
is a *syntax error* (no hits); times need escaped colons (``updated_at:>2024-01-01T10\\:00\\:00Z``)
or a bracket range (``updated_at:[2024-01-01T10:00:00Z TO *]``, where colons are fine).

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
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Union

WORD = re.compile(r"\w+", re.UNICODE)
RESERVED = {"AND", "&&", "OR", "||", "NOT", "!"}


class QueryError(ValueError):
    """The query would make Elasticsearch answer 400 (Zammad turns that into no hits)."""


@dataclass(frozen=True)
class Term:
    field: str | None
    kind: str                      # "value" | "phrase" | "range"
    value: str = ""
    lower: str | None = None       # range bounds; None = open
    upper: str | None = None
    include_lower: bool = True
    include_upper: bool = True


@dataclass(frozen=True)
class Bool:
    op: str                        # "and" | "or" | "not"
    children: tuple["Node", ...]


Node = Union[Term, Bool]


# -- parsing -----------------------------------------------------------------------------------
def parse(query: str) -> Node | None:
    """Parse a query string; None means "everything" (empty query)."""
    tokens = _tokenize(query)
    if not tokens:
        return None
    parser = _Parser(tokens)
    node = parser.expression()
    if parser.position != len(tokens):
        raise QueryError(f"unexpected {tokens[parser.position]!r}")
    return node


def _tokenize(query: str) -> list[Any]:
    tokens: list[Any] = []
    index, length = 0, len(query)
    while index < length:
        character = query[index]
        if character.isspace():
            index += 1
        elif character in "()":
            tokens.append(character)
            index += 1
        elif character == '"':
            end = _closing_quote(query, index)
            tokens.append(Term(None, "phrase", _unescape(query[index + 1:end])))
            index = end + 1
        else:
            start = index
            prefix = ""
            if character in "+-!" and index + 1 < length and not query[index + 1].isspace():
                prefix = "!" if character in "-!" else "+"
                index += 1
                start = index
            field, value_start = _field_prefix(query, start)
            if field is not None and value_start < length and query[value_start] in "[{":
                end = _closing_bracket(query, value_start)
                token = _range_term(field, query[value_start:end + 1])
                index = end + 1
            elif field is not None and value_start < length and query[value_start] == '"':
                end = _closing_quote(query, value_start)
                token = Term(field, "phrase", _unescape(query[value_start + 1:end]))
                index = end + 1
            elif field is not None and value_start < length and query[value_start] == "(":
                end = _closing_parenthesis(query, value_start)
                inner = parse(query[value_start + 1:end])
                if inner is None:
                    raise QueryError(f"empty group for {field}")
                token = _with_field(inner, field)
                index = end + 1
            else:
                end = _word_end(query, start)
                word = query[start:end]
                index = end
                if not word:
                    raise QueryError(f"unexpected {query[start]!r}")
                if field is None and word in RESERVED and not prefix:
                    tokens.append(word)
                    continue
                if re.search(r"(?<!\\):", query[value_start:end]):
                    # Lucene ends a term at an unescaped colon: "updated_at:>2024-01-01T10:00:00Z" is a
                    # syntax error (escape it: 10\\:00\\:00, or use a [.. TO ..] range)
                    raise QueryError(f"Cannot parse '{query}': Encountered \" : \"")
                token = _word_term(field, query[value_start:end]) if field is not None else \
                    Term(None, "value", _unescape(word))
            if prefix == "!":
                tokens.append("!")
            tokens.append(token)
    return tokens


def _word_end(query: str, index: int) -> int:
    """End of a bare word: whitespace or a parenthesis ends it, a backslash escapes one character."""
    while index < len(query) and not query[index].isspace() and query[index] not in "()":
        index += 2 if query[index] == "\\" else 1
    return min(index, len(query))


def _field_prefix(query: str, start: int) -> tuple[str | None, int]:
    """``(field, index of the value)`` when the word at ``start`` is ``field:...``."""
    match = re.match(r"([A-Za-z_][\w.]*):", query[start:])
    if match is None:
        return None, start
    return match.group(1), start + match.end()


def _closing_quote(query: str, start: int) -> int:
    index = start + 1
    while index < len(query):
        if query[index] == "\\":
            index += 2
            continue
        if query[index] == '"':
            return index
        index += 1
    raise QueryError("unterminated quote")


def _closing_parenthesis(query: str, start: int) -> int:
    depth = 0
    index = start
    while index < len(query):
        if query[index] == "\\":
            index += 2
            continue
        if query[index] == '"':
            index = _closing_quote(query, index) + 1
            continue
        depth += {"(": 1, ")": -1}.get(query[index], 0)
        if depth == 0:
            return index
        index += 1
    raise QueryError("missing )")


def _with_field(node: "Node", field: str) -> "Node":
    """``field:(a OR b)``: the group's field-less terms search ``field``."""
    if isinstance(node, Bool):
        return Bool(node.op, tuple(_with_field(child, field) for child in node.children))
    return node if node.field is not None else Term(field, node.kind, node.value, node.lower, node.upper,
                                                    node.include_lower, node.include_upper)


def _closing_bracket(query: str, start: int) -> int:
    for index in range(start + 1, len(query)):
        if query[index] in "]}" and query[index - 1] != "\\":
            return index
    raise QueryError("unterminated range")


def _range_term(field: str, text: str) -> Term:
    match = re.fullmatch(r"([\[{])\s*(.+?)\s+TO\s+(.+?)\s*([\]}])", text, re.DOTALL)
    if match is None:
        raise QueryError(f"bad range {text!r}")
    lower, upper = _unescape(match.group(2).strip('"')), _unescape(match.group(3).strip('"'))
    return Term(field, "range", lower=None if lower == "*" else lower, upper=None if upper == "*" else upper,
                include_lower=match.group(1) == "[", include_upper=match.group(4) == "]")


def _word_term(field: str, raw: str) -> Term:
    for operator in (">=", "<=", ">", "<"):
        if raw.startswith(operator):
            bound = _unescape(raw[len(operator):]).strip('"')
            if not bound:
                raise QueryError(f"missing value after {operator}")
            if operator[0] == ">":
                return Term(field, "range", lower=bound, include_lower=operator == ">=")
            return Term(field, "range", upper=bound, include_upper=operator == "<=")
    if not raw:
        raise QueryError(f"missing value for {field}")
    return Term(field, "value", _unescape(raw))


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


class _Parser:
    """or := and (OR and)* ; and := unary ((AND)? unary)* ; unary := (NOT|!) unary | primary"""

    def __init__(self, tokens: list[Any]) -> None:
        self.tokens = tokens
        self.position = 0

    def peek(self) -> Any:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> Any:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def expression(self) -> Node:
        children = [self.conjunction()]
        while self.peek() in ("OR", "||"):
            self.take()
            children.append(self.conjunction())
        return children[0] if len(children) == 1 else Bool("or", tuple(children))

    def conjunction(self) -> Node:
        children = [self.unary()]
        while True:
            token = self.peek()
            if token in ("AND", "&&"):
                self.take()
                children.append(self.unary())
            elif token is not None and token not in ("OR", "||", ")"):
                children.append(self.unary())
            else:
                break
        return children[0] if len(children) == 1 else Bool("and", tuple(children))

    def unary(self) -> Node:
        token = self.peek()
        if token is None:
            raise QueryError("query ends too early")
        if token in ("NOT", "!"):
            self.take()
            return Bool("not", (self.unary(),))
        if token == "(":
            self.take()
            node = self.expression()
            if self.peek() != ")":
                raise QueryError("missing )")
            self.take()
            return node
        if isinstance(token, (Term, Bool)):
            return self.take()  # type: ignore[return-value]
        raise QueryError(f"unexpected {token!r}")


# -- evaluation --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    """How one searchable field of a record is read: its kind and a getter."""

    kind: str                                   # "int" | "number" | "date" | "text" | "bool"
    get: Callable[[Any], Any]                   # record -> value or list of values


class Matcher:
    """Evaluates parsed queries against records described by a field table.

    ``fields`` maps field names (``id``, ``updated_at``, ``state.name``, ...) to ``Field``;
    ``default_text(record)`` returns the text searched by field-less terms.
    """

    def __init__(self, fields: dict[str, Field], default_text: Callable[[Any], str],
                 now: Callable[[], datetime]) -> None:
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
                return (all(self._matches(child, record) for child in positives)
                        and not any(self._matches(child, record) for child in negatives))
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
        return any((term.lower is None or word >= term.lower.lower()) and
                   (term.upper is None or word <= term.upper.lower()) for word in words)
    wanted = term.value.lower()
    if term.kind == "phrase":
        phrase = WORD.findall(wanted)
        return bool(phrase) and any(words[index:index + len(phrase)] == phrase
                                    for index in range(len(words) - len(phrase) + 1))
    if _has_wildcard(wanted):
        pattern = re.sub(r"[^\w*?]+", " ", wanted).split()
        return all(any(fnmatch.fnmatchcase(word, part) for word in words) for part in pattern) if pattern else True
    parts = WORD.findall(wanted)
    return bool(parts) and all(part in words for part in parts)


# -- dates -------------------------------------------------------------------------------------
_DATE = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})(?:T(?P<hour>\d{2})(?::(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?)?(?P<zone>Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?")
_MATH = re.compile(r"([+-]\d+[yMwdhHms])|(/[yMwdhHms])")
_UNITS = {"y": "year", "M": "month", "w": "week", "d": "day", "h": "hour", "H": "hour", "m": "minute", "s": "second"}


def parse_date(text: str, round_up: bool, now: datetime) -> datetime:
    """An Elasticsearch date bound as an aware UTC datetime with millisecond precision."""
    text = text.strip()
    if text.startswith("now"):
        return _date_math(now.astimezone(timezone.utc), text[3:], round_up)
    anchor, _, math = text.partition("||")
    if re.fullmatch(r"\d{5,}", anchor):  # epoch_millis
        moment = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=int(anchor))
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
    zone = timezone.utc
    if parts["zone"] and parts["zone"] != "Z":
        sign = 1 if parts["zone"][0] == "+" else -1
        digits = parts["zone"][1:].replace(":", "")
        zone = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0)))
    moment = datetime(year, month, day, hour, minute, second, int(fraction) * 1000, tzinfo=zone)
    return moment.astimezone(timezone.utc)


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
        day = min(moment.day, [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28,
                               31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1])
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

"""The subset of JQL the Jira stand-in understands, parsed into a predicate and an order.

Clauses: ``field op value`` with ``=``, ``!=``, ``>``, ``>=``, ``<``, ``<=``, ``field [not] in
(v, ...)``, ``field is [not] empty``; ``AND``, ``OR``, ``NOT`` and parentheses; ``ORDER BY f
[ASC|DESC], ...``. Fields: ``project``, ``key``/``issuekey``/``id``, ``labels``,
``issuetype``/``type``, ``status``, ``statusCategory``, ``parent``, ``"Epic Link"`` (Data Center
only), ``summary`` (``~`` contains), ``assignee``, ``created``, ``updated``. Values may be quoted
("..." or '...', backslash escapes) or bare words. Dates: ``"yyyy-MM-dd HH:mm"``,
``"yyyy/MM/dd HH:mm"`` or ``"yyyy-MM-dd"``, read in UTC (the stand-in's users' time zone).
Without ORDER BY, issues come newest key first (as Jira's REST search does).
Anything else is a ``JqlError`` (Jira answers 400 with the message).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Predicate = Callable[[Any], bool]

_TOKEN = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>!=|>=|<=|!~|=|>|<|~)|(?P<punct>[(),])"""
    r"""|(?P<word>[A-Za-z0-9_.\-/:@+]+))"""
)
_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
FIELDS_CLOUD = {
    "project",
    "key",
    "issuekey",
    "id",
    "labels",
    "issuetype",
    "type",
    "status",
    "statuscategory",
    "parent",
    "summary",
    "assignee",
    "created",
    "updated",
}
FIELDS_DC = FIELDS_CLOUD | {"epic link"}
MAX_DEPTH = 50  # nested parentheses (and NOTs) a query may have
ORDER_FIELDS = {"key", "issuekey", "id", "created", "updated"}


class JqlError(ValueError):
    pass


@dataclass(frozen=True)
class Token:
    kind: str  # string | op | punct | word
    text: str

    def keyword(self, *names: str) -> bool:
        return self.kind == "word" and self.text.lower() in names


@dataclass
class Query:
    predicate: Predicate
    order: list[tuple[str, bool]]  # (field, descending)


def tokenize(jql: str) -> list[Token]:
    tokens, position = [], 0
    while position < len(jql):
        if jql[position:].strip() == "":
            break
        match = _TOKEN.match(jql, position)
        if match is None or match.end() == position:
            raise JqlError(
                f"Error in the JQL Query: the character '{jql[position:].strip()[:1]}' is a reserved JQL character."
            )
        position = match.end()
        kind = match.lastgroup or "word"
        text = match.group(kind)
        if kind == "string":
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        tokens.append(Token(kind, text))
    return tokens


class Parser:
    """Recursive descent over the tokens; ``resolve(issue, field)`` reads one field of an issue."""

    def __init__(
        self,
        jql: str,
        fields: set[str],
        resolve: Callable[[Any, str], Any],
        *,
        date_fields: frozenset[str] = frozenset({"created", "updated"}),
        text_fields: frozenset[str] = frozenset({"summary"}),
        order_fields: set[str] = ORDER_FIELDS,
        default_order: tuple[str, bool] = ("key", True),
    ) -> None:
        self.tokens = tokenize(jql)
        self.at = 0
        self.depth = 0
        self.fields = fields
        self.resolve = resolve
        self.date_fields = date_fields
        self.text_fields = text_fields
        self.order_fields = order_fields
        self.default_order = default_order

    def parse(self) -> Query:
        predicate: Predicate = lambda issue: True  # noqa: E731
        if self.peek() is not None and not self.peek_keyword("order"):
            predicate = self.or_expr()
        order: list[tuple[str, bool]] = []
        if self.peek_keyword("order"):
            self.take()
            if not self.peek_keyword("by"):
                raise JqlError("Error in the JQL Query: expecting 'by' after 'order'.")
            self.take()
            while True:
                field = self.field_name()
                if field not in self.order_fields:
                    raise JqlError(f"Field '{field}' does not support sorting in the sandbox.")
                descending = False
                if self.peek_keyword("asc", "desc"):
                    descending = self.take().text.lower() == "desc"
                order.append((field, descending))
                if not self.peek_punct(","):
                    break
                self.take()
        if self.peek() is not None:
            raise JqlError(f"Error in the JQL Query: unexpected '{self.peek().text}'.")  # type: ignore[union-attr]
        return Query(predicate, order or [self.default_order])

    # -- grammar ---------------------------------------------------------------------------
    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.peek_keyword("or"):
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda issue: any(part(issue) for part in parts))

    def and_expr(self) -> Predicate:
        parts = [self.not_expr()]
        while self.peek_keyword("and"):
            self.take()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else (lambda issue: all(part(issue) for part in parts))

    def not_expr(self) -> Predicate:
        if self.peek_keyword("not"):
            self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise JqlError("Error in the JQL Query: too many nested NOTs.")
            inner = self.not_expr()
            self.depth -= 1
            return lambda issue: not inner(issue)
        if self.peek_punct("("):
            self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise JqlError("Error in the JQL Query: too many nested parentheses.")
            inner = self.or_expr()
            self.depth -= 1
            self.expect_punct(")")
            return inner
        return self.clause()

    def clause(self) -> Predicate:
        field = self.field_name()
        if field not in self.fields:
            raise JqlError(f"Field '{field}' does not exist or you do not have permission to view it.")
        token = self.take()
        if token.keyword("is"):
            negate = False
            if self.peek_keyword("not"):
                self.take()
                negate = True
            if not self.peek_keyword("empty", "null"):
                raise JqlError("Error in the JQL Query: expecting EMPTY or NULL after IS.")
            self.take()
            return lambda issue: _empty(self.resolve(issue, field)) != negate
        if token.keyword("not") and self.peek_keyword("in"):
            self.take()
            values = self.value_list()
            return lambda issue: not any(_equal(self.resolve(issue, field), value, field) for value in values)
        if token.keyword("in"):
            values = self.value_list()
            return lambda issue: any(_equal(self.resolve(issue, field), value, field) for value in values)
        if token.kind != "op":
            raise JqlError(f"Error in the JQL Query: expecting an operator after '{field}', got '{token.text}'.")
        value = self.value()
        operator = token.text
        if field in self.date_fields:
            if operator not in ("=", "!=", ">", ">=", "<", "<="):
                raise JqlError(f"The operator '{operator}' is not supported by the '{field}' field.")
            when = _date(value)
            return lambda issue: _compare(self.resolve(issue, field), operator, when)
        if operator in ("~", "!~"):
            if field not in self.text_fields:
                raise JqlError(f"The operator '{operator}' is not supported by the '{field}' field.")
            needle = value.lower().strip("*")
            return lambda issue: (needle in str(self.resolve(issue, field)).lower()) == (operator == "~")
        if operator not in ("=", "!="):
            raise JqlError(f"The operator '{operator}' is not supported by the '{field}' field in the sandbox.")
        if field in self.text_fields and field == "summary":
            raise JqlError("The operator '=' is not supported by the 'summary' field.")
        return lambda issue: _equal(self.resolve(issue, field), value, field) == (operator == "=")

    def value_list(self) -> list[str]:
        self.expect_punct("(")
        values = [self.value()]
        while self.peek_punct(","):
            self.take()
            values.append(self.value())
        self.expect_punct(")")
        return values

    def value(self) -> str:
        token = self.take()
        if token.kind not in ("string", "word"):
            raise JqlError(f"Error in the JQL Query: expecting a value, got '{token.text}'.")
        return token.text

    def field_name(self) -> str:
        token = self.take()
        if token.kind not in ("string", "word"):
            raise JqlError(f"Error in the JQL Query: expecting a field name, got '{token.text}'.")
        return token.text.lower()

    # -- tokens ----------------------------------------------------------------------------
    def peek(self) -> Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def peek_keyword(self, *names: str) -> bool:
        token = self.peek()
        return token is not None and token.keyword(*names)

    def peek_punct(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "punct" and token.text == text

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise JqlError("Error in the JQL Query: the query ended unexpectedly.")
        self.at += 1
        return token

    def expect_punct(self, text: str) -> None:
        if not self.peek_punct(text):
            raise JqlError(f"Error in the JQL Query: expecting '{text}'.")
        self.take()


def parse(jql: str, *, cloud: bool, resolve: Callable[[Any, str], Any]) -> Query:
    return Parser(jql, FIELDS_CLOUD if cloud else FIELDS_DC, resolve).parse()


def _empty(actual: Any) -> bool:
    return actual is None or actual == "" or actual == [] or actual == ()


def _equal(actual: Any, expected: str, field: str) -> bool:
    """Jira compares keys, names and labels case-insensitively; a list field holds ``expected``."""
    if isinstance(actual, (list, tuple, set)):
        if field == "labels":
            return expected in actual  # labels are case-sensitive
        return any(str(item).lower() == expected.lower() for item in actual)
    return actual is not None and str(actual).lower() == expected.lower()


def _date(text: str) -> datetime:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise JqlError(
        f"Date value '{text}' for field is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', "
        "'yyyy/MM/dd', 'yyyy-MM-dd'."
    )


def _compare(actual: Any, operator: str, when: datetime) -> bool:
    if not isinstance(actual, datetime):
        return False
    return {
        "=": actual == when,
        "!=": actual != when,
        ">": actual > when,
        ">=": actual >= when,
        "<": actual < when,
        "<=": actual <= when,
    }[operator]

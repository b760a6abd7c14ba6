"""The Elasticsearch ``query_string`` grammar of the Zammad stand-in's ``?query=``: query text ->
a tree of ``Term`` and ``Bool`` nodes (``zammad_search`` evaluates the tree against records).

Supported:

* free text (``login page``), "quoted phrases", ``*``/``?`` wildcards;
* ``field:value``, ``field:"a phrase"``, ``field:wild*card``;
* ranges ``field:>V``, ``>=``, ``<``, ``<=``, ``[A TO B]``, ``{A TO B}`` (exclusive), mixed
  brackets, ``*`` as an open end;
* ``AND``/``&&``, ``OR``/``||``, ``NOT``/``!``, ``+``/``-`` prefixes, parentheses, ``field:(a OR b)``.

Lucene's grammar ends a bare term at an unescaped ``:``, so ``updated_at:>2024-01-01T10:00:00Z``
is a *syntax error* (no hits); times need escaped colons (``updated_at:>2024-01-01T10\\:00\\:00Z``)
or a bracket range (``updated_at:[2024-01-01T10:00:00Z TO *]``, where colons are fine). A query
Elasticsearch would reject raises ``QueryError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

RESERVED = {"AND", "&&", "OR", "||", "NOT", "!"}


class QueryError(ValueError):
    """The query would make Elasticsearch answer 400 (Zammad turns that into no hits)."""


@dataclass(frozen=True)
class Term:
    field: str | None
    kind: str  # "value" | "phrase" | "range"
    value: str = ""
    lower: str | None = None  # range bounds; None = open
    upper: str | None = None
    include_lower: bool = True
    include_upper: bool = True


@dataclass(frozen=True)
class Bool:
    op: str  # "and" | "or" | "not"
    children: tuple[Node, ...]


Node = Term | Bool


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
            tokens.append(Term(None, "phrase", _unescape(query[index + 1 : end])))
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
                token = _range_term(field, query[value_start : end + 1])
                index = end + 1
            elif field is not None and value_start < length and query[value_start] == '"':
                end = _closing_quote(query, value_start)
                token = Term(field, "phrase", _unescape(query[value_start + 1 : end]))
                index = end + 1
            elif field is not None and value_start < length and query[value_start] == "(":
                end = _closing_parenthesis(query, value_start)
                inner = parse(query[value_start + 1 : end])
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
                token = (
                    _word_term(field, query[value_start:end])
                    if field is not None
                    else Term(None, "value", _unescape(word))
                )
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


def _with_field(node: Node, field: str) -> Node:
    """``field:(a OR b)``: the group's field-less terms search ``field``."""
    if isinstance(node, Bool):
        return Bool(node.op, tuple(_with_field(child, field) for child in node.children))
    return (
        node
        if node.field is not None
        else Term(field, node.kind, node.value, node.lower, node.upper, node.include_lower, node.include_upper)
    )


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
    return Term(
        field,
        "range",
        lower=None if lower == "*" else lower,
        upper=None if upper == "*" else upper,
        include_lower=match.group(1) == "[",
        include_upper=match.group(4) == "]",
    )


def _word_term(field: str, raw: str) -> Term:
    for operator in (">=", "<=", ">", "<"):
        if raw.startswith(operator):
            bound = _unescape(raw[len(operator) :]).strip('"')
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

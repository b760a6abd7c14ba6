"""Typed access to a service's JSON: every answer a client hands on is checked against the shape
the jobs rely on, so bad data from a server (null, a list where an object belongs, a missing id,
an id that is not an integer or does not fit SQLite's 64-bit integer, text where a number
belongs) stops the run with one line naming the service, the request and what was wrong (69,
`BadAnswer`), before anything is planned or written, instead of a crash later.

A shape maps field names to kinds (`KINDS`); a kind ending in `?` may be missing or null:
    PROJECT = shape(id="id", name="str", customer="id", comment="str?")
A dotted name checks a field of a nested object (`user.id`). Fields a shape does not name are
passed on unchecked. Values from the server are never quoted in
the error (one could hold an echoed secret): only their kind, or a number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from ..http import BadAnswer

if TYPE_CHECKING:
    from ..http import ServiceSession

Record = dict[str, Any]
Shape = Mapping[str, str]  # field -> kind (see KINDS), "?" suffix: optional / nullable

MAX_INT = 2**63 - 1  # SQLite's INTEGER
MAX_NUMBER = 1e15  # a duration, an amount or hours beyond this is not a real value


def _is_int(value: Any) -> bool:
    return type(value) is int and -MAX_INT - 1 <= value <= MAX_INT


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value) and abs(value) <= MAX_NUMBER


def _is_decimal(value: Any) -> bool:
    """A number, or a number written as text (Zammad's time_unit "15.0")."""
    if isinstance(value, str):
        try:
            return len(value) <= 40 and _is_number(float(value))
        except ValueError:
            return False
    return _is_number(value)


def _is_time(value: Any) -> bool:
    """An ISO 8601 / RFC 3339 date-time as the services write them (Z, +00:00, Kimai's +0200)."""
    if not isinstance(value, str) or not 10 <= len(value) <= 64:
        return False
    text = value.strip().replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _is_date(value: Any) -> bool:
    """A calendar day, YYYY-MM-DD."""
    if not isinstance(value, str) or len(value) != 10:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


KINDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "id": ("an id (a whole number from 1 to 2^63-1)", lambda v: _is_int(v) and v > 0),
    "int": ("a whole number that fits 64 bits", _is_int),
    "number": ("a finite number", _is_number),
    "decimal": ("a number", _is_decimal),
    "str": ("text", lambda v: isinstance(v, str)),
    "time": ("a date and time (ISO 8601)", _is_time),
    "date": ("a date (YYYY-MM-DD)", _is_date),
    "bool": ("true or false", lambda v: isinstance(v, bool)),
    "list": ("a list", lambda v: isinstance(v, list)),
    "object": ("an object", lambda v: isinstance(v, dict)),
    "ids": ("a list of ids", lambda v: isinstance(v, list) and all(_is_int(i) and i > 0 for i in v)),
    "any": ("anything", lambda v: True),
}


def shape(**fields: str) -> Shape:
    """A shape of named fields; the kinds are checked here, once, when the module loads."""
    for name, kind in fields.items():
        if kind.rstrip("?") not in KINDS:
            raise ValueError(f"unknown kind {kind!r} for field {name!r}")
    return dict(fields)


def describe(value: Any) -> str:
    """What a value is, without quoting text (it might hold a secret)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        digits = str(abs(value))
        return str(value) if len(digits) <= 30 else f"a {len(digits)}-digit number"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return f"text of {len(value)} characters" if value else "empty text"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def problem(body: Any, fields: Shape) -> str | None:
    """What is wrong with one object against `fields`, or None when it fits."""
    if not isinstance(body, dict):
        return f"expected an object, got {describe(body)}"
    for name, kind in fields.items():
        optional = kind.endswith("?")
        kind = kind.rstrip("?")
        present, value = _lookup(body, name)
        if value is None:
            if optional:
                continue
            return f"{name} is missing" if not present else f"{name} is null, not {KINDS[kind][0]}"
        text, test = KINDS[kind]
        if not test(value):
            return f"{name} is {describe(value)}, not {text}"
    return None


def _lookup(body: Record, name: str) -> tuple[bool, Any]:
    """(present, value) of a field; `user.id` is the id of the object in `user` (a field below
    a missing or null object is missing, so `user.id` of an optional `user` may be left out)."""
    value: Any = body
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def one(http: ServiceSession, where: str, body: Any, fields: Shape) -> Record:
    """`body` as one checked object, or BadAnswer naming the service, `where` and the fault."""
    wrong = problem(body, fields)
    if wrong is not None:
        raise BadAnswer(f"{where}: {wrong}", service=http.service)
    assert isinstance(body, dict)
    return body


def many(http: ServiceSession, where: str, body: Any, fields: Shape) -> list[Record]:
    """`body` as a list of checked objects, or BadAnswer naming the item at fault."""
    if not isinstance(body, list):
        raise BadAnswer(f"{where}: expected a list, got {describe(body)}", service=http.service)
    for index, item in enumerate(body, 1):
        wrong = problem(item, fields)
        if wrong is not None:
            raise BadAnswer(f"{where}: item {index}: {wrong}", service=http.service)
    return body


def get_one(http: ServiceSession, path: str, params: Any = None, fields: Shape | None = None) -> Record:
    """GET `path` and check the answer is one object of `fields`."""
    return one(http, f"GET {http.path_of(path)}", http.get_json(path, params), fields or {})


def get_many(http: ServiceSession, path: str, params: Any = None, fields: Shape | None = None) -> list[Record]:
    """GET `path` and check the answer is a list of objects of `fields`."""
    return many(http, f"GET {http.path_of(path)}", http.get_json(path, params), fields or {})


def send_one(
    http: ServiceSession, method: str, path: str, fields: Shape, *, json: Any = None, ok: tuple[int, ...] = (200, 201)
) -> Record:
    """A write whose answer is the object written (its id above all), checked."""
    response = http.request(method, path, json=json, ok=ok)
    return one(http, f"{method} {http.path_of(path)}", http.json_of(response), fields)

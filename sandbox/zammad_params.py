"""How the Zammad stand-in reads its inputs, the way Zammad's Rails code does: the token header,
``true``-ish flags, ``to_i`` numbers, CanPaginate's paging and integer id columns; and the times
the state API (tests, seeds) accepts.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sandbox.server import Request


def rails_token(credentials: str) -> str:
    """ActionController::HttpAuthentication::Token: ``token="abc", x=y`` or ``abc`` -> ``abc``."""
    first = re.split(r"\s*(?:,|;|\t)\s*", credentials.strip())[0]
    if not first.startswith("token="):
        first = "token=" + first
    value = first.split("=", 1)[1]
    return re.sub(r'^"|"$', "", value)


def flag(request: Request, name: str) -> bool:
    """Zammad's response_expand? & co.: anything but blank or ``false`` is true."""
    value = request.arg(name)
    return value is not None and value.strip() not in ("", "false")


def ruby_int(text: str) -> int:
    match = re.match(r"\s*[+-]?\d+", text)
    return int(match.group(0)) if match else 0


def paging(request: Request, default: int, maximum: int) -> tuple[int, int]:
    """(limit, offset) like CanPaginate::Pagination: ``per_page || limit || default`` via
    ``to_i``, clamped to ``maximum``; ``page`` via ``to_i`` (default 1)."""
    raw = request.arg("per_page")
    if raw is None:
        raw = request.arg("limit")
    limit = min(ruby_int(raw) if raw is not None else default, maximum)
    page_raw = request.arg("page")
    page = ruby_int(page_raw) if page_raw is not None else 1
    return limit, (page - 1) * limit


def cast_ids(body: Any) -> dict[str, Any]:
    """The request body with ``type_id``/``ticket_article_id`` cast like ActiveRecord casts
    integer columns ("4" -> 4)."""
    body = dict(body) if isinstance(body, dict) else {}
    for key in ("type_id", "ticket_article_id"):
        value = body.get(key)
        if isinstance(value, str):
            body[key] = ruby_int(value) if value.strip() else None
        elif isinstance(value, float):
            body[key] = int(value)
    return body


def record_id(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def to_moment(value: Any) -> datetime:
    """A datetime or ISO 8601 text as an aware UTC datetime at millisecond precision."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime or ISO 8601 text, got {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)

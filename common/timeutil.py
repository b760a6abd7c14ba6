"""Time zones end to end. Kimai takes local wall-clock time without offset in the Kimai user's
zone and answers `Y-m-d\\TH:i:sO`; sources give UTC instants. Every conversion is explicit."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import DataError

T = TypeVar("T")

KIMAI_LOCAL = "%Y-%m-%dT%H:%M:%S"


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DataError(f"unknown time zone {name!r}") from None


def parse_instant(value: str) -> datetime:
    """An ISO 8601 / RFC 3339 instant (Z, +00:00, +0200, fractions) as an aware UTC datetime."""
    text = value.strip().replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":  # +0200 -> +02:00 (Kimai)
        text = f"{text[:-2]}:{text[-2:]}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise DataError(f"time without offset: {value!r}")
    return parsed.astimezone(UTC)


def to_kimai_local(instant: datetime, tz: tzinfo) -> str:
    """An aware instant as Kimai's local wall-clock string in zone `tz` (a ZoneInfo)."""
    return instant.astimezone(tz).strftime(KIMAI_LOCAL)


def from_local(naive_text_or_dt: str | datetime, tz: ZoneInfo, where: str = "") -> datetime:
    """Local wall-clock time in `tz` as an aware UTC instant. A time that does not exist (the hour
    skipped when clocks go forward) is refused; an ambiguous one (the hour repeated when clocks go
    back) is taken as its first occurrence."""
    local = (
        naive_text_or_dt if isinstance(naive_text_or_dt, datetime) else datetime.strptime(naive_text_or_dt, KIMAI_LOCAL)
    )
    instant = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != local:
        raise DataError(f"{where}{local:%Y-%m-%d %H:%M} does not exist in {tz.key} (clocks go forward)")
    return instant


def for_people(value: T) -> T | str:
    """An ISO 8601 instant (as the store keeps it) as this machine's local wall-clock time that
    names its zone, e.g. '2026-11-27 15:03:12 CET'; None and text that is no instant stay as
    they are. Machine output (JSON) keeps the ISO text."""
    if not value:
        return value
    try:
        local = parse_instant(str(value)).astimezone()
    except (ValueError, DataError):
        return value
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"

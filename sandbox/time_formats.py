"""Time and date formats more than one stand-in uses."""

from __future__ import annotations

import re
from datetime import UTC, datetime

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def go_time(moment: datetime) -> str:
    """RFC 3339 as Go renders a time.Time (RFC3339Nano): UTC as ``Z``, the fraction only when
    non-zero and without trailing zeros (``2024-12-16T02:24:56.5667Z``)."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def is_date(text: str) -> bool:
    """Whether ``text`` is ``YYYY-MM-DD`` and names a real calendar day."""
    if not ISO_DATE.fullmatch(text):
        return False
    try:
        datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return False
    return True

"""A wall clock for sandbox state that never goes backwards and never repeats.

Services stamp created/updated/modified times with it, so two changes made in quick succession
always get strictly increasing times (microsecond resolution, or milliseconds where the real
service stores no more), while staying close to real time.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SandboxClock:
    """Real time in UTC, nudged forward by one tick whenever it would not increase."""

    tick_us = 1  # the resolution, in microseconds

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_tick = 0
        self._offset_ns = 0  # how far this server's clock is from real time (skew())

    def skew(self, seconds: float) -> None:
        """Set this server's clock `seconds` away from real time (negative: behind). Stamps and
        the Date header follow it; times stamped before are not changed."""
        with self._lock:
            self._offset_ns = int(seconds * 1e9)
            self._last_tick = 0

    def wall(self) -> float:
        """This server's current time in unix seconds (for the Date header), without a tick."""
        return (time.time_ns() + self._offset_ns) / 1e9

    def now(self) -> datetime:
        """Return an aware UTC datetime strictly later than any value returned before."""
        with self._lock:
            current = (time.time_ns() + self._offset_ns) // (1000 * self.tick_us)
            if current <= self._last_tick:
                current = self._last_tick + 1
            self._last_tick = current
        return EPOCH + timedelta(microseconds=current * self.tick_us)


class MillisecondClock(SandboxClock):
    """The same clock at millisecond precision (Zammad's times have three fraction digits)."""

    tick_us = 1000

"""One total deadline per HTTP exchange, whatever the server sends and however slowly.

A socket timeout only bounds the wait for the *next* byte: a server that trickles its status
line, its headers or its body one byte at a time (each before the timeout) would hold a run, and
its lock, forever. So every request gets an `Exchange`, a time budget shared by all its attempts
(retries and the waits between them included), and each attempt (connect, send, status line,
headers, body) its own deadline inside that budget. One watchdog thread enforces them: when an
attempt's deadline passes it shuts the attempt's socket down, which wakes the blocked read at
once; the attempt then ends with `DeadlinePassed`, which is never retried (a server that
trickled once trickles again).

The pools installed by `common.http.GuardedAdapter` (`DeadlineHTTPConnectionPool`, ...) start an
attempt on every connection urllib3 sends on; `common.http` reads the body under the same
deadline and reports an overrun as one error line (69, or an unknown outcome for a write).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from . import shutdown

_local = threading.local()


class DeadlinePassed(Exception):
    """An attempt outlived its deadline, or the request its whole budget. Deliberately not one of
    urllib3's or requests' exceptions, so nothing on the way retries it."""

    def __init__(self, exchange: Exchange, budget_spent: bool) -> None:
        super().__init__("budget spent" if budget_spent else "attempt deadline passed")
        self.exchange = exchange
        self.budget_spent = budget_spent


class Exchange:
    """The time budget of one request: `request_timeouts` x `timeout` seconds for every attempt
    and wait together, and at most `attempt_timeouts` x `timeout` for each attempt."""

    def __init__(self, timeout: float, attempt_timeouts: float, request_timeouts: float) -> None:
        now = time.monotonic()
        self.timeout = timeout
        self.attempt_timeouts, self.request_timeouts = attempt_timeouts, request_timeouts
        self.request_end = now + request_timeouts * timeout
        self.attempt_end = min(now + attempt_timeouts * timeout, self.request_end)
        self.attempts = 0
        self.expired = False  # set by the watchdog: the current attempt's deadline passed
        self.stopped = False  # set by the watchdog: a stop request (SIGTERM) cut a read
        self.method = "GET"  # a read is cut at once on a stop request; a write's answer is awaited
        self._conn: Any = None

    def start_attempt(self, conn: Any) -> None:
        """A new attempt on urllib3 connection `conn` begins now (raises DeadlinePassed when the
        request's budget is spent)."""
        now = time.monotonic()
        if now >= self.request_end:
            raise DeadlinePassed(self, budget_spent=True)
        with _WATCHDOG.lock:
            self.attempts += 1
            self.expired = False
            self.attempt_end = min(now + self.attempt_timeouts * self.timeout, self.request_end)
            self._conn = conn
        _WATCHDOG.arm(self)

    def extend(self, seconds: float) -> None:
        """Give the request `seconds` more (time it spent waiting on our side, not the server's)."""
        if seconds > 0:
            self.request_end += seconds
            self.attempt_end += seconds

    def remaining(self) -> float:
        """Seconds left of the request's budget."""
        return self.request_end - time.monotonic()

    def overrun(self) -> bool:
        """Whether the current attempt passed its deadline (the watchdog fired, or it is due)."""
        return (self.expired and not self.stopped) or time.monotonic() > self.attempt_end

    def budget_spent(self) -> bool:
        """Whether the current attempt's deadline is the request's own end (it had less time left
        than an attempt gets): an overrun then means the whole budget is spent."""
        return self.attempt_end >= self.request_end

    def finish(self) -> None:
        """The exchange is over: the watchdog forgets it (and never touches its connection,
        which may already serve another request)."""
        _WATCHDOG.disarm(self)

    def _expire(self) -> None:
        """Called by the watchdog, under its lock: wake the blocked read by shutting the socket."""
        self.expired = True
        sock = getattr(self._conn, "sock", None)
        self._conn = None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


STOP_POLL = 0.2  # seconds between two looks at a stop request while reads are under way


class _Watchdog:
    """One daemon thread that expires the attempts whose deadline passed, and cuts every read
    (GET, HEAD) at once when a stop (SIGTERM) is requested."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self._armed: dict[int, Exchange] = {}
        self._thread: threading.Thread | None = None

    def arm(self, exchange: Exchange) -> None:
        with self.lock:
            self._armed[id(exchange)] = exchange
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="http-deadlines", daemon=True)
                self._thread.start()
            self.lock.notify()

    def disarm(self, exchange: Exchange) -> None:
        with self.lock:
            self._armed.pop(id(exchange), None)
            exchange._conn = None

    def _run(self) -> None:
        with self.lock:
            while True:
                now = time.monotonic()
                stop = shutdown.requested()
                for key, exchange in list(self._armed.items()):
                    if stop and exchange.method in ("GET", "HEAD"):
                        exchange.stopped = True
                    if exchange.attempt_end <= now or exchange.stopped:
                        del self._armed[key]
                        exchange._expire()
                next_due = min((e.attempt_end for e in self._armed.values()), default=None)
                self.lock.wait(None if next_due is None else min(max(next_due - now, 0.001), STOP_POLL))


_WATCHDOG = _Watchdog()


def current() -> Exchange | None:
    """The exchange of the request this thread is sending, if any."""
    return getattr(_local, "exchange", None)


def begin(exchange: Exchange) -> None:
    _local.exchange = exchange


def end(exchange: Exchange) -> None:
    exchange.finish()
    if current() is exchange:
        _local.exchange = None


class _DeadlinePool:
    """Mixin for urllib3 pools: every attempt (each retry too) starts under the exchange's clock."""

    def _make_request(self, conn: Any, *args: Any, **kw: Any) -> Any:
        exchange = current()
        if exchange is None:
            return super()._make_request(conn, *args, **kw)  # type: ignore[misc]
        exchange.start_attempt(conn)
        try:
            return super()._make_request(conn, *args, **kw)  # type: ignore[misc]
        except Exception:
            if exchange.stopped:
                shutdown.check()  # Interrupted (75): the run ends after the item in flight
            if exchange.overrun():
                raise DeadlinePassed(exchange, budget_spent=exchange.budget_spent()) from None
            raise


class DeadlineHTTPConnectionPool(_DeadlinePool, HTTPConnectionPool):
    pass


class DeadlineHTTPSConnectionPool(_DeadlinePool, HTTPSConnectionPool):
    pass


POOL_CLASSES = {"http": DeadlineHTTPConnectionPool, "https": DeadlineHTTPSConnectionPool}

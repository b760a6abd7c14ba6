"""A polite stop: SIGTERM (systemd stop, `kill`) asks the run to end after the item in flight.

`install()` is called once by a script that runs jobs; long loops call `check()` between items,
which raises Interrupted (exit 75) once a stop was asked for. Nothing is cut half-way: a write
already sent is answered and recorded before the run ends.
"""

from __future__ import annotations

import signal
import threading

from .errors import Interrupted

_requested = threading.Event()


def install() -> None:
    """Turn SIGTERM into a stop request (main thread only; a no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, lambda signum, frame: _requested.set())


def request() -> None:
    _requested.set()


def requested() -> bool:
    return _requested.is_set()


def check() -> None:
    """Raise Interrupted when a stop was asked for."""
    if _requested.is_set():
        raise Interrupted("stopped by a signal after the item in flight; the next run carries on")

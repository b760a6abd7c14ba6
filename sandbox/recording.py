"""The request log, the contract violations and the sandbox's own failures, for all services.

A failure is a stand-in that broke while serving (an exception in a handler or in the contract
check): it is recorded as a violation too (so strict tests fail on it) and in ``failures``.
``listener(kind, service, message, detail)`` hears each new problem as it is recorded, before the
response goes out (``kind`` is ``"violation"`` or ``"failure"``; ``detail`` the traceback).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


@dataclass(frozen=True)
class RequestRecord:
    """One API request as the sandbox saw it.

    ``status`` is None when no response was sent (a ``drop`` or ``commit_drop`` fault);
    ``fault`` names the injected fault (``error``, ``429``, ``drop``, ``commit_drop``), or is
    ``sandbox_failure`` when the stand-in itself broke (answered 500), or None.
    """

    service: str
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int | None
    fault: str | None
    headers: dict[str, str] = field(default_factory=dict)
    time: float = 0.0

    @property
    def is_write(self) -> bool:
        """A request that may change state. Getting a token (the identity platform's POST, served
        by the Graph stand-in) changes nothing, so it is a read here, as in tracksync's counts."""
        return self.method in WRITE_METHODS and not self.path.endswith("/oauth2/v2.0/token")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """Thread-safe, append-only store of request records and violation messages."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._violations: list[str] = []
        self._failures: list[str] = []
        self.listener: Callable[[str, str, str, str], None] | None = None

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def add_violations(self, messages: list[str], service: str = "") -> None:
        if messages:
            with self._lock:
                self._violations.extend(messages)
            for message in messages:
                self._tell("violation", service, message, "")

    def add_failure(self, service: str, message: str, detail: str = "") -> None:
        with self._lock:
            self._violations.append(message)
            self._failures.append(message)
        self._tell("failure", service, message, detail)

    def _tell(self, kind: str, service: str, message: str, detail: str) -> None:
        if self.listener is not None:
            self.listener(kind, service, message, detail)

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def violations(self) -> list[str]:
        with self._lock:
            return list(self._violations)

    def failures(self) -> list[str]:
        with self._lock:
            return list(self._failures)

    def clear_records(self) -> None:
        with self._lock:
            self._records.clear()

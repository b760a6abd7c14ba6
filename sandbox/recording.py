"""The request log and the list of contract violations shared by all sandbox services."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


@dataclass(frozen=True)
class RequestRecord:
    """One API request as the sandbox saw it.

    ``status`` is None when no response was sent (a ``drop`` or ``commit_drop`` fault);
    ``fault`` names the injected fault (``error``, ``429``, ``drop``, ``commit_drop``) or is None.
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
        return self.method in WRITE_METHODS

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """Thread-safe, append-only store of request records and violation messages."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._violations: list[str] = []

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def add_violations(self, messages: list[str]) -> None:
        if messages:
            with self._lock:
                self._violations.extend(messages)

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def violations(self) -> list[str]:
        with self._lock:
            return list(self._violations)

    def clear_records(self) -> None:
        with self._lock:
            self._records.clear()

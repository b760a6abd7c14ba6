"""Exception types, each carrying the exit code the scripts return for it (DESIGN.md §5)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

OK = 0
UNEXPECTED = 1
USAGE = 2
PARTIAL = 3
DATA_INVALID = 65
UNAVAILABLE = 69
IO_ERROR = 74  # EX_IOERR
TEMPORARY = 75
AUTH = 77
CONFIG = 78

EXIT_CODES = {
    OK: "everything done",
    UNEXPECTED: "unexpected error (a bug: the log has the traceback)",
    USAGE: "usage error (bad flag or argument)",
    PARTIAL: "partial: the run finished, some items failed (listed)",
    DATA_INVALID: "input data invalid (a CSV row, a backup archive, a webhook body)",
    UNAVAILABLE: "a service is unreachable",
    IO_ERROR: "input/output error: the disk is full or a file cannot be written (names the path)",
    TEMPORARY: "temporary: rate limited, lock held, retry later",
    AUTH: "authentication or permission refused",
    CONFIG: "configuration invalid or missing (names the key)",
}

# Most serious first: used when several checks fail and one code must be chosen.
SEVERITY = [UNEXPECTED, AUTH, CONFIG, IO_ERROR, UNAVAILABLE, DATA_INVALID, TEMPORARY, PARTIAL, OK]


def exit_codes_help() -> str:
    """The exit code table as text, for --help epilogs."""
    return "\b\nExit codes:\n" + "\n".join(f"  {code:>3}  {text}" for code, text in EXIT_CODES.items())


def most_serious(codes: Iterable[int]) -> int:
    distinct = set(codes) or {OK}
    return min(distinct, key=lambda c: SEVERITY.index(c) if c in SEVERITY else 0)


class SyncError(Exception):
    """Base class: a failure the user should see as one line, with a documented exit code."""

    exit_code = UNEXPECTED

    def __init__(self, message: str, *, service: str | None = None) -> None:
        super().__init__(message)
        self.service = service

    def __str__(self) -> str:
        text = super().__str__()
        return f"{self.service}: {text}" if self.service else text


class UsageError(SyncError):
    exit_code = USAGE


class ConfigError(SyncError):
    """A configuration key is missing or malformed; the message names the key."""

    exit_code = CONFIG

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"configuration key {key}: {problem}")
        self.key = key


class DataError(SyncError):
    exit_code = DATA_INVALID


class ServiceUnavailable(SyncError):
    exit_code = UNAVAILABLE


class TemporaryError(SyncError):
    exit_code = TEMPORARY


class RateLimited(TemporaryError):
    pass


class LockHeld(TemporaryError):
    pass


class Interrupted(TemporaryError):
    """SIGTERM (or SIGINT) arrived: the item in flight was finished, the rest is left for the
    next run, which heals as after a crash."""


class IOFailure(SyncError):
    """A file cannot be written: the disk is full, or it fails (74, EX_IOERR); names the path."""

    exit_code = IO_ERROR


class StoreError(SyncError):
    """The store at DATABASE_PATH cannot be used; the message names DATABASE_PATH and the path.
    The subclasses say why, each with its exit code; this base (78) is a folder, a path that
    cannot be opened, or a store from a newer tracksync."""

    exit_code = CONFIG

    def __init__(self, path: object, problem: str | None = None, hint: str | None = None) -> None:
        """StoreError(path, problem, hint), or StoreError(message) for a message already whole."""
        if problem is None:
            super().__init__(str(path))
            self.path: object = None
        else:
            problem = " ".join(problem.split())  # one line, whatever SQLite's text holds
            super().__init__(f"DATABASE_PATH {path}: {problem}" + (f"; {hint}" if hint else ""))
            self.path = path


class StoreDamaged(StoreError):
    """A SQLite store whose content is damaged (65): restore a backup."""

    exit_code = DATA_INVALID


class StoreLocked(StoreError, TemporaryError):
    """Another process held the store's write lock beyond the wait (75): retry later."""

    exit_code = TEMPORARY


class StoreFull(StoreError, IOFailure):
    """The disk holding the store is full or failing (74)."""

    exit_code = IO_ERROR


class AuthError(SyncError):
    exit_code = AUTH


class NotFound(SyncError):
    """The service answered 404 for a resource the caller named."""

    exit_code = PARTIAL


class ApiError(SyncError):
    """The service refused a request (4xx other than auth, or a 5xx after retries)."""

    exit_code = PARTIAL

    def __init__(
        self, message: str, *, service: str | None = None, status: int | None = None, body: Any = None
    ) -> None:
        super().__init__(message, service=service)
        self.status = status
        self.body = body


class UnknownOutcome(SyncError):
    """A write whose result never arrived (dropped connection, 5xx after the server may have
    committed). It is never resent blindly: the job looks for the origin marker instead."""

    exit_code = PARTIAL


class DryRunWrite(SyncError):
    """A write was attempted under --dry-run. Raised by the HTTP layer; a bug if ever seen."""

    exit_code = UNEXPECTED


# Failures that stop the whole run (77, 69, 75, 74, the store, or a bug): every other SyncError
# fails one item only.
STOPS_RUN = (AuthError, ServiceUnavailable, TemporaryError, IOFailure, StoreError, DryRunWrite)

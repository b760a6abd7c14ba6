"""Fault injection: latency, 5xx answers, 429 with Retry-After, dropped connections and
"commit then drop" (the write is performed, then the connection closes without a response);
and hostile behaviour, switched on by name (``hostile=[...]``, see HOSTILE), optionally only for
request paths matching ``paths`` (a regular expression) and for ``methods``:

- ``no_paging_headers``: Link, X-Total-Count, X-Total-Pages and X-Page headers left out.
- ``repeat_page``: the page parameter is ignored, every page is the first one.
- ``loop_next``: a next link (Link rel="next", ``links.next``) points at the page just served.
- ``foreign_next``: a next link points at another origin (``foreign_origin``, by default
  http://localhost:<the same port>, so a client that follows it is recorded with its headers).
- ``trickle``: status line, headers and body sent one byte every ``trickle_ms`` milliseconds.
- ``oversized``: the JSON body preceded by ``oversized_mib`` MiB of whitespace (still valid).
- ``echo_credentials``: answered ``echo_status`` (400) with an error body that echoes the
  request's credentials: the Authorization (or token) header as sent, lower-cased, URL-encoded,
  base64-encoded, and a Basic header's decoded user:password. Nothing is performed.
- ``malformed_json``: the real answer cut in the middle (truncated JSON, the status kept).
- ``html_200``: 200 with an HTML page instead of JSON. Nothing is performed.
- ``empty_200`` / ``null_200``: 200 with an empty body / with ``null``. Nothing is performed.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, replace

from sandbox.recording import WRITE_METHODS

ERROR_STATUSES = (500, 502, 503)
RATE_SETTINGS = ("error_rate", "rate_429", "drop_rate", "commit_drop_rate")
HOSTILE = (
    "no_paging_headers",
    "repeat_page",
    "loop_next",
    "foreign_next",
    "trickle",
    "oversized",
    "echo_credentials",
    "malformed_json",
    "html_200",
    "empty_200",
    "null_200",
)
# hostile answers that replace the service's (it never sees the request)
HOSTILE_ANSWERS = ("echo_credentials", "html_200", "empty_200", "null_200")


@dataclass(frozen=True)
class FaultSettings:
    latency_ms: float = 0
    error_rate: float = 0.0
    rate_429: float = 0.0
    drop_rate: float = 0.0
    commit_drop_rate: float = 0.0
    retry_after: int = 1
    seed: int | None = None
    services: tuple[str, ...] | None = None
    hostile: tuple[str, ...] = ()
    paths: str | None = None  # hostile behaviour only for request paths matching this regex
    methods: tuple[str, ...] | None = None  # ... and only for these methods
    trickle_ms: float = 200
    oversized_mib: float = 65
    echo_status: int = 400
    foreign_origin: str | None = None

    def to_json(self) -> dict:
        data = self.__dict__.copy()
        data["services"] = list(self.services) if self.services is not None else None
        data["hostile"] = list(self.hostile)
        data["methods"] = list(self.methods) if self.methods is not None else None
        return data


@dataclass(frozen=True)
class FaultPlan:
    """What to do with one request: sleep first, then maybe answer with a fault."""

    latency_s: float = 0.0
    action: str | None = None  # None | "drop" | "429" | "error"
    status: int | None = None  # the 5xx status for "error"
    commit_drop: bool = False  # perform the write, then drop the connection
    retry_after: int = 1
    hostile: tuple[str, ...] = ()  # the hostile behaviours for this request (see HOSTILE)
    settings: FaultSettings | None = None  # their parameters (trickle_ms, ...)


class Faults:
    """The fault configuration of a Sandbox; decisions are drawn from one (seedable) RNG."""

    def __init__(self, latency_ms: float = 0) -> None:
        self._baseline_latency_ms = latency_ms
        self._lock = threading.Lock()
        self._settings = FaultSettings(latency_ms=latency_ms)
        self._rng = random.Random()

    def configure(
        self,
        latency_ms: float | None = None,
        error_rate: float = 0.0,
        rate_429: float = 0.0,
        drop_rate: float = 0.0,
        commit_drop_rate: float = 0.0,
        retry_after: int = 1,
        seed: int | None = None,
        services: list[str] | tuple[str, ...] | None = None,
        hostile: list[str] | tuple[str, ...] = (),
        paths: str | None = None,
        methods: list[str] | tuple[str, ...] | None = None,
        trickle_ms: float = 200,
        oversized_mib: float = 65,
        echo_status: int = 400,
        foreign_origin: str | None = None,
    ) -> FaultSettings:
        """Replace the whole fault configuration.

        Anything not passed returns to its default; ``latency_ms`` defaults to the latency the
        Sandbox was created with. Rates are fractions of requests (0..1). ``services`` limits all
        of it (latency included) to the named services. ``hostile`` names behaviours of HOSTILE
        (the module's docstring says what each does); ``paths`` and ``methods`` narrow them.
        """
        settings = FaultSettings(
            latency_ms=self._baseline_latency_ms if latency_ms is None else float(latency_ms),
            error_rate=float(error_rate),
            rate_429=float(rate_429),
            drop_rate=float(drop_rate),
            commit_drop_rate=float(commit_drop_rate),
            retry_after=int(retry_after),
            seed=seed,
            services=tuple(services) if services is not None else None,
            hostile=tuple(hostile),
            paths=paths,
            methods=tuple(m.upper() for m in methods) if methods is not None else None,
            trickle_ms=float(trickle_ms),
            oversized_mib=float(oversized_mib),
            echo_status=int(echo_status),
            foreign_origin=foreign_origin,
        )
        unknown = [name for name in settings.hostile if name not in HOSTILE]
        if unknown:
            raise ValueError(f"unknown hostile behaviour {unknown[0]!r}; known: {', '.join(HOSTILE)}")
        if paths is not None:
            re.compile(paths)  # re.error is a ValueError
        if settings.trickle_ms < 0 or settings.oversized_mib < 0 or not 100 <= settings.echo_status <= 599:
            raise ValueError("trickle_ms and oversized_mib must not be negative, echo_status must be an HTTP status")
        for name in RATE_SETTINGS:
            if not 0.0 <= getattr(settings, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if settings.latency_ms < 0 or settings.retry_after < 0:
            raise ValueError("latency_ms and retry_after must not be negative")
        with self._lock:
            self._settings = settings
            self._rng = random.Random(seed)
        return settings

    def reset(self) -> FaultSettings:
        """No faults; latency back to the Sandbox's own latency_ms."""
        return self.configure()

    def plan(self, service: str, method: str, path: str = "") -> FaultPlan:
        """Decide the faults for one API request (thread-safe)."""
        with self._lock:
            settings, rng = self._settings, self._rng
            if settings.services is not None and service not in settings.services:
                return FaultPlan()
            hostile = settings.hostile
            if hostile and (
                (settings.paths is not None and not re.search(settings.paths, path))
                or (settings.methods is not None and method not in settings.methods)
            ):
                hostile = ()
            plan = FaultPlan(
                latency_s=settings.latency_ms / 1000.0,
                retry_after=settings.retry_after,
                hostile=hostile,
                settings=settings,
            )
            if settings.drop_rate and rng.random() < settings.drop_rate:
                return replace(plan, action="drop")
            if settings.rate_429 and rng.random() < settings.rate_429:
                return replace(plan, action="429")
            if settings.error_rate and rng.random() < settings.error_rate:
                return replace(plan, action="error", status=rng.choice(ERROR_STATUSES))
            if method in WRITE_METHODS and settings.commit_drop_rate and rng.random() < settings.commit_drop_rate:
                return replace(plan, commit_drop=True)
            return plan

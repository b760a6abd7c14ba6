"""Fault injection: latency, 5xx answers, 429 with Retry-After, dropped connections and
"commit then drop" (the write is performed, then the connection closes without a response).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, replace

from sandbox.recording import WRITE_METHODS

ERROR_STATUSES = (500, 502, 503)
RATE_SETTINGS = ("error_rate", "rate_429", "drop_rate", "commit_drop_rate")


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

    def to_json(self) -> dict:
        data = self.__dict__.copy()
        data["services"] = list(self.services) if self.services is not None else None
        return data


@dataclass(frozen=True)
class FaultPlan:
    """What to do with one request: sleep first, then maybe answer with a fault."""

    latency_s: float = 0.0
    action: str | None = None  # None | "drop" | "429" | "error"
    status: int | None = None  # the 5xx status for "error"
    commit_drop: bool = False  # perform the write, then drop the connection
    retry_after: int = 1


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
    ) -> FaultSettings:
        """Replace the whole fault configuration.

        Anything not passed returns to its default; ``latency_ms`` defaults to the latency the
        Sandbox was created with. Rates are fractions of requests (0..1). ``services`` limits all
        of it (latency included) to the named services.
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
        )
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

    def plan(self, service: str, method: str) -> FaultPlan:
        """Decide the faults for one API request (thread-safe)."""
        with self._lock:
            settings, rng = self._settings, self._rng
            if settings.services is not None and service not in settings.services:
                return FaultPlan()
            plan = FaultPlan(latency_s=settings.latency_ms / 1000.0, retry_after=settings.retry_after)
            if settings.drop_rate and rng.random() < settings.drop_rate:
                return replace(plan, action="drop")
            if settings.rate_429 and rng.random() < settings.rate_429:
                return replace(plan, action="429")
            if settings.error_rate and rng.random() < settings.error_rate:
                return replace(plan, action="error", status=rng.choice(ERROR_STATUSES))
            if method in WRITE_METHODS and settings.commit_drop_rate and rng.random() < settings.commit_drop_rate:
                return replace(plan, commit_drop=True)
            return plan

"""The Harvest v2 stand-in (API under /v2), with the state methods tests use to set it up.

Reproduced: every request needs ``Authorization: Bearer <token>``, ``Harvest-Account-Id`` and a
``User-Agent`` (missing User-Agent → 400; a missing or wrong token or account id → 401
``{"error":"invalid_token",...}``); lists are paged (``per_page`` 1..2000, default 2000, silently
clamped) with ``total_pages``/``next_page`` and absolute ``links``; time entries come newest first
(``spent_date`` then creation, descending); a running entry's ``hours`` grow with the clock;
``updated_since`` never reports deletions (deleted entries simply vanish); 100 requests per
15 seconds, then 429 + ``Retry-After`` (``rate_limit``; None switches it off).

This module holds the state, its Python API, authentication and the rate limit; the handlers
live in ``harvest_api_v2``, the JSON shapes and list paging in ``harvest_json``.
"""

from __future__ import annotations

import collections
import math
import re
import time
from datetime import date, datetime
from typing import Any

from sandbox.clock import SandboxClock
from sandbox.harvest_api_v2 import ApiV2Endpoints
from sandbox.harvest_json import client_json, entry_json, iso_z, project_json, task_json, user_json
from sandbox.server import Request, Response, Service
from sandbox.time_formats import is_date

ACCOUNT_ID = "1234567"
FIRST_IDS = {
    "user": 1782884,
    "client": 5735774,
    "project": 14307913,
    "task": 8083365,
    "entry": 2300000001,
    "user_assignment": 125066109,
    "task_assignment": 155502709,
}
RAILS_TIMEZONES = {
    "Europe/Berlin": "Berlin",
    "Europe/London": "London",
    "America/New_York": "Eastern Time (US & Canada)",
    "UTC": "UTC",
}
ENTRY_FIELDS = {
    "spent_date",
    "hours",
    "project_id",
    "task_id",
    "user_id",
    "notes",
    "started_time",
    "ended_time",
    "is_running",
    "is_billed",
    "is_locked",
}
INVALID_TOKEN = {
    "error": "invalid_token",
    "error_description": "The access token provided is expired, revoked, malformed or invalid for other reasons.",
}
TIME_RE = re.compile(r"(\d{1,2}):(\d{2})\s*([ap]m)?", re.IGNORECASE)


class HarvestService(ApiV2Endpoints, Service):
    """Harvest state (users, clients, projects, tasks, time entries) and its API v2 handlers."""

    name = "harvest"
    api_prefix = "/v2"
    token = "harvest-sandbox-token-0123"
    account_id = ACCOUNT_ID

    def __init__(self, timezone: str = "Europe/Berlin") -> None:
        super().__init__()
        self.clock = SandboxClock()
        self.timezone = RAILS_TIMEZONES.get(timezone, timezone)
        self.company = {"name": "Sandbox Inc.", "clock": "12h", "wants_timestamp_timers": False}
        self._users: dict[int, dict[str, Any]] = {}
        self._clients: dict[int, dict[str, Any]] = {}
        self._projects: dict[int, dict[str, Any]] = {}
        self._tasks: dict[int, dict[str, Any]] = {}
        self._entries: dict[int, dict[str, Any]] = {}
        self._assignments: dict[tuple, dict[str, Any]] = {}
        self._next_id = dict(FIRST_IDS)
        #: ``(requests, seconds)`` sliding window; None switches the rate limit off
        self.rate_limit: tuple[int, float] | None = (100, 15.0)
        self.page_cap: int | None = None  # answer at most this many per page, whatever per_page asks (tests)
        self.failing_page: int | None = None  # GET time_entries of this page number answers 500 (tests)
        self._hits: collections.deque[float] = collections.deque()
        self.me = self.add_user("admin@example.com", "Sandbox", "Admin", access_roles=("administrator",))["id"]
        self.route("GET", "/time_entries", self._list_entries)
        self.route("GET", "/time_entries/{id}", self._get_entry)
        self.route("GET", "/clients", self._lister("clients", self._clients, lambda c: client_json(c)))
        self.route(
            "GET",
            "/projects",
            self._lister("projects", self._projects, lambda p: project_json(p, self._clients[p["client_id"]])),
        )
        self.route("GET", "/tasks", self._lister("tasks", self._tasks, task_json))
        self.route("GET", "/users/me", lambda request: Response(200, user_json(self._users[self.me], self.timezone)))
        self.route("GET", "/users/me/project_assignments", self._my_assignments)
        self.route("GET", "/company", self._get_company)

    # -- state API (for tests and seeds) ---------------------------------------------------
    @property
    def entries(self) -> list[dict[str, Any]]:
        """Every time entry as the API renders it, by id."""
        with self.lock:
            now = self.clock.now()
            return [entry_json(e, self, now) for e in self._entries.values()]

    def add_user(
        self, email: str, first_name: str, last_name: str, access_roles: tuple[str, ...] = ("member",)
    ) -> dict[str, Any]:
        with self.lock:
            user = {
                "id": self._take_id("user"),
                "email": email,
                "first_name": first_name,
                "last_name": last_name,
                "created": self.clock.now(),
                "cost_rate": 50.0,
                "access_roles": tuple(access_roles),
            }
            self._users[user["id"]] = user
            return user_json(user, self.timezone)

    def add_client(self, name: str, currency: str = "EUR") -> dict[str, Any]:
        with self.lock:
            now = self.clock.now()
            client = {
                "id": self._take_id("client"),
                "name": name,
                "is_active": True,
                "currency": currency,
                "created": now,
                "updated": now,
            }
            self._clients[client["id"]] = client
            return client_json(client)

    def add_project(
        self, name: str, client_id: int, code: str = "", is_billable: bool = True, hourly_rate: float | None = 100.0
    ) -> dict[str, Any]:
        with self.lock:
            if client_id not in self._clients:
                raise KeyError(f"unknown client {client_id}")
            now = self.clock.now()
            project = {
                "id": self._take_id("project"),
                "name": name,
                "client_id": client_id,
                "code": code,
                "is_active": True,
                "is_billable": is_billable,
                "hourly_rate": hourly_rate,
                "created": now,
                "updated": now,
            }
            self._projects[project["id"]] = project
            return project_json(project, self._clients[client_id])

    def add_task(self, name: str, billable_by_default: bool = True) -> dict[str, Any]:
        with self.lock:
            now = self.clock.now()
            task = {
                "id": self._take_id("task"),
                "name": name,
                "billable_by_default": billable_by_default,
                "default_hourly_rate": 100.0,
                "is_active": True,
                "created": now,
                "updated": now,
            }
            self._tasks[task["id"]] = task
            return task_json(task)

    def add_entry(
        self,
        spent_date: date | str,
        hours: float,
        project_id: int,
        task_id: int,
        user_id: int | None = None,
        notes: str | None = "",
        started_time: str | None = None,
        ended_time: str | None = None,
        is_running: bool = False,
    ) -> dict[str, Any]:
        """Create a time entry; ``is_running=True`` starts its timer now (``hours`` keep growing).

        ``started_time``/``ended_time`` take ``"9:00am"`` or ``"09:00"``; empty notes become null.
        """
        with self.lock:
            now = self.clock.now()
            entry = self.insert_entry(
                _day(spent_date),
                hours,
                project_id,
                task_id,
                user_id,
                notes,
                _minutes(started_time),
                _minutes(ended_time),
                now if is_running else None,
                now,
                now,
            )
            return entry_json(entry, self, now)

    def insert_entry(
        self,
        spent_date: str,
        hours: float,
        project_id: int,
        task_id: int,
        user_id: int | None,
        notes: str | None,
        started: int | None,
        ended: int | None,
        timer_started_at: datetime | None,
        created: datetime,
        updated: datetime,
    ) -> dict[str, Any]:
        """Insert an entry with given times (seed helpers); returns the internal record."""
        with self.lock:
            user_id = self.me if user_id is None else user_id
            self._check_refs(project_id, task_id, user_id)
            entry = {
                "id": self._take_id("entry"),
                "spent_date": spent_date,
                "user_id": user_id,
                "project_id": project_id,
                "task_id": task_id,
                "hours_without_timer": float(hours),
                "notes": notes or None,
                "started_time": started,
                "ended_time": ended,
                "timer_started_at": timer_started_at,
                "is_billed": False,
                "is_locked": False,
                "created": created,
                "updated": updated,
            }
            self._entries[entry["id"]] = entry
            return entry

    def edit_entry(self, entry_id: int, **fields: Any) -> dict[str, Any]:
        """Change an entry (``ENTRY_FIELDS``); ``is_running`` starts or stops its timer. Bumps ``updated_at``."""
        unknown = set(fields) - ENTRY_FIELDS
        if unknown:
            raise TypeError(f"unknown time entry fields: {sorted(unknown)}")
        with self.lock:
            entry = self._entry(entry_id)
            now = self.clock.now()
            self._check_refs(
                fields.get("project_id", entry["project_id"]),
                fields.get("task_id", entry["task_id"]),
                fields.get("user_id", entry["user_id"]),
            )
            for name in ("project_id", "task_id", "user_id", "is_billed", "is_locked"):
                if name in fields:
                    entry[name] = fields[name]
            if "spent_date" in fields:
                entry["spent_date"] = _day(fields["spent_date"])
            if "hours" in fields:
                entry["hours_without_timer"] = float(fields["hours"])
            if "notes" in fields:
                entry["notes"] = fields["notes"] or None
            for name in ("started_time", "ended_time"):
                if name in fields:
                    entry[name] = _minutes(fields[name])
            if "is_running" in fields:
                running = entry["timer_started_at"] is not None
                if running and not fields["is_running"]:
                    elapsed = max((now - entry["timer_started_at"]).total_seconds(), 0) / 3600
                    entry["hours_without_timer"] += elapsed
                    entry["timer_started_at"] = None
                elif fields["is_running"] and not running:
                    entry["timer_started_at"] = now
            entry["updated"] = now
            return entry_json(entry, self, now)

    def delete_entry(self, entry_id: int) -> None:
        """Remove an entry (Harvest keeps no trace: ``updated_since`` cannot report it)."""
        with self.lock:
            self._entry(entry_id)
            del self._entries[entry_id]

    def user_assignment(self, project: dict[str, Any], user_id: int) -> dict[str, Any]:
        record = self._assignment("user_assignment", project["id"], user_id, project["created"])
        return {
            "id": record["id"],
            "is_project_manager": user_id == self.me,
            "is_active": True,
            "budget": None,
            "created_at": iso_z(record["created"]),
            "updated_at": iso_z(record["created"]),
            "hourly_rate": project["hourly_rate"],
        }

    def task_assignment(self, project: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
        record = self._assignment(
            "task_assignment", project["id"], task["id"], max(project["created"], task["created"])
        )
        return {
            "id": record["id"],
            "billable": task["billable_by_default"],
            "is_active": True,
            "created_at": iso_z(record["created"]),
            "updated_at": iso_z(record["created"]),
            "hourly_rate": project["hourly_rate"],
            "budget": None,
        }

    def state(self) -> dict[str, Any]:
        return {
            "users": [user_json(u, self.timezone) for u in self._users.values()],
            "clients": [client_json(c) for c in self._clients.values()],
            "projects": [project_json(p, self._clients[p["client_id"]]) for p in self._projects.values()],
            "tasks": [task_json(t) for t in self._tasks.values()],
            "time_entries": self.entries,
        }

    def env(self, url: str, **options: Any) -> dict[str, str]:
        return {"HARVEST_URL": url, "HARVEST_TOKEN": self.token, "HARVEST_ACCOUNT_ID": self.account_id}

    # -- service hooks ---------------------------------------------------------------------
    def authenticate(self, request: Request) -> Response | None:
        """User-Agent (400 without), then Bearer token + Harvest-Account-Id (401), then the rate limit."""
        if not (request.header("User-Agent") or "").strip():
            return Response(
                400, {"code": 400, "message": "A User-Agent header is required, e.g. 'MyApp (name@example.com)'"}
            )
        scheme, _, value = (request.header("Authorization") or "").partition(" ")
        if (
            scheme.lower() != "bearer"
            or value.strip() != self.token
            or (request.header("Harvest-Account-Id") or "").strip() != self.account_id
        ):
            return Response(401, dict(INVALID_TOKEN))
        return self._throttle()

    def not_found(self, request: Request) -> Response:
        return Response(404, {"status": 404, "error": "Not Found"})

    def method_not_allowed(self, request: Request) -> Response:
        return self.not_found(request)

    def bad_json(self, request: Request) -> Response:
        return Response(400, {"status": 400, "error": "Bad Request"})

    def fault_response(self, status: int) -> Response:
        if status == 500:
            return Response(500, {"status": 500, "error": "Internal Server Error"})
        return super().fault_response(status)

    # -- helpers ---------------------------------------------------------------------------
    def _throttle(self) -> Response | None:
        """Sliding window: at most ``rate_limit[0]`` answered requests in ``rate_limit[1]`` seconds."""
        with self.lock:
            if self.rate_limit is None:
                return None
            limit, window = self.rate_limit
            now = time.monotonic()
            while self._hits and self._hits[0] <= now - window:
                self._hits.popleft()
            if len(self._hits) >= limit:
                retry_after = max(math.ceil(self._hits[0] + window - now), 1)
                return Response(
                    429, {"status": 429, "error": "Too Many Requests"}, headers={"Retry-After": str(retry_after)}
                )
            self._hits.append(now)
        return None

    def _check_refs(self, project_id: int, task_id: int, user_id: int) -> None:
        for table, value, kind in (
            (self._projects, project_id, "project"),
            (self._tasks, task_id, "task"),
            (self._users, user_id, "user"),
        ):
            if value not in table:
                raise KeyError(f"unknown {kind} {value}")

    def _entry(self, entry_id: int) -> dict[str, Any]:
        entry = self._entries.get(entry_id)
        if entry is None:
            raise KeyError(f"unknown time entry {entry_id}")
        return entry

    def _assignment(self, kind: str, first: int, second: int, created: datetime) -> dict[str, Any]:
        key = (kind, first, second)
        record = self._assignments.get(key)
        if record is None:
            record = self._assignments[key] = {"id": self._take_id(kind), "created": created}
        return record

    def _take_id(self, kind: str) -> int:
        value = self._next_id[kind]
        self._next_id[kind] = value + 1
        return value


def _day(value: date | str) -> str:
    if isinstance(value, date):
        return value.isoformat()
    if not is_date(value):
        raise ValueError(f"spent_date must be YYYY-MM-DD, got {value!r}")
    return value


def _minutes(text: str | None) -> int | None:
    """``"9:00am"``, ``"12:30pm"`` or ``"09:00"`` as minutes after midnight."""
    if text is None:
        return None
    match = TIME_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a time of day: {text!r}")
    hours, minutes, half = int(match[1]), int(match[2]), (match[3] or "").lower()
    if half:
        hours = hours % 12 + (12 if half == "pm" else 0)
    return hours * 60 + minutes

"""The Toggl Track stand-in: API v9 under /api/v9 and Reports API v3 under /reports/api/v3.

The sandbox URL is the root (``TOGGL_URL``); clients append ``/api/v9`` or ``/reports/api/v3``.
Reproduced: HTTP Basic ``<token>:api_token`` or ``email:password``, anything else → 403;
errors are bare JSON strings; ``GET /me/time_entries`` is not paginated, takes ``start_date`` +
``end_date`` (together; ``YYYY-MM-DD`` in the user's timezone or RFC 3339; filters on the start
time, end exclusive) or ``since`` (unix seconds, changed *and deleted* entries with
``server_deleted_at``); ``since`` + ``before`` → 400; running entries have ``stop: null`` and
``duration: -1``; ``GET /me/time_entries/current`` answers ``null`` when nothing runs; workspace
projects are paged 151 per page; Reports v3 detailed search pages with ``X-Next-ID`` /
``X-Next-Row-Number``. Throttling: an optional leaky bucket (``rate_limit``) answers 429 and
``set_quota`` makes the API answer 402 once the quota is used up.

This module holds the state, its Python API, authentication and the throttles; the handlers live
in ``toggl_api_v9`` and ``toggl_reports``, the JSON shapes and time formats in ``toggl_json``.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.clock import SandboxClock
from sandbox.server import Request, Response, Service
from sandbox.toggl_api_v9 import ApiV9Endpoints
from sandbox.toggl_json import (
    COLORS,
    client_json,
    entry_json,
    parse_rfc3339,
    project_json,
    tag_json,
    task_json,
    user_json,
    workspace_json,
)
from sandbox.toggl_reports import ReportsEndpoints

V9 = "/api/v9"
REPORTS = "/reports/api/v3"
WORKSPACE_ID = 2230580
ORGANIZATION_ID = 2201477
USER_ID = 2166261
FIRST_IDS = {"project": 63334409, "client": 58210001, "tag": 16350001, "task": 91350001, "entry": 3730276799}
ENTRY_FIELDS = {"start", "stop", "duration", "description", "project_id", "task_id", "tags", "billable"}

BAD_CREDENTIALS = "Incorrect username and/or password"
QUOTA_EXCEEDED = "You have hit your hourly limit for API calls. Your quota will reset in {seconds} seconds."


class TogglService(ApiV9Endpoints, ReportsEndpoints, Service):
    """Toggl Track state (one user, one workspace) and its API v9 / Reports v3 handlers."""

    name = "toggl"
    api_prefix = ""  # two APIs under one host: /api/v9 and /reports/api/v3
    token = "toggl-sandbox-token-0123"
    email = "sandbox@example.com"
    password = "sandbox-password"

    def __init__(self, timezone: str = "Europe/Berlin") -> None:
        super().__init__()
        self.zone = ZoneInfo(timezone)
        self.clock = SandboxClock()
        created = self.clock.now()
        self.user = {
            "id": USER_ID,
            "api_token": self.token,
            "email": self.email,
            "fullname": "Sandbox User",
            "timezone": timezone,
            "created": created,
        }
        self.workspace = {
            "id": WORKSPACE_ID,
            "organization_id": ORGANIZATION_ID,
            "name": "Sandbox's workspace",
            "at": created,
        }
        self._projects: dict[int, dict[str, Any]] = {}
        self._clients: dict[int, dict[str, Any]] = {}
        self._tags: dict[int, dict[str, Any]] = {}
        self._tasks: dict[int, dict[str, Any]] = {}
        self._entries: dict[int, dict[str, Any]] = {}
        self._next_id = dict(FIRST_IDS)
        #: leaky bucket ``(capacity, leak per second)``; None (default) = never 429
        self.rate_limit: tuple[int, float] | None = None
        self._bucket_level, self._bucket_time = 0.0, time.monotonic()
        self._quota: int | None = None
        self._quota_resets_in = 3600
        for path, handler in (
            ("/me", self._get_me),
            ("/me/workspaces", self._get_my_workspaces),
            ("/me/time_entries", self._list_entries),
            ("/me/time_entries/current", self._current),
            ("/me/projects", self._my_projects),
            ("/me/clients", self._my_clients),
            ("/me/tags", self._my_tags),
            ("/workspaces/{workspace_id:int}", self._get_workspace),
            ("/workspaces/{workspace_id:int}/projects", self._workspace_projects),
            ("/workspaces/{workspace_id:int}/clients", self._workspace_clients),
            ("/workspaces/{workspace_id:int}/tags", self._workspace_tags),
        ):
            self.route("GET", V9 + path, handler)
        self.route("POST", REPORTS + "/workspace/{workspace_id:int}/search/time_entries", self._report_search)

    # -- state API (for tests and seeds) ---------------------------------------------------
    @property
    def workspace_id(self) -> int:
        return self.workspace["id"]

    @property
    def entries(self) -> list[dict[str, Any]]:
        """Every time entry that is not deleted, as GET /me/time_entries renders it, by id."""
        with self.lock:
            return [entry_json(e, self) for e in self._entries.values() if e["server_deleted_at"] is None]

    @property
    def deleted_entries(self) -> list[dict[str, Any]]:
        with self.lock:
            return [entry_json(e, self) for e in self._entries.values() if e["server_deleted_at"] is not None]

    @property
    def projects(self) -> list[dict[str, Any]]:
        with self.lock:
            return [project_json(p) for p in self._projects.values()]

    @property
    def clients(self) -> list[dict[str, Any]]:
        with self.lock:
            return [client_json(c, USER_ID) for c in self._clients.values()]

    @property
    def tags(self) -> list[dict[str, Any]]:
        with self.lock:
            return [tag_json(t, USER_ID) for t in self._tags.values()]

    def add_client(self, name: str) -> dict[str, Any]:
        with self.lock:
            if self._client_named(name) is not None:
                raise ValueError(f"client {name!r} exists")
            return client_json(self._insert_client(name), USER_ID)

    def add_project(
        self, name: str, client_name: str | None = None, billable: bool = False, active: bool = True
    ) -> dict[str, Any]:
        """Create a project; ``client_name`` names an existing client or creates it."""
        with self.lock:
            client = None
            if client_name is not None:
                client = self._client_named(client_name) or self._insert_client(client_name)
            now = self.clock.now()
            project = {
                "id": self._take_id("project"),
                "workspace_id": self.workspace_id,
                "name": name,
                "client_id": client["id"] if client else None,
                "active": active,
                "billable": billable,
                "color": COLORS[len(self._projects) % len(COLORS)],
                "created": now,
                "at": now,
                "start_date": now.astimezone(self.zone).date().isoformat(),
                "actual_seconds": 0,
            }
            self._projects[project["id"]] = project
            return project_json(project)

    def add_tag(self, name: str) -> dict[str, Any]:
        with self.lock:
            if self._tag_named(name) is not None:
                raise ValueError(f"tag {name!r} exists")
            return tag_json(self._insert_tag(name), USER_ID)

    def add_task(self, project_id: int, name: str) -> dict[str, Any]:
        with self.lock:
            project = self._projects.get(project_id)
            if project is None:
                raise KeyError(f"unknown project {project_id}")
            task = {
                "id": self._take_id("task"),
                "project_id": project_id,
                "name": name,
                "active": True,
                "at": self.clock.now(),
            }
            self._tasks[task["id"]] = task
            return task_json(task, project)

    def add_entry(
        self,
        start: datetime | str,
        stop: datetime | str | None = None,
        description: str | None = "",
        project_id: int | None = None,
        tags: Iterable[str] = (),
        billable: bool = False,
        task_id: int | None = None,
    ) -> dict[str, Any]:
        """Create a time entry; ``stop=None`` makes it a running one (``duration: -1``).

        Times are aware datetimes or RFC 3339 strings (cut to whole seconds, as Toggl stores them);
        unknown tag names are created, ``description=None`` gives ``"description": null``.
        """
        with self.lock:
            entry = self.insert_entry(
                _moment(start),
                _moment(stop) if stop is not None else None,
                description,
                project_id,
                tags,
                billable,
                task_id,
                self.clock.now(),
            )
            return entry_json(entry, self)

    def insert_entry(
        self,
        start: datetime,
        stop: datetime | None,
        description: str | None,
        project_id: int | None,
        tags: Iterable[str],
        billable: bool,
        task_id: int | None,
        at: datetime,
    ) -> dict[str, Any]:
        """Insert an entry with a given ``at`` (seed helpers); returns the internal record."""
        with self.lock:
            if task_id is not None:
                if task_id not in self._tasks:
                    raise KeyError(f"unknown task {task_id}")
                project_id = project_id if project_id is not None else self._tasks[task_id]["project_id"]
            if project_id is not None and project_id not in self._projects:
                raise KeyError(f"unknown project {project_id}")
            start = start.replace(microsecond=0)
            entry = {
                "id": self._take_id("entry"),
                "workspace_id": self.workspace_id,
                "user_id": USER_ID,
                "project_id": project_id,
                "task_id": task_id,
                "billable": bool(billable),
                "description": description,
                "tag_ids": self._tag_ids(tags),
                "start": start,
                "stop": None,
                "duration": -1,
                "at": at,
                "server_deleted_at": None,
            }
            self._set_stop(entry, stop)
            self._entries[entry["id"]] = entry
            return entry

    def edit_entry(self, entry_id: int, **fields: Any) -> dict[str, Any]:
        """Change an entry (start, stop, duration, description, project_id, task_id, tags, billable).

        ``stop=None`` makes it run again; changing start/stop recomputes ``duration`` unless it is
        given (e.g. ``duration=-start_epoch``, the legacy encoding of a running entry). Bumps ``at``.
        """
        unknown = set(fields) - ENTRY_FIELDS
        if unknown:
            raise TypeError(f"unknown time entry fields: {sorted(unknown)}")
        with self.lock:
            entry = self._entry(entry_id)
            if (
                "project_id" in fields
                and fields["project_id"] is not None
                and fields["project_id"] not in self._projects
            ):
                raise KeyError(f"unknown project {fields['project_id']}")
            if "task_id" in fields and fields["task_id"] is not None and fields["task_id"] not in self._tasks:
                raise KeyError(f"unknown task {fields['task_id']}")
            for name in ("description", "project_id", "task_id"):
                if name in fields:
                    entry[name] = fields[name]
            if "billable" in fields:
                entry["billable"] = bool(fields["billable"])
            if "tags" in fields:
                entry["tag_ids"] = self._tag_ids(fields["tags"] or ())
            if "start" in fields:
                entry["start"] = _moment(fields["start"]).replace(microsecond=0)
            if "stop" in fields or "start" in fields:
                stop = fields["stop"] if "stop" in fields else entry["stop"]
                self._set_stop(entry, _moment(stop) if stop is not None else None)
            if "duration" in fields:
                entry["duration"] = int(fields["duration"])
            entry["at"] = self.clock.now()
            return entry_json(entry, self)

    def delete_entry(self, entry_id: int) -> None:
        """Delete an entry: it leaves every list but ``since``, which reports ``server_deleted_at``."""
        with self.lock:
            entry = self._entry(entry_id)
            now = self.clock.now()
            entry["server_deleted_at"] = now
            entry["at"] = now

    def set_quota(self, remaining: int | None, resets_in: int = 3600) -> None:
        """After ``remaining`` more API requests, answer 402 until ``set_quota(None)``."""
        with self.lock:
            self._quota = None if remaining is None else max(int(remaining), 0)
            self._quota_resets_in = int(resets_in)

    def state(self) -> dict[str, Any]:
        return {
            "user": user_json(self.user, self.workspace_id),
            "workspace": workspace_json(self.workspace, self.token),
            "clients": self.clients,
            "projects": self.projects,
            "tags": self.tags,
            "tasks": [task_json(t, self._projects[t["project_id"]]) for t in self._tasks.values()],
            "time_entries": [entry_json(e, self) for e in self._entries.values()],
        }

    def env(self, url: str, **options: Any) -> dict[str, str]:
        return {"TOGGL_URL": url, "TOGGL_TOKEN": self.token, "TOGGL_WORKSPACE": str(self.workspace_id)}

    # -- service hooks ---------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        response = super().handle(request)
        with self.lock:
            if self._quota is not None and response.status != 403:
                response.headers.setdefault("X-Toggl-Quota-Remaining", str(self._quota))
                response.headers.setdefault("X-Toggl-Quota-Resets-In", str(self._quota_resets_in))
        return response

    def authenticate(self, request: Request) -> Response | None:
        """HTTP Basic ``<token>:api_token`` or ``<email>:<password>``; then the throttles."""
        scheme, _, value = (request.header("Authorization") or "").partition(" ")
        valid = False
        if scheme.lower() == "basic":
            try:
                user, _, secret = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, secret = "", ""
            valid = (user == self.token and secret == "api_token") or (
                user.lower() == self.email and secret == self.password
            )
        if not valid:
            return Response(403, BAD_CREDENTIALS)
        return self._throttle()

    def not_found(self, request: Request) -> Response:
        return Response(404, "404 page not found")

    def method_not_allowed(self, request: Request) -> Response:
        return Response(405, "Method Not Allowed")

    def bad_json(self, request: Request) -> Response:
        return Response(400, "JSON is not valid")

    def fault_response(self, status: int) -> Response:
        return Response(500, "Internal Server Error") if status == 500 else super().fault_response(status)

    # -- helpers ---------------------------------------------------------------------------
    def _throttle(self) -> Response | None:
        """The leaky bucket (429) first, then the quota (402); refused requests cost no quota."""
        with self.lock:
            if self.rate_limit is not None:
                capacity, leak = self.rate_limit
                now = time.monotonic()
                self._bucket_level = max(0.0, self._bucket_level - (now - self._bucket_time) * leak)
                self._bucket_time = now
                if self._bucket_level + 1 > capacity:
                    return Response(429, "Too Many Requests")
                self._bucket_level += 1
            if self._quota is not None:
                if self._quota <= 0:
                    return Response(402, QUOTA_EXCEEDED.format(seconds=self._quota_resets_in))
                self._quota -= 1
        return None

    def _live_entries(self) -> Iterable[dict[str, Any]]:
        return (e for e in self._entries.values() if e["server_deleted_at"] is None)

    def _entry(self, entry_id: int) -> dict[str, Any]:
        entry = self._entries.get(entry_id)
        if entry is None:
            raise KeyError(f"unknown time entry {entry_id}")
        return entry

    def _set_stop(self, entry: dict[str, Any], stop: datetime | None) -> None:
        if stop is None:
            entry["stop"], entry["duration"] = None, -1
            return
        stop = stop.replace(microsecond=0)
        if stop < entry["start"]:
            raise ValueError("stop must not be before start")
        entry["stop"], entry["duration"] = stop, int((stop - entry["start"]).total_seconds())

    def _tag_ids(self, names: Iterable[str]) -> list[int]:
        if isinstance(names, str):
            raise TypeError("tags must be a list of names")
        ids = []
        for name in names:
            tag = self._tag_named(name) or self._insert_tag(name)
            if tag["id"] not in ids:
                ids.append(tag["id"])
        return ids

    def _insert_tag(self, name: str) -> dict[str, Any]:
        tag = {"id": self._take_id("tag"), "workspace_id": self.workspace_id, "name": name, "at": self.clock.now()}
        self._tags[tag["id"]] = tag
        return tag

    def _insert_client(self, name: str) -> dict[str, Any]:
        client = {
            "id": self._take_id("client"),
            "workspace_id": self.workspace_id,
            "name": name,
            "archived": False,
            "at": self.clock.now(),
        }
        self._clients[client["id"]] = client
        return client

    def _tag_named(self, name: str) -> dict[str, Any] | None:
        return next((t for t in self._tags.values() if t["name"] == name), None)

    def _client_named(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self._clients.values() if c["name"] == name), None)

    def _take_id(self, kind: str) -> int:
        value = self._next_id[kind]
        self._next_id[kind] = value + (1 if kind != "entry" else 1013)  # real entry ids are sparse
        return value


def _moment(value: datetime | str) -> datetime:
    """An aware datetime from a datetime or an RFC 3339 string, in UTC."""
    if isinstance(value, str):
        return parse_rfc3339(value)
    if value.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware datetime")
    return value.astimezone(UTC)

"""Toggl Track's API v9 read endpoints (under ``/api/v9``), mixed into ``TogglService``.

``GET /me/time_entries`` is not paginated: ``start_date`` + ``end_date`` together (``YYYY-MM-DD``
in the user's timezone or RFC 3339; on the start time, end exclusive), or ``since`` (unix
seconds; changed *and deleted* entries, with ``server_deleted_at``), or ``before``; ``since`` +
``before`` -> 400; no filter = started in the last 9 days; newest start first. ``GET
/me/time_entries/current`` answers ``null`` when nothing runs. Workspace projects are paged
151 per page; another workspace -> 403. Errors are bare JSON strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sandbox.server import JSON_TYPE, Request, Response
from sandbox.time_formats import is_date
from sandbox.toggl_json import (
    client_json,
    day_start,
    entry_json,
    parse_rfc3339,
    project_json,
    tag_json,
    task_json,
    user_json,
    workspace_json,
)

if TYPE_CHECKING:
    from sandbox.toggl import TogglService

PROJECTS_PER_PAGE = 151  # GET /workspaces/{wid}/projects default page size
DEFAULT_LIST_DAYS = 9  # GET /me/time_entries without any filter: entries started in the last 9 days
SINCE_AND_BEFORE = "'since' and 'before' can not be present simultaneously"


@dataclass
class NullResponse(Response):
    """A 200 whose JSON body is the literal ``null`` (GET /me/time_entries/current, nothing runs)."""

    def encode(self) -> tuple[bytes, str | None]:
        return b"null", JSON_TYPE


class ApiV9Endpoints:
    """The API v9 handlers of TogglService."""

    def _get_me(self: TogglService, request: Request) -> Response:
        data = user_json(self.user, self.workspace_id)
        if request.arg("with_related_data") == "true":
            data.update(
                clients=self.clients,
                projects=self.projects,
                tags=self.tags,
                tasks=[task_json(t, self._projects[t["project_id"]]) for t in self._tasks.values()],
                time_entries=[entry_json(e, self) for e in self._live_entries()],
                workspaces=[workspace_json(self.workspace, self.token)],
            )
        return Response(200, data)

    def _get_my_workspaces(self: TogglService, request: Request) -> Response:
        active = sum(1 for p in self._projects.values() if p["active"])
        return Response(200, [workspace_json(self.workspace, self.token, active_projects=active)])

    def _list_entries(self: TogglService, request: Request) -> Response:
        since, before = request.arg("since"), request.arg("before")
        start_date, end_date = request.arg("start_date"), request.arg("end_date")
        if since is not None and before is not None:
            return Response(400, SINCE_AND_BEFORE)
        if (start_date is None) != (end_date is None):
            return Response(400, "Both start_date and end_date must be specified")
        try:
            since_ts = _unix(since) if since is not None else None
            before_at = self._bound(before, "before") if before is not None else None
            start_at = self._bound(start_date, "start_date") if start_date is not None else None
            end_at = self._bound(end_date, "end_date") if end_date is not None else None
        except ValueError as error:
            return Response(400, str(error))
        if start_at is not None and end_at is not None and start_at > end_at:
            return Response(400, "start_date must not be later than end_date")
        if since_ts is not None:
            entries = [e for e in self._entries.values() if int(e["at"].timestamp()) >= since_ts]
        else:
            entries = list(self._live_entries())
            if start_at is None and before_at is None:
                start_at = self.clock.now() - timedelta(days=DEFAULT_LIST_DAYS)
        entries = [
            e
            for e in entries
            if (start_at is None or e["start"] >= start_at)
            and (end_at is None or e["start"] < end_at)
            and (before_at is None or e["start"] < before_at)
        ]
        entries.sort(key=lambda e: (e["start"], e["id"]), reverse=True)
        meta = request.arg("meta") == "true"
        return Response(200, [entry_json(e, self, meta=meta) for e in entries])

    def _current(self: TogglService, request: Request) -> Response:
        running = [e for e in self._live_entries() if e["stop"] is None]
        if not running:
            return NullResponse(200)
        return Response(200, entry_json(max(running, key=lambda e: (e["start"], e["id"])), self))

    def _my_projects(self: TogglService, request: Request) -> Response:
        include_archived = request.arg("include_archived")
        if include_archived not in (None, "true", "false"):
            return Response(400, "Invalid include_archived")
        projects = [p for p in self._projects.values() if p["active"] or include_archived == "true"]
        return Response(200, [project_json(p) for p in self._changed_since(request, projects)])

    def _my_clients(self: TogglService, request: Request) -> Response:
        clients = self._changed_since(request, self._clients.values())
        return Response(200, [client_json(c, self.user["id"]) for c in clients])

    def _my_tags(self: TogglService, request: Request) -> Response:
        return Response(200, [tag_json(t, self.user["id"]) for t in self._changed_since(request, self._tags.values())])

    def _get_workspace(self: TogglService, request: Request) -> Response:
        denied = self._check_workspace(request)
        return denied or Response(200, workspace_json(self.workspace, self.token))

    def _workspace_projects(self: TogglService, request: Request) -> Response:
        denied = self._check_workspace(request)
        if denied:
            return denied
        active = request.arg("active")
        name = (request.arg("name") or "").lower()
        client_ids = {
            int(v) for raw in request.query.get("client_ids", []) for v in raw.split(",") if v.strip().isdigit()
        }
        try:
            page = max(int(request.arg("page") or 1), 1)
            per_page = max(int(request.arg("per_page") or PROJECTS_PER_PAGE), 1)
        except ValueError:
            return Response(400, "Invalid paging parameters")
        projects = [
            p
            for p in self._changed_since(request, self._projects.values())
            if (active in (None, "both") or p["active"] == (active == "true"))
            and (name in p["name"].lower())
            and (not client_ids or p["client_id"] in client_ids)
        ]
        reverse = (request.arg("sort_order") or "ASC").upper() == "DESC"
        field = request.arg("sort_field") or "name"
        projects.sort(key=lambda p: (str(p.get(field, p["name"])).lower(), p["id"]), reverse=reverse)
        chunk = projects[(page - 1) * per_page : page * per_page]
        return Response(200, [project_json(p) for p in chunk])

    def _workspace_clients(self: TogglService, request: Request) -> Response:
        denied = self._check_workspace(request)
        if denied:
            return denied
        status = request.arg("status") or "both"
        if status not in ("active", "archived", "both"):
            return Response(400, "Client status is invalid")
        name = (request.arg("name") or "").lower()
        clients = [
            c
            for c in self._clients.values()
            if (status == "both" or c["archived"] == (status == "archived")) and name in c["name"].lower()
        ]
        return Response(200, [client_json(c, self.user["id"]) for c in clients])

    def _workspace_tags(self: TogglService, request: Request) -> Response:
        denied = self._check_workspace(request)
        return denied or Response(200, [tag_json(t, self.user["id"]) for t in self._tags.values()])

    # -- helpers ---------------------------------------------------------------------------
    def _check_workspace(self: TogglService, request: Request) -> Response | None:
        if int(request.params["workspace_id"]) != self.workspace_id:
            return Response(403, "User does not have access to this resource.")
        return None

    def _changed_since(self: TogglService, request: Request, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        since = request.arg("since")
        if since is None or not re.fullmatch(r"\d+", since):
            return list(records)
        return [r for r in records if int(r["at"].timestamp()) >= int(since)]

    def _bound(self: TogglService, text: str, name: str) -> datetime:
        """``YYYY-MM-DD`` (midnight in the user's timezone) or an RFC 3339 time with offset."""
        if is_date(text):
            return day_start(text, self.zone)
        try:
            return parse_rfc3339(text)
        except ValueError:
            raise ValueError(f"Invalid {name}: must be YYYY-MM-DD or RFC3339") from None


def _unix(text: str) -> int:
    if not re.fullmatch(r"\d+", text):
        raise ValueError("Invalid since")
    return int(text)

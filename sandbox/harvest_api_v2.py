"""Harvest's API v2 read endpoints (under ``/v2``), mixed into ``HarvestService``, and how they
read their query parameters.

Lists are paged (``harvest_json.page_of``: ``per_page`` 1..2000, default 2000, absolute
``links``). Time entries come newest first (``spent_date``, then creation) with the filters
``from``/``to`` (inclusive), ``updated_since``, ``user_id``, ``client_id``, ``project_id``,
``task_id``, ``is_running`` and ``is_billed``; a bad filter value is 422. Clients, projects and
tasks filter on ``is_active`` and ``updated_since``; an unknown id is 404.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sandbox.harvest_json import entry_json, page_of, ref
from sandbox.server import Request, Response
from sandbox.time_formats import is_date

if TYPE_CHECKING:
    from sandbox.harvest import HarvestService


class ApiV2Endpoints:
    """The API v2 handlers of HarvestService."""

    def _list_entries(self: HarvestService, request: Request) -> Response:
        if self.failing_page is not None and request.arg("page") == str(self.failing_page):
            return self.fault_response(500)
        try:
            wanted = {name: _int_arg(request, name) for name in ("user_id", "client_id", "project_id", "task_id")}
            running, billed = _bool_arg(request, "is_running"), _bool_arg(request, "is_billed")
            first, last = _date_arg(request, "from"), _date_arg(request, "to")
            since = _time_arg(request, "updated_since")
        except ValueError as error:
            return Response(422, {"code": 422, "message": str(error)})
        if request.arg("external_reference_id"):
            return self._page(request, "time_entries", [], lambda e: e)
        entries = [
            e
            for e in self._entries.values()
            if all(value is None or self._entry_ref(e, name) == value for name, value in wanted.items())
            and (running is None or (e["timer_started_at"] is not None) == running)
            and (billed is None or e["is_billed"] == billed)
            and (first is None or e["spent_date"] >= first)
            and (last is None or e["spent_date"] <= last)
            and (since is None or e["updated"] >= since)
        ]
        entries.sort(key=lambda e: (e["spent_date"], e["created"], e["id"]), reverse=True)
        now = self.clock.now()
        return self._page(request, "time_entries", entries, lambda e: entry_json(e, self, now))

    def _get_entry(self: HarvestService, request: Request) -> Response:
        raw = request.params["id"]
        entry = self._entries.get(int(raw)) if raw.isdigit() else None
        if entry is None:
            return self.not_found(request)
        return Response(200, entry_json(entry, self, self.clock.now()))

    def _lister(
        self: HarvestService,
        key: str,
        table: dict[int, dict[str, Any]],
        render: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> Callable[[Request], Response]:
        """GET /clients|projects|tasks: ``is_active``, ``updated_since`` (and ``client_id``), newest first."""

        def handler(request: Request) -> Response:
            try:
                active = _bool_arg(request, "is_active")
                since = _time_arg(request, "updated_since")
                client_id = _int_arg(request, "client_id") if key == "projects" else None
            except ValueError as error:
                return Response(422, {"code": 422, "message": str(error)})
            records = [
                r
                for r in table.values()
                if (active is None or r["is_active"] == active)
                and (since is None or r["updated"] >= since)
                and (client_id is None or r["client_id"] == client_id)
            ]
            records.sort(key=lambda r: (r["created"], r["id"]), reverse=True)
            return self._page(request, key, records, render)

        return handler

    def _my_assignments(self: HarvestService, request: Request) -> Response:
        tasks = [t for t in self._tasks.values() if t["is_active"]]
        projects = sorted(
            (p for p in self._projects.values() if p["is_active"]), key=lambda p: (p["created"], p["id"]), reverse=True
        )

        def render(project: dict[str, Any]) -> dict[str, Any]:
            assignment = self.user_assignment(project, self.me)
            return {
                "id": assignment["id"],
                "is_project_manager": True,
                "is_active": True,
                "use_default_rates": True,
                "budget": None,
                "created_at": assignment["created_at"],
                "updated_at": assignment["updated_at"],
                "hourly_rate": project["hourly_rate"],
                "project": ref(project, "name", "code"),
                "client": ref(self._clients[project["client_id"]], "name"),
                "task_assignments": [
                    dict(self.task_assignment(project, task), task=ref(task, "name")) for task in tasks
                ],
            }

        # Harvest's links point at /users/{id}/project_assignments even when /users/me was asked
        return self._page(
            request, "project_assignments", projects, render, path=f"/users/{self.me}/project_assignments"
        )

    def _get_company(self: HarvestService, request: Request) -> Response:
        return Response(
            200,
            {
                "base_uri": "https://sandbox.harvestapp.com",
                "full_domain": "sandbox.harvestapp.com",
                "name": self.company["name"],
                "is_active": True,
                "week_start_day": "Monday",
                "wants_timestamp_timers": self.company["wants_timestamp_timers"],
                "time_format": "hours_minutes",
                "date_format": "%Y-%m-%d",
                "plan_type": "sponsored",
                "expense_feature": True,
                "invoice_feature": True,
                "estimate_feature": True,
                "approval_feature": True,
                "team_feature": True,
                "clock": self.company["clock"],
                "currency_code_display": "iso_code_none",
                "currency_symbol_display": "symbol_before",
                "decimal_symbol": ".",
                "thousands_separator": ",",
                "color_scheme": "orange",
                "weekly_capacity": 126000,
            },
        )

    # -- helpers ---------------------------------------------------------------------------
    def _page(
        self: HarvestService,
        request: Request,
        key: str,
        records: list[Any],
        render: Callable[[Any], dict[str, Any]],
        path: str | None = None,
    ) -> Response:
        base = f"{self.root_url}v2{path or request.path[len(self.api_prefix) :]}"
        body = page_of(records, key, request.query, base, self.page_cap)
        body[key] = [render(record) for record in body[key]]
        return Response(200, body)

    def _entry_ref(self: HarvestService, entry: dict[str, Any], name: str) -> int:
        if name == "client_id":
            return self._projects[entry["project_id"]]["client_id"]
        return entry[name]


def _int_arg(request: Request, name: str) -> int | None:
    value = request.arg(name)
    if value is None:
        return None
    if not value.isdigit():
        raise ValueError(f"Invalid {name}")
    return int(value)


def _bool_arg(request: Request, name: str) -> bool | None:
    value = request.arg(name)
    if value is None:
        return None
    if value not in ("true", "false"):
        raise ValueError(f"Invalid {name}")
    return value == "true"


def _date_arg(request: Request, name: str) -> str | None:
    value = request.arg(name)
    if value is None:
        return None
    if not is_date(value):
        raise ValueError(f"Invalid {name}: use YYYY-MM-DD")
    return value


def _time_arg(request: Request, name: str) -> datetime | None:
    """An ISO 8601 date-time (``2017-06-27T16:47:14Z``); a bare date means midnight UTC."""
    value = request.arg(name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"Invalid {name}: use ISO 8601") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

"""Kimai's timesheet endpoints, mixed into ``KimaiService``.

Times in requests are local wall-clock ``YYYY-MM-DDTHH:mm:ss`` in the user's timezone (no
offset); ``modified_after`` is UTC. Responses render ``Y-m-d\\TH:i:sO`` in the timezone the record
was created in (DST-correct via zoneinfo). ``duration`` is computed, never accepted.
``GET /timesheets`` pages (``page`` default 1, ``size`` default 50 and at most 500, an
out-of-range page is 404; headers X-Page, X-Total-Count, X-Total-Pages, X-Per-Page), shows only
the token user's records unless ``user=all`` and orders by ``begin`` descending by default.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sandbox import kimai_json as views
from sandbox.kimai_forms import NOT_VALID, TIMESHEET_FORM, FormErrors, query_ok, query_values, submit
from sandbox.server import Request, Response

if TYPE_CHECKING:
    from sandbox.kimai import KimaiService

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 500
INVALID_DATETIME = "Please enter a valid date and time."
ID = r"\d+"
LOCAL_DATETIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?"
LIST_RULES = {
    "user": r"\d+|all",
    "users": ID,
    "customer": ID,
    "customers": ID,
    "project": ID,
    "projects": ID,
    "activity": ID,
    "activities": ID,
    "page": ID,
    "size": ID,
    "orderBy": r"id|begin|end|rate",
    "order": r"ASC|DESC",
    "begin": LOCAL_DATETIME,
    "end": LOCAL_DATETIME,
    "exported": r"0|1",
    "active": r"0|1",
    "billable": r"0|1",
    "full": r"0|1|true|false",
    "modified_after": LOCAL_DATETIME,
}


def parse_local(text: str, zone: ZoneInfo | timezone) -> datetime:
    """An HTML5 local datetime (seconds optional) in ``zone`` -> aware UTC datetime."""
    if not isinstance(text, str) or not re.fullmatch(LOCAL_DATETIME, text):
        raise ValueError(f"not a local datetime: {text!r}")
    return datetime.fromisoformat(text).replace(tzinfo=zone).astimezone(UTC)


class TimesheetEndpoints:
    """Timesheet handlers and the ``add_timesheet``/``timesheets`` state API of KimaiService."""

    def register_timesheet_routes(self: KimaiService) -> None:
        self.route("GET", "/timesheets", self._list_timesheets)
        self.route("POST", "/timesheets", self._post_timesheet)
        self.route("GET", "/timesheets/recent", self._recent_timesheets)
        self.route("GET", "/timesheets/active", self._active_timesheets)
        self.route("GET", "/timesheets/{id:int}", self._get_timesheet)
        self.route("PATCH", "/timesheets/{id:int}", self._patch_timesheet)
        self.route("DELETE", "/timesheets/{id:int}", self._delete_timesheet)

    # -- state API -------------------------------------------------------------------------
    @property
    def timesheets(self: KimaiService) -> list[dict[str, Any]]:
        with self.lock:
            return [self.timesheet_view(t) for t in self._timesheets.values()]

    def add_timesheet(
        self: KimaiService,
        project_id: int,
        activity_id: int,
        begin: datetime | str,
        end: datetime | str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Insert a timesheet directly; ``begin``/``end`` are aware datetimes or local strings."""
        with self.lock:
            record = {
                "id": self._take_id("timesheet"),
                "user": self.me,
                "project": project_id,
                "activity": activity_id,
                "begin": self._to_utc(begin),
                "end": self._to_utc(end),
                "description": None,
                "tags": [],
                "fixedRate": None,
                "hourlyRate": 0.0,
                "exported": False,
                "billable": True,
                "break": 0,
                "timezone": self.zone.key,
                "modified": self.clock.now(),
            }
            unknown = set(fields) - set(record)
            if unknown:
                raise TypeError(f"unknown fields: {sorted(unknown)}")
            record.update(fields)
            if isinstance(record["tags"], str):
                record["tags"] = _parse_tags(record["tags"])
            self._timesheets[record["id"]] = record
            return self.timesheet_view(record)

    def timesheet_view(
        self: KimaiService, record: dict[str, Any], expanded: bool = False, collection: bool = False
    ) -> dict[str, Any]:
        zone = ZoneInfo(record["timezone"])
        data = views.timesheet_collection(record, zone) if collection else views.timesheet_entity(record, zone)
        if expanded:
            activity = self._activities[record["activity"]]
            project = self._projects[record["project"]]
            activity_project = self._projects.get(activity["project"]) if activity["project"] is not None else None
            activity_customer = self._customers[activity_project["customer"]] if activity_project else None
            data.update(
                {
                    "activity": views.activity_expanded(activity, activity_project, activity_customer),
                    "project": views.project_expanded(project, self._customers[project["customer"]]),
                    "user": views.user_embedded(self._users[record["user"]]),
                }
            )
        return data

    # -- handlers --------------------------------------------------------------------------
    def _list_timesheets(self: KimaiService, request: Request) -> Response:
        if not query_ok(request, LIST_RULES):
            return self.error(400, "Bad Request")
        matches = self._timesheet_filter(request)
        found = [record for record in self._timesheets.values() if matches(record)]
        sort_keys = {
            "id": lambda r: r["id"],
            "begin": lambda r: (r["begin"], r["id"]),
            "end": lambda r: (r["end"] or datetime.max.replace(tzinfo=UTC), r["id"]),
            "rate": lambda r: (views.timesheet_rate(r), r["id"]),
        }
        found.sort(key=sort_keys[request.arg("orderBy") or "begin"], reverse=(request.arg("order") or "DESC") == "DESC")
        size = min(max(int(request.arg("size") or DEFAULT_PAGE_SIZE), 1), MAX_PAGE_SIZE)
        page = int(request.arg("page") or 1)
        pages = max((len(found) + size - 1) // size, 1)
        if not 1 <= page <= pages:
            return self.not_found(request)
        expanded = request.arg("full") in ("1", "true")
        body = [
            self.timesheet_view(record, expanded=expanded, collection=True)
            for record in found[(page - 1) * size : page * size]
        ]
        headers = {
            "X-Page": str(page),
            "X-Total-Count": str(len(found)),
            "X-Total-Pages": str(pages),
            "X-Per-Page": str(size),
        }
        return Response(200, body, headers)

    def _timesheet_filter(self: KimaiService, request: Request) -> Callable[[dict[str, Any]], bool]:
        """The list filters of GET /timesheets as one predicate over timesheet records."""
        others = self.may("view_other_timesheet")  # without it Kimai ignores user and users
        user = request.arg("user") if others else None
        listed = {int(v) for v in query_values(request, "users")} if others else set()
        users = None if user == "all" else listed or {int(user or self.me)}
        ids = {
            name: {int(v) for v in query_values(request, name) + query_values(request, plural)}
            for name, plural in (("customer", "customers"), ("project", "projects"), ("activity", "activities"))
        }
        begin, end, modified_after = (
            parse_local(request.arg(name), zone) if request.arg(name) else None
            for name, zone in (("begin", self.zone), ("end", self.zone), ("modified_after", UTC))
        )
        flags = {name: request.arg(name) == "1" for name in ("exported", "billable") if request.arg(name)}
        running = request.arg("active") == "1" if request.arg("active") else None
        tags = set(query_values(request, "tags"))
        term = (request.arg("term") or "").casefold()

        def matches(record: dict[str, Any]) -> bool:
            customer = self._projects[record["project"]]["customer"]
            return (
                (users is None or record["user"] in users)
                and (not ids["customer"] or customer in ids["customer"])
                and (not ids["project"] or record["project"] in ids["project"])
                and (not ids["activity"] or record["activity"] in ids["activity"])
                and (begin is None or record["begin"] >= begin)
                and (end is None or record["begin"] <= end)
                and (modified_after is None or record["modified"] >= modified_after)
                and all(record[name] == wanted for name, wanted in flags.items())
                and (running is None or (record["end"] is None) == running)
                and (not tags or bool(tags & set(record["tags"])))
                and (not term or term in (record["description"] or "").casefold())
            )

        return matches

    def _recent_timesheets(self: KimaiService, request: Request) -> Response:
        if not query_ok(request, {"begin": LOCAL_DATETIME, "size": ID}):
            return self.error(400, "Bad Request")
        since = (
            parse_local(request.arg("begin"), self.zone)
            if request.arg("begin")
            else datetime.now(UTC) - timedelta(days=365)
        )
        seen, recent = set(), []
        for record in sorted(self._timesheets.values(), key=lambda r: (r["begin"], r["id"]), reverse=True):
            pair = (record["project"], record["activity"])
            if record["user"] == self.me and record["begin"] >= since and pair not in seen:
                seen.add(pair)
                recent.append(record)
        recent = recent[: int(request.arg("size") or 10)]
        return Response(200, [self.timesheet_view(r, expanded=True, collection=True) for r in recent])

    def _active_timesheets(self: KimaiService, request: Request) -> Response:
        running = [r for r in self._timesheets.values() if r["user"] == self.me and r["end"] is None]
        return Response(200, [self.timesheet_view(r, expanded=True, collection=True) for r in running])

    def _get_timesheet(self: KimaiService, request: Request) -> Response:
        record = self._timesheets.get(int(request.params["id"]))
        return Response(200, self.timesheet_view(record)) if record else self.not_found(request)

    def _delete_timesheet(self: KimaiService, request: Request) -> Response:
        if self._timesheets.pop(int(request.params["id"]), None) is None:
            return self.not_found(request)
        return Response(204)

    def _post_timesheet(self: KimaiService, request: Request) -> Response:
        return self._save_timesheet(request, None)

    def _patch_timesheet(self: KimaiService, request: Request) -> Response:
        record = self._timesheets.get(int(request.params["id"]))
        return self._save_timesheet(request, record) if record else self.not_found(request)

    def _save_timesheet(self: KimaiService, request: Request, record: dict[str, Any] | None) -> Response:
        values, errors = submit(TIMESHEET_FORM, request.body, record)
        body = request.body if isinstance(request.body, dict) else {}
        for field in ("begin", "end"):
            if field in body and values[field] is not None and not errors.has(field):
                try:
                    values[field] = parse_local(values[field], self.zone)
                except ValueError:
                    errors.add(field, INVALID_DATETIME)
        if record is None and "begin" not in body:
            values["begin"] = self.clock.now().replace(microsecond=0)
        if "tags" in body and not errors.has("tags"):
            values["tags"] = _parse_tags(values["tags"])
        values["tags"] = values["tags"] or []
        values["user"] = self.me if values["user"] is None else values["user"]
        for field, table in (("user", self._users), ("project", self._projects), ("activity", self._activities)):
            if values[field] is not None and not errors.has(field) and values[field] not in table:
                errors.add(field, NOT_VALID)
        if not errors:
            self._check_timesheet_rules(errors, values, is_new=record is None)
        if errors:
            return errors.response()
        if record is None:
            record = self._timesheets[self.add_timesheet(values["project"], values["activity"], values["begin"])["id"]]
            record["timezone"] = self._users[values["user"]]["timezone"]
        record.update({key: value for key, value in values.items() if key in record})
        record["modified"] = self.clock.now()
        expanded = request.method == "POST" and "full" in request.query
        return Response(200, self.timesheet_view(record, expanded=expanded))

    def _check_timesheet_rules(self: KimaiService, errors: FormErrors, values: dict[str, Any], is_new: bool) -> None:
        """Kimai's TimesheetBasic constraint (same messages and error paths)."""
        begin, end = values["begin"], values["end"]
        if begin is None:
            errors.add("begin", "You must submit a begin date.")
        elif end is not None and begin > end:
            errors.add("end", "End date must not be earlier then start date.")
        if values["activity"] is None:
            errors.add("activity", "An activity needs to be selected.")
        if values["project"] is None:
            errors.add("project", "A project needs to be selected.")
        if values["activity"] is None or values["project"] is None:
            return
        activity, project = self._activities[values["activity"]], self._projects[values["project"]]
        if activity["project"] is not None and activity["project"] != project["id"]:
            errors.add("project", "Project mismatch, project specific activity and timesheet project are different.")
        if is_new or end is None:
            if not activity["visible"]:
                errors.add("activity", "Cannot start a disabled activity.")
            if not project["visible"]:
                errors.add("project", "Cannot start a disabled project.")
            if not self._customers[project["customer"]]["visible"]:
                errors.add("customer", "Cannot start a disabled customer.")
        for field, moment in (("begin", begin), ("end", end)):
            if moment is None:
                continue
            local_day = moment.astimezone(self.zone).strftime("%Y-%m-%d")
            if project["start"] and local_day < project["start"]:
                errors.add(field, "The project has not started at that time.")
            elif project["end"] and local_day > project["end"]:
                errors.add(field, "The project is finished at that time.")

    def _to_utc(self: KimaiService, moment: datetime | str | None) -> datetime | None:
        """An aware datetime, or a local string in the user's timezone, as UTC."""
        if isinstance(moment, str):
            return parse_local(moment, self.zone)
        return moment.astimezone(UTC) if moment is not None else None


def _parse_tags(text: str | None) -> list[str]:
    """A comma separated tag list -> unique, trimmed, non-empty names in order."""
    names: list[str] = []
    for name in (text or "").split(","):
        name = name.strip()
        if name and name not in names:
            names.append(name)
    return names

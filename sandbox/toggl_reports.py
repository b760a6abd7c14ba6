"""Toggl Track's Reports API v3 (under ``/reports/api/v3``), mixed into ``TogglService``.

``POST /workspace/{wid}/search/time_entries`` (the detailed report): one row per stopped entry
(``grouped: true`` groups alike entries), ``page_size`` 50, times in the user's zone; filters on
projects, tasks, clients, users, tags, ids, ``billable`` and ``description``; ``X-Next-ID`` /
``X-Next-Row-Number`` / ``X-Next-Timestamp`` only while another page follows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sandbox.server import Request, Response
from sandbox.time_formats import is_date
from sandbox.toggl_json import day_start, next_day, report_rows

if TYPE_CHECKING:
    from sandbox.toggl import TogglService

REPORT_PAGE_SIZE = 50  # Reports v3 detailed default page_size
ORDER_KEYS = {  # order_by -> sort key (ties by id)
    "date": lambda e: (e["start"], e["id"]),
    "user": lambda e: (e["user_id"], e["start"], e["id"]),
    "duration": lambda e: (e["duration"], e["id"]),
    "description": lambda e: ((e["description"] or "").lower(), e["id"]),
    "last_update": lambda e: (e["at"], e["id"]),
}


class ReportsEndpoints:
    """The Reports v3 handler of TogglService."""

    def _report_search(self: TogglService, request: Request) -> Response:
        if int(request.params["workspace_id"]) != self.workspace_id:
            return Response(403, "Workspace not found/accessible")
        body = request.body if isinstance(request.body, dict) else {}
        if not any(value not in (None, "", [], False, 0) for value in body.values()):
            return Response(400, "At least one parameter must be set")
        try:
            first_day, last_day = self._report_range(body.get("start_date"), body.get("end_date"))
            page_size = _positive(body.get("page_size"), REPORT_PAGE_SIZE, "page_size")
            first_row = _positive(body.get("first_row_number"), 1, "first_row_number")
            order_dir = str(body.get("order_dir") or "DESC").upper()
            order_by = str(body.get("order_by") or "date")
            if order_dir not in ("ASC", "DESC"):
                raise ValueError("Invalid 'order_dir' value, allowed values are: 'ASC, DESC'")
            if order_by not in ORDER_KEYS:
                raise ValueError(f"Invalid 'order_by' value, allowed values are: '{', '.join(ORDER_KEYS)}'")
        except ValueError as error:
            return Response(400, str(error))
        begin, end = day_start(first_day, self.zone), next_day(day_start(last_day, self.zone))
        entries = [
            e
            for e in self._live_entries()
            if e["stop"] is not None and begin <= e["start"] < end and self._report_filter(e, body)
        ]
        entries.sort(key=ORDER_KEYS[order_by], reverse=order_dir == "DESC")
        rows = report_rows(entries, bool(body.get("grouped")), self.user, self.zone)
        chunk = rows[first_row - 1 : first_row - 1 + page_size]
        headers = {"X-Range-Start": first_day, "X-Range-End": last_day}
        if first_row - 1 + page_size < len(rows):
            following = rows[first_row - 1 + page_size]
            headers["X-Next-ID"] = str(following["time_entries"][0]["id"])
            headers["X-Next-Row-Number"] = str(following["row_number"])
            headers["X-Next-Timestamp"] = str(
                int(self._entries[following["time_entries"][0]["id"]]["start"].timestamp())
            )
        return Response(200, chunk, headers)

    def _report_range(self: TogglService, start: Any, end: Any) -> tuple[str, str]:
        for name, value in (("start_date", start), ("end_date", end)):
            if value is not None and not (isinstance(value, str) and is_date(value)):
                raise ValueError(f"Invalid '{name}' value")
        today = self.clock.now().astimezone(self.zone).date()
        if start is None and end is None:
            first, last = today - timedelta(days=6), today
        elif start is None:
            last = datetime.strptime(end, "%Y-%m-%d").date()
            first = last - timedelta(days=6)
        else:
            first = datetime.strptime(start, "%Y-%m-%d").date()
            last = datetime.strptime(end, "%Y-%m-%d").date() if end is not None else max(first, today)
        if last < first:
            raise ValueError("end_date must not be earlier than start_date")
        return first.isoformat(), last.isoformat()

    def _report_filter(self: TogglService, entry: dict[str, Any], body: dict[str, Any]) -> bool:
        def wanted(key: str, value: Any) -> bool:
            return not isinstance(body.get(key), list) or not body[key] or value in body[key]

        project = self._projects.get(entry["project_id"]) if entry["project_id"] is not None else None
        tag_filter = body.get("tag_ids")
        if isinstance(tag_filter, list) and tag_filter:
            if not (set(entry["tag_ids"]) & set(tag_filter)) and not (None in tag_filter and not entry["tag_ids"]):
                return False
        description = body.get("description")
        return (
            wanted("project_ids", entry["project_id"])
            and wanted("task_ids", entry["task_id"])
            and wanted("client_ids", project["client_id"] if project else None)
            and wanted("user_ids", entry["user_id"])
            and wanted("time_entry_ids", entry["id"])
            and (not isinstance(body.get("billable"), bool) or entry["billable"] == body["billable"])
            and (not description or str(description).lower() in (entry["description"] or "").lower())
        )


def _positive(value: Any, default: int, name: str) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Invalid '{name}' value")
    return value

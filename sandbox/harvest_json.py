"""Harvest v2's JSON shapes (as in the examples of the Harvest API v2 docs) and its list paging.

Times are UTC with whole seconds and ``Z`` (``2017-06-27T15:50:15Z``); ``spent_date`` is
``YYYY-MM-DD``; ``started_time`` / ``ended_time`` follow the company clock (``12h``: ``3:00pm``).
Lists carry ``per_page, total_pages, total_entries, next_page, previous_page, page`` and
absolute ``links`` whose query is sorted by name, as Rails builds it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

MAX_PER_PAGE = 2000


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clock_time(minutes: int | None, clock: str = "12h") -> str | None:
    """Minutes after midnight as Harvest shows them: ``9:00am`` / ``12:30pm`` (or ``09:00`` for 24h)."""
    if minutes is None:
        return None
    hours, mins = divmod(minutes % (24 * 60), 60)
    if clock == "24h":
        return f"{hours:02d}:{mins:02d}"
    return f"{(hours % 12) or 12}:{mins:02d}{'am' if hours < 12 else 'pm'}"


def rounded(hours: float) -> float:
    """Hours rounded up to the next quarter hour (the account's time rounding)."""
    return math.ceil(round(hours * 4, 6)) / 4


def ref(record: dict[str, Any] | None, *names: str) -> dict[str, Any] | None:
    return None if record is None else {name: record[name] for name in ("id", *names)}


def user_ref(user: dict[str, Any]) -> dict[str, Any]:
    return {"id": user["id"], "name": f"{user['first_name']} {user['last_name']}"}


def entry_json(entry: dict[str, Any], service: Any, now: datetime) -> dict[str, Any]:
    project = service._projects[entry["project_id"]]
    task = service._tasks[entry["task_id"]]
    client = service._clients.get(project["client_id"])
    hours = entry["hours_without_timer"]
    if entry["timer_started_at"] is not None:
        hours += max((now - entry["timer_started_at"]).total_seconds(), 0) / 3600
    hours = round(hours, 2)
    billable = project["is_billable"] and task["billable_by_default"]
    clock = service.company["clock"]
    return {
        "id": entry["id"],
        "spent_date": entry["spent_date"],
        "user": user_ref(service._users[entry["user_id"]]),
        "client": ref(client, "name"),
        "project": ref(project, "name"),
        "task": ref(task, "name"),
        "user_assignment": service.user_assignment(project, entry["user_id"]),
        "task_assignment": service.task_assignment(project, task),
        "hours": hours,
        "hours_without_timer": round(entry["hours_without_timer"], 2),
        "rounded_hours": rounded(hours),
        "notes": entry["notes"],
        "created_at": iso_z(entry["created"]),
        "updated_at": iso_z(entry["updated"]),
        "is_locked": entry["is_locked"],
        "locked_reason": "Item Approved and Locked for this Time Period" if entry["is_locked"] else None,
        "is_closed": entry["is_locked"],
        "is_billed": entry["is_billed"],
        "timer_started_at": iso_z(entry["timer_started_at"]) if entry["timer_started_at"] is not None else None,
        "started_time": clock_time(entry["started_time"], clock),
        "ended_time": clock_time(entry["ended_time"], clock) if entry["timer_started_at"] is None else None,
        "is_running": entry["timer_started_at"] is not None,
        "invoice": None,
        "external_reference": None,
        "billable": billable,
        "budgeted": True,
        "billable_rate": project["hourly_rate"] if billable else None,
        "cost_rate": service._users[entry["user_id"]]["cost_rate"],
    }


def client_json(client: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": client["id"],
        "name": client["name"],
        "is_active": client["is_active"],
        "address": None,
        "statement_key": f"{client['id']:032x}",
        "created_at": iso_z(client["created"]),
        "updated_at": iso_z(client["updated"]),
        "currency": client["currency"],
    }


def project_json(project: dict[str, Any], client: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": project["id"],
        "name": project["name"],
        "code": project["code"],
        "is_active": project["is_active"],
        "bill_by": "Project",
        "budget": None,
        "budget_by": "none",
        "budget_is_monthly": False,
        "notify_when_over_budget": False,
        "over_budget_notification_percentage": 80.0,
        "over_budget_notification_date": None,
        "show_budget_to_all": False,
        "created_at": iso_z(project["created"]),
        "updated_at": iso_z(project["updated"]),
        "starts_on": None,
        "ends_on": None,
        "is_billable": project["is_billable"],
        "is_fixed_fee": False,
        "notes": "",
        "client": {"id": client["id"], "name": client["name"], "currency": client["currency"]},
        "cost_budget": None,
        "cost_budget_include_expenses": False,
        "hourly_rate": project["hourly_rate"],
        "fee": None,
    }


def task_json(task: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": task["id"],
        "name": task["name"],
        "billable_by_default": task["billable_by_default"],
        "default_hourly_rate": task["default_hourly_rate"],
        "is_default": True,
        "is_active": task["is_active"],
        "created_at": iso_z(task["created"]),
        "updated_at": iso_z(task["updated"]),
    }


def user_json(user: dict[str, Any], timezone_name: str) -> dict[str, Any]:
    return {
        "id": user["id"],
        "first_name": user["first_name"],
        "last_name": user["last_name"],
        "email": user["email"],
        "telephone": "",
        "timezone": timezone_name,
        "has_access_to_all_future_projects": False,
        "is_contractor": False,
        "is_active": True,
        "created_at": iso_z(user["created"]),
        "updated_at": iso_z(user["created"]),
        "weekly_capacity": 126000,
        "default_hourly_rate": 100.0,
        "cost_rate": user["cost_rate"],
        "roles": [],
        "access_roles": list(user["access_roles"]),
        "avatar_url": "https://d3s3969qhosaug.cloudfront.net/v2/user.png",
    }


def page_of(
    items: list[Any], key: str, query: dict[str, list[str]], link_base: str, cap: int | None = None
) -> dict[str, Any]:
    """One page of a Harvest list (``page`` from 1, ``per_page`` 1..2000, default 2000; at most
    ``cap`` when set, as a server may answer fewer than asked for).

    ``link_base`` is the absolute URL of the list without a query; links keep the other query
    parameters. A page past the end is empty; ``total_pages`` is at least 1.
    """
    per_page = min(max(_int(query, "per_page", MAX_PER_PAGE), 1), cap or MAX_PER_PAGE)
    page = max(_int(query, "page", 1), 1)
    total_pages = max(math.ceil(len(items) / per_page), 1)

    def link(number: int) -> str:
        params = {name: values[-1] for name, values in query.items() if name not in ("page", "per_page")}
        params.update(page=str(number), per_page=str(per_page))
        return f"{link_base}?{urlencode(sorted(params.items()))}"

    return {
        key: items[(page - 1) * per_page : page * per_page],
        "per_page": per_page,
        "total_pages": total_pages,
        "total_entries": len(items),
        "next_page": page + 1 if page < total_pages else None,
        "previous_page": page - 1 if page > 1 else None,
        "page": page,
        "links": {
            "first": link(1),
            "next": link(page + 1) if page < total_pages else None,
            "previous": link(page - 1) if page > 1 else None,
            "last": link(total_pages),
        },
    }


def _int(query: dict[str, list[str]], name: str, default: int) -> int:
    values = query.get(name)
    try:
        return int(values[-1]) if values else default
    except ValueError:
        return default

"""Toggl Track's JSON shapes (API v9 and Reports API v3) and its time formats.

The formats follow real recorded responses (the go-vcr cassettes of go-api-libs/toggl @ bdb2fe31):

* ``start`` / ``stop`` / ``server_deleted_at`` in lists: whole seconds, UTC as ``+00:00``
  (``2024-12-16T17:05:25+00:00``);
* ``at``: microseconds with trailing zeros cut, UTC as ``Z`` (``2024-12-16T02:24:56.5667Z``);
* ``pid`` / ``tid`` are only present when a project / task is set; ``description`` may be null.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sandbox.time_formats import go_time

COLORS = ("#d92b2b", "#c9806b", "#2da608", "#06a893", "#0b83d9", "#9e5bd9", "#e36a00", "#525266")


def seconds_time(moment: datetime, zone: tzinfo = UTC) -> str:
    """Whole seconds with a numeric offset: ``2024-12-16T17:05:25+00:00``."""
    return moment.astimezone(zone).replace(microsecond=0).isoformat()


at_time = go_time  # ``at``: Go's RFC3339Nano in UTC, ``2024-12-16T02:24:56.5667Z``


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 time with an offset (``T`` required) as an aware UTC datetime."""
    if "T" not in text.upper():
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"RFC 3339 time without offset: {text!r}")
    return moment.astimezone(UTC)


def entry_json(entry: dict[str, Any], service: Any, meta: bool = False) -> dict[str, Any]:
    """models.TimeEntry as GET /me/time_entries renders it (``meta=true`` adds the names)."""
    data: dict[str, Any] = {
        "id": entry["id"],
        "workspace_id": entry["workspace_id"],
        "project_id": entry["project_id"],
        "task_id": entry["task_id"],
        "billable": entry["billable"],
        "start": seconds_time(entry["start"]),
        "stop": seconds_time(entry["stop"]) if entry["stop"] is not None else None,
        "duration": entry["duration"],
        "description": entry["description"],
        "tags": [service._tags[tag_id]["name"] for tag_id in entry["tag_ids"]],
        "tag_ids": list(entry["tag_ids"]),
        "duronly": True,
        "at": at_time(entry["at"]),
        "server_deleted_at": (
            seconds_time(entry["server_deleted_at"]) if entry["server_deleted_at"] is not None else None
        ),
        "user_id": entry["user_id"],
        "uid": entry["user_id"],
        "wid": entry["workspace_id"],
    }
    if entry["project_id"] is not None:
        data["pid"] = entry["project_id"]
    if entry["task_id"] is not None:
        data["tid"] = entry["task_id"]
    if meta:
        project = service._projects.get(entry["project_id"]) if entry["project_id"] is not None else None
        if project is not None:
            client = service._clients.get(project["client_id"]) if project["client_id"] is not None else None
            if client is not None:
                data["client_name"] = client["name"]
            data.update(
                project_name=project["name"],
                project_color=project["color"],
                project_active=project["active"],
                project_billable=project["billable"],
            )
        if entry["task_id"] is not None and entry["task_id"] in service._tasks:
            data["task_name"] = service._tasks[entry["task_id"]]["name"]
        data.update(user_name=service.user["fullname"], user_avatar_url="")
    return data


def project_json(project: dict[str, Any]) -> dict[str, Any]:
    """models.Project (absent optional values are left out, as Toggl's omitempty does)."""
    data: dict[str, Any] = {
        "id": project["id"],
        "workspace_id": project["workspace_id"],
        "client_id": project["client_id"],
        "name": project["name"],
        "is_private": False,
        "active": project["active"],
        "at": seconds_time(project["at"]),
        "created_at": seconds_time(project["created"]),
        "server_deleted_at": None,
        "color": project["color"],
        "billable": project["billable"],
        "template": False,
        "auto_estimates": None,
        "estimated_hours": None,
        "estimated_seconds": None,
        "currency": None,
        "recurring": False,
        "template_id": None,
        "fixed_fee": 0,
        "actual_hours": project["actual_seconds"] // 3600,
        "actual_seconds": project["actual_seconds"],
        "can_track_time": True,
        "start_date": project["start_date"],
        "status": "active" if project["active"] else "archived",
        "wid": project["workspace_id"],
        "rate_last_updated": None,
        "is_shared": False,
        "pinned": False,
    }
    if project["client_id"] is not None:
        data["cid"] = project["client_id"]
    return data


def client_json(client: dict[str, Any], creator_id: int) -> dict[str, Any]:
    return {
        "id": client["id"],
        "wid": client["workspace_id"],
        "archived": client["archived"],
        "name": client["name"],
        "at": seconds_time(client["at"]),
        "creator_id": creator_id,
    }


def tag_json(tag: dict[str, Any], creator_id: int) -> dict[str, Any]:
    return {
        "id": tag["id"],
        "workspace_id": tag["workspace_id"],
        "name": tag["name"],
        "at": at_time(tag["at"]),
        "creator_id": creator_id,
    }


def task_json(task: dict[str, Any], project: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": task["id"],
        "name": task["name"],
        "workspace_id": project["workspace_id"],
        "project_id": task["project_id"],
        "user_id": None,
        "recurring": False,
        "active": task["active"],
        "at": seconds_time(task["at"]),
        "server_deleted_at": None,
        "estimated_seconds": None,
        "tracked_seconds": 0,
        "project_name": project["name"],
        "project_color": project["color"],
        "project_billable": project["billable"],
        "rate_last_updated": None,
        "toggl_accounts_id": None,
    }


def workspace_json(workspace: dict[str, Any], api_token: str, active_projects: int | None = None) -> dict[str, Any]:
    """workspace.Workspace (or WithActiveProjectCount for GET /me/workspaces)."""
    data = {
        "id": workspace["id"],
        "organization_id": workspace["organization_id"],
        "name": workspace["name"],
        "premium": False,
        "business_ws": False,
        "admin": True,
        "role": "admin",
        "default_hourly_rate": 0,
        "default_currency": "EUR",
        "only_admins_may_create_projects": False,
        "only_admins_may_create_tags": False,
        "only_admins_see_billable_rates": False,
        "only_admins_see_team_dashboard": False,
        "projects_billable_by_default": True,
        "projects_private_by_default": True,
        "projects_enforce_billable": False,
        "reports_collapse": True,
        "rounding": 1,
        "rounding_minutes": 0,
        "api_token": api_token,
        "at": seconds_time(workspace["at"]),
        "logo_url": "https://assets.track.toggl.com/images/workspace.jpg",
        "ical_enabled": True,
        "ical_url": f"/ical/workspace_user/{workspace['id']:x}",
        "hide_start_end_times": False,
        "last_modified": seconds_time(workspace["at"]),
    }
    if active_projects is not None:
        data["active_project_count"] = active_projects
    return data


def user_json(user: dict[str, Any], workspace_id: int) -> dict[str, Any]:
    """related.UserWithRelated without the related lists."""
    return {
        "id": user["id"],
        "api_token": user["api_token"],
        "email": user["email"],
        "fullname": user["fullname"],
        "timezone": user["timezone"],
        "default_workspace_id": workspace_id,
        "beginning_of_week": 1,
        "image_url": "https://assets.track.toggl.com/images/profile.png",
        "created_at": seconds_time(user["created"]),
        "updated_at": seconds_time(user["created"]),
        "openid_enabled": False,
        "country_id": 82,
        "has_password": True,
        "at": seconds_time(user["created"]),
        "oauth_providers": ["email"],
        "authorization_updated_at": seconds_time(user["created"]),
    }


def report_rows(
    entries: list[dict[str, Any]], grouped: bool, user: dict[str, Any], zone: tzinfo
) -> list[dict[str, Any]]:
    """Reports v3 detailed rows: one row per entry, or (``grouped``) one per identical attributes.

    Entry times are rendered in the user's timezone; ``at`` in UTC and ``at_tz`` in the user's zone.
    """
    rows: list[dict[str, Any]] = []
    index: dict[tuple, dict[str, Any]] = {}
    for entry in entries:
        key = (entry["project_id"], entry["task_id"], entry["billable"], entry["description"], tuple(entry["tag_ids"]))
        item = {
            "id": entry["id"],
            "seconds": entry["duration"],
            "start": seconds_time(entry["start"], zone),
            "stop": seconds_time(entry["stop"], zone),
            "at": seconds_time(entry["at"]),
            "at_tz": seconds_time(entry["at"], zone),
        }
        if grouped and key in index:
            index[key]["time_entries"].append(item)
            continue
        row = {
            "user_id": user["id"],
            "username": user["fullname"],
            "project_id": entry["project_id"],
            "task_id": entry["task_id"],
            "billable": entry["billable"],
            "description": entry["description"] or "",
            "tag_ids": list(entry["tag_ids"]),
            "billable_amount_in_cents": None,
            "hourly_rate_in_cents": None,
            "currency": "EUR",
            "time_entries": [item],
            "row_number": len(rows) + 1,
        }
        rows.append(row)
        index[key] = row
    return rows


def day_start(day: str, zone: tzinfo) -> datetime:
    """Midnight at the start of a ``YYYY-MM-DD`` day in ``zone``."""
    return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=zone)


def next_day(moment: datetime) -> datetime:
    return (moment.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=moment.tzinfo)

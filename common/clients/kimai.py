"""Kimai 2 API client (https://<host>/api).

Traps handled here: customers, projects and activities are not paginated; lists hide invisible
entries unless visible=3; projects outside their start/end window are hidden unless ignoreDates=1;
an omitted boolean in POST/PATCH becomes false, so every write sends visible and billable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..config import SERVICE_KEYS
from ..http import RequestCounter, ServiceSession
from . import FirstAnswer, Record
from .shapes import get_many, get_one, many, send_one, shape

if TYPE_CHECKING:
    from ..config import Settings

ALL = "3"  # visible filter: 1 = visible, 2 = hidden, 3 = all
ID_CHUNK = 50  # project ids per activities request, to keep URLs short

# what the jobs rely on in Kimai's answers (common/clients/shapes.py)
VERSION = shape(version="str")
ME = shape(id="id", username="str", timezone="str?")
USER = shape(id="id", email="str?")
CUSTOMER = shape(id="id", name="str", comment="str?", visible="bool?")
PROJECT = shape(id="id", name="str", customer="id", comment="str?", visible="bool?")
ACTIVITY = shape(id="id", name="str", project="id?", comment="str?", visible="bool?", billable="bool?")
TIMESHEET = shape(
    id="id",
    begin="time",
    end="time?",
    user="id",
    project="id",
    activity="id",
    description="str?",
    tags="list?",
    billable="bool?",
    exported="bool?",
)


class KimaiClient:
    def __init__(self, settings: Settings, counter: RequestCounter, dry_run: bool = False) -> None:
        settings.require(*SERVICE_KEYS["kimai"])
        self.http = ServiceSession(
            "kimai",
            f"{settings.kimai_url}/api",
            {"Authorization": f"Bearer {settings.kimai_token}"},
            settings,
            counter=counter,
            dry_run=dry_run,
            cacheable=("version", "users/me"),
        )
        self.api = FirstAnswer(self.http, "KIMAI_URL", "Kimai")

    def version(self) -> str | None:
        return self.api.get_json("version", shape=VERSION).get("version")

    def me(self) -> Record:
        return self.api.get_json("users/me", shape=ME)

    def find_users(self, term: str) -> list[Record]:
        """Users (enabled or not) whose alias, title, account number, e-mail or user name contain
        `term`. Needs the view_user permission (ROLE_SUPER_ADMIN by default): else AuthError (403)."""
        return get_many(self.http, "users", {"visible": ALL, "term": term}, USER)

    # customers
    def list_customers(self) -> list[Record]:
        return get_many(self.http, "customers", {"visible": ALL}, CUSTOMER)

    def create_customer(
        self, name: str, country: str, currency: str, timezone: str, comment: str | None = None
    ) -> Record:
        body = {
            "name": name,
            "country": country,
            "currency": currency,
            "timezone": timezone,
            "comment": comment,
            "visible": True,
            "billable": True,
        }
        return send_one(self.http, "POST", "customers", CUSTOMER, json=body, ok=(200, 201))

    # projects
    def list_projects(self) -> list[Record]:
        return get_many(self.http, "projects", {"visible": ALL, "ignoreDates": "1"}, PROJECT)

    def create_project(
        self, name: str, customer_id: int, comment: str | None, visible: bool = True, billable: bool = True
    ) -> Record:
        body = {
            "name": name,
            "customer": customer_id,
            "comment": comment,
            "visible": visible,
            "billable": billable,
            "globalActivities": True,
        }
        return send_one(self.http, "POST", "projects", PROJECT, json=body, ok=(200, 201))

    def list_activities(self, project_ids: Iterable[int]) -> list[Record]:
        """Every activity (visible or not) of the given projects, in as few requests as possible."""
        ids = sorted(set(project_ids))
        activities: list[Record] = []
        for start in range(0, len(ids), ID_CHUNK):
            params = {"visible": ALL, "projects[]": [str(i) for i in ids[start : start + ID_CHUNK]]}
            activities.extend(get_many(self.http, "activities", params, ACTIVITY))
        return activities

    def create_activity(
        self, name: str, project_id: int | None, comment: str | None, visible: bool = True, billable: bool = True
    ) -> Record:
        body = {"name": name, "project": project_id, "comment": comment, "visible": visible, "billable": billable}
        return send_one(self.http, "POST", "activities", ACTIVITY, json=body, ok=(200, 201))

    def update_activity(
        self, activity_id: int, name: str, comment: str | None, visible: bool, billable: bool = True
    ) -> Record:
        body = {"name": name, "comment": comment, "visible": visible, "billable": billable}
        return send_one(self.http, "PATCH", f"activities/{activity_id}", ACTIVITY, json=body)

    # timesheets
    def list_timesheets(
        self,
        begin: str | None = None,
        end: str | None = None,
        *,
        user: str | None = "all",
        tags: Iterable[str] | None = None,
        modified_after: str | None = None,
        page_size: int = 500,
        filters: Mapping[str, Any] | None = None,
    ) -> list[Record]:
        """Every timesheet that started in [begin, end] (Kimai local time strings), read page by
        page (at most 500 a page) by the shared pager: to X-Total-Pages, or, without it, to a
        short or empty page. `filters`: more of Kimai's list filters, e.g. {"customers[]": ["3"],
        "projects[]": [...], "activities[]": [...], "billable": "1"}."""
        params: dict[str, Any] = {"size": page_size, "orderBy": "id", "order": "ASC"}
        params.update(
            {k: v for k, v in (("begin", begin), ("end", end), ("user", user), ("modified_after", modified_after)) if v}
        )
        if tags:
            params["tags[]"] = list(tags)
        params.update({k: v for k, v in (filters or {}).items() if v not in (None, "", [], ())})
        sheets, _ = self.http.pages("timesheets", params, page_size=page_size)
        return many(self.http, f"GET {self.http.path_of('timesheets')}", sheets, TIMESHEET)

    def get_timesheet(self, timesheet_id: int) -> dict[str, Any]:
        """One timesheet by id (NotFound when it is gone)."""
        return get_one(self.http, f"timesheets/{timesheet_id}", None, TIMESHEET)

    def create_timesheet(self, fields: Mapping[str, Any]) -> Record:
        return send_one(self.http, "POST", "timesheets", TIMESHEET, json=fields, ok=(200, 201))

    def update_timesheet(self, timesheet_id: int, fields: Mapping[str, Any]) -> Record:
        return send_one(self.http, "PATCH", f"timesheets/{timesheet_id}", TIMESHEET, json=fields)

    def delete_timesheet(self, timesheet_id: int) -> None:
        self.http.request("DELETE", f"timesheets/{timesheet_id}", ok=(200, 204))

    def list_global_activities(self) -> list[Record]:
        return get_many(self.http, "activities", {"visible": ALL, "globals": "1"}, ACTIVITY)

    def list_all_activities(self) -> list[Record]:
        """Every activity, global or of any project, visible or not, in one request."""
        return get_many(self.http, "activities", {"visible": ALL}, ACTIVITY)

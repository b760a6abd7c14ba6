"""Kimai 2 API client (https://<host>/api).

Traps handled here: customers, projects and activities are not paginated; lists hide invisible
entries unless visible=3; projects outside their start/end window are hidden unless ignoreDates=1;
an omitted boolean in POST/PATCH becomes false, so every write sends visible and billable.
"""

from ..http import ServiceSession
from . import FirstAnswer, is_record

ALL = "3"  # visible filter: 1 = visible, 2 = hidden, 3 = all
ID_CHUNK = 50  # project ids per activities request, to keep URLs short


class KimaiClient:
    def __init__(self, settings, counter, dry_run=False):
        settings.require("KIMAI_URL", "KIMAI_TOKEN")
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

    def version(self):
        return self.api.get_json("version", shape=is_record("version")).get("version")

    def me(self):
        return self.api.get_json("users/me", shape=is_record("id", "username"))

    def find_users(self, term):
        """Users (enabled or not) whose alias, title, account number, e-mail or user name contain
        `term`. Needs the view_user permission (ROLE_SUPER_ADMIN by default): else AuthError (403)."""
        return self.http.get_json("users", {"visible": ALL, "term": term})

    # customers
    def list_customers(self):
        return self.http.get_json("customers", {"visible": ALL})

    def create_customer(self, name, country, currency, timezone, comment=None):
        body = {
            "name": name,
            "country": country,
            "currency": currency,
            "timezone": timezone,
            "comment": comment,
            "visible": True,
            "billable": True,
        }
        return self.http.request("POST", "customers", json=body, ok=(200, 201)).json()

    # projects
    def list_projects(self):
        return self.http.get_json("projects", {"visible": ALL, "ignoreDates": "1"})

    def create_project(self, name, customer_id, comment, visible=True, billable=True):
        body = {
            "name": name,
            "customer": customer_id,
            "comment": comment,
            "visible": visible,
            "billable": billable,
            "globalActivities": True,
        }
        return self.http.request("POST", "projects", json=body, ok=(200, 201)).json()

    def update_project(self, project, **changes):
        """PATCH a project, repeating its current booleans so none silently turns false."""
        body = {
            "visible": project["visible"],
            "billable": project["billable"],
            "globalActivities": project.get("globalActivities", True),
            **changes,
        }
        return self.http.request("PATCH", f"projects/{project['id']}", json=body).json()

    # activities
    def list_activities(self, project_ids):
        """Every activity (visible or not) of the given projects, in as few requests as possible."""
        ids = sorted(set(project_ids))
        activities = []
        for start in range(0, len(ids), ID_CHUNK):
            params = {"visible": ALL, "projects[]": [str(i) for i in ids[start : start + ID_CHUNK]]}
            activities.extend(self.http.get_json("activities", params))
        return activities

    def create_activity(self, name, project_id, comment, visible=True, billable=True):
        body = {"name": name, "project": project_id, "comment": comment, "visible": visible, "billable": billable}
        return self.http.request("POST", "activities", json=body, ok=(200, 201)).json()

    def update_activity(self, activity_id, name, comment, visible, billable=True):
        body = {"name": name, "comment": comment, "visible": visible, "billable": billable}
        return self.http.request("PATCH", f"activities/{activity_id}", json=body).json()

    # timesheets
    def list_timesheets(
        self, begin=None, end=None, *, user="all", tags=None, modified_after=None, page_size=500, filters=None
    ):
        """Every timesheet that started in [begin, end] (Kimai local time strings), read page by
        page (at most 500 a page) by the shared pager: to X-Total-Pages, or, without it, to a
        short or empty page. `filters`: more of Kimai's list filters, e.g. {"customers[]": ["3"],
        "projects[]": [...], "activities[]": [...], "billable": "1"}."""
        params = {"size": page_size, "orderBy": "id", "order": "ASC"}
        params.update(
            {k: v for k, v in (("begin", begin), ("end", end), ("user", user), ("modified_after", modified_after)) if v}
        )
        if tags:
            params["tags[]"] = list(tags)
        params.update({k: v for k, v in (filters or {}).items() if v not in (None, "", [], ())})
        sheets, _ = self.http.pages("timesheets", params, page_size=page_size)
        return sheets

    def create_timesheet(self, fields):
        return self.http.request("POST", "timesheets", json=fields, ok=(200, 201)).json()

    def update_timesheet(self, timesheet_id, fields):
        return self.http.request("PATCH", f"timesheets/{timesheet_id}", json=fields).json()

    def delete_timesheet(self, timesheet_id):
        self.http.request("DELETE", f"timesheets/{timesheet_id}", ok=(200, 204))

    def list_global_activities(self):
        return self.http.get_json("activities", {"visible": ALL, "globals": "1"})

    def list_all_activities(self):
        """Every activity, global or of any project, visible or not, in one request."""
        return self.http.get_json("activities", {"visible": ALL})

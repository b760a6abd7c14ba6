"""The Kimai 2 stand-in (API under /api): status, users, customers, projects, activities.

Timesheet endpoints live in ``kimai_timesheets``, request-body rules in ``kimai_forms`` and the
JSON views in ``kimai_json``. Traps reproduced here: lists are not paginated; ``visible``
defaults to 1, so hidden entities (and those under a hidden parent) are missing unless
``visible=3``; ``GET /projects`` without ``start``/``end``/``ignoreDates`` only returns projects
active today; ``?project=`` on activities also returns global activities (when the project
allows them); a project needs a customer; project dates are ``Y-m-d`` on POST but
``Y-m-d\\TH:i:s`` on PATCH; invalid query values answer 400 "Bad Request".

Permissions: the token's user is ``me`` (a ROLE_SUPER_ADMIN unless a test changes its roles with
``update_user``); ``permissions`` maps the few permissions the stand-in checks to the roles that
have them (Kimai's defaults, changeable with ``grant``). ``GET /users`` needs view_user (403
"Access denied." before any query check), ``GET /users/{id}`` of someone else view_other_profile,
and without view_all_data the user list holds only the token's user (teams are not modelled);
``GET /timesheets?user=`` is silently ignored without view_other_timesheet, as in Kimai.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sandbox import kimai_json as views
from sandbox.clock import SandboxClock
from sandbox.kimai_forms import (
    ACTIVITY_FORM,
    CUSTOMER_FORM,
    NOT_BLANK,
    NOT_VALID,
    PROJECT_FORM,
    check_name,
    query_ok,
    query_values,
    submit,
)
from sandbox.kimai_timesheets import TimesheetEndpoints
from sandbox.server import Request, Response, Service
from sandbox.time_formats import is_date

VERSION, VERSION_ID = "2.66.0", 26600
ORDER = r"ASC|DESC"
LIST_RULES = {"visible": r"[123]", "order": ORDER, "full": r"0|1|true|false"}
PROJECT_RULES = {
    **LIST_RULES,
    "orderBy": r"id|name|customer",
    "customer": r"\d+",
    "customers": r"\d+",
    "ignoreDates": r"1",
    "globalActivities": r"0|1",
}
USER_RULES = {**LIST_RULES, "orderBy": r"id|username|alias|email"}
USER_TERM_FIELDS = ("alias", "title", "accountNumber", "email", "username")
# Kimai's default role -> permission matrix, for the permissions the stand-in checks
DEFAULT_PERMISSIONS = {
    "view_user": ("ROLE_SUPER_ADMIN",),
    "view_other_profile": ("ROLE_SUPER_ADMIN",),
    "view_all_data": ("ROLE_ADMIN", "ROLE_SUPER_ADMIN"),
    "view_other_timesheet": ("ROLE_TEAMLEAD", "ROLE_ADMIN", "ROLE_SUPER_ADMIN"),
}
ACCESS_DENIED = "Access denied."
ACTIVITY_RULES = {
    **LIST_RULES,
    "orderBy": r"id|name|project",
    "project": r"\d+",
    "projects": r"\d+",
    "globals": r"0|1|true|false",
}


class KimaiService(TimesheetEndpoints, Service):
    """Kimai state (users, customers, projects, activities, timesheets) and its API."""

    name = "kimai"
    api_prefix = "/api"
    token = "kimai-sandbox-token-0123"

    def __init__(self, timezone: str = "Europe/Berlin") -> None:
        super().__init__()
        self.zone = ZoneInfo(timezone)
        self.clock = SandboxClock()
        self._users: dict[int, dict[str, Any]] = {}
        self._customers: dict[int, dict[str, Any]] = {}
        self._projects: dict[int, dict[str, Any]] = {}
        self._activities: dict[int, dict[str, Any]] = {}
        self._timesheets: dict[int, dict[str, Any]] = {}
        self._last_id: dict[str, int] = {}
        self.permissions: dict[str, set[str]] = {name: set(roles) for name, roles in DEFAULT_PERMISSIONS.items()}
        self.me = self.add_user("admin", alias="Sandbox Admin", initials="SA", roles=["ROLE_SUPER_ADMIN"])["id"]
        self.route("GET", "/ping", lambda request: Response(200, {"message": "pong"}))
        self.route(
            "GET",
            "/version",
            lambda request: Response(
                200, {"version": VERSION, "versionId": VERSION_ID, "copyright": f"Kimai {VERSION} by Kevin Papst."}
            ),
        )
        self.route("GET", "/users/me", lambda request: Response(200, views.user_entity(self._users[self.me])))
        self.route("GET", "/users", self._list_users)
        self.route("GET", "/users/{id:int}", self._get_user)
        for kind, lister, creator, patcher in (
            ("customers", self._list_customers, self._post_customer, self._patch_customer),
            ("projects", self._list_projects, self._post_project, self._patch_project),
            ("activities", self._list_activities, self._post_activity, self._patch_activity),
        ):
            self.route("GET", f"/{kind}", lister)
            self.route("POST", f"/{kind}", creator)
            self.route("GET", f"/{kind}/{{id:int}}", self._getter(kind))
            self.route("PATCH", f"/{kind}/{{id:int}}", patcher)
        self.register_timesheet_routes()

    # -- state API (for tests and seeds; no API validation) --------------------------------
    @property
    def customers(self) -> list[dict[str, Any]]:
        with self.lock:
            return [views.customer_entity(c) for c in self._customers.values()]

    @property
    def projects(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self._project_view(p) for p in self._projects.values()]

    @property
    def activities(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self._activity_view(a) for a in self._activities.values()]

    def add_user(self, username: str, **fields: Any) -> dict[str, Any]:
        with self.lock:
            user = {
                "id": self._take_id("user"),
                "username": username,
                "email": f"{username}@example.com",
                "enabled": True,
                "apiToken": True,
                "systemAccount": False,
                "color": None,
                "avatar": None,
                "alias": None,
                "accountNumber": None,
                "initials": username[:2].upper(),
                "title": None,
                "language": "en",
                "locale": "en",
                "timezone": self.zone.key,
                "roles": ["ROLE_USER"],
            }
            self._users[user["id"]] = _merge(user, fields)
            return views.user_entity(user)

    def update_user(self, user_id: int, **fields: Any) -> dict[str, Any]:
        """Change a user's fields, e.g. ``update_user(kimai.me, roles=["ROLE_USER"])`` to make the
        token's user an ordinary user, or ``enabled=False`` to hide one from ``GET /users``."""
        with self.lock:
            return views.user_entity(_merge(self._users[user_id], fields))

    def grant(self, role: str, *permissions: str) -> None:
        """Give a role permissions (as Kimai's role-permission screen does)."""
        with self.lock:
            for permission in permissions:
                self.permissions.setdefault(permission, set()).add(role)

    def revoke(self, role: str, *permissions: str) -> None:
        with self.lock:
            for permission in permissions:
                self.permissions.get(permission, set()).discard(role)

    def may(self, permission: str, user_id: int | None = None) -> bool:
        """Whether a user (default: the token's user) has a permission through one of its roles."""
        roles = self._users[self.me if user_id is None else user_id]["roles"]
        return bool(self.permissions.get(permission, set()) & set(roles))

    def add_customer(self, name: str, **fields: Any) -> dict[str, Any]:
        with self.lock:
            customer = dict(
                _entity_defaults(name),
                company=None,
                vatId=None,
                contact=None,
                address=None,
                addressLine1=None,
                addressLine2=None,
                addressLine3=None,
                postCode=None,
                city=None,
                country="DE",
                language="en",
                currency="EUR",
                phone=None,
                fax=None,
                mobile=None,
                email=None,
                homepage=None,
                timezone=self.zone.key,
                invoiceTemplate=None,
                invoiceEmail=None,
                buyerReference=None,
                id=self._take_id("customer"),
            )
            self._customers[customer["id"]] = _merge(customer, fields)
            return views.customer_entity(customer)

    def add_project(self, name: str, customer_id: int, **fields: Any) -> dict[str, Any]:
        with self.lock:
            if customer_id not in self._customers:
                raise KeyError(f"unknown customer {customer_id}")
            project = dict(
                _entity_defaults(name),
                customer=customer_id,
                orderNumber=None,
                orderDate=None,
                start=None,
                end=None,
                globalActivities=True,
                id=self._take_id("project"),
            )
            self._projects[project["id"]] = _merge(project, fields)
            return self._project_view(project)

    def add_activity(self, name: str, project_id: int | None, **fields: Any) -> dict[str, Any]:
        """Create an activity; ``project_id`` None makes a global activity."""
        with self.lock:
            if project_id is not None and project_id not in self._projects:
                raise KeyError(f"unknown project {project_id}")
            activity = dict(_entity_defaults(name), project=project_id, id=self._take_id("activity"))
            self._activities[activity["id"]] = _merge(activity, fields)
            return self._activity_view(activity)

    def update_activity(self, activity_id: int, **fields: Any) -> dict[str, Any]:
        with self.lock:
            activity = self._activities[activity_id]
            _merge(activity, fields)
            return self._activity_view(activity)

    def delete_activity(self, activity_id: int) -> None:
        with self.lock:
            del self._activities[activity_id]

    def state(self) -> dict[str, Any]:
        return {
            "users": [views.user_entity(u) for u in self._users.values()],
            "customers": [views.customer_entity(c) for c in self._customers.values()],
            "projects": [self._project_view(p) for p in self._projects.values()],
            "activities": [self._activity_view(a) for a in self._activities.values()],
            "timesheets": [self.timesheet_view(t) for t in self._timesheets.values()],
        }

    def env(self, url: str, **options: Any) -> dict[str, str]:
        return {"KIMAI_URL": url, "KIMAI_TOKEN": self.token}

    # -- service hooks ---------------------------------------------------------------------
    def authenticate(self, request: Request) -> Response | None:
        """``Authorization: Bearer <token>``, or the deprecated X-AUTH-USER + X-AUTH-TOKEN pair
        (username ``admin``; the API password is the same sandbox token)."""
        scheme, _, value = (request.header("Authorization") or "").partition(" ")
        legacy_user, legacy_token = request.header("X-AUTH-USER"), request.header("X-AUTH-TOKEN")
        if scheme.lower() == "bearer" and value.strip():
            valid = value.strip() == self.token
        elif legacy_user or legacy_token:
            valid = legacy_user == self._users[self.me]["username"] and legacy_token == self.token
        else:
            return Response(401, {"message": "Unauthorized", "code": 401})
        return None if valid else Response(401, {"message": "Invalid credentials"})

    def not_found(self, request: Request) -> Response:
        return self.error(404, "Not Found")

    def method_not_allowed(self, request: Request) -> Response:
        return self.error(405, "Method Not Allowed")

    def bad_json(self, request: Request) -> Response:
        return self.error(400, "Bad Request")

    def fault_response(self, status: int) -> Response:
        return self.error(500, "Internal Server Error") if status == 500 else super().fault_response(status)

    @staticmethod
    def error(status: int, message: str) -> Response:
        return Response(status, {"code": status, "message": message})

    # -- users -----------------------------------------------------------------------------
    def _list_users(self, request: Request) -> Response:
        if not self.may("view_user"):
            return self.error(403, ACCESS_DENIED)
        if not query_ok(request, USER_RULES):
            return self.error(400, "Bad Request")
        visible = request.arg("visible") or "1"
        found = [
            u
            for u in self._users.values()
            if (visible == "3" or u["enabled"] == (visible == "1"))
            and (self.may("view_all_data") or u["id"] == self.me)
            and _user_term_matches(request.arg("term") or "", u)
        ]
        found = _ordered(
            request,
            found,
            {
                "id": lambda u: u["id"],
                "name": _by_field("username"),
                "username": _by_field("username"),
                "alias": _by_field("alias"),
                "email": _by_field("email"),
            },
        )
        full = request.arg("full") in ("1", "true")
        return Response(200, [(views.user_entity if full else views.user_embedded)(u) for u in found])

    def _get_user(self, request: Request) -> Response:
        user = self._users.get(int(request.params["id"]))
        if user is None:
            return self.not_found(request)
        if user["id"] != self.me and not self.may("view_other_profile"):
            return self.error(403, ACCESS_DENIED)
        return Response(200, views.user_entity(user))

    # -- customers -------------------------------------------------------------------------
    def _list_customers(self, request: Request) -> Response:
        if not query_ok(request, LIST_RULES | {"orderBy": r"id|name"}):
            return self.error(400, "Bad Request")
        visible = request.arg("visible") or "1"
        found = [
            c
            for c in self._customers.values()
            if _visibility_matches(visible, c["visible"], True)
            and _term_matches(request, c, ("name", "comment", "number", "company"))
        ]
        found = _ordered(request, found, {"id": lambda c: c["id"], "name": _by_name})
        full = request.arg("full") in ("1", "true")
        return Response(200, [views.customer_collection(c, full) for c in found])

    def _post_customer(self, request: Request) -> Response:
        return self._save_customer(request, None)

    def _patch_customer(self, request: Request) -> Response:
        customer = self._customers.get(int(request.params["id"]))
        return self._save_customer(request, customer) if customer else self.not_found(request)

    def _save_customer(self, request: Request, customer: dict[str, Any] | None) -> Response:
        values, errors = submit(CUSTOMER_FORM, request.body, customer)
        check_name(errors, values["name"])
        for field, pattern in (("country", r"[A-Z]{2}"), ("currency", r"[A-Z]{3}")):
            if not values[field]:
                errors.add(field, NOT_BLANK)
            elif not errors.has(field) and not re.fullmatch(pattern, values[field]):
                errors.add(field, NOT_VALID)
        if not values["timezone"]:
            errors.add("timezone", NOT_BLANK)
        elif values["timezone"] not in zoneinfo.available_timezones():
            errors.add("timezone", NOT_VALID)
        if errors:
            return errors.response()
        customer = self._store("customer", self._customers, customer, values)
        return Response(200, views.customer_entity(customer))

    # -- projects --------------------------------------------------------------------------
    def _list_projects(self, request: Request) -> Response:
        if not query_ok(request, PROJECT_RULES):
            return self.error(400, "Bad Request")
        visible = request.arg("visible") or "1"
        customers = {int(v) for v in query_values(request, "customer") + query_values(request, "customers")}
        today = datetime.now(self.zone).strftime("%Y-%m-%d")
        started_before = None if request.arg("ignoreDates") else (request.arg("start") or today)[:10]
        ended_after = None if request.arg("ignoreDates") else (request.arg("end") or today)[:10]
        global_activities = request.arg("globalActivities")
        found = [
            p
            for p in self._projects.values()
            if _visibility_matches(visible, p["visible"], self._customers[p["customer"]]["visible"])
            and (not customers or p["customer"] in customers)
            and (started_before is None or p["start"] is None or p["start"] <= started_before)
            and (ended_after is None or p["end"] is None or p["end"] >= ended_after)
            and (global_activities is None or p["globalActivities"] == (global_activities == "1"))
            and _term_matches(request, p, ("name", "comment", "number", "orderNumber"))
        ]
        found = _ordered(
            request,
            found,
            {"id": lambda p: p["id"], "name": _by_name, "customer": lambda p: _by_name(self._customers[p["customer"]])},
        )
        return Response(200, [self._project_view(p) for p in found])

    def _post_project(self, request: Request) -> Response:
        return self._save_project(request, None)

    def _patch_project(self, request: Request) -> Response:
        project = self._projects.get(int(request.params["id"]))
        return self._save_project(request, project) if project else self.not_found(request)

    def _save_project(self, request: Request, project: dict[str, Any] | None) -> Response:
        values, errors = submit(PROJECT_FORM, request.body, project)
        check_name(errors, values["name"])
        if values["customer"] is None:
            errors.add("customer", NOT_BLANK)
        elif not errors.has("customer") and values["customer"] not in self._customers:
            errors.add("customer", NOT_VALID)
        body = request.body if isinstance(request.body, dict) else {}
        # Kimai's quirk: ProjectController reads dates as Y-m-d on POST, Y-m-d\TH:i:s on PATCH
        date_format = r"\d{4}-\d{2}-\d{2}" if project is None else r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"
        for field in ("orderDate", "start", "end"):
            if field in body and values[field] is not None and not errors.has(field):
                if not re.fullmatch(date_format, values[field]) or not is_date(values[field][:10]):
                    errors.add(field, NOT_VALID)
                else:
                    values[field] = values[field][:10]
        if not errors and values["start"] and values["end"] and values["end"] < values["start"]:
            errors.add("end", "End date must not be earlier then start date.")
        if errors:
            return errors.response()
        project = self._store("project", self._projects, project, values)
        return Response(200, self._project_view(project))

    def _project_view(self, project: dict[str, Any]) -> dict[str, Any]:
        return views.project_entity(project, self._customers[project["customer"]])

    # -- activities ------------------------------------------------------------------------
    def _list_activities(self, request: Request) -> Response:
        if not query_ok(request, ACTIVITY_RULES):
            return self.error(400, "Bad Request")
        visible = request.arg("visible") or "1"
        globals_only = request.arg("globals") in ("1", "true")
        projects = [int(v) for v in query_values(request, "project") + query_values(request, "projects")]
        include_globals = True
        if len(projects) == 1 and projects[0] in self._projects:
            include_globals = self._projects[projects[0]]["globalActivities"]
        found = []
        for activity in self._activities.values():
            project = self._projects.get(activity["project"]) if activity["project"] is not None else None
            parents_visible = project is None or (
                project["visible"] and self._customers[project["customer"]]["visible"]
            )
            in_projects = include_globals if project is None else project["id"] in projects
            if (
                _visibility_matches(visible, activity["visible"], parents_visible)
                and not (globals_only and project is not None)
                and (not projects or in_projects)
                and _term_matches(request, activity, ("name", "comment", "number"))
            ):
                found.append(activity)
        found = _ordered(
            request,
            found,
            {
                "id": lambda a: a["id"],
                "name": _by_name,
                "project": lambda a: _by_name(self._projects[a["project"]]) if a["project"] is not None else ("", 0),
            },
        )
        return Response(200, [self._activity_view(a) for a in found])

    def _post_activity(self, request: Request) -> Response:
        return self._save_activity(request, None)

    def _patch_activity(self, request: Request) -> Response:
        activity = self._activities.get(int(request.params["id"]))
        return self._save_activity(request, activity) if activity else self.not_found(request)

    def _save_activity(self, request: Request, activity: dict[str, Any] | None) -> Response:
        values, errors = submit(ACTIVITY_FORM, request.body, activity)
        check_name(errors, values["name"])
        if values["project"] is not None and not errors.has("project") and values["project"] not in self._projects:
            errors.add("project", NOT_VALID)
        if errors:
            return errors.response()
        activity = self._store("activity", self._activities, activity, values)
        return Response(200, self._activity_view(activity))

    def _activity_view(self, activity: dict[str, Any]) -> dict[str, Any]:
        project = self._projects.get(activity["project"]) if activity["project"] is not None else None
        return views.activity_entity(activity, project)

    # -- helpers ---------------------------------------------------------------------------
    def _getter(self, kind: str) -> Callable[[Request], Response]:
        table, view = {
            "customers": (self._customers, views.customer_entity),
            "projects": (self._projects, self._project_view),
            "activities": (self._activities, self._activity_view),
        }[kind]

        def get(request: Request) -> Response:
            record = table.get(int(request.params["id"]))
            return Response(200, view(record)) if record else self.not_found(request)

        return get

    def _take_id(self, kind: str) -> int:
        self._last_id[kind] = self._last_id.get(kind, 0) + 1
        return self._last_id[kind]

    def _store(
        self, kind: str, table: dict[int, dict[str, Any]], record: dict[str, Any] | None, values: dict[str, Any]
    ) -> dict[str, Any]:
        """Apply submitted form values to a record, creating it (with defaults) on POST."""
        if record is None:
            creators = {
                "customer": lambda: self.add_customer(values["name"]),
                "project": lambda: self.add_project(values["name"], values["customer"]),
                "activity": lambda: self.add_activity(values["name"], values["project"]),
            }
            record = table[creators[kind]()["id"]]
        record.update({key: value for key, value in values.items() if key in record})
        return record


def _entity_defaults(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "number": None,
        "comment": None,
        "invoiceText": None,
        "visible": True,
        "billable": True,
        "color": None,
        "budget": 0.0,
        "timeBudget": 0,
        "budgetType": None,
        "teams": [],
        "metaFields": [],
    }


def _merge(record: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(record)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    record.update(fields)
    return record


def _visibility_matches(visible: str, own: bool, parents: bool) -> bool:
    """visible=1: the entity and its parents are visible; 2: hidden (parents visible); 3: all."""
    if visible == "3":
        return True
    return parents and own == (visible == "1")


def _term_matches(request: Request, record: dict[str, Any], fields: tuple[str, ...]) -> bool:
    term = (request.arg("term") or "").casefold()
    return not term or any(term in (record[field] or "").casefold() for field in fields)


def _user_term_matches(term: str, user: dict[str, Any]) -> bool:
    """Kimai's SearchTerm on users: every space-separated word must occur (case-insensitive) in
    alias, title, accountNumber, email or username; ``!word`` must occur in none of them;
    ``name:value`` must occur in the user preference ``name`` (here timezone and language)."""
    texts = [(user[field] or "").casefold() for field in USER_TERM_FIELDS]
    for word in term.casefold().split(" "):
        word = word.strip()
        if not word:
            continue
        if ":" in word:
            name, _, value = word.partition(":")
            preference = str(user.get(name.strip()) or "") if name.strip() in ("timezone", "language") else ""
            if value.strip() and value.strip() not in preference.casefold():
                return False
        elif word.startswith("!"):
            if word[1:] and any(word[1:] in text for text in texts):
                return False
        elif not any(word in text for text in texts):
            return False
    return True


def _by_name(record: dict[str, Any]) -> tuple[str, int]:
    return record["name"].casefold(), record["id"]


def _by_field(field: str) -> Callable[[dict[str, Any]], tuple[bool, str, int]]:
    """Sort key on a text column: NULL first (as MySQL sorts ascending), then case-insensitive."""
    return lambda record: (record[field] is not None, (record[field] or "").casefold(), record["id"])


def _ordered(request: Request, records: list[dict[str, Any]], keys: dict[str, Callable]) -> list[dict[str, Any]]:
    key = keys.get(request.arg("orderBy") or "name", keys["name"])
    return sorted(records, key=key, reverse=request.arg("order") == "DESC")

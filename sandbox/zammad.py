"""The Zammad stand-in (API under /api/v1), with the state methods tests use to set it up.

Reproduces what clients trip over (Zammad 6.x, verified against its controllers):

* auth ``Authorization: Token token=<T>`` (also ``Token <T>`` and ``Bearer <T>``); *missing*
  credentials are 403 ``Authentication required`` (not 401), a wrong ``Token`` is 401
  ``Can't find User for Token``, a wrong ``Bearer`` 401 ``The provided token is invalid.``;
  unknown routes are 404 ``This page doesn't exist.`` even without credentials;
* ``GET /tickets/search``: Elasticsearch ``query_string`` semantics (see ``zammad_search``:
  unescaped colons in times are a syntax error -> no hits, ``*`` appended to colon-less
  queries, whole-day rounding of dates), ``page``/``per_page`` (alias ``limit``, read with
  Ruby's ``to_i``) default 50, silently clamped to 200, newest ``updated_at`` first, ``order_by``
  defaulting to ``desc``; no total unless ``with_total_count=true`` (then
  ``{records, total_count}``), ``only_total_count=true`` -> ``{total_count}``, ``full=true`` ->
  ``{record_ids, assets, total_count}``, ``expand=true`` adds names; beyond Elasticsearch's
  10,000-hit window, or for a query it rejects, the answer is an empty list (Zammad logs the
  error and returns nothing);
* ``GET /tickets`` pages of at most 100 by id; ``GET /tickets/{id}``: the plain columns;
  a deleted ticket (``delete_ticket``, or ``DELETE /tickets/{id}`` as the admin token: with its
  articles and time) is 404 ``Couldn't find Ticket``; a ticket moved to a group the token's
  agent cannot read (``restrict_ticket``) is left out of lists and searches and is 403 ``Not
  authorized``; a merged ticket (``merge_ticket``) keeps its time accounting, its articles move
  to the target;
* time accountings: ``time_unit`` is a decimal *string* (``"15.0"``), strings are read like
  Ruby's ``to_d`` (``"abc"`` -> ``"0.0"``); logging, changing or deleting time bumps the ticket's
  ``updated_at`` and its ``time_unit`` sum; lists are capped at 500 per page.

Times are UTC with milliseconds (``2023-08-16T08:11:49.315Z``); the sandbox clock never
repeats a millisecond.

This module holds the service itself (users, organisations, authentication, errors, routes)
and ``webhook_request``. Tickets and articles live in ``zammad_tickets``, time accounting in
``zammad_time_accounting``, the search endpoints in ``zammad_search_endpoints`` (the query engine
in ``zammad_query`` and ``zammad_search``), request reading in ``zammad_params``, the JSON shapes
in ``zammad_json`` and the webhook payload in ``zammad_webhook``.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sandbox import zammad_json as shapes
from sandbox.clock import MillisecondClock
from sandbox.server import Request, Response, Service
from sandbox.zammad_params import flag, rails_token, record_id
from sandbox.zammad_search_endpoints import SearchEndpoints
from sandbox.zammad_tickets import TicketEndpoints
from sandbox.zammad_time_accounting import TimeAccountingEndpoints
from sandbox.zammad_webhook import WEBHOOK_TRIGGER, webhook_body, webhook_headers

if TYPE_CHECKING:
    from sandbox.hub import Sandbox

TOKEN_USER_EMAIL = "tracksync@example.com"


class ZammadService(TicketEndpoints, TimeAccountingEndpoints, SearchEndpoints, Service, shapes.Lookup):
    """Zammad state (users, organisations, tickets, articles, time accountings, activity types)
    and the API handlers over it. The token belongs to the admin agent ``tracksync@example.com``."""

    name = "zammad"
    api_prefix = "/api/v1"
    token = "zammad-sandbox-token-0123"

    def __init__(self) -> None:
        super().__init__()
        self.clock = MillisecondClock()
        self.strip_asterisks = False  # True: like newer Zammad (2025 CanSearch deletes every "*" from the query)
        self._users: dict[int, dict[str, Any]] = {}
        self._logins: dict[str, int] = {}
        self._organizations: dict[int, dict[str, Any]] = {}
        self._tickets: dict[int, dict[str, Any]] = {}
        self._hidden: set[int] = set()  # tickets in a group the token's agent cannot read (restrict_ticket)
        self.ticket_read_faults: dict[int, int] = {}  # ticket id -> the 5xx every read of it (by id) answers
        self._articles: dict[int, dict[str, Any]] = {}
        self._entries: dict[int, dict[str, Any]] = {}
        self._entry_by_article: dict[int, int] = {}
        self._types: dict[int, dict[str, Any]] = {}
        self._next_id = {"user": 1, "organization": 1, "ticket": 1, "article": 1, "entry": 1, "type": 1}
        self._ticket_counter = 0
        created = shapes.EPOCH_2020
        self._insert_user("-", "-", "", "", [], None, created, active=False)
        self._token_user_id = self._insert_user(
            TOKEN_USER_EMAIL,
            "Tracksync",
            "Bot",
            TOKEN_USER_EMAIL,
            [1, 2],
            None,
            created,
            preferences={"locale": "en-us"},
        )["id"]
        self._init_search()
        self.route("GET", "/tickets/search", self._search_tickets)
        self.route("GET", "/tickets", self._list_tickets)
        self.route("GET", "/tickets/{id}", self._get_ticket)
        self.route("DELETE", "/tickets/{id}", self._delete_ticket)
        self.route("GET", "/tickets/{ticket_id}/time_accountings", self._list_entries)
        self.route("POST", "/tickets/{ticket_id}/time_accountings", self._create_entry)
        self.route("GET", "/tickets/{ticket_id}/time_accountings/{id}", self._get_entry)
        self.route("PUT", "/tickets/{ticket_id}/time_accountings/{id}", self._update_entry)
        self.route("DELETE", "/tickets/{ticket_id}/time_accountings/{id}", self._delete_entry)
        self.route("GET", "/time_accounting/types", self._list_types)
        self.route("GET", "/users/me", self._me)
        self.route("GET", "/users/search", self._search_users)
        self.route("GET", "/users/{id}", self._get_user)

    # -- state API (for tests and seeds) ---------------------------------------------------
    def add_user(
        self,
        email: str,
        firstname: str = "",
        lastname: str = "",
        role: str = "Agent",
        organization_id: int | None = None,
    ) -> dict[str, Any]:
        """A user; ``role`` is Agent, Admin (admin + agent), Customer or a comma list."""
        names = [part.strip().lower() for part in role.split(",") if part.strip()]
        if any(name not in shapes.ROLE_IDS for name in names):
            raise ValueError(f"unknown role {role!r} (Admin, Agent, Customer)")
        role_ids = sorted({shapes.ROLE_IDS[name] for name in names} | ({2} if "admin" in names else set()))
        with self.lock:
            if organization_id is not None and organization_id not in self._organizations:
                raise KeyError(f"unknown organization {organization_id}")
            user = self._insert_user(
                email.lower(), firstname, lastname, email, role_ids, organization_id, self.clock.now()
            )
            return shapes.user_ids(user)

    def add_organization(self, name: str, note: str = "") -> dict[str, Any]:
        with self.lock:
            if any(organization["name"] == name for organization in self._organizations.values()):
                raise ValueError(f"organization {name!r} exists")
            now = self.clock.now()
            organization = {
                "id": self._take_id("organization"),
                "name": name,
                "note": note,
                "created_at": now,
                "updated_at": now,
                "created_by_id": self._token_user_id,
                "updated_by_id": self._token_user_id,
            }
            self._organizations[organization["id"]] = organization
            return shapes.organization_ids(organization, self)

    @property
    def users(self) -> list[dict[str, Any]]:
        with self.lock:
            return [shapes.user_ids(user) for user in self._users.values()]

    @property
    def organizations(self) -> list[dict[str, Any]]:
        with self.lock:
            return [shapes.organization_ids(organization, self) for organization in self._organizations.values()]

    def webhook_request(
        self, ticket_id: int, secret: str | None = None, trigger: str = WEBHOOK_TRIGGER, article_id: int | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """See the module-level ``webhook_request``."""
        with self.lock:
            ticket = self._ticket(ticket_id)
            article = self._articles[article_id if article_id is not None else ticket["article_ids"][-1]]
            body = webhook_body(ticket, article, self)
        return body, webhook_headers(body, secret, trigger)

    def state(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "organizations": self.organizations,
            "tickets": self.tickets,
            "time_accountings": self.time_accountings,
            "types": self.types,
        }

    def env(self, url: str, **options: Any) -> dict[str, str]:
        return {"ZAMMAD_URL": url, "ZAMMAD_TOKEN": self.token}

    # -- Lookup (for zammad_json) ----------------------------------------------------------
    def user(self, user_id: int) -> dict[str, Any]:
        return self._users[user_id]

    def organization(self, organization_id: int | None) -> dict[str, Any] | None:
        return self._organizations.get(organization_id) if organization_id is not None else None

    def member_ids(self, organization_id: int) -> list[int]:
        return [user["id"] for user in self._users.values() if user["organization_id"] == organization_id]

    def agent_ids(self) -> list[int]:
        return [user["id"] for user in self._users.values() if 2 in user["role_ids"]]

    def article_entry(self, article_id: int) -> dict[str, Any] | None:
        entry_id = self._entry_by_article.get(article_id)
        return self._entries.get(entry_id) if entry_id is not None else None

    # -- service hooks ---------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        """Rails routes first: an unknown route is 404 before any authentication."""
        if not request.path.startswith(self.api_prefix + "/") or not any(
            method == request.method and pattern.fullmatch(request.path[len(self.api_prefix) :])
            for method, pattern, _, _ in self._routes
        ):
            return self.not_found(request)
        return super().handle(request)

    def authenticate(self, request: Request) -> Response | None:
        """ApplicationController::Authenticates: Basic, then Rails token auth (``Token`` or
        ``Bearer``), then Doorkeeper OAuth (any-case ``Bearer``)."""
        header = (request.header("Authorization") or "").strip()
        scheme, _, credentials = header.partition(" ")
        errors: list[str] = []
        if scheme.lower() == "basic":
            errors.append("Invalid BasicAuth credentials")
        if scheme in ("Token", "Bearer") and credentials.strip():
            if rails_token(credentials) == self.token:
                return None
            errors.append("Can't find User for Token")
        if scheme.lower() == "bearer" and credentials.strip():
            return self._error(401, "The provided token is invalid.")
        if errors:
            return self._error(401, ", ".join(errors))
        return self._error(403, "Authentication required")

    def not_found(self, request: Request, detail: str | None = None) -> Response:
        return self._error(404, detail or "This page doesn't exist.")

    def method_not_allowed(self, request: Request) -> Response:
        return self.not_found(request)

    def bad_json(self, request: Request) -> Response:
        return Response(400, {"status": 400, "error": "Bad Request"})

    def fault_response(self, status: int) -> Response:
        if status == 500:
            return Response(500, {"error": f"Error ID {secrets.token_urlsafe(6)}: Please contact your administrator."})
        return super().fault_response(status)

    # -- handlers: users -------------------------------------------------------------------
    def _me(self, request: Request) -> Response:
        return self._user_response(request, self._users[self._token_user_id])

    def _get_user(self, request: Request) -> Response:
        user = self._users.get(record_id(request.params["id"]))
        if user is None:
            return self._record_not_found("User", request.params["id"])
        return self._user_response(request, user)

    def _user_response(self, request: Request, user: dict[str, Any]) -> Response:
        return Response(200, shapes.user_names(user, self) if flag(request, "expand") else shapes.user_ids(user))

    # -- helpers ---------------------------------------------------------------------------
    def _insert_user(
        self,
        login: str,
        firstname: str,
        lastname: str,
        email: str,
        role_ids: list[int],
        organization_id: int | None,
        created_at: datetime,
        active: bool = True,
        preferences: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if login in self._logins:
            raise ValueError(f"user {login!r} exists")
        user = {
            "id": self._take_id("user"),
            "login": login,
            "firstname": firstname,
            "lastname": lastname,
            "email": email,
            "image": shapes.image_hash(email or login),
            "role_ids": role_ids,
            "organization_id": organization_id,
            "active": active,
            "last_login": None,
            "preferences": preferences if preferences is not None else ({"locale": "en-us"} if 2 in role_ids else {}),
            "created_at": created_at,
            "updated_at": created_at,
            "created_by_id": shapes.SYSTEM_USER_ID,
            "updated_by_id": shapes.SYSTEM_USER_ID,
        }
        self._users[user["id"]] = user
        self._logins[login] = user["id"]
        return user

    def _user_id(self, email: str) -> int:
        user_id = self._logins.get(email.lower())
        if user_id is None:
            raise KeyError(f"unknown user {email!r} (add it with add_user)")
        return user_id

    def _take_id(self, kind: str) -> int:
        value = self._next_id[kind]
        self._next_id[kind] = value + 1
        return value

    def _record_not_found(self, model: str, raw_id: str) -> Response:
        return self._error(404, f"Couldn't find {model} with 'id'={raw_id}")

    def _error(self, status: int, message: str) -> Response:
        """Zammad's error body; 401/403 also carry ``X-Failure`` (humanize_error)."""
        human = re.match(r"Validation failed: (.+?)(,|$)", message)
        text = human.group(1) if human else message
        headers = {"X-Failure": text} if status in (401, 403) else {}
        return Response(status, {"error": text, "error_human": text}, headers)


def webhook_request(
    sb: Sandbox,
    ticket_id: int,
    secret: str | None = None,
    trigger: str = WEBHOOK_TRIGGER,
    article_id: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A Zammad trigger webhook delivery for ``ticket_id``: (body bytes, headers).

    The body is the default payload ``{"ticket": {...}, "article": {...}}`` (ticket and
    article attributes with association names, associated users/organisation/group/priority
    as objects; the article is the ticket's latest unless ``article_id`` is given), encoded as
    Rails does (compact, ``< > &`` as ``\\u003c`` ...). Headers: ``User-Agent: Zammad User
    Agent``, ``X-Zammad-Trigger: <trigger>``, ``X-Zammad-Delivery: <uuid>``, ``Content-Type``
    and, with a ``secret``, ``X-Hub-Signature: sha1=<hex HMAC-SHA1 of the body>``.
    """
    return sb.zammad.webhook_request(ticket_id, secret=secret, trigger=trigger, article_id=article_id)

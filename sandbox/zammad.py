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
* time accountings: ``time_unit`` is a decimal *string* (``"15.0"``), strings are read like
  Ruby's ``to_d`` (``"abc"`` -> ``"0.0"``); logging, changing or deleting time bumps the ticket's
  ``updated_at`` and its ``time_unit`` sum; lists are capped at 500 per page.

Times are UTC with milliseconds (``2023-08-16T08:11:49.315Z``); the sandbox clock never
repeats a millisecond.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable

from sandbox import zammad_json as shapes
from sandbox.server import Request, Response, Service
from sandbox.zammad_search import Field, Matcher, QueryError

if TYPE_CHECKING:
    from sandbox.hub import Sandbox

TOKEN_USER_EMAIL = "tracksync@example.com"
DEFAULT_CUSTOMER_EMAIL = "nicole.braun@zammad.org"
NUMBER_PREFIX = "31"               # Setting system_id; numbers look like "31001"
SEARCH_DEFAULT, SEARCH_MAX = 50, 200
INDEX_MAX = 100                    # GET /tickets
MODEL_INDEX_DEFAULT, MODEL_INDEX_MAX = 500, 1000
ES_MAX_RESULT_WINDOW = 10_000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
WEBHOOK_TRIGGER = "tracksync time accounting"


class MillisecondClock:
    """UTC wall clock at millisecond precision that never repeats or goes backwards."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0

    def now(self) -> datetime:
        with self._lock:
            current = time.time_ns() // 1_000_000
            if current <= self._last_ms:
                current = self._last_ms + 1
            self._last_ms = current
        return EPOCH + timedelta(milliseconds=current)


class ZammadService(Service, shapes.Lookup):
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
        self._articles: dict[int, dict[str, Any]] = {}
        self._entries: dict[int, dict[str, Any]] = {}
        self._entry_by_article: dict[int, int] = {}
        self._types: dict[int, dict[str, Any]] = {}
        self._next_id = {"user": 1, "organization": 1, "ticket": 1, "article": 1, "entry": 1, "type": 1}
        self._ticket_counter = 0
        created = shapes.EPOCH_2020
        self._insert_user("-", "-", "", "", [], None, created, active=False)
        self._token_user_id = self._insert_user(TOKEN_USER_EMAIL, "Tracksync", "Bot", TOKEN_USER_EMAIL, [1, 2],
                                                None, created, preferences={"locale": "en-us"})["id"]
        self._ticket_matcher = Matcher(_ticket_fields(self), self._ticket_text, self.clock.now)
        self._user_matcher = Matcher(_user_fields(self), self._user_text, self.clock.now)
        self.route("GET", "/tickets/search", self._search_tickets)
        self.route("GET", "/tickets", self._list_tickets)
        self.route("GET", "/tickets/{id}", self._get_ticket)
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
    def add_user(self, email: str, firstname: str = "", lastname: str = "", role: str = "Agent",
                 organization_id: int | None = None) -> dict[str, Any]:
        """A user; ``role`` is Agent, Admin (admin + agent), Customer or a comma list."""
        names = [part.strip().lower() for part in role.split(",") if part.strip()]
        if any(name not in shapes.ROLE_IDS for name in names):
            raise ValueError(f"unknown role {role!r} (Admin, Agent, Customer)")
        role_ids = sorted({shapes.ROLE_IDS[name] for name in names} | ({2} if "admin" in names else set()))
        with self.lock:
            if organization_id is not None and organization_id not in self._organizations:
                raise KeyError(f"unknown organization {organization_id}")
            user = self._insert_user(email.lower(), firstname, lastname, email, role_ids, organization_id,
                                     self.clock.now())
            return shapes.user_ids(user)

    def add_organization(self, name: str, note: str = "") -> dict[str, Any]:
        with self.lock:
            if any(organization["name"] == name for organization in self._organizations.values()):
                raise ValueError(f"organization {name!r} exists")
            now = self.clock.now()
            organization = {"id": self._take_id("organization"), "name": name, "note": note, "created_at": now,
                            "updated_at": now, "created_by_id": self._token_user_id,
                            "updated_by_id": self._token_user_id}
            self._organizations[organization["id"]] = organization
            return shapes.organization_ids(organization, self)

    def add_ticket(self, title: str, organization_id: int | None = None, customer_email: str | None = None,
                   state: str = "open", number: str | None = None, owner_email: str | None = None,
                   priority: str = "2 normal") -> dict[str, Any]:
        """A ticket with its first article (a phone call logged by the token's agent for the
        customer). ``number`` is automatic ("31001", ...); ``updated_at`` is now. An unknown
        ``customer_email`` becomes a new customer (of the given organisation); without an
        organisation the ticket takes the customer's."""
        with self.lock:
            now = self.clock.now()
            return shapes.ticket_ids(self.insert_ticket(title, organization_id, customer_email, state, number,
                                                        owner_email, priority, now, now))

    def insert_ticket(self, title: str, organization_id: int | None = None, customer_email: str | None = None,
                      state: str = "open", number: str | None = None, owner_email: str | None = None,
                      priority: str = "2 normal", created_at: datetime | None = None,
                      updated_at: datetime | None = None) -> dict[str, Any]:
        """Insert a ticket with given times (seed helpers); returns the internal record."""
        with self.lock:
            state_id = _state_id(state)
            priority_id = _priority_id(priority)
            if organization_id is not None and organization_id not in self._organizations:
                raise KeyError(f"unknown organization {organization_id}")
            created_at = created_at or self.clock.now()
            updated_at = updated_at or created_at
            customer = self._customer(customer_email, organization_id, created_at)
            owner_id = self._user_id(owner_email) if owner_email else shapes.SYSTEM_USER_ID
            self._ticket_counter += 1
            ticket = {
                "id": self._take_id("ticket"), "number": str(number) if number is not None
                else f"{NUMBER_PREFIX}{self._ticket_counter:03d}", "title": title, "state_id": state_id,
                "priority_id": priority_id, "organization_id": organization_id if organization_id is not None
                else customer["organization_id"], "owner_id": owner_id, "customer_id": customer["id"],
                "created_by_id": self._token_user_id, "updated_by_id": self._token_user_id,
                "created_at": created_at, "updated_at": updated_at, "close_at": None, "last_close_at": None,
                "last_contact_at": created_at, "last_contact_agent_at": None, "last_contact_customer_at": created_at,
                "pending_time": None, "note": None, "preferences": {}, "create_article_type_id": 5,
                "create_article_sender_id": 2, "article_ids": [], "entry_ids": [], "time_unit": None,
            }
            if state_id in (4,):
                ticket["close_at"] = ticket["last_close_at"] = updated_at
            self._tickets[ticket["id"]] = ticket
            caller = customer["firstname"] or customer["email"]
            self._insert_article(ticket, type_id=5, sender_id=2, internal=False, author_id=self._token_user_id,
                                 origin_by_id=customer["id"], subject=title, body=f"{caller} called about: {title}",
                                 created_at=created_at)
            return ticket

    def edit_ticket(self, ticket_id: int, **fields: Any) -> dict[str, Any]:
        """Change a ticket: ``title``, ``state``, ``priority``, ``organization_id``,
        ``customer_email``, ``owner_email``, ``note``, ``pending_time``; bumps ``updated_at``
        (or sets it, with ``updated_at=``)."""
        allowed = {"title", "state", "priority", "organization_id", "customer_email", "owner_email", "note",
                   "pending_time", "updated_at"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown ticket fields {sorted(unknown)} (allowed: {sorted(allowed)})")
        with self.lock:
            ticket = self._ticket(ticket_id)
            now = _moment(fields["updated_at"]) if fields.get("updated_at") is not None else self.clock.now()
            if "title" in fields:
                ticket["title"] = str(fields["title"])
            if "state" in fields:
                ticket["state_id"] = _state_id(fields["state"])
                if ticket["state_id"] == 4:
                    ticket["close_at"] = ticket["close_at"] or now
                    ticket["last_close_at"] = now
            if "priority" in fields:
                ticket["priority_id"] = _priority_id(fields["priority"])
            if "organization_id" in fields:
                if fields["organization_id"] is not None and fields["organization_id"] not in self._organizations:
                    raise KeyError(f"unknown organization {fields['organization_id']}")
                ticket["organization_id"] = fields["organization_id"]
            if "customer_email" in fields:
                ticket["customer_id"] = self._customer(fields["customer_email"], ticket["organization_id"], now)["id"]
            if "owner_email" in fields:
                ticket["owner_id"] = self._user_id(fields["owner_email"]) if fields["owner_email"] \
                    else shapes.SYSTEM_USER_ID
            if "note" in fields:
                ticket["note"] = fields["note"]
            if "pending_time" in fields:
                ticket["pending_time"] = _moment(fields["pending_time"]) if fields["pending_time"] else None
            ticket["updated_at"] = now
            ticket["updated_by_id"] = self._token_user_id
            return shapes.ticket_ids(ticket)

    def add_time_accounting(self, ticket_id: int, time_unit: Any, type_id: int | None = None,
                            created_by_email: str | None = None, created_at: Any = None,
                            with_article: bool = False) -> dict[str, Any]:
        """Log time on a ticket (as the agent ``created_by_email``, default the token's user).

        ``time_unit`` is stored as a two-place decimal and returned as a string ("15.0");
        ``created_at`` (datetime or ISO 8601) backdates the entry; the ticket's ``updated_at``
        is bumped to now either way (Zammad saves the ticket's new ``time_unit`` sum).
        ``with_article=True`` also adds the internal note the entry is booked on.
        """
        with self.lock:
            ticket = self._ticket(ticket_id)
            author_id = self._user_id(created_by_email) if created_by_email else self._token_user_id
            self._check_type(type_id)
            moment = _moment(created_at) if created_at is not None else self.clock.now()
            article_id = None
            if with_article:
                article_id = self._insert_article(ticket, type_id=10, sender_id=1, internal=True,
                                                  author_id=author_id, origin_by_id=None, subject=None,
                                                  body="Time logged.", created_at=moment)["id"]
            entry = self.insert_time_accounting(ticket_id, time_unit, type_id, author_id, moment, article_id)
            self._touch(ticket, author_id, self.clock.now())
            return shapes.time_accounting_json(entry)

    def insert_time_accounting(self, ticket_id: int, time_unit: Any, type_id: int | None, created_by_id: int,
                               created_at: datetime, ticket_article_id: int | None = None) -> dict[str, Any]:
        """Insert an entry without touching the ticket's ``updated_at`` (seed helpers)."""
        with self.lock:
            ticket = self._ticket(ticket_id)
            amount = shapes.to_decimal(time_unit)
            if amount is None:
                raise ValueError("time_unit is required")
            entry = {"id": self._take_id("entry"), "ticket_id": ticket_id, "ticket_article_id": ticket_article_id,
                     "time_unit": amount, "type_id": type_id, "created_by_id": created_by_id,
                     "created_at": created_at, "updated_at": created_at}
            self._entries[entry["id"]] = entry
            ticket["entry_ids"].append(entry["id"])
            ticket["time_unit"] = (ticket["time_unit"] or Decimal(0)) + amount
            if ticket_article_id is not None:
                self._entry_by_article[ticket_article_id] = entry["id"]
            return entry

    def edit_time_accounting(self, ticket_id: int, id: int, **fields: Any) -> dict[str, Any]:  # noqa: A002
        """Change ``time_unit``, ``type_id``, ``created_by_email`` or ``created_at`` of an entry;
        bumps the entry's and the ticket's ``updated_at``."""
        allowed = {"time_unit", "type_id", "created_by_email", "created_at"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown time accounting fields {sorted(unknown)} (allowed: {sorted(allowed)})")
        with self.lock:
            ticket, entry = self._ticket(ticket_id), self._entry(ticket_id, id)
            if "time_unit" in fields:
                amount = shapes.to_decimal(fields["time_unit"])
                if amount is None:
                    raise ValueError("time_unit is required")
                entry["time_unit"] = amount
            if "type_id" in fields:
                self._check_type(fields["type_id"])
                entry["type_id"] = fields["type_id"]
            if "created_by_email" in fields:
                entry["created_by_id"] = self._user_id(fields["created_by_email"])
            if "created_at" in fields:
                entry["created_at"] = _moment(fields["created_at"])
            entry["updated_at"] = self.clock.now()
            self._recount(ticket)
            self._touch(ticket, self._token_user_id, self.clock.now())
            return shapes.time_accounting_json(entry)

    def delete_time_accounting(self, ticket_id: int, id: int) -> None:  # noqa: A002
        """Delete an entry; bumps the ticket's ``updated_at``."""
        with self.lock:
            ticket = self._ticket(ticket_id)
            self._remove_entry(ticket, self._entry(ticket_id, id))
            self._touch(ticket, self._token_user_id, self.clock.now())

    def add_type(self, name: str, note: str = "", active: bool = True) -> dict[str, Any]:
        """An activity type (``/time_accounting/types``)."""
        with self.lock:
            if any(kind["name"] == name for kind in self._types.values()):
                raise ValueError(f"time accounting type {name!r} exists")
            now = self.clock.now()
            kind = {"id": self._take_id("type"), "name": name, "note": note, "active": active,
                    "created_by_id": self._token_user_id, "updated_by_id": self._token_user_id,
                    "created_at": now, "updated_at": now}
            self._types[kind["id"]] = kind
            return shapes.type_json(kind)

    def ticket(self, ticket_id: int) -> dict[str, Any]:
        with self.lock:
            return shapes.ticket_ids(self._ticket(ticket_id))

    @property
    def tickets(self) -> list[dict[str, Any]]:
        with self.lock:
            return [shapes.ticket_ids(ticket) for ticket in self._tickets.values()]

    @property
    def time_accountings(self) -> list[dict[str, Any]]:
        with self.lock:
            return [shapes.time_accounting_json(entry) for entry in self._entries.values()]

    @property
    def users(self) -> list[dict[str, Any]]:
        with self.lock:
            return [shapes.user_ids(user) for user in self._users.values()]

    @property
    def organizations(self) -> list[dict[str, Any]]:
        with self.lock:
            return [shapes.organization_ids(organization, self) for organization in self._organizations.values()]

    @property
    def types(self) -> list[dict[str, Any]]:
        with self.lock:
            return [shapes.type_json(kind) for kind in self._types.values()]

    def webhook_request(self, ticket_id: int, secret: str | None = None, trigger: str = WEBHOOK_TRIGGER,
                        article_id: int | None = None) -> tuple[bytes, dict[str, str]]:
        """See the module-level ``webhook_request``."""
        with self.lock:
            ticket = self._ticket(ticket_id)
            article = self._articles[article_id if article_id is not None else ticket["article_ids"][-1]]
            body = shapes.ruby_json(shapes.webhook_payload(ticket, article, self))
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Zammad User Agent",
                   "X-Zammad-Trigger": trigger, "X-Zammad-Delivery": str(uuid.uuid4())}
        if secret:
            headers["X-Hub-Signature"] = "sha1=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()
        return body, headers

    def state(self) -> dict[str, Any]:
        return {"users": [shapes.user_ids(user) for user in self._users.values()],
                "organizations": [shapes.organization_ids(o, self) for o in self._organizations.values()],
                "tickets": [shapes.ticket_ids(ticket) for ticket in self._tickets.values()],
                "time_accountings": [shapes.time_accounting_json(entry) for entry in self._entries.values()],
                "types": [shapes.type_json(kind) for kind in self._types.values()]}

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
                method == request.method and pattern.fullmatch(request.path[len(self.api_prefix):])
                for method, pattern, _, _ in self._routes):
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
            if _rails_token(credentials) == self.token:
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

    # -- handlers: tickets -----------------------------------------------------------------
    def _search_tickets(self, request: Request) -> Response:
        limit, offset = _paging(request, SEARCH_DEFAULT, SEARCH_MAX)
        found, total = self._search(request, self._tickets.values(), self._ticket_matcher, limit, offset)
        if _flag(request, "only_total_count"):
            return Response(200, {"total_count": total})
        if _flag(request, "full"):
            return Response(200, {"record_ids": [ticket["id"] for ticket in found],
                                  "assets": shapes.ticket_assets(found, self), "total_count": total})
        if _flag(request, "expand"):
            records = [shapes.ticket_names(ticket, self) for ticket in found]
        else:
            records = [shapes.ticket_ids(ticket) for ticket in found]
        if _flag(request, "with_total_count"):
            return Response(200, {"records": records, "total_count": total})
        return Response(200, records)

    def _list_tickets(self, request: Request) -> Response:
        limit, offset = _paging(request, INDEX_MAX, INDEX_MAX)
        chunk = sorted(self._tickets.values(), key=lambda ticket: ticket["id"])[offset:offset + limit] \
            if limit > 0 and offset >= 0 else []
        if _flag(request, "expand"):
            return Response(200, [shapes.ticket_names(ticket, self) for ticket in chunk])
        if _flag(request, "full"):
            return Response(200, {"record_ids": [ticket["id"] for ticket in chunk],
                                  "assets": shapes.ticket_assets(chunk, self)})
        return Response(200, [shapes.ticket_plain(ticket) for ticket in chunk])

    def _get_ticket(self, request: Request) -> Response:
        ticket = self._tickets.get(_record_id(request.params["id"]))
        if ticket is None:
            return self._record_not_found("Ticket", request.params["id"])
        if _flag(request, "expand"):
            return Response(200, shapes.ticket_names(ticket, self))
        return Response(200, shapes.ticket_plain(ticket))

    # -- handlers: time accounting ---------------------------------------------------------
    def _list_entries(self, request: Request) -> Response:
        ticket = self._tickets.get(_record_id(request.params["ticket_id"]))
        if ticket is None:
            return self._record_not_found("Ticket", request.params["ticket_id"])
        limit, offset = _paging(request, MODEL_INDEX_DEFAULT, MODEL_INDEX_MAX)
        entries = [self._entries[entry_id] for entry_id in sorted(ticket["entry_ids"])]
        chunk = entries[offset:offset + limit] if limit > 0 and offset >= 0 else []
        return Response(200, [shapes.time_accounting_json(entry) for entry in chunk])

    def _get_entry(self, request: Request) -> Response:
        found = self._find_entry(request)
        if isinstance(found, Response):
            return found
        return Response(200, shapes.time_accounting_json(found[1]))

    def _create_entry(self, request: Request) -> Response:
        ticket = self._tickets.get(_record_id(request.params["ticket_id"]))
        if ticket is None:
            return self._record_not_found("Ticket", request.params["ticket_id"])
        body = _cast_ids(request.body)
        problem = self._entry_problem(ticket, body, None)
        if problem is not None:
            return problem
        amount = shapes.to_decimal(body.get("time_unit"))
        if amount is None:
            return self._error(422, "Attribute 'time_unit' required!")
        now = self.clock.now()
        entry = self.insert_time_accounting(ticket["id"], amount, body.get("type_id"), self._token_user_id, now,
                                            body.get("ticket_article_id"))
        self._touch(ticket, self._token_user_id, self.clock.now())  # the ticket is saved right after
        return Response(201, shapes.time_accounting_json(entry))

    def _update_entry(self, request: Request) -> Response:
        found = self._find_entry(request)
        if isinstance(found, Response):
            return found
        ticket, entry = found
        body = _cast_ids(request.body)
        problem = self._entry_problem(ticket, body, entry)
        if problem is not None:
            return problem
        if "time_unit" in body:
            amount = shapes.to_decimal(body["time_unit"])
            if amount is None:
                return self._error(422, "Attribute 'time_unit' required!")
            entry["time_unit"] = amount
        if "type_id" in body:
            entry["type_id"] = body["type_id"]
        if "ticket_article_id" in body:
            self._entry_by_article.pop(entry["ticket_article_id"], None)
            entry["ticket_article_id"] = body["ticket_article_id"]
            if entry["ticket_article_id"] is not None:
                self._entry_by_article[entry["ticket_article_id"]] = entry["id"]
        entry["updated_at"] = self.clock.now()
        self._recount(ticket)
        self._touch(ticket, self._token_user_id, self.clock.now())
        return Response(200, shapes.time_accounting_json(entry))

    def _delete_entry(self, request: Request) -> Response:
        found = self._find_entry(request)
        if isinstance(found, Response):
            return found
        ticket, entry = found
        self._remove_entry(ticket, entry)
        self._touch(ticket, self._token_user_id, self.clock.now())
        return Response(200, {})

    def _list_types(self, request: Request) -> Response:
        limit, offset = _paging(request, MODEL_INDEX_DEFAULT, MODEL_INDEX_MAX)
        kinds = sorted(self._types.values(), key=lambda kind: kind["id"])
        chunk = kinds[offset:offset + limit] if limit > 0 and offset >= 0 else []
        return Response(200, [shapes.type_json(kind) for kind in chunk])

    # -- handlers: users -------------------------------------------------------------------
    def _me(self, request: Request) -> Response:
        return self._user_response(request, self._users[self._token_user_id])

    def _get_user(self, request: Request) -> Response:
        user = self._users.get(_record_id(request.params["id"]))
        if user is None:
            return self._record_not_found("User", request.params["id"])
        return self._user_response(request, user)

    def _search_users(self, request: Request) -> Response:
        limit, offset = _paging(request, SEARCH_DEFAULT, SEARCH_MAX)
        candidates = [user for user in self._users.values() if user["id"] != shapes.SYSTEM_USER_ID]
        found, total = self._search(request, candidates, self._user_matcher, limit, offset)
        if _flag(request, "only_total_count"):
            return Response(200, {"total_count": total})
        if _flag(request, "full"):
            return Response(200, {"record_ids": [user["id"] for user in found],
                                  "assets": shapes.user_assets(found, self), "total_count": total})
        records = [shapes.user_names(user, self) if _flag(request, "expand") else shapes.user_ids(user)
                   for user in found]
        if _flag(request, "with_total_count"):
            return Response(200, {"records": records, "total_count": total})
        return Response(200, records)

    def _user_response(self, request: Request, user: dict[str, Any]) -> Response:
        return Response(200, shapes.user_names(user, self) if _flag(request, "expand") else shapes.user_ids(user))

    # -- search ----------------------------------------------------------------------------
    def _search(self, request: Request, records: Any, matcher: Matcher, limit: int,
                offset: int) -> tuple[list[dict[str, Any]], int]:
        """(page of records, total) the way CanSearch does it: an empty (or ``*``) query is a
        database listing, anything else goes to "Elasticsearch", whose errors mean no hits."""
        query = request.arg("query") or ""
        if self.strip_asterisks:
            query = query.replace("*", "")
        uses_index = query.strip() not in ("", "*")
        if uses_index:
            try:
                predicate = matcher.compile(query)
            except QueryError:
                return [], 0
            matches = [record for record in records if predicate(record)]
        else:
            matches = list(records)
        _sort(matches, matcher, request.arg("sort_by"), request.arg("order_by"))
        if limit <= 0 or offset < 0 or (uses_index and offset + limit > ES_MAX_RESULT_WINDOW):
            return ([], 0) if uses_index else ([], len(matches))
        return matches[offset:offset + limit], len(matches)

    def _ticket_text(self, ticket: dict[str, Any]) -> str:
        """What a field-less query term searches (Elasticsearch's all-fields mode)."""
        parts = [ticket["title"], ticket["number"], ticket["note"] or "", shapes.STATES[ticket["state_id"]],
                 shapes.PRIORITIES[ticket["priority_id"]], shapes.GROUP["name"]]
        organization = self.organization(ticket["organization_id"])
        if organization is not None:
            parts.append(organization["name"])
        for key in ("customer_id", "owner_id"):
            user = self._users[ticket[key]]
            parts += [user["login"], user["firstname"], user["lastname"]]
        for article_id in ticket["article_ids"]:
            article = self._articles[article_id]
            parts += [article["subject"] or "", article["body"], article["from"], article["to"]]
        return "\n".join(parts)

    def _user_text(self, user: dict[str, Any]) -> str:
        organization = self.organization(user["organization_id"])
        return "\n".join([user["login"], user["email"], user["firstname"], user["lastname"],
                          organization["name"] if organization else ""])

    # -- helpers ---------------------------------------------------------------------------
    def _insert_user(self, login: str, firstname: str, lastname: str, email: str, role_ids: list[int],
                     organization_id: int | None, created_at: datetime, active: bool = True,
                     preferences: dict[str, Any] | None = None) -> dict[str, Any]:
        if login in self._logins:
            raise ValueError(f"user {login!r} exists")
        user = {"id": self._take_id("user"), "login": login, "firstname": firstname, "lastname": lastname,
                "email": email, "image": shapes.image_hash(email or login), "role_ids": role_ids,
                "organization_id": organization_id, "active": active, "last_login": None,
                "preferences": preferences if preferences is not None else ({"locale": "en-us"} if 2 in role_ids
                                                                            else {}),
                "created_at": created_at, "updated_at": created_at, "created_by_id": shapes.SYSTEM_USER_ID,
                "updated_by_id": shapes.SYSTEM_USER_ID}
        self._users[user["id"]] = user
        self._logins[login] = user["id"]
        return user

    def _insert_article(self, ticket: dict[str, Any], type_id: int, sender_id: int, internal: bool, author_id: int,
                        origin_by_id: int | None, subject: str | None, body: str,
                        created_at: datetime) -> dict[str, Any]:
        author = self._users[author_id]
        origin = self._users[origin_by_id] if origin_by_id is not None else author
        article = {"id": self._take_id("article"), "ticket_id": ticket["id"], "type_id": type_id,
                   "sender_id": sender_id, "from": _display_name(origin), "to": shapes.GROUP["name"] if sender_id == 2
                   else "", "subject": subject, "body": body, "internal": internal, "created_by_id": author_id,
                   "updated_by_id": author_id, "origin_by_id": origin_by_id, "created_at": created_at,
                   "updated_at": created_at}
        self._articles[article["id"]] = article
        ticket["article_ids"].append(article["id"])
        return article

    def _customer(self, email: str | None, organization_id: int | None, created_at: datetime) -> dict[str, Any]:
        if not email:
            email, organization_id = DEFAULT_CUSTOMER_EMAIL, None
        user_id = self._logins.get(email.lower())
        if user_id is not None:
            return self._users[user_id]
        local = email.split("@")[0]
        first, _, last = local.partition(".")
        return self._insert_user(email.lower(), first.capitalize(), last.capitalize(), email, [3],
                                 organization_id, created_at)

    def _user_id(self, email: str) -> int:
        user_id = self._logins.get(email.lower())
        if user_id is None:
            raise KeyError(f"unknown user {email!r} (add it with add_user)")
        return user_id

    def _ticket(self, ticket_id: int) -> dict[str, Any]:
        ticket = self._tickets.get(ticket_id)
        if ticket is None:
            raise KeyError(f"unknown ticket {ticket_id}")
        return ticket

    def _entry(self, ticket_id: int, entry_id: int) -> dict[str, Any]:
        entry = self._entries.get(entry_id)
        if entry is None or entry["ticket_id"] != ticket_id:
            raise KeyError(f"unknown time accounting {entry_id} of ticket {ticket_id}")
        return entry

    def _check_type(self, type_id: int | None) -> None:
        if type_id is not None and type_id not in self._types:
            raise KeyError(f"unknown time accounting type {type_id}")

    def _find_entry(self, request: Request) -> tuple[dict[str, Any], dict[str, Any]] | Response:
        ticket = self._tickets.get(_record_id(request.params["ticket_id"]))
        if ticket is None:
            return self._record_not_found("Ticket", request.params["ticket_id"])
        entry = self._entries.get(_record_id(request.params["id"]))
        if entry is None or entry["ticket_id"] != ticket["id"]:
            return self._error(404, f"Couldn't find Ticket::TimeAccounting with 'id'={request.params['id']} "
                                    f"[WHERE \"ticket_time_accountings\".\"ticket_id\" = $1]")
        return ticket, entry

    def _entry_problem(self, ticket: dict[str, Any], body: dict[str, Any],
                       entry: dict[str, Any] | None) -> Response | None:
        """422s of Ticket::TimeAccounting: a missing type or article, an article of another
        ticket, an article that already carries an entry."""
        type_id = body.get("type_id")
        if type_id is not None and type_id not in self._types:
            return Response(422, {"error": "PG::ForeignKeyViolation: ERROR:  insert or update on table "
                                           "\"ticket_time_accountings\" violates foreign key constraint "
                                           "\"fk_rails_ticket_time_accountings_type_id\""})
        article_id = body.get("ticket_article_id")
        if article_id is not None:
            article = self._articles.get(article_id)
            if article is None or article["ticket_id"] != ticket["id"]:
                return self._error(422, "Validation failed: The given article does not belong to this ticket.")
            owner = self._entry_by_article.get(article_id)
            if owner is not None and (entry is None or owner != entry["id"]):
                return self._error(422, "Validation failed: Ticket article has already been taken")
        return None

    def _remove_entry(self, ticket: dict[str, Any], entry: dict[str, Any]) -> None:
        del self._entries[entry["id"]]
        ticket["entry_ids"].remove(entry["id"])
        if entry["ticket_article_id"] is not None:
            self._entry_by_article.pop(entry["ticket_article_id"], None)
        self._recount(ticket)

    def _recount(self, ticket: dict[str, Any]) -> None:
        ticket["time_unit"] = sum((self._entries[entry_id]["time_unit"] for entry_id in ticket["entry_ids"]),
                                  Decimal(0)) if ticket["entry_ids"] or ticket["time_unit"] is not None else None

    def _touch(self, ticket: dict[str, Any], user_id: int, now: datetime) -> None:
        ticket["updated_at"] = max(now, ticket["updated_at"])
        ticket["updated_by_id"] = user_id

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


def webhook_request(sb: "Sandbox", ticket_id: int, secret: str | None = None, trigger: str = WEBHOOK_TRIGGER,
                    article_id: int | None = None) -> tuple[bytes, dict[str, str]]:
    """A Zammad trigger webhook delivery for ``ticket_id``: (body bytes, headers).

    The body is the default payload ``{"ticket": {...}, "article": {...}}`` (ticket and
    article attributes with association names, associated users/organisation/group/priority
    as objects; the article is the ticket's latest unless ``article_id`` is given), encoded as
    Rails does (compact, ``< > &`` as ``\\u003c`` ...). Headers: ``User-Agent: Zammad User
    Agent``, ``X-Zammad-Trigger: <trigger>``, ``X-Zammad-Delivery: <uuid>``, ``Content-Type``
    and, with a ``secret``, ``X-Hub-Signature: sha1=<hex HMAC-SHA1 of the body>``.
    """
    return sb.zammad.webhook_request(ticket_id, secret=secret, trigger=trigger, article_id=article_id)


# -- module helpers ----------------------------------------------------------------------------
def _rails_token(credentials: str) -> str:
    """ActionController::HttpAuthentication::Token: ``token="abc", x=y`` or ``abc`` -> ``abc``."""
    first = re.split(r"\s*(?:,|;|\t)\s*", credentials.strip())[0]
    if not first.startswith("token="):
        first = "token=" + first
    value = first.split("=", 1)[1]
    return re.sub(r'^"|"$', "", value)


def _flag(request: Request, name: str) -> bool:
    """Zammad's response_expand? & co.: anything but blank or ``false`` is true."""
    value = request.arg(name)
    return value is not None and value.strip() not in ("", "false")


def _ruby_int(text: str) -> int:
    match = re.match(r"\s*[+-]?\d+", text)
    return int(match.group(0)) if match else 0


def _paging(request: Request, default: int, maximum: int) -> tuple[int, int]:
    """(limit, offset) like CanPaginate::Pagination: ``per_page || limit || default`` via
    ``to_i``, clamped to ``maximum``; ``page`` via ``to_i`` (default 1)."""
    raw = request.arg("per_page")
    if raw is None:
        raw = request.arg("limit")
    limit = min(_ruby_int(raw) if raw is not None else default, maximum)
    page_raw = request.arg("page")
    page = _ruby_int(page_raw) if page_raw is not None else 1
    return limit, (page - 1) * limit


def _sort(records: list[dict[str, Any]], matcher: Matcher, sort_by: str | None, order_by: str | None) -> None:
    """Sort in place: ``sort_by``/``order_by`` (comma lists; a missing order is ``desc``),
    default ``updated_at desc``; missing values last; ties by id."""
    fields = [name.strip() for name in (sort_by or "").split(",") if name.strip() in matcher.fields]
    orders = [order.strip().lower() for order in (order_by or "").split(",")]
    if not fields:
        fields, orders = ["updated_at"], ["desc"]
    records.sort(key=lambda record: record["id"])
    for index in reversed(range(len(fields))):
        getter = matcher.fields[fields[index]].get
        descending = (orders[index] if index < len(orders) and orders[index] in ("asc", "desc") else "desc") == "desc"

        def key(record: dict[str, Any], getter: Callable[[Any], Any] = getter, descending: bool = descending) -> Any:
            value = getter(record)
            value = value[0] if isinstance(value, list) and value else (None if isinstance(value, list) else value)
            if value is None:
                return (0, 0) if descending else (1, 0)
            return (1, value) if descending else (0, value)
        records.sort(key=key, reverse=descending)


def _cast_ids(body: Any) -> dict[str, Any]:
    """The request body with ``type_id``/``ticket_article_id`` cast like ActiveRecord casts
    integer columns ("4" -> 4)."""
    body = dict(body) if isinstance(body, dict) else {}
    for key in ("type_id", "ticket_article_id"):
        value = body.get(key)
        if isinstance(value, str):
            body[key] = _ruby_int(value) if value.strip() else None
        elif isinstance(value, float):
            body[key] = int(value)
    return body


def _record_id(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _state_id(state: Any) -> int:
    if isinstance(state, int):
        if state not in shapes.STATES:
            raise ValueError(f"unknown state id {state}")
        return state
    if state not in shapes.STATE_IDS:
        raise ValueError(f"unknown state {state!r} ({', '.join(shapes.STATE_IDS)})")
    return shapes.STATE_IDS[state]


def _priority_id(priority: Any) -> int:
    for priority_id, name in shapes.PRIORITIES.items():
        if priority in (priority_id, name, name.split(" ", 1)[1]):
            return priority_id
    raise ValueError(f"unknown priority {priority!r} ({', '.join(shapes.PRIORITIES.values())})")


def _moment(value: Any) -> datetime:
    """A datetime or ISO 8601 text as an aware UTC datetime at millisecond precision."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime or ISO 8601 text, got {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _display_name(user: dict[str, Any]) -> str:
    name = f"{user['firstname']} {user['lastname']}".strip()
    return f"{name} <{user['email']}>" if name and user["email"] else (user["email"] or user["login"])


def _ticket_fields(service: ZammadService) -> dict[str, Field]:
    """Searchable/sortable ticket fields (the Elasticsearch document of a ticket)."""
    fields: dict[str, Field] = {}
    for name in ("id", "state_id", "priority_id", "group_id", "organization_id", "owner_id", "customer_id",
                 "created_by_id", "updated_by_id"):
        fields[name] = Field("int", (lambda key: lambda ticket: ticket.get(key, shapes.GROUP["id"]))(name))
    fields["article_count"] = Field("int", lambda ticket: len(ticket["article_ids"]))
    fields["time_unit"] = Field("number", lambda ticket: ticket["time_unit"])
    for name in ("created_at", "updated_at", "close_at", "last_close_at", "last_contact_at", "last_contact_agent_at",
                 "last_contact_customer_at", "pending_time"):
        fields[name] = Field("date", (lambda key: lambda ticket: ticket[key])(name))
    for name in ("number", "title", "note"):
        fields[name] = Field("text", (lambda key: lambda ticket: ticket[key])(name))
    state = Field("text", lambda ticket: shapes.STATES[ticket["state_id"]])
    priority = Field("text", lambda ticket: shapes.PRIORITIES[ticket["priority_id"]])
    group = Field("text", lambda ticket: shapes.GROUP["name"])
    organization = Field("text", lambda ticket: (service.organization(ticket["organization_id"]) or {}).get("name"))
    fields.update({"state": state, "state.name": state, "priority": priority, "priority.name": priority,
                   "group": group, "group.name": group, "organization": organization,
                   "organization.name": organization})
    for role in ("customer", "owner", "created_by", "updated_by"):
        for attribute in ("login", "email", "firstname", "lastname"):
            fields[f"{role}.{attribute}"] = Field("text", (lambda key, attr: lambda ticket: service.user(
                ticket[f"{key}_id"])[attr])(role, attribute))
        fields[role] = fields[f"{role}.login"]
    for attribute in ("subject", "body", "from", "to"):
        fields[f"article.{attribute}"] = Field("text", (lambda attr: lambda ticket: [
            service._articles[article_id][attr] for article_id in ticket["article_ids"]])(attribute))
    return fields


def _user_fields(service: ZammadService) -> dict[str, Field]:
    fields: dict[str, Field] = {
        "id": Field("int", lambda user: user["id"]),
        "organization_id": Field("int", lambda user: user["organization_id"]),
        "role_ids": Field("int", lambda user: list(user["role_ids"])),
        "active": Field("bool", lambda user: user["active"]),
        "created_at": Field("date", lambda user: user["created_at"]),
        "updated_at": Field("date", lambda user: user["updated_at"]),
        "organization.name": Field("text", lambda user: (service.organization(user["organization_id"])
                                                         or {}).get("name")),
    }
    for name in ("login", "email", "firstname", "lastname"):
        fields[name] = Field("text", (lambda key: lambda user: user[key])(name))
    fields["organization"] = fields["organization.name"]
    return fields

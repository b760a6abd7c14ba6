"""Zammad's tickets and their articles, mixed into ``ZammadService``: the state API tests and
seeds use, and ``GET /tickets`` (by id, at most 100 per page) and ``GET /tickets/{id}`` (the
plain columns; ``expand=true`` adds names).

A new ticket carries its first article (a phone call the token's agent logged for the
customer); numbers count up from ``31001``; an unknown customer email becomes a new customer.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sandbox import zammad_json as shapes
from sandbox.server import Request, Response
from sandbox.zammad_params import flag, paging, record_id, to_moment

if TYPE_CHECKING:
    from sandbox.zammad import ZammadService

DEFAULT_CUSTOMER_EMAIL = "nicole.braun@zammad.org"
NUMBER_PREFIX = "31"  # Setting system_id; numbers look like "31001"
INDEX_MAX = 100  # GET /tickets


class TicketEndpoints:
    """Tickets and articles of ZammadService: state API and handlers."""

    # -- state API (for tests and seeds) ---------------------------------------------------
    def add_ticket(
        self: ZammadService,
        title: str,
        organization_id: int | None = None,
        customer_email: str | None = None,
        state: str = "open",
        number: str | None = None,
        owner_email: str | None = None,
        priority: str = "2 normal",
    ) -> dict[str, Any]:
        """A ticket with its first article (a phone call logged by the token's agent for the
        customer). ``number`` is automatic ("31001", ...); ``updated_at`` is now. An unknown
        ``customer_email`` becomes a new customer (of the given organisation); without an
        organisation the ticket takes the customer's."""
        with self.lock:
            now = self.clock.now()
            return shapes.ticket_ids(
                self.insert_ticket(
                    title, organization_id, customer_email, state, number, owner_email, priority, now, now
                )
            )

    def insert_ticket(
        self: ZammadService,
        title: str,
        organization_id: int | None = None,
        customer_email: str | None = None,
        state: str = "open",
        number: str | None = None,
        owner_email: str | None = None,
        priority: str = "2 normal",
        created_at: datetime | None = None,
        updated_at: datetime | None = None,
    ) -> dict[str, Any]:
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
                "id": self._take_id("ticket"),
                "number": str(number) if number is not None else f"{NUMBER_PREFIX}{self._ticket_counter:03d}",
                "title": title,
                "state_id": state_id,
                "priority_id": priority_id,
                "organization_id": organization_id if organization_id is not None else customer["organization_id"],
                "owner_id": owner_id,
                "customer_id": customer["id"],
                "created_by_id": self._token_user_id,
                "updated_by_id": self._token_user_id,
                "created_at": created_at,
                "updated_at": updated_at,
                "close_at": None,
                "last_close_at": None,
                "last_contact_at": created_at,
                "last_contact_agent_at": None,
                "last_contact_customer_at": created_at,
                "pending_time": None,
                "note": None,
                "preferences": {},
                "create_article_type_id": 5,
                "create_article_sender_id": 2,
                "article_ids": [],
                "entry_ids": [],
                "time_unit": None,
            }
            if state_id in (4,):
                ticket["close_at"] = ticket["last_close_at"] = updated_at
            self._tickets[ticket["id"]] = ticket
            caller = customer["firstname"] or customer["email"]
            self._insert_article(
                ticket,
                type_id=5,
                sender_id=2,
                internal=False,
                author_id=self._token_user_id,
                origin_by_id=customer["id"],
                subject=title,
                body=f"{caller} called about: {title}",
                created_at=created_at,
            )
            return ticket

    def edit_ticket(self: ZammadService, ticket_id: int, **fields: Any) -> dict[str, Any]:
        """Change a ticket: ``title``, ``state``, ``priority``, ``organization_id``,
        ``customer_email``, ``owner_email``, ``note``, ``pending_time``; bumps ``updated_at``
        (or sets it, with ``updated_at=``)."""
        allowed = {
            "title",
            "state",
            "priority",
            "organization_id",
            "customer_email",
            "owner_email",
            "note",
            "pending_time",
            "updated_at",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown ticket fields {sorted(unknown)} (allowed: {sorted(allowed)})")
        with self.lock:
            ticket = self._ticket(ticket_id)
            now = to_moment(fields["updated_at"]) if fields.get("updated_at") is not None else self.clock.now()
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
                ticket["owner_id"] = (
                    self._user_id(fields["owner_email"]) if fields["owner_email"] else shapes.SYSTEM_USER_ID
                )
            if "note" in fields:
                ticket["note"] = fields["note"]
            if "pending_time" in fields:
                ticket["pending_time"] = to_moment(fields["pending_time"]) if fields["pending_time"] else None
            ticket["updated_at"] = now
            ticket["updated_by_id"] = self._token_user_id
            return shapes.ticket_ids(ticket)

    def delete_ticket(self: ZammadService, ticket_id: int) -> None:
        """Delete a ticket as an admin does (``DELETE /tickets/{id}``): its articles and time
        accounting go with it, no other ticket changes, and it is 404 from then on."""
        with self.lock:
            ticket = self._tickets.pop(self._ticket(ticket_id)["id"])
            self._hidden.discard(ticket_id)
            for entry_id in ticket["entry_ids"]:
                entry = self._entries.pop(entry_id)
                if entry["ticket_article_id"] is not None:
                    self._entry_by_article.pop(entry["ticket_article_id"], None)
            for article_id in ticket["article_ids"]:
                self._articles.pop(article_id, None)

    def merge_ticket(self: ZammadService, ticket_id: int, into: int) -> dict[str, Any]:
        """Merge a ticket into another (Ticket#merge_to): its articles move to the target, it
        gets a "merged" note and the state ``merged``, both are touched; its time accounting
        stays with it (Zammad does not move it)."""
        with self.lock:
            ticket, target = self._ticket(ticket_id), self._ticket(into)
            if ticket_id == into or target["state_id"] == shapes.STATE_IDS["merged"]:
                raise ValueError("a ticket is merged into another one that is not merged itself")
            now = self.clock.now()
            for article_id in ticket["article_ids"]:
                self._articles[article_id]["ticket_id"] = into
                self._articles[article_id]["updated_at"] = now
            target["article_ids"] += ticket["article_ids"]
            ticket["article_ids"] = []
            self._insert_article(ticket, 10, 1, False, self._token_user_id, None, None, "merged", now)
            ticket["state_id"], ticket["owner_id"] = shapes.STATE_IDS["merged"], shapes.SYSTEM_USER_ID
            self._touch(ticket, self._token_user_id, now)
            self._touch(target, self._token_user_id, now)
            return shapes.ticket_ids(ticket)

    def restrict_ticket(self: ZammadService, ticket_id: int, hidden: bool = True) -> None:
        """Move a ticket to a group the token's agent has no access to (or back): searches and
        lists leave it out, reading it or its time is 403 ``Not authorized``."""
        with self.lock:
            self._ticket(ticket_id)
            (self._hidden.add if hidden else self._hidden.discard)(ticket_id)
            self._touch(self._tickets[ticket_id], self._token_user_id, self.clock.now())

    def ticket(self: ZammadService, ticket_id: int) -> dict[str, Any]:
        with self.lock:
            return shapes.ticket_ids(self._ticket(ticket_id))

    @property
    def tickets(self: ZammadService) -> list[dict[str, Any]]:
        with self.lock:
            return [shapes.ticket_ids(ticket) for ticket in self._tickets.values()]

    # -- handlers --------------------------------------------------------------------------
    def _list_tickets(self: ZammadService, request: Request) -> Response:
        limit, offset = paging(request, INDEX_MAX, INDEX_MAX)
        chunk = (
            sorted(self._readable_tickets(), key=lambda ticket: ticket["id"])[offset : offset + limit]
            if limit > 0 and offset >= 0
            else []
        )
        if flag(request, "expand"):
            return Response(200, [shapes.ticket_names(ticket, self) for ticket in chunk])
        if flag(request, "full"):
            return Response(
                200, {"record_ids": [ticket["id"] for ticket in chunk], "assets": shapes.ticket_assets(chunk, self)}
            )
        return Response(200, [shapes.ticket_plain(ticket) for ticket in chunk])

    def _get_ticket(self: ZammadService, request: Request) -> Response:
        fault = self.ticket_read_faults.get(record_id(request.params["id"]))
        if fault is not None:
            return self.fault_response(fault)
        ticket = self._tickets.get(record_id(request.params["id"]))
        if ticket is None:
            return self._record_not_found("Ticket", request.params["id"])
        if ticket["id"] in self._hidden:
            return self._error(403, "Not authorized")
        if flag(request, "expand"):
            return Response(200, shapes.ticket_names(ticket, self))
        return Response(200, shapes.ticket_plain(ticket))

    def _delete_ticket(self: ZammadService, request: Request) -> Response:
        """``DELETE /tickets/{id}`` (Zammad: admin only; the token's agent is an admin): ``{}``."""
        ticket = self._tickets.get(record_id(request.params["id"]))
        if ticket is None:
            return self._record_not_found("Ticket", request.params["id"])
        self.delete_ticket(ticket["id"])
        return Response(200, {})

    # -- helpers ---------------------------------------------------------------------------
    def _insert_article(
        self: ZammadService,
        ticket: dict[str, Any],
        type_id: int,
        sender_id: int,
        internal: bool,
        author_id: int,
        origin_by_id: int | None,
        subject: str | None,
        body: str,
        created_at: datetime,
    ) -> dict[str, Any]:
        author = self._users[author_id]
        origin = self._users[origin_by_id] if origin_by_id is not None else author
        article = {
            "id": self._take_id("article"),
            "ticket_id": ticket["id"],
            "type_id": type_id,
            "sender_id": sender_id,
            "from": _display_name(origin),
            "to": shapes.GROUP["name"] if sender_id == 2 else "",
            "subject": subject,
            "body": body,
            "internal": internal,
            "created_by_id": author_id,
            "updated_by_id": author_id,
            "origin_by_id": origin_by_id,
            "created_at": created_at,
            "updated_at": created_at,
        }
        self._articles[article["id"]] = article
        ticket["article_ids"].append(article["id"])
        return article

    def _customer(
        self: ZammadService, email: str | None, organization_id: int | None, created_at: datetime
    ) -> dict[str, Any]:
        if not email:
            email, organization_id = DEFAULT_CUSTOMER_EMAIL, None
        user_id = self._logins.get(email.lower())
        if user_id is not None:
            return self._users[user_id]
        local = email.split("@")[0]
        first, _, last = local.partition(".")
        return self._insert_user(
            email.lower(), first.capitalize(), last.capitalize(), email, [3], organization_id, created_at
        )

    def _readable_tickets(self: ZammadService) -> list[dict[str, Any]]:
        """The tickets the token's agent may see (lists and searches)."""
        return [ticket for ticket in self._tickets.values() if ticket["id"] not in self._hidden]

    def _ticket(self: ZammadService, ticket_id: int) -> dict[str, Any]:
        ticket = self._tickets.get(ticket_id)
        if ticket is None:
            raise KeyError(f"unknown ticket {ticket_id}")
        return ticket


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


def _display_name(user: dict[str, Any]) -> str:
    name = f"{user['firstname']} {user['lastname']}".strip()
    return f"{name} <{user['email']}>" if name and user["email"] else (user["email"] or user["login"])

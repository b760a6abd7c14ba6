"""Zammad's time accounting (``Ticket::TimeAccounting`` and its activity types), mixed into
``ZammadService``: the state API tests and seeds use, and the endpoints under
``/tickets/{ticket_id}/time_accountings`` and ``/time_accounting/types``.

``time_unit`` is a two-place decimal rendered as a string (``"15.0"``; strings are read like
Ruby's ``to_d``), ``type_id`` may be null; logging, changing or deleting time bumps the ticket's
``updated_at`` and its ``time_unit`` sum; lists are capped at 500 per page (1000 at most).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sandbox import zammad_json as shapes
from sandbox.server import Request, Response
from sandbox.zammad_params import cast_ids, paging, record_id, to_moment

if TYPE_CHECKING:
    from sandbox.zammad import ZammadService

MODEL_INDEX_DEFAULT, MODEL_INDEX_MAX = 500, 1000


class TimeAccountingEndpoints:
    """Time accounting entries and types of ZammadService: state API and handlers."""

    # -- state API (for tests and seeds) ---------------------------------------------------
    def add_time_accounting(
        self: ZammadService,
        ticket_id: int,
        time_unit: Any,
        type_id: int | None = None,
        created_by_email: str | None = None,
        created_at: Any = None,
        with_article: bool = False,
    ) -> dict[str, Any]:
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
            moment = to_moment(created_at) if created_at is not None else self.clock.now()
            article_id = None
            if with_article:
                article_id = self._insert_article(
                    ticket,
                    type_id=10,
                    sender_id=1,
                    internal=True,
                    author_id=author_id,
                    origin_by_id=None,
                    subject=None,
                    body="Time logged.",
                    created_at=moment,
                )["id"]
            entry = self.insert_time_accounting(ticket_id, time_unit, type_id, author_id, moment, article_id)
            self._touch(ticket, author_id, self.clock.now())
            return shapes.time_accounting_json(entry)

    def insert_time_accounting(
        self: ZammadService,
        ticket_id: int,
        time_unit: Any,
        type_id: int | None,
        created_by_id: int,
        created_at: datetime,
        ticket_article_id: int | None = None,
    ) -> dict[str, Any]:
        """Insert an entry without touching the ticket's ``updated_at`` (seed helpers)."""
        with self.lock:
            ticket = self._ticket(ticket_id)
            amount = shapes.to_decimal(time_unit)
            if amount is None:
                raise ValueError("time_unit is required")
            entry = {
                "id": self._take_id("entry"),
                "ticket_id": ticket_id,
                "ticket_article_id": ticket_article_id,
                "time_unit": amount,
                "type_id": type_id,
                "created_by_id": created_by_id,
                "created_at": created_at,
                "updated_at": created_at,
            }
            self._entries[entry["id"]] = entry
            ticket["entry_ids"].append(entry["id"])
            ticket["time_unit"] = (ticket["time_unit"] or Decimal(0)) + amount
            if ticket_article_id is not None:
                self._entry_by_article[ticket_article_id] = entry["id"]
            return entry

    def edit_time_accounting(
        self: ZammadService,
        ticket_id: int,
        id: int,  # noqa: A002
        **fields: Any,
    ) -> dict[str, Any]:
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
                entry["created_at"] = to_moment(fields["created_at"])
            entry["updated_at"] = self.clock.now()
            self._recount(ticket)
            self._touch(ticket, self._token_user_id, self.clock.now())
            return shapes.time_accounting_json(entry)

    def delete_time_accounting(self: ZammadService, ticket_id: int, id: int) -> None:  # noqa: A002
        """Delete an entry; bumps the ticket's ``updated_at``."""
        with self.lock:
            ticket = self._ticket(ticket_id)
            self._remove_entry(ticket, self._entry(ticket_id, id))
            self._touch(ticket, self._token_user_id, self.clock.now())

    def add_type(self: ZammadService, name: str, note: str = "", active: bool = True) -> dict[str, Any]:
        """An activity type (``/time_accounting/types``)."""
        with self.lock:
            if any(kind["name"] == name for kind in self._types.values()):
                raise ValueError(f"time accounting type {name!r} exists")
            now = self.clock.now()
            kind = {
                "id": self._take_id("type"),
                "name": name,
                "note": note,
                "active": active,
                "created_by_id": self._token_user_id,
                "updated_by_id": self._token_user_id,
                "created_at": now,
                "updated_at": now,
            }
            self._types[kind["id"]] = kind
            return shapes.type_json(kind)

    @property
    def time_accountings(self: ZammadService) -> list[dict[str, Any]]:
        with self.lock:
            return [shapes.time_accounting_json(entry) for entry in self._entries.values()]

    @property
    def types(self: ZammadService) -> list[dict[str, Any]]:
        with self.lock:
            return [shapes.type_json(kind) for kind in self._types.values()]

    # -- handlers --------------------------------------------------------------------------
    def _list_entries(self: ZammadService, request: Request) -> Response:
        ticket = self._tickets.get(record_id(request.params["ticket_id"]))
        if ticket is None:
            return self._record_not_found("Ticket", request.params["ticket_id"])
        if ticket["id"] in self._hidden:
            return self._error(403, "Not authorized")
        limit, offset = paging(request, MODEL_INDEX_DEFAULT, MODEL_INDEX_MAX)
        entries = [self._entries[entry_id] for entry_id in sorted(ticket["entry_ids"])]
        chunk = entries[offset : offset + limit] if limit > 0 and offset >= 0 else []
        return Response(200, [shapes.time_accounting_json(entry) for entry in chunk])

    def _get_entry(self: ZammadService, request: Request) -> Response:
        found = self._find_entry(request)
        if isinstance(found, Response):
            return found
        return Response(200, shapes.time_accounting_json(found[1]))

    def _create_entry(self: ZammadService, request: Request) -> Response:
        ticket = self._tickets.get(record_id(request.params["ticket_id"]))
        if ticket is None:
            return self._record_not_found("Ticket", request.params["ticket_id"])
        if ticket["id"] in self._hidden:
            return self._error(403, "Not authorized")
        body = cast_ids(request.body)
        problem = self._entry_problem(ticket, body, None)
        if problem is not None:
            return problem
        amount = shapes.to_decimal(body.get("time_unit"))
        if amount is None:
            return self._error(422, "Attribute 'time_unit' required!")
        now = self.clock.now()
        entry = self.insert_time_accounting(
            ticket["id"], amount, body.get("type_id"), self._token_user_id, now, body.get("ticket_article_id")
        )
        self._touch(ticket, self._token_user_id, self.clock.now())  # the ticket is saved right after
        return Response(201, shapes.time_accounting_json(entry))

    def _update_entry(self: ZammadService, request: Request) -> Response:
        found = self._find_entry(request)
        if isinstance(found, Response):
            return found
        ticket, entry = found
        body = cast_ids(request.body)
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

    def _delete_entry(self: ZammadService, request: Request) -> Response:
        found = self._find_entry(request)
        if isinstance(found, Response):
            return found
        ticket, entry = found
        self._remove_entry(ticket, entry)
        self._touch(ticket, self._token_user_id, self.clock.now())
        return Response(200, {})

    def _list_types(self: ZammadService, request: Request) -> Response:
        limit, offset = paging(request, MODEL_INDEX_DEFAULT, MODEL_INDEX_MAX)
        kinds = sorted(self._types.values(), key=lambda kind: kind["id"])
        chunk = kinds[offset : offset + limit] if limit > 0 and offset >= 0 else []
        return Response(200, [shapes.type_json(kind) for kind in chunk])

    # -- helpers ---------------------------------------------------------------------------
    def _entry(self: ZammadService, ticket_id: int, entry_id: int) -> dict[str, Any]:
        entry = self._entries.get(entry_id)
        if entry is None or entry["ticket_id"] != ticket_id:
            raise KeyError(f"unknown time accounting {entry_id} of ticket {ticket_id}")
        return entry

    def _check_type(self: ZammadService, type_id: int | None) -> None:
        if type_id is not None and type_id not in self._types:
            raise KeyError(f"unknown time accounting type {type_id}")

    def _find_entry(self: ZammadService, request: Request) -> tuple[dict[str, Any], dict[str, Any]] | Response:
        ticket = self._tickets.get(record_id(request.params["ticket_id"]))
        if ticket is None:
            return self._record_not_found("Ticket", request.params["ticket_id"])
        if ticket["id"] in self._hidden:
            return self._error(403, "Not authorized")
        entry = self._entries.get(record_id(request.params["id"]))
        if entry is None or entry["ticket_id"] != ticket["id"]:
            return self._error(
                404,
                f"Couldn't find Ticket::TimeAccounting with 'id'={request.params['id']} "
                f'[WHERE "ticket_time_accountings"."ticket_id" = $1]',
            )
        return ticket, entry

    def _entry_problem(
        self: ZammadService, ticket: dict[str, Any], body: dict[str, Any], entry: dict[str, Any] | None
    ) -> Response | None:
        """422s of Ticket::TimeAccounting: a missing type or article, an article of another
        ticket, an article that already carries an entry."""
        type_id = body.get("type_id")
        if type_id is not None and type_id not in self._types:
            return Response(
                422,
                {
                    "error": "PG::ForeignKeyViolation: ERROR:  insert or update on table "
                    '"ticket_time_accountings" violates foreign key constraint '
                    '"fk_rails_ticket_time_accountings_type_id"'
                },
            )
        article_id = body.get("ticket_article_id")
        if article_id is not None:
            article = self._articles.get(article_id)
            if article is None or article["ticket_id"] != ticket["id"]:
                return self._error(422, "Validation failed: The given article does not belong to this ticket.")
            owner = self._entry_by_article.get(article_id)
            if owner is not None and (entry is None or owner != entry["id"]):
                return self._error(422, "Validation failed: Ticket article has already been taken")
        return None

    def _remove_entry(self: ZammadService, ticket: dict[str, Any], entry: dict[str, Any]) -> None:
        del self._entries[entry["id"]]
        ticket["entry_ids"].remove(entry["id"])
        if entry["ticket_article_id"] is not None:
            self._entry_by_article.pop(entry["ticket_article_id"], None)
        self._recount(ticket)

    def _recount(self: ZammadService, ticket: dict[str, Any]) -> None:
        ticket["time_unit"] = (
            sum((self._entries[entry_id]["time_unit"] for entry_id in ticket["entry_ids"]), Decimal(0))
            if ticket["entry_ids"] or ticket["time_unit"] is not None
            else None
        )

    def _touch(self: ZammadService, ticket: dict[str, Any], user_id: int, now: datetime) -> None:
        ticket["updated_at"] = max(now, ticket["updated_at"])
        ticket["updated_by_id"] = user_id

"""Zammad's search endpoints (``GET /tickets/search``, ``GET /users/search``), mixed into
``ZammadService``: CanSearch's paging and sorting over the ``query_string`` engine
(``zammad_search``), and what of a ticket or a user the Elasticsearch index holds.

An empty (or ``*``) query is a database listing; anything else goes to "Elasticsearch", whose
errors mean no hits, as does a page beyond its 10,000-hit window. ``page``/``per_page`` (alias
``limit``) default to 50 and are clamped to 200; newest ``updated_at`` first unless ``sort_by``
(``order_by`` defaults to ``desc``); ``with_total_count``, ``only_total_count``, ``full`` and
``expand`` change the answer's shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sandbox import zammad_json as shapes
from sandbox.server import Request, Response
from sandbox.zammad_params import flag, paging
from sandbox.zammad_search import Field, Matcher, QueryError

if TYPE_CHECKING:
    from sandbox.zammad import ZammadService

SEARCH_DEFAULT, SEARCH_MAX = 50, 200
ES_MAX_RESULT_WINDOW = 10_000


class SearchEndpoints:
    """Ticket and user search of ZammadService."""

    def _init_search(self: ZammadService) -> None:
        self._ticket_matcher = Matcher(_ticket_fields(self), self._ticket_text, self.clock.now)
        self._user_matcher = Matcher(_user_fields(self), self._user_text, self.clock.now)

    def _search_tickets(self: ZammadService, request: Request) -> Response:
        limit, offset = paging(request, SEARCH_DEFAULT, SEARCH_MAX)
        found, total = self._search(request, self._readable_tickets(), self._ticket_matcher, limit, offset)
        return _search_response(
            request,
            found,
            total,
            lambda tickets: shapes.ticket_assets(tickets, self),
            shapes.ticket_ids,
            lambda ticket: shapes.ticket_names(ticket, self),
        )

    def _search_users(self: ZammadService, request: Request) -> Response:
        limit, offset = paging(request, SEARCH_DEFAULT, SEARCH_MAX)
        candidates = [user for user in self._users.values() if user["id"] != shapes.SYSTEM_USER_ID]
        found, total = self._search(request, candidates, self._user_matcher, limit, offset)
        return _search_response(
            request,
            found,
            total,
            lambda users: shapes.user_assets(users, self),
            shapes.user_ids,
            lambda user: shapes.user_names(user, self),
        )

    def _search(
        self: ZammadService, request: Request, records: Any, matcher: Matcher, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
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
        return matches[offset : offset + limit], len(matches)

    def _ticket_text(self: ZammadService, ticket: dict[str, Any]) -> str:
        """What a field-less query term searches (Elasticsearch's all-fields mode)."""
        parts = [
            ticket["title"],
            ticket["number"],
            ticket["note"] or "",
            shapes.STATES[ticket["state_id"]],
            shapes.PRIORITIES[ticket["priority_id"]],
            shapes.GROUP["name"],
        ]
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

    def _user_text(self: ZammadService, user: dict[str, Any]) -> str:
        organization = self.organization(user["organization_id"])
        return "\n".join(
            [
                user["login"],
                user["email"],
                user["firstname"],
                user["lastname"],
                organization["name"] if organization else "",
            ]
        )


def _search_response(
    request: Request,
    found: list[dict[str, Any]],
    total: int,
    assets: Callable[[list[dict[str, Any]]], dict[str, Any]],
    with_ids: Callable[[dict[str, Any]], dict[str, Any]],
    with_names: Callable[[dict[str, Any]], dict[str, Any]],
) -> Response:
    """The answer's shape: ``only_total_count`` -> ``{total_count}``, ``full`` -> ``{record_ids,
    assets, total_count}``, else the records (``expand``: with names), wrapped as ``{records,
    total_count}`` with ``with_total_count``."""
    if flag(request, "only_total_count"):
        return Response(200, {"total_count": total})
    if flag(request, "full"):
        return Response(
            200, {"record_ids": [record["id"] for record in found], "assets": assets(found), "total_count": total}
        )
    records = [with_names(record) if flag(request, "expand") else with_ids(record) for record in found]
    if flag(request, "with_total_count"):
        return Response(200, {"records": records, "total_count": total})
    return Response(200, records)


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


def _ticket_fields(service: ZammadService) -> dict[str, Field]:
    """Searchable/sortable ticket fields (the Elasticsearch document of a ticket)."""
    fields: dict[str, Field] = {}
    for name in (
        "id",
        "state_id",
        "priority_id",
        "group_id",
        "organization_id",
        "owner_id",
        "customer_id",
        "created_by_id",
        "updated_by_id",
    ):
        fields[name] = Field("int", (lambda key: lambda ticket: ticket.get(key, shapes.GROUP["id"]))(name))
    fields["article_count"] = Field("int", lambda ticket: len(ticket["article_ids"]))
    fields["time_unit"] = Field("number", lambda ticket: ticket["time_unit"])
    for name in (
        "created_at",
        "updated_at",
        "close_at",
        "last_close_at",
        "last_contact_at",
        "last_contact_agent_at",
        "last_contact_customer_at",
        "pending_time",
    ):
        fields[name] = Field("date", (lambda key: lambda ticket: ticket[key])(name))
    for name in ("number", "title", "note"):
        fields[name] = Field("text", (lambda key: lambda ticket: ticket[key])(name))
    state = Field("text", lambda ticket: shapes.STATES[ticket["state_id"]])
    priority = Field("text", lambda ticket: shapes.PRIORITIES[ticket["priority_id"]])
    group = Field("text", lambda ticket: shapes.GROUP["name"])
    organization = Field("text", lambda ticket: (service.organization(ticket["organization_id"]) or {}).get("name"))
    fields.update(
        {
            "state": state,
            "state.name": state,
            "priority": priority,
            "priority.name": priority,
            "group": group,
            "group.name": group,
            "organization": organization,
            "organization.name": organization,
        }
    )
    for role in ("customer", "owner", "created_by", "updated_by"):
        for attribute in ("login", "email", "firstname", "lastname"):
            fields[f"{role}.{attribute}"] = Field(
                "text", (lambda key, attr: lambda ticket: service.user(ticket[f"{key}_id"])[attr])(role, attribute)
            )
        fields[role] = fields[f"{role}.login"]
    for attribute in ("subject", "body", "from", "to"):
        fields[f"article.{attribute}"] = Field(
            "text",
            (lambda attr: lambda ticket: [service._articles[article_id][attr] for article_id in ticket["article_ids"]])(
                attribute
            ),
        )
    return fields


def _user_fields(service: ZammadService) -> dict[str, Field]:
    fields: dict[str, Field] = {
        "id": Field("int", lambda user: user["id"]),
        "organization_id": Field("int", lambda user: user["organization_id"]),
        "role_ids": Field("int", lambda user: list(user["role_ids"])),
        "active": Field("bool", lambda user: user["active"]),
        "created_at": Field("date", lambda user: user["created_at"]),
        "updated_at": Field("date", lambda user: user["updated_at"]),
        "organization.name": Field(
            "text", lambda user: (service.organization(user["organization_id"]) or {}).get("name")
        ),
    }
    for name in ("login", "email", "firstname", "lastname"):
        fields[name] = Field("text", (lambda key: lambda user: user[key])(name))
    fields["organization"] = fields["organization.name"]
    return fields

"""Zammad REST API client (https://<host>/api/v1).

Search pages are capped at 200 items and carry no total: read pages until one comes back short.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import SERVICE_KEYS
from ..errors import ServiceUnavailable
from ..http import RequestCounter, ServiceSession
from . import FirstAnswer, Record
from .shapes import get_many, get_one, many, shape

if TYPE_CHECKING:
    from requests import Response

    from ..config import Settings

SEARCH_PAGE = 200  # Zammad clamps per_page to 200 on search
TICKET_FIELDS = ("id", "number", "title", "updated_at", "organization")  # what the job uses of a listed ticket

# what the jobs rely on in Zammad's answers (common/clients/shapes.py)
ME = shape(id="id", login="str")
TICKET = shape(id="id", number="str", title="str", updated_at="time", organization="str?")
TIME_ACCOUNTING = shape(
    id="id", ticket_id="id", time_unit="decimal", type_id="id?", created_by_id="id", created_at="time"
)
TYPE = shape(id="id", name="str")
USER = shape(id="id", email="str?")


class ZammadClient:
    def __init__(self, settings: Settings, counter: RequestCounter, dry_run: bool = False) -> None:
        settings.require(*SERVICE_KEYS["zammad"])
        self.http = ServiceSession(
            "zammad",
            f"{settings.zammad_url}/api/v1",
            {"Authorization": f"Token token={settings.zammad_token}"},
            settings,
            counter=counter,
            dry_run=dry_run,
            cacheable=("users/me",),
        )
        self.api = FirstAnswer(self.http, "ZAMMAD_URL", "Zammad")
        self.max_pages = settings.max_pages

    def me(self) -> Record:
        return self.api.get_json("users/me", shape=ME)

    def search_tickets(self, query: str) -> tuple[list[Record], bool]:
        """Every ticket matching an Elasticsearch query, with names expanded (organization, ...).
        Returns (tickets, complete); complete is False when MAX_PAGES cut the list. Each page is
        cut down to TICKET_FIELDS as it arrives, so a long list holds a few fields per ticket
        rather than every page whole."""
        tickets, complete = self.http.pages(
            "tickets/search",
            {"query": query, "expand": "true", "per_page": SEARCH_PAGE, "sort_by": "id", "order_by": "asc"},
            page_size=SEARCH_PAGE,
            max_pages=self.max_pages,
            items=listed_tickets,
        )
        return many(self.http, f"GET {self.http.path_of('tickets/search')}", tickets, TICKET), complete

    def find_ticket(self, ticket_id: int) -> tuple[str, Record | None]:
        """Whether a ticket still exists: ("present", the ticket), ("deleted", None) when Zammad
        answers 404 with its own error body (proof the ticket is gone), ("hidden", None) when it
        answers 403 (the token's agent lost access: not proof of anything). Any other answer
        raises like every request (a failed read is never taken for a deletion)."""
        response = self.http.request("GET", f"tickets/{ticket_id}", params={"expand": "true"}, ok=(200, 403, 404))
        body = _json_or_none(response)
        if response.status_code == 200 and isinstance(body, dict) and body.get("id") == ticket_id:
            return "present", body
        if response.status_code == 404 and isinstance(body, dict) and isinstance(body.get("error"), str):
            return "deleted", None
        if response.status_code == 403:
            return "hidden", None
        raise ServiceUnavailable(
            f"GET tickets/{ticket_id}: an answer ({response.status_code}) that is not Zammad's", service="zammad"
        )

    def time_accountings(self, ticket_id: int) -> list[Record]:
        return get_many(self.http, f"tickets/{ticket_id}/time_accountings", None, TIME_ACCOUNTING)

    def activity_types(self) -> list[Record]:
        return get_many(self.http, "time_accounting/types", None, TYPE)

    def get_user(self, user_id: int) -> Record:
        return get_one(self.http, f"users/{user_id}", None, USER)


def listed_tickets(body: Any) -> Any:
    """A search page's tickets, each cut down to TICKET_FIELDS; what is not a ticket object is
    left as it is for the shape check (TICKET) to name."""
    if not isinstance(body, list):
        return body  # the pager names a page that is not a list
    return [
        {name: ticket[name] for name in TICKET_FIELDS if name in ticket} if isinstance(ticket, dict) else ticket
        for ticket in body
    ]


def _json_or_none(response: Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None

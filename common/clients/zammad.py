"""Zammad REST API client (https://<host>/api/v1).

Search pages are capped at 200 items and carry no total: read pages until one comes back short.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import SERVICE_KEYS
from ..http import RequestCounter, ServiceSession
from . import FirstAnswer, Record
from .shapes import get_many, get_one, many, shape

if TYPE_CHECKING:
    from ..config import Settings

SEARCH_PAGE = 200  # Zammad clamps per_page to 200 on search

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
        Returns (tickets, complete); complete is False when MAX_PAGES cut the list."""
        tickets, complete = self.http.pages(
            "tickets/search",
            {"query": query, "expand": "true", "per_page": SEARCH_PAGE, "sort_by": "id", "order_by": "asc"},
            page_size=SEARCH_PAGE,
            max_pages=self.max_pages,
        )
        return many(self.http, f"GET {self.http.path_of('tickets/search')}", tickets, TICKET), complete

    def get_ticket(self, ticket_id: int) -> Record:
        return get_one(self.http, f"tickets/{ticket_id}", {"expand": "true"}, TICKET)

    def time_accountings(self, ticket_id: int) -> list[Record]:
        return get_many(self.http, f"tickets/{ticket_id}/time_accountings", None, TIME_ACCOUNTING)

    def activity_types(self) -> list[Record]:
        return get_many(self.http, "time_accounting/types", None, TYPE)

    def get_user(self, user_id: int) -> Record:
        return get_one(self.http, f"users/{user_id}", None, USER)

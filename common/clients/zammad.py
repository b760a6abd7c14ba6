"""Zammad REST API client (https://<host>/api/v1).

Search pages are capped at 200 items and carry no total: read pages until one comes back short.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import SERVICE_KEYS
from ..http import RequestCounter, ServiceSession
from . import FirstAnswer, Record, is_record

if TYPE_CHECKING:
    from ..config import Settings

SEARCH_PAGE = 200  # Zammad clamps per_page to 200 on search


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
        return self.api.get_json("users/me", shape=is_record("id", "login"))

    def search_tickets(self, query: str) -> tuple[list[Record], bool]:
        """Every ticket matching an Elasticsearch query, with names expanded (organization, ...).
        Returns (tickets, complete); complete is False when MAX_PAGES cut the list."""
        return self.http.pages(
            "tickets/search",
            {"query": query, "expand": "true", "per_page": SEARCH_PAGE, "sort_by": "id", "order_by": "asc"},
            page_size=SEARCH_PAGE,
            max_pages=self.max_pages,
        )

    def get_ticket(self, ticket_id: int) -> Record:
        return self.http.get_json(f"tickets/{ticket_id}", {"expand": "true"})

    def time_accountings(self, ticket_id: int) -> list[Record]:
        return self.http.get_json(f"tickets/{ticket_id}/time_accountings")

    def activity_types(self) -> list[Record]:
        return self.http.get_json("time_accounting/types")

    def get_user(self, user_id: int) -> Record:
        return self.http.get_json(f"users/{user_id}")

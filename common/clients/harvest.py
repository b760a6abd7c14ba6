"""Harvest API v2 client (https://api.harvestapp.com/v2).

Every request carries `Authorization: Bearer`, `Harvest-Account-Id` and a `User-Agent` naming the
tool. Lists page with `per_page` (at most 2000) and `links.next`. 429 carries Retry-After.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import SERVICE_KEYS
from ..http import RequestCounter, ServiceSession
from . import FirstAnswer, Record
from .shapes import many, shape

if TYPE_CHECKING:
    from ..config import Settings

PER_PAGE = 2000

# what the jobs rely on in Harvest's answers (common/clients/shapes.py)
ME = shape(id="id", email="str")
ENTRY = shape(
    id="id",
    spent_date="date",
    hours="number",
    updated_at="time",
    notes="str?",
    started_time="str?",
    ended_time="str?",
    is_running="bool?",
    billable="bool?",
    **{"user.id": "id", "user.name": "str?", "client.name": "str?", "project.name": "str?", "task.name": "str?"},
)


class HarvestClient:
    def __init__(self, settings: Settings, counter: RequestCounter, dry_run: bool = False) -> None:
        settings.require(*SERVICE_KEYS["harvest"])
        headers = {
            "Authorization": f"Bearer {settings.harvest_token}",
            "Harvest-Account-Id": settings.harvest_account_id,
        }
        self.http = ServiceSession(
            "harvest",
            f"{settings.harvest_url}/v2",
            headers,
            settings,
            counter=counter,
            dry_run=dry_run,
            cacheable=("users/me",),
        )
        self.api = FirstAnswer(self.http, "HARVEST_URL", "Harvest")
        self.max_pages = settings.max_pages

    def me(self) -> Record:
        return self.api.get_json("users/me", shape=ME)

    def time_entries(
        self, date_from: str | None = None, date_to: str | None = None, updated_since: str | None = None
    ) -> tuple[list[Record], bool]:
        """Every entry of the window (or updated since an instant), following links.next.
        Returns (entries, complete)."""
        params: dict[str, Any] = {
            k: v for k, v in (("from", date_from), ("to", date_to), ("updated_since", updated_since)) if v
        }
        params["per_page"] = PER_PAGE
        if not self.api.proven:
            self.me()  # HARVEST_URL is proven to be Harvest's API before any list is trusted
        entries, complete = self.http.pages(
            "time_entries",
            params,
            page_size=PER_PAGE,
            max_pages=self.max_pages,
            items=lambda body: body["time_entries"],
            next_url=lambda response, body: (body.get("links") or {}).get("next"),
        )
        return many(self.http, f"GET {self.http.path_of('time_entries')}", entries, ENTRY), complete

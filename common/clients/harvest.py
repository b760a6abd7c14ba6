"""Harvest API v2 client (https://api.harvestapp.com/v2).

Every request carries `Authorization: Bearer`, `Harvest-Account-Id` and a `User-Agent` naming the
tool. Lists page with `per_page` (at most 2000) and `links.next`. 429 carries Retry-After.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import requests

from ..config import SERVICE_KEYS
from ..errors import ServiceUnavailable
from ..http import RequestCounter, ServiceSession
from ..paging import HARD_MAX_PAGES
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
        self.complete = False  # after time_entry_pages() ran out: every page was read (MAX_PAGES did not cut it)

    def me(self) -> Record:
        return self.api.get_json("users/me", shape=ME)

    def time_entry_pages(
        self, date_from: str | None = None, date_to: str | None = None, updated_since: str | None = None
    ) -> Iterator[list[Record]]:
        """The entries of a window (or updated since an instant) one page at a time, so that a
        long list is never held whole:
        each page through the shared pager (its checks on the body, and a next link only to
        HARVEST_URL's origin), following links.next (else page numbers until a short or empty
        page). A next link back to a page already read, or a repeated page, stops the read (69).
        Once the pages run out, `complete` says whether every page was read."""
        params: dict[str, Any] = {
            k: v for k, v in (("from", date_from), ("to", date_to), ("updated_since", updated_since)) if v
        }
        params["per_page"] = PER_PAGE
        if not self.api.proven:
            self.me()  # HARVEST_URL is proven to be Harvest's API before any list is trusted
        self.complete = False
        links: list[str] = []

        def next_url(response: requests.Response, body: Any) -> Any:
            link = (body.get("links") or {}).get("next")
            if isinstance(link, str) and link:
                links.append(urljoin(response.url, link))
            return link

        url: str = "time_entries"
        query: dict[str, Any] | None = params
        page_param: str | None = "page"  # page 1 as the whole-list read asks for it; then the links lead
        visited: set[str] = set()
        fingerprints: set[bytes] = set()
        page = 1
        while True:
            links.clear()
            batch, _ = self.http.pages(
                url,
                query,
                page_size=PER_PAGE,
                max_pages=1,
                items=entries_of,
                next_url=next_url,
                page_param=page_param,
            )
            if not batch:
                self.complete = True
                return
            batch = many(self.http, f"GET {self.http.path_of('time_entries')} page {page}", batch, ENTRY)
            fingerprint = hashlib.sha256(json.dumps(batch, sort_keys=True, default=str).encode()).digest()
            if fingerprint in fingerprints:
                raise ServiceUnavailable(
                    f"GET time_entries page {page} repeats an earlier page; the server does not advance, "
                    "reading stopped",
                    service="harvest",
                )
            fingerprints.add(fingerprint)
            yield batch
            if links:
                if links[-1] in visited:
                    raise ServiceUnavailable(
                        f"GET time_entries page {page}: the next-page link leads back to a page already read; "
                        "reading stopped",
                        service="harvest",
                    )
                visited.add(links[-1])
                url, query, page_param = links[-1], None, None  # the link carries every parameter
            elif len(batch) < PER_PAGE:
                self.complete = True
                return
            else:  # a full page without a next link: the next page by number
                url, query, page_param = "time_entries", {**params, "page": page + 1}, None
            page += 1
            if self.max_pages and page > self.max_pages:
                return
            if page > HARD_MAX_PAGES:
                raise ServiceUnavailable(
                    f"GET time_entries: more than {HARD_MAX_PAGES} pages; the list never ends, reading stopped "
                    "(MAX_PAGES reads a part)",
                    service="harvest",
                )


def entries_of(body: Any) -> list[Record]:
    """A page's time entries (checked against ENTRY once read); a page without the list is the
    server's fault: the shared pager turns the KeyError or TypeError into one clear error (69)."""
    entries = body["time_entries"]
    if not isinstance(entries, list):
        raise TypeError("time_entries is not a list")
    return entries

"""The one pager every client's list reads go through (`ServiceSession.pages`).

The strategies services use: a page number until the end (Zammad, Kimai), a next link in the
`Link` header (Gitea, Confluence v2) or in the body (`links.next` of Harvest, `@odata.nextLink` of
Microsoft Graph, `_links.next` of Confluence v1 start/limit: `next_url`), or a token sent back as
a parameter (`nextPageToken` of Jira Cloud: `next_params`). Cursor-only services set
`page_param=None` so no page number is ever sent.

The server is not trusted to end the loop: a list is read until the server's own end (no next
link and X-Total-Pages reached, X-Total-Count items read, a page shorter than asked for) or an
empty page, even when the paging headers are missing. A repeated page, a next link back to a
page already read, or more than HARD_MAX_PAGES pages stop the read with one clear error (69); a
next link to another scheme, host or port is refused before anything (credentials included) is
sent there. Between pages a stop request (SIGTERM) is honoured and the progress line advances.
"""

from __future__ import annotations

import hashlib
import json
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import requests

from . import progress, shutdown
from .errors import ServiceUnavailable
from .http import BadAnswer, ItemsOf, Params, _path, next_link

if TYPE_CHECKING:
    from .http import NextParamsOf, NextUrlOf, ServiceSession

HARD_MAX_PAGES = 10_000  # a page loop always ends, whatever MAX_PAGES says


def read_pages(
    http: ServiceSession,
    path: str,
    params: Params | None = None,
    *,
    page_size: int | None = None,
    max_pages: int = 0,
    items: ItemsOf | None = None,
    next_url: NextUrlOf | None = None,
    next_params: NextParamsOf | None = None,
    page_param: str | None = "page",
) -> tuple[list[Any], bool]:
    """Every item of the list at `path` of ServiceSession `http`: returns (items, complete);
    complete is False when `max_pages` (MAX_PAGES, 0 = no limit) cut it.

    Page 1 is `path` with `params` plus page=1. After each page, a next link (`next_url(response,
    body)`, default the Link header's rel="next"), resolved against the page's URL, is followed
    when there is one; otherwise the list ends where `_last_page` says, or page+1 is asked for (a
    404 past page 1 counts as an empty page). `items(body)` picks the page's list (default: the
    body is the list). `next_params(response, body)` gives the parameters of the next page (a
    token) or None at the end; a token seen before stops the read like a repeated page."""
    params = dict(params or {})
    numbered = page_param is not None and next_params is None
    found: list[Any] = []
    seen_pages: set[bytes] = set()
    visited: set[str] = set()
    page = 1
    url = http.url(path)
    query: dict[str, Any] | None = dict(params, **{page_param: 1}) if numbered and page_param else dict(params)
    tokens: set[str] = set()
    with progress.task(f"reading {http.service}") as bar:
        while True:
            shutdown.check()
            response = http.request("GET", url, params=query, not_found_ok=page > 1)
            visited.add(response.url)
            where = f"GET {_path(url)} page {page}"
            if response.status_code == 404:  # past the last page
                body, batch = None, []
            else:  # null, or an object where the list belongs, is the server's fault: never "no more items"
                body = http.json_of(response)
                batch = _pick(items, body, where, http.service)
            if not isinstance(batch, list):
                got = "null" if batch is None else type(batch).__name__
                raise BadAnswer(f"{where}: expected a list of items, got {got}", service=http.service)
            if not batch:
                return found, True
            fingerprint = hashlib.sha256(json.dumps(batch, sort_keys=True, default=str).encode()).digest()
            if fingerprint in seen_pages:
                raise ServiceUnavailable(
                    f"{where} repeats an earlier page; the server does not advance, reading stopped",
                    service=http.service,
                )
            seen_pages.add(fingerprint)
            found.extend(batch)
            bar.advance(len(batch), total=_header_int(response, "X-Total-Count"))
            if next_params is not None:
                more = _pick(partial(next_params, response), body, where, http.service)
                if not more:
                    return found, True
                if not isinstance(more, dict):
                    raise BadAnswer(f"{where}: the next-page token is not readable", service=http.service)
                token = json.dumps(more, sort_keys=True, default=str)
                if token in tokens:
                    raise ServiceUnavailable(
                        f"{where}: the next-page token repeats; reading stopped", service=http.service
                    )
                tokens.add(token)
                url, query, page = http.url(path), dict(params, **more), page + 1
                if max_pages and page > max_pages:
                    return found, False
                continue
            link = _pick(partial(next_url, response), body, where, http.service) if next_url else next_link(response)
            if link is not None and not isinstance(link, str):
                raise BadAnswer(f"{where}: the next-page link is not a URL", service=http.service)
            if link:
                link = urljoin(response.url, link)
                if link in visited:
                    raise ServiceUnavailable(
                        f"{where}: the next-page link leads back to a page already read; reading stopped",
                        service=http.service,
                    )
                url, query = http.url(link), None  # another origin is refused here; the link carries every parameter
            elif not numbered or _last_page(response, page, len(found), len(batch), page_size):
                return found, True
            else:
                url, query = http.url(path), dict(params, **{str(page_param): page + 1})
            page += 1
            if max_pages and page > max_pages:
                return found, False
            if page > HARD_MAX_PAGES:
                raise ServiceUnavailable(
                    f"GET {_path(url)}: more than {HARD_MAX_PAGES} pages; the list never ends, "
                    "reading stopped (MAX_PAGES reads a part)",
                    service=http.service,
                )


def _last_page(response: requests.Response, page: int, found: int, batch: int, page_size: int | None) -> bool:
    """Without a next link, whether this page ends the list: X-Total-Pages, else X-Total-Count,
    else a page shorter than asked for. Otherwise the next page is read (an empty one ends it)."""
    total_pages = _header_int(response, "X-Total-Pages")
    if total_pages is not None:
        return page >= total_pages
    total_count = _header_int(response, "X-Total-Count")
    if total_count is not None:
        return found >= total_count
    return page_size is not None and 0 < page_size and batch < page_size


def _pick(pick: ItemsOf | None, body: Any, where: str, service: str) -> Any:
    """pick(body), where a body of another shape (a missing key, a list for an object) is the
    server's fault, one clear error (69), not a crash."""
    if pick is None:
        return body
    try:
        return pick(body)
    except (KeyError, IndexError, TypeError, AttributeError):
        raise BadAnswer(f"{where}: the answer has an unexpected shape", service=service) from None


def _header_int(response: requests.Response, name: str) -> int | None:
    """A non-negative integer header, or None when absent or not a number."""
    value = response.headers.get(name, "").strip()
    return int(value) if value.isdigit() else None

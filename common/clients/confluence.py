"""Confluence client: Cloud (site root ``https://<site>.atlassian.net/wiki``: REST v2 pages under
``/api/v2``, v1 CQL search under ``/rest/api``) and Data Center (``https://<confluence>``: REST
``/rest/api/content``). HTTP only, no business rules; pages come back as ``Page``.

What differs, and is hidden here:

* a page with its storage body and version: Cloud ``GET /api/v2/pages/{id}?body-format=storage``,
  Data Center ``GET /rest/api/content/{id}?expand=body.storage,version,...``;
* children: Cloud pages by cursor (``Link: <...>; rel="next"``), Data Center by ``start``/``limit``
  (``_links.next``, relative to the site's context path);
* the update: Cloud ``PUT /api/v2/pages/{id}`` ``{status, body: {representation, value}}``, Data
  Center ``PUT /rest/api/content/{id}`` ``{type, body: {storage: {...}}}``. Both take the version
  read + 1 and answer 409 when someone saved in between: ``PageConflict``.

Descendants with their bodies come from one CQL search (``ancestor = ID``, optionally
``lastmodified >=``), which both deployments answer in the v1 shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, parse_qs, unquote_plus, urlsplit

from ..errors import ApiError, ConfigError, NotFound
from ..http import BadAnswer, RequestCounter
from . import Record
from .jira import AtlassianClient, Deployment
from .shapes import shape

if TYPE_CHECKING:
    from ..config import Settings

CHILDREN_PAGE = 250  # Cloud v2 children: limit at most 250
SEARCH_PAGE_WITH_BODY = 50  # Cloud caps a CQL search that expands bodies at 50 a page
SEARCH_PAGE = 200
PAGE_ID = re.compile(r"[0-9]{1,20}")


class PageConflict(ApiError):
    """409 on a page update: someone saved the page after it was read (re-read and re-apply)."""


class TitleTaken(ApiError):
    """400 on a page create or update: another page of the space has that title."""


@dataclass(frozen=True)
class Page:
    id: str
    title: str
    version: int
    body: str | None  # storage format; None when it was not asked for
    parent_id: str | None = None
    space: str | None = None  # Cloud: the space id; Data Center: the space key
    modified_at: str | None = None  # the version's time, as the server wrote it


@dataclass(frozen=True)
class ChildPage:
    """A child in a listing: Cloud's v2 children carry no version (read the page for it)."""

    id: str
    title: str
    parent_id: str


@dataclass(frozen=True)
class PageRef:
    """What a user named as a page: an id, or (Data Center ``/display/`` URLs) a space and title."""

    page_id: str | None = None
    space: str | None = None
    title: str | None = None


def page_ref(text: str) -> PageRef:
    """A page id from a bare id, a ``pageId=`` URL or a ``/pages/{id}/`` URL (either deployment),
    or a space and title from a ``/display/SPACE/Title`` URL. ValueError (one line) otherwise."""
    value = text.strip()
    if PAGE_ID.fullmatch(value):
        return PageRef(page_id=value)
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.netloc:
        ids = parse_qs(parts.query).get("pageId") or []
        if len(ids) == 1 and PAGE_ID.fullmatch(ids[0]):
            return PageRef(page_id=ids[0])
        found = re.search(r"/pages/(?:[a-z0-9-]+/)?([0-9]{1,20})(?:/|$)", parts.path)
        if found:
            return PageRef(page_id=found.group(1))
        display = re.search(r"/display/([^/]+)/([^/]+)/?$", parts.path)
        if display:
            return PageRef(space=unquote_plus(display.group(1)), title=unquote_plus(display.group(2)))
    shown = "".join(c for c in value[:80] if c.isprintable())
    raise ValueError(f"not a Confluence page id or page URL: {shown!r}")


def confluence_client(
    settings: Settings, counter: RequestCounter, deployment: Deployment, dry_run: bool = False
) -> ConfluenceClient:
    """The client of CONFLUENCE_URL with CONFLUENCE_TOKEN / CONFLUENCE_EMAIL (default: Jira's)."""
    token = settings.confluence_token or settings.jira_token
    if not token:
        raise ConfigError("CONFLUENCE_TOKEN", "missing (nor is JIRA_TOKEN set)")
    return ConfluenceClient(
        settings,
        counter,
        url=settings.confluence_url,
        token=token,
        email=settings.confluence_email or settings.jira_email,
        deployment=deployment,
        dry_run=dry_run,
    )


class ConfluenceClient(AtlassianClient):
    SERVICE, PRODUCT, URL_KEY, TOKEN_KEY = "confluence", "Confluence", "CONFLUENCE_URL", "CONFLUENCE_TOKEN"

    def page_url(self, page_id: str) -> str:
        """A link to the page that works on both deployments."""
        return f"{self.site}/pages/viewpage.action?pageId={_page_id(page_id)}"

    # -- reads ------------------------------------------------------------------------------
    def current_user(self) -> Record:
        """The token's user: a read that proves CONFLUENCE_URL is Confluence (call it first)."""
        return self.api.get_json("rest/api/user/current", shape=shape(type="str"))

    def get_page(self, page_id: str) -> Page:
        """The page with its storage body and version; NotFound when it does not exist or the
        token's user cannot read it."""
        page_id = _page_id(page_id)
        if self.cloud:
            body = self.api.get_json(f"api/v2/pages/{page_id}", {"body-format": "storage"}, shape=shape(id="any"))
            return _v2_page(body, with_body=True)
        body = self.api.get_json(
            f"rest/api/content/{page_id}", {"expand": "body.storage,version,space,ancestors"}, shape=shape(id="any")
        )
        return _v1_page(body, with_body=True)

    def child_pages(self, page_id: str) -> tuple[list[ChildPage], bool]:
        """The page's direct children (id and title): (children, complete)."""
        page_id = _page_id(page_id)
        if self.cloud:
            items, complete = self.http.pages(
                f"api/v2/pages/{page_id}/children",
                {"limit": CHILDREN_PAGE},
                max_pages=self.max_pages,
                items=lambda body: body["results"],
                next_url=_v2_next,
                page_param=None,
            )
        else:
            items, complete = self.http.pages(
                f"rest/api/content/{page_id}/child/page",
                {"start": 0, "limit": CHILDREN_PAGE},
                max_pages=self.max_pages,
                items=lambda body: body["results"],
                next_url=_v1_next,
                page_param=None,
            )
        return [_child(item, page_id) for item in items], complete

    def descendants(
        self, page_id: str, *, modified_since: datetime | None = None, with_body: bool = True
    ) -> tuple[list[Page], bool]:
        """Every page below ``page_id`` (any depth), by CQL, with bodies and versions: (pages,
        complete). ``modified_since`` adds ``lastmodified >= "yyyy-MM-dd HH:mm"``, written in UTC;
        Confluence reads CQL dates in the token user's time zone, so a caller widens the window
        by a day and compares ``modified_at`` / versions itself."""
        cql = f"ancestor = {_page_id(page_id)} and type = page"
        if modified_since is not None:
            cql += f' and lastmodified >= "{modified_since.strftime("%Y-%m-%d %H:%M")}"'
        return self.search_pages(cql, with_body=with_body)

    def children_by_search(self, page_id: str, *, with_body: bool = False) -> tuple[list[tuple[Page, list[str]]], bool]:
        """The page's direct children by one CQL listing (``parent = ID``), each with its version,
        title and labels (and body with ``with_body``): ([(page, labels)], complete)."""
        cql = f"parent = {_page_id(page_id)} and type = page"
        expand = "version,space,metadata.labels" + (",body.storage" if with_body else "")
        items, complete = self.http.pages(
            "rest/api/content/search",
            {"cql": cql, "expand": expand, "limit": SEARCH_PAGE_WITH_BODY if with_body else SEARCH_PAGE},
            max_pages=self.max_pages,
            items=lambda body: body["results"],
            next_url=_v1_next,
            page_param=None,
        )
        found = []
        for item in items:
            page = _v1_page(item, with_body=with_body, parent_id=page_id)
            found.append((page, _labels(item)))
        return found, complete

    def user_by_key(self, userkey: str) -> Record | None:
        """A Data Center user by the ``userKey`` of a mention (its ``username`` is the login Jira
        assigns by), or None when Confluence knows no such user."""
        if not re.fullmatch(r"[A-Za-z0-9_.:@-]{1,128}", userkey):
            return None
        try:
            user = self.api.get_json("rest/api/user", {"key": userkey}, shape=shape())
        except NotFound:
            return None
        return user if isinstance(user, dict) else None

    def find_page(self, space: str, title: str) -> str | None:
        """The id of the page titled ``title`` in space ``space`` (a ``/display/`` URL), or None."""
        body = self.api.get_json(
            "rest/api/content", {"type": "page", "spaceKey": space, "title": title}, shape=shape(results="list")
        )
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list) or not results or not isinstance(results[0], dict):
            return None
        return _page_id(str(results[0].get("id", "")), where="GET /rest/api/content")

    # -- writes -----------------------------------------------------------------------------
    def update_page(self, page: Page, body: str, message: str = "", title: str | None = None) -> Page:
        """PUT ``body`` as the version after ``page.version`` (the version that was read with the
        body the edits were made on). PageConflict (409) when someone saved in between."""
        page_id = _page_id(page.id)
        version: Record = {"number": page.version + 1}
        if message:
            version["message"] = message[:255]
        if self.cloud:
            path = f"api/v2/pages/{page_id}"
            payload: Record = {
                "id": page_id,
                "status": "current",
                "title": title or page.title,
                "body": {"representation": "storage", "value": body},
                "version": version,
            }
        else:
            path = f"rest/api/content/{page_id}"
            payload = {
                "id": page_id,
                "type": "page",
                "title": title or page.title,
                "body": {"storage": {"value": body, "representation": "storage"}},
                "version": version,
            }
        try:
            answer = self.http.json_of(self.http.request("PUT", path, json=payload, ok=(200,)))
        except ApiError as error:
            if error.status == 409:
                raise PageConflict(
                    f"PUT /{path}: version {page.version + 1} refused (409): the page was saved meanwhile",
                    service="confluence",
                    status=409,
                ) from None
            if title and _title_taken(error):
                raise TitleTaken(
                    f"PUT /{path}: the title {title[:80]!r} is taken in the space", service="confluence", status=400
                ) from None
            raise
        saved = _v2_page(answer, with_body=False) if self.cloud else _v1_page(answer, with_body=False)
        return Page(saved.id, saved.title, saved.version, body, page.parent_id, page.space, saved.modified_at)

    def search_pages(self, cql: str, *, with_body: bool = False) -> tuple[list[Page], bool]:
        """The pages a CQL query finds (v1 search, both deployments): (pages, complete)."""
        expand = "version,space,ancestors" + (",body.storage" if with_body else "")
        items, complete = self.http.pages(
            "rest/api/content/search",
            {"cql": cql, "expand": expand, "limit": SEARCH_PAGE_WITH_BODY if with_body else SEARCH_PAGE},
            max_pages=self.max_pages,
            items=lambda body: body["results"],
            next_url=_v1_next,
            page_param=None,
        )
        return [_v1_page(item, with_body=with_body) for item in items], complete

    def create_page(self, space: str, parent_id: str, title: str, body: str) -> Page:
        """POST a new page under ``parent_id`` (``space``: Cloud's space id, Data Center's key).
        A POST: never resent after an unknown outcome (the caller looks for the page's marker)."""
        parent_id = _page_id(parent_id)
        if self.cloud:
            path = "api/v2/pages"
            payload: Record = {
                "spaceId": space,
                "status": "current",
                "title": title,
                "parentId": parent_id,
                "body": {"representation": "storage", "value": body},
            }
        else:
            path = "rest/api/content"
            payload = {
                "type": "page",
                "title": title,
                "space": {"key": space},
                "ancestors": [{"id": parent_id}],
                "body": {"storage": {"value": body, "representation": "storage"}},
            }
        try:
            answer = self.http.json_of(self.http.request("POST", path, json=payload, ok=(200, 201)))
        except ApiError as error:
            if _title_taken(error):
                raise TitleTaken(
                    f"POST /{path}: the title {title[:80]!r} is taken in the space", service="confluence", status=400
                ) from None
            raise
        saved = _v2_page(answer, with_body=False) if self.cloud else _v1_page(answer, with_body=False)
        return Page(saved.id, saved.title, saved.version, body, parent_id, space, saved.modified_at)

    def add_labels(self, page_id: str, labels: list[str]) -> None:
        """Add global labels to the page (adding one it has is a no-op on both deployments)."""
        self.http.request(
            "POST",
            f"rest/api/content/{_page_id(page_id)}/label",
            json=[{"prefix": "global", "name": name} for name in labels],
            ok=(200,),
        )

    def delete_page(self, page_id: str) -> bool:
        """Move a page to the trash (Cloud ``DELETE /api/v2/pages/{id}``, Data Center ``DELETE
        /rest/api/content/{id}``): True, or False when it was gone already (404)."""
        page = _page_id(page_id)
        path = f"api/v2/pages/{page}" if self.cloud else f"rest/api/content/{page}"
        try:
            self.http.request("DELETE", path, ok=(204,))
        except NotFound:
            return False
        return True

    def user_by_name(self, username: str) -> Record | None:
        """A Data Center user by login name (its ``userKey`` is what a mention names), or None."""
        if not re.fullmatch(r"[A-Za-z0-9_.:@+-]{1,128}", username):
            return None
        try:
            user = self.api.get_json("rest/api/user", {"username": username}, shape=shape())
        except NotFound:
            return None
        return user if isinstance(user, dict) else None


def _title_taken(error: ApiError) -> bool:
    """A 400 saying another page of the space has the title (either deployment's error shape)."""
    text = f"{error} {error.body!r}".lower()
    return error.status == 400 and "title" in text and "already exists" in text


def _labels(item: Any) -> list[str]:
    metadata = item.get("metadata") if isinstance(item, dict) else None
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    results = labels.get("results") if isinstance(labels, dict) else None
    if not isinstance(results, list):
        return []
    return [str(r["name"]) for r in results if isinstance(r, dict) and isinstance(r.get("name"), str)]


def _page_id(value: Any, where: str = "a page id") -> str:
    text = str(value)
    if not PAGE_ID.fullmatch(text):
        raise ApiError(f"{where}: {text[:40]!r} is not a Confluence page id", service="confluence")
    return text


def _answered_id(value: Any, where: str) -> str:
    """A page id in an answer; anything else is a BadAnswer (69: the run stops before it writes),
    the value never quoted (it could hold an echoed secret)."""
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not PAGE_ID.fullmatch(text):
        raise BadAnswer(f"{where}: the answer holds a page id that is not one", service="confluence")
    return text


def _child(item: Any, parent_id: str) -> ChildPage:
    if not isinstance(item, dict):
        raise BadAnswer(f"a child of page {parent_id} in the answer is not an object", service="confluence")
    return ChildPage(
        _answered_id(item.get("id"), f"the children of page {parent_id}"), str(item.get("title") or ""), parent_id
    )


def _version(body: Record, where: str) -> tuple[int, str | None]:
    version = body.get("version")
    number = version.get("number") if isinstance(version, dict) else None
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise BadAnswer(f"{where}: the answer has no version number", service="confluence")
    when = version.get("createdAt") or version.get("when") if isinstance(version, dict) else None
    return number, when if isinstance(when, str) else None


def _storage(body: Record, where: str) -> str:
    storage = (body.get("body") or {}).get("storage") if isinstance(body.get("body"), dict) else None
    value = storage.get("value") if isinstance(storage, dict) else None
    if not isinstance(value, str):
        raise BadAnswer(f"{where}: the answer has no storage-format body", service="confluence")
    return value


def _v2_page(body: Any, *, with_body: bool, parent_id: str | None = None) -> Page:
    if not isinstance(body, dict):
        raise BadAnswer("a page in the answer is not an object", service="confluence")
    page_id = _answered_id(body.get("id"), "a page in the answer")
    where = f"page {page_id}"
    number, when = _version(body, where)
    parent = body.get("parentId")
    return Page(
        page_id,
        str(body.get("title") or ""),
        number,
        _storage(body, where) if with_body else None,
        str(parent) if parent else parent_id,
        str(body["spaceId"]) if body.get("spaceId") else None,
        when,
    )


def _v1_page(body: Any, *, with_body: bool, parent_id: str | None = None) -> Page:
    if not isinstance(body, dict):
        raise BadAnswer("a page in the answer is not an object", service="confluence")
    page_id = _answered_id(body.get("id"), "a page in the answer")
    where = f"page {page_id}"
    number, when = _version(body, where)
    ancestors = body.get("ancestors")
    if isinstance(ancestors, list) and ancestors and isinstance(ancestors[-1], dict):
        parent_id = str(ancestors[-1].get("id") or "") or parent_id
    space = body.get("space")
    return Page(
        page_id,
        str(body.get("title") or ""),
        number,
        _storage(body, where) if with_body else None,
        parent_id,
        str(space["key"]) if isinstance(space, dict) and space.get("key") else None,
        when,
    )


def _v2_next(response: Any, body: Any) -> str | None:
    """Cloud v2: the Link header's rel="next" (relative to the host), else ``_links.next``."""
    link = response.links.get("next", {}).get("url")
    if link:
        return str(link)
    links = body.get("_links") if isinstance(body, dict) else None
    return str(links["next"]) if isinstance(links, dict) and links.get("next") else None


def _v1_next(_response: Any, body: Any) -> str | None:
    """v1 ``_links.next`` is relative to the site's context path (``/wiki`` on Cloud)."""
    links = body.get("_links") if isinstance(body, dict) else None
    following = links.get("next") if isinstance(links, dict) else None
    if not isinstance(following, str) or not following:
        return None
    context = links.get("context") if isinstance(links, dict) else None
    relative = following.startswith("/") and not following.startswith("//")
    if relative and isinstance(context, str) and context.startswith("/") and not following.startswith(context + "/"):
        following = context.rstrip("/") + following
    return following


def other_site(given: str, base_url: str | None) -> str | None:
    """The host of a page URL that is not on CONFLUENCE_URL's site (a page id there names another
    page here), else None (a bare id, or a URL of this site)."""
    parts = urlsplit(given.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or not base_url:
        return None
    base = urlsplit(base_url)

    def site(p: SplitResult) -> tuple[str, int | None]:
        try:
            port = p.port
        except ValueError:
            port = -1
        return (p.hostname or "").lower(), port or {"http": 80, "https": 443}.get(p.scheme)

    return None if site(parts) == site(base) else parts.netloc

"""Confluence stand-in, both deployments (``sandbox/jira_base.py`` switches them).

Cloud (site root ``/wiki``): REST v2 under ``/wiki/api/v2`` (pages, children and versions paged
by an opaque ``cursor`` in the ``Link`` header and ``_links.next``; spaces by id; labels and
content properties of pages) and REST v1 under ``/wiki/rest/api`` (CQL ``content/search`` paged by
``cursor``, content by id, labels, properties, version restore, the current user). Data Center
(site root ``/``): REST v1 only under ``/rest/api``, paged by ``start``/``limit``.

Pages carry their whole history (``versions``): an update must send ``version.number`` = current
+ 1 (else 409), a title is unique in its space (400 on a duplicate, on create and on update),
deleting a page moves it to the trash and its children up to its parent.

CQL subset (``sandbox/jira_jql.py`` grammar): ``ancestor``, ``parent``, ``id``, ``type``,
``space``, ``label``, ``title`` (``=`` or ``~``), ``lastmodified`` and ``created`` (dates
``"yyyy-MM-dd HH:mm"`` in UTC, the stand-in's users' time zone), AND/OR/NOT, parentheses,
``ORDER BY id|created|lastmodified|title``.

Hooks: ``collide_on_next_put(page_id, change)`` (a colleague saves the page just before the next
PUT of it, which then gets 409), ``restrict(page_id, status)`` (403, or 404 as Cloud answers for a
page the user may not see; hidden from children and search too), ``max_limit`` (the most items one
page of a listing returns, whatever ``limit`` asks, to force several pages), plus ``throttle`` /
``fail_next`` from ``AtlassianService``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from sandbox import jira_jql
from sandbox.jira_base import AtlassianService, Credentials, User
from sandbox.server import Request, Response

CLOUD_MAX_LIMIT = 250
DC_MAX_LIMIT = 200
SEARCH_BODY_MAX_LIMIT = 50  # Cloud caps a CQL search that expands bodies at 50 a page
CQL_FIELDS = {"ancestor", "parent", "id", "type", "space", "space.key", "label", "title", "lastmodified", "created"}
CQL_ORDER = {"id", "created", "lastmodified", "title"}


@dataclass
class Space:
    id: str
    key: str
    name: str


@dataclass
class Version:
    number: int
    title: str
    body: str
    when: datetime
    by: User
    message: str = ""
    minor: bool = False


@dataclass
class Property:
    id: str
    key: str
    value: Any
    version: int = 1


@dataclass
class Page:
    id: str
    space: Space
    parent_id: str | None
    versions: list[Version]
    created: datetime
    position: int
    status: str = "current"  # current | trashed
    labels: list[str] = field(default_factory=list)
    properties: dict[str, Property] = field(default_factory=dict)

    @property
    def current(self) -> Version:
        return self.versions[-1]

    @property
    def title(self) -> str:
        return self.current.title

    @property
    def body(self) -> str:
        return self.current.body


class ConfluenceService(AtlassianService):
    name = "confluence"
    product = "confluence"

    def __init__(self, credentials: Credentials | None = None, deployment: str = "cloud") -> None:
        super().__init__(credentials or Credentials(), deployment)
        self.spaces: dict[str, Space] = {}  # by key
        self.pages: dict[str, Page] = {}
        self._next_id = 65_538
        self._next_property = 1_000
        self.max_limit: int | None = None  # tests lower it to force several pages of children
        self.restricted: dict[str, int] = {}  # page id -> 403 | 404
        self._collisions: dict[str, Callable[[str], str]] = {}
        self.default_pages: list[str] = []  # CONFLUENCE_PAGES in env() (the seed's root)
        self._route_all()

    @property  # type: ignore[override]
    def api_prefix(self) -> str:
        return self.context

    # -- routes ----------------------------------------------------------------------------
    def _route_all(self) -> None:
        v2 = "/api/v2"
        self.route("GET", v2 + "/spaces", self.v2_spaces)
        self.route("GET", v2 + "/pages", self.v2_pages)
        self.route("POST", v2 + "/pages", self.v2_create)
        self.route("GET", v2 + "/pages/{id:int}", self.v2_get)
        self.route("PUT", v2 + "/pages/{id:int}", self.v2_update)
        self.route("DELETE", v2 + "/pages/{id:int}", self.delete_page)
        self.route("GET", v2 + "/pages/{id:int}/children", self.v2_children)
        self.route("GET", v2 + "/pages/{id:int}/versions", self.v2_versions)
        self.route("GET", v2 + "/pages/{id:int}/versions/{n:int}", self.v2_version)
        self.route("GET", v2 + "/pages/{id:int}/labels", self.v2_labels)
        self.route("GET", v2 + "/pages/{id:int}/properties", self.v2_properties)
        self.route("POST", v2 + "/pages/{id:int}/properties", self.v2_add_property)
        self.route("GET", v2 + "/pages/{id:int}/properties/{pid:int}", self.v2_property)
        self.route("PUT", v2 + "/pages/{id:int}/properties/{pid:int}", self.v2_put_property)
        self.route("DELETE", v2 + "/pages/{id:int}/properties/{pid:int}", self.v2_delete_property)
        v1 = "/rest/api"
        self.route("GET", v1 + "/user/current", self.v1_current_user)
        self.route("GET", v1 + "/user", self.v1_user)
        self.route("GET", v1 + "/space/{key}", self.v1_space)
        self.route("GET", v1 + "/content", self.v1_list)
        self.route("POST", v1 + "/content", self.v1_create)
        self.route("GET", v1 + "/content/search", self.v1_search)
        self.route("GET", v1 + "/content/{id:int}", self.v1_get)
        self.route("PUT", v1 + "/content/{id:int}", self.v1_update)
        self.route("DELETE", v1 + "/content/{id:int}", self.delete_page)
        self.route("GET", v1 + "/content/{id:int}/child/{type}", self.v1_children)
        self.route("GET", v1 + "/content/{id:int}/history", self.v1_history)
        self.route("GET", v1 + "/content/{id:int}/version", self.v1_versions)
        self.route("POST", v1 + "/content/{id:int}/version", self.v1_restore)
        self.route("GET", v1 + "/content/{id:int}/version/{n:int}", self.v1_version)
        self.route("GET", v1 + "/content/{id:int}/label", self.v1_labels)
        self.route("POST", v1 + "/content/{id:int}/label", self.v1_add_labels)
        self.route("DELETE", v1 + "/content/{id:int}/label/{label}", self.v1_delete_label)
        self.route("GET", v1 + "/content/{id:int}/property", self.v1_properties)
        self.route("POST", v1 + "/content/{id:int}/property", self.v1_add_property)
        self.route("GET", v1 + "/content/{id:int}/property/{key}", self.v1_property)
        self.route("PUT", v1 + "/content/{id:int}/property/{key}", self.v1_put_property)
        self.route("DELETE", v1 + "/content/{id:int}/property/{key}", self.v1_delete_property)

    def handle(self, request: Request) -> Response:
        if not self.cloud and request.path.startswith(self.context + "/api/v2/"):
            return self.not_found(request)  # Data Center has no v2
        return super().handle(request)

    # -- hooks -----------------------------------------------------------------------------
    def collide_on_next_put(self, page_id: str, change: Callable[[str], str] | str) -> None:
        """Just before the next PUT of the page, a colleague (alice) saves a new version: its body
        is ``change(body)`` (or ``change`` itself when a string). The PUT, now stale, gets 409."""
        with self.lock:
            self._collisions[str(page_id)] = change if callable(change) else (lambda _body, text=change: text)

    def restrict(self, page_id: str, status: int = 403) -> None:
        """The token's user may not read the page: reads answer ``status`` (403, or 404 as Cloud
        hides it); listings and searches leave it out."""
        with self.lock:
            self.restricted[str(page_id)] = status

    def control_actions(self) -> dict[str, Any]:
        def collide(page_id: str, append: str = "<p>A colleague's line.</p>") -> None:
            self.collide_on_next_put(page_id, lambda body: body + append)

        def max_limit(limit: int | None = None) -> None:
            self.max_limit = None if limit is None else int(limit)

        return {
            **super().control_actions(),
            "collide": collide,
            "restrict": self.restrict,
            "edit-page": self.edit_page,
            "set-task": self.set_task,
            "max-limit": max_limit,
        }

    # -- seeding API -----------------------------------------------------------------------
    def add_space(self, key: str, name: str | None = None) -> Space:
        with self.lock:
            space = Space(str(98_304 + len(self.spaces) * 2 + 2), key, name or key)
            self.spaces[key] = space
            return space

    def add_page(
        self, space: str, title: str, body: str = "", parent_id: str | None = None, labels: list[str] | None = None
    ) -> Page:
        with self.lock:
            page = self._new_page(self.spaces[space], title, body, parent_id, self.credentials.bot)
            page.labels = list(labels or [])
            return page

    def edit_page(self, page_id: str, body: str | None = None, title: str | None = None, by: str = "alice") -> Page:
        """A person saves a new version of the page (no request logged)."""
        with self.lock:
            page = self.pages[str(page_id)]
            user = self.credentials.user_by(name=by) or self.credentials.bot
            self._save(page, page.title if title is None else title, page.body if body is None else body, user, "")
            return page

    def set_task(self, page_id: str, task_id: str, complete: bool, by: str = "alice") -> Page:
        """A person ticks (or unticks) task ``task_id`` on the page: a new version whose body
        differs only in that task's ``ac:task-status``."""
        with self.lock:
            page = self.pages[str(page_id)]
            pattern = re.compile(
                r"(<ac:task-id>" + re.escape(str(task_id)) + r"</ac:task-id>\s*"
                r"(?:<ac:task-uuid>[^<]*</ac:task-uuid>\s*)?<ac:task-status>)(complete|incomplete)(</ac:task-status>)"
            )
            body, found = pattern.subn(
                lambda match: match.group(1) + ("complete" if complete else "incomplete") + match.group(3), page.body, 1
            )
            if not found:
                raise KeyError(f"page {page_id} has no task {task_id}")
            return self.edit_page(page.id, body=body, by=by)

    def page_by_title(self, title: str) -> Page | None:
        with self.lock:
            return next((p for p in self.pages.values() if p.title == title and p.status == "current"), None)

    def children_of(self, page_id: str) -> list[Page]:
        with self.lock:
            return sorted(
                (p for p in self.pages.values() if p.parent_id == str(page_id) and p.status == "current"),
                key=lambda p: p.position,
            )

    # -- service hooks ---------------------------------------------------------------------
    def error(self, status: int, message: str, errors: dict[str, str] | None = None) -> Response:
        if self.cloud:
            return Response(
                status, {"errors": [{"status": status, "code": _code(status), "title": message, "detail": None}]}
            )
        return Response(status, {"statusCode": status, "data": {"authorized": status != 403}, "message": message})

    def _v1_error(self, status: int, message: str) -> Response:
        return Response(status, {"statusCode": status, "data": {"authorized": status != 403}, "message": message})

    def state(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "spaces": [{"id": s.id, "key": s.key, "name": s.name} for s in self.spaces.values()],
            "pages": [
                {
                    "id": p.id,
                    "title": p.title,
                    "space": p.space.key,
                    "parentId": p.parent_id,
                    "status": p.status,
                    "version": p.current.number,
                    "labels": list(p.labels),
                    "properties": {k: prop.value for k, prop in p.properties.items()},
                    "body": p.body,
                }
                for p in self.pages.values()
            ],
        }

    def env(self, url: str, **options: Any) -> dict[str, str]:
        variables = {"CONFLUENCE_URL": url + self.context, "CONFLUENCE_TOKEN": self.token}
        if self.cloud:
            variables["CONFLUENCE_EMAIL"] = self.credentials.email
        if self.default_pages:
            variables["CONFLUENCE_PAGES"] = ",".join(self.default_pages)
        return variables

    # -- model -----------------------------------------------------------------------------
    def _new_page(self, space: Space, title: str, body: str, parent_id: str | None, by: User) -> Page:
        page_id = str(self._next_id)
        self._next_id += 1 + (self._next_id % 7)  # ids grow but are not consecutive
        now = self.clock.now()
        page = Page(
            page_id, space, parent_id, [Version(1, title, assign_task_ids(body), now, by)], now, len(self.pages)
        )
        self.pages[page_id] = page
        return page

    def _save(self, page: Page, title: str, body: str, by: User, message: str) -> None:
        body = assign_task_ids(body)
        page.versions.append(Version(page.current.number + 1, title, body, self.clock.now(), by, message))

    def _visible(self, page_id: str) -> Page | Response:
        """The current page, or the answer to give: 404 (missing, trashed) or the restriction."""
        page = self.pages.get(page_id)
        if page is None or page.status != "current":
            return self.error(404, f"No content found with id: ContentId{{id={page_id}}}")
        if page_id in self.restricted:
            status = self.restricted[page_id]
            return self.error(status, f"You are not permitted to view content {page_id}")
        return page

    def _readable(self, page: Page) -> bool:
        return page.status == "current" and page.id not in self.restricted

    def _ancestors(self, page: Page) -> list[Page]:
        chain: list[Page] = []
        current = self.pages.get(page.parent_id) if page.parent_id else None
        while current is not None:
            chain.insert(0, current)
            current = self.pages.get(current.parent_id) if current.parent_id else None
        return chain

    def _limit(self, request: Request, default: int, cap: int | None = None) -> int:
        try:
            wanted = int(request.arg("limit") or default)
        except ValueError:
            wanted = default
        ceiling = cap or (CLOUD_MAX_LIMIT if self.cloud else DC_MAX_LIMIT)
        if self.max_limit is not None:
            ceiling = min(ceiling, self.max_limit)
        return max(1, min(wanted, ceiling))

    def _user_json(self, user: User) -> dict[str, Any]:
        if self.cloud:
            return {
                "type": "known",
                "accountId": user.account_id,
                "accountType": "atlassian",
                "email": user.email,
                "publicName": user.name,
                "displayName": user.display_name,
            }
        return {
            "type": "known",
            "username": user.name,
            "userKey": self.credentials.confluence_key(user),
            "displayName": user.display_name,
        }

    # -- the cursor ------------------------------------------------------------------------
    @staticmethod
    def _cursor(offset: int) -> str:
        return base64.urlsafe_b64encode(f"next:{offset}".encode()).decode().rstrip("=")

    @staticmethod
    def _offset(cursor: str | None) -> int | None:
        if not cursor:
            return 0
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        match = re.fullmatch(r"next:(\d+)", text)
        return int(match.group(1)) if match else None

    def _v2_list(self, request: Request, items: list[Any], default_limit: int = 25) -> Response:
        offset = self._offset(request.arg("cursor"))
        if offset is None:
            return self.error(400, "Invalid cursor")
        limit = self._limit(request, default_limit)
        page = items[offset : offset + limit]
        body: dict[str, Any] = {"results": page, "_links": {"base": self.site}}
        headers: dict[str, str] = {}
        if offset + limit < len(items):
            query = {k: v[-1] for k, v in request.query.items() if k != "cursor"}
            query["cursor"] = self._cursor(offset + limit)
            following = f"{request.path}?{urlencode(query)}"
            body["_links"]["next"] = following
            headers["Link"] = f'<{following}>; rel="next", <{self.site}>; rel="base"'
        return Response(200, body, headers=headers)

    def _v1_list(self, request: Request, items: list[Any], default_limit: int = 25, cap: int | None = None) -> Response:
        """v1 paging: ``start``/``limit`` (Data Center and Cloud content lists), or Cloud search's
        ``cursor``; ``_links.next`` relative to the context path."""
        cursor_paging = self.cloud and request.path.endswith("/content/search")
        if cursor_paging:
            offset = self._offset(request.arg("cursor"))
            if offset is None:
                return self._v1_error(400, "Invalid cursor")
        else:
            try:
                offset = max(0, int(request.arg("start") or 0))
            except ValueError:
                return self._v1_error(400, "start must be a number")
        limit = self._limit(request, default_limit, cap)
        page = items[offset : offset + limit]
        context = self.context
        links: dict[str, Any] = {"base": self.root_url.rstrip("/") + context, "context": context}
        if offset + limit < len(items):
            query = {k: v[-1] for k, v in request.query.items() if k not in ("cursor", "start")}
            query["limit"] = str(limit)
            if cursor_paging:
                query["cursor"] = self._cursor(offset + limit)
            else:
                query["start"] = str(offset + limit)
            links["next"] = f"{request.path[len(context) :]}?{urlencode(query, quote_via=quote)}"
        body: dict[str, Any] = {"results": page, "size": len(page), "limit": limit, "_links": links}
        if not cursor_paging:
            body["start"] = offset
        return Response(200, body)

    # -- v2 JSON ---------------------------------------------------------------------------
    def _v2_version(self, version: Version) -> dict[str, Any]:
        return {
            "createdAt": self.iso_z(version.when),
            "message": version.message,
            "number": version.number,
            "minorEdit": version.minor,
            "authorId": version.by.account_id,
        }

    def _v2_page(self, page: Page, *, body_format: str | None, version: Version | None = None) -> dict[str, Any]:
        version = version or page.current
        data: dict[str, Any] = {
            "id": page.id,
            "status": page.status if version is page.current else "historical",
            "title": version.title,
            "spaceId": page.space.id,
            "parentId": page.parent_id,
            "parentType": "page" if page.parent_id else None,
            "position": page.position,
            "authorId": page.versions[0].by.account_id,
            "ownerId": page.versions[0].by.account_id,
            "lastOwnerId": None,
            "createdAt": self.iso_z(page.created),
            "version": self._v2_version(version),
            "body": {},
            "_links": {
                "webui": f"/spaces/{page.space.key}/pages/{page.id}/{quote(version.title.replace(' ', '+'))}",
                "editui": f"/pages/resumedraft.action?draftId={page.id}",
                "tinyui": f"/x/{page.id}",
            },
        }
        if data["parentId"] is None:
            del data["parentId"], data["parentType"]
        if data["lastOwnerId"] is None:
            del data["lastOwnerId"]
        if body_format == "storage":
            data["body"] = {"storage": {"representation": "storage", "value": version.body}}
        return data

    # -- v1 JSON ---------------------------------------------------------------------------
    def _v1_version(self, page: Page, version: Version) -> dict[str, Any]:
        return {
            "by": self._user_json(version.by),
            "when": self.v1_time(version.when),
            "message": version.message,
            "number": version.number,
            "minorEdit": version.minor,
            "_links": {"self": f"{self._v1_base()}/content/{page.id}/version/{version.number}"},
        }

    def v1_time(self, when: datetime) -> str:
        """v1 times: ``2026-11-27T17:21:36.123Z`` on Cloud, ``...123+00:00`` on Data Center."""
        text = self.iso_z(when)
        return text if self.cloud else text[:-1] + "+00:00"

    def _v1_base(self) -> str:
        return self.site + "/rest/api"

    def _v1_space(self, space: Space) -> dict[str, Any]:
        return {
            "id": int(space.id),
            "key": space.key,
            "name": space.name,
            "type": "global",
            "status": "current",
            "_links": {"webui": f"/spaces/{space.key}", "self": f"{self._v1_base()}/space/{space.key}"},
            "_expandable": {},
        }

    def _v1_page(self, page: Page, expand: set[str], version: Version | None = None) -> dict[str, Any]:
        version = version or page.current
        data: dict[str, Any] = {
            "id": page.id,
            "type": "page",
            "status": page.status if version is page.current else "historical",
            "title": version.title,
            "space": self._v1_space(page.space),
            "version": self._v1_version(page, version),
            "_links": {
                "webui": f"/spaces/{page.space.key}/pages/{page.id}",
                "self": f"{self._v1_base()}/content/{page.id}",
                "tinyui": f"/x/{page.id}",
            },
            "_expandable": {
                "children": f"/rest/api/content/{page.id}/child",
                "history": f"/rest/api/content/{page.id}/history",
            },
        }
        if "ancestors" in expand:
            data["ancestors"] = [
                {"id": a.id, "type": "page", "status": a.status, "title": a.title} for a in self._ancestors(page)
            ]
        if "body.storage" in expand:
            data["body"] = {
                "storage": {"value": version.body, "representation": "storage", "_expandable": {"content": ""}}
            }
        if "metadata.labels" in expand:
            data["metadata"] = {"labels": self._label_list(page)}
        return data

    def _label_list(self, page: Page) -> dict[str, Any]:
        results = [
            {"prefix": "global", "name": name, "id": str(abs(hash(name)) % 10**9), "label": name}
            for name in page.labels
        ]
        return {"results": results, "start": 0, "limit": 200, "size": len(results), "_links": {}}

    @staticmethod
    def _expand(request: Request) -> set[str]:
        return {part.strip() for part in (request.arg("expand") or "").split(",") if part.strip()}

    # -- writes shared by both APIs --------------------------------------------------------
    def _create(self, space: Space | None, title: Any, body: Any, parent_id: str | None) -> Page | Response:
        if space is None:
            return self.error(400, "A valid space is required")
        if not isinstance(title, str) or not title.strip():
            return self.error(400, "A page title is required")
        if not isinstance(body, str):
            return self.error(400, "The body must be in storage representation")
        if parent_id is not None:
            parent = self.pages.get(parent_id)
            if parent is None or parent.status != "current" or parent.space is not space:
                return self.error(400, f"The parent page {parent_id} does not exist in space {space.key}")
        if self._title_taken(space, title, None):
            return self.error(
                400,
                f"A page with this title already exists: A page already exists with the title {title} in this space",
            )
        user = self.credentials.bot
        return self._new_page(space, title, body, parent_id, user)

    def _title_taken(self, space: Space, title: str, other_than: str | None) -> bool:
        return any(
            p.space is space and p.status == "current" and p.title == title and p.id != other_than
            for p in self.pages.values()
        )

    def _update(self, page_id: str, title: Any, body: Any, number: Any, message: str) -> Page | Response:
        found = self._visible(page_id)
        if isinstance(found, Response):
            return found
        page = found
        collision = self._collisions.pop(page_id, None)
        if collision is not None:
            colleague = self.credentials.user_by(name="alice") or self.credentials.bot
            self._save(page, page.title, collision(page.body), colleague, "")
        if not isinstance(number, int) or isinstance(number, bool):
            return self.error(400, "The version number is required")
        if number != page.current.number + 1:
            return self.error(409, f"Version must be incremented on update. Current version is: {page.current.number}")
        if not isinstance(title, str) or not title.strip():
            return self.error(400, "A page title is required")
        if not isinstance(body, str):
            return self.error(400, "The body must be in storage representation")
        if self._title_taken(page.space, title, page.id):
            return self.error(
                400,
                f"A page with this title already exists: A page already exists with the title {title} in this space",
            )
        self._save(page, title, body, self.credentials.bot, message)
        return page

    def delete_page(self, request: Request) -> Response:
        page_id = request.params["id"]
        page = self.pages.get(page_id)
        if page is None:
            return self.error(404, f"No content found with id: ContentId{{id={page_id}}}")
        if page.status == "trashed":
            if request.arg("purge") == "true" or request.arg("status") == "trashed":
                del self.pages[page_id]
                return Response(204)
            return self.error(404, f"No content found with id: ContentId{{id={page_id}}}")
        if page_id in self.restricted:
            return self.error(self.restricted[page_id], f"You are not permitted to delete content {page_id}")
        for child in self.pages.values():
            if child.parent_id == page_id:
                child.parent_id = page.parent_id
        page.status = "trashed"
        return Response(204)

    # -- v2 handlers -----------------------------------------------------------------------
    def v2_spaces(self, request: Request) -> Response:
        keys = {k for v in request.query.get("keys", []) for k in v.split(",") if k}
        ids = {k for v in request.query.get("ids", []) for k in v.split(",") if k}
        spaces = [
            {
                "id": s.id,
                "key": s.key,
                "name": s.name,
                "type": "global",
                "status": "current",
                "authorId": self.credentials.bot.account_id,
                "createdAt": self.iso_z(self.clock.now()),
                "homepageId": None,
                "_links": {"webui": f"/spaces/{s.key}"},
            }
            for s in self.spaces.values()
            if (not keys or s.key in keys) and (not ids or s.id in ids)
        ]
        for space in spaces:
            del space["homepageId"]
        return self._v2_list(request, spaces)

    def v2_pages(self, request: Request) -> Response:
        space_ids = {k for v in request.query.get("space-id", []) for k in v.split(",") if k}
        ids = {k for v in request.query.get("id", []) for k in v.split(",") if k}
        title = request.arg("title")
        body_format = request.arg("body-format")
        pages = [
            self._v2_page(p, body_format=body_format)
            for p in self.pages.values()
            if self._readable(p)
            and (not space_ids or p.space.id in space_ids)
            and (not ids or p.id in ids)
            and (title is None or p.title == title)
        ]
        return self._v2_list(request, pages)

    def v2_create(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        space = next((s for s in self.spaces.values() if s.id == str(body.get("spaceId"))), None)
        content = body.get("body") if isinstance(body.get("body"), dict) else {}
        if content.get("representation") not in (None, "storage"):
            return self.error(400, "Only the storage representation is supported by the sandbox")
        parent = str(body["parentId"]) if body.get("parentId") else None
        created = self._create(space, body.get("title"), content.get("value", ""), parent)
        if isinstance(created, Response):
            return created
        return Response(200, self._v2_page(created, body_format="storage"))

    def v2_get(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return found
        version = None
        if request.arg("version"):
            number = int(request.arg("version") or 0)
            version = next((v for v in found.versions if v.number == number), None)
            if version is None:
                return self.error(404, f"Version {number} of page {found.id} not found")
        return Response(200, self._v2_page(found, body_format=request.arg("body-format"), version=version))

    def v2_update(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        content = body.get("body") if isinstance(body.get("body"), dict) else {}
        version = body.get("version") if isinstance(body.get("version"), dict) else {}
        if body.get("status") not in ("current", None):
            return self.error(400, "Only status current is supported by the sandbox")
        if content.get("representation") != "storage":
            return self.error(400, "The body must be in storage representation")
        saved = self._update(
            request.params["id"],
            body.get("title"),
            content.get("value"),
            version.get("number"),
            str(version.get("message") or ""),
        )
        if isinstance(saved, Response):
            return saved
        return Response(200, self._v2_page(saved, body_format="storage"))

    def v2_children(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return found
        children = [
            {"id": c.id, "status": c.status, "title": c.title, "spaceId": c.space.id, "childPosition": c.position}
            for c in self.children_of(found.id)
            if self._readable(c)
        ]
        return self._v2_list(request, children)

    def v2_versions(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return found
        items = [self._v2_version(v) for v in reversed(found.versions)]
        return self._v2_list(request, items)

    def v2_version(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return found
        number = int(request.params["n"])
        version = next((v for v in found.versions if v.number == number), None)
        if version is None:
            return self.error(404, f"Version {number} of page {found.id} not found")
        data = self._v2_version(version)
        data["page"] = {"id": found.id, "title": version.title}
        return Response(200, data)

    def v2_labels(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return found
        labels = [{"id": str(abs(hash(name)) % 10**9), "name": name, "prefix": "global"} for name in found.labels]
        return self._v2_list(request, labels)

    def _v2_property(self, prop: Property) -> dict[str, Any]:
        return {
            "id": prop.id,
            "key": prop.key,
            "value": prop.value,
            "version": {
                "number": prop.version,
                "createdAt": self.iso_z(self.clock.now()),
                "message": "",
                "minorEdit": False,
                "authorId": self.credentials.bot.account_id,
            },
        }

    def v2_properties(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return found
        key = request.arg("key")
        items = [self._v2_property(p) for p in found.properties.values() if key is None or p.key == key]
        return self._v2_list(request, items)

    def _add_property(self, page: Page, body: Any) -> Property | Response:
        if not isinstance(body, dict) or not isinstance(body.get("key"), str) or not body["key"] or "value" not in body:
            return self.error(400, "A property needs a key and a value")
        if body["key"] in page.properties:
            return self.error(409, f"A property with key {body['key']} already exists on content {page.id}")
        prop = Property(str(self._next_property), body["key"], body["value"])
        self._next_property += 1
        page.properties[prop.key] = prop
        return prop

    def _put_property(self, page: Page, prop: Property | None, body: Any) -> Property | Response:
        if prop is None:
            return self.error(404, "No such content property")
        version = body.get("version") if isinstance(body, dict) and isinstance(body.get("version"), dict) else {}
        if version.get("number") != prop.version + 1:
            return self.error(409, f"Version must be incremented on update. Current version is: {prop.version}")
        prop.value = body.get("value")
        prop.version += 1
        return prop

    def v2_add_property(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return found
        prop = self._add_property(found, request.body)
        return prop if isinstance(prop, Response) else Response(200, self._v2_property(prop))

    def _property_by_id(self, page: Page, pid: str) -> Property | None:
        return next((p for p in page.properties.values() if p.id == pid), None)

    def v2_property(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return found
        prop = self._property_by_id(found, request.params["pid"])
        return Response(200, self._v2_property(prop)) if prop else self.error(404, "No such content property")

    def v2_put_property(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return found
        prop = self._put_property(found, self._property_by_id(found, request.params["pid"]), request.body)
        return prop if isinstance(prop, Response) else Response(200, self._v2_property(prop))

    def v2_delete_property(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return found
        prop = self._property_by_id(found, request.params["pid"])
        if prop is None:
            return self.error(404, "No such content property")
        del found.properties[prop.key]
        return Response(204)

    # -- v1 handlers -----------------------------------------------------------------------
    def v1_current_user(self, request: Request) -> Response:
        user = self.current_user(request)
        assert user is not None
        return Response(200, self._user_json(user))

    def v1_user(self, request: Request) -> Response:
        """A user by ``key`` (Data Center's userKey of a mention), ``username`` or ``accountId``."""
        key, name, account = request.arg("key"), request.arg("username"), request.arg("accountId")
        user = None
        if account and self.cloud:
            user = self.credentials.user_by(account_id=account)
        elif key and not self.cloud:
            user = self.credentials.user_by(confluence_key=key)
        elif name and not self.cloud:
            user = self.credentials.user_by(name=name)
        if user is None:
            return self._v1_error(404, "No user found with the given key, username or accountId")
        return Response(200, self._user_json(user))

    def v1_space(self, request: Request) -> Response:
        space = self.spaces.get(request.params["key"])
        if space is None:
            return self._v1_error(404, f"No space with key : {request.params['key']}")
        return Response(200, self._v1_space(space))

    def v1_list(self, request: Request) -> Response:
        space_key, title = request.arg("spaceKey"), request.arg("title")
        kind = request.arg("type") or "page"
        expand = self._expand(request)
        pages = [
            self._v1_page(p, expand)
            for p in self.pages.values()
            if kind == "page"
            and self._readable(p)
            and (space_key is None or p.space.key == space_key)
            and (title is None or p.title == title)
        ]
        return self._v1_list(request, pages)

    def v1_create(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        if body.get("type") != "page":
            return self._v1_error(400, "Only pages can be created in the sandbox")
        space_ref = body.get("space") if isinstance(body.get("space"), dict) else {}
        space = self.spaces.get(str(space_ref.get("key")))
        storage = ((body.get("body") or {}).get("storage") or {}) if isinstance(body.get("body"), dict) else {}
        ancestors = body.get("ancestors") if isinstance(body.get("ancestors"), list) else []
        parent = str(ancestors[-1].get("id")) if ancestors and isinstance(ancestors[-1], dict) else None
        created = self._create(space, body.get("title"), storage.get("value", ""), parent)
        if isinstance(created, Response):
            return self._v1_error(created.status, _message(created))
        return Response(200, self._v1_page(created, {"body.storage", "ancestors"}))

    def v1_get(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return self._v1_error(found.status, _message(found))
        version = None
        if request.arg("version"):
            number = int(request.arg("version") or 0)
            version = next((v for v in found.versions if v.number == number), None)
            if version is None:
                return self._v1_error(404, f"Version {number} of content {found.id} not found")
        return Response(200, self._v1_page(found, self._expand(request), version))

    def v1_update(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        if body.get("type") != "page":
            return self._v1_error(400, "The type must be page")
        storage = ((body.get("body") or {}).get("storage") or {}) if isinstance(body.get("body"), dict) else {}
        version = body.get("version") if isinstance(body.get("version"), dict) else {}
        if storage and storage.get("representation") != "storage":
            return self._v1_error(400, "The body must be in storage representation")
        saved = self._update(
            request.params["id"],
            body.get("title"),
            storage.get("value"),
            version.get("number"),
            str(version.get("message") or ""),
        )
        if isinstance(saved, Response):
            return self._v1_error(saved.status, _message(saved))
        return Response(200, self._v1_page(saved, {"body.storage", "ancestors"}))

    def v1_children(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return self._v1_error(found.status, _message(found))
        if request.params["type"] != "page":
            return self._v1_list(request, [])
        expand = self._expand(request)
        children = [self._v1_page(c, expand) for c in self.children_of(found.id) if self._readable(c)]
        return self._v1_list(request, children)

    def v1_history(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return self._v1_error(found.status, _message(found))
        first, last = found.versions[0], found.current
        return Response(
            200,
            {
                "latest": True,
                "createdBy": self._user_json(first.by),
                "createdDate": self.v1_time(first.when),
                "lastUpdated": self._v1_version(found, last),
                "_links": {"self": f"{self._v1_base()}/content/{found.id}/history"},
            },
        )

    def v1_versions(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return self._v1_error(found.status, _message(found))
        return self._v1_list(request, [self._v1_version(found, v) for v in reversed(found.versions)])

    def v1_version(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return self._v1_error(found.status, _message(found))
        number = int(request.params["n"])
        version = next((v for v in found.versions if v.number == number), None)
        if version is None:
            return self._v1_error(404, f"Version {number} of content {found.id} not found")
        data = self._v1_version(found, version)
        data["content"] = self._v1_page(found, {"body.storage"}, version)
        return Response(200, data)

    def v1_restore(self, request: Request) -> Response:
        """``{"operationKey": "restore", "params": {"versionNumber": n, "message": "..."}}``: a new
        version with the title and body of version n."""
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return self._v1_error(found.status, _message(found))
        body = request.body if isinstance(request.body, dict) else {}
        params = body.get("params") if isinstance(body.get("params"), dict) else {}
        if body.get("operationKey") != "restore":
            return self._v1_error(400, "operationKey must be restore")
        old = next((v for v in found.versions if v.number == params.get("versionNumber")), None)
        if old is None or old is found.current:
            return self._v1_error(400, "versionNumber must name an earlier version of the page")
        if self._title_taken(found.space, old.title, found.id):
            return self._v1_error(400, "A page with this title already exists")
        self._save(found, old.title, old.body, self.credentials.bot, str(params.get("message") or ""))
        return Response(200, self._v1_version(found, found.current))

    def v1_labels(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return self._v1_error(found.status, _message(found))
        return self._v1_list(request, self._label_list(found)["results"], default_limit=200)

    def v1_add_labels(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return self._v1_error(found.status, _message(found))
        labels = request.body if isinstance(request.body, list) else [request.body]
        for label in labels:
            name = label.get("name") if isinstance(label, dict) else None
            if not isinstance(name, str) or not re.fullmatch(r"[^\s!#&()*,.:;<>?@\[\]^]{1,255}", name):
                return self._v1_error(400, f"Invalid label: {str(name)[:60]}")
            if name.lower() not in found.labels:
                found.labels.append(name.lower())
        return Response(200, self._label_list(found))

    def v1_delete_label(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return self._v1_error(found.status, _message(found))
        name = request.params["label"]
        if name not in found.labels:
            return self._v1_error(404, f"The label {name} is not on content {found.id}")
        found.labels.remove(name)
        return Response(204)

    def _v1_property(self, page: Page, prop: Property) -> dict[str, Any]:
        return {
            "id": prop.id,
            "key": prop.key,
            "value": prop.value,
            "version": {"number": prop.version, "minorEdit": False},
            "_links": {"self": f"{self._v1_base()}/content/{page.id}/property/{quote(prop.key)}"},
        }

    def v1_properties(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return self._v1_error(found.status, _message(found))
        return self._v1_list(
            request, [self._v1_property(found, p) for p in found.properties.values()], default_limit=10
        )

    def v1_add_property(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return self._v1_error(found.status, _message(found))
        prop = self._add_property(found, request.body)
        if isinstance(prop, Response):
            return self._v1_error(prop.status, _message(prop))
        return Response(200, self._v1_property(found, prop))

    def v1_property(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return self._v1_error(found.status, _message(found))
        prop = found.properties.get(request.params["key"])
        if prop is None:
            return self._v1_error(404, "No such content property")
        return Response(200, self._v1_property(found, prop))

    def v1_put_property(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return self._v1_error(found.status, _message(found))
        prop = self._put_property(found, found.properties.get(request.params["key"]), request.body)
        if isinstance(prop, Response):
            return self._v1_error(prop.status, _message(prop))
        return Response(200, self._v1_property(found, prop))

    def v1_delete_property(self, request: Request) -> Response:
        found = self._visible(request.params["id"])
        if isinstance(found, Response):
            return self._v1_error(found.status, _message(found))
        if found.properties.pop(request.params["key"], None) is None:
            return self._v1_error(404, "No such content property")
        return Response(204)

    # -- CQL -------------------------------------------------------------------------------
    def _cql_value(self, page: Page, name: str) -> Any:
        if name == "ancestor":
            return tuple(a.id for a in self._ancestors(page))
        if name == "parent":
            return page.parent_id
        if name == "id":
            return page.id
        if name == "type":
            return "page"
        if name in ("space", "space.key"):
            return page.space.key
        if name == "label":
            return tuple(page.labels)
        if name == "title":
            return page.title
        if name == "lastmodified":
            return page.current.when
        if name == "created":
            return page.created
        raise jira_jql.JqlError(f"Could not parse cql : unknown field {name}")

    def v1_search(self, request: Request) -> Response:
        cql = request.arg("cql") or ""
        try:
            query = jira_jql.Parser(
                cql,
                CQL_FIELDS,
                self._cql_value,
                date_fields=frozenset({"lastmodified", "created"}),
                text_fields=frozenset({"title"}),
                order_fields=CQL_ORDER,
                default_order=("id", False),
            ).parse()
        except jira_jql.JqlError as error:
            return self._v1_error(400, f"Could not parse cql : {cql[:200]} ({error})")
        found = [p for p in self.pages.values() if self._readable(p) and query.predicate(p)]
        for name, descending in reversed(query.order):
            found.sort(key=lambda p, name=name: self._cql_sort(p, name), reverse=descending)
        expand = self._expand(request)
        cap = SEARCH_BODY_MAX_LIMIT if "body.storage" in expand and self.cloud else None
        return self._v1_list(request, [self._v1_page(p, expand) for p in found], cap=cap)

    def _cql_sort(self, page: Page, name: str) -> Any:
        if name == "id":
            return int(page.id)
        if name == "title":
            return page.title
        if name == "created":
            return page.created
        return page.current.when


_CDATA = re.compile(r"<!\[CDATA\[.*?\]\]>", re.S)
_TASK_ID = re.compile(r"<ac:task-id>\s*(\d+)\s*</ac:task-id>")
_TASK_WITHOUT_ID = re.compile(r"<ac:task>(?!\s*<ac:task-id>)")


def assign_task_ids(body: str) -> str:
    """What Confluence does on save: a task without an ``ac:task-id`` gets the next free id of the
    page (everything else is kept as it was sent; text inside CDATA is not markup)."""
    parts = _CDATA.split(body)
    if not any(_TASK_WITHOUT_ID.search(part) for part in parts):
        return body
    cdata = _CDATA.findall(body)
    next_id = max((int(found) for part in parts for found in _TASK_ID.findall(part)), default=0) + 1
    out = []
    for index, part in enumerate(parts):

        def number(_match: re.Match[str]) -> str:
            nonlocal next_id
            next_id += 1
            return f"<ac:task>\n<ac:task-id>{next_id - 1}</ac:task-id>"

        out.append(_TASK_WITHOUT_ID.sub(number, part))
        if index < len(cdata):
            out.append(cdata[index])
    return "".join(out)


def _code(status: int) -> str:
    return {
        400: "INVALID_REQUEST_PARAMETER",
        401: "UNAUTHORIZED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        409: "CONFLICT",
    }.get(status, "ERROR")


def _message(response: Response) -> str:
    body = response.body if isinstance(response.body, dict) else {}
    if "message" in body:
        return str(body["message"])
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("title") or "")
    return ""

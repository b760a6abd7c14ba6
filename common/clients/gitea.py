"""Gitea API v1 client (https://<host>/api/v1)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import SERVICE_KEYS
from ..errors import NotFound
from ..http import RequestCounter, ServiceSession
from . import FirstAnswer, Record
from .shapes import Shape, many, shape

if TYPE_CHECKING:
    from ..config import Settings

MAX_LIMIT = 50  # Gitea clamps `limit` to [api] MAX_RESPONSE_ITEMS, 50 by default

# what the jobs rely on in Gitea's answers (common/clients/shapes.py)
VERSION = shape(version="str")
USER = shape(id="id", login="str")
REPO = shape(id="id", name="str")
ISSUE = shape(
    id="id",
    number="id",
    title="str",
    state="str",
    updated_at="time",
    body="str?",
    html_url="str?",
    pull_request="object?",
)


class GiteaClient:
    def __init__(self, settings: Settings, counter: RequestCounter, dry_run: bool = False) -> None:
        settings.require(*SERVICE_KEYS["gitea"])
        self.http = ServiceSession(
            "gitea",
            f"{settings.gitea_url}/api/v1",
            {"Authorization": f"token {settings.gitea_token}"},
            settings,
            counter=counter,
            dry_run=dry_run,
            cacheable=("version", "user"),
        )
        self.api = FirstAnswer(self.http, "GITEA_URL", "Gitea")
        self.page_size = min(settings.page_size, MAX_LIMIT)
        self.max_pages = settings.max_pages

    def version(self) -> str | None:
        return self.api.get_json("version", shape=VERSION).get("version")

    def me(self) -> Record:
        return self.api.get_json("user", shape=USER)

    def _pages(self, path: str, params: dict[str, Any], fields: Shape) -> tuple[list[Record], bool]:
        """Follow Link rel="next" (the shared pager). Returns (items, complete); complete is False
        when MAX_PAGES cut it. Every item is checked against `fields`."""
        items, complete = self.http.pages(
            path, dict(params, limit=self.page_size), page_size=self.page_size, max_pages=self.max_pages
        )
        return many(self.http, f"GET {self.http.path_of(path)}", items, fields), complete

    def list_repos(self, owner: str) -> list[Record]:
        """Repositories of an organisation, or of a user when no organisation has that name."""
        try:
            repos, _ = self._pages(f"orgs/{owner}/repos", {}, REPO)
        except NotFound:
            try:
                repos, _ = self._pages(f"users/{owner}/repos", {}, REPO)
            except NotFound:
                raise NotFound(
                    f"no organisation or user named {owner!r} (GITEA_ORGANIZATION)", service="gitea"
                ) from None
        return repos

    def list_issues(
        self, owner: str, repo: str, since: str | None = None, include_pulls: bool = False
    ) -> tuple[list[Record], bool]:
        """Issues (and pull requests when asked) of every state, updated at or after `since`
        (RFC 3339). Returns (items, complete)."""
        params: dict[str, Any] = {"state": "all"}
        if not include_pulls:
            params["type"] = "issues"
        if since:
            params["since"] = since
        try:
            return self._pages(f"repos/{owner}/{repo}/issues", params, ISSUE)
        except NotFound:
            raise NotFound(f"repository {owner}/{repo} not found", service="gitea") from None

"""Gitea API v1 client (https://<host>/api/v1)."""

from ..errors import NotFound
from ..http import ServiceSession
from . import FirstAnswer, is_record

MAX_LIMIT = 50  # Gitea clamps `limit` to [api] MAX_RESPONSE_ITEMS, 50 by default


class GiteaClient:
    def __init__(self, settings, counter, dry_run=False):
        settings.require("GITEA_URL", "GITEA_TOKEN")
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

    def version(self):
        return self.api.get_json("version", shape=is_record("version")).get("version")

    def me(self):
        return self.api.get_json("user", shape=is_record("id", "login"))

    def _pages(self, path, params):
        """Follow Link rel="next" (the shared pager). Returns (items, complete); complete is False
        when MAX_PAGES cut it."""
        return self.http.pages(
            path, dict(params, limit=self.page_size), page_size=self.page_size, max_pages=self.max_pages
        )

    def list_repos(self, owner):
        """Repositories of an organisation, or of a user when no organisation has that name."""
        try:
            repos, _ = self._pages(f"orgs/{owner}/repos", {})
        except NotFound:
            try:
                repos, _ = self._pages(f"users/{owner}/repos", {})
            except NotFound:
                raise NotFound(
                    f"no organisation or user named {owner!r} (GITEA_ORGANIZATION)", service="gitea"
                ) from None
        return repos

    def get_repo(self, owner, repo):
        return self.http.get_json(f"repos/{owner}/{repo}")

    def list_issues(self, owner, repo, since=None, include_pulls=False):
        """Issues (and pull requests when asked) of every state, updated at or after `since`
        (RFC 3339). Returns (items, complete)."""
        params = {"state": "all"}
        if not include_pulls:
            params["type"] = "issues"
        if since:
            params["since"] = since
        try:
            return self._pages(f"repos/{owner}/{repo}/issues", params)
        except NotFound:
            raise NotFound(f"repository {owner}/{repo} not found", service="gitea") from None

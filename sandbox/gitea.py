"""The Gitea stand-in (API under /api/v1), with the state methods tests use to set it up.

Reproduces what clients trip over: ``limit`` silently clamped to 50, ``X-Total-Count`` plus an
absolute ``Link`` header, ``state=open`` as the default, issues and pull requests in one list
(``type`` filters), newest first by creation, ``since``/``before`` filtering on the *updated*
time at whole-second granularity (inclusive), ``"pull_request": null`` on plain issues, owner
and repository names matched case-insensitively, and PATCH on an issue answering 201.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sandbox.clock import SandboxClock
from sandbox.gitea_json import issue_json, paging, paging_headers, repo_json, user_json
from sandbox.server import Request, Response, Service

BOT_LOGIN = "tracksync-bot"
VERSION = "1.26.3"


class GiteaService(Service):
    """Gitea state (accounts, repositories, issues) and the API handlers over it."""

    name = "gitea"
    api_prefix = "/api/v1"
    token = "gitea-sandbox-token-0123"

    def __init__(self) -> None:
        super().__init__()
        self.clock = SandboxClock()
        self._accounts: dict[str, dict[str, Any]] = {}  # lower login -> account
        self._repos: dict[tuple[str, str], dict[str, Any]] = {}  # (lower owner, lower name) -> repo
        self._next_id = {"account": 1, "repo": 1, "issue": 1}
        self._add_account(BOT_LOGIN, is_org=False, full_name="Tracksync Bot", is_admin=True)
        self.route("GET", "/version", lambda request: Response(200, {"version": VERSION}))
        self.route("GET", "/user", lambda request: Response(200, user_json(self._bot, self.root_url)))
        self.route("GET", "/user/repos", self._list_user_repos)
        self.route("GET", "/users/{username}/repos", self._list_owner_repos)
        self.route("GET", "/orgs/{org}/repos", self._list_org_repos)
        self.route("GET", "/repos/search", self._search_repos)
        self.route("GET", "/repos/{owner}/{repo}", self._get_repo)
        self.route("GET", "/repos/{owner}/{repo}/issues", self._list_issues)
        self.route("POST", "/repos/{owner}/{repo}/issues", self._create_issue)
        self.route("GET", "/repos/{owner}/{repo}/issues/{index}", self._get_issue)
        self.route("PATCH", "/repos/{owner}/{repo}/issues/{index}", self._edit_issue)

    # -- state API (for tests and seeds) ---------------------------------------------------
    def add_org(self, name: str, full_name: str = "") -> dict[str, Any]:
        with self.lock:
            return user_json(self._add_account(name, is_org=True, full_name=full_name), self.root_url)

    def add_user(self, login: str, full_name: str = "") -> dict[str, Any]:
        with self.lock:
            return user_json(self._add_account(login, is_org=False, full_name=full_name), self.root_url)

    def add_repo(self, owner: str, name: str, description: str = "") -> dict[str, Any]:
        """Create a repository of an existing user or organisation."""
        with self.lock:
            account = self._accounts.get(owner.lower())
            if account is None:
                raise KeyError(f"unknown owner {owner!r}")
            key = (owner.lower(), name.lower())
            if key in self._repos:
                raise ValueError(f"repository {owner}/{name} exists")
            now = self.clock.now()
            repo = {
                "id": self._take_id("repo"),
                "owner": account,
                "name": name,
                "description": description,
                "created": now,
                "updated": now,
                "issues": [],
            }
            self._repos[key] = repo
            return repo_json(repo, self.root_url)

    def delete_repo(self, owner: str, name: str) -> None:
        with self.lock:
            if self._repos.pop((owner.lower(), name.lower()), None) is None:
                raise KeyError(f"unknown repository {owner}/{name}")

    def add_issue(
        self,
        owner: str,
        repo: str,
        title: str,
        body: str = "",
        state: str = "open",
        pull: bool = False,
        poster: str | None = None,
    ) -> dict[str, Any]:
        """Create an issue (or a pull request, ``pull=True``) numbered after the last one.

        A closed pull request counts as merged. ``poster`` defaults to the token's user.
        """
        with self.lock:
            now = self.clock.now()
            issue = self.insert_issue(owner, repo, title, body, state, pull, poster, now, now)
            return issue_json(issue, self._repo(owner, repo), self.root_url)

    def insert_issue(
        self,
        owner: str,
        repo: str,
        title: str,
        body: str,
        state: str,
        pull: bool,
        poster: str | None,
        created: datetime,
        updated: datetime,
    ) -> dict[str, Any]:
        """Insert an issue with given times (seed helpers; call with ascending ``created``).

        Returns the internal record.
        """
        if state not in ("open", "closed"):
            raise ValueError("state must be 'open' or 'closed'")
        with self.lock:
            target = self._repo(owner, repo)
            author = self._accounts[(poster or BOT_LOGIN).lower()]
            issue = {
                "id": self._take_id("issue"),
                "number": len(target["issues"]) + 1,
                "title": title,
                "body": body,
                "is_pull": pull,
                "poster": author,
                "created": created,
                "updated": updated,
                "closed": updated if state == "closed" else None,
                "merged": pull and state == "closed",
                "content_version": 0,
            }
            target["issues"].append(issue)
            target["updated"] = max(target["updated"], updated)
            return issue

    def edit_issue(
        self,
        owner: str,
        repo: str,
        number: int,
        title: str | None = None,
        body: str | None = None,
        state: str | None = None,
    ) -> dict[str, Any]:
        """Change an issue; bumps ``updated_at`` (and ``closed_at`` when closing) to now."""
        with self.lock:
            target = self._repo(owner, repo)
            issue = self._issue(target, number)
            if issue is None:
                raise KeyError(f"unknown issue {owner}/{repo}#{number}")
            self._apply_edit(issue, title, body, state)
            return issue_json(issue, target, self.root_url)

    def issues(self, owner: str, repo: str) -> list[dict[str, Any]]:
        """All issues and pull requests of a repository as API JSON, by number."""
        with self.lock:
            target = self._repo(owner, repo)
            return [issue_json(issue, target, self.root_url) for issue in target["issues"]]

    def state(self) -> dict[str, Any]:
        root = self.root_url
        return {
            "accounts": [
                dict(user_json(account, root), is_org=account["is_org"]) for account in self._accounts.values()
            ],
            "repos": [
                dict(repo_json(repo, root), issues=[issue_json(issue, repo, root) for issue in repo["issues"]])
                for repo in self._repos.values()
            ],
        }

    def env(self, url: str, owner: str = "acme", **options: Any) -> dict[str, str]:
        return {"GITEA_URL": url, "GITEA_TOKEN": self.token, "GITEA_ORGANIZATION": owner}

    # -- service hooks ---------------------------------------------------------------------
    def authenticate(self, request: Request) -> Response | None:
        """``Authorization: token|Bearer <T>`` or deprecated ``?token=`` / ``?access_token=``.

        ``/version`` is public (as in Gitea) unless a wrong token is presented.
        """
        given = None
        scheme, _, value = (request.header("Authorization") or "").partition(" ")
        if scheme.lower() in ("token", "bearer") and value.strip():
            given = value.strip()
        elif request.arg("token") or request.arg("access_token"):
            given = request.arg("token") or request.arg("access_token")
        if given is None:
            if request.path == self.api_prefix + "/version":
                return None
            return self._error(401, "token is required")
        if given != self.token:
            return self._error(401, "invalid username, password or token")
        return None

    def not_found(self, request: Request, detail: str | None = None) -> Response:
        return Response(
            404, {"errors": [detail] if detail else [], "message": "not found", "url": self.root_url + "api/swagger"}
        )

    def method_not_allowed(self, request: Request) -> Response:
        return self._error(405, "method not allowed")

    def bad_json(self, request: Request) -> Response:
        return self._error(422, "invalid character in JSON body")

    def fault_response(self, status: int) -> Response:
        if status == 500:
            return self._error(500, "internal server error")
        return super().fault_response(status)

    # -- handlers --------------------------------------------------------------------------
    def _list_user_repos(self, request: Request) -> Response:
        return self._repo_page(request, sorted(self._repos.values(), key=_alphabetical))

    def _list_owner_repos(self, request: Request) -> Response:
        account = self._accounts.get(request.params["username"].lower())
        if account is None:
            return self.not_found(request, f"user redirect does not exist [name: {request.params['username']}]")
        return self._repo_page(request, self._repos_of(account))

    def _list_org_repos(self, request: Request) -> Response:
        account = self._accounts.get(request.params["org"].lower())
        if account is None or not account["is_org"]:
            return self.not_found(request, f"org does not exist [id: 0, name: {request.params['org']}]")
        return self._repo_page(request, self._repos_of(account))

    def _search_repos(self, request: Request) -> Response:
        keyword = (_form_value(request, "q") or "").lower()
        with_description = _form_value(request, "includeDesc") == "true"
        owner_id = _form_value(request, "uid")
        repos = [
            repo
            for repo in self._repos.values()
            if (keyword in repo["name"].lower() or (with_description and keyword in repo["description"].lower()))
            and (not owner_id or str(repo["owner"]["id"]) == owner_id)
        ]
        sort_keys = {
            "created": lambda r: (r["created"], r["id"]),
            "updated": lambda r: (r["updated"], r["id"]),
            "id": lambda r: r["id"],
        }
        repos.sort(
            key=sort_keys.get(_form_value(request, "sort") or "", _alphabetical),
            reverse=_form_value(request, "order") == "desc",
        )
        page, size = paging(request.query)
        chunk = repos[(page - 1) * size : page * size]
        headers = paging_headers(self.root_url, request.path, request.query, len(repos), size)
        return Response(200, {"ok": True, "data": [repo_json(repo, self.root_url) for repo in chunk]}, headers)

    def _get_repo(self, request: Request) -> Response:
        repo = self._find_repo(request)
        if repo is None:
            return self._repo_not_found(request)
        return Response(200, repo_json(repo, self.root_url))

    def _list_issues(self, request: Request) -> Response:
        repo = self._find_repo(request)
        if repo is None:
            return self._repo_not_found(request)
        try:
            since = _unix_seconds(_form_value(request, "since"))
            before = _unix_seconds(_form_value(request, "before"))
        except ValueError as error:
            return self._error(422, str(error))
        wanted_closed = {"closed": True, "all": None}.get(_form_value(request, "state") or "", False)
        wanted_pull = {"pulls": True, "issues": False}.get(_form_value(request, "type") or "")
        keyword = (_form_value(request, "q") or "").lower()
        poster = (_form_value(request, "created_by") or "").lower()
        assignment = _form_value(request, "assigned_by") or _form_value(request, "mentioned_by")
        matches = [
            issue
            for issue in reversed(repo["issues"])  # numbers follow creation: newest first
            if (wanted_closed is None or (issue["closed"] is not None) == wanted_closed)
            and (wanted_pull is None or issue["is_pull"] == wanted_pull)
            and (since is None or int(issue["updated"].timestamp()) >= since)
            and (before is None or int(issue["updated"].timestamp()) <= before)
            and (not keyword or keyword in issue["title"].lower() or keyword in issue["body"].lower())
            and (not poster or issue["poster"]["login"].lower() == poster)
            and not assignment  # nobody is assigned or mentioned in the sandbox
        ]
        page, size = paging(request.query)
        chunk = matches[(page - 1) * size : page * size]
        headers = paging_headers(self.root_url, request.path, request.query, len(matches), size)
        return Response(200, [issue_json(issue, repo, self.root_url) for issue in chunk], headers)

    def _create_issue(self, request: Request) -> Response:
        repo = self._find_repo(request)
        if repo is None:
            return self._repo_not_found(request)
        body = request.body if isinstance(request.body, dict) else {}
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            return self._error(422, "[Title]: Required")
        state = "closed" if body.get("closed") is True else "open"
        now = self.clock.now()
        issue = self.insert_issue(
            repo["owner"]["login"], repo["name"], title, str(body.get("body") or ""), state, False, None, now, now
        )
        return Response(201, issue_json(issue, repo, self.root_url))

    def _find_issue(self, request: Request) -> tuple[dict[str, Any] | None, dict[str, Any] | None, Response | None]:
        """(repo, issue, None), or (.., .., the 404 to answer) when either is missing."""
        repo = self._find_repo(request)
        if repo is None:
            return None, None, self._repo_not_found(request)
        issue = self._issue(repo, _int_or_zero(request.params["index"]))
        return repo, issue, None if issue is not None else self._issue_not_found(request, repo)

    def _get_issue(self, request: Request) -> Response:
        repo, issue, missing = self._find_issue(request)
        return missing or Response(200, issue_json(issue, repo, self.root_url))

    def _edit_issue(self, request: Request) -> Response:
        repo, issue, missing = self._find_issue(request)
        if missing:
            return missing
        body = request.body if isinstance(request.body, dict) else {}
        state = body.get("state")
        if state is not None and state not in ("open", "closed"):
            state = None  # Gitea ignores unknown states
        self._apply_edit(issue, body.get("title"), body.get("body"), state)
        return Response(201, issue_json(issue, repo, self.root_url))

    # -- helpers ---------------------------------------------------------------------------
    @property
    def _bot(self) -> dict[str, Any]:
        return self._accounts[BOT_LOGIN]

    def _add_account(self, login: str, is_org: bool, full_name: str = "", is_admin: bool = False) -> dict[str, Any]:
        if login.lower() in self._accounts:
            raise ValueError(f"account {login!r} exists")
        account = {
            "id": self._take_id("account"),
            "login": login,
            "full_name": full_name,
            "is_org": is_org,
            "is_admin": is_admin,
            "email": f"{login.lower()}@noreply.localhost",
            "created": self.clock.now(),
        }
        self._accounts[login.lower()] = account
        return account

    def _take_id(self, kind: str) -> int:
        value = self._next_id[kind]
        self._next_id[kind] = value + 1
        return value

    def _repo(self, owner: str, name: str) -> dict[str, Any]:
        repo = self._repos.get((owner.lower(), name.lower()))
        if repo is None:
            raise KeyError(f"unknown repository {owner}/{name}")
        return repo

    def _repos_of(self, account: dict[str, Any]) -> list[dict[str, Any]]:
        return sorted((repo for repo in self._repos.values() if repo["owner"] is account), key=_alphabetical)

    def _find_repo(self, request: Request) -> dict[str, Any] | None:
        return self._repos.get((request.params["owner"].lower(), request.params["repo"].lower()))

    @staticmethod
    def _issue(repo: dict[str, Any], number: int) -> dict[str, Any] | None:
        if not 1 <= number <= len(repo["issues"]):
            return None
        return repo["issues"][number - 1]

    def _apply_edit(self, issue: dict[str, Any], title: str | None, body: str | None, state: str | None) -> None:
        now = self.clock.now()
        if (title is not None and title != issue["title"]) or (body is not None and body != issue["body"]):
            issue["content_version"] += 1
        issue["title"] = title if title is not None else issue["title"]
        issue["body"] = body if body is not None else issue["body"]
        if state == "closed" and issue["closed"] is None:
            issue["closed"] = now
            issue["merged"] = issue["is_pull"]
        elif state == "open":
            issue["closed"] = None
            issue["merged"] = False
        issue["updated"] = now

    def _repo_page(self, request: Request, repos: list[dict[str, Any]]) -> Response:
        page, size = paging(request.query)
        chunk = repos[(page - 1) * size : page * size]
        headers = paging_headers(self.root_url, request.path, request.query, len(repos), size)
        return Response(200, [repo_json(repo, self.root_url) for repo in chunk], headers)

    def _repo_not_found(self, request: Request) -> Response:
        owner, name = request.params["owner"], request.params["repo"]
        return self.not_found(request, f"repository does not exist [id: 0, uid: 0, owner_name: {owner}, name: {name}]")

    def _issue_not_found(self, request: Request, repo: dict[str, Any]) -> Response:
        return self.not_found(
            request,
            f"issue does not exist [id: 0, repo_id: {repo['id']}, index: {_int_or_zero(request.params['index'])}]",
        )

    def _error(self, status: int, message: str) -> Response:
        return Response(status, {"message": message, "url": self.root_url + "api/swagger"})


def _alphabetical(repo: dict[str, Any]) -> tuple[str, int]:
    return repo["name"], repo["id"]


def _form_value(request: Request, name: str) -> str | None:
    """Go's FormValue: the first value of a query parameter."""
    values = request.query.get(name)
    return values[0] if values else None


def _int_or_zero(text: str) -> int:
    return int(text) if text.isdigit() else 0


def _unix_seconds(text: str | None) -> int | None:
    """Parse an RFC 3339 time to whole Unix seconds (Gitea compares updated_unix in seconds)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f'parsing time "{text}" as RFC 3339 failed') from None
    if moment.tzinfo is None or "T" not in text.upper():
        raise ValueError(f'parsing time "{text}" as RFC 3339 failed')
    return int(moment.timestamp())

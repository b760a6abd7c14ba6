"""What the Jira and Confluence stand-ins share: the deployment switch (Cloud or Data Center),
Atlassian authentication, the users, and the test hooks that answer chosen requests badly.

* Cloud: ``Authorization: Basic base64(email:api_token)``; one Atlassian account whose API token
  works for Jira and Confluence alike. Data Center: ``Authorization: Bearer <personal access
  token>``, one token per product. Anything else is 401.
* Users: Cloud identifies people by ``accountId`` (the same in Jira and Confluence); Data Center
  by ``name`` (the login, shared when Confluence uses Jira's user directory) and a user key. In a
  real installation Jira's ``key`` (``JIRAUSER10100``) is NOT Confluence's ``userKey`` (the
  ``ri:userkey`` of a mention, 32 hex digits): ``Credentials.distinct_user_keys = True`` plays
  that (a mention then resolves only through Confluence, ``GET /rest/api/user?key=``, to the
  ``username`` Jira assigns by ``{"name": ...}``); by default both products use Jira's keys.
* Hooks (``AtlassianService``): ``throttle(n, retry_after)`` answers the next ``n`` API requests
  429 with ``Retry-After``; ``fail_next(method, path_regex, status, times)`` answers matching
  requests with a 5xx (or any status) without performing them.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from sandbox.clock import MillisecondClock
from sandbox.server import Request, Response, Service

DEPLOYMENTS = ("cloud", "datacenter")
BOT_EMAIL = "tracksync-bot@acme.example"


@dataclass
class User:
    account_id: str  # Cloud
    name: str  # Data Center login (assignee {"name": ...})
    key: str  # Data Center Jira user key (GET /user?key=)
    display_name: str
    email: str
    distinct_key: str = ""  # what a real Data Center Confluence calls this user (32 hex digits)
    active: bool = True


def default_users() -> list[User]:
    return [
        User(
            "5b10a2844c20165700ede21g",
            "tracksync",
            "JIRAUSER10000",
            "tracksync bot",
            BOT_EMAIL,
            "8a7f80836a1b2c3d016a1b2c3d4e0000",
        ),
        User(
            "5b10ac8d82e05b22cc7d4ef5",
            "alice",
            "JIRAUSER10100",
            "Alice Example",
            "alice@acme.example",
            "8a7f80836a1b2c3d016a1b2c3d4e0001",
        ),
        User(
            "5b109f2e9729b51b54dc274d",
            "bob",
            "JIRAUSER10101",
            "Bob Example",
            "bob@acme.example",
            "8a7f80836a1b2c3d016a1b2c3d4e0002",
        ),
        User(
            "712020:0e4a7f3c-8a9b-4c2d-9e6f-1a2b3c4d5e6f",
            "carol",
            "JIRAUSER10102",
            "Carol Example",
            "carol@acme.example",
            "8a7f80836a1b2c3d016a1b2c3d4e0003",
        ),
    ]


@dataclass
class Credentials:
    """The one Atlassian account (Cloud) and the per-product personal access tokens (Data Center)."""

    email: str = BOT_EMAIL
    cloud_token: str = field(default_factory=lambda: "ATATT3x" + secrets.token_urlsafe(24))
    jira_pat: str = field(default_factory=lambda: "NjQ" + secrets.token_urlsafe(24))
    confluence_pat: str = field(default_factory=lambda: "MzE" + secrets.token_urlsafe(24))
    users: list[User] = field(default_factory=default_users)
    # Data Center: Confluence's user keys differ from Jira's, as in real installations (True), or
    # are Jira's keys (False, the default: a mention's ri:userkey then resolves in Jira too)
    distinct_user_keys: bool = False

    def confluence_key(self, user: User) -> str:
        """The user's key in Data Center Confluence (a mention's ``ri:userkey``)."""
        return user.distinct_key if self.distinct_user_keys else user.key

    def user_by(self, **attribute: str) -> User | None:
        ((name, value),) = attribute.items()
        if name == "confluence_key":
            return next((user for user in self.users if self.confluence_key(user) == value), None)
        return next((user for user in self.users if getattr(user, name) == value), None)

    @property
    def bot(self) -> User:
        user = self.user_by(email=self.email)
        assert user is not None
        return user


@dataclass
class FailRule:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int


class AtlassianService(Service):
    """A Jira or Confluence stand-in: deployment switch, auth, and the answer-badly hooks."""

    product = ""  # "jira" | "confluence"

    def __init__(self, credentials: Credentials, deployment: str = "cloud") -> None:
        super().__init__()
        self.credentials = credentials
        self.clock = MillisecondClock()
        self.deployment = "cloud"
        self.set_deployment(deployment)
        self._throttle_left = 0
        self._throttle_retry_after = 1
        self._fail_rules: list[FailRule] = []
        self.dc_context_path = ""  # Data Center under a context path, e.g. "/jira" or "/confluence"

    # -- deployment ------------------------------------------------------------------------
    @property
    def cloud(self) -> bool:
        return self.deployment == "cloud"

    def set_deployment(self, deployment: str) -> None:
        if deployment not in DEPLOYMENTS:
            raise ValueError(f"deployment must be one of {DEPLOYMENTS}, not {deployment!r}")
        self.deployment = deployment

    @property
    def pat(self) -> str:
        return self.credentials.jira_pat if self.product == "jira" else self.credentials.confluence_pat

    @property
    def token(self) -> str:  # type: ignore[override]
        return self.credentials.cloud_token if self.cloud else self.pat

    @property
    def context(self) -> str:
        """The site's context path: Confluence Cloud ``/wiki``; Data Center ``dc_context_path``."""
        if self.cloud:
            return "/wiki" if self.product == "confluence" else ""
        return self.dc_context_path

    @property
    def site(self) -> str:
        """The site root URL without a trailing slash (what ``JIRA_URL`` / ``CONFLUENCE_URL`` name)."""
        return self.root_url.rstrip("/") + self.context

    # -- hooks -----------------------------------------------------------------------------
    def throttle(self, requests: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``requests`` API requests 429 with ``Retry-After: retry_after``."""
        with self.lock:
            self._throttle_left = requests
            self._throttle_retry_after = retry_after

    def fail_next(self, method: str, path_regex: str, status: int = 500, times: int = 1) -> None:
        """Answer the next ``times`` requests whose method and path (full path, ``re.search``)
        match with ``status`` (not performed)."""
        with self.lock:
            self._fail_rules.append(FailRule(method.upper(), re.compile(path_regex), status, times))

    def clear_hooks(self) -> None:
        with self.lock:
            self._throttle_left = 0
            self._fail_rules.clear()

    # -- /_sandbox control endpoints (for a sandbox run by ``python -m sandbox``) ------------
    def control(self, method: str, action: str, body: Any, query: dict[str, list[str]]) -> Response | None:
        """``POST /_sandbox/<action>`` with a JSON object: the hooks of this service (see the
        README); None for an action it does not know. A bad body is 400."""
        if method != "POST":
            return None
        actions = self.control_actions()
        if action not in actions:
            return None
        arguments = body if isinstance(body, dict) else {}
        try:
            actions[action](**arguments)
        except Exception as error:  # noqa: BLE001 - a bad argument of a test hook: say which, never a traceback
            return Response(400, {"error": f"{action}: {type(error).__name__}: {error}"})
        return Response(200, {"ok": True})

    def control_actions(self) -> dict[str, Any]:
        return {"throttle": self.throttle, "fail-next": self.fail_next, "clear-hooks": self.clear_hooks}

    def handle(self, request: Request) -> Response:
        with self.lock:
            if self._throttle_left > 0:
                self._throttle_left -= 1
                return Response(429, text="Too Many Requests", headers={"Retry-After": str(self._throttle_retry_after)})
            for rule in self._fail_rules:
                if rule.times > 0 and rule.method == request.method and rule.pattern.search(request.path):
                    rule.times -= 1
                    return (
                        self.fault_response(rule.status)
                        if rule.status >= 500
                        else self.error(rule.status, "refused by a sandbox hook")
                    )
        return super().handle(request)

    # -- auth ------------------------------------------------------------------------------
    def current_user(self, request: Request) -> User | None:
        """The user the request authenticates as, or None."""
        header = request.header("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if self.cloud:
            if scheme.lower() != "basic":
                return None
            try:
                email, _, token = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            if token and secrets.compare_digest(token, self.credentials.cloud_token):
                return self.credentials.user_by(email=email)
            return None
        if scheme.lower() == "bearer" and secrets.compare_digest(value.strip(), self.pat):
            return self.credentials.bot
        return None

    def authenticate(self, request: Request) -> Response | None:
        if self.current_user(request) is None:
            return self.error(401, "You are not authenticated. Authentication required to perform this operation.")
        return None

    def bad_json(self, request: Request) -> Response:
        return self.error(400, "Unexpected character: the request body is not valid JSON.")

    def not_found(self, request: Request) -> Response:
        return self.error(404, f"No resource found at {request.path}")

    def error(self, status: int, message: str, errors: dict[str, str] | None = None) -> Response:
        """An error answer in Jira's shape; Confluence answers in its own (it overrides this)."""
        return Response(status, {"errorMessages": [message] if message else [], "errors": errors or {}})

    def time_text(self, when: Any) -> str:
        """Jira's and Confluence v1's time format: ``2026-11-27T17:21:36.123+0000``."""
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"

    def iso_z(self, when: Any) -> str:
        """Confluence v2's format: ``2026-11-27T17:21:36.123Z``."""
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"

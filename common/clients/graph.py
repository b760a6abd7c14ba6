"""Microsoft Graph v1.0 client (https://graph.microsoft.com/v1.0): users, mailbox settings and
calendarView delta rounds, with an app-only token from the identity platform.

Token: client-credentials grant, POST {GRAPH_LOGIN_URL}/{tenant}/oauth2/v2.0/token (scope
https://graph.microsoft.com/.default). It is asked for lazily, once per client, kept in memory only
(never written, never logged, never in an error text), renewed shortly before it expires and once
more when Graph answers 401 InvalidAuthenticationToken. A refused secret or client id stops the
run with 77 naming Microsoft Graph and the key; a tenant that does not exist with 78 naming
GRAPH_TENANT_ID; a 403 with 77 naming the application permission the call needs.

Mailbox-level failures (no such user, no mailbox, a request Graph refuses for that mailbox) raise
MailboxError, an item-level error: the job reports that mailbox and goes on with the others. An
expired delta link (410, SyncStateNotFound) raises DeltaExpired so the job starts a new round.
429 and 503 with Retry-After are waited out by the shared retry machinery; at most
MAILBOX_CONCURRENCY requests are in flight per mailbox (Outlook's own limit is 4).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests

from ..config import SERVICE_KEYS
from ..errors import PARTIAL, AuthError, ConfigError, RateLimited, ServiceUnavailable, SyncError, UnknownOutcome
from ..http import MAX_RETRY_AFTER, RequestCounter, ServiceSession, origin_of
from ..logs import add_secret
from . import NotTheApi, Record

if TYPE_CHECKING:
    from ..config import Settings

PRODUCT = "Microsoft Graph"
SCOPE = "https://graph.microsoft.com/.default"
MAILBOX_CONCURRENCY = 4  # requests in flight per mailbox (Outlook allows 4 per app and mailbox)
MAX_PAGE_SIZE = 1000  # odata.maxpagesize Graph honours for calendar views
USERS_PAGE = 999  # the largest $top /users accepts
TOKEN_MARGIN = 120  # seconds before its expiry a token is renewed
TOKEN_SENDS = 4  # a token request that got no usable answer (dropped, 5xx, 429) is sent at most this often
USER_FIELDS = "id,mail,userPrincipalName,displayName"
TOKEN_TEXT = re.compile(r"[A-Za-z0-9._~+/=-]{8,16384}")  # what may go into an Authorization header
MAILBOX = re.compile(r"[^\s/\\?#%]+@[^\s/\\?#%@]+")

# which application permission each kind of call needs (named in a 403)
PERMISSION_USERS = "User.Read.All"
PERMISSION_SETTINGS = "MailboxSettings.Read"
PERMISSION_CALENDARS = "Calendars.Read"

# identity platform error codes (AADSTS...) that mean the tenant is wrong: a configuration error
TENANT_CODES = {90002, 900023, 90072, 900022, 90019}
SECRET_CODES = {7000215, 7000222, 7000216, 700027}  # wrong, expired or missing secret
CLIENT_CODES = {700016, 700038, 7000112, 700024}  # unknown or disabled application


@dataclass
class DeltaPage:
    """One page of a calendarView delta round: raw Graph events (``@removed`` rows included);
    `delta_link` is set on the round's final page only (store it, follow it next time)."""

    events: list[Record] = field(default_factory=list)
    delta_link: str | None = None


class MailboxError(SyncError):
    """One mailbox cannot be read (no such user, no mailbox or calendar, refused for it): an
    item-level failure; the job reports the mailbox and syncs the others (exit 3)."""

    exit_code = PARTIAL

    def __init__(self, mailbox: str, reason: str) -> None:
        super().__init__(f"{PRODUCT}: mailbox {mailbox}: {reason}")
        self.mailbox = mailbox
        self.reason = reason


class DeltaExpired(SyncError):
    """The stored delta link is no longer valid (410 Gone / SyncStateNotFound): start a new round."""

    exit_code = PARTIAL

    def __init__(self, mailbox: str, detail: str) -> None:
        super().__init__(f"{PRODUCT}: mailbox {mailbox}: the delta link expired ({detail}); a new round is needed")
        self.mailbox = mailbox


def graph_time(moment: datetime) -> str:
    """An instant as Graph's query parameters take it: ``2026-11-03T09:00:00Z`` (UTC)."""
    if moment.tzinfo is None:
        raise ValueError("calendar windows need aware datetimes")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _odata_error(response: requests.Response) -> tuple[str, str] | None:
    """(code, message) of a Graph OData error body, or None when the body is not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("code"), str):
        return None
    message = " ".join(str(error.get("message") or "").split())
    code = error["code"] if re.fullmatch(r"[A-Za-z0-9_.]{1,80}", error["code"]) else "error"
    return code, "".join(c for c in message if c.isprintable())[:200]


WRONG_PATH_MESSAGES = ("Resource not found for the segment", "Invalid version")


class GraphClient:
    def __init__(
        self,
        settings: Settings,
        counter: RequestCounter,
        dry_run: bool = False,
        page_size: int | None = None,
    ) -> None:
        settings.require(*SERVICE_KEYS["graph"])
        self.tenant = settings.graph_tenant_id
        self.client_id = settings.graph_client_id
        self._secret = settings.graph_client_secret
        self.page_size = max(1, min(page_size or settings.page_size, MAX_PAGE_SIZE))
        self.http = ServiceSession(
            "graph",
            f"{settings.graph_url}/v1.0",
            {"Prefer": f'outlook.timezone="UTC", odata.maxpagesize={self.page_size}'},
            settings,
            counter=counter,
            dry_run=dry_run,
            token_key="GRAPH_CLIENT_SECRET",
        )
        # the token request is a POST but writes nothing: it is allowed under --dry-run, and it is
        # counted as a request of graph, not as a write (its own counter is folded into `counter`)
        self.counter = counter
        self._login_counter = RequestCounter()
        self._login_folded = 0
        self.login = ServiceSession(
            "graph",
            f"{settings.graph_login_url}/{quote(self.tenant, safe='')}/oauth2/v2.0",
            {},
            settings,
            counter=self._login_counter,
            dry_run=False,
            token_key="GRAPH_CLIENT_SECRET",
        )
        self.login.url_key = "GRAPH_LOGIN_URL"
        self._token: str | None = None  # in memory only
        self._token_renew_at = 0.0  # time.monotonic() after which the token is renewed
        self._token_deadline = 0.0  # time.monotonic() when it expires
        self._token_lock = threading.Lock()
        self.tokens_requested = 0
        self._slots_lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._proven = False

    # -- token -------------------------------------------------------------------------------
    def token_expires_in(self) -> float:
        """Seconds the token in memory has left (asking for one first if there is none)."""
        self._current_token()
        return max(0.0, self._token_deadline - time.monotonic())

    def _current_token(self, refused: str | None = None) -> str:
        """The token to send: the one in memory while it is fresh, else a new one. After a 401,
        `refused` is the token that was refused: renewed once, unless another thread already
        did (however many threads ask at once, one token request goes out)."""
        with self._token_lock:
            if self._token is not None:
                if refused is not None and self._token != refused:
                    return self._token
                if refused is None and time.monotonic() < self._token_renew_at:
                    return self._token
            token, lifetime = self._request_token()
            add_secret(token)  # from now on redacted wherever it might be printed or logged
            now = time.monotonic()
            self._token, self._token_deadline = token, now + lifetime
            self._token_renew_at = now + max(lifetime - TOKEN_MARGIN, lifetime / 2)
            self.http.session.headers["Authorization"] = f"Bearer {token}"
            return token

    def _request_token(self) -> tuple[str, float]:
        form = {
            "client_id": self.client_id,
            "client_secret": self._secret,
            "scope": SCOPE,
            "grant_type": "client_credentials",
        }
        try:
            return self._send_token_request(form)
        finally:
            self._fold_login_requests()

    def _send_token_request(self, form: dict[str, str]) -> tuple[str, float]:
        response: requests.Response | None = None
        for attempt in range(1, TOKEN_SENDS + 1):
            try:
                response = self.login.request("POST", "token", data=form, ok=range(200, 600))
            except UnknownOutcome:  # no answer: asking again for a token is harmless
                response = None
                if attempt < TOKEN_SENDS:
                    time.sleep(min(0.2 * attempt, 2))
                    continue
                raise ServiceUnavailable(
                    f"{PRODUCT}: the token endpoint at GRAPH_LOGIN_URL did not answer; try again later"
                ) from None
            if response.status_code in (429, 500, 502, 503, 504) and attempt < TOKEN_SENDS:
                wait = _retry_after(response)
                if wait is not None and wait > MAX_RETRY_AFTER:
                    break
                time.sleep(wait if wait is not None else min(0.2 * attempt, 2))
                continue
            break
        assert response is not None
        self.tokens_requested += 1
        return self._token_answer(response)

    def _fold_login_requests(self) -> None:
        """Count the token requests sent since the last fold as requests (not writes) of graph."""
        sent = self._login_counter.totals()["requests"]
        for _ in range(sent - self._login_folded):
            self.counter.add("graph", None)
        self._login_folded = sent

    def _token_answer(self, response: requests.Response) -> tuple[str, float]:
        status = response.status_code
        where = "POST {GRAPH_LOGIN_URL}/{GRAPH_TENANT_ID}/oauth2/v2.0/token"
        try:
            body = response.json()
        except ValueError:
            body = None
        if status == 200:
            token = body.get("access_token") if isinstance(body, dict) else None
            lifetime = body.get("expires_in") if isinstance(body, dict) else None
            if (
                not isinstance(token, str)
                or not TOKEN_TEXT.fullmatch(token)
                or not isinstance(lifetime, (int, float, str))
            ):
                raise NotTheApi("GRAPH_LOGIN_URL", "Microsoft identity platform", f"{where} answered without a token")
            try:
                seconds = float(lifetime)
            except ValueError:
                seconds = 3599.0
            if not math.isfinite(seconds) or seconds <= 0:
                seconds = 60.0  # an unreadable lifetime: a short one, so a bad answer is not kept long
            return token, min(seconds, 86400.0)
        if status == 429:
            raise RateLimited(f"{PRODUCT}: the token endpoint keeps answering 429; try again later")
        if status >= 500:
            raise ServiceUnavailable(f"{PRODUCT}: the token endpoint answered {status}; try again later")
        if not isinstance(body, dict) or not isinstance(body.get("error"), str):
            raise NotTheApi("GRAPH_LOGIN_URL", "Microsoft identity platform", f"{where} answered {status}")
        error = body["error"] if re.fullmatch(r"[a-z_]{1,40}", body["error"]) else "error"
        listed = body.get("error_codes")
        listed = listed if isinstance(listed, list) else []  # a server may send any type here
        codes = {c for c in listed if isinstance(c, int) and not isinstance(c, bool)}
        aadsts = f"AADSTS{min(codes)}" if codes else error
        description = str(body.get("error_description") or "")
        if codes & TENANT_CODES or "tenant" in description.lower() and "not found" in description.lower():
            raise ConfigError(
                "GRAPH_TENANT_ID",
                f"{PRODUCT} sign-in: tenant {self.tenant!r} does not exist ({aadsts}); "
                "use the directory (tenant) id or its primary domain",
            )
        if codes & CLIENT_CODES or error == "unauthorized_client":
            raise AuthError(
                f"{PRODUCT}: the application {self.client_id!r} is not registered in the tenant ({aadsts}); "
                "check GRAPH_CLIENT_ID",
            )
        if codes & SECRET_CODES or error == "invalid_client":
            raise AuthError(
                f"{PRODUCT}: the client secret was refused ({aadsts}: wrong or expired); check GRAPH_CLIENT_SECRET",
            )
        raise AuthError(
            f"{PRODUCT}: the token request was refused ({status} {error}, {aadsts}); "
            "check GRAPH_TENANT_ID, GRAPH_CLIENT_ID and GRAPH_CLIENT_SECRET",
        )

    # -- requests ------------------------------------------------------------------------------
    def _slot(self, mailbox: str) -> threading.BoundedSemaphore:
        with self._slots_lock:
            return self._slots.setdefault(mailbox.lower(), threading.BoundedSemaphore(MAILBOX_CONCURRENCY))

    def _get(
        self,
        path: str,
        params: dict[str, Any] | None,
        permission: str,
        mailbox: str | None = None,
    ) -> Any:
        """GET one Graph resource (a path or a next/delta link on GRAPH_URL's origin) as JSON.
        401 InvalidAuthenticationToken: a new token, once; 403: AuthError naming `permission`;
        404 and other refusals on a mailbox's path: MailboxError; 410: DeltaExpired."""
        slot = self._slot(mailbox) if mailbox else None
        if slot is not None:
            slot.acquire()
        try:
            token = self._current_token()
            response = self.http.request("GET", path, params=params, ok=range(200, 500))
            if response.status_code == 401:
                token = self._current_token(refused=_sent_token(response) or token)
                response = self.http.request("GET", path, params=params, ok=range(200, 500))
        finally:
            if slot is not None:
                slot.release()
        return self._answer(response, path, permission, mailbox)

    def _answer(self, response: requests.Response, path: str, permission: str, mailbox: str | None) -> Any:
        status = response.status_code
        where = f"GET {_shown(path)}"
        if status == 200:
            try:
                body = response.json()
            except ValueError:
                raise NotTheApi("GRAPH_URL", PRODUCT, f"{where} answered 200 with a body that is not JSON") from None
            if not isinstance(body, dict):
                raise NotTheApi("GRAPH_URL", PRODUCT, f"{where} answered JSON of another shape")
            self._proven = True
            return body
        error = _odata_error(response)
        code, message = error or ("", "")
        if error is None and status not in (429,) and not self._proven:
            raise NotTheApi("GRAPH_URL", PRODUCT, f"{where} answered {status}")
        if status == 401:
            raise AuthError(
                f"{PRODUCT}: the access token was refused twice ({code or 401}); check that GRAPH_TENANT_ID is the "
                "tenant of the mailboxes and that the app registration is enabled",
            )
        if status == 403:
            raise AuthError(
                f"{PRODUCT}: permission refused ({code or 403}) for {where}: the app GRAPH_CLIENT_ID needs the "
                f"application permission {permission} with admin consent",
            )
        if status == 400 and code == "BadRequest" and message.startswith(WRONG_PATH_MESSAGES):
            # Graph's answer to a path it has no resource for: ours are fixed, so GRAPH_URL has a path too many
            raise NotTheApi("GRAPH_URL", PRODUCT, f"{where} answered 400: {message[:120]}")
        if status == 410 or "syncstate" in code.lower() or "resync" in code.lower():
            raise DeltaExpired(mailbox or "?", code or str(status))
        if mailbox is not None and status != 429:
            reason = {
                "MailboxNotEnabledForRESTAPI": "has no mailbox or calendar on Exchange Online",
                "ErrorInvalidUser": "no such user in the tenant",
                "ResourceNotFound": "no such user or calendar",
                "Request_ResourceNotFound": "no such user in the tenant",
                "ErrorItemNotFound": "no calendar found",
            }.get(code, message or "refused")
            raise MailboxError(mailbox, f"{reason} ({status} {code})" if code else f"{reason} ({status})")
        if status == 404:
            raise NotTheApi("GRAPH_URL", PRODUCT, f"{where} answered 404")
        if status == 429:
            raise RateLimited(f"{PRODUCT}: rate limited (429) beyond the retries; try again later")
        raise ServiceUnavailable(f"{PRODUCT}: {where} refused ({status} {code}): {message}")

    def _next(self, body: dict[str, Any], key: str) -> str | None:
        link = body.get(key)
        if link is None:
            return None
        if not isinstance(link, str) or not link:
            raise NotTheApi("GRAPH_URL", PRODUCT, f"{key} is not a link")
        self.http.url(link)  # refuses a link to another origin before anything is sent there
        return link

    # -- API -----------------------------------------------------------------------------------
    def users(self) -> Iterator[Record]:
        """Every user with a mail address (``id``, ``mail``, ``userPrincipalName``,
        ``displayName``), following ``@odata.nextLink``."""
        path: str | None = "users"
        params: dict[str, Any] | None = {"$select": USER_FIELDS, "$top": min(self.page_size, USERS_PAGE)}
        seen: set[str] = set()  # a server that links back to a page it gave would never end
        while path is not None:
            body = self._get(path, params, PERMISSION_USERS)
            values = body.get("value")
            if not isinstance(values, list):
                raise NotTheApi("GRAPH_URL", PRODUCT, "GET /v1.0/users answered JSON without a 'value' list")
            for user in values:
                if isinstance(user, dict) and user.get("mail"):
                    yield user
            path, params = self._next(body, "@odata.nextLink"), None
            if path is not None and path in seen:
                raise ServiceUnavailable(f"{PRODUCT}: GET /v1.0/users: a next link repeats; reading stopped")
            seen.add(path or "")

    def mailbox_settings(self, mailbox: str) -> Record:
        """The mailbox's settings; ``timeZone`` is a Windows or an IANA zone name."""
        return self._get(f"users/{self._segment(mailbox)}/mailboxSettings", None, PERMISSION_SETTINGS, mailbox)

    def calendar_probe(self, mailbox: str, start: datetime, end: datetime) -> int:
        """Read at most one event of a calendar view (a permission check); returns how many came."""
        body = self._get(
            f"users/{self._segment(mailbox)}/calendarView",
            {"startDateTime": graph_time(start), "endDateTime": graph_time(end), "$top": 1},
            PERMISSION_CALENDARS,
            mailbox,
        )
        values = body.get("value")
        if not isinstance(values, list):
            raise NotTheApi("GRAPH_URL", PRODUCT, "GET calendarView answered JSON without a 'value' list")
        return len(values)

    def calendar_delta(
        self, mailbox: str, start: datetime, end: datetime, delta_link: str | None = None
    ) -> Iterator[DeltaPage]:
        """One delta round of the mailbox's calendar view: a new one over [start, end), or, with
        `delta_link`, what changed since the round that gave it. Pages follow ``@odata.nextLink``;
        the last one carries the new ``@odata.deltaLink``."""
        path: str | None
        params: dict[str, Any] | None
        if delta_link:
            path, params = delta_link, None
            if origin_of(delta_link) != origin_of(self.http.base):  # GRAPH_URL changed since: never sent there
                raise DeltaExpired(mailbox, "the stored delta link is not on GRAPH_URL")
        else:
            path = f"users/{self._segment(mailbox)}/calendarView/delta"
            params = {"startDateTime": graph_time(start), "endDateTime": graph_time(end)}
        seen: set[str] = set()  # a server that links back to a page it gave would never end
        while path is not None:
            body = self._get(path, params, PERMISSION_CALENDARS, mailbox)
            # a page of another shape or a loop is the service's fault, not the mailbox's: the run
            # stops (nothing is written after a bad read), naming the service and the request
            where = f"GET users/{mailbox}/calendarView/delta"
            values = body.get("value")
            if not isinstance(values, list):
                raise NotTheApi("GRAPH_URL", PRODUCT, f"{where} answered a page without a 'value' list")
            next_link = self._next(body, "@odata.nextLink")
            delta = None if next_link else self._next(body, "@odata.deltaLink")
            if next_link is None and delta is None:
                raise ServiceUnavailable(
                    f"{PRODUCT}: {where}: a page with neither @odata.nextLink nor @odata.deltaLink; reading stopped"
                )
            if next_link is not None and next_link in seen:
                raise ServiceUnavailable(f"{PRODUCT}: {where}: a next link repeats an earlier page; reading stopped")
            yield DeltaPage([v for v in values if isinstance(v, dict)], delta)
            seen.add(next_link or "")
            path, params = next_link, None

    def _segment(self, mailbox: str) -> str:
        if not MAILBOX.fullmatch(mailbox or ""):
            raise MailboxError(str(mailbox)[:80], "not an e-mail address")
        return quote(mailbox, safe="@")


def _sent_token(response: requests.Response) -> str | None:
    header = response.request.headers.get("Authorization") if response.request is not None else None
    return header.split(" ", 1)[1] if isinstance(header, str) and " " in header else None


def _retry_after(response: requests.Response) -> float | None:
    try:
        return max(float(response.headers.get("Retry-After", "")), 0.0)
    except ValueError:
        return None


def _shown(path: str) -> str:
    """A path or link as an error may show it: the path only, no query (no skip or delta token)."""
    return "/" + path.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0] if "://" in path else path.split("?")[0]

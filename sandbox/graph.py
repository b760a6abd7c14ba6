"""The Microsoft Graph stand-in: the identity platform's token endpoint and Graph v1.0 (users,
mailboxSettings, calendarView/delta) on one port.

``GRAPH_URL`` and ``GRAPH_LOGIN_URL`` are both this server's root: Graph is under ``/v1.0``, the
token endpoint is ``POST /{tenant}/oauth2/v2.0/token`` (form body, client-credentials grant).
Reproduced:

* Token: unknown tenant → 400 ``invalid_request`` AADSTS90002; unknown client id → 400
  ``unauthorized_client`` AADSTS700016; wrong secret → 401 ``invalid_client`` AADSTS7000215;
  another scope → 400 ``invalid_scope`` AADSTS70011. Tokens live ``token_ttl`` seconds (3599);
  ``expire_tokens()`` ends every issued one at once.
* Graph: ``Authorization: Bearer``; none, unknown or expired → 401 ``InvalidAuthenticationToken``
  (with ``WWW-Authenticate``). A permission the app lacks (``revoke("Calendars.Read")``) → 403
  (``ErrorAccessDenied`` on mailbox data, ``Authorization_RequestDenied`` on users). An unknown
  user → 404 ``ErrorInvalidUser``; a user without a mailbox (``remove_mailbox``) → 404
  ``MailboxNotEnabledForRESTAPI``.
* ``/users``: ``$top`` (default 100, at most 999), ``$select``, ``@odata.nextLink`` with
  ``$skiptoken``; a user without a mail address is listed too (``mail: null``).
* ``/users/{id}/calendarView/delta``: ``startDateTime`` + ``endDateTime`` start a round; pages of
  ``Prefer: odata.maxpagesize`` (default 10, ``Preference-Applied`` answered) linked by
  ``@odata.nextLink`` (``$skiptoken``) up to the ``@odata.deltaLink`` (``$deltatoken``). A delta
  link gives what changed since its round: changed or new events in full, ``@removed``
  ``deleted`` for deleted ones and ``changed`` for ones moved out of the window. An unknown or
  expired delta token (``expire_delta_tokens()``) → 410 ``SyncStateNotFound``. Recurring series
  come expanded: one event per occurrence (``type`` occurrence or exception, ``seriesMasterId``);
  the series master itself is never listed. ``Prefer: outlook.timezone="…"`` (Windows or IANA
  name) sets the zone of ``start``/``end``; default UTC. All-day events are midnight to midnight
  of their dates in whatever zone is asked for.
* ``/users/{id}/calendarView``: the window's events in UTC, ``$top`` (default 10) and ``$skip``.
* Throttling: ``throttle(n, status=429|503, retry_after=1, mailbox=None)`` answers the next n
  requests with that status, ``Retry-After`` and an OData error; more than
  ``concurrency_limit`` (4) requests in flight for one mailbox → 429 ``ApplicationThrottled``
  (``max_in_flight`` records the most seen; ``handler_latency_ms`` makes requests overlap).

State API: ``add_user``, ``add_event``, ``add_series``, ``move_event``, ``edit_event``,
``delete_event``, ``cancel_event``, ``remove_mailbox`` / ``restore_mailbox``, ``events(mailbox)``,
``revoke`` / ``grant``, ``expire_tokens``, ``expire_delta_tokens``, ``throttle``.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from sandbox.clock import SandboxClock
from sandbox.graph_json import (
    event_json,
    local_midnights,
    mailbox_settings_json,
    make_id,
    odata_error,
    removed_json,
    token_error,
    user_json,
    zone_of,
)
from sandbox.server import Request, Response, Service

V1 = "/v1.0"
TENANT_ID = "4b1c2d3e-5f60-4a7b-8c9d-0e1f2a3b4c5d"
TENANT_DOMAIN = "acme.onmicrosoft.com"
CLIENT_ID = "7d2e9f40-3c1b-4e8a-9b6f-5a4c3d2e1f00"
CLIENT_SECRET = "graph-sandbox-secret~0123456789abcdef"
SCOPE = "https://graph.microsoft.com/.default"
PERMISSIONS = ("Calendars.Read", "User.Read.All", "MailboxSettings.Read")
DEFAULT_PAGE = 10
MAX_PAGE = 1000
TOKEN_PATH = re.compile(r"/([^/]+)/oauth2/v2\.0/token")
PREFER_ZONE = re.compile(r'outlook\.timezone\s*=\s*"([^"]*)"')
PREFER_PAGE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)")


def _parse_instant(text: str | None) -> datetime | None:
    """An ISO 8601 query time; without an offset it is UTC (as Graph reads it)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _plain(value: Any) -> Any:
    """A state value as JSON: datetimes and dates as ISO strings."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _aware(moment: datetime | str) -> datetime:
    if isinstance(moment, str):
        parsed = _parse_instant(moment)
        if parsed is None:
            raise ValueError(f"not an ISO 8601 time: {moment!r}")
        return parsed
    if moment.tzinfo is None:
        raise ValueError("times must be aware (or ISO strings with an offset)")
    return moment.astimezone(UTC)


DELTA_MISBEHAVIOURS = ("loop_next", "foreign_next", "no_links", "no_value")


class GraphService(Service):
    """Tenant, app registration, users with mailboxes and events, and the Graph handlers."""

    name = "graph"
    api_prefix = ""  # the token endpoint (/{tenant}/oauth2/...) and Graph (/v1.0) share the port
    token = CLIENT_SECRET  # the secret tracksync is configured with (sb.tokens["graph"])

    def __init__(self) -> None:
        super().__init__()
        self.clock = SandboxClock()
        self.tenant_id, self.tenant_domain, self.client_id = TENANT_ID, TENANT_DOMAIN, CLIENT_ID
        self.client_secret = CLIENT_SECRET
        self.token_ttl = 3599
        self.granted: set[str] = set(PERMISSIONS)
        self.concurrency_limit = 4
        self.handler_latency_ms = 0.0
        self.max_in_flight: dict[str, int] = {}
        self.tokens_issued = 0
        self._tokens: dict[str, float] = {}  # access token -> expiry (unix seconds)
        self._users: dict[str, dict[str, Any]] = {}  # id -> user
        self._events: dict[str, dict[str, dict[str, Any]]] = {}  # user id -> event id -> event
        self._masters: dict[str, dict[str, Any]] = {}  # series master id -> master
        self._seq = 0
        self._rounds: dict[str, dict[str, Any]] = {}  # skiptoken -> delta round page state
        self._user_pages: dict[str, list[str]] = {}  # skiptoken -> user ids still to list
        self._delta_tokens: dict[str, dict[str, Any]] = {}
        self._throttles: list[dict[str, Any]] = []
        self._misbehaviour: dict[str | None, str] = {}  # mailbox user id (None = all) -> DELTA_MISBEHAVIOURS
        self._in_flight: dict[str, int] = {}
        self._flight_lock = threading.Lock()
        self.route("POST", "/{tenant}/oauth2/v2.0/token", self._token)
        self.route("GET", V1 + "/users", self._list_users)
        self.route("GET", V1 + "/users/{user}", self._get_user)
        self.route("GET", V1 + "/users/{user}/mailboxSettings", self._mailbox_settings)
        self.route("GET", V1 + "/users/{user}/calendarView/delta", self._delta)
        self.route("GET", V1 + "/users/{user}/calendarView", self._calendar_view)

    # -- state API (for tests and seeds) ---------------------------------------------------
    @property
    def issued_tokens(self) -> list[str]:
        """Every access token handed out (for tests that look for leaks)."""
        with self.lock:
            return list(self._tokens)

    def add_user(
        self, mail: str | None, display_name: str, time_zone: str = "W. Europe Standard Time", mailbox: bool = True
    ) -> dict[str, Any]:
        """A user; `mail` None = no mail address (a service account); `time_zone` Windows or IANA."""
        with self.lock:
            upn = mail or f"{display_name.lower().replace(' ', '.')}@{self.tenant_domain}"
            user = {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"graph-user:{upn.lower()}")),
                "mail": mail,
                "upn": upn,
                "display_name": display_name,
                "time_zone": time_zone,
                "has_mailbox": mailbox and mail is not None,
            }
            self._users[user["id"]] = user
            self._events[user["id"]] = {}
            return dict(user)

    def remove_mailbox(self, mail: str) -> None:
        """The user stays, the mailbox is gone (404 MailboxNotEnabledForRESTAPI)."""
        with self.lock:
            self._user(mail)["has_mailbox"] = False

    def restore_mailbox(self, mail: str) -> None:
        with self.lock:
            self._user(mail)["has_mailbox"] = True

    def delete_user(self, mail: str) -> None:
        """The user is gone altogether (404 ErrorInvalidUser)."""
        with self.lock:
            user = self._user(mail)
            del self._users[user["id"]]

    def set_time_zone(self, mail: str, time_zone: str) -> None:
        with self.lock:
            self._user(mail)["time_zone"] = time_zone

    def add_event(
        self,
        mail: str,
        subject: str,
        start: datetime | str | date,
        end: datetime | str | date,
        *,
        categories: Iterable[str] = (),
        show_as: str = "busy",
        response: str = "accepted",
        sensitivity: str = "normal",
        is_cancelled: bool = False,
        is_all_day: bool = False,
        organizer: str | None = None,
        body: str = "",
        location: str = "",
    ) -> dict[str, Any]:
        """A single event. Timed: aware datetimes or ISO strings with an offset. All-day: dates
        (``is_all_day=True``; `end` is the day after the last day). `response` is the mailbox
        owner's answer (accepted, tentativelyAccepted, declined, notResponded, none); with an
        `organizer` other than the mailbox it is an invitation."""
        with self.lock:
            user = self._user(mail)
            event = self._new_event(user, subject, start, end, is_all_day)
            event.update(
                categories=list(categories),
                show_as=show_as,
                response=response,
                sensitivity=sensitivity,
                is_cancelled=is_cancelled,
                organizer=organizer,
                body=body,
                location=location,
            )
            self._events[user["id"]][event["id"]] = event
            return self._view(event)

    def add_series(
        self,
        mail: str,
        subject: str,
        first_start: datetime | str,
        first_end: datetime | str,
        count: int,
        *,
        interval_days: int = 7,
        categories: Iterable[str] = (),
        **fields: Any,
    ) -> dict[str, Any]:
        """A recurring series (weekly by default) of `count` occurrences, expanded at once into
        occurrence events (``type`` occurrence, ``seriesMasterId`` the master's id). Returns
        ``{"master_id", "occurrences": [event views]}``. The local wall time stays the same across
        DST changes in the mailbox's zone, as Outlook keeps it."""
        with self.lock:
            user = self._user(mail)
            zone = zone_of(user["time_zone"]) or UTC
            start, end = _aware(first_start), _aware(first_end)
            master_id = make_id("master", user["id"], subject, start.isoformat(), self._next_seq())
            ical = make_id("ical", master_id)[6:]
            self._masters[master_id] = {"id": master_id, "user_id": user["id"], "subject": subject}
            occurrences = []
            local_start, local_end = start.astimezone(zone), end.astimezone(zone)
            for index in range(count):
                shift = timedelta(days=interval_days * index)
                occ_start = (local_start.replace(tzinfo=None) + shift).replace(tzinfo=zone).astimezone(UTC)
                occ_end = (local_end.replace(tzinfo=None) + shift).replace(tzinfo=zone).astimezone(UTC)
                event = self._new_event(user, subject, occ_start, occ_end, False)
                event.update(
                    id=make_id("occurrence", master_id, occ_start.date().isoformat()),
                    type="occurrence",
                    series_master_id=master_id,
                    ical_uid=ical,
                    categories=list(categories),
                    original_start=occ_start,
                )
                for key in ("show_as", "response", "sensitivity", "organizer", "body", "location"):
                    if key in fields:
                        event[key] = fields[key]
                self._events[user["id"]][event["id"]] = event
                occurrences.append(self._view(event))
            return {"master_id": master_id, "occurrences": occurrences}

    def move_event(self, mail: str, event_id: str, start: datetime | str, end: datetime | str) -> dict[str, Any]:
        """Move (or shorten) an event; an occurrence of a series becomes an ``exception``."""
        with self.lock:
            event = self._event(mail, event_id)
            event["start"], event["end"] = _aware(start), _aware(end)
            if event["type"] == "occurrence":
                event["type"] = "exception"
            self._touch(event)
            return self._view(event)

    def edit_event(self, mail: str, event_id: str, **fields: Any) -> dict[str, Any]:
        """Change fields (subject, categories, show_as, response, sensitivity, is_cancelled, body, ...)."""
        with self.lock:
            event = self._event(mail, event_id)
            unknown = set(fields) - set(event)
            if unknown:
                raise KeyError(f"unknown event fields {sorted(unknown)}")
            event.update({k: list(v) if k == "categories" else v for k, v in fields.items()})
            if event["type"] == "occurrence" and set(fields) & {"subject", "categories", "body"}:
                event["type"] = "exception"
            self._touch(event)
            return self._view(event)

    def cancel_event(self, mail: str, event_id: str) -> dict[str, Any]:
        """The organizer cancelled it: it stays in the attendee's calendar with isCancelled."""
        return self.edit_event(mail, event_id, is_cancelled=True)

    def delete_event(self, mail: str, event_id: str) -> None:
        """Deleted from the calendar (an occurrence: that one occurrence); delta says ``@removed``."""
        with self.lock:
            event = self._event(mail, event_id)
            event["deleted"] = True
            self._touch(event)

    def events(self, mail: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        """The mailbox's events (expanded occurrences), as plain dicts with UTC datetimes."""
        with self.lock:
            user = self._user(mail)
            return [self._view(e) for e in self._events[user["id"]].values() if include_deleted or not e["deleted"]]

    def revoke(self, permission: str) -> None:
        with self.lock:
            self.granted.discard(permission)

    def grant(self, permission: str) -> None:
        with self.lock:
            self.granted.add(permission)

    def expire_tokens(self) -> None:
        """Every access token issued so far is expired from now on (401 InvalidAuthenticationToken)."""
        with self.lock:
            for token in self._tokens:
                self._tokens[token] = 0.0

    def expire_delta_tokens(self, mail: str | None = None) -> None:
        """Delta links (of one mailbox, or all) are forgotten: following one answers 410."""
        with self.lock:
            user_id = self._user(mail)["id"] if mail else None
            for token in [t for t, s in self._delta_tokens.items() if user_id is None or s["user_id"] == user_id]:
                del self._delta_tokens[token]

    def throttle(self, count: int, status: int = 429, retry_after: int = 1, mailbox: str | None = None) -> None:
        """Answer the next `count` Graph requests (of one mailbox's paths, if given) with `status`
        (429 or 503) and ``Retry-After``."""
        with self.lock:
            user_id = self._user(mailbox)["id"] if mailbox else None
            self._throttles.append({"count": count, "status": status, "retry_after": retry_after, "user_id": user_id})

    def misbehave(self, mode: str | None, mailbox: str | None = None) -> None:
        """Hostile delta pages (of one mailbox, or all) until called with None: ``loop_next``
        (every page links to the same next page, for ever), ``foreign_next`` (next links name
        another host), ``no_links`` (neither next nor delta link), ``no_value`` (value is null)."""
        if mode is not None and mode not in DELTA_MISBEHAVIOURS:
            raise ValueError(f"unknown misbehaviour {mode!r}; expected one of {', '.join(DELTA_MISBEHAVIOURS)}")
        with self.lock:
            user_id = self._user(mailbox)["id"] if mailbox else None
            if mode is None:
                self._misbehaviour.pop(user_id, None)
            else:
                self._misbehaviour[user_id] = mode

    # -- control endpoints (POST /_sandbox/graph/<hook>, JSON body = the hook's arguments) ------
    CONTROL_HOOKS = (
        "add_user",
        "add_event",
        "add_series",
        "move_event",
        "edit_event",
        "cancel_event",
        "delete_event",
        "remove_mailbox",
        "restore_mailbox",
        "delete_user",
        "set_time_zone",
        "revoke",
        "grant",
        "expire_tokens",
        "expire_delta_tokens",
        "throttle",
        "misbehave",
    )

    def control(self, method: str, action: str, body: Any, query: dict[str, list[str]]) -> Response | None:
        """The state API over HTTP, for a sandbox run as ``python -m sandbox``: ``POST
        /_sandbox/graph/<hook>`` with the hook's keyword arguments as a JSON object (times as ISO
        strings with an offset, all-day dates as ``YYYY-MM-DD``); ``GET /_sandbox/graph/events?mail=``
        lists a mailbox's events. Answers the hook's result, or 400 naming what was wrong."""
        if not action.startswith("graph/"):
            return None
        hook = action[len("graph/") :]
        if method == "GET" and hook == "events":
            mail = (query.get("mail") or [""])[-1]
            try:
                events = self.events(mail, include_deleted=(query.get("deleted") or ["0"])[-1] in ("1", "true"))
            except KeyError as error:
                return Response(404, {"error": str(error)})
            return Response(200, [_plain(e) for e in events])
        if method != "POST" or hook not in self.CONTROL_HOOKS:
            return Response(404, {"error": f"unknown Graph control hook {method} {hook}"})
        if body is not None and not isinstance(body, dict):
            return Response(400, {"error": "the body must be a JSON object of keyword arguments"})
        arguments = dict(body or {})
        if arguments.get("is_all_day"):
            for name in ("start", "end"):
                if isinstance(arguments.get(name), str) and len(arguments[name]) == 10:
                    arguments[name] = date.fromisoformat(arguments[name])
        try:
            result = getattr(self, hook)(**arguments)
        except (TypeError, ValueError, KeyError) as error:
            return Response(400, {"error": f"{hook}: {error}"})
        return Response(200, _plain(result) if result is not None else {"ok": True})

    # -- internals ---------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _new_event(self, user: dict[str, Any], subject: str, start: Any, end: Any, is_all_day: bool) -> dict[str, Any]:
        now = self.clock.now()
        seq = self._next_seq()
        event_id = make_id("event", user["id"], seq, subject)
        event: dict[str, Any] = {
            "id": event_id,
            "user_id": user["id"],
            "subject": subject,
            "type": "singleInstance",
            "series_master_id": None,
            "ical_uid": make_id("ical", event_id)[6:],
            "is_all_day": is_all_day,
            "start": None,
            "end": None,
            "start_date": None,
            "end_date": None,
            "categories": [],
            "show_as": "busy",
            "response": "accepted",
            "sensitivity": "normal",
            "is_cancelled": False,
            "organizer": None,
            "body": "",
            "location": "",
            "created": now,
            "modified": now,
            "seq": seq,
            "deleted": False,
            "original_start": None,
        }
        if is_all_day:
            first = start if isinstance(start, date) and not isinstance(start, datetime) else _aware(start).date()
            last = end if isinstance(end, date) and not isinstance(end, datetime) else _aware(end).date()
            event["start_date"], event["end_date"] = first, last
            zone = zone_of(user["time_zone"]) or UTC
            event["start"], event["end"] = local_midnights(first, last, zone)  # type: ignore[arg-type]
        else:
            event["start"], event["end"] = _aware(start), _aware(end)
        if event["end"] < event["start"]:
            raise ValueError("an event cannot end before it starts")
        return event

    def _touch(self, event: dict[str, Any]) -> None:
        event["seq"] = self._next_seq()
        event["modified"] = self.clock.now()

    def _view(self, event: dict[str, Any]) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, list) else v) for k, v in event.items()}

    def _user(self, key: str | None) -> dict[str, Any]:
        found = self._find_user(key or "")
        if found is None:
            raise KeyError(f"unknown Graph user {key!r}")
        return found

    def _find_user(self, key: str) -> dict[str, Any] | None:
        key = key.lower()
        for user in self._users.values():
            if key in (user["id"], (user["mail"] or "").lower(), user["upn"].lower()):
                return user
        return None

    def _event(self, mail: str, event_id: str) -> dict[str, Any]:
        user = self._user(mail)
        event = self._events[user["id"]].get(event_id)
        if event is None:
            raise KeyError(f"unknown event {event_id!r} in {mail}")
        return event

    def env(self, url: str, **options: Any) -> dict[str, str]:
        return {
            "GRAPH_URL": url,
            "GRAPH_LOGIN_URL": url,
            "GRAPH_TENANT_ID": self.tenant_id,
            "GRAPH_CLIENT_ID": self.client_id,
            "GRAPH_CLIENT_SECRET": self.client_secret,
        }

    def state(self) -> dict[str, Any]:
        return {
            "users": [dict(u) for u in self._users.values()],
            "events": {
                (self._users[uid]["mail"] if uid in self._users else uid): [
                    {k: (v.isoformat() if isinstance(v, (datetime, date)) else v) for k, v in e.items()}
                    for e in events.values()
                ]
                for uid, events in self._events.items()
            },
            "granted": sorted(self.granted),
            "tokens_issued": self.tokens_issued,
            "max_in_flight": dict(self.max_in_flight),
        }

    # -- service hooks ---------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        """Throttles and the per-mailbox concurrency limit, then the routes."""
        match = re.match(r"/v1\.0/users/([^/]+)/", request.path)
        user_key = match.group(1).lower() if match else ""
        with self.lock:
            user = self._find_user(user_key) if user_key else None
            user_id = user["id"] if user else None
            throttled = self._take_throttle(user_id) if request.path.startswith(V1 + "/") else None
        if throttled is not None:
            return throttled
        if not user_key:
            return self._handle_slowly(request)
        with self._flight_lock:
            in_flight = self._in_flight.get(user_key, 0) + 1
            self._in_flight[user_key] = in_flight
            self.max_in_flight[user_key] = max(self.max_in_flight.get(user_key, 0), in_flight)
        try:
            if in_flight > self.concurrency_limit:
                return Response(
                    429,
                    odata_error(
                        "ApplicationThrottled",
                        "Application is over its MailboxConcurrency limit.",
                        self.clock.now(),
                    ),
                    headers={"Retry-After": "1"},
                )
            return self._handle_slowly(request)
        finally:
            with self._flight_lock:
                self._in_flight[user_key] -= 1

    def _handle_slowly(self, request: Request) -> Response:
        if self.handler_latency_ms:
            time.sleep(self.handler_latency_ms / 1000)
        return super().handle(request)

    def _take_throttle(self, user_id: str | None) -> Response | None:
        for throttle in self._throttles:
            if throttle["user_id"] is not None and throttle["user_id"] != user_id:
                continue
            throttle["count"] -= 1
            if throttle["count"] <= 0:
                self._throttles.remove(throttle)
            code = "TooManyRequests" if throttle["status"] == 429 else "ServiceNotAvailable"
            return Response(
                throttle["status"],
                odata_error(code, "Too many requests. Please retry after some time.", self.clock.now()),
                headers={"Retry-After": str(throttle["retry_after"])},
            )
        return None

    def authenticate(self, request: Request) -> Response | None:
        if request.method == "POST" and TOKEN_PATH.fullmatch(request.path):
            return None  # the token endpoint is where credentials are exchanged
        header = request.header("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if not token or scheme.lower() != "bearer":
            return self._unauthorized("Access token is empty.")
        with self.lock:
            expiry = self._tokens.get(token.strip())
        if expiry is None:
            return self._unauthorized("Invalid JWT token. The token is malformed or not issued by this tenant.")
        if expiry <= time.time():
            return self._unauthorized("Lifetime validation failed, the token is expired.")
        return None

    def _unauthorized(self, message: str) -> Response:
        return Response(
            401,
            odata_error("InvalidAuthenticationToken", message, self.clock.now()),
            headers={
                "WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/'
                'oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'
            },
        )

    def not_found(self, request: Request) -> Response:
        segment = request.path.strip("/").split("/")[-1] if request.path.strip("/") else ""
        return Response(
            400,
            odata_error("BadRequest", f"Resource not found for the segment '{segment}'.", self.clock.now()),
        )

    def method_not_allowed(self, request: Request) -> Response:
        return Response(
            405,
            odata_error(
                "Request_BadRequest", "Specified HTTP method is not allowed for the request target.", self.clock.now()
            ),
        )

    def bad_json(self, request: Request) -> Response:
        return Response(400, odata_error("BadRequest", "Unable to read JSON request payload.", self.clock.now()))

    def fault_response(self, status: int) -> Response:
        if status == 503:
            return Response(
                503,
                odata_error("ServiceNotAvailable", "Service is temporarily unavailable.", self.clock.now()),
                headers={"Retry-After": "1"},
            )
        return super().fault_response(status)

    # -- token endpoint ----------------------------------------------------------------------
    def _token(self, request: Request) -> Response:
        form = request.body if isinstance(request.body, dict) else {}
        tenant = request.params["tenant"]
        now = self.clock.now()
        if tenant.lower() not in (self.tenant_id, self.tenant_domain, "organizations", "common"):
            return Response(
                400,
                token_error(
                    "invalid_request",
                    90002,
                    f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing "
                    "into the correct cloud.",
                    now,
                ),
            )
        if form.get("grant_type") != "client_credentials":
            return Response(
                400,
                token_error("unsupported_grant_type", 70003, "The app requested an unsupported grant type.", now),
            )
        if form.get("client_id") != self.client_id:
            return Response(
                400,
                token_error(
                    "unauthorized_client",
                    700016,
                    f"Application with identifier '{str(form.get('client_id'))[:80]}' was not found in the directory "
                    f"'{self.tenant_domain}'.",
                    now,
                ),
            )
        if form.get("client_secret") != self.client_secret:
            return Response(
                401,
                token_error(
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                    f"secret value, not the client secret ID, for a secret added to app '{self.client_id}'.",
                    now,
                ),
            )
        if form.get("scope") != SCOPE:
            return Response(
                400,
                token_error(
                    "invalid_scope",
                    70011,
                    f"The provided value for the input parameter 'scope' is not valid. The scope "
                    f"{str(form.get('scope'))[:80]} is not valid.",
                    now,
                ),
            )
        access = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + secrets.token_urlsafe(48)
        self._tokens[access] = time.time() + self.token_ttl
        self.tokens_issued += 1
        return Response(
            200,
            {
                "token_type": "Bearer",
                "expires_in": self.token_ttl,
                "ext_expires_in": self.token_ttl,
                "access_token": access,
            },
        )

    # -- Graph handlers ----------------------------------------------------------------------
    def _forbidden(self, permission: str) -> Response | None:
        if permission in self.granted:
            return None
        if permission == "User.Read.All":
            return Response(
                403,
                odata_error(
                    "Authorization_RequestDenied",
                    "Insufficient privileges to complete the operation.",
                    self.clock.now(),
                ),
            )
        return Response(
            403,
            odata_error("ErrorAccessDenied", "Access is denied. Check credentials and try again.", self.clock.now()),
        )

    def _mailbox(self, request: Request, permission: str) -> dict[str, Any] | Response:
        denied = self._forbidden(permission)
        if denied is not None:
            return denied
        key = request.params["user"]
        user = self._find_user(key)
        if user is None:
            return Response(
                404, odata_error("ErrorInvalidUser", f"The requested user '{key[:100]}' is invalid.", self.clock.now())
            )
        if not user["has_mailbox"]:
            return Response(
                404,
                odata_error(
                    "MailboxNotEnabledForRESTAPI",
                    "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
                    self.clock.now(),
                ),
            )
        return user

    def _list_users(self, request: Request) -> Response:
        denied = self._forbidden("User.Read.All")
        if denied is not None:
            return denied
        skiptoken = request.arg("$skiptoken")
        if skiptoken is not None:
            remaining = self._user_pages.get(skiptoken)
            if remaining is None:
                return Response(400, odata_error("Request_BadRequest", "Invalid skip token.", self.clock.now()))
        else:
            remaining = list(self._users)
        top_text = request.arg("$top") or "100"
        if not top_text.isdigit() or not 1 <= int(top_text) <= 999:
            return Response(
                400,
                odata_error(
                    "Request_BadRequest",
                    f"Invalid page size specified: '{top_text[:20]}'. Must be between 1 and 999 inclusive.",
                    self.clock.now(),
                ),
            )
        top = int(top_text)
        select = [s.strip() for s in (request.arg("$select") or "").split(",") if s.strip()] or None
        page, rest = remaining[:top], remaining[top:]
        body: dict[str, Any] = {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
            "value": [user_json(self._users[uid], select) for uid in page if uid in self._users],
        }
        if rest:
            token = secrets.token_urlsafe(24)
            self._user_pages[token] = rest
            query = f"$top={top}" + (f"&$select={quote(','.join(select), safe=',')}" if select else "")
            body["@odata.nextLink"] = f"{self.root_url}v1.0/users?{query}&$skiptoken={token}"
        return Response(200, body)

    def _get_user(self, request: Request) -> Response:
        denied = self._forbidden("User.Read.All")
        if denied is not None:
            return denied
        key = request.params["user"]
        user = self._find_user(key)
        if user is None:
            return Response(
                404,
                odata_error(
                    "Request_ResourceNotFound",
                    f"Resource '{key[:100]}' does not exist or one of its queried reference-property objects "
                    "are not present.",
                    self.clock.now(),
                ),
            )
        select = [s.strip() for s in (request.arg("$select") or "").split(",") if s.strip()] or None
        return Response(
            200,
            {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity", **user_json(user, select)},
        )

    def _mailbox_settings(self, request: Request) -> Response:
        user = self._mailbox(request, "MailboxSettings.Read")
        if isinstance(user, Response):
            return user
        return Response(200, mailbox_settings_json(user, request.params["user"]))

    def _delta(self, request: Request) -> Response:
        user = self._mailbox(request, "Calendars.Read")
        if isinstance(user, Response):
            return user
        prefer = ", ".join(request.headers.get_all("Prefer") or []) if request.headers is not None else ""
        zone_match = PREFER_ZONE.search(prefer)
        zone_name = zone_match.group(1) if zone_match else "UTC"
        zone = zone_of(zone_name)
        if zone is None:
            return Response(
                400,
                odata_error(
                    "ErrorTimeZoneNotSupported", f"The time zone '{zone_name[:60]}' is not supported.", self.clock.now()
                ),
            )
        page_match = PREFER_PAGE.search(prefer)
        page_size = min(max(int(page_match.group(1)), 1), MAX_PAGE) if page_match else DEFAULT_PAGE
        skiptoken, deltatoken = request.arg("$skiptoken"), request.arg("$deltatoken")
        if skiptoken is not None:
            state = self._rounds.get(skiptoken)
            if state is None or state["user_id"] != user["id"]:
                return self._sync_state_not_found()
        elif deltatoken is not None:
            previous = self._delta_tokens.get(deltatoken)
            if previous is None or previous["user_id"] != user["id"]:
                return self._sync_state_not_found()
            state = self._start_round(user, previous["start"], previous["end"], previous["seq"])
        else:
            start = _parse_instant(request.arg("startDateTime"))
            end = _parse_instant(request.arg("endDateTime"))
            if start is None or end is None or end <= start:
                return self._window_required()
            state = self._start_round(user, start, end, None)
        rows = state["rows"][state["offset"] : state["offset"] + page_size]
        events = self._events[user["id"]]
        value = []
        for event_id, reason in rows:
            event = events.get(event_id)
            if reason is None and event is not None and not event["deleted"]:
                value.append(event_json(event, user, zone, zone_name))
            else:
                value.append(removed_json(event_id, reason or "deleted"))
        body: dict[str, Any] = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(event)"}
        user_segment = quote(request.params["user"], safe="@.")
        base = f"{self.root_url}v1.0/users/{user_segment}/calendarView/delta"
        next_offset = state["offset"] + page_size
        if next_offset < len(state["rows"]):
            token = secrets.token_urlsafe(24)
            self._rounds[token] = {**state, "offset": next_offset}
            body["@odata.nextLink"] = f"{base}?$skiptoken={token}"
        else:
            token = secrets.token_urlsafe(24)
            self._delta_tokens[token] = {
                "user_id": user["id"],
                "start": state["start"],
                "end": state["end"],
                "seq": state["seq"],
            }
            body["@odata.deltaLink"] = f"{base}?$deltatoken={token}"
        body["value"] = value
        mode = self._misbehaviour.get(user["id"], self._misbehaviour.get(None))
        if mode == "loop_next":
            self._rounds["loop"] = state
            body.pop("@odata.deltaLink", None)
            body["@odata.nextLink"] = f"{base}?$skiptoken=loop"
        elif mode == "foreign_next":
            body.pop("@odata.deltaLink", None)
            body["@odata.nextLink"] = f"{base}?$skiptoken={token}".replace("127.0.0.1", "localhost", 1)
        elif mode == "no_links":
            body.pop("@odata.nextLink", None)
            body.pop("@odata.deltaLink", None)
        elif mode == "no_value":
            body["value"] = None
        headers = {"Preference-Applied": f"odata.maxpagesize={page_size}"}
        if zone_match:
            headers["Preference-Applied"] += f', outlook.timezone="{zone_name}"'
        return Response(200, body, headers=headers)

    def _calendar_view(self, request: Request) -> Response:
        """The plain calendar view: events in the window by start, ``$top`` (default 10) and
        ``$skip`` paging with an absolute ``@odata.nextLink``; times in UTC."""
        user = self._mailbox(request, "Calendars.Read")
        if isinstance(user, Response):
            return user
        start = _parse_instant(request.arg("startDateTime"))
        end = _parse_instant(request.arg("endDateTime"))
        top_text, skip_text = request.arg("$top") or "10", request.arg("$skip") or "0"
        if start is None or end is None or not top_text.isdigit() or not skip_text.isdigit():
            return self._window_required()
        top, skip = max(int(top_text), 1), int(skip_text)
        inside = sorted(
            (
                e
                for e in self._events[user["id"]].values()
                if not e["deleted"] and e["start"] < end and e["end"] > start
            ),
            key=lambda e: (e["start"], e["id"]),
        )
        zone = zone_of("UTC") or UTC
        body: dict[str, Any] = {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#users('{request.params['user']}')/calendarView",
            "value": [event_json(e, user, zone, "UTC") for e in inside[skip : skip + top]],  # type: ignore[arg-type]
        }
        if skip + top < len(inside):
            window = (quote(request.arg(name) or "") for name in ("startDateTime", "endDateTime"))
            query = "startDateTime={}&endDateTime={}".format(*window)
            body["@odata.nextLink"] = (
                f"{self.root_url}v1.0/users/{quote(request.params['user'], safe='@.')}/calendarView?{query}"
                f"&$top={top}&$skip={skip + top}"
            )
        return Response(200, body)

    def _window_required(self) -> Response:
        return Response(
            400,
            odata_error(
                "ErrorInvalidParameter",
                "This request requires a time window specified by the query string parameters "
                "StartDateTime and EndDateTime.",
                self.clock.now(),
            ),
        )

    def _sync_state_not_found(self) -> Response:
        return Response(
            410,
            odata_error(
                "SyncStateNotFound",
                "The sync state generation is not found. Start a new round without a delta token.",
                self.clock.now(),
            ),
        )

    def _start_round(self, user: dict[str, Any], start: datetime, end: datetime, since: int | None) -> dict[str, Any]:
        """The rows of one delta round, fixed now: (event id, None) for an event to send in
        full, (event id, reason) for a removal. Rendered when each page is served."""
        rows: list[tuple[str, str | None]] = []
        for event in sorted(self._events[user["id"]].values(), key=lambda e: (e["start"], e["id"])):
            inside = event["start"] < end and event["end"] > start
            if since is None:
                if inside and not event["deleted"]:
                    rows.append((event["id"], None))
                continue
            if event["seq"] <= since:
                continue
            if event["deleted"]:
                rows.append((event["id"], "deleted"))
            elif inside:
                rows.append((event["id"], None))
            else:
                rows.append((event["id"], "changed"))
        return {"user_id": user["id"], "start": start, "end": end, "seq": self._seq, "rows": rows, "offset": 0}

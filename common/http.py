"""One HTTP session per service: auth, timeouts, retries, rate limit, cache, request counter,
pagination helpers and the dry-run write guard.

Retries: only idempotent requests (GET, HEAD, PUT, DELETE, PATCH with the same body) are retried
on dropped connections, 429 and 5xx, honouring Retry-After. A POST is resent only after a 429 (the
server refused it, nothing was committed); any other failure of a POST raises UnknownOutcome and
the job resolves it by looking for the origin marker, never by sending it again blindly.
"""

from __future__ import annotations

import hashlib
import json as json_module
import logging
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

if TYPE_CHECKING:
    from requests_cache.policy import ExpirationPatterns

    from .config import Settings

from . import http_deadline, shutdown
from .errors import ApiError, AuthError, DryRunWrite, NotFound, RateLimited, ServiceUnavailable, UnknownOutcome
from .logs import redact

log = logging.getLogger("tracksync.http")

Params = Mapping[str, Any]  # query parameters: a value may be a list (key[]=a&key[]=b)
ItemsOf = Callable[[Any], Any]  # a page's JSON body -> its list of items
NextUrlOf = Callable[[requests.Response, Any], Any]  # (page, its JSON body) -> the next page's URL or None
NextParamsOf = Callable[[requests.Response, Any], Any]  # (page, its JSON body) -> the next page's parameters or None

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})

# Retries: every count and wait of the retry policy, in one place (what is retried: see above)
RETRY_STATUSES = (429, 500, 502, 503, 504)
RETRY_TOTAL = 8  # retries of one request, all causes together
RETRY_CONNECT = 4  # connection refused, host name not found, connect timeout
RETRY_READ = 6  # a dropped or timed-out answer
RETRY_STATUS = 6  # an answer with one of RETRY_STATUSES
RETRY_OTHER = 2  # any other error on the way
# the wait before the 2nd retry is HTTP_RETRY_BACKOFF (default 0.2 s); it doubles after each retry ...
RETRY_BACKOFF_MAX = 5.0  # ... up to this many seconds (a Retry-After header overrides both)
MAX_RETRY_AFTER = 60  # a longer Retry-After stops the run with exit 75 instead of sleeping
POST_429_SENDS = 6  # a POST answered 429 is sent at most this many times in all
MAX_REDIRECTS = 5  # redirects of a GET followed, on the configured origin only
# test_connection.py reports a dead service at once instead of retrying for seconds
FAIL_FAST_RETRIES = {"total": 2, "connect": 1, "read": 1, "status": 1, "other": 1}
POOL_SPARE = 2  # connections per service beyond one per sync worker
# A server's answer is bounded: a larger body stops the run with 69, and so does an attempt
# (connect, send, status line, headers, body) still going this many HTTP_TIMEOUTs after it began
# (a trickle that never trips the per-read timeout); such an attempt is not retried. A request,
# all its attempts and the waits between them together, gives up after REQUEST_TIMEOUTS x
# HTTP_TIMEOUT (a rate-limited server asking for a longer wait: 75). See common/http_deadline.py.
MAX_BODY_BYTES = 64 * 1024 * 1024  # after decompression, so a gzip bomb is caught too
DEADLINE_TIMEOUTS = 4
REQUEST_TIMEOUTS = 8
BODY_CHUNK = 64 * 1024
USER_AGENT = "tracksync/1.0 (+https://github.com/tracksync/tracksync)"


class BadAnswer(ServiceUnavailable):
    """A service answered, but not with what its API promises (not JSON, an HTML page, an empty or
    truncated body, JSON of another shape, a value of the wrong type or out of range): the run
    stops (69) before anything is planned or written on it."""


class RequestCounter:
    """Thread-safe tally of the requests that reached the wire, per service (retries included)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.writes: Counter[str] = Counter()
        self.cached: Counter[str] = Counter()

    def add(self, service: str, method: str | None, cached: bool = False) -> None:
        with self._lock:
            if cached:
                self.cached[service] += 1
                return
            self.requests[service] += 1
            if method in WRITE_METHODS:
                self.writes[service] += 1

    def totals(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": sum(self.requests.values()),
                "writes": sum(self.writes.values()),
                "cached": sum(self.cached.values()),
                "by_service": dict(self.requests),
            }


class RateLimiter:
    """At most `limit` requests per `period` seconds (sliding window), shared by all threads."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit, self.period = limit, period
        self._times: list[float] = []
        self._lock = threading.Lock()

    def wait(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                self._times = [t for t in self._times if now - t < self.period]
                if len(self._times) < self.limit:
                    self._times.append(now)
                    return
                delay = self.period - (now - self._times[0])
            time.sleep(max(delay, 0.001))


class CountingRetry(Retry):
    """urllib3 Retry that counts each retried attempt and refuses to sleep through long Retry-After."""

    service: str = ""
    counter: RequestCounter | None = None

    def new(self, **kw: Any) -> CountingRetry:
        retry = super().new(**kw)
        assert isinstance(retry, CountingRetry)
        retry.service, retry.counter = self.service, self.counter
        return retry

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        """Wait before the next attempt, unless the wait would outlast the request's budget: then
        a 429 goes back to the caller as rate limited (75), anything else gives up (69)."""
        exchange = http_deadline.current()
        if exchange is not None:
            wait = self.get_retry_after(response) if response is not None else None
            wait = min(wait, MAX_RETRY_AFTER) if wait else self.get_backoff_time()
            if wait >= exchange.remaining():
                if response is not None and response.status == 429:
                    raise _LongRetryAfter()
                raise http_deadline.DeadlinePassed(exchange, budget_spent=True)
        super().sleep(response)

    def sleep_for_retry(self, response: BaseHTTPResponse) -> bool:
        retry_after = self.get_retry_after(response)
        if retry_after:
            time.sleep(min(retry_after, MAX_RETRY_AFTER))
            return True
        return False

    def increment(  # type: ignore[override]  # the same parameters, typed loosely as urllib3 passes them
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> Retry:
        if response is not None and response.status == 429:
            retry_after = self.get_retry_after(response)
            if retry_after and retry_after > MAX_RETRY_AFTER:
                # hand the 429 back to the caller: RateLimited, exit 75
                raise _LongRetryAfter()
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if self.counter is not None:
            self.counter.add(self.service, method)
        return retry


class _LongRetryAfter(Exception):
    pass


class GuardedAdapter(HTTPAdapter):
    """The single door every request passes: refuses writes under dry-run, applies the rate
    limit, counts requests and bounds every exchange in time and size."""

    def __init__(
        self, service: str, counter: RequestCounter, dry_run: bool, limiter: RateLimiter | None, **kw: Any
    ) -> None:
        self.service, self.counter, self.dry_run, self.limiter = service, counter, dry_run, limiter
        super().__init__(**kw)

    def send(self, request: requests.PreparedRequest, **kw: Any) -> requests.Response:  # type: ignore[override]
        if self.dry_run and request.method in WRITE_METHODS:
            raise DryRunWrite(f"refused {request.method} {request.path_url} under --dry-run", service=self.service)
        throttled = time.monotonic()
        if self.limiter:
            self.limiter.wait()
        throttled = time.monotonic() - throttled
        self.counter.add(self.service, request.method)
        exchange = http_deadline.current()
        own = exchange is None
        if exchange is None:  # sent without ServiceSession.request (a test, requests-cache)
            timeout = kw.get("timeout")
            per_read = timeout[1] if isinstance(timeout, tuple) else timeout
            exchange = http_deadline.Exchange(float(per_read or 30), DEADLINE_TIMEOUTS, REQUEST_TIMEOUTS)
            http_deadline.begin(exchange)
        exchange.extend(throttled)  # our own rate limit is no server's slowness
        exchange.method = request.method or "GET"
        try:
            response = super().send(request, **{**kw, "stream": True})
            read_bounded_body(response, self.service, exchange)
        finally:
            if own:
                http_deadline.end(exchange)
            else:
                exchange.finish()
        return response

    def init_poolmanager(self, *args: Any, **kw: Any) -> None:
        super().init_poolmanager(*args, **kw)
        self.poolmanager.pool_classes_by_scheme = http_deadline.POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = http_deadline.POOL_CLASSES
        return manager


def read_bounded_body(response: requests.Response, service: str, exchange: http_deadline.Exchange) -> None:
    """Read the body into the response, at most MAX_BODY_BYTES and within the attempt's deadline
    (the watchdog of `exchange` wakes a read that waits past it), a chunk at a time as it
    arrives. A read is abandoned at once on a stop request (SIGTERM); a write's answer is read to
    its end, so its outcome is known. Broken bodies raise the exceptions requests would (the
    caller's retry and error handling stay the same)."""
    method = response.request.method or "GET"
    where = f"{method} {_path(response.url)}"
    overflow = ServiceUnavailable if method in ("GET", "HEAD") else UnknownOutcome
    chunks, size = [], 0
    try:
        while True:
            try:
                chunk = _read_chunk(response)
            except requests.exceptions.RequestException:
                if exchange.stopped:  # the watchdog cut the read on a stop request
                    shutdown.check()
                if exchange.overrun():  # the watchdog shut the socket: the deadline, not a broken body
                    raise overflow(_still_arriving(where, exchange), service=service) from None
                raise
            if exchange.stopped:  # a close-delimited body cut short by the watchdog looks complete
                shutdown.check()
            if exchange.overrun():
                raise overflow(_still_arriving(where, exchange), service=service)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise overflow(
                    f"{where}: the answer is larger than {MAX_BODY_BYTES // 2**20} MiB; reading stopped",
                    service=service,
                )
            if method == "GET":
                shutdown.check()
            chunks.append(chunk)
    except BaseException:
        response.close()
        raise
    response._content = b"".join(chunks)


def _read_chunk(response: requests.Response) -> bytes:
    """The next piece of the body as it arrives, urllib3's errors raised as requests' own."""
    try:
        chunk: bytes = response.raw.read1(BODY_CHUNK, decode_content=True)
    except urllib3.exceptions.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from exc
    except urllib3.exceptions.SSLError as exc:
        raise requests.exceptions.SSLError(exc) from exc
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.exceptions.ConnectionError(exc) from exc
    except (urllib3.exceptions.ProtocolError, OSError, ValueError) as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    return chunk


def _still_arriving(where: str, exchange: http_deadline.Exchange) -> str:
    if exchange.budget_spent():
        return _gave_up(where, exchange)
    return (
        f"{where}: the answer was still arriving after {exchange.attempt_timeouts:g} x HTTP_TIMEOUT "
        f"({exchange.attempt_timeouts * exchange.timeout:g} s); reading stopped"
    )


def _gave_up(where: str, exchange: http_deadline.Exchange) -> str:
    tries = f"{exchange.attempts} attempt{'s' * (exchange.attempts != 1)}"
    return (
        f"{where}: no answer after {tries} in {exchange.request_timeouts:g} x HTTP_TIMEOUT "
        f"({exchange.request_timeouts * exchange.timeout:g} s, retries included); gave up"
    )


def _cache_key(token: str | None) -> Callable[..., str]:
    """requests-cache key function: the URL, method and a hash of the credentials, so a changed
    token never reuses an answer given to another one (the token itself is never stored)."""
    token_hash = hashlib.sha256((token or "").encode()).hexdigest()

    def key_fn(request: requests.PreparedRequest, **_: object) -> str:
        return hashlib.sha256(f"{request.method} {request.url} {token_hash}".encode()).hexdigest()

    return key_fn


class ServiceSession:
    """HTTP for one service. `base` is the API root (e.g. https://git.example.com/api/v1)."""

    def __init__(
        self,
        service: str,
        base: str,
        headers: Mapping[str, str],
        settings: Settings,
        *,
        counter: RequestCounter,
        dry_run: bool = False,
        auth: tuple[str, str] | None = None,
        cacheable: Collection[str] = (),
        token_key: str | None = None,
    ) -> None:
        self.service = service
        self.base = base.rstrip("/")
        self.timeout = settings.http_timeout
        self.dry_run = dry_run
        self.counter = counter
        self.token_key = token_key or f"{service.upper()}_TOKEN"
        self.url_key = f"{service.upper()}_URL"
        token = settings.get(self.token_key)
        self.session = _make_session(settings, cacheable, self.base, token)
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self.session.headers.update(headers)
        if auth:
            self.session.auth = auth
        limiter = (
            RateLimiter(settings.rate_limit_requests, settings.rate_limit_period)
            if settings.rate_limit_enabled
            else None
        )
        retry = CountingRetry(
            total=RETRY_TOTAL,
            connect=RETRY_CONNECT,
            read=RETRY_READ,
            status=RETRY_STATUS,
            other=RETRY_OTHER,
            backoff_factor=settings.http_retry_backoff,
            backoff_max=RETRY_BACKOFF_MAX,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=IDEMPOTENT_METHODS,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        retry.service, retry.counter = service, counter
        pool = max(settings.sync_workers, 1) + POOL_SPARE
        adapter = GuardedAdapter(
            service, counter, dry_run, limiter, max_retries=retry, pool_connections=pool, pool_maxsize=pool
        )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._dates_lock = threading.Lock()
        self._first_date: datetime | None = None  # the Date of the first live answer since watch_time()
        self._last_date: datetime | None = None

    def watch_time(self) -> None:
        """Start a read: server_time(first=True) is then the Date of the next live answer."""
        with self._dates_lock:
            self._first_date = None

    def server_time(self, first: bool = False) -> datetime | None:
        """The server's clock (aware, UTC) from the Date header of its last live answer, or with
        first=True of the first one since watch_time(); None when none carried a usable Date (an
        answer from the HTTP cache does not count). Cursors come from here, never the local clock."""
        with self._dates_lock:
            return self._first_date if first else self._last_date

    def _note_date(self, response: requests.Response) -> None:
        date = response_date(response)
        if date is not None:
            with self._dates_lock:
                self._last_date = date
                self._first_date = self._first_date or date

    def fail_fast(self) -> ServiceSession:
        """Fewer retries (FAIL_FAST_RETRIES), for a probe that reports a dead service at once."""
        for adapter in self.session.adapters.values():
            retry = getattr(adapter, "max_retries", None)
            if isinstance(retry, Retry):
                adapter.max_retries = retry.new(**FAIL_FAST_RETRIES)  # type: ignore[attr-defined]
        return self

    def url(self, path: str) -> str:
        """The absolute URL of an API path. An absolute URL (a next-page link) is accepted only on
        the configured scheme, host and port: credentials never go anywhere else."""
        if "://" not in path:
            return f"{self.base}/{path.lstrip('/')}"
        if origin_of(path) != origin_of(self.base):
            raise ServiceUnavailable(
                f"refused a link to {_origin(path)}: not the configured {self.url_key} {_origin(self.base)}, "
                f"so nothing was sent there (if the server calls itself that, set {self.url_key} to it)",
                service=self.service,
            )
        return path

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        ok: Collection[int] = (200, 201, 204),
        not_found_ok: bool = False,
    ) -> requests.Response:
        """Send one request and return the Response; raise a SyncError subclass on failure. The
        request, every retry and wait included, is bounded by REQUEST_TIMEOUTS x HTTP_TIMEOUT.
        `data` is a form body (application/x-www-form-urlencoded), `json` a JSON one."""
        url = self.url(path)
        exchange = http_deadline.Exchange(self.timeout, DEADLINE_TIMEOUTS, REQUEST_TIMEOUTS)
        http_deadline.begin(exchange)
        try:
            for attempt in range(1, POST_429_SENDS + 1):
                response = self._send_following(method, url, params, json, data, exchange)
                if response.status_code == 429 and method == "POST" and attempt < POST_429_SENDS:
                    wait = _retry_after(response)
                    if wait is None or wait > MAX_RETRY_AFTER or wait >= exchange.remaining():
                        break
                    time.sleep(wait)
                    continue
                break
        finally:
            http_deadline.end(exchange)
        status = response.status_code
        if status in ok or (not_found_ok and status == 404):
            return response
        self._raise_for(method, path, response)

    def _send_following(
        self,
        method: str,
        url: str,
        params: Params | None,
        json: Any,
        data: Mapping[str, str] | None,
        exchange: http_deadline.Exchange,
    ) -> requests.Response:
        """Send, following a GET's redirects only on the configured origin: a Location elsewhere
        (another host, port, or scheme, http -> https included) stops the run (69) and nothing,
        credentials least of all, is sent there. Other methods get a redirect back as an error."""
        response = self._send(method, url, params, json, data, exchange)
        for _ in range(MAX_REDIRECTS):
            if not response.is_redirect or method not in ("GET", "HEAD"):
                return response
            target = urljoin(response.url, response.headers.get("Location", ""))
            if origin_of(target) != origin_of(self.base):
                raise ServiceUnavailable(
                    f"{method} {_path(url)}: redirected to {_origin(target)}, not the configured {self.url_key} "
                    f"{_origin(self.base)}, so nothing was sent there (if the service lives there, set "
                    f"{self.url_key} to it)",
                    service=self.service,
                )
            response.close()
            response = self._send(method, target, None, None, None, exchange)
        raise ServiceUnavailable(f"{method} {_path(url)}: more than {MAX_REDIRECTS} redirects", service=self.service)

    def _send(
        self,
        method: str,
        url: str,
        params: Params | None,
        json: Any,
        data: Mapping[str, str] | None,
        exchange: http_deadline.Exchange,
    ) -> requests.Response:
        try:
            response = self.session.request(
                method, url, params=params, json=json, data=data, timeout=self.timeout, allow_redirects=False
            )
        except DryRunWrite:
            raise
        except http_deadline.DeadlinePassed as exc:
            where = f"{method} {_path(url)}"
            text = _gave_up(where, exchange) if exc.budget_spent else _still_arriving(where, exchange)
            failure = ServiceUnavailable if method in IDEMPOTENT_METHODS else UnknownOutcome
            raise failure(text, service=self.service) from None
        except _LongRetryAfter:
            raise RateLimited("rate limited with a long Retry-After; try again later", service=self.service) from None
        except requests.exceptions.RequestException as exc:
            cause = _root_cause(exc)
            if isinstance(cause, _LongRetryAfter):
                raise RateLimited(
                    "rate limited with a long Retry-After; try again later", service=self.service
                ) from None
            if method not in IDEMPOTENT_METHODS and not _never_sent(exc):
                raise UnknownOutcome(
                    f"{method} {_path(url)}: no answer ({cause.__class__.__name__})", service=self.service
                ) from None
            raise ServiceUnavailable(f"cannot reach {_origin(url)}: {_describe(exc)}", service=self.service) from None
        if getattr(response, "from_cache", False):
            self.counter.add(self.service, method, cached=True)
        else:
            self._note_date(response)
        log.debug("%s %s %s -> %s", self.service, method, _path(url), response.status_code)
        return response

    def _raise_for(self, method: str, path: str, response: requests.Response) -> NoReturn:
        status = response.status_code
        body = _json_or_none(response)
        detail = error_detail(body) or response.reason or ""
        if status == 401:
            raise AuthError(f"authentication refused (401): check {self.token_key}", service=self.service)
        if status == 403:
            raise AuthError(
                f"permission refused (403) for {method} {path}: {detail or 'forbidden'}; check {self.token_key} "
                "and its rights",
                service=self.service,
            )
        if status == 404:
            raise NotFound(f"not found: {method} {path}", service=self.service)
        if status in (402, 429):
            raise RateLimited(f"rate limited ({status}); try again later", service=self.service)
        if status >= 500:
            if method not in IDEMPOTENT_METHODS:
                raise UnknownOutcome(f"{method} {path}: server error {status}", service=self.service)
            raise ServiceUnavailable(f"server error {status} for {method} {path} after retries", service=self.service)
        raise ApiError(f"{method} {path} refused ({status}): {detail}", service=self.service, status=status, body=body)

    def get_json(self, path: str, params: Params | None = None, **kw: Any) -> Any:
        """The JSON of a GET (BadAnswer, 69, when the answer is not JSON)."""
        return self.json_of(self.request("GET", path, params=params, **kw))

    def json_of(self, response: requests.Response) -> Any:
        """The answer's JSON, or BadAnswer naming the request and what came instead (an HTML
        page, an empty body, truncated or malformed JSON)."""
        try:
            return response.json()
        except (ValueError, RecursionError):
            where = f"{response.request.method} {_path(response.url)}"
            raise BadAnswer(f"{where}: {not_json(response)}", service=self.service) from None

    def path_of(self, path: str) -> str:
        """The URL path a request for `path` goes to (for messages): /api/v1/user."""
        return _path(self.url(path))

    def pages(
        self,
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
        """Every item of a paged list: (items, complete). See common.paging.read_pages."""
        from .paging import read_pages

        return read_pages(
            self,
            path,
            params,
            page_size=page_size,
            max_pages=max_pages,
            items=items,
            next_url=next_url,
            next_params=next_params,
            page_param=page_param,
        )

    def clear_cache(self) -> None:
        cache = getattr(self.session, "cache", None)
        if cache is not None:
            cache.clear()


def _make_session(settings: Settings, cacheable: Collection[str], base: str, token: str | None) -> requests.Session:
    if not (settings.cache_enabled and cacheable):
        return requests.Session()
    import requests_cache

    Path(settings.cache_dir).mkdir(parents=True, exist_ok=True)
    host_and_path = base.split("://", 1)[-1]
    # exact URLs only (a glob would also match every longer path, e.g. user -> users/x/repos)
    patterns: ExpirationPatterns = {
        re.compile("://" + re.escape(f"{host_and_path}/{p.lstrip('/')}") + "$"): settings.cache_ttl for p in cacheable
    }
    patterns["*"] = requests_cache.DO_NOT_CACHE
    return requests_cache.CachedSession(
        str(Path(settings.cache_dir) / "http_cache"),
        backend="sqlite",
        urls_expire_after=patterns,
        allowable_methods=("GET",),
        key_fn=_cache_key(token),
        stale_if_error=False,
    )


def clear_http_cache(settings: Settings) -> int:
    """Delete the HTTP cache files; returns how many were removed."""
    removed = 0
    for path in Path(settings.cache_dir).glob("http_cache*"):
        path.unlink()
        removed += 1
    return removed


def error_detail(body: Any) -> str:
    """One line from any of the services' error bodies (Gitea, Kimai, Zammad, Jira, Graph, ...),
    secrets masked before it is cut short (a cut could split an echoed token past recognition)."""
    if isinstance(body, str):
        return redact(body)[:200]
    if not isinstance(body, dict):
        return ""
    parts = []
    message = body.get("message") or body.get("error_human") or body.get("error")
    if isinstance(message, dict):  # Graph: {"error": {"code", "message"}}
        message = message.get("message") or message.get("code")
    if message:
        parts.append(str(message))
    errors = body.get("errors")
    if isinstance(errors, dict):  # Kimai: {"errors": {"errors": [...], "children": {...}}}
        parts.extend(str(e) for e in errors.get("errors", []))
        for field, child in (errors.get("children") or {}).items():
            for text in (child or {}).get("errors", []) if isinstance(child, dict) else []:
                parts.append(f"{field}: {text}")
        if not errors.get("children") and not errors.get("errors"):
            parts.extend(f"{k}: {v}" for k, v in errors.items())
    parts.extend(str(m) for m in body.get("errorMessages", []) or [])
    return redact("; ".join(parts))[:300]


def not_json(response: requests.Response) -> str:
    """What an answer that is not JSON is, for an error line (its text is never quoted)."""
    content = response.content or b""
    if not content.strip():
        return f"the answer ({response.status_code}) is empty, not JSON"
    kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if "html" in kind or content.lstrip()[:1] == b"<":
        return f"the answer ({response.status_code}) is an HTML page, not JSON"
    try:
        json_module.loads(content)
    except RecursionError:
        return "the answer is JSON nested too deeply"
    except ValueError as exc:
        position = getattr(exc, "pos", None)
        at = f" at byte {position} of {len(content)}" if isinstance(position, int) else ""
        cut = isinstance(position, int) and position >= len(content.rstrip())
        if cut or str(exc).startswith("Unterminated string"):
            return f"the answer is truncated JSON (it ends{at})"
        return f"the answer is not valid JSON (malformed{at})"
    return "the answer is not valid JSON"


def next_link(response: requests.Response) -> str | None:
    """The rel="next" URL of a Link header, or None."""
    return response.links.get("next", {}).get("url")


def origin_of(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a port out of range or not a number: never the configured server
        port = -1
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def response_date(response: requests.Response) -> datetime | None:
    """The answer's Date header as an aware UTC datetime, or None when missing or unreadable."""
    try:
        date = parsedate_to_datetime(response.headers.get("Date") or "")
    except (TypeError, ValueError, IndexError):
        return None
    if date.tzinfo is None or not (2000 <= date.year <= 9000):
        return None
    return date.astimezone(UTC)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        wait = float(value) if value is not None else None
    except ValueError:
        return None
    return max(wait, 0) if wait is not None and math.isfinite(wait) else None  # nan, inf: not a wait


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:65536] if response.text else None  # error_detail redacts, then cuts


def _root_cause(exc: BaseException) -> BaseException:
    seen = exc
    while True:
        nxt = getattr(seen, "reason", None)
        if not isinstance(nxt, BaseException):  # ssl.SSLError.reason is a string
            nxt = seen.__cause__ or seen.__context__
        if nxt is None or nxt is seen:
            return seen
        seen = nxt


def _never_sent(exc: BaseException) -> bool:
    """True when the request never left (connection refused, DNS, connect timeout)."""
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    return isinstance(exc, requests.exceptions.ConnectTimeout) or isinstance(
        _root_cause(exc), (NewConnectionError, NameResolutionError, ConnectionRefusedError)
    )


def _describe(exc: BaseException) -> str:
    cause = _root_cause(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out"
    text = str(cause)
    if "Name or service not known" in text or "NameResolution" in cause.__class__.__name__:
        return "host name not found"
    if "refused" in text.lower():
        return "connection refused"
    return cause.__class__.__name__


def _origin(url: str) -> str:
    scheme, rest = url.split("://", 1)
    text = f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0].rsplit('@', 1)[-1]}"  # never user:password@
    return "".join(c for c in text if c.isprintable())[:120]


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[-1].split("/", 1)[-1].split("?")[0]

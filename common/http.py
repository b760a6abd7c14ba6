"""One HTTP session per service: auth, timeouts, retries, rate limit, cache, request counter,
pagination helpers and the dry-run write guard.

Retries: only idempotent requests (GET, HEAD, PUT, DELETE, PATCH with the same body) are retried
on dropped connections, 429 and 5xx, honouring Retry-After. A POST is resent only after a 429 (the
server refused it, nothing was committed); any other failure of a POST raises UnknownOutcome and
the job resolves it by looking for the origin marker, never by sending it again blindly.
"""
import hashlib
import logging
import re
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .errors import (ApiError, AuthError, DryRunWrite, NotFound, RateLimited,
                     ServiceUnavailable, UnknownOutcome)

log = logging.getLogger("tracksync.http")

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_RETRY_AFTER = 60  # a longer Retry-After stops the run with exit 75 instead of sleeping
USER_AGENT = "tracksync/1.0 (+https://github.com/tracksync/tracksync)"


class RequestCounter:
    """Thread-safe tally of the requests that reached the wire, per service (retries included)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.requests = Counter()
        self.writes = Counter()
        self.cached = Counter()

    def add(self, service, method, cached=False):
        with self._lock:
            if cached:
                self.cached[service] += 1
                return
            self.requests[service] += 1
            if method in WRITE_METHODS:
                self.writes[service] += 1

    def totals(self):
        with self._lock:
            return {"requests": sum(self.requests.values()), "writes": sum(self.writes.values()),
                    "cached": sum(self.cached.values()), "by_service": dict(self.requests)}


class RateLimiter:
    """At most `limit` requests per `period` seconds (sliding window), shared by all threads."""

    def __init__(self, limit, period):
        self.limit, self.period = limit, period
        self._times = []
        self._lock = threading.Lock()

    def wait(self):
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

    service = None
    counter = None

    def new(self, **kw):
        retry = super().new(**kw)
        retry.service, retry.counter = self.service, self.counter
        return retry

    def sleep_for_retry(self, response):
        retry_after = self.get_retry_after(response)
        if retry_after:
            time.sleep(min(retry_after, MAX_RETRY_AFTER))
            return True
        return False

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
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
    limit and counts requests."""

    def __init__(self, service, counter, dry_run, limiter, **kw):
        self.service, self.counter, self.dry_run, self.limiter = service, counter, dry_run, limiter
        super().__init__(**kw)

    def send(self, request, **kw):
        if self.dry_run and request.method in WRITE_METHODS:
            raise DryRunWrite(f"refused {request.method} {request.path_url} under --dry-run", service=self.service)
        if self.limiter:
            self.limiter.wait()
        self.counter.add(self.service, request.method)
        return super().send(request, **kw)


def _cache_key(token):
    """requests-cache key function: the URL, method and a hash of the credentials, so a changed
    token never reuses an answer given to another one (the token itself is never stored)."""
    token_hash = hashlib.sha256((token or "").encode()).hexdigest()

    def key_fn(request, **_):
        return hashlib.sha256(f"{request.method} {request.url} {token_hash}".encode()).hexdigest()
    return key_fn


class ServiceSession:
    """HTTP for one service. `base` is the API root (e.g. https://git.example.com/api/v1)."""

    def __init__(self, service, base, headers, settings, *, counter, dry_run=False, auth=None,
                 cacheable=(), token_key=None):
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
        limiter = RateLimiter(settings.rate_limit_requests, settings.rate_limit_period) if settings.rate_limit_enabled else None
        retry = CountingRetry(total=8, connect=4, read=6, status=6, other=2, backoff_factor=0.2,
                              backoff_max=5, status_forcelist=RETRY_STATUSES,
                              allowed_methods=IDEMPOTENT_METHODS, respect_retry_after_header=True,
                              raise_on_status=False)
        retry.service, retry.counter = service, counter
        pool = max(settings.sync_workers, 1) + 2
        adapter = GuardedAdapter(service, counter, dry_run, limiter, max_retries=retry,
                                 pool_connections=pool, pool_maxsize=pool)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def url(self, path):
        """The absolute URL of an API path. An absolute URL (a next-page link) is accepted only on
        the configured scheme, host and port: credentials never go anywhere else."""
        if "://" not in path:
            return f"{self.base}/{path.lstrip('/')}"
        if origin_of(path) != origin_of(self.base):
            raise ServiceUnavailable(
                f"refused a link to {_origin(path)}: not the configured {self.url_key} {_origin(self.base)}, so nothing "
                f"was sent there (if the server calls itself that, set {self.url_key} to it)", service=self.service)
        return path

    def request(self, method, path, *, params=None, json=None, ok=(200, 201, 204), not_found_ok=False):
        """Send one request and return the Response; raise a SyncError subclass on failure."""
        url = self.url(path)
        for attempt in range(6):
            response = self._send(method, url, params, json)
            if response.status_code == 429 and method == "POST" and attempt < 5:
                wait = _retry_after(response)
                if wait is None or wait > MAX_RETRY_AFTER:
                    break
                time.sleep(wait)
                continue
            break
        status = response.status_code
        if status in ok or (not_found_ok and status == 404):
            return response
        self._raise_for(method, path, response)

    def _send(self, method, url, params, json):
        try:
            response = self.session.request(method, url, params=params, json=json, timeout=self.timeout)
        except DryRunWrite:
            raise
        except _LongRetryAfter:
            raise RateLimited("rate limited with a long Retry-After; try again later", service=self.service) from None
        except requests.exceptions.RequestException as exc:
            cause = _root_cause(exc)
            if isinstance(cause, _LongRetryAfter):
                raise RateLimited("rate limited with a long Retry-After; try again later", service=self.service) from None
            if method not in IDEMPOTENT_METHODS and not _never_sent(exc):
                raise UnknownOutcome(f"{method} {_path(url)}: no answer ({cause.__class__.__name__})", service=self.service) from None
            raise ServiceUnavailable(f"cannot reach {_origin(url)}: {_describe(exc)}", service=self.service) from None
        if getattr(response, "from_cache", False):
            self.counter.add(self.service, method, cached=True)
        log.debug("%s %s %s -> %s", self.service, method, _path(url), response.status_code)
        return response

    def _raise_for(self, method, path, response):
        status = response.status_code
        body = _json_or_none(response)
        detail = error_detail(body) or response.reason or ""
        if status == 401:
            raise AuthError(f"authentication refused (401): check {self.token_key}", service=self.service)
        if status == 403:
            raise AuthError(f"permission refused (403) for {method} {path}: {detail or 'forbidden'}; check {self.token_key} "
                            "and its rights", service=self.service)
        if status == 404:
            raise NotFound(f"not found: {method} {path}", service=self.service)
        if status in (402, 429):
            raise RateLimited(f"rate limited ({status}); try again later", service=self.service)
        if status >= 500:
            if method not in IDEMPOTENT_METHODS:
                raise UnknownOutcome(f"{method} {path}: server error {status}", service=self.service)
            raise ServiceUnavailable(f"server error {status} for {method} {path} after retries", service=self.service)
        raise ApiError(f"{method} {path} refused ({status}): {detail}", service=self.service, status=status, body=body)

    def get_json(self, path, params=None, **kw):
        return self.request("GET", path, params=params, **kw).json()

    def pages(self, path, params=None, *, page_size=None, max_pages=0, items=None, next_url=None):
        """Every item of a paged list: (items, complete). See common.paging.read_pages."""
        from .paging import read_pages
        return read_pages(self, path, params, page_size=page_size, max_pages=max_pages, items=items, next_url=next_url)

    def clear_cache(self):
        cache = getattr(self.session, "cache", None)
        if cache is not None:
            cache.clear()


def _make_session(settings, cacheable, base, token):
    if not (settings.cache_enabled and cacheable):
        return requests.Session()
    import requests_cache
    Path(settings.cache_dir).mkdir(parents=True, exist_ok=True)
    host_and_path = base.split("://", 1)[-1]
    # exact URLs only (a glob would also match every longer path, e.g. user -> users/x/repos)
    patterns = {re.compile("://" + re.escape(f"{host_and_path}/{p.lstrip('/')}") + "$"): settings.cache_ttl
                for p in cacheable}
    patterns["*"] = requests_cache.DO_NOT_CACHE
    return requests_cache.CachedSession(
        str(Path(settings.cache_dir) / "http_cache"), backend="sqlite", urls_expire_after=patterns,
        allowable_methods=("GET",), key_fn=_cache_key(token), stale_if_error=False)


def clear_http_cache(settings):
    """Delete the HTTP cache files; returns how many were removed."""
    removed = 0
    for path in Path(settings.cache_dir).glob("http_cache*"):
        path.unlink()
        removed += 1
    return removed


def error_detail(body):
    """One line from any of the services' error bodies (Gitea, Kimai, Zammad, Jira, Graph, ...)."""
    if isinstance(body, str):
        return body[:200]
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
    return "; ".join(parts)[:300]


def next_link(response):
    """The rel="next" URL of a Link header, or None."""
    return response.links.get("next", {}).get("url")


def origin_of(url):
    """(scheme, host, port) of a URL, with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a port out of range or not a number: never the configured server
        port = -1
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def _retry_after(response):
    value = response.headers.get("Retry-After")
    try:
        return max(float(value), 0) if value is not None else None
    except ValueError:
        return None


def _json_or_none(response):
    try:
        return response.json()
    except ValueError:
        return response.text[:200] if response.text else None


def _root_cause(exc):
    seen = exc
    while True:
        nxt = getattr(seen, "reason", None)
        if not isinstance(nxt, BaseException):  # ssl.SSLError.reason is a string
            nxt = seen.__cause__ or seen.__context__
        if nxt is None or nxt is seen:
            return seen
        seen = nxt


def _never_sent(exc):
    """True when the request never left (connection refused, DNS, connect timeout)."""
    from urllib3.exceptions import NameResolutionError, NewConnectionError
    return isinstance(exc, requests.exceptions.ConnectTimeout) or isinstance(
        _root_cause(exc), (NewConnectionError, NameResolutionError, ConnectionRefusedError))


def _describe(exc):
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


def _origin(url):
    scheme, rest = url.split("://", 1)
    text = f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0].rsplit('@', 1)[-1]}"  # never user:password@
    return "".join(c for c in text if c.isprintable())[:120]


def _path(url):
    return "/" + url.split("://", 1)[-1].split("/", 1)[-1].split("?")[0]

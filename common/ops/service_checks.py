"""The checks of diagnose.py that talk to the services, and the probe of Microsoft Graph
(test_connection.py and diagnose.py --api run it through connection.SERVICES).

--network: for each configured service address, DNS, TCP and TLS (with their latency) and the
clock skew against the `Date` header of an unauthenticated GET of the API's version or ping
endpoint (the site root would be an HTML page or a redirect); nothing there sends a token.
--api: authentication, server version and permissions per service (the probes of connection.py).
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterable, Sequence
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import requests

from ..errors import CONFIG, UNAVAILABLE, ConfigError, UsageError
from ..http import USER_AGENT, RequestCounter
from .connection import (
    NOT_CONFIGURED,
    Planned,
    Probe,
    StepResult,
    StepRunner,
    _timed,
    _tls,
    probe_service,
    safe_url,
    service_plan,
)
from .diagnose_checks import Check, fail, ok, warn
from .tls import RENEW_HINT, describe_tls_error, is_loopback, tls_handshake

if TYPE_CHECKING:
    from ..config import Settings

SKEW_WARN = 30  # seconds
SKEW_FAIL = 300


def _planned(settings: Settings, group: str, jobs: Iterable[str]) -> list[tuple[Planned | None, list[Check]]]:
    """(planned service, its checks so far) for each service: a skipped one already has its
    SKIP row; a used one that is not configured at all is left to the config checks."""
    plan = service_plan(settings, jobs)
    if not any(p.configured for p in plan):
        return [
            (
                None,
                [
                    fail(
                        group,
                        "services",
                        "no service is configured",
                        "set the address and token of each service SYNC_JOBS uses in the env file",
                        CONFIG,
                    )
                ],
            )
        ]
    rows: list[tuple[Planned | None, list[Check]]] = []
    for planned in plan:
        name = planned.spec.name
        if planned.action == "skip":
            rows.append((None, [Check(group, name, "SKIP", NOT_CONFIGURED)]))
        elif not planned.configured:
            rows.append(
                (
                    None,
                    [
                        Check(
                            group,
                            name,
                            "SKIP",
                            f"not configured, but {', '.join(planned.used_by)} needs it (see the config checks)",
                        )
                    ],
                )
            )
        else:
            rows.append((planned, []))
    return rows


def _courtesy(planned: Planned, checks: list[Check], jobs_text: str) -> list[Check]:
    """A configured service no job uses: failures only warn."""
    if planned.action != "courtesy":
        return checks
    for check in checks:
        if check.status == "FAIL":
            check.status, check.code = "WARN", 0
            check.hint = f"not used by {jobs_text}; {check.hint}"
    return checks


def network_checks(settings: Settings, jobs: Sequence[str] = ()) -> list[Check]:
    checks: list[Check] = []
    jobs_text = f"SYNC_JOBS ({', '.join(jobs or settings.sync_jobs)})"
    for planned, rows in _planned(settings, "network", jobs):
        if planned is None:
            checks.extend(rows)
            continue
        spec = planned.spec
        url = settings.get(spec.url_key)
        if not url:
            found = [
                fail(
                    "network",
                    f"{spec.name} address",
                    f"{spec.url_key} is not set",
                    f"set {spec.url_key} in the env file",
                    CONFIG,
                )
            ]
        else:
            found = service_network_checks(spec.name, url, min(settings.http_timeout, 10), spec.clock_path)
        if spec.name == "graph":
            found += _graph_login_network_checks(settings)
        checks.extend(_courtesy(planned, found, jobs_text))
    return checks


def _graph_login_network_checks(settings: Settings) -> list[Check]:
    """Graph's token comes from another host (login.microsoftonline.com): its DNS, TCP, TLS and
    clock too, unless GRAPH_LOGIN_URL is on GRAPH_URL's origin (the sandbox)."""
    from ..http import origin_of

    login = settings.get("GRAPH_LOGIN_URL")
    if not login or (settings.get("GRAPH_URL") and origin_of(login) == origin_of(settings.graph_url)):
        return []
    tenant = quote(settings.get("GRAPH_TENANT_ID") or "common", safe="")
    return service_network_checks(
        "graph login", login, min(settings.http_timeout, 10), f"{tenant}/v2.0/.well-known/openid-configuration"
    )


def service_network_checks(name: str, url: str, timeout: float, clock_path: str = "") -> list[Check]:
    """DNS, TCP, TLS and clock checks of one address; stops at the first failure."""
    parts = urlsplit(url)
    host, https = parts.hostname or "", parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    checks = []

    started = time.perf_counter()
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        checks.append(
            fail(
                "network",
                f"{name} dns",
                f"{host}: cannot resolve ({getattr(exc, 'strerror', None) or exc})",  # UnicodeError has none
                "check the host name in the address and the machine's DNS (/etc/resolv.conf)",
                UNAVAILABLE,
            )
        )
        return checks
    ms = _ms(started)
    addresses = sorted({str(info[4][0]) for info in infos})
    checks.append(ok("network", f"{name} dns", f"{host} -> {', '.join(addresses[:3])} ({ms} ms)", latency_ms=ms))

    started = time.perf_counter()
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or exc.__class__.__name__)
        checks.append(
            fail(
                "network",
                f"{name} tcp",
                f"{host}:{port}: {reason}",
                "is the service running on that port? check firewalls and proxies",
                UNAVAILABLE,
            )
        )
        return checks
    ms = _ms(started)
    sock.close()
    checks.append(ok("network", f"{name} tcp", f"{host}:{port} connected ({ms} ms)", latency_ms=ms))

    if https:
        check = _tls_check(name, host, port, timeout)
        checks.append(check)
        if check.status == "FAIL":
            return checks
    else:
        if is_loopback(host):
            checks.append(ok("network", f"{name} tls", "not used: plain http on this machine"))
        else:
            checks.append(
                warn(
                    "network",
                    f"{name} tls",
                    "not used: plain http, the token travels unencrypted",
                    f"use an https:// address for {name}",
                )
            )
    checks.append(_clock_check(name, f"{url}/{clock_path}", timeout))
    return checks


def _tls_check(name: str, host: str, port: int, timeout: float) -> Check:
    try:
        session = tls_handshake(host, port, timeout)
    except ssl.SSLCertVerificationError as exc:
        return fail(
            "network",
            f"{name} tls",
            describe_tls_error(exc),
            "renew the certificate, or trust its CA: REQUESTS_CA_BUNDLE=/path/to/ca.pem",
            UNAVAILABLE,
        )
    except (ssl.SSLError, OSError) as exc:
        return fail(
            "network",
            f"{name} tls",
            describe_tls_error(exc),
            "is this port really https? check the address's scheme and port",
            UNAVAILABLE,
        )
    detail = f"{session.valid_until} ({session.ms} ms)"
    warning = session.expiry_warning()
    if warning:
        return warn("network", f"{name} tls", f"{detail}: {warning}", RENEW_HINT, latency_ms=session.ms)
    return ok("network", f"{name} tls", detail, latency_ms=session.ms)


def _clock_check(name: str, url: str, timeout: float) -> Check:
    """Compare the server's Date header (a GET without credentials; any status will do) with this
    machine's clock, at the midpoint of the request."""
    before = time.time()
    try:
        # only the headers are wanted: the body (whatever its size) is never read
        response = requests.get(
            url, timeout=timeout, allow_redirects=False, headers={"User-Agent": USER_AGENT}, stream=True
        )
        response.close()
    except requests.RequestException as exc:
        return fail(
            "network",
            f"{name} clock",
            f"GET {safe_url(url)} failed: {exc.__class__.__name__}",
            "the service does not answer HTTP; check the address",
            UNAVAILABLE,
        )
    middle = (before + time.time()) / 2
    header = response.headers.get("Date")
    if not header:
        return warn("network", f"{name} clock", "the server sent no Date header", "clock skew cannot be measured")
    try:
        server = parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError):
        return warn(
            "network", f"{name} clock", "the server's Date header is malformed", "clock skew cannot be measured"
        )
    skew = round(server - middle, 1)
    detail = f"server clock {'+' if skew >= 0 else ''}{skew:g} s from this machine's"
    if abs(skew) >= SKEW_FAIL:
        return fail("network", f"{name} clock", detail, "synchronise clocks (NTP: timedatectl set-ntp true)", CONFIG)
    if abs(skew) >= SKEW_WARN:
        return warn("network", f"{name} clock", detail, "synchronise clocks (NTP: timedatectl set-ntp true)")
    return ok("network", f"{name} clock", detail)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def api_checks(settings: Settings, jobs: Sequence[str] = ()) -> list[Check]:
    """One check per probe step (version, tls, authentication, permissions) of each service."""
    checks: list[Check] = []
    jobs_text = f"SYNC_JOBS ({', '.join(jobs or settings.sync_jobs)})"
    for planned, rows in _planned(settings, "api", jobs):
        if planned is None:
            checks.extend(rows)
            continue
        spec = planned.spec
        probe = probe_service(spec, settings)
        found = [
            Check(
                "api",
                f"{spec.name} {step.name}",
                step.status,
                step.detail,
                step.hint,
                step.code,
                probe.latency_ms if step.name == "version" else None,
            )
            for step in probe.steps
        ]
        checks.extend(_courtesy(planned, found, jobs_text))
    return checks


# --- Microsoft Graph (probe of connection.SERVICES) -------------------------------------------

GRAPH_LISTED_CHECKED = 20  # mailboxes of GRAPH_USERS whose settings the probe reads


def probe_graph(settings: Settings, probe: Probe, step: StepRunner) -> None:
    """Token (client-credentials), then the three application permissions the job needs, each
    by one read: a user (User.Read.All), a mailbox's settings (MailboxSettings.Read) and one event
    of its calendar view (Calendars.Read). Nothing is written."""
    from datetime import UTC, datetime, timedelta

    from ..clients.graph import GraphClient, MailboxError
    from ..jobs.graph_kimai import parse_mailboxes
    from ..jobs.graph_plan import mailbox_zone

    client = GraphClient(settings, RequestCounter(), page_size=10)
    client.http.fail_fast()
    client.login.fail_fast()

    def tls() -> StepResult:
        """GRAPH_URL's TLS; the login host's too when it is another one (the secret goes there)."""
        from ..http import origin_of

        login_warning: StepResult | None = None
        if origin_of(settings.graph_login_url) != origin_of(settings.graph_url):
            login = _tls(probe, settings.graph_login_url, client.login.timeout)
            if isinstance(login, tuple) and login[0] == "WARN":
                login_warning = ("WARN", f"GRAPH_LOGIN_URL: {login[1]}", *login[2:])
        result = _tls(probe, settings.graph_url, client.http.timeout)
        return result if isinstance(result, tuple) and result[0] == "WARN" else login_warning or result

    step("tls", tls)

    def auth() -> StepResult:
        lifetime, probe.latency_ms = _timed(client.token_expires_in)
        probe.user = f"app {settings.graph_client_id}"
        return (
            f"token for app {settings.graph_client_id} in tenant {settings.graph_tenant_id} "
            f"({probe.latency_ms} ms, valid {lifetime:.0f} s)"
        )

    step("authentication", auth)

    def permissions() -> StepResult:
        first = next(iter(client.users()), None)
        try:  # read as graph-kimai reads it: a malformed entry stops the job, so it fails here too
            listed = list(parse_mailboxes(",".join(settings.graph_users or ()), "GRAPH_USERS"))[:GRAPH_LISTED_CHECKED]
        except UsageError as exc:
            raise ConfigError("GRAPH_USERS", str(exc).removeprefix("GRAPH_USERS: ")) from None
        mailboxes = listed or ([first["mail"]] if first and isinstance(first.get("mail"), str) else [])
        if not mailboxes:
            return (
                "WARN",
                "users readable (User.Read.All), but none has a mail address",
                "set GRAPH_USERS, or check that the tenant's users have mailboxes",
            )
        zones, failed, unknown = [], [], []
        for mailbox in mailboxes:
            try:
                zone = client.mailbox_settings(mailbox).get("timeZone")
            except MailboxError as exc:
                failed.append(f"{mailbox}: {exc.reason}")
                continue
            # the job's own reading (a Windows name through the CLDR table, or an IANA id); a
            # value of another type or length, or a path, is shown shortened and called unknown
            tz = mailbox_zone(zone)
            shown = zone if isinstance(zone, str) and len(zone) <= 60 else repr(zone)[:60]
            if tz is None:
                unknown.append(mailbox)
                zones.append(f"{mailbox} {shown or '?'} (unknown zone: graph-kimai fails this mailbox)")
            else:
                zones.append(f"{mailbox} {shown}" + (f" = {tz.key}" if tz.key != zone else ""))
        if failed and len(failed) == len(mailboxes):
            return "WARN", f"users readable; no mailbox readable: {'; '.join(failed[:3])}", "check GRAPH_USERS"
        sample = next(m for m in mailboxes if not any(f.startswith(m + ":") for f in failed))
        now = datetime.now(UTC)
        client.calendar_probe(sample, now - timedelta(days=1), now)
        seen = (
            f"users readable (User.Read.All); settings of {len(zones)} mailbox(es) readable (MailboxSettings.Read: "
            f"{', '.join(zones[:3])}{', ...' if len(zones) > 3 else ''}); "
            f"calendar of {sample} readable (Calendars.Read)"
        )
        if failed:
            return "WARN", f"{seen}; not readable: {'; '.join(failed[:3])}", "check the mailboxes named in GRAPH_USERS"
        if unknown:
            return "WARN", seen, f"set the time zone of {', '.join(unknown[:3])} in Outlook (mailbox settings)"
        return seen

    step("permissions", permissions)

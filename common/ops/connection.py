"""Read-only probes of every configured service: reachability, TLS, authentication, server
version and the permissions the jobs need. A probe only reads; it never creates test data.

Each service is one entry of SERVICES (its URL and token keys and a probe function); a service
the env file does not mention is not probed. Adding a service = adding one entry.
"""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar
from urllib.parse import urlsplit

from ..clients.shapes import get_many, shape
from ..errors import (
    CONFIG,
    OK,
    UNAVAILABLE,
    AuthError,
    ConfigError,
    NotFound,
    ServiceUnavailable,
    SyncError,
    TemporaryError,
    most_serious,
)
from ..http import RequestCounter
from ..jobs.registry import JOBS
from .tls import RENEW_HINT, describe_tls_error, is_loopback, tls_handshake

if TYPE_CHECKING:
    from ..config import Settings

T = TypeVar("T")
# What a probe step returns: its detail (OK), or (status, detail) or (status, detail, hint)
StepResult = str | tuple[str, str] | tuple[str, str, str]
StepRunner = Callable[[str, Callable[[], StepResult]], str]  # runs one named step of a probe

ADMIN_ROLES = {"ROLE_ADMIN", "ROLE_SUPER_ADMIN"}


@dataclass
class Step:
    name: str
    status: str  # OK, WARN, FAIL
    detail: str
    code: int = OK
    hint: str = ""


FAIL_HINTS = {
    77: "create a token with the rights the jobs need and put it in the env file",
    78: "fix the address or key named in the message",
    69: "run diagnose.py --network to see where the connection fails",
    75: "the service asks to slow down; try again later",
}


@dataclass
class Probe:
    service: str
    url: str
    steps: list[Step] = field(default_factory=list)
    version: str | None = None
    user: str | None = None
    tls: str | None = None
    latency_ms: float | None = None
    used_by: tuple[str, ...] = ()
    skipped: str | None = None  # why the service was not probed

    @property
    def status(self) -> str:
        if self.skipped:
            return "SKIP"
        states = {s.status for s in self.steps}
        return "FAIL" if "FAIL" in states else "WARN" if "WARN" in states else "OK"

    @property
    def code(self) -> int:
        return most_serious(s.code for s in self.steps if s.status == "FAIL")

    @property
    def detail(self) -> str:
        if self.skipped:
            return self.skipped
        for status in ("FAIL", "WARN"):
            for s in self.steps:
                if s.status == status:
                    return f"{s.name}: {s.detail}"
        return "; ".join(s.detail for s in self.steps if s.name == "permissions")

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "url": self.url,
            "status": self.status,
            "exit_code": self.code,
            "used_by": list(self.used_by),
            "version": self.version,
            "user": self.user,
            "tls": self.tls,
            "latency_ms": self.latency_ms,
            "detail": self.detail,
            "steps": [s.__dict__ for s in self.steps],
        }


class _Stop(Exception):
    pass


class _Unreachable(ServiceUnavailable):
    """No connection at all (as opposed to a failed TLS handshake)."""


class _Recorder:
    """Runs the steps of one probe; the first failing step stops the probe."""

    def __init__(self, probe: Probe, url_key: str) -> None:
        self.probe, self.url_key = probe, url_key

    def run(self, name: str, fn: Callable[[], StepResult]) -> str:
        try:
            result = fn()
        except SyncError as exc:
            if isinstance(exc, AuthError) and name == "version":  # Kimai wants the token even there
                name = "authentication"
            elif isinstance(exc, _Unreachable) or (isinstance(exc, ServiceUnavailable) and name == "version"):
                name = "connection"
            if isinstance(exc, NotFound) and name == "version":
                self.fail(name, f"no API answers at {self.url_key} (404); is it the service's root address?", CONFIG)
            self.fail(name, _message(exc, self.probe.service), _code(exc))
        except ValueError:  # an answer that is not JSON: not the API we expected
            self.fail(name, f"the answer is not JSON; is {self.url_key} the root address of the service?", CONFIG)
        status, detail, hint = (result + ("",))[:3] if isinstance(result, tuple) else ("OK", result, "")
        self.probe.steps.append(Step(name, status, detail, OK, hint))
        return status

    def fail(self, name: str, detail: str, code: int) -> NoReturn:
        self.probe.steps.append(Step(name, "FAIL", detail, code, FAIL_HINTS.get(code, "")))
        raise _Stop()


URL_CREDENTIALS = re.compile(r"(\w+://)[^/\s@]+@")


def mask_url_credentials(text: str) -> str:
    """https://user:password@host -> https://***@host, wherever it appears in a text."""
    return URL_CREDENTIALS.sub(r"\1***@", text)


def _message(exc: SyncError, service: str) -> str:
    text = mask_url_credentials(str(exc))
    prefix = f"{service}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def _code(exc: SyncError) -> int:
    if isinstance(exc, (AuthError, ConfigError, ServiceUnavailable, TemporaryError)):
        return exc.exit_code
    if isinstance(exc, NotFound):  # an owner or repository named in the configuration
        return CONFIG
    return UNAVAILABLE


def safe_url(url: str | None) -> str:
    """The address without any user name or password in it."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}{parts.path}"


def _timed(call: Callable[[], T]) -> tuple[T, float]:
    """(what call() returns, milliseconds it took)."""
    started = time.perf_counter()
    result = call()
    return result, round((time.perf_counter() - started) * 1000, 1)


def _tls(probe: Probe, url: str, timeout: float) -> StepResult:
    """https: a real handshake with the certificates the jobs trust. http: fine on this machine,
    a warning elsewhere (the token would travel unencrypted)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        try:
            session = tls_handshake(parts.hostname or "", parts.port or 443, timeout)
        except ssl.SSLError as exc:
            raise ServiceUnavailable(describe_tls_error(exc)) from None
        except OSError as exc:
            raise _Unreachable(
                f"cannot reach {parts.hostname}:{parts.port or 443}: {describe_tls_error(exc)}"
            ) from None
        probe.tls = session.version
        warning = session.expiry_warning()
        if warning:
            return "WARN", f"{session.valid_until}: {warning}", RENEW_HINT
        return session.valid_until
    probe.tls = "none (http)"
    if is_loopback(parts.hostname or ""):
        return "OK", "plain http on this machine"
    return "WARN", "plain http: the token travels unencrypted", "use an https:// address"


# --- Gitea ----------------------------------------------------------------------------------


def _probe_gitea(settings: Settings, probe: Probe, step: StepRunner) -> None:
    from ..clients.gitea import GiteaClient

    client = GiteaClient(settings, RequestCounter())
    http = client.http.fail_fast()

    def version() -> StepResult:
        probe.version, probe.latency_ms = _timed(client.version)
        return f"Gitea {probe.version} ({probe.latency_ms} ms)"

    step("tls", lambda: _tls(probe, settings.gitea_url, http.timeout))
    step("version", version)

    def auth() -> StepResult:
        me = client.me()
        probe.user = me.get("login")
        return f"token of {probe.user}" + (" (site administrator)" if me.get("is_admin") else "")

    step("authentication", auth)

    def permissions() -> StepResult:
        settings.require("GITEA_ORGANIZATION")
        owner = settings.gitea_organization
        kind, response = (
            "organisation",
            http.request("GET", f"orgs/{owner}/repos", params={"limit": 1}, not_found_ok=True),
        )
        if response.status_code == 404:
            kind, response = "user", http.request("GET", f"users/{owner}/repos", params={"limit": 1}, not_found_ok=True)
        if response.status_code == 404:
            raise ConfigError(
                "GITEA_ORGANIZATION", f"no organisation or user named {owner!r} on {safe_url(settings.gitea_url)}"
            )
        repos = response.json()
        total = response.headers.get("X-Total-Count", str(len(repos)))
        wanted = list(settings.repos_to_sync)[:20]
        for name in wanted:
            if http.request("GET", f"repos/{owner}/{name}", not_found_ok=True).status_code == 404:
                raise ConfigError("REPOS_TO_SYNC", f"repository {owner}/{name} not found or not readable")
        sample = wanted[0] if wanted else (repos[0]["name"] if repos else None)
        if sample is None:
            return (
                "WARN",
                f"{kind} {owner}: no repository visible to this token",
                "check GITEA_ORGANIZATION and the token's access",
            )
        http.request("GET", f"repos/{owner}/{sample}/issues", params={"state": "all", "type": "issues", "limit": 1})
        checked = f"{len(wanted)} listed in REPOS_TO_SYNC" if wanted else f"{total} visible"
        return f"{kind} {owner}: repositories readable ({checked}), issues readable"

    step("permissions", permissions)


# --- Kimai ----------------------------------------------------------------------------------


def _probe_kimai(settings: Settings, probe: Probe, step: StepRunner) -> None:
    from ..clients.kimai import ALL, KimaiClient

    client = KimaiClient(settings, RequestCounter())
    http = client.http.fail_fast()

    def version() -> StepResult:  # Kimai answers /api/version only with a valid token
        probe.version, probe.latency_ms = _timed(client.version)
        return f"Kimai {probe.version} ({probe.latency_ms} ms)"

    step("tls", lambda: _tls(probe, settings.kimai_url, http.timeout))
    step("version", version)

    roles: list[Any] = []

    def auth() -> StepResult:
        me = client.me()
        probe.user = me.get("username")
        roles.extend(me.get("roles") or [])
        return f"token of {probe.user} (time zone {me.get('timezone')})"

    step("authentication", auth)

    def permissions() -> StepResult:
        customers = client.list_customers()
        projects = client.list_projects()
        params: dict[str, Any] = {"visible": ALL}
        if projects:
            params["projects[]"] = [str(projects[0]["id"])]
        activities = get_many(http, "activities", params, shape(id="id"))
        seen = (
            f"reads {len(customers)} customers, {len(projects)} projects, activities ({len(activities)} in one project)"
        )
        if roles and not ADMIN_ROLES & set(roles):
            return (
                "WARN",
                (
                    f"{seen}; roles {', '.join(roles)}: creating customers and projects needs "
                    "ROLE_ADMIN in a default Kimai"
                ),
                "give the token's user ROLE_ADMIN (or those permissions)",
            )
        return seen

    step("permissions", permissions)


# --- Zammad ---------------------------------------------------------------------------------


def _probe_zammad(settings: Settings, probe: Probe, step: StepRunner) -> None:
    from ..clients.zammad import ZammadClient

    client = ZammadClient(settings, RequestCounter())
    http = client.http.fail_fast()
    step("tls", lambda: _tls(probe, settings.zammad_url, http.timeout))
    roles: list[Any] = []

    def auth() -> StepResult:  # Zammad has no public version endpoint: the token's user answers for reachability
        me, probe.latency_ms = _timed(client.me)
        probe.user = me.get("email") or me.get("login")
        roles.extend(me.get("role_ids") or [])
        return f"token of {probe.user} ({probe.latency_ms} ms)"

    step("authentication", auth)

    def permissions() -> StepResult:
        tickets = get_many(http, "tickets/search", {"query": "*", "per_page": 1}, shape(id="id"))
        types = client.activity_types()
        if tickets:
            client.time_accountings(tickets[0]["id"])
        return f"tickets searchable, time accountings readable, {len(types)} activity types"

    step("permissions", permissions)


# --- Toggl and Harvest ----------------------------------------------------------------------


def _probe_toggl(settings: Settings, probe: Probe, step: StepRunner) -> None:
    from ..clients.toggl import TogglClient

    client = TogglClient(settings, RequestCounter())
    http = client.http.fail_fast()
    step("tls", lambda: _tls(probe, settings.toggl_url, http.timeout))

    def auth() -> StepResult:  # Toggl has no version endpoint: the token's user answers for reachability
        me, probe.latency_ms = _timed(client.me)
        probe.user = me.get("email")
        return f"token of {probe.user} ({probe.latency_ms} ms)"

    step("authentication", auth)

    def permissions() -> StepResult:
        projects = client.projects()
        return f"workspace {settings.toggl_workspace}: {len(projects)} projects readable"

    step("permissions", permissions)


def _probe_harvest(settings: Settings, probe: Probe, step: StepRunner) -> None:
    from ..clients.harvest import HarvestClient

    client = HarvestClient(settings, RequestCounter())
    http = client.http.fail_fast()
    step("tls", lambda: _tls(probe, settings.harvest_url, http.timeout))

    def auth() -> StepResult:
        me, probe.latency_ms = _timed(client.me)
        probe.user = me.get("email")
        return f"token of {probe.user} ({probe.latency_ms} ms)"

    step("authentication", auth)

    def permissions() -> StepResult:
        http.get_json("time_entries", {"per_page": 1})
        return f"account {settings.harvest_account_id}: time entries readable"

    step("permissions", permissions)


def _probe_graph(settings: Settings, probe: Probe, step: StepRunner) -> None:
    from .service_checks import probe_graph  # Graph's probe lives with the other service checks

    probe_graph(settings, probe, step)


# --- Jira and Confluence ---------------------------------------------------------------------


def _probe_jira(settings: Settings, probe: Probe, step: StepRunner) -> None:
    from ..clients.jira import DEPLOYMENTS, Deployment, deployment_of, jira_client

    counter = RequestCounter()
    found: list[Deployment] = []
    step("tls", lambda: _tls(probe, settings.jira_url, settings.http_timeout))

    def version() -> StepResult:  # /rest/api/2/serverInfo: both deployments answer it
        info, probe.latency_ms = _timed(lambda: atlassian_info(settings, counter))
        probe.version = str(info.get("version") or "?")
        detected = deployment_of(info)
        chosen = settings.atlassian_deployment
        found.append(chosen if chosen in DEPLOYMENTS else detected)
        text = f"Jira {probe.version}, {'Cloud' if detected == 'cloud' else 'Data Center'} ({probe.latency_ms} ms)"
        if chosen in DEPLOYMENTS and chosen != detected:
            return "WARN", f"{text}, but ATLASSIAN_DEPLOYMENT={chosen}", "set ATLASSIAN_DEPLOYMENT=auto"
        return text

    step("version", version)
    client = jira_client(settings, counter, found[0])
    client.http.fail_fast()

    def auth() -> StepResult:
        me = client.myself()
        probe.user = str(me.get("emailAddress") or me.get("displayName") or me.get("name") or "")
        return f"token of {probe.user or 'the API user'}" + (" (Basic e-mail:token)" if settings.jira_email else "")

    step("authentication", auth)

    def permissions() -> StepResult:
        key = settings.jira_project
        if not key:
            return "WARN", "JIRA_PROJECT is not set: only tasks under a Jira issue macro can be turned into issues", ""
        project = client.project(key)
        if project is None:
            raise ConfigError("JIRA_PROJECT", f"project {key} does not exist in Jira (or the token cannot see it)")
        types = [str(t.get("name")) for t in project.get("issueTypes") or [] if isinstance(t, dict)]
        if types and settings.jira_issue_type.lower() not in (t.lower() for t in types):
            raise ConfigError("JIRA_ISSUE_TYPE", f"project {key} has no issue type {settings.jira_issue_type!r}")
        return f"project {key} readable, issue type {settings.jira_issue_type}"

    step("permissions", permissions)


def atlassian_info(settings: Settings, counter: RequestCounter) -> dict[str, Any]:
    from ..clients import FirstAnswer
    from ..clients.jira import auth_for
    from ..clients.shapes import shape
    from ..http import ServiceSession

    headers, basic = auth_for(settings.jira_token, settings.jira_email)
    http = ServiceSession(
        "jira",
        f"{settings.jira_url}/rest/api/2",
        headers,
        settings,
        counter=counter,
        auth=basic,
        token_key="JIRA_TOKEN",
    ).fail_fast()
    info = FirstAnswer(http, "JIRA_URL", "Jira").get_json("serverInfo", shape=shape(version="str"))
    return info if isinstance(info, dict) else {}


def _probe_confluence(settings: Settings, probe: Probe, step: StepRunner) -> None:
    from ..clients.confluence import ConfluenceClient, confluence_client, page_ref
    from ..clients.jira import atlassian_deployment

    counter = RequestCounter()
    step("tls", lambda: _tls(probe, settings.confluence_url, settings.http_timeout))
    clients: list[ConfluenceClient] = []

    def auth() -> StepResult:
        client = confluence_client(settings, counter, atlassian_deployment(settings, counter))
        client.http.fail_fast()
        clients.append(client)
        me, probe.latency_ms = _timed(client.current_user)
        probe.user = str(me.get("email") or me.get("displayName") or me.get("username") or "")
        return f"token of {probe.user or 'the API user'} ({probe.latency_ms} ms)"

    step("authentication", auth)

    def pages() -> StepResult:
        configured = list(settings.confluence_pages or ())
        if not configured:
            return "WARN", "CONFLUENCE_PAGES is not set: confluence-jira needs --page", ""
        for text in configured[:20]:
            try:
                ref = page_ref(text)
            except ValueError as exc:
                raise ConfigError("CONFLUENCE_PAGES", str(exc)) from None
            page_id = ref.page_id or clients[0].find_page(ref.space or "", ref.title or "")
            try:
                if page_id is None:
                    raise NotFound("no such page")
                clients[0].get_page(page_id)
            except NotFound:
                raise ConfigError(
                    "CONFLUENCE_PAGES", f"page {page_id or text} does not exist or is not readable"
                ) from None
        return f"{len(configured)} configured page(s) readable"

    step("permissions", pages)


ProbeFn = Callable[["Settings", Probe, StepRunner], None]  # the steps of one service's probe


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    url_key: str
    token_key: str
    probe: ProbeFn
    clock_path: str  # a cheap GET answered without credentials (any status), for the Date header
    also_keys: tuple[str, ...] = ()  # other keys whose value alone makes the service configured


SERVICES = [
    ServiceSpec("gitea", "GITEA_URL", "GITEA_TOKEN", _probe_gitea, "api/v1/version"),
    ServiceSpec("kimai", "KIMAI_URL", "KIMAI_TOKEN", _probe_kimai, "api/ping"),
    ServiceSpec("zammad", "ZAMMAD_URL", "ZAMMAD_TOKEN", _probe_zammad, "api/v1/users/me"),
    ServiceSpec("toggl", "TOGGL_URL", "TOGGL_TOKEN", _probe_toggl, "api/v9/me"),
    ServiceSpec("harvest", "HARVEST_URL", "HARVEST_TOKEN", _probe_harvest, "v2/users/me"),
    ServiceSpec(
        "graph",
        "GRAPH_URL",
        "GRAPH_CLIENT_SECRET",
        _probe_graph,
        "v1.0/users",
        ("GRAPH_TENANT_ID", "GRAPH_CLIENT_ID", "GRAPH_LOGIN_URL"),
    ),
    ServiceSpec("jira", "JIRA_URL", "JIRA_TOKEN", _probe_jira, "rest/api/2/serverInfo"),
    # Confluence's token defaults to Jira's: the probe needs CONFLUENCE_URL and a token of either
    ServiceSpec("confluence", "CONFLUENCE_URL", "JIRA_TOKEN", _probe_confluence, "rest/api/user/current"),
]


# the services each job talks to
JOB_SERVICES = {name: job.services for name, job in JOBS.items()}
NOT_CONFIGURED = "skipped (not configured)"


def is_configured(settings: Settings, spec: ServiceSpec) -> bool:
    """The user set the service's token, or an address (a default address alone does not count),
    or one of its `also_keys` (Graph's tenant or client id without the secret: half-configured)."""
    return any(
        settings.get(key) and settings.sources.get(key) != "default"
        for key in (spec.token_key, spec.url_key, *spec.also_keys)
    ) or bool(settings.get(spec.token_key))


def configured_services(settings: Settings) -> list[ServiceSpec]:
    """The services the configuration mentions: a token is set, or an address that has no default."""
    return [spec for spec in SERVICES if is_configured(settings, spec)]


@dataclass(frozen=True)
class Planned:
    spec: ServiceSpec
    used_by: tuple[str, ...]  # the jobs (or "--service") that need it; empty = not used
    configured: bool

    @property
    def action(self) -> str:
        """check: its failures count; courtesy: configured but unused, failures only warn; skip."""
        return "check" if self.used_by else "courtesy" if self.configured else "skip"


def service_plan(settings: Settings, jobs: Iterable[str] = (), only: Collection[str] = ()) -> list[Planned]:
    """What to do with each service for `jobs` (default SYNC_JOBS) or the services named in
    `only`: check the ones they use, check the other configured ones as a courtesy (a failure
    there only warns), skip the rest."""
    wanted: tuple[str, ...] = tuple(jobs or settings.sync_jobs)
    plan = []
    for spec in SERVICES:
        if only and spec.name not in only:
            continue
        used_by = ("--service",) if only else tuple(j for j in wanted if spec.name in JOB_SERVICES.get(j, ()))
        plan.append(Planned(spec, used_by, is_configured(settings, spec)))
    return plan


def require_something(plan: Sequence[Planned], jobs: Sequence[str]) -> None:
    """Nothing at all configured for what was asked: one line naming the first key to set."""
    if any(p.configured for p in plan):
        return
    first = next((p.spec for p in plan if p.used_by), plan[0].spec if plan else SERVICES[0])
    raise ConfigError(
        first.url_key,
        f"no service is configured for {', '.join(jobs) or 'SYNC_JOBS'}: "
        f"set {first.url_key} and {first.token_key} (and the other service's keys)",
    )


def soften(steps: list[Step], used_by_text: str) -> list[Step]:
    """A configured service no job uses: its failures are shown as warnings and stop nothing."""
    for step in steps:
        if step.status == "FAIL":
            step.status, step.code = "WARN", OK
            step.hint = f"not used by {used_by_text}; " + (step.hint or "fix it before a job uses this service")
    return steps


def probe_service(spec: ServiceSpec, settings: Settings) -> Probe:
    """Every step of one service's probe; stops at the first failing step."""
    uncached = settings.with_overrides(CACHE_ENABLED=False)  # answer from the server, never a cache
    probe = Probe(spec.name, safe_url(uncached.get(spec.url_key)))
    recorder = _Recorder(probe, spec.url_key)
    try:
        try:
            uncached.require(spec.url_key, spec.token_key)
        except ConfigError as exc:
            recorder.fail("configuration", str(exc), CONFIG)
        try:
            spec.probe(uncached, probe, recorder.run)
        except ConfigError as exc:  # a key the client needs (HARVEST_ACCOUNT_ID): this service's row, not the run
            recorder.fail("configuration", str(exc), CONFIG)
    except _Stop:
        pass
    return probe


def probe_all(settings: Settings, jobs: Iterable[str] = (), only: Collection[str] = ()) -> list[Probe]:
    """One probe per service (see service_plan): checked, courtesy-checked or skipped."""
    wanted: tuple[str, ...] = tuple(jobs or settings.sync_jobs)
    plan = service_plan(settings, wanted, only)
    require_something(plan, wanted)
    probes = []
    for planned in plan:
        spec = planned.spec
        if planned.action == "skip":
            probes.append(Probe(spec.name, "", skipped=NOT_CONFIGURED))  # a default address is no configuration
            continue
        probe = probe_service(spec, settings)
        probe.used_by = tuple(j for j in planned.used_by if j != "--service")
        if planned.action == "courtesy":
            soften(probe.steps, f"SYNC_JOBS ({', '.join(wanted)})")
        probes.append(probe)
    return probes


def exit_code(probes: Iterable[Probe]) -> int:
    return most_serious(p.code for p in probes)


def first_error(probes: Iterable[Probe]) -> str | None:
    """The error of `test_connection.py --json` (null when every checked service passes): the
    first failed service with the exit code's reason, `service: detail`."""
    probes = list(probes)
    code = exit_code(probes)
    failed = [p for p in probes if p.status == "FAIL" and p.code == code] if code else []
    return f"{failed[0].service}: {failed[0].detail}" if failed else None

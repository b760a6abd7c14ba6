"""One Settings object, resolved once: flags > environment > env file > defaults.

Every key the toolkit reads is declared in KEYS with its type, default and a one-line comment;
`.env.template` documents the same keys (a test keeps the two in step). A key in the env file
that is not declared here, or a value that does not parse, is refused with exit 78 naming it.
"""

from __future__ import annotations

import base64
import difflib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

from .errors import ConfigError

DEFAULT_ENV_FILE = ".env"

# A resolved value: its key's kind (KEYS) decides whether it is a str, bool, int, float, a tuple
# of str or None, so readers get Any and the key's declaration is the type.
Value = Any


@dataclass(frozen=True)
class Key:
    name: str
    kind: str  # str, secret, url, bool, int, float, list, choice, timezone, path, map
    default: Value = None
    help: str = ""
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None  # a bound that keeps a typo from starting 10**9 threads or waiting a year
    blank_is_default: bool = True  # KEY= means "not set"; False where an empty value means something
    pattern: str | None = None  # a str value must match it whole (a value that goes into a URL path)


KEYS = {
    k.name: k
    for k in [
        # Gitea
        Key(
            "GITEA_URL",
            "url",
            None,
            "Gitea root address, e.g. https://git.example.com (a trailing /api/v1 is tolerated)",
        ),
        Key(
            "GITEA_TOKEN",
            "secret",
            None,
            "Gitea access token (Settings > Applications), read access to repositories and issues",
        ),
        Key("GITEA_ORGANIZATION", "str", None, "owner whose repositories are synced: an organisation or a user"),
        Key("REPOS_TO_SYNC", "list", (), "comma list of repository names; empty = every repository of the owner"),
        Key("SYNC_PULL_REQUESTS", "bool", False, "also sync pull requests as activities"),
        # Kimai
        Key(
            "KIMAI_URL",
            "url",
            None,
            "Kimai root address, e.g. https://kimai.example.com (a trailing /api is tolerated)",
        ),
        Key(
            "KIMAI_TOKEN", "secret", None, "Kimai API token (user profile > API access), sent as Authorization: Bearer"
        ),
        Key(
            "KIMAI_CUSTOMER",
            "str",
            None,
            "customer that created projects go under; default the Gitea owner's name; created if missing",
        ),
        Key("KIMAI_CUSTOMER_COUNTRY", "str", "DE", "country code for a customer the toolkit creates"),
        Key("KIMAI_CUSTOMER_CURRENCY", "str", "EUR", "currency code for a customer the toolkit creates"),
        Key("KIMAI_CUSTOMER_TIMEZONE", "timezone", "UTC", "IANA time zone for a customer the toolkit creates"),
        Key(
            "CLOSED_ISSUES",
            "choice",
            "hide",
            "what a closed issue does to its activity: hide (visible=false) or keep",
            ("hide", "keep"),
        ),
        # Zammad (source of the zammad-kimai job)
        Key(
            "ZAMMAD_URL",
            "url",
            None,
            "Zammad root address, e.g. https://support.example.com (a trailing /api/v1 is tolerated)",
        ),
        Key(
            "ZAMMAD_TOKEN",
            "secret",
            None,
            "Zammad access token (Profile > Token Access) with ticket.agent, sent as Authorization: Token token=...",
        ),
        Key(
            "ZAMMAD_TIME_UNIT", "str", "minutes", "what one Zammad time unit is: minutes, hours, or a number of minutes"
        ),
        Key(
            "ZAMMAD_PROJECT_STRATEGY",
            "choice",
            "organization",
            "organization: organisation -> customer, ticket -> project; "
            "ticket: every ticket a project under KIMAI_CUSTOMER; fixed: all time to ZAMMAD_PROJECT",
            ("organization", "ticket", "fixed"),
        ),
        Key(
            "ZAMMAD_PROJECT",
            "str",
            None,
            "Kimai project (name or id) for ZAMMAD_PROJECT_STRATEGY=fixed; created under KIMAI_CUSTOMER when missing",
        ),
        Key(
            "ZAMMAD_ACTIVITY_MAP",
            "map",
            None,
            "Zammad activity type -> Kimai activity, inline 'Billable=Support;3=Consulting' "
            "or a file path (one 'type=activity' a line); by id or name",
        ),
        Key(
            "ZAMMAD_DEFAULT_ACTIVITY",
            "str",
            None,
            "Kimai activity (name or id) for entries without a (mapped) activity type; unset = such entries fail",
        ),
        Key(
            "ZAMMAD_USER_MAP",
            "map",
            None,
            "agent e-mail -> Kimai user id, inline 'a@x.com=3;b@x.com=4' or a file path; "
            "unset = all time to the token's user",
        ),
        Key(
            "ZAMMAD_CONFLICT_POLICY",
            "choice",
            "manual",
            "a timesheet changed in Kimai and its entry in Zammad: manual (record a conflict), zammad-wins, kimai-wins",
            ("manual", "zammad-wins", "kimai-wins"),
        ),
        Key(
            "ZAMMAD_DELETE_POLICY",
            "choice",
            "report",
            "an entry deleted in Zammad: report it, or delete its timesheet",
            ("report", "delete"),
        ),
        Key(
            "ZAMMAD_WEBHOOK_SECRET",
            "secret",
            None,
            "signature token of the Zammad webhook (X-Hub-Signature, HMAC-SHA1); unset = unsigned deliveries accepted",
        ),
        Key(
            "KIMAI_TIMEZONE",
            "timezone",
            None,
            "time zone Kimai times are sent in; default the Kimai user's own preference",
        ),
        # Imports: Toggl, Harvest, CSV (jobs toggl-kimai, harvest-kimai, csv-kimai)
        Key("TOGGL_URL", "url", "https://api.track.toggl.com", "Toggl Track root address (the API is under /api/v9)"),
        Key("TOGGL_TOKEN", "secret", None, "Toggl API token (Profile settings), sent as HTTP Basic <token>:api_token"),
        Key("TOGGL_WORKSPACE", "int", None, "Toggl workspace id whose projects, clients and tags are read", minimum=1),
        Key("HARVEST_URL", "url", "https://api.harvestapp.com", "Harvest root address (the API is under /v2)"),
        Key("HARVEST_TOKEN", "secret", None, "Harvest personal access token, sent as Authorization: Bearer"),
        Key("HARVEST_ACCOUNT_ID", "str", None, "Harvest account id, sent as Harvest-Account-Id"),
        Key(
            "HARVEST_TIMEZONE",
            "timezone",
            None,
            "IANA zone of Harvest's dates and started/ended times; default the Kimai time zone",
        ),
        Key(
            "IMPORT_MAP",
            "map",
            None,
            "mapping file: lines 'customer:Source=Kimai', 'project:...', 'activity:...', 'user:source=Kimai user id'",
        ),
        Key(
            "IMPORT_CUSTOMER",
            "str",
            "Imported",
            "customer for projects created by --create-missing when the source names none",
        ),
        Key("IMPORT_DEFAULT_ACTIVITY", "str", "Work", "activity for imported entries whose source has no task"),
        Key(
            "IMPORT_DAY_START",
            "str",
            "09:00",
            "where a day's Harvest entries without start times are laid end to end from (HH:MM)",
        ),
        Key(
            "IMPORT_DELETE_POLICY",
            "choice",
            "report",
            "an entry deleted at the source: report it, or delete its timesheet",
            ("report", "delete"),
        ),
        # Microsoft Graph: Outlook calendars (source of the graph-kimai job)
        Key(
            "GRAPH_TENANT_ID",
            "str",
            None,
            "Microsoft Entra tenant id (a GUID) or its domain, e.g. acme.onmicrosoft.com",
            pattern=r"[A-Za-z0-9][A-Za-z0-9.-]{0,253}",
        ),
        Key(
            "GRAPH_CLIENT_ID",
            "str",
            None,
            "application (client) id of the app registration",
            pattern=r"[A-Za-z0-9][A-Za-z0-9.-]{0,253}",
        ),
        Key(
            "GRAPH_CLIENT_SECRET",
            "secret",
            None,
            "client secret of the app registration (client-credentials grant; application permissions "
            "Calendars.Read, User.Read.All, MailboxSettings.Read)",
        ),
        Key("GRAPH_URL", "url", "https://graph.microsoft.com", "Microsoft Graph root address (the API is under /v1.0)"),
        Key(
            "GRAPH_LOGIN_URL",
            "url",
            "https://login.microsoftonline.com",
            "Microsoft identity platform root address (token endpoint {tenant}/oauth2/v2.0/token)",
        ),
        Key(
            "GRAPH_USERS",
            "list",
            (),
            "comma list of mailboxes (e-mail addresses); empty = every user with a mail address",
        ),
        Key(
            "GRAPH_WINDOW_PAST_DAYS",
            "int",
            90,
            "days before today whose calendar events are read",
            minimum=0,
            maximum=3650,
        ),
        Key(
            "GRAPH_WINDOW_FUTURE_DAYS",
            "int",
            30,
            "days after today whose calendar events are read",
            minimum=0,
            maximum=3650,
        ),
        Key(
            "GRAPH_CATEGORY_MAP",
            "map",
            None,
            "Outlook category -> Kimai project or activity, inline 'Website relaunch=Relaunch;Call=activity:Calls' "
            "or a file path (lines 'Category=Project', 'Category=project:Name', 'Category=activity:Name')",
        ),
        Key(
            "GRAPH_DEFAULT_ACTIVITY",
            "str",
            None,
            "Kimai activity (name or id) for events whose categories name no activity; unset = such events fail",
        ),
        Key(
            "GRAPH_USER_MAP",
            "map",
            None,
            "mailbox -> Kimai user id, inline 'ann@acme.example=3;bob@acme.example=4' or a file path; "
            "unset = all time to the token's user",
        ),
        Key(
            "GRAPH_SKIP",
            "list",
            ("declined", "cancelled", "free", "all-day"),
            "events not turned into timesheets, comma list of declined, tentative, cancelled, free, all-day; "
            "none = skip nothing",
            ("declined", "tentative", "cancelled", "free", "all-day", "none"),
        ),
        Key(
            "GRAPH_PRIVATE",
            "choice",
            "redact",
            "private events: redact (the timesheet says 'Private appointment', never the subject) or skip",
            ("redact", "skip"),
        ),
        Key(
            "GRAPH_DELETE_POLICY",
            "choice",
            "report",
            "an event deleted or cancelled in Outlook: report it, or delete its timesheet",
            ("report", "delete"),
        ),
        Key(
            "GRAPH_CONFLICT_POLICY",
            "choice",
            "manual",
            "a timesheet changed in Kimai and its event in Outlook: manual (record a conflict), graph-wins, kimai-wins",
            ("manual", "graph-wins", "kimai-wins"),
        ),
        # Jira and Confluence (the confluence-jira job)
        Key(
            "JIRA_URL",
            "url",
            None,
            "Jira site root, e.g. https://acme.atlassian.net (Cloud) or https://jira.acme.example (Data Center)",
        ),
        Key(
            "CONFLUENCE_URL",
            "url",
            None,
            "Confluence site root, e.g. https://acme.atlassian.net/wiki (Cloud) or https://confluence.acme.example",
        ),
        Key(
            "ATLASSIAN_DEPLOYMENT",
            "choice",
            "auto",
            "auto (read once from Jira's serverInfo), cloud (Jira REST v3, Confluence v2) or datacenter "
            "(Jira REST v2, Confluence /rest/api/content)",
            ("auto", "cloud", "datacenter"),
        ),
        Key(
            "JIRA_EMAIL",
            "str",
            None,
            "Atlassian account e-mail for Cloud (Basic e-mail:API token); unset = JIRA_TOKEN is a Data Center "
            "personal access token sent as Bearer",
        ),
        Key("JIRA_TOKEN", "secret", None, "Jira API token (Cloud) or personal access token (Data Center)"),
        Key("CONFLUENCE_EMAIL", "str", None, "Confluence account e-mail; default JIRA_EMAIL"),
        Key("CONFLUENCE_TOKEN", "secret", None, "Confluence API token or personal access token; default JIRA_TOKEN"),
        Key(
            "CONFLUENCE_PAGES",
            "list",
            (),
            "comma list of page ids or page URLs whose page trees confluence-jira reads (--page replaces them)",
        ),
        Key(
            "CONFLUENCE_PARENT_PAGE",
            "str",
            None,
            "page id or page URL under which jira-confluence keeps one page per epic (--parent-page replaces it)",
        ),
        Key(
            "JIRA_PROJECT",
            "str",
            None,
            "project key of issues made from tasks whose page (or ancestor) holds no Jira issue macro",
            pattern=r"[A-Z][A-Z0-9_]{0,254}",
        ),
        Key("JIRA_ISSUE_TYPE", "str", "Task", "issue type of the issues made from tasks"),
        Key("JIRA_DONE_STATUS", "str", "Done", "status an issue is moved to when its task is checked"),
        Key("JIRA_UNDO_STATUS", "str", "Backlog", "status `sync.py undo` moves a run's issues to"),
        Key(
            "CONFLUENCE_TASK_STYLE",
            "choice",
            "link",
            "link: the task gets the issue's macro appended; replace: the task becomes a paragraph with the macro",
            ("link", "replace"),
        ),
        Key(
            "CONFLUENCE_COMPLETED_TASKS",
            "choice",
            "skip",
            "tasks already checked when first seen: skip, or create-done (an issue moved to JIRA_DONE_STATUS)",
            ("skip", "create-done"),
        ),
        Key(
            "CONFLUENCE_USER_MAP",
            "map",
            None,
            "mention (Cloud account id or Data Center user key) -> Jira user (account id or user name), "
            "inline 'a=b;c=d' or a file path; unset = mentions assign as they are",
        ),
        Key(
            "JIRA_SEARCH_LAG",
            "float",
            60.0,
            "seconds an issue may stay invisible to Jira search after its create was sent; a task whose "
            "issue is not found is created again only after this",
            minimum=0,
            maximum=86400,
        ),
        # Running
        Key("SYNC_JOBS", "list", ("gitea-kimai",), "jobs run by a bare `python sync.py`, comma separated"),
        Key("SYNC_WORKERS", "int", 4, "parallel requests per run", minimum=1, maximum=64),
        Key("DATABASE_PATH", "path", "sync.db", "SQLite store of links, runs, cursors and audit events"),
        Key("READ_ONLY_MODE", "bool", False, "never write to any service (every run behaves as --dry-run)"),
        Key("HTTP_TIMEOUT", "float", 30.0, "seconds to wait for a connection or a response", minimum=1, maximum=3600),
        Key(
            "HTTP_RETRY_BACKOFF",
            "float",
            0.2,
            "seconds before the second retry of a failed request; doubles with each retry, up to 5 s",
            minimum=0,
            maximum=10,
        ),
        Key("RATE_LIMIT_ENABLED", "bool", False, "throttle requests per service on our side"),
        Key("RATE_LIMIT_REQUESTS", "int", 100, "requests allowed per RATE_LIMIT_PERIOD per service", minimum=1),
        Key("RATE_LIMIT_PERIOD", "float", 10.0, "seconds of the rate limit window", minimum=0.001, maximum=86400),
        Key(
            "PAGE_SIZE", "int", 50, "items per page when reading lists (Gitea caps it at 50)", minimum=1, maximum=10000
        ),
        Key(
            "MAX_PAGES",
            "int",
            0,
            "stop reading a list after this many pages (0 = no limit); a cut list keeps its cursor",
            minimum=0,
        ),
        Key(
            "CACHE_ENABLED",
            "bool",
            True,
            "cache reference data (server versions, identities); never lists that can change",
        ),
        Key("CACHE_TTL", "int", 3600, "seconds a cached reference answer stays valid", minimum=0),
        Key("CACHE_DIR", "path", ".cache", "folder of the HTTP cache"),
        Key("EXPORT_ENABLED", "bool", False, "write CSV exports of links and run statistics after every run"),
        Key("EXPORT_DIR", "path", "exports", "folder for CSV exports"),
        Key("BACKUP_DIR", "path", "backups", "folder for store backups"),
        Key("LOG_LEVEL", "choice", "INFO", "level of the log file", ("DEBUG", "INFO", "WARNING", "ERROR")),
        Key(
            "LOG_FILE",
            "path",
            "tracksync.log",
            "rotating log file (empty = no log file); never contains a token",
            blank_is_default=False,
        ),
    ]
}

SECRET_KEYS = tuple(name for name, key in KEYS.items() if key.kind == "secret")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def parse_value(key: Key, raw: object) -> Value:
    """Turn a raw string (or a flag's Python value) into the key's type, or raise ConfigError."""
    if not isinstance(raw, str):
        return raw
    value = raw.strip()
    if not value and key.blank_is_default:
        return key.default
    kind = key.kind
    if kind in ("str", "secret", "path", "map"):
        if value and key.pattern and not re.fullmatch(key.pattern, value):
            raise ConfigError(key.name, f"not a valid value: {value[:60]!r}")
        return value or None
    if kind == "url":
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(key.name, f"not an http(s) address: {_shown_url(value)!r}")
        if parts.username is not None or parts.password is not None:
            raise ConfigError(key.name, "must not hold a user name or password (the token keys carry credentials)")
        if parts.query or parts.fragment:
            raise ConfigError(
                key.name, f"must be the service's root address, without ?query or #fragment: {_shown_url(value)!r}"
            )
        try:
            parts.port  # noqa: B018 (raises ValueError for a port out of range)
        except ValueError:
            raise ConfigError(key.name, f"has an invalid port: {_shown_url(value)!r}") from None
        return value.rstrip("/")
    if kind == "bool":
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ConfigError(key.name, f"expected true or false, got {value!r}")
    if kind in ("int", "float"):
        try:
            number: float = int(value) if kind == "int" else float(value)
        except ValueError:
            raise ConfigError(
                key.name, f"expected a{'n integer' if kind == 'int' else ' number'}, got {value!r}"
            ) from None
        if not math.isfinite(number):
            raise ConfigError(key.name, f"expected a finite number, got {value!r}")
        if key.minimum is not None and number < key.minimum:
            raise ConfigError(key.name, f"must be at least {key.minimum:g}, got {value!r}")
        if key.maximum is not None and number > key.maximum:
            raise ConfigError(key.name, f"must be at most {key.maximum:g}, got {value!r}")
        return number
    if kind == "list":
        items = tuple(part.strip() for part in value.split(",") if part.strip())
        if not items:
            raise ConfigError(key.name, f"expected a comma list of names, got {value!r}")
        if key.choices:  # a list of known words, any case; 'none' alone = the empty list
            unknown = [item for item in items if item.lower() not in key.choices]
            if unknown:
                raise ConfigError(
                    key.name, f"unknown {', '.join(repr(u) for u in unknown)}; expected {', '.join(key.choices)}"
                )
            items = tuple(item.lower() for item in items)
            if "none" in items:
                if len(items) > 1:
                    raise ConfigError(key.name, "'none' cannot be combined with other names")
                return ()
        twice = sorted({item for item in items if items.count(item) > 1})
        if twice:
            raise ConfigError(key.name, f"names {', '.join(twice)} more than once")
        return items
    if kind == "choice":
        for choice in key.choices:
            if value.lower() == choice.lower():
                return choice
        raise ConfigError(key.name, f"expected one of {', '.join(key.choices)}, got {value!r}")
    if kind == "timezone":
        if not value:
            return None
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(key.name, f"unknown IANA time zone {value!r}") from None
        return value
    raise AssertionError(f"unknown kind {kind}")


def _shown_url(value: str) -> str:
    """An address as it may be shown: any user:password part masked."""
    return re.sub(r"//[^/@]*@", "//***@", value)


def is_blank(key: Key, raw: object) -> bool:
    """KEY= (or only spaces): the key is not set and keeps its default."""
    return isinstance(raw, str) and not raw.strip() and key.blank_is_default


def read_env_file(path: str | PathLike[str]) -> dict[str, str]:
    """The key/value pairs of an env file; unknown keys are refused with a suggestion."""
    values = dotenv_values(path)
    _refuse_repeated_keys(path)
    for name in values:
        if name not in KEYS:
            close = difflib.get_close_matches(name, KEYS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(name, f"unknown key in {path}{hint}")
    return {name: value if value is not None else "" for name, value in values.items()}


def _refuse_repeated_keys(path: str | PathLike[str]) -> None:
    """A key set twice in one env file is a mistake whichever line was meant: refused (78)."""
    seen: dict[str, int] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        match = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", line)
        if not match:
            continue
        name = match.group(1)
        if name in seen:
            raise ConfigError(name, f"set twice in {path} (lines {seen[name]} and {number}); keep one")
        seen[name] = number


class Settings:
    """Resolved configuration. Read values as attributes (settings.gitea_url) or settings["GITEA_URL"]."""

    def __init__(
        self, values: dict[str, Value], env_file: str | None = None, sources: dict[str, str] | None = None
    ) -> None:
        self._values = values
        self.env_file = env_file
        self.sources = sources or {}

    def __getitem__(self, name: str) -> Value:
        return self._values[name]

    def get(self, name: str, default: Value = None) -> Value:
        return self._values.get(name, default)

    def __getattr__(self, attr: str) -> Value:
        name = attr.upper()
        if name in KEYS:
            return self._values[name]
        raise AttributeError(attr)

    def require(self, *names: str) -> None:
        """Raise ConfigError naming the first key without a value."""
        for name in names:
            if self._values.get(name) in (None, "", ()):
                where = (
                    f" (set it in {self.env_file} or the environment)"
                    if self.env_file
                    else f" (no env file was read: ./{DEFAULT_ENV_FILE} does not exist here; copy .env.template"
                    " to .env, or pass --env-file PATH)"
                )
                raise ConfigError(name, f"missing{where}")

    def secrets(self) -> list[str]:
        """Configured secret values, for redaction; with an Atlassian e-mail also its `e-mail:token`
        pair, whose base64 is the Basic header (the token alone is not a substring of it)."""
        values = [self._values[name] for name in SECRET_KEYS if self._values.get(name)]
        for email_key, token_key in (("JIRA_EMAIL", "JIRA_TOKEN"), ("CONFLUENCE_EMAIL", "CONFLUENCE_TOKEN")):
            email = self._values.get(email_key) or self._values.get("JIRA_EMAIL")
            token = self._values.get(token_key) or self._values.get("JIRA_TOKEN")
            if email and token:
                pair = f"{email}:{token}"
                # the Basic credential itself too, so that its own encodings (a server echoing the
                # header URL-encoded or base64-encoded once more) are masked like the token's
                values += [pair, base64.b64encode(pair.encode()).decode()]
        return values

    def with_overrides(self, **overrides: Value) -> Settings:
        values = dict(self._values)
        values.update({k.upper(): v for k, v in overrides.items()})
        return Settings(values, self.env_file, self.sources)


def load_settings(
    env_file: str | PathLike[str] | None = None,
    overrides: Mapping[str, Value] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve every key: overrides (flags, None = not given) > environment > env file > defaults.

    env_file: explicit path (must exist), else SYNC_ENV_FILE, else ./.env when present.
    """
    environ = os.environ if environ is None else environ
    explicit = env_file or environ.get("SYNC_ENV_FILE")
    path = Path(explicit) if explicit else Path(DEFAULT_ENV_FILE)
    file_values: dict[str, str] = {}
    if explicit and not path.is_file():
        raise ConfigError("SYNC_ENV_FILE" if not env_file else "--env-file", f"env file not found: {path}")
    if path.is_file():
        try:
            file_values = read_env_file(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError("--env-file", f"cannot read {path}: {exc.__class__.__name__}") from None
    values: dict[str, Value] = {}
    sources: dict[str, str] = {}
    flags = {k.upper(): v for k, v in (overrides or {}).items() if v is not None}
    for name, key in KEYS.items():
        for source, table in (("flag", flags), ("environment", environ), ("env file", file_values)):
            if name in table:
                values[name] = parse_value(key, table[name])
                sources[name] = "default" if is_blank(key, table[name]) else source
                break
        else:
            values[name] = key.default
            sources[name] = "default"
    env_path = str(path) if path.is_file() else None
    tidy_values(values, sources, env_path)
    return Settings(values, env_path, sources)


# What each service's client needs before it can send anything (jobs check these before they start).
SERVICE_KEYS: dict[str, tuple[str, ...]] = {
    "gitea": ("GITEA_URL", "GITEA_TOKEN"),
    "kimai": ("KIMAI_URL", "KIMAI_TOKEN"),
    "zammad": ("ZAMMAD_URL", "ZAMMAD_TOKEN"),
    "toggl": ("TOGGL_URL", "TOGGL_TOKEN", "TOGGL_WORKSPACE"),
    "harvest": ("HARVEST_URL", "HARVEST_TOKEN", "HARVEST_ACCOUNT_ID"),
    "graph": ("GRAPH_URL", "GRAPH_LOGIN_URL", "GRAPH_TENANT_ID", "GRAPH_CLIENT_ID", "GRAPH_CLIENT_SECRET"),
    "jira": ("JIRA_URL", "JIRA_TOKEN"),
    "confluence": ("CONFLUENCE_URL",),  # its token defaults to JIRA_TOKEN
}

URL_KEYS = (
    "GITEA_URL",
    "KIMAI_URL",
    "ZAMMAD_URL",
    "TOGGL_URL",
    "HARVEST_URL",
    "GRAPH_URL",
    "JIRA_URL",
    "CONFLUENCE_URL",
)


def tidy_values(values: dict[str, Value], sources: Mapping[str, str], env_file: str | None) -> None:
    """Service URLs without their API suffix; relative paths made absolute (in place)."""
    for name in URL_KEYS:
        if values.get(name) and name == "CONFLUENCE_URL":
            values[name] = re.sub(r"/(rest/api|api/v2)$", "", values[name])
        elif values.get(name):
            suffix = {"GRAPH_URL": r"/(v1\.0|beta)$", "JIRA_URL": r"/rest/api/(2|3|latest)$"}.get(
                name, r"/(api(/v\d+)?|v2)$"
            )
            values[name] = re.sub(suffix, "", values[name])
    for name, key in KEYS.items():
        if key.kind in ("path", "map") and values.get(name):
            values[name] = resolve_path(key, values[name], sources.get(name), env_file)


def resolve_path(key: Key, value: str, source: str | None, env_file: str | None) -> str:
    """A relative path of the configuration as an absolute one. Values from the env file (and the
    defaults when an env file is used) are relative to the env file's folder, so a run started
    from any folder finds the same store, lock, log and maps; values from the environment or a
    flag are relative to the current folder, as a shell would read them. An inline map
    ('a=b;c=d') is not a path and stays as it is."""
    if key.kind == "map" and "=" in value:
        return value
    path = Path(value).expanduser()
    if not path.is_absolute():
        base = Path(env_file).resolve().parent if env_file and source in ("env file", "default") else Path.cwd()
        path = base / path
    return os.path.normpath(path)


def read_map(settings: Settings, name: str) -> dict[str, str]:
    """A mapping key: inline 'a=b;c=d' or the path of a file with one 'a=b' a line (# comments).
    Returns {} when unset; refuses a malformed entry naming the key."""
    value = settings.get(name)
    if not value:
        return {}
    path = Path(value).expanduser()
    if "=" not in value and not path.is_file():
        raise ConfigError(name, f"no map file at {path} (nor an inline 'source=target' map)")
    try:
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else value.split(";")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(name, f"cannot read {path}: {exc.__class__.__name__}") from None
    mapping: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        line = line.split("#", 1)[0].strip() if path.is_file() else line.strip()
        if not line:
            continue
        left, sep, right = line.partition("=")
        if not sep or not left.strip() or not right.strip():
            where = f"{path} line {number}" if path.is_file() else f"entry {line!r}"
            raise ConfigError(name, f"expected 'source=target' in {where}")
        mapping[left.strip()] = right.strip()
    return mapping

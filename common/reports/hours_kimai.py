"""`report.py hours --source kimai` (the default): the hours of Kimai's timesheets, any user's and
any job's, read in pages of 500 by the Kimai client in dry-run mode (reads only), cut at the
midnights of KIMAI_TIMEZONE (else the token user's zone). Names come from one list each of
customers, projects and activities (and users for `--by user`, when the token may list them).
A timesheet still running (begun before the window's end) is on the `running` excluded line;
one whose values Kimai should never send (no begin, an end before it) on `unreadable`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests

from ..clients import Record
from ..clients.kimai import ALL, TIMESHEET, KimaiClient
from ..clients.shapes import get_many, many, shape
from ..config import Settings
from ..errors import AuthError, DataError, ServiceUnavailable, UsageError
from ..http import BadAnswer, RequestCounter
from ..paging import HARD_MAX_PAGES
from ..timeutil import parse_instant, to_kimai_local, zone
from .hours import NONE_LABEL, Item, Report, Sums, Window, report_body
from .timesheets import Names

PAGE_SIZE = 500
FILTER_SLACK = timedelta(hours=3)  # wider than any zone's clock change
USER_NAME = shape(id="id", username="str?", alias="str?")


def kimai_hours(settings: Settings, window: Window, by: str, per: str | None) -> Report:
    """Kimai's timesheets of the window (any user, any job's), in pages of 500, cut at the
    midnights of KIMAI_TIMEZONE (else the token user's zone). A timesheet that began before the
    window, however long ago, counts its part inside it (see window_timesheets)."""
    counter = RequestCounter()
    kimai = KimaiClient(settings, counter, dry_run=True)
    me = kimai.me()
    tz, api_tz = report_zones(settings, kimai, me)
    start, stop = window.span(tz)
    if stop <= start:  # a day and an instant: in order in UTC, not in this zone
        raise UsageError(f"--to {window.last.text} is not after --from {window.first.text} in {tz.key}")
    names = Names(kimai.list_customers(), kimai.list_projects(), kimai.list_all_activities())
    users = user_names(kimai, me) if by == "user" else {}
    sheets = window_timesheets(kimai, start, stop, api_tz)
    label = key_labeller(by, names, users)
    sums = Sums()
    for sheet in sheets:
        ident = f"timesheet {sheet.get('id')}"
        try:
            begin = parse_instant(str(sheet["begin"]))
            end = parse_instant(str(sheet["end"])) if sheet.get("end") else None
            keys = label(sheet)
        except (DataError, ValueError, KeyError, TypeError):
            sums.exclude("unreadable", ident, 0)  # a value Kimai should never send: shown, not guessed
            continue
        if end is None:
            if begin < stop:  # running during the window, whenever it began
                sums.exclude("running", ident, 0)
            continue
        if end < begin:
            sums.exclude("unreadable", ident, 0)
            continue
        sums.add(Item(ident, begin, end, worked_seconds(sheet, begin, end), tz, keys), start, stop, per)
    return {
        "source": "kimai",
        "timezone": tz.key,
        "zones": {},
        "timesheets_of": visible_timesheets(me),
        **report_body(sums, by, per),
        "requests": counter.totals()["requests"],
    }


def visible_timesheets(me: Record) -> str | None:
    """Whose timesheets Kimai lists to this token with `user=all`, by its roles (Kimai ignores the
    filter without view_other_timesheet, which teamleads have for their teams and admins for
    everyone): a report of one user's hours must not pass for everyone's. None: roles not sent."""
    roles = {r for r in me.get("roles") or () if isinstance(r, str)} if isinstance(me.get("roles"), list) else set()
    if not roles:
        return None
    if roles & {"ROLE_ADMIN", "ROLE_SUPER_ADMIN"}:
        return "every user"
    if "ROLE_TEAMLEAD" in roles:
        return "the token user and the teams it leads"
    return "the token user only"


def report_zones(settings: Settings, kimai: KimaiClient, me: Record) -> tuple[ZoneInfo, ZoneInfo]:
    """(the zone the days are cut in: KIMAI_TIMEZONE, else the token user's; the token user's zone,
    in which Kimai reads the begin/end filters). A user zone unknown here is Kimai's answer at
    fault (69, naming the request), never a guess."""
    name = me.get("timezone") or settings.kimai_timezone or "UTC"
    try:
        api_tz = zone(name)
    except DataError:
        raise BadAnswer(
            f"GET {kimai.http.path_of('users/me')}: the token user's time zone {name!r} is not a known IANA zone",
            service="kimai",
        ) from None
    return (zone(settings.kimai_timezone) if settings.kimai_timezone else api_tz), api_tz


def window_timesheets(kimai: KimaiClient, start: datetime, stop: datetime, api_tz: ZoneInfo) -> list[Record]:
    """Every timesheet that may overlap [start, stop): Kimai's `begin`/`end` filters both select
    by the begin, so the ended ones that began before `stop` are read ordered by their end, latest
    first, and the read stops after the first page that reaches an end before `start`: one page
    past the window at most, whatever the length of a timesheet (a page out of that order is the
    server's fault, 69: never a short sum). The running ones that began before `stop` come from
    one more request (`active=1`; SQL sorts a missing end anywhere)."""
    # Kimai reads the offset-less filter as the first of two equal wall times (the autumn change):
    # asking a few hours beyond `stop` never misses one; what began after `stop` is clipped to nothing
    last = to_kimai_local(stop + FILTER_SLACK, api_tz)
    where = f"GET {kimai.http.path_of('timesheets')}"
    base = {"size": PAGE_SIZE, "user": "all", "end": last}
    page, latest = 1, None

    def next_page(response: requests.Response, body: Any) -> dict[str, Any] | None:
        nonlocal page, latest
        ends = [latest] + ends_of(body) if latest else ends_of(body)
        if any(later > earlier for earlier, later in zip(ends, ends[1:], strict=False)):
            # stopping at the window relies on this order: never a short sum from a server that ignores it
            raise BadAnswer(f"{where} page {page}: not ordered by end (orderBy=end, order=DESC)", service="kimai")
        latest = ends[-1] if ends else latest
        total = response.headers.get("X-Total-Pages", "").strip()
        if len(body) < PAGE_SIZE or (total.isdigit() and page >= int(total)) or (latest and latest < start):
            return None
        page += 1
        if page > HARD_MAX_PAGES:
            raise ServiceUnavailable(f"{where}: more than {HARD_MAX_PAGES} pages; reading stopped", service="kimai")
        return {"page": page}

    ended, _ = kimai.http.pages(
        "timesheets", {**base, "active": "0", "orderBy": "end", "order": "DESC"}, next_params=next_page
    )
    running, _ = kimai.http.pages("timesheets", {**base, "active": "1", "orderBy": "id", "order": "ASC"})
    sheets = many(kimai.http, where, ended, TIMESHEET) + many(kimai.http, where, running, TIMESHEET)
    unique: dict[Any, Record] = {}
    for sheet in sheets:  # a timesheet stopped between the two reads is in both
        unique.setdefault(sheet.get("id"), sheet)
    return list(unique.values())


def ends_of(page: list[Any]) -> list[datetime]:
    """The readable ends of a page's timesheets, in order (the others are checked later)."""
    ends = []
    for sheet in page:
        try:
            ends.append(parse_instant(str(sheet["end"])))
        except (DataError, ValueError, KeyError, TypeError):
            continue
    return ends


def worked_seconds(sheet: Record, begin: datetime, end: datetime) -> int:
    """Kimai's duration (end - begin - break) when it is a sane number, else end - begin."""
    wall = int((end - begin).total_seconds())
    duration = sheet.get("duration")
    if isinstance(duration, (int, float)) and not isinstance(duration, bool) and 0 <= duration <= wall:
        return int(duration)
    return wall


def user_names(kimai: KimaiClient, me: Record) -> dict[int, str]:
    """Kimai user names by id: every user when the token may list them (view_user), else the
    token's own user only (others show as `user N`)."""
    names = {me["id"]: me.get("alias") or me.get("username") or f"user {me['id']}"}
    try:  # an answer that is not a list of users is the server's fault (69), not "no users"
        users = get_many(kimai.http, "users", {"visible": ALL}, USER_NAME)
    except AuthError:
        return names
    for user in users:
        names[user["id"]] = user.get("alias") or user.get("username") or f"user {user['id']}"
    return names


def key_labeller(by: str, names: Names, users: Mapping[int, str]) -> Callable[[Record], list[tuple[str, int | None]]]:
    """The (label, id) keys of one timesheet for `--by`. Two projects (activities, customers) of
    the same name are told apart by their customer (project) or id (and by id when that is not
    enough: two projects of one name for two customers of one name)."""

    def unique(kind: str) -> Callable[[int | None], str]:
        counts: dict[str, int] = {}
        for obj in names.tables[kind].values():
            counts[(obj.get("name") or "").casefold()] = counts.get((obj.get("name") or "").casefold(), 0) + 1
        labels: dict[str, int] = {}  # projects: name (customer), which may repeat too
        for obj in names.tables[kind].values() if kind == "project" else ():
            label = (
                f"{obj.get('name') or ''} ({names.name('customer', names.project_customer(obj['id'])) or obj['id']})"
            )
            labels[label.casefold()] = labels.get(label.casefold(), 0) + 1

        def name(object_id: int | None) -> str:
            text = names.name(kind, object_id) or f"{kind} {object_id}"
            if counts.get(text.casefold(), 0) < 2:
                return text
            if kind == "project":
                label = f"{text} ({names.name('customer', names.project_customer(object_id)) or object_id})"
                return label if labels.get(label.casefold(), 0) < 2 else f"{label} #{object_id}"
            if kind == "activity":
                project = (names.tables["activity"].get(object_id) or {}).get("project")
                return f"{text} ({names.name('project', project) if project else 'global'} #{object_id})"
            return f"{text} #{object_id}"

        return name

    if by == "project":
        project = unique("project")
        return lambda s: [(project(s["project"]), s["project"])]
    if by == "activity":
        activity = unique("activity")
        return lambda s: [(activity(s["activity"]), s["activity"])]
    if by == "customer":
        customer = unique("customer")
        return lambda s: [(customer(names.project_customer(s["project"])), names.project_customer(s["project"]))]
    if by == "user":
        taken: dict[str, int] = {}
        for text in users.values():
            taken[text.casefold()] = taken.get(text.casefold(), 0) + 1

        def user(sheet: Record) -> list[tuple[str, int | None]]:
            user_id = sheet.get("user")
            name = users.get(user_id) if isinstance(user_id, int) else None
            if name and taken.get(name.casefold(), 0) > 1:  # two users of one alias: two rows told apart
                name = f"{name} #{user_id}"
            return [(name or f"user {user_id}", user_id if isinstance(user_id, int) else None)]

        return user
    if by == "tag":
        return lambda s: sorted({(str(t), None) for t in (s.get("tags") or [])}) or [(NONE_LABEL["tag"], None)]
    raise UsageError(f"--by {by} is for --source calendar")

"""Outlook calendars (Microsoft Graph) -> the local event copy and Kimai timesheets.

read():  per mailbox (SYNC_WORKERS in parallel) calendarView/delta over the window: the stored
         delta link is followed (only what changed), a new round starts when the window moved
         (at most once a day: it is made of dates), on --full, --from/--to or an expired link.
         Each mailbox's events are stored as they come (deleted ones kept, marked), then every
         stored event is decided (graph_plan.decide); only those not synced at their version need
         Kimai, which is then read once: projects, activities, the timesheets around them;
plan():  per event create / update / link / keep / conflict, delete or report (GRAPH_DELETE_POLICY);
apply(): through the shared applier: pending record, per-item commit, marker lookup for a create
         whose answer was lost.
A mailbox that does not exist (or has no calendar) fails alone: the others are synced (exit 3).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from ..clients.graph import DeltaExpired, GraphClient, MailboxError
from ..clients.kimai import KimaiClient
from ..config import read_map
from ..errors import STOPS_RUN, ConfigError, SyncError, UsageError
from ..graph_categories import CategoryMap
from ..store_queries import Row
from ..timeutil import to_kimai_local, zone
from .base import Action, ActionKind, Applier, PlanOutcome, Target
from .graph_plan import (
    JOB,
    TAG,
    Decision,
    InvalidEvent,
    KimaiNames,
    Rules,
    decide,
    event_marker,
    event_row,
    mailbox_zone,
    needs_look,
    plan_gone,
    plan_timesheet,
    short_marker,
    timesheet_fields,
    utc_text,
)
from .kimai_targets import same_reason_for_all, timesheets_by_marker, write_timesheet
from .options import DATE_FROM, DATE_TO, Job, JobOptions
from .zammad_plan import current_fields

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger("tracksync.graph_kimai")

WINDOW_MARGIN = timedelta(days=7)  # timesheets moved by hand up to a week are still found by marker
MAX_MAILBOX = 320


@dataclass(frozen=True)
class Options(JobOptions):
    users: tuple[str, ...] = ()  # --users: these mailboxes instead of GRAPH_USERS
    date_from: str | None = None  # --from: a one-off round over this window (the delta link is kept)
    date_to: str | None = None


GraphOptions = Options


@dataclass
class MailboxRead:
    """What one mailbox's delta read gave: its events as rows, the ids removed, the delta state to
    store (a finished round), whether the round was new (it then lists the whole window)."""

    mailbox: str
    zone: ZoneInfo | None = None
    rows: list[Row] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (event id or '?', reason)
    delta: dict[str, Any] | None = None  # set once the round reached its delta link
    new_round: bool = False
    keep_delta: bool = True  # False for a one-off --from/--to round: the stored link stays
    error: str | None = None


@dataclass
class GraphRead:
    """The decisions that need Kimai (with their links), what is settled without it, and the
    Kimai state read for them."""

    window: tuple[datetime, datetime]
    candidates: list[tuple[Decision, Row | None]] = field(default_factory=list)
    failed: list[tuple[str, str, str | None]] = field(default_factory=list)  # (label, reason, scope)
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    tz: ZoneInfo | None = None
    names: KimaiNames = field(default_factory=KimaiNames)
    timesheets: dict[str, Target] = field(default_factory=dict)


@dataclass
class GraphPlan(PlanOutcome):
    actions: list[Action] = field(default_factory=list)


FIRST_YEAR, LAST_YEAR = 1970, 2999  # --from/--to: Graph's calendar view and Kimai take these
MAX_WINDOW_DAYS = 7300  # --from/--to: as long as the longest GRAPH_WINDOW_* (3650 days each way)

USERS = click.option(
    "--users", default=None, metavar="A@X,B@X", help="comma list of mailboxes (instead of GRAPH_USERS)"
)


def parse_mailboxes(text: str | None, where: str) -> tuple[str, ...]:
    """A comma list of e-mail addresses, lower-cased, each checked."""
    boxes: list[str] = []
    for part in (text or "").split(","):
        box = part.strip().lower()
        if not box:
            continue
        local, at, domain = box.partition("@")
        if not at or not local or "." not in domain or len(box) > MAX_MAILBOX or any(c in box for c in " /\\?#%"):
            shown = part.strip()
            shown = shown if len(shown) <= 80 else shown[:80] + "…"
            raise UsageError(f"{where}: {shown!r} is not a mailbox address")
        if box not in boxes:
            boxes.append(box)
    return tuple(boxes)


class GraphKimaiJob(Job):
    name = JOB
    services = ("graph", "kimai")
    summary = "Outlook calendar events (Microsoft Graph) -> stored events and Kimai timesheets."
    examples = (
        "python sync.py graph-kimai --dry-run",
        "python sync.py graph-kimai --users ann@acme.example,bob@acme.example",
        "python sync.py graph-kimai --from 2026-11-01 --to 2026-11-30 --json",
    )
    options = (USERS, DATE_FROM, DATE_TO)
    Options = Options

    @classmethod
    def from_cli(cls, values: dict[str, Any]) -> JobOptions:
        try:
            users = parse_mailboxes(values.get("users"), "--users")
        except UsageError as exc:
            raise click.BadParameter(str(exc).removeprefix("--users: "), param_hint="--users") from None
        return Options(
            users=users,
            date_from=values.get("date_from"),
            date_to=values.get("date_to"),
        )

    opts: GraphOptions

    def prepare(self) -> None:
        self.rules = rules_of(self.settings)
        self.graph = GraphClient(self.settings, self.counter, self.opts.dry_run)
        self.kimai = KimaiClient(self.settings, self.counter, self.opts.dry_run)
        self.applier = Applier(JOB, self.store, self.run_id, self.opts.workers, self.result, self.opts.dry_run)
        self.now = datetime.now(UTC)

    # -- read ---------------------------------------------------------------------------
    def read(self) -> GraphRead:
        window, fixed = self.window()
        read = GraphRead(window)
        mailboxes = self.mailboxes()
        states = {box: self.store.graph_delta(box) for box in mailboxes}
        with ThreadPoolExecutor(max_workers=max(1, min(self.opts.workers, len(mailboxes) or 1))) as pool:
            futures = {pool.submit(self.read_mailbox, box, states[box], window, fixed): box for box in mailboxes}
            try:
                for future in as_completed(futures):
                    del futures[future]  # its rows are stored and decided: let them go
                    self.take(future.result(), read, fixed)
            except BaseException:
                for pending in futures:
                    pending.cancel()
                raise
        if read.candidates:
            self.read_kimai(read)
        return read

    def window(self) -> tuple[tuple[datetime, datetime], bool]:
        """([start, end) in UTC, fixed): --from/--to (days in UTC) or today's window of
        GRAPH_WINDOW_PAST_DAYS / GRAPH_WINDOW_FUTURE_DAYS, made of whole days so that it moves
        at most once a day."""
        today = self.now.date()
        if self.opts.date_from or self.opts.date_to:
            try:
                first = date.fromisoformat(self.opts.date_from) if self.opts.date_from else None
                last = date.fromisoformat(self.opts.date_to) if self.opts.date_to else today
            except ValueError as exc:
                raise UsageError(f"--from/--to take dates like 2026-03-31: {exc}") from None
            for flag, day in (("--from", first), ("--to", last)):
                if day is not None and not FIRST_YEAR <= day.year <= LAST_YEAR:
                    raise UsageError(f"{flag}: {day} is out of range (years {FIRST_YEAR} to {LAST_YEAR})")
            first = first or last - timedelta(days=int(self.settings.graph_window_past_days))
            if last < first:
                until = f"--to {last}" if self.opts.date_to else f"today ({last}), the default of --to"
                raise UsageError(f"--from {first} is after {until}")
            if (last - first).days >= MAX_WINDOW_DAYS:
                raise UsageError(
                    f"--from/--to: a window of at most {MAX_WINDOW_DAYS} days, got {(last - first).days + 1}"
                )
            return (_midnight(first), _midnight(last + timedelta(days=1))), True
        past, future = int(self.settings.graph_window_past_days), int(self.settings.graph_window_future_days)
        return (_midnight(today - timedelta(days=past)), _midnight(today + timedelta(days=future + 1))), False

    def mailboxes(self) -> list[str]:
        """--users, else GRAPH_USERS, else every user with a mail address (/users, all pages)."""
        if self.opts.users:
            return list(self.opts.users)
        configured = self.settings.get("GRAPH_USERS") or ()
        if configured:
            try:
                return list(parse_mailboxes(",".join(configured), "GRAPH_USERS"))
            except UsageError as exc:
                raise ConfigError("GRAPH_USERS", str(exc).removeprefix("GRAPH_USERS: ")) from None
        boxes: list[str] = []
        for user in self.graph.users():
            mail = user.get("mail") if isinstance(user, Mapping) else None
            if isinstance(mail, str):
                try:
                    boxes += [b for b in parse_mailboxes(mail, "users") if b not in boxes]
                except UsageError:
                    self.result.warnings.append(f"Graph user {str(user.get('id'))[:60]}: mail {mail[:80]!r} skipped")
        return boxes

    def read_mailbox(
        self, mailbox: str, state: Row | None, window: tuple[datetime, datetime], fixed: bool
    ) -> MailboxRead:
        """One mailbox's delta round (or the rest of it from the stored link); a worker thread.
        A mailbox Graph refuses (MailboxError, or any error that does not stop the run) fails alone;
        a configuration error (an address that is not the API, an unknown tenant) stops the run."""
        start, end = utc_text(window[0]), utc_text(window[1])
        follow = not (fixed or self.opts.full or state is None) and (state.get("start"), state.get("end")) == (
            start,
            end,
        )
        link = state.get("link") if follow and state else None
        tz = mailbox_zone(state.get("zone")) if link and state else None
        try:
            if tz is None:
                tz = self.mailbox_zone(mailbox)
            try:
                read = self.delta(mailbox, tz, window, link if isinstance(link, str) else None)
            except DeltaExpired:
                log.info("%s: the delta link expired; a new round starts", mailbox)
                read = self.delta(mailbox, tz, window, None)
        except MailboxError as exc:
            return MailboxRead(mailbox, error=str(getattr(exc, "reason", None) or exc))
        except SyncError as exc:
            if isinstance(exc, (*STOPS_RUN, ConfigError)):  # GRAPH_URL / GRAPH_LOGIN_URL not the API: every mailbox
                raise
            return MailboxRead(mailbox, error=str(exc))
        if read.delta is not None:
            read.delta.update(start=start, end=end, zone=tz.key, started=self.now.date().isoformat())
        read.keep_delta = not fixed
        return read

    def mailbox_zone(self, mailbox: str) -> ZoneInfo:
        name = self.graph.mailbox_settings(mailbox).get("timeZone")
        tz = mailbox_zone(name)
        if tz is None:
            raise MailboxError(mailbox, f"its time zone {str(name)[:60]!r} is neither a Windows nor an IANA zone")
        return tz

    def delta(self, mailbox: str, tz: ZoneInfo, window: tuple[datetime, datetime], link: str | None) -> MailboxRead:
        read = MailboxRead(mailbox, tz, new_round=link is None)
        for page in self.graph.calendar_delta(mailbox, window[0], window[1], link):
            for event in page.events:
                if not isinstance(event, Mapping):
                    read.invalid.append(("?", "not an object"))
                    continue
                if "@removed" in event:
                    if isinstance(event.get("id"), str):
                        read.removed.append(event["id"])
                    continue
                try:
                    read.rows.append(event_row(event, tz))
                except InvalidEvent as exc:
                    event_id = event.get("id")
                    read.invalid.append((event_id[:200] if isinstance(event_id, str) else "?", str(exc)))
            if page.delta_link:
                read.delta = {"link": page.delta_link}
        return read

    def take(self, mread: MailboxRead, read: GraphRead, fixed: bool) -> None:
        """Store one mailbox's read (unless --dry-run) and decide each of its events: the ones that
        need Kimai become candidates; the rest are counted. Main thread only (the store)."""
        box = mread.mailbox
        if mread.error:
            read.failed.append((f"mailbox {box}", f"graph: {mread.error}", box))
            return
        for event_id, reason in mread.invalid:
            read.failed.append((short_marker(box, event_id), f"invalid Graph event: {reason}", box))
        rows = self.store.graph_mailbox_events(box)
        seen = {r["event_id"] for r in mread.rows} | {i for i, _ in mread.invalid}  # malformed: not gone
        removed = [i for i in mread.removed if i in rows and not rows[i]["deleted_at"] and i not in seen]
        if mread.new_round and mread.delta is not None:
            low, high = utc_text(read.window[0]), utc_text(read.window[1])
            removed += [  # a whole window listed: what is stored for it and was not listed is gone
                i
                for i, r in rows.items()
                if i not in seen and not r["deleted_at"] and r["end_utc"] > low and r["start_utc"] < high
            ]
        now_text = utc_text(self.now)
        if not self.opts.dry_run:
            delta = mread.delta if mread.keep_delta else None
            written = self.store.save_graph_events(box, mread.rows, removed, delta, at=now_text)
            read.counts["events_written"] = read.counts.get("events_written", 0) + written
        for row in mread.rows:
            rows[row["event_id"]] = {**row, "mailbox": box, "deleted_at": None}
        for event_id in removed:
            rows[event_id] = {**rows[event_id], "deleted_at": now_text}
        links = self.store.graph_links(box)
        low, high = utc_text(read.window[0]), utc_text(read.window[1])
        for row in rows.values():
            if fixed and not (row["end_utc"] > low and row["start_utc"] < high):
                continue
            decision = decide(row, self.rules, self.now)
            link = links.get(decision.key)
            if decision.kind == "fail":
                read.candidates.append((decision, link))
            elif needs_look(link, decision, self.rules, self.opts.full):
                read.candidates.append((decision, link))
            elif decision.kind == "wanted":
                read.counts["unchanged"] = read.counts.get("unchanged", 0) + 1
            else:
                read.counts["skipped"] = read.counts.get("skipped", 0) + 1

    def read_kimai(self, read: GraphRead) -> None:
        """Kimai's zone, projects and activities (one request each), and the timesheets around the
        events that need a look (pages of 500), by marker."""
        me = None if self.settings.kimai_timezone else self.kimai.me()
        read.tz = zone(self.settings.kimai_timezone or (me or {}).get("timezone") or "UTC")
        if not any(d.kind in ("wanted", "gone") for d, _ in read.candidates):
            return
        read.names = KimaiNames(self.kimai.list_projects(), self.kimai.list_all_activities())
        begins: dict[str, str] = {}
        for decision, link in read.candidates:
            if decision.wanted is not None:
                begins[decision.key] = to_kimai_local(decision.wanted.begin, read.tz)
            elif decision.kind == "gone" and link and link.get("data") and link["data"].get("begin"):
                begins[decision.key] = link["data"]["begin"]
        links = {d.key: link for d, link in read.candidates if link}
        read.timesheets = timesheets_by_marker(
            self.kimai,
            list(begins.values()),
            WINDOW_MARGIN,
            bool(self.rules.user_map),
            links,
            list(links),
            read.warnings.append,
        )

    # -- plan -----------------------------------------------------------------------------
    def plan(self, read: GraphRead) -> GraphPlan:
        plan = GraphPlan(list(read.failed), dict(read.counts), list(read.warnings))
        tz = read.tz or ZoneInfo("UTC")
        for decision, link in sorted(read.candidates, key=lambda c: c[0].key):
            if decision.kind == "fail":
                plan.unmapped.append((_failing(decision), decision.reason))
                continue
            target = read.timesheets.get(decision.key)
            if decision.kind == "gone":
                assert link is not None, "a gone event needs a look only when linked"
                plan.actions.append(plan_gone(link, target, self.rules.delete_policy, decision.label, decision.reason))
                continue
            wanted = decision.wanted
            assert wanted is not None
            desired, reason = timesheet_fields(wanted, read.names, tz)
            if desired is None:
                plan.unmapped.append((_failing(decision), reason or "cannot be mapped"))
                continue
            current = current_fields(target, tz, bool(self.rules.user_map)) if target else None
            plan.actions.append(
                plan_timesheet(wanted, desired, link, target, current, self.rules.conflict_policy, tz.key)
            )
        return plan

    # -- apply ----------------------------------------------------------------------------
    def apply(self, plan: GraphPlan) -> None:
        plan.record(self.result, self.applier, uncounted=("events_written",))
        if plan.actions:
            self.applier.execute(plan.actions, same_reason_for_all(self.write), self.reread)

    def write(self, action: Action) -> Target:
        return write_timesheet(self.kimai, action, {"tags": TAG, "billable": True, "exported": False})

    def reread(self, unknown: list[Action]) -> dict[str, Target]:
        return timesheets_by_marker(
            self.kimai, [a.fields["begin"] for a in unknown], timedelta(days=1), bool(self.rules.user_map)
        )


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def _failing(decision: Decision) -> Action:
    """The action an event that cannot be written fails as (its link records the failure), named by
    its whole marker; the reason leaves it out, so equal reasons group."""
    mailbox = decision.key.removeprefix("graph:").split("/")[0]
    return Action(ActionKind.CREATE, decision.key, "timesheet", decision.key, mailbox, {})


def rules_of(settings: Settings) -> Rules:
    """The planning rules from the settings; a malformed map is refused naming its key (78)."""
    user_map: dict[str, int] = {}
    for mailbox, user in read_map(settings, "GRAPH_USER_MAP").items():
        try:
            (box,) = parse_mailboxes(mailbox, "GRAPH_USER_MAP") or ("",)
        except (UsageError, ValueError):
            box = ""
        if not box:
            raise ConfigError(
                "GRAPH_USER_MAP", f"{mailbox[:80]!r} is not a mailbox address (lines mailbox=Kimai user id)"
            )
        if not user.isdigit() or not 0 < int(user) < 2**31:
            raise ConfigError("GRAPH_USER_MAP", f"{mailbox}: expected a Kimai user id (a number), got {user[:40]!r}")
        if user_map.get(box, int(user)) != int(user):
            raise ConfigError("GRAPH_USER_MAP", f"{box}: mapped twice ({user_map[box]}, {int(user)})")
        user_map[box] = int(user)
    skip = frozenset(w for w in (settings.get("GRAPH_SKIP") or ()) if w != "none")
    return Rules(
        categories=CategoryMap.from_settings(settings),
        skip=skip,
        private=settings.get("GRAPH_PRIVATE") or "redact",
        default_activity=settings.get("GRAPH_DEFAULT_ACTIVITY") or None,
        user_map=user_map,
        delete_policy=settings.get("GRAPH_DELETE_POLICY") or "report",
        conflict_policy=settings.get("GRAPH_CONFLICT_POLICY") or "manual",
    )


__all__ = ["GraphKimaiJob", "event_marker"]

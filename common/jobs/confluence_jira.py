"""Confluence -> Jira: every open task on a page tree becomes exactly one Jira issue, linked both
ways (the issue's macro on the page, a remote link and labels on the issue), status kept in step.

read():  Jira's deployment, the roots and their descendants (CQL ``ancestor``; on re-runs only
         pages modified since the cursor, bodies only of pages whose version changed), the
         tracksync issues updated since the Jira cursor, then a search for the origin labels of
         every task not linked yet (and of pending creates) before anything is created;
plan():  confluence_jira_plan.plan_confluence_jira (pure);
apply(): pending row, create, remote link, transition; then one PUT per changed page with the
         version read + 1 (a 409 re-reads the page and re-applies the edits, at most 3 times);
         every page write is recorded with the body it replaced, for `sync.py undo`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from .. import shutdown
from ..clients import Record
from ..clients.confluence import ConfluenceClient, Page, PageConflict, confluence_client, page_ref
from ..clients.jira import JiraClient, atlassian_deployment, jira_client, jql_string
from ..config import read_map
from ..confluence_storage import StorageFormatError, Task, TaskEdit, apply_edits, read_page
from ..errors import STOPS_RUN, AuthError, ConfigError, NotFound, SyncError, UsageError
from .base import ActionKind, Applier, Result
from .confluence_jira_issues import ISSUE_FIELDS, LABELS_PER_SEARCH, IssueCreator, chunks
from .confluence_jira_plan import (
    JOB,
    ORIGIN_PREFIX,
    TRACKSYNC_LABEL,
    ConfluenceJiraPlan,
    ConfluenceJiraRead,
    PageRead,
    Settings_,
    Transition,
    global_id,
    issue_state,
    origin_label,
    page_of,
    plan_confluence_jira,
)
from .options import Job, JobOptions

if TYPE_CHECKING:
    from ..config import Settings
    from ..http import RequestCounter
    from ..store import Store

log = logging.getLogger("tracksync.confluence_jira")

PUT_ATTEMPTS = 4  # the first PUT and at most 3 more after a 409
WINDOW_MARGIN = timedelta(days=1)  # CQL and JQL dates are read in the token user's time zone: when unknown
OVERLAP = timedelta(seconds=30)  # Cloud search lags by seconds; query dates (minutes) floor it further


@dataclass(frozen=True)
class Options(JobOptions):
    pages: tuple[str, ...] = ()  # --page: ids or URLs (else CONFLUENCE_PAGES)


ConfluenceJiraOptions = Options  # its name inside ConfluenceJiraJob, where `Options` is the class attribute


PAGE_OPTION = click.option(
    "--page",
    "pages",
    multiple=True,
    metavar="URL_OR_ID",
    help="a page (id, or URL of either deployment) whose tree is read; repeatable; default CONFLUENCE_PAGES",
)


class ConfluenceJiraJob(Job):
    name = JOB
    services = ("jira", "confluence")
    summary = "Confluence page tasks -> Jira issues, linked both ways, status kept in step (undo: sync.py undo)."
    examples = (
        "python sync.py confluence-jira --page 123456 --dry-run",
        "python sync.py confluence-jira --page https://acme.atlassian.net/wiki/spaces/T/pages/123456/Minutes",
        "python sync.py confluence-jira --full --json",
    )
    options = (PAGE_OPTION,)
    Options = Options

    def __init__(
        self,
        settings: Settings,
        options: ConfluenceJiraOptions,
        store: Store,
        counter: RequestCounter,
        result: Result,
        run_id: int | None = None,
    ) -> None:
        self.settings, self.opts, self.store, self.result, self.run_id = settings, options, store, result, run_id
        self.counter = counter
        self.user_map = read_map(settings, "CONFLUENCE_USER_MAP")
        self.plan_settings = Settings_(
            settings.jira_project, settings.confluence_task_style, settings.confluence_completed_tasks,
            settings.jira_search_lag,
        )  # fmt: skip
        self.jira: JiraClient
        self.confluence: ConfluenceClient
        self.users: dict[str, str | None] = {}
        self.cursors: dict[str, str] = {}
        self.pages_seen: list[tuple[PageRead, bool]] = []  # (page, fully synced when nothing fails)
        self.roots_failed: set[str] = set()
        self.last_read: ConfluenceJiraRead | None = None
        self.every_label_read = False
        self.jira_zone: ZoneInfo | None = None
        self.confluence_zone: ZoneInfo | None = None

    # -- read ---------------------------------------------------------------------------------
    def connect(self) -> None:
        deployment = atlassian_deployment(self.settings, self.counter)
        self.jira = jira_client(self.settings, self.counter, deployment, self.opts.dry_run)
        self.confluence = confluence_client(self.settings, self.counter, deployment, self.opts.dry_run)
        me = self.jira.myself()  # wrong token: 77 naming Jira, before anything else
        self.jira_zone = _zone(me.get("timeZone"))
        self.confluence_zone = _zone(self.confluence.current_user().get("timeZone"))

    def roots(self) -> list[str]:
        given = self.opts.pages or tuple(self.settings.confluence_pages or ())
        if not given:
            raise ConfigError("CONFLUENCE_PAGES", "no page to read: set CONFLUENCE_PAGES or pass --page URL_OR_ID")
        ids: list[str] = []
        for text in given:
            try:
                ref = page_ref(text)
            except ValueError as exc:
                if self.opts.pages:
                    raise UsageError(f"--page: {exc}") from None
                raise ConfigError("CONFLUENCE_PAGES", str(exc)) from None
            page_id = ref.page_id
            if page_id is None and ref.space and ref.title:
                page_id = self.confluence.find_page(ref.space, ref.title)
                if page_id is None:
                    self.result.fail(f"page {ref.space}/{ref.title}", "not found in Confluence (or not readable)")
                    continue
            if page_id and page_id not in ids:
                ids.append(page_id)
        return ids

    def read(self) -> ConfluenceJiraRead:
        self.connect()
        now = datetime.now(UTC)
        stored_links = self.store.task_issues()
        conflicts = {c["source_key"] for c in self.store.conflicts(job=JOB)}
        read = ConfluenceJiraRead([], stored_links, {}, {}, conflicts, now)
        listed = self.read_pages(read)
        self.read_changed_issues(read)
        wanted_pages: set[str] = set()  # pages to parse whatever their version
        for origin, row in stored_links.items():
            issue = read.by_key.get(str(row.get("issue_key")))
            if row["state"] == "pending":
                wanted_pages.add(row["page_id"])
            elif issue is not None and row.get("issue_status") is None and issue.done == bool(row.get("issue_done")):
                read.first_looks[origin] = issue  # its first status, as created: recorded without its page
            elif issue is not None and issue.status != row.get("issue_status"):
                wanted_pages.add(row["page_id"])  # changed in Jira: its task may need its checkbox
        pages = self.read_bodies(listed, wanted_pages, read)
        self.read_lookups(pages, read)
        read.pages = pages
        return read

    def read_pages(self, read: ConfluenceJiraRead) -> list[tuple[Page, str, bool]]:
        """Every page of every tree: (page, root, body read). Bodies come along on a first or
        --full run; afterwards the search lists versions only and read_bodies fetches the pages
        whose version changed."""
        found: list[tuple[Page, str, bool]] = []
        seen: set[str] = set()
        for root in self.roots():
            try:
                top = self.confluence.get_page(root)
            except (NotFound, AuthError) as exc:
                if isinstance(exc, AuthError) and "401" in str(exc):
                    raise
                self.roots_failed.add(root)
                self.result.fail(f"page {root}", "does not exist or is not readable by the token's user")
                continue
            known = self.store.confluence_pages(root)
            cursor = None if self.opts.full else self.store.cursor(JOB, f"pages:{root}")
            since = _since(cursor, self.confluence_zone)
            with_body = since is None or not known
            self.confluence.http.watch_time()
            below, complete = self.confluence.descendants(root, modified_since=since, with_body=with_body)
            started = self.confluence.http.server_time(first=True)
            if complete and started is not None:
                self.cursors[f"pages:{root}"] = started.strftime("%Y-%m-%dT%H:%M:%SZ")
            elif not complete:
                read.warnings.append(f"page {root}: MAX_PAGES reached; the remaining pages are read next run")
            for page in [top, *below]:
                if page.id in seen:
                    continue
                seen.add(page.id)
                found.append((page, root, page.body is not None))
        return found

    def read_changed_issues(self, read: ConfluenceJiraRead) -> None:
        """The tracksync issues updated since the Jira cursor (every one on a first or --full run,
        which also finds every origin label), and those never looked at since their create."""
        cursor = None if self.opts.full else self.store.cursor(JOB, "issues")
        jql = f"labels = {jql_string(TRACKSYNC_LABEL)}"
        since = _since(cursor, self.jira_zone)
        if since is not None:
            jql += f' AND updated >= "{since.strftime("%Y-%m-%d %H:%M")}"'
        self.jira.http.watch_time()
        issues, complete = self.jira.search(jql + " ORDER BY key", ISSUE_FIELDS)
        started = self.jira.http.server_time(first=True)
        if complete and started is not None:
            self.cursors["issues"] = started.strftime("%Y-%m-%dT%H:%M:%SZ")
        self.every_label_read = complete and not cursor
        keys: set[str] = set()
        for record in issues:
            state = issue_state(record) if isinstance(record, dict) else None
            if state is not None:
                read.by_key[state.key] = state
                keys.add(state.key)
                for label in state.labels:
                    if label.startswith(ORIGIN_PREFIX):
                        read.by_label.setdefault(label, state)
        # issues whose status must be read again (a conflict settled for Jira's side): by key
        unknown = sorted(
            {str(r["issue_key"]) for r in read.links.values() if r.get("issue_key") and r.get("issue_status") == ""}
            - keys
        )
        for chunk in chunks(unknown, LABELS_PER_SEARCH):
            found, _ = self.jira.search(f"key in ({', '.join(jql_string(k) for k in chunk)})", ISSUE_FIELDS)
            for record in found:
                state = issue_state(record) if isinstance(record, dict) else None
                if state is not None:
                    read.by_key[state.key] = state

    def read_bodies(
        self, pages: list[tuple[Page, str, bool]], wanted: set[str], read: ConfluenceJiraRead
    ) -> list[PageRead]:
        """Parse the pages to sync: a body read, a version other than the one stored, or a page
        with a pending create or a changed issue."""
        known = self.store.confluence_pages()
        parents = {page.id: page.parent_id for page, _, _ in pages}
        macros: dict[str, tuple[str | None, str | None]] = {
            pid: (row.get("jira_project"), row.get("jira_issue")) for pid, row in known.items()
        }
        parsed: list[tuple[Page, str, Any]] = []
        for page, root, has_body in pages:
            stored = known.get(page.id)
            if not (self.opts.full or stored is None or stored["version"] != page.version or page.id in wanted):
                continue
            if not has_body:
                try:
                    page = self.confluence.get_page(page.id)
                except (NotFound, AuthError) as exc:
                    if isinstance(exc, AuthError) and "401" in str(exc):
                        raise
                    self.result.fail(f"page {page.id}", "is no longer readable")
                    continue
            try:
                storage = read_page(page.body or "")
            except StorageFormatError as exc:
                self.result.fail(f"page {page.id} ({page.title})", str(exc))
                continue
            macro = next((m for m in storage.jira_macros if m.project and m.task_id is None), None)
            macros[page.id] = (macro.project, macro.key) if macro else (None, None)
            parsed.append((page, root, storage))
        result: list[PageRead] = []
        for page, root, storage in parsed:
            project, parent = _nearest_macro(page.id, parents, macros, known)
            result.append(PageRead(page, root, storage, project, parent))
        return result

    def read_lookups(self, pages: Sequence[PageRead], read: ConfluenceJiraRead) -> None:
        """Before any create: the issues of every task without a linked row, by origin label (a lost
        store, a pending create) or by the macro in the task."""
        labels: list[str] = []
        keys: list[str] = []
        for page_read in pages:
            for task in page_read.storage.tasks:
                origin = origin_label(page_read.page.id, task.task_id)
                row = read.links.get(origin)
                if row is not None and row["state"] == "linked":
                    continue
                labels.append(origin)
                keys += [k for k in task.jira_keys if k not in read.by_key]
        if self.every_label_read:  # every tracksync issue was just read, with its labels
            labels = []
        if not labels and not keys:
            return
        if not labels:
            queries: list[str] = []
        elif len(labels) > 4 * LABELS_PER_SEARCH:  # many new tasks: every tracksync issue in one paged read
            queries = [f"labels = {jql_string(TRACKSYNC_LABEL)}"]
        else:
            queries = [" OR ".join(f"labels = {jql_string(x)}" for x in c) for c in chunks(labels, LABELS_PER_SEARCH)]
        queries += [f"key in ({', '.join(jql_string(k) for k in c)})" for c in chunks(sorted(set(keys)), 40)]
        wanted = set(labels)
        for jql in queries:
            issues, _ = self.jira.search(jql, ISSUE_FIELDS)
            for record in issues:
                state = issue_state(record) if isinstance(record, dict) else None
                if state is None:
                    continue
                read.by_key.setdefault(state.key, state)
                for label in state.labels:
                    if label in wanted and label not in read.by_label:
                        read.by_label[label] = state

    # -- plan -----------------------------------------------------------------------------------
    def plan(self, read: ConfluenceJiraRead) -> ConfluenceJiraPlan:
        plan = plan_confluence_jira(read, self.plan_settings)
        self.last_read = read
        self.result.warnings.extend(read.warnings)
        return plan

    # -- apply ----------------------------------------------------------------------------------
    def apply(self, plan: ConfluenceJiraPlan) -> None:
        applier = Applier(JOB, self.store, self.run_id, 1, self.result, self.opts.dry_run)
        for action in plan.conflicts:
            applier.settle(action)
        if self.opts.dry_run:
            for action in plan.actions:
                if action.kind != ActionKind.CONFLICT:
                    self.result.actions.append(action)
                    self.result.tally(action)
            self.result.counts["unchanged"] += plan.unchanged
            return
        self.result.counts["unchanged"] += plan.unchanged
        for origin, values in plan.records.items():
            self.store.update_issue_link(origin, **values)
        for origin in plan.drop_pending:
            self.store.drop_issue_links([origin])
        failed_pages: set[str] = set()
        for found in plan.found:
            self.link_found(plan, found)
        creator = IssueCreator(self, plan)
        creator.create_all()
        failed_pages |= creator.failed_pages
        for transition in plan.transitions:
            self.transition(transition)
        for page_id, edits in plan.page_edits.items():
            shutdown.check()
            if not self.write_page(plan, page_id, edits):
                failed_pages.add(page_id)
        self.finish(plan, failed_pages)

    def link_found(self, plan: ConfluenceJiraPlan, found: Any) -> None:
        values = {
            "page_id": found.page_id,
            "task_id": found.task.task_id,
            "issue_id": found.issue.id,
            "issue_key": found.issue.key,
            "task_complete": int(found.task.complete),
            "issue_status": found.issue.status,
            "issue_done": int(found.issue.done),
            "on_page": int(found.issue.key in found.task.jira_keys),
            "run_id": self.run_id,
        }
        self.store.save_issue_link(found.origin, values)
        self.store.record_audit(self.run_id, JOB, found.origin, "link", "issue", None, None, values)
        if found.remote_link:
            page = plan.pages[found.page_id].page
            try:
                self.remote_link(found.issue.key, page, found.task)
                self.store.update_issue_link(found.origin, remote_link=1)
            except STOPS_RUN:
                raise
            except SyncError as exc:
                self.result.warnings.append(f"{found.issue.key}: remote link not set ({exc}); set next run")
        self.result.counts["unchanged"] += 1

    def remote_link(self, key: str, page: Page, task: Task) -> None:
        self.jira.upsert_remote_link(
            key, global_id(page.id, task.task_id), self.confluence.page_url(page.id), page.title or f"page {page.id}",
            f"Confluence task: {task.summary}",
        )  # fmt: skip

    def transition(self, transition: Transition) -> None:
        label = f"{transition.key}"
        try:
            target = self.move(transition.key, self.settings.jira_done_status if transition.done else None)
        except STOPS_RUN:
            raise
        except SyncError as exc:
            self.result.fail(label, str(exc))
            return
        if target is None:
            where = f"to {self.settings.jira_done_status}" if transition.done else "out of done"
            self.result.fail(label, f"no transition leads {where} (JIRA_DONE_STATUS)")
            return
        self.store.update_issue_link(
            transition.origin,
            task_complete=int(transition.task_complete),
            issue_status=target[0],
            issue_done=int(target[1]),
        )
        self.store.record_audit(self.run_id, JOB, transition.origin, "transition", "issue", None, None, target[0])
        self.result.counts["updated"] += 1

    def move(self, key: str, status: str | None) -> tuple[str, bool] | None:
        """Transition the issue to `status` (by the target status's name, not the transition's), or
        with None out of the done category (to a new / in-progress status). Returns (status, done)."""
        choices = self.jira.transitions(key)
        chosen: Record | None = None
        for rank in ("new", "indeterminate") if status is None else ("",):
            for t in choices:
                to = t.get("to") if isinstance(t.get("to"), dict) else {}
                assert isinstance(to, dict)
                category = (
                    (to.get("statusCategory") or {}).get("key") if isinstance(to.get("statusCategory"), dict) else None
                )
                if (status is not None and str(to.get("name", "")).lower() == status.lower()) or (
                    status is None and category == rank
                ):
                    chosen = t
                    break
            if chosen is not None:
                break
        if chosen is None:  # no way there: perhaps the issue is there already
            issue = self.jira.issue(key, ("status",))
            state = issue_state(issue) if issue is not None else None
            if state is not None and (state.status.lower() == status.lower() if status else not state.done):
                return state.status, state.done
            return None
        self.jira.transition(key, str(chosen["id"]))
        to = chosen["to"]
        return str(to.get("name") or status), ((to.get("statusCategory") or {}).get("key") == "done")

    def write_page(self, plan: ConfluenceJiraPlan, page_id: str, edits: Mapping[str, TaskEdit]) -> bool:
        """One PUT with the version read + 1 and the body read plus only these edits; on 409 the
        page is read again and the edits re-applied to the new body (at most 3 times)."""
        page = plan.pages[page_id].page
        edits = {task_id: edit for task_id, edit in edits.items() if edit.issue_key or edit.complete is not None}
        label = f"page {page_id} ({page.title})"
        for attempt in range(PUT_ATTEMPTS):
            if attempt:
                try:
                    page = self.confluence.get_page(page_id)
                except STOPS_RUN:
                    raise
                except SyncError as exc:
                    self.result.fail(label, f"re-read after a 409 failed: {exc}")
                    return False
            try:
                edited = apply_edits(page.body or "", edits)
            except StorageFormatError as exc:
                self.result.fail(label, str(exc))
                return False
            for task_id in edited.missing:
                self.result.warnings.append(f"{label}: task {task_id} was deleted meanwhile; its issue is kept")
            if not edited.changed:
                return True
            try:
                saved = self.confluence.update_page(page, edited.body, "tracksync: Jira issues of the tasks")
            except PageConflict:
                log.info("%s: 409, someone saved it meanwhile; re-reading (attempt %d)", label, attempt + 1)
                continue
            except STOPS_RUN:
                raise
            except SyncError as exc:
                self.result.fail(label, str(exc))
                return False
            assert self.run_id is not None
            self.store.record_page_write(self.run_id, page_id, page.title, page.version, page.body or "", saved.version)
            plan.pages[page_id] = PageRead(saved, plan.pages[page_id].root_id, read_page(edited.body))
            for origin, values in plan.after_page.get(page_id, {}).items():
                self.store.update_issue_link(origin, **values)
            self.result.counts["pages_updated"] += 1
            return True
        self.result.fail(label, f"saved by someone else {PUT_ATTEMPTS} times while tracksync wrote it; next run")
        return False

    def finish(self, plan: ConfluenceJiraPlan, failed_pages: set[str]) -> None:
        """The versions of the pages fully synced, and the cursors when nothing failed."""
        for page_read in plan.pages.values():
            page = page_read.page
            if page.id in failed_pages:
                self.store.forget_confluence_page(page.id)
                continue
            own = next((m for m in page_read.storage.jira_macros if m.project and m.task_id is None), None)
            self.store.save_confluence_page(
                page.id, page_read.root_id, page.parent_id, page.title, page.version,
                own.project if own else None, own.key if own else None,
            )  # fmt: skip
        for page_id in {page_of(origin) for origin in plan.waiting}:
            self.store.forget_confluence_page(page_id)
        if not self.result.failures:
            self.store.set_cursors(JOB, self.cursors)


def _nearest_macro(
    page_id: str,
    parents: Mapping[str, str | None],
    macros: Mapping[str, tuple[str | None, str | None]],
    known: Mapping[str, Mapping[str, Any]],
) -> tuple[str | None, str | None]:
    """The project and issue of the Jira macro on the page or its nearest ancestor in the tree."""
    current: str | None = page_id
    seen: set[str] = set()
    while current is not None and current not in seen:
        seen.add(current)
        project, issue = macros.get(current, (None, None))
        if project:
            return project, issue
        parent = parents.get(current)
        if parent is None and current in known:
            parent = known[current].get("parent_id")
        current = parent
    return None, None


def _zone(name: Any) -> ZoneInfo | None:
    """The token user's time zone, in which Jira and Confluence read the dates of a query."""
    try:
        return ZoneInfo(name) if isinstance(name, str) and name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _since(cursor: str | None, zone: ZoneInfo | None) -> datetime | None:
    """The start of an incremental query from a cursor (server time, UTC), as the user's wall
    clock: a short overlap in the user's known zone, else a day (the zone is unknown)."""
    if not cursor:
        return None
    try:
        start = datetime.fromisoformat(cursor.replace("Z", "+00:00"))
    except ValueError:
        return None
    if zone is None:
        return start - WINDOW_MARGIN
    return (start - OVERLAP).astimezone(zone)

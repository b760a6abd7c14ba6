"""Confluence -> Jira: every open task on a page tree becomes exactly one Jira issue, linked both
ways (the issue's macro on the page, a remote link and labels on the issue), status kept in step.

read():  confluence_jira_read.TreeReading (the tree's pages, the issues changed in Jira, the
         issues of every task not linked yet) before anything is created;
plan():  confluence_jira_plan.plan_confluence_jira (pure);
apply(): the creates (confluence_jira_issues), transitions, then one PUT per changed page with the
         version read + 1 (a 409 re-reads the page and re-applies the edits, at most 3 times);
         every page write is recorded with the body it replaced, for `sync.py undo`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from .. import shutdown
from ..clients import Record
from ..clients.confluence import ConfluenceClient, Page, PageConflict, page_ref
from ..clients.jira import JiraClient
from ..config import read_map
from ..confluence_storage import StorageFormatError, Task, TaskEdit, apply_edits, read_page
from ..errors import STOPS_RUN, SyncError
from .base import ActionKind, Applier
from .confluence_jira_issues import IssueCreator
from .confluence_jira_plan import (
    JOB,
    ConfluenceJiraPlan,
    ConfluenceJiraRead,
    PageRead,
    Settings_,
    Transition,
    global_id,
    issue_state,
    page_of,
    plan_confluence_jira,
)
from .confluence_jira_read import TreeReading
from .options import Job, JobOptions

if TYPE_CHECKING:
    pass

log = logging.getLogger("tracksync.confluence_jira")

PUT_ATTEMPTS = 4  # the first PUT and at most 3 more after a 409


@dataclass(frozen=True)
class Options(JobOptions):
    pages: tuple[str, ...] = ()  # --page: ids or URLs (else CONFLUENCE_PAGES)


ConfluenceJiraOptions = Options  # its name inside ConfluenceJiraJob, where `Options` is the class attribute


def _pages(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    """--page values are parsed as click reads them, so a malformed one is refused (2) before a
    lock, a run record or a request."""
    for text in values:
        try:
            page_ref(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return values


PAGE_OPTION = click.option(
    "--page",
    "pages",
    multiple=True,
    callback=_pages,
    metavar="URL_OR_ID",
    help="a page (id, or URL of either deployment) whose tree is read; repeatable; default CONFLUENCE_PAGES",
)


class ConfluenceJiraJob(TreeReading, Job):
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

    opts: ConfluenceJiraOptions

    def prepare(self) -> None:
        settings = self.settings
        self.user_map = read_map(settings, "CONFLUENCE_USER_MAP")
        self.plan_settings = Settings_(
            settings.jira_project, settings.confluence_task_style, settings.confluence_completed_tasks,
            settings.jira_search_lag,
        )  # fmt: skip
        self.jira: JiraClient
        self.confluence: ConfluenceClient
        self.users: dict[str, str | None] = {}
        self.cursors: dict[str, str] = {}
        self.roots_failed: set[str] = set()
        self.last_read: ConfluenceJiraRead | None = None
        self.every_label_read = False
        self.jira_zone: ZoneInfo | None = None
        self.confluence_zone: ZoneInfo | None = None
        self.ancestors: list[tuple[Page, str, tuple[str | None, str | None]]] = []
        self.page_refs()  # a malformed --page / CONFLUENCE_PAGES: refused before any request

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
            self.result.counts["pages_updated"] += len(self.pages_to_write(plan))
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

    @staticmethod
    def pages_to_write(plan: ConfluenceJiraPlan) -> set[str]:
        """The pages a real run would PUT: those with a macro or checkbox to edit, and those of
        the tasks whose issues it creates (their macros are added after the create)."""
        pages = {new.page.id for new in plan.creates}
        for page_id, edits in plan.page_edits.items():
            if any(edit.issue_key or edit.complete is not None for edit in edits.values()):
                pages.add(page_id)
        return pages

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
        row = self.last_read.links.get(found.origin) if self.last_read else None
        if row and row.get("state") == "pending" and row.get("run_id") and not row.get("created_run"):
            # the create of an earlier run (its answer lost, or the run killed): that run made the
            # issue, so `sync.py undo` of that run takes it back
            values["created_run"] = row["run_id"]
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
            self.result.counts["updated"] += len(plan.page_updates.get(page_id, set()) - set(edited.missing))
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
        for page, root, (project, issue) in self.ancestors:
            self.store.save_confluence_page(page.id, root, page.parent_id, page.title, page.version, project, issue)
        for page_id in {page_of(origin) for origin in plan.waiting}:
            self.store.forget_confluence_page(page_id)
        if not self.result.failures:
            self.store.set_cursors(JOB, self.cursors)

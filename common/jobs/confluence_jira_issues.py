"""confluence-jira, the creates: each task's issue made once. The pending row is committed before
the POST; the POSTs (with the issue's remote link and, for create-done, its transition) go out
SYNC_WORKERS at a time and each answer is recorded from the calling thread; a create without an
answer is looked up by its origin label, and while search does not show it the row stays pending
(never a second create in the same run)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import shutdown
from ..clients import Record
from ..clients.jira import jql_string
from ..confluence_storage import Task, TaskEdit
from ..errors import STOPS_RUN, ConfigError, Interrupted, SyncError, UnknownOutcome
from .confluence_jira_plan import JOB, TRACKSYNC_LABEL, ConfluenceJiraPlan, IssueState, NewIssue, issue_state

if TYPE_CHECKING:
    from .confluence_jira import ConfluenceJiraJob

log = logging.getLogger("tracksync.confluence_jira")

LABELS_PER_SEARCH = 40
ISSUE_FIELDS = ("status", "labels", "updated", "summary")


@dataclass
class Sent:
    """What the requests of one create gave: the issue, its remote link, its status (create-done)."""

    issue_id: str
    key: str
    remote_link: bool = False
    status: tuple[str, bool] | None = None
    problems: list[str] = field(default_factory=list)
    stop: SyncError | None = None  # what stopped the run right after this create


Outcome = tuple[NewIssue, "Sent | SyncError | None"]  # None: never sent


class IssueCreator:
    """The creates of a plan: project checks, pending rows, POSTs, then each answer linked."""

    def __init__(self, job: ConfluenceJiraJob, plan: ConfluenceJiraPlan) -> None:
        self.job, self.plan = job, plan
        self.failed_pages: set[str] = set()
        self.projects: dict[str, Record | None] = {}
        self.parents: dict[str, Record | None] = {}

    def create_all(self) -> None:
        """The creates of one page go out one after the other, in page order (so its issues are
        numbered as its tasks stand), SYNC_WORKERS pages at a time. The pending rows of a page are
        committed before its first POST; every answer is recorded from this thread. A stop (a
        signal, or 77 / 69 / 75) sends nothing new, and the rows of creates never sent are taken
        back."""
        by_page: dict[str, list[tuple[NewIssue, Record]]] = {}
        for new in self.plan.creates:
            try:
                by_page.setdefault(new.page.id, []).append((new, self.fields(new)))
            except ConfigError:
                raise
            except STOPS_RUN:
                raise
            except SyncError as exc:
                self.fail(new, str(exc))
        unknown: list[NewIssue] = []
        stop: BaseException | None = None
        queue = iter(by_page.values())
        workers = max(1, self.job.opts.workers)
        running: set[Future[list[Outcome]]] = set()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            while True:
                while stop is None and len(running) < workers:
                    try:
                        shutdown.check()
                    except Interrupted as exc:
                        stop = exc
                        break
                    items = next(queue, None)
                    if items is None:
                        break
                    for new, _ in items:
                        self.job.store.mark_issue_pending(new.origin, new.page.id, new.task.task_id, self.job.run_id)
                    running.add(pool.submit(self.send_page, items))
                if not running:
                    break
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    for new, outcome in future.result():
                        if isinstance(outcome, Sent):
                            self.linked(new, outcome, created=True)
                            stop = stop or outcome.stop
                        elif isinstance(outcome, UnknownOutcome):
                            unknown.append(new)
                        else:  # refused, or never sent: no issue was made
                            self.job.store.drop_issue_links([new.origin])
                            if isinstance(outcome, STOPS_RUN):
                                stop = stop or outcome
                            elif isinstance(outcome, SyncError):
                                self.fail(new, str(outcome))
        if unknown and stop is None:
            self.resolve(unknown)
        if stop is not None:
            raise stop

    def send_page(self, items: list[tuple[NewIssue, Record]]) -> list[Outcome]:
        """In a worker: the creates of one page in order, each followed by its remote link and
        (create-done) its transition. A stop or an error that stops the run leaves the rest
        unsent (None)."""
        outcomes: list[Outcome] = []
        stopped = False
        for new, fields in items:
            if stopped or shutdown.requested():
                outcomes.append((new, None))
                continue
            try:
                created = self.job.jira.create_issue(fields)
            except SyncError as exc:
                outcomes.append((new, exc))
                stopped = isinstance(exc, STOPS_RUN)
                continue
            issue_id, key = str(created.get("id")), str(created["key"])
            try:
                sent = self.follow_up(new, issue_id, key)
            except SyncError as exc:  # the issue exists: recorded, then the run stops
                sent = Sent(issue_id, key, stop=exc, problems=[f"{key}: remote link not set ({exc}); set next run"])
                stopped = True
            outcomes.append((new, sent))
        return outcomes

    def follow_up(self, new: NewIssue, issue_id: str, key: str) -> Sent:
        job = self.job
        sent = Sent(issue_id, key)
        try:
            job.remote_link(key, new.page, new.task)
            sent.remote_link = True
        except STOPS_RUN:
            raise
        except SyncError as exc:
            sent.problems.append(f"{key}: remote link not set ({exc}); set next run")
        if new.done:
            try:
                sent.status = job.move(key, job.settings.jira_done_status)
            except STOPS_RUN:
                raise
            except SyncError as exc:
                sent.problems.append(f"{key}: not moved to {job.settings.jira_done_status} ({exc})")
        return sent

    def resolve(self, unknown: list[NewIssue]) -> None:
        """Creates without an answer: looked for by their label once; a label not found yet stays
        pending (never a second create in this run: Jira's search may lag)."""
        found: dict[str, IssueState] = {}
        try:
            for chunk in chunks([n.origin for n in unknown], LABELS_PER_SEARCH):
                issues, _ = self.job.jira.search(" OR ".join(f"labels = {jql_string(o)}" for o in chunk), ISSUE_FIELDS)
                for record in issues:
                    state = issue_state(record) if isinstance(record, dict) else None
                    for label in state.labels if state else ():
                        found[label] = state  # type: ignore[assignment]
        except STOPS_RUN:
            raise
        except SyncError as exc:
            log.warning("could not look up %d unanswered creates: %s", len(unknown), exc)
        for new in unknown:
            state = found.get(new.origin)
            if state is not None:
                self.linked(new, self.follow_up(new, state.id, state.key), created=True)
            else:
                self.job.result.warnings.append(
                    f"task {new.task.task_id} on page {new.page.id}: the issue's create got no answer; "
                    "kept pending and looked for by its label next run"
                )
                self.job.result.counts["pending"] += 1

    def fields(self, new: NewIssue) -> Record:
        settings = self.job.settings
        if not new.project:
            raise ConfigError("JIRA_PROJECT", "missing: a task's page and its ancestors hold no Jira issue macro")
        project = self.project(new.project)
        issue_type = settings.jira_issue_type
        types = [t for t in project.get("issueTypes") or [] if isinstance(t, dict)]
        chosen = next((t for t in types if str(t.get("name", "")).lower() == issue_type.lower()), None)
        if types and chosen is None:
            raise ConfigError("JIRA_ISSUE_TYPE", f"project {new.project} has no issue type {issue_type!r}")
        parent = new.parent if new.parent and self.parent_allowed(new.parent, chosen) else None
        page = new.page
        task = new.task
        description: list[Any] = [
            (f"Confluence page: {page.title or page.id}", self.job.confluence.page_url(page.id)),
        ]
        if task.context:
            description.append(f"Context: {task.context}")
        description.append("created by tracksync from Confluence")
        return self.job.jira.issue_fields(
            project=new.project,
            issue_type=str(chosen.get("name")) if chosen else issue_type,
            summary=task.summary,
            description=description,
            labels=[TRACKSYNC_LABEL, new.origin],
            due=task.due,
            assignee=self.assignee(task),
            parent=parent,
        )

    def project(self, key: str) -> Record:
        if key not in self.projects:
            self.projects[key] = self.job.jira.project(key)
        project = self.projects[key]
        if project is None:
            name = "JIRA_PROJECT" if key == self.job.settings.jira_project else "JIRA_PROJECT"
            raise ConfigError(name, f"project {key} does not exist in Jira (or the token's user cannot see it)")
        return project

    def parent_allowed(self, key: str, issue_type: Record | None) -> bool:
        """The macro's issue may be the parent: Cloud, one hierarchy level above the new issue's type
        (an epic over a task, a task over a sub-task); Data Center, a sub-task type only."""
        if key not in self.parents:
            self.parents[key] = self.job.jira.issue(key, ("issuetype",))
        parent = self.parents[key]
        if parent is None or issue_type is None:
            return False
        if not self.job.jira.cloud:
            return bool(issue_type.get("subtask"))
        parent_type = (parent.get("fields") or {}).get("issuetype") or {}
        level, parent_level = issue_type.get("hierarchyLevel"), parent_type.get("hierarchyLevel")
        return isinstance(level, int) and isinstance(parent_level, int) and parent_level == level + 1

    def assignee(self, task: Task) -> str | None:
        for mention in task.mentions:
            ref = mention.account_id or mention.userkey or mention.username
            if not ref:
                continue
            if ref in self.job.user_map:
                return self.job.user_map[ref]
            if self.job.jira.cloud:
                return mention.account_id
            if mention.userkey:
                if mention.userkey not in self.job.users:
                    self.job.users[mention.userkey] = self.login_of(mention.userkey)
                if self.job.users[mention.userkey]:
                    return self.job.users[mention.userkey]
            elif mention.username:
                return mention.username
        return None

    def login_of(self, userkey: str) -> str | None:
        """Data Center: a mention's user key is Confluence's; Confluence names the login, which Jira
        (sharing the user directory) assigns by. A key Confluence does not know is tried as Jira's."""
        for lookup, field_name in ((self.job.confluence.user_by_key, "username"), (self.job.jira.user_by_key, "name")):
            try:
                user = lookup(userkey)
            except STOPS_RUN:
                raise
            except SyncError:
                user = None
            if user and isinstance(user.get(field_name), str) and user[field_name]:
                return str(user[field_name])
        return None

    def linked(self, new: NewIssue, sent: Sent, created: bool) -> None:
        job = self.job
        values = {
            "page_id": new.page.id,
            "task_id": new.task.task_id,
            "issue_id": sent.issue_id,
            "issue_key": sent.key,
            "created_run": job.run_id if created else None,
            "task_complete": int(new.task.complete),
            "issue_status": sent.status[0] if sent.status else None,
            "issue_done": int(sent.status[1]) if sent.status else 0,
            "on_page": 0,
            "remote_link": int(sent.remote_link),
            "run_id": job.run_id,
        }
        job.store.save_issue_link(new.origin, values)
        job.store.record_audit(job.run_id, JOB, new.origin, "create", "issue", None, None, values)
        job.result.counts["created"] += 1
        job.result.warnings.extend(sent.problems)
        self.plan.edit(new.page.id, new.task.task_id, TaskEdit(job.settings.confluence_task_style, sent.key))
        self.plan.after_page.setdefault(new.page.id, {}).setdefault(new.origin, {})["on_page"] = 1

    def fail(self, new: NewIssue, reason: str) -> None:
        self.job.result.fail(f"task {new.task.task_id} on page {new.page.id}", reason)
        self.failed_pages.add(new.page.id)


def chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

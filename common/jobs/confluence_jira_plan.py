"""confluence-jira, the plan: from the pages read (storage bodies parsed), the store's rows and the
Jira issues found, what to create, link, transition and edit on each page. Pure: no request, no
store write, so --dry-run shows what apply() does and the rules are unit-tested on payloads.

The rules:

* a task's issue is known by its row in the store (`linked`), else by its origin label
  ``confluence-task-{page id}-{task id}`` in Jira, else by a Jira issue macro in the task (a lost
  store re-links everything);
* a create whose outcome is unknown stays `pending`: while Jira's search does not show its label,
  it is not created again until JIRA_SEARCH_LAG seconds after it was sent;
* status in step: only the side that changed since the last run is copied to the other; both
  changed to different states is a conflict, nothing written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from ..clients.confluence import Page
from ..confluence_storage import ISSUE_KEY, StoragePage, Task, TaskEdit
from .base import Action, ActionKind

JOB = "confluence-jira"
TRACKSYNC_LABEL = "tracksync"
TARGET = "issue"
ORIGIN_PREFIX = "confluence-task-"
Style = Literal["link", "replace"]
Row = dict[str, Any]


def origin_label(page_id: str, task_id: str) -> str:
    return f"{ORIGIN_PREFIX}{page_id}-{task_id}"


def page_of(origin: str) -> str:
    """The page id of an origin label (page ids are digits, task ids may hold a hyphen)."""
    return origin.removeprefix(ORIGIN_PREFIX).split("-", 1)[0]


def global_id(page_id: str, task_id: str) -> str:
    return f"tracksync:confluence:{page_id}:{task_id}"


@dataclass(frozen=True)
class IssueState:
    """A Jira issue as the job compares it: its status name and whether its category is done."""

    id: str
    key: str
    status: str
    done: bool
    labels: tuple[str, ...] = ()


def issue_state(record: Mapping[str, Any]) -> IssueState | None:
    """An issue of a search or GET answer (fields status, labels), or None when malformed."""
    fields = record.get("fields") if isinstance(record.get("fields"), dict) else {}
    assert isinstance(fields, dict)
    status = fields.get("status") if isinstance(fields.get("status"), dict) else {}
    assert isinstance(status, dict)
    category = status.get("statusCategory") if isinstance(status.get("statusCategory"), dict) else {}
    assert isinstance(category, dict)
    key, issue_id = record.get("key"), record.get("id")
    if not isinstance(key, str) or not ISSUE_KEY.fullmatch(key) or issue_id is None:
        return None  # a key that is no Jira key never reaches a page's macro
    labels = fields.get("labels") if isinstance(fields.get("labels"), list) else []
    assert isinstance(labels, list)
    return IssueState(
        str(issue_id),
        key,
        str(status.get("name") or ""),
        category.get("key") == "done",
        tuple(label for label in labels if isinstance(label, str)),
    )


@dataclass(frozen=True)
class PageRead:
    """A page whose body was read and parsed this run, with the project (and parent issue) of the
    nearest Jira issue macro on it or on an ancestor."""

    page: Page
    root_id: str
    storage: StoragePage
    project: str | None = None
    parent_issue: str | None = None


@dataclass
class ConfluenceJiraRead:
    pages: list[PageRead]
    links: dict[str, Row]  # store rows by origin label
    by_label: dict[str, IssueState]  # issues found by origin label
    by_key: dict[str, IssueState]  # issues read by key (changed since the cursor, or looked up)
    open_conflicts: set[str]  # origins with an open conflict
    now: datetime
    failures: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    first_looks: dict[str, IssueState] = field(default_factory=dict)  # origin -> issue first seen since its create


@dataclass(frozen=True)
class Settings_:
    """The settings the plan reads (a plain value object, so tests need no env file)."""

    project: str | None
    style: Style = "link"
    completed: Literal["skip", "create-done"] = "skip"
    search_lag: float = 60.0


@dataclass(frozen=True)
class NewIssue:
    origin: str
    page: Page
    task: Task
    project: str | None
    parent: str | None
    done: bool  # create-done: a completed task's issue is moved to JIRA_DONE_STATUS after the create


@dataclass(frozen=True)
class FoundIssue:
    """A task's issue found by its label or macro: linked without a create."""

    origin: str
    page_id: str
    task: Task
    issue: IssueState
    remote_link: bool  # its remote link is still to be set


@dataclass(frozen=True)
class Transition:
    origin: str
    key: str
    done: bool  # True: to JIRA_DONE_STATUS; False: reopened (a status not in the done category)
    task_complete: bool


@dataclass
class ConfluenceJiraPlan:
    creates: list[NewIssue] = field(default_factory=list)
    found: list[FoundIssue] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    page_edits: dict[str, dict[str, TaskEdit]] = field(default_factory=dict)  # page id -> task id -> edit
    records: dict[str, Row] = field(default_factory=dict)  # origin -> store values (no remote write)
    after_page: dict[str, dict[str, Row]] = field(default_factory=dict)  # page id -> origin -> values once written
    page_updates: dict[str, set[str]] = field(default_factory=dict)  # page id -> task ids: updates done by its PUT
    conflicts: list[Action] = field(default_factory=list)
    drop_pending: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # pending creates inside the search lag
    actions: list[Action] = field(default_factory=list)  # every change, for --dry-run and counts
    unchanged: int = 0
    pages: dict[str, PageRead] = field(default_factory=dict)

    def edit(self, page_id: str, task_id: str, edit: TaskEdit) -> None:
        edits = self.page_edits.setdefault(page_id, {})
        old = edits.get(task_id)
        if old is not None:  # merge a macro and a checkbox on one task
            edit = TaskEdit(
                edit.style or old.style,
                edit.issue_key or old.issue_key,
                edit.complete if edit.complete is not None else old.complete,
            )
        edits[task_id] = edit


def _label(page: Page, task: Task) -> str:
    return f"task {task.task_id} on page {page.id} ({task.summary[:60]})"


def _action(kind: ActionKind, origin: str, page: Page, task: Task, detail: str, target: str | None = None) -> Action:
    return Action(
        kind,
        origin,
        TARGET,
        _label(page, task),
        page.id,
        {"page": page.id, "task": task.task_id, "complete": task.complete},
        detail=detail if target is None else f"{target}: {detail}",
    )


def _seconds_since(sent_at: str | None, now: datetime) -> float:
    if not sent_at:
        return float("inf")
    try:
        sent = datetime.fromisoformat(sent_at.replace("Z", "+00:00"))
    except ValueError:
        return float("inf")
    return (now - sent) / timedelta(seconds=1)


def plan_confluence_jira(read: ConfluenceJiraRead, settings: Settings_) -> ConfluenceJiraPlan:
    plan = ConfluenceJiraPlan(pages={p.page.id: p for p in read.pages})
    for origin, issue in read.first_looks.items():  # the status an issue was created with: recorded
        plan.records[origin] = {"issue_status": issue.status, "issue_done": int(issue.done)}
    for page_read in read.pages:
        for task in page_read.storage.tasks:
            _plan_task(plan, read, settings, page_read, task)
    return plan


def _plan_task(
    plan: ConfluenceJiraPlan, read: ConfluenceJiraRead, settings: Settings_, page_read: PageRead, task: Task
) -> None:
    page = page_read.page
    origin = origin_label(page.id, task.task_id)
    link = read.links.get(origin)
    if link is not None and link["state"] == "linked" and link.get("issue_key"):
        _plan_linked(plan, read, settings, page, task, origin, link)
        return
    issue = read.by_label.get(origin)
    if issue is None:
        issue = next((read.by_key[k] for k in task.jira_keys if k in read.by_key), None)
    if issue is not None:
        plan.found.append(FoundIssue(origin, page.id, task, issue, not (link or {}).get("remote_link")))
        if task.jira_keys and issue.key in task.jira_keys:
            detail = f"linked to {issue.key} (found by its {'label' if origin in issue.labels else 'macro'})"
        else:
            detail = f"linked to {issue.key}, its macro added to the page"
            plan.edit(page.id, task.task_id, TaskEdit(settings.style, issue.key))
            plan.after_page.setdefault(page.id, {}).setdefault(origin, {})["on_page"] = 1
        plan.actions.append(_action(ActionKind.LINK, origin, page, task, detail))
        return
    if task.jira_keys:  # a macro of an issue Jira does not show (yet): never a second issue
        plan.waiting.append(origin)
        read.warnings.append(
            f"{_label(page, task)}: holds the macro of {task.jira_keys[0]}, which Jira's search does not show; "
            "no issue is created for it"
        )
        return
    pending = link is not None and link["state"] == "pending"
    if pending and _seconds_since(link.get("sent_at") if link else None, read.now) < settings.search_lag:
        plan.waiting.append(origin)
        read.warnings.append(
            f"{_label(page, task)}: its issue's create got no answer and Jira's search does not show it yet; "
            f"looked for again next run (created again only after JIRA_SEARCH_LAG={settings.search_lag:g} s)"
        )
        return
    if task.complete and settings.completed == "skip":
        if pending:
            plan.drop_pending.append(origin)
        plan.unchanged += 1
        return
    project = page_read.project or settings.project
    plan.creates.append(NewIssue(origin, page, task, project, page_read.parent_issue, task.complete))
    detail = f"new issue in {project or '?'}" + (f" under {page_read.parent_issue}" if page_read.parent_issue else "")
    plan.actions.append(_action(ActionKind.CREATE, origin, page, task, detail))


def _plan_linked(
    plan: ConfluenceJiraPlan,
    read: ConfluenceJiraRead,
    settings: Settings_,
    page: Page,
    task: Task,
    origin: str,
    link: Row,
) -> None:
    key = str(link["issue_key"])
    wrote = False
    if key not in task.jira_keys:  # the page update after the create failed (or the macro was removed)
        if not link.get("on_page"):
            plan.edit(page.id, task.task_id, TaskEdit(settings.style, key))
            plan.after_page.setdefault(page.id, {}).setdefault(origin, {})["on_page"] = 1
            plan.actions.append(_action(ActionKind.UPDATE, origin, page, task, "macro added to the page", key))
            plan.page_updates.setdefault(page.id, set()).add(task.task_id)
            wrote = True
    elif not link.get("on_page"):
        plan.records.setdefault(origin, {})["on_page"] = 1
    if origin in read.open_conflicts:
        plan.unchanged += 0 if wrote else 1
        return
    issue = read.by_key.get(key)
    last_task = link.get("task_complete")
    last_status = link.get("issue_status")
    last_done = bool(link.get("issue_done"))
    current_done = issue.done if issue is not None else last_done
    task_changed = last_task is None or bool(last_task) != task.complete
    if last_status is None:  # never looked at since its create: it was made in a status not done
        issue_changed = issue is not None and issue.done != last_done
    else:
        issue_changed = issue is not None and issue.status != last_status
    if issue is not None and last_status is None and not issue_changed:  # its first status, recorded
        plan.records.setdefault(origin, {}).update(issue_status=issue.status, issue_done=int(issue.done))
    if last_task is None:
        plan.records.setdefault(origin, {})["task_complete"] = int(task.complete)
        task_changed = False
    if task_changed and issue_changed:
        if task.complete == current_done:
            plan.records.setdefault(origin, {}).update(
                task_complete=int(task.complete), issue_status=issue.status if issue else last_status
            )
        else:
            assert issue is not None
            conflict = _action(
                ActionKind.CONFLICT,
                origin,
                page,
                task,
                f"the task was {'checked' if task.complete else 'unchecked'} and the issue moved to {issue.status}",
                key,
            )
            conflict.target_id = int(issue.id) if issue.id.isdigit() else None
            conflict.fields = {"task": "complete" if task.complete else "incomplete"}
            conflict.before = {"task": "complete" if issue.done else "incomplete", "issue_status": issue.status}
            conflict.last = {"task": "complete" if last_task else "incomplete", "issue_status": last_status}
            plan.conflicts.append(conflict)
            plan.actions.append(conflict)
        return
    if task_changed:
        if task.complete != current_done:
            plan.transitions.append(Transition(origin, key, task.complete, task.complete))
            checked = "checked" if task.complete else "unchecked"
            verb = f"to {'done' if task.complete else 'reopened'} (the task was {checked})"
            plan.actions.append(_action(ActionKind.UPDATE, origin, page, task, verb, key))
        else:
            plan.records.setdefault(origin, {})["task_complete"] = int(task.complete)
        return
    if issue_changed:
        assert issue is not None
        if issue.done != task.complete:
            plan.edit(page.id, task.task_id, TaskEdit(complete=issue.done))
            what = "checked" if issue.done else "unchecked"
            plan.actions.append(
                _action(ActionKind.UPDATE, origin, page, task, f"task {what} (issue {issue.status})", key)
            )
            plan.after_page.setdefault(page.id, {}).setdefault(origin, {}).update(
                issue_status=issue.status, issue_done=int(issue.done), task_complete=int(issue.done)
            )
            plan.page_updates.setdefault(page.id, set()).add(task.task_id)
        else:
            plan.records.setdefault(origin, {}).update(issue_status=issue.status, issue_done=int(issue.done))
        return
    if not wrote:
        plan.unchanged += 1

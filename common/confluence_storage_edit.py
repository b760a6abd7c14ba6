"""Confluence storage format, editing: splice task edits (an issue macro in ``link`` or
``replace`` style, a checkbox) into a body at the tokenizer's offsets; every other byte stays."""

from __future__ import annotations

import html
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from .confluence_storage_tree import (
    BLOCK,
    ISSUE_KEY,
    TASK,
    TASK_BODY,
    TASK_LIST,
    _fail,
    _Node,
    _own_task,
    _parse,
    _task_id,
    _task_parts,
    _text,
    _walk,
)


@dataclass(frozen=True)
class TaskEdit:
    """What to change on one task: add an issue macro (``link`` or ``replace`` style, with
    ``issue_key``) and/or set its checkbox (``complete`` True/False)."""

    style: Literal["link", "replace"] | None = None
    issue_key: str | None = None
    complete: bool | None = None
    server: str | None = None  # the Jira issue macro's optional "server" / "serverId" parameters
    server_id: str | None = None

    def __post_init__(self) -> None:
        if (self.style is None) != (self.issue_key is None):
            raise ValueError("TaskEdit: a style needs an issue key and an issue key a style")
        if self.issue_key is not None and not ISSUE_KEY.fullmatch(self.issue_key):
            raise ValueError(f"TaskEdit: {self.issue_key!r} is not a Jira issue key")


@dataclass(frozen=True)
class EditResult:
    body: str
    applied: tuple[str, ...]  # task ids changed
    unchanged: tuple[str, ...]  # found, nothing to do (macro already there, status already set)
    missing: tuple[str, ...]  # not a task of this body (deleted, or moved into a sub-list)
    kept_as_tasks: tuple[str, ...] = ()  # ``replace`` asked, but the task has sub-tasks: linked instead

    @property
    def changed(self) -> bool:
        return bool(self.applied)


def _escape(value: str) -> str:
    return html.escape(value, quote=True)


def jira_macro(issue_key: str, server: str | None = None, server_id: str | None = None) -> str:
    """The storage format of a Jira issue macro showing one issue."""
    if not ISSUE_KEY.fullmatch(issue_key):
        raise ValueError(f"{issue_key!r} is not a Jira issue key")
    params = [("server", server), ("serverId", server_id), ("key", issue_key)]
    inner = "".join(f'<ac:parameter ac:name="{n}">{_escape(v)}</ac:parameter>' for n, v in params if v)
    return f'<ac:structured-macro ac:name="jira" ac:schema-version="1">{inner}</ac:structured-macro>'


Splice = tuple[int, int, str]


def _position(splice: Splice) -> tuple[int, int]:
    return splice[0], splice[1]


def _status_splice(body: str, task: _Node, complete: bool) -> Splice | None:
    value = "complete" if complete else "incomplete"
    status = task.child("ac:task-status")
    if status is not None and _text(body, status).lower() == value:
        return None
    if status is not None:
        if status.closed_by_tag:
            return (status.inner_start, status.inner_end, value)
        return (status.start, status.end, f"<ac:task-status>{value}</ac:task-status>")
    before = [c for c in (task.child("ac:task-id"), task.child("ac:task-uuid")) if c is not None]
    at = max(c.end for c in before) if before else task.inner_start  # where Confluence puts it
    return (at, at, f"<ac:task-status>{value}</ac:task-status>")


def _link_splice(task: _Node, macro: str) -> Splice:
    task_body = task.child(TASK_BODY)
    if task_body is None:
        return (task.inner_end, task.inner_end, f"<{TASK_BODY}>{macro}</{TASK_BODY}>")
    if not task_body.closed_by_tag:
        return (task_body.start, task_body.end, f"<{TASK_BODY}>{macro}</{TASK_BODY}>")
    return (task_body.inner_end, task_body.inner_end, " " + macro)


_INLINE_BLOCKERS = BLOCK - {"br"}


def _paragraph(body: str, task: _Node, macro: str) -> str:
    """The ``replace`` style's paragraph: the macro, then the task body's own markup (mentions and
    dates kept). Block content in the body (a sub-task list, paragraphs) follows the paragraph
    as it is, so that nothing is lost."""
    task_body = task.child(TASK_BODY)
    if task_body is None or not task_body.closed_by_tag:
        return f"<p>{macro}</p>"
    unwrap: list[Splice] = []  # the editor's wrapper of a task's text means nothing outside a task
    for span in task_body.elements():
        if span.name == "span" and "placeholder-inline-tasks" in span.attrs.get("class", "").split():
            if span.closed_by_tag:
                unwrap += [(span.start, span.inner_start, ""), (span.inner_end, span.end, "")]
            else:
                unwrap.append((span.start, span.end, ""))
    inner = _render(body, task_body.inner_start, task_body.inner_end, sorted(unwrap, key=_position))
    if any(n.kind == "element" and n.name in _INLINE_BLOCKERS for n in _walk(task_body)):
        return f"<p>{macro}</p>{inner}"
    return f"<p>{macro} {inner.strip()}</p>" if inner.strip() else f"<p>{macro}</p>"


def _render(body: str, start: int, end: int, splices: list[Splice]) -> str:
    """body[start:end] with the splices that lie inside it applied (``splices``: sorted, none
    overlapping another)."""
    out, pos = [], start
    index = bisect_left(splices, (start,))
    while index < len(splices) and splices[index][1] <= end:
        s, e, text = splices[index]
        out += [body[pos:s], text]
        pos, index = e, index + 1
    out.append(body[pos:end])
    return "".join(out)


def _split_list(body: str, task_list: _Node, replaced: dict[int, str], splices: list[Splice]) -> Splice:
    """A task list with replaced tasks becomes lists of the remaining items around paragraphs."""
    start_tag, end_tag = body[task_list.start : task_list.inner_start], body[task_list.inner_end : task_list.end]
    out: list[str] = []
    run: list[_Node] = []
    openings = [start_tag]  # the list's own start tag (with its id) for the first list left

    def flush() -> None:
        if any(n.kind == "element" for n in run):
            opening = openings.pop() if openings else "<ac:task-list>"
            out.append(opening + _render(body, run[0].start, run[-1].end, splices) + end_tag)
        run.clear()

    for child in task_list.children:
        if id(child) in replaced:
            flush()
            out.append(replaced[id(child)])
        else:
            run.append(child)
    flush()
    return (task_list.start, task_list.end, "".join(out))


def _has_subtasks(body: str, task: _Node) -> bool:
    """Tasks inside the task, or a sub-list right after it in its list."""
    if any(n.kind == "element" and n.name in (TASK, TASK_LIST) for n in _walk(task)):
        return True
    siblings = task.parent.children if task.parent is not None and task.parent.name == TASK_LIST else []
    for node in siblings[task.index + 1 :]:
        if node.kind == "comment" or (node.kind == "text" and not body[node.start : node.end].strip()):
            continue
        return node.kind == "element" and node.name == TASK_LIST
    return False


def _own_tasks(body: str, root: _Node) -> dict[str, _Node]:
    own: dict[str, _Node] = {}
    for node in _walk(root):
        if node.kind == "element" and node.name == TASK and _own_task(node):
            task_id = _task_id(body, node)
            if task_id is not None:
                if task_id in own:
                    raise _fail(body, node.start, f"task id {task_id} appears twice on the page")
                own[task_id] = node
    return own


def apply_edits(body: str, edits: Mapping[str, TaskEdit]) -> EditResult:
    """Splice the edits (keyed by task id) into ``body``, which may be newer than the body the
    edits were planned on. Everything else is returned byte for byte; tasks keep their order.
    ``replace`` ignores ``complete`` (the task is no longer a task), and links a task that has
    sub-tasks instead (``kept_as_tasks``: a paragraph cannot hold them, and they must not become
    the page's own tasks); ``link`` adds nothing when the task already holds that issue's macro."""
    root = _parse(body)
    own = _own_tasks(body, root)
    applied: list[str] = []
    unchanged: list[str] = []
    missing: list[str] = []
    kept: list[str] = []
    splices: list[Splice] = []
    replacing: list[tuple[_Node, str]] = []  # (task, its issue macro)
    for task_id, edit in edits.items():
        task = own.get(task_id)
        if task is None:
            missing.append(task_id)
            continue
        changed = False
        if edit.style == "replace" and _has_subtasks(body, task):
            kept.append(task_id)  # a paragraph cannot hold them: they would become the page's tasks
            edit = TaskEdit("link", edit.issue_key, edit.complete, edit.server, edit.server_id)
        if edit.style == "replace" and edit.issue_key is not None:
            replacing.append((task, jira_macro(edit.issue_key, edit.server, edit.server_id)))
            changed = True
        else:
            status = _status_splice(body, task, edit.complete) if edit.complete is not None else None
            if status is not None:
                splices.append(status)
                changed = True
            if edit.style == "link" and edit.issue_key is not None and edit.issue_key not in _task_parts(body, task)[2]:
                splices.append(_link_splice(task, jira_macro(edit.issue_key, edit.server, edit.server_id)))
                changed = True
        (applied if changed else unchanged).append(task_id)
    splices.sort(key=_position)  # stable: a status and a body inserted at one place stay in that order
    paragraphs = {id(task): _paragraph(body, task, macro) for task, macro in replacing}
    regions: dict[int, Splice] = {}  # what replaces each list holding a replaced task (or a bare task)
    for task, _ in replacing:
        if task.parent is not None and task.parent.name == TASK_LIST:
            if id(task.parent) not in regions:
                regions[id(task.parent)] = _split_list(body, task.parent, paragraphs, splices)
        else:  # a task outside any list: the paragraph takes its place
            regions[id(task)] = (task.start, task.end, paragraphs[id(task)])
    if regions:  # the other edits inside those lists are already in the lists' new text
        outer = sorted(regions.values())
        starts = [region[0] for region in outer]

        def inside(splice: Splice) -> bool:
            at = bisect_right(starts, splice[0]) - 1
            return at >= 0 and splice[1] <= outer[at][1]

        splices = sorted([splice for splice in splices if not inside(splice)] + outer, key=_position)
    result = _render(body, 0, len(body), splices)
    return EditResult(result, tuple(applied), tuple(unchanged), tuple(missing), tuple(kept))


def link_task(body: str, task_id: str, issue_key: str) -> EditResult:
    return apply_edits(body, {task_id: TaskEdit("link", issue_key)})


def replace_task(body: str, task_id: str, issue_key: str) -> EditResult:
    return apply_edits(body, {task_id: TaskEdit("replace", issue_key)})


def set_task_status(body: str, task_id: str, complete: bool) -> EditResult:
    return apply_edits(body, {task_id: TaskEdit(complete=complete)})

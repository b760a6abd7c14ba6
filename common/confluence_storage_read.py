"""Confluence storage format, reading: the page's own tasks in page order (with their context:
nearest heading, the paragraph before the list, the table row's header: value pairs) and every
Jira issue macro on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from .confluence_storage_tree import (
    CONTEXT_CHARS,
    HEADINGS,
    ISSUE_KEY,
    JIRA_MACROS,
    MAX_COLUMNS,
    SUMMARY_CHARS,
    TASK,
    TASK_BODY,
    TASK_LIST,
    Mention,
    _cut,
    _fail,
    _macro_parameter,
    _Node,
    _own_task,
    _parse,
    _status_complete,
    _task_id,
    _task_parts,
    _text,
    _walk,
)


@dataclass(frozen=True)
class Task:
    task_id: str
    complete: bool
    text: str  # whitespace collapsed, entities decoded
    due: date | None
    mentions: tuple[Mention, ...]
    jira_keys: tuple[str, ...]  # issue macros already inside the task (link style)
    heading: str | None  # the nearest heading before the task
    paragraph: str | None  # the paragraph right before the task's list
    row: tuple[tuple[str, str], ...]  # table row: (column header, cell text) of the other cells

    @property
    def status(self) -> Literal["complete", "incomplete"]:
        return "complete" if self.complete else "incomplete"

    @property
    def summary(self) -> str:
        """The text, at most ``SUMMARY_CHARS`` characters (an ellipsis marks a cut)."""
        return _cut(self.text, SUMMARY_CHARS) or f"Confluence task {self.task_id}"

    @property
    def context(self) -> str:
        """Heading, paragraph and table row pairs as one line (empty when there is none)."""
        pairs = "; ".join(f"{h}: {v}" if h else v for h, v in self.row)
        return " / ".join(p for p in (self.heading, self.paragraph, pairs) if p)


@dataclass(frozen=True)
class JiraMacro:
    key: str  # as written in the macro's "key" parameter (may be empty: a JQL macro)
    project: str | None  # the key's project part when the key is a valid issue key
    server: str | None
    server_id: str | None
    task_id: str | None  # the page task holding the macro, if any


@dataclass(frozen=True)
class StoragePage:
    tasks: tuple[Task, ...]
    jira_macros: tuple[JiraMacro, ...]
    untracked_tasks: int  # own tasks without an <ac:task-id> (Confluence assigns one on save)

    def task(self, task_id: str) -> Task | None:
        return next((t for t in self.tasks if t.task_id == task_id), None)


def _outer_list(task: _Node) -> _Node | None:
    return next((a for a in task.ancestors() if a.name == TASK_LIST), None)


@dataclass
class _Context:
    """What tasks of one page share: header rows per table, pairs per cell, paragraph per list."""

    headers: dict[int, _Node | None] = field(default_factory=dict)
    pairs: dict[int, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    paragraphs: dict[int, str | None] = field(default_factory=dict)


def _paragraph_before(body: str, task: _Node, known: _Context) -> str | None:
    """The text of the <p> right before the task's list."""
    found = known.paragraphs
    task_list = _outer_list(task)
    anchor = task_list if task_list is not None else task
    if id(anchor) in found:
        return found[id(anchor)]
    parent, text = anchor.parent, None
    siblings = parent.children if parent is not None else []
    for node in reversed(siblings[: anchor.index]):
        if node.kind == "comment" or (node.kind == "text" and not body[node.start : node.end].strip()):
            continue
        text = (_text(body, node, CONTEXT_CHARS) or None) if node.name == "p" else None
        break
    found[id(anchor)] = text
    return text


def _row_pairs(body: str, task: _Node, known: _Context) -> tuple[tuple[str, str], ...]:
    """(column header, text) of the other cells of the table row holding the task; the header row
    is the table's first row of <th> cells."""
    cell = next((a for a in task.ancestors() if a.name in ("td", "th")), None)
    row = cell.parent if cell is not None else None
    table = next((a for a in row.ancestors() if a.name == "table"), None) if row is not None else None
    if cell is None or row is None or row.name != "tr" or table is None:
        return ()
    if id(cell) in known.pairs:
        return known.pairs[id(cell)]
    if id(table) not in known.headers:
        rows = (r for r in _walk(table, frozenset({"table"})) if r.kind == "element" and r.name == "tr")
        known.headers[id(table)] = next(
            (r for r in rows if all(c.name == "th" for c in r.elements()) and any(r.elements())), None
        )
    header = known.headers[id(table)]
    titles = _columns(body, header) if header is not None and header is not row else []
    pairs: list[tuple[str, str]] = []
    for index, text in enumerate(_columns(body, row, skip=cell)):
        if text:
            pairs.append(((titles[index] if index < len(titles) else None) or "", text))
    known.pairs[id(cell)] = tuple(pairs)
    return known.pairs[id(cell)]


def _columns(body: str, row: _Node, skip: _Node | None = None) -> list[str | None]:
    """Cell texts by column (a colspan repeats its cell); ``None`` for the skipped cell."""
    columns: list[str | None] = []
    for cell in row.elements():
        if len(columns) >= MAX_COLUMNS:
            break
        if cell.name not in ("td", "th"):
            continue
        span = cell.attrs.get("colspan", "1")
        text = None if cell is skip else _text(body, cell, 200)
        columns += [text] * (min(int(span), 50) if span.isdigit() and int(span) > 0 else 1)
    return columns


def read_page(body: str) -> StoragePage:
    """The page's own tasks in page order and every Jira issue macro on it."""
    root = _parse(body)
    tasks: list[Task] = []
    macros: list[JiraMacro] = []
    untracked = 0
    heading: str | None = None
    known = _Context()
    seen: set[str] = set()
    for node in _walk(root):
        if node.kind != "element":
            continue
        if node.name in HEADINGS:
            heading = _text(body, node, CONTEXT_CHARS) or heading
        elif node.macro_name() in JIRA_MACROS:
            key = _macro_parameter(body, node, "key") or ""
            holder = next((a for a in node.ancestors() if a.name == TASK), None)
            issue = ISSUE_KEY.fullmatch(key)
            macros.append(
                JiraMacro(
                    key,
                    issue.group(1) if issue else None,
                    _macro_parameter(body, node, "server"),
                    _macro_parameter(body, node, "serverId"),
                    _task_id(body, holder) if holder is not None else None,
                )
            )
        elif node.name == TASK and _own_task(node):
            task_id = _task_id(body, node)
            if task_id is None:
                untracked += 1
                continue
            if task_id in seen:
                raise _fail(body, node.start, f"task id {task_id} appears twice on the page")
            seen.add(task_id)
            task_body = node.child(TASK_BODY)
            due, mentions, keys = _task_parts(body, node)
            tasks.append(
                Task(
                    task_id,
                    _status_complete(body, node),
                    _text(body, task_body) if task_body is not None else "",
                    due,
                    mentions,
                    keys,
                    heading,
                    _paragraph_before(body, node, known),
                    _row_pairs(body, node, known),
                )
            )
    return StoragePage(tuple(tasks), tuple(macros), untracked)


def find_tasks(body: str) -> tuple[Task, ...]:
    """The page's own tasks, in page order (``read_page(body).tasks``)."""
    return read_page(body).tasks


def find_jira_macros(body: str) -> tuple[JiraMacro, ...]:
    """Every Jira issue macro on the page, in page order (to find a project or parent issue)."""
    return read_page(body).jira_macros

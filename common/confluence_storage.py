"""Confluence storage format: find a page's tasks and Jira issue macros, and rewrite tasks.

The storage format is XHTML with Confluence's undeclared ``ac:``/``ri:`` prefixes, HTML entities
(``&nbsp;``, ``&hellip;``: undefined in XML) and CDATA sections, so no XML parser reads it and an
HTML parser would re-serialise it. Here a tokenizer records where every element starts and ends,
and an edit is a splice at those offsets: every byte the job does not touch comes back as it was.

Pure functions, no HTTP:

* ``read_page(body)`` → ``StoragePage``: the page's own tasks in page order (``Task``: id, status,
  text, summary, due date, mentions, context, Jira keys already in it) and every Jira issue macro
  (``JiraMacro``); ``find_tasks`` and ``find_jira_macros`` give one of the two. A task nested
  inside another task (or in a sub-list of a task list), or inside a macro that only shows other
  content (``jira``, ``include``, ``excerpt-include``, task reports), is not a task of this page.
* ``apply_edits(body, {task_id: TaskEdit})`` → ``EditResult``: the body with the edits spliced in
  (``link``: the issue macro appended inside the task body; ``replace``: the task becomes a
  paragraph holding the macro and the task's text, at the same place; ``status``: the checkbox
  set), tasks matched by id so that it works on a newer body too; ids not found are reported.

Malformed input (an unclosed or mismatched tag, an unterminated comment or CDATA, nesting deeper
than ``MAX_DEPTH``, a body over ``MAX_BODY_CHARS`` characters or ``MAX_NODES`` nodes) raises
``StorageFormatError`` (exit 65): one line with the line and column, never the page's content.
Every scan is linear in the body's size.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from .errors import DataError

MAX_BODY_CHARS = 5_000_000
MAX_DEPTH = 256
MAX_NODES = 250_000  # elements, texts, comments: a real page of 5 MB holds far fewer
SUMMARY_CHARS = 255
CONTEXT_CHARS = 500
MAX_COLUMNS = 64  # table columns read for a task's row context

TASK, TASK_LIST, TASK_BODY = "ac:task", "ac:task-list", "ac:task-body"
MACROS = ("ac:structured-macro", "ac:macro")
# Macros whose content is another page's or another search's: tasks inside are not this page's.
SHOWS_OTHER_CONTENT = {"jira", "jiraissues", "include", "excerpt-include", "tasks-report-macro", "task-report"}
JIRA_MACROS = {"jira", "jiraissues"}
HIDDEN = {"ac:adf-fallback", "ac:placeholder"}  # a second rendering of ADF content / editor hints
VOID = {"br", "hr", "img", "col", "area", "base", "input", "meta", "link", "param", "source", "track", "wbr"}
BLOCK = {
    "p", "div", "li", "ul", "ol", "table", "tr", "td", "th", "tbody", "thead", "blockquote", "pre",
    "h1", "h2", "h3", "h4", "h5", "h6", "br", "hr", TASK_LIST, TASK, "ac:layout", "ac:layout-section",
    "ac:layout-cell", "ac:rich-text-body",
}  # fmt: skip
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
TASK_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
ISSUE_KEY = re.compile(r"([A-Z][A-Z0-9_]{0,254})-([1-9][0-9]{0,17})")
ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?![\d-])")

_NAME = re.compile(r"[A-Za-z_][-\w:.]*")
_ATTR = re.compile(r"""\s+([^\s=/>"'<]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")
_TAG_END = re.compile(r"\s*(/?)>")
_MARKUP_STARTS = ("!", "/", "?")
_END_TAG = re.compile(r"</([A-Za-z_][-\w:.]*)\s*>")


class StorageFormatError(DataError):
    """A storage-format body that cannot be read safely (one line, no page content)."""


@dataclass(eq=False, slots=True)
class _Node:
    kind: Literal["element", "text", "cdata", "comment", "other"]
    start: int
    end: int
    name: str = ""  # element name, lower case
    attrs: dict[str, str] = field(default_factory=dict)
    inner_start: int = 0  # element content, between the start and end tags
    inner_end: int = 0
    closed_by_tag: bool = False  # False: self-closing (<x/>) or an HTML void element
    children: list[_Node] = field(default_factory=list)
    parent: _Node | None = None
    index: int = 0  # position among the parent's children

    def elements(self) -> Iterator[_Node]:
        return (c for c in self.children if c.kind == "element")

    def child(self, name: str) -> _Node | None:
        return next((c for c in self.elements() if c.name == name), None)

    def ancestors(self) -> Iterator[_Node]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def macro_name(self) -> str:
        return self.attrs.get("ac:name", "").strip().lower() if self.name in MACROS else ""


def _where(body: str, offset: int) -> str:
    line, line_start = body.count("\n", 0, offset) + 1, body.rfind("\n", 0, offset) + 1
    return f"line {line}, column {offset - line_start + 1}"


def _fail(body: str, offset: int, problem: str) -> StorageFormatError:
    return StorageFormatError(f"storage format: {_where(body, offset)}: {problem}")


def _parse(
    body: str, *, max_chars: int = MAX_BODY_CHARS, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES
) -> _Node:
    """The body as a tree of nodes with offsets (a document node at the root)."""
    if not isinstance(body, str):
        raise StorageFormatError(f"storage format: the body is {type(body).__name__}, not text")
    if len(body) > max_chars:
        raise StorageFormatError(f"storage format: the body has {len(body)} characters, more than {max_chars}")
    root = _Node("element", 0, len(body), name="#document", inner_start=0, inner_end=len(body), closed_by_tag=True)
    stack = [root]
    pos, n = 0, len(body)
    count = [0]

    def add(node: _Node) -> None:
        count[0] += 1
        if count[0] > max_nodes:
            raise _fail(body, node.start, f"the body holds more than {max_nodes} nodes")
        node.parent, node.index = stack[-1], len(stack[-1].children)
        stack[-1].children.append(node)

    text_from = 0  # where the text before the next markup starts
    while pos < n:
        lt = body.find("<", pos)
        if lt < 0:
            break
        if body[lt + 1 : lt + 2] not in _MARKUP_STARTS and not _NAME.match(body, lt + 1):
            pos = lt + 1  # a lone "<" in text (Confluence writes &lt;, but keeping it is harmless)
            continue
        if lt > text_from:
            add(_Node("text", text_from, lt))
        for opener, closer, kind in (("<!--", "-->", "comment"), ("<![CDATA[", "]]>", "cdata"), ("<?", "?>", "other")):
            if body.startswith(opener, lt):
                close = body.find(closer, lt + len(opener))
                if close < 0:
                    raise _fail(body, lt, f"{opener} is never closed by {closer}")
                add(_Node(kind, lt, close + len(closer)))  # type: ignore[arg-type]
                pos = close + len(closer)
                break
        else:
            if body.startswith("<!", lt):  # <!DOCTYPE ...>
                close = body.find(">", lt)
                if close < 0:
                    raise _fail(body, lt, "<! is never closed by >")
                add(_Node("other", lt, close + 1))
                pos = close + 1
            elif body.startswith("</", lt):
                pos = _close_element(body, lt, stack)
            else:
                pos = _open_element(body, lt, stack, add, max_depth)
        text_from = pos
    if text_from < n:
        add(_Node("text", text_from, n))
    if len(stack) > 1:
        raise _fail(body, stack[-1].start, f"<{stack[-1].name}> is never closed")
    return root


def _open_element(body: str, lt: int, stack: list[_Node], add: Callable[[_Node], None], max_depth: int) -> int:
    name_match = _NAME.match(body, lt + 1)
    assert name_match is not None
    name = name_match.group().lower()
    attrs: dict[str, str] = {}
    p = name_match.end()
    while (attr := _ATTR.match(body, p)) is not None:
        value = attr.group(2) or ""
        if value[:1] in ('"', "'"):
            value = value[1:-1]
        attrs.setdefault(attr.group(1).lower(), html.unescape(value))
        p = attr.end()
    end = _TAG_END.match(body, p)
    if end is None:
        raise _fail(body, lt, f"the start tag <{name}> is malformed or never closed by >")
    node = _Node("element", lt, end.end(), name=name, attrs=attrs, inner_start=end.end(), inner_end=end.end())
    add(node)
    if not end.group(1) and name not in VOID:
        if len(stack) > max_depth:
            raise _fail(body, lt, f"elements are nested deeper than {max_depth} levels")
        node.closed_by_tag = True
        stack.append(node)
    return end.end()


def _close_element(body: str, lt: int, stack: list[_Node]) -> int:
    match = _END_TAG.match(body, lt)
    if match is None:
        raise _fail(body, lt, "malformed end tag")
    name = match.group(1).lower()
    top = stack[-1]
    if len(stack) > 1 and top.name == name:
        top.inner_end, top.end = lt, match.end()
        stack.pop()
    elif name not in VOID:  # </br> after <br> is tolerated; anything else is a broken page
        opened = f"<{top.name}> opened at {_where(body, top.start)}" if len(stack) > 1 else "no open element"
        raise _fail(body, lt, f"</{name}> does not close {opened}")
    return match.end()


def _walk(node: _Node, skip: frozenset[str] = frozenset()) -> Iterator[_Node]:
    """Descendants in document order; elements named in ``skip`` are yielded but not entered."""
    stack = list(reversed(node.children))
    while stack:
        current = stack.pop()
        yield current
        if current.kind == "element" and current.name not in skip:
            stack.extend(reversed(current.children))


_TEXT_SKIP = frozenset({TASK_LIST, TASK, *MACROS, "ac:placeholder", "ac:adf-fallback"})
_BLOCK_END = _Node("other", 0, 0)


def _text(body: str, node: _Node, limit: int | None = None) -> str:
    """The visible text of a node: entities decoded, whitespace collapsed; nested task lists,
    macros and their parameters left out; a <time> gives its date."""
    parts: list[str] = []
    size = 0
    stack = list(reversed(node.children))
    while stack:
        item = stack.pop()
        part = ""
        if item.kind == "element" and item.name not in _TEXT_SKIP:
            if item.name in BLOCK:
                stack.append(_BLOCK_END)  # a space after the block's content too
            stack.extend(reversed(item.children))
        if item is _BLOCK_END:
            part = " "
        elif item.kind == "text":
            part = html.unescape(body[item.start : item.end])
        elif item.kind == "cdata":
            part = body[item.start + 9 : item.end - 3]
        elif item.kind == "element":
            if item.name == "time" and item.attrs.get("datetime"):
                part = f" {item.attrs['datetime']} "
            elif item.name == "ac:emoticon":
                part = item.attrs.get("ac:emoji-fallback", "")
            elif item.name == "ri:page" and _link_has_no_body(item):
                part = item.attrs.get("ri:content-title", "")
            elif item.name in BLOCK:
                part = " "
        parts.append(part)
        size += len(part)
        if limit is not None and size > 4 * limit + 64:
            break
    text = " ".join("".join(parts).split())
    return text if limit is None else _cut(text, limit)


def _link_has_no_body(item: _Node) -> bool:
    link = item.parent
    return (
        link is not None and link.name == "ac:link" and not any(c.name.endswith("link-body") for c in link.elements())
    )


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class Mention:
    """A user mention: ``account_id`` on Cloud, ``userkey`` (or an old ``username``) on Data Center."""

    account_id: str | None = None
    userkey: str | None = None
    username: str | None = None


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


def _own_task(node: _Node) -> bool:
    """A task of this page: not inside another task or a sub-list, nor in a macro that shows other
    content, nor in a hidden rendering."""
    lists = 0
    for ancestor in node.ancestors():
        if ancestor.name == TASK or ancestor.name in HIDDEN or ancestor.macro_name() in SHOWS_OTHER_CONTENT:
            return False
        if ancestor.name == TASK_LIST:
            lists += 1
    return lists <= 1


def _task_id(body: str, task: _Node) -> str | None:
    node = task.child("ac:task-id")
    if node is None:
        return None
    value = _text(body, node)
    return value if TASK_ID.fullmatch(value) else None


def _status_complete(body: str, task: _Node) -> bool:
    node = task.child("ac:task-status")
    return node is not None and _text(body, node).lower() == "complete"


def _macro_parameter(body: str, macro: _Node, name: str) -> str | None:
    for child in macro.elements():
        if child.name == "ac:parameter" and child.attrs.get("ac:name", "").lower() == name.lower():
            return " ".join(html.unescape(body[child.inner_start : child.inner_end]).split())
    return None


def _task_parts(body: str, task: _Node) -> tuple[date | None, tuple[Mention, ...], tuple[str, ...]]:
    """Due date, mentions and Jira keys inside a task, leaving out its sub-tasks."""
    due: date | None = None
    mentions: list[Mention] = []
    keys: list[str] = []
    for item in _walk(task, frozenset({TASK_LIST, TASK, "ac:adf-fallback"})):
        if item.kind != "element":
            continue
        if item.name == "time" and due is None:
            due = _iso_date(item.attrs.get("datetime", ""))
        elif item.name == "ri:user":
            mention = Mention(
                item.attrs.get("ri:account-id") or None,
                item.attrs.get("ri:userkey") or None,
                item.attrs.get("ri:username") or None,
            )
            if mention != Mention() and mention not in mentions:
                mentions.append(mention)
        elif item.macro_name() in JIRA_MACROS:
            key = _macro_parameter(body, item, "key")
            if key and key not in keys:
                keys.append(key)
    return due, tuple(mentions), tuple(keys)


def _iso_date(value: str) -> date | None:
    """A YYYY-MM-DD date (a time after it is ignored); None for anything else."""
    match = ISO_DATE.match(value.strip())
    try:
        return date(int(match[1]), int(match[2]), int(match[3])) if match else None
    except ValueError:
        return None


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


# ---------------------------------------------------------------------------------------- edits


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

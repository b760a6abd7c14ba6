"""Confluence storage format, the tree: a tokenizer that records where every element starts and
ends (offsets into the body), the visible text of a node, and what reading and editing a task
share (which tasks are the page's own, a task's id, status, due date, mentions and Jira keys).

Used by confluence_storage_read (finding tasks) and confluence_storage_edit (splicing edits);
callers use confluence_storage, which names the public functions.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
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

"""`sync.py confluence-tree`, the pure part: the shape and bounds of a test tree, the storage-format
bodies of its pages (tasks with ids, due dates and mentions, a Jira issue macro), the order pages
are removed in, and the check that an unlabelled page is a build's leftover. No I/O."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from ..clients.confluence import Page
from ..errors import UsageError

TREE_LABEL = "tracksync-test"
TITLE_PREFIX = "tracksync-test "
MARKER = "tracksync-test tree"  # the first paragraph of every page a build makes
MAX_DEPTH = 5
MAX_CHILDREN = 10
MAX_TASKS = 50
MAX_TREE_PAGES = 200  # pages one build may make
_TAG = re.compile(r"[0-9a-f]{6}")


@dataclass(frozen=True)
class TreeSpec:
    depth: int
    children: int
    tasks: int
    jira_project: str | None = None
    assignee: str | None = None


@dataclass(frozen=True)
class PlannedPage:
    path: tuple[int, ...]  # (2, 1): the first child of the second page of level 1
    title: str
    body: str
    tasks: int
    open_tasks: int

    @property
    def depth(self) -> int:
        return len(self.path)


def page_count(depth: int, children: int) -> int:
    return sum(children**level for level in range(1, depth + 1))


def check_spec(spec: TreeSpec) -> None:
    """UsageError (exit 2) for a tree out of bounds."""
    for name, value, most in (
        ("--depth", spec.depth, MAX_DEPTH),
        ("--children", spec.children, MAX_CHILDREN),
        ("--tasks-per-page", spec.tasks, MAX_TASKS),
    ):
        low = 0 if name == "--tasks-per-page" else 1
        if not low <= value <= most:
            raise UsageError(f"{name} {value}: must be between {low} and {most}")
    total = page_count(spec.depth, spec.children)
    if total > MAX_TREE_PAGES:
        raise UsageError(
            f"--depth {spec.depth} --children {spec.children} makes {total} pages; "
            f"at most {MAX_TREE_PAGES} pages per tree (lower --depth or --children)"
        )


def tree_paths(depth: int, children: int) -> list[tuple[int, ...]]:
    """Every page of the tree, level by level (a parent always before its children)."""
    paths: list[tuple[int, ...]] = []
    level: list[tuple[int, ...]] = [()]
    for _ in range(depth):
        level = [(*above, n) for above in level for n in range(1, children + 1)]
        paths.extend(level)
    return paths


def is_complete(task_id: int) -> bool:
    return task_id % 4 == 0


def mention(who: str, cloud: bool) -> str:
    attribute = "ri:account-id" if cloud else "ri:userkey"
    return f'<ac:link><ri:user {attribute}="{html.escape(who, quote=True)}" /></ac:link>'


def jira_macro(key: str) -> str:
    return (
        f'<ac:structured-macro ac:name="jira" ac:schema-version="1" ac:macro-id="{uuid.uuid4()}">'
        f'<ac:parameter ac:name="key">{html.escape(key)}</ac:parameter></ac:structured-macro>'
    )


def page_body(
    tag: str, path: tuple[int, ...], tasks: int, *, who: str | None, cloud: bool, jira_key: str | None, today: date
) -> str:
    """The storage-format body of one test page."""
    name = ".".join(map(str, path))
    parts = [f"<p>{MARKER} {tag}: test page {name}, made by sync.py confluence-tree (--remove deletes it).</p>"]
    if jira_key:
        parts.append(f"<p>Issue: {jira_macro(jira_key)}</p>")
    if tasks:
        items = []
        for task_id in range(1, tasks + 1):
            text = f"Test task {task_id} of page {name}"
            if who and task_id % 2 == 1:
                text = f"{mention(who, cloud)} {text}"
            if task_id % 3 == 1:
                due = today + timedelta(days=7 + task_id)
                text += f' by <time datetime="{due.isoformat()}" />'
            status = "complete" if is_complete(task_id) else "incomplete"
            items.append(
                f"<ac:task>\n<ac:task-id>{task_id}</ac:task-id>\n<ac:task-uuid>{uuid.uuid4()}</ac:task-uuid>\n"
                f"<ac:task-status>{status}</ac:task-status>\n"
                f'<ac:task-body><span class="placeholder-inline-tasks">{text}</span></ac:task-body>\n</ac:task>\n'
            )
        parts.append(f'<ac:task-list ac:task-list-id="{uuid.uuid4().hex[:12]}">\n' + "".join(items) + "</ac:task-list>")
    return "".join(parts)


def plan_tree(
    spec: TreeSpec, tag: str, *, who: str | None, cloud: bool, jira_key: str | None, today: date
) -> list[PlannedPage]:
    """The pages of one build, parents first (pure)."""
    return [
        PlannedPage(
            path,
            f"{TITLE_PREFIX}{tag} {'.'.join(map(str, path))}",
            page_body(tag, path, spec.tasks, who=who, cloud=cloud, jira_key=jira_key, today=today),
            spec.tasks,
            sum(1 for t in range(1, spec.tasks + 1) if not is_complete(t)),
        )
        for path in tree_paths(spec.depth, spec.children)
    ]


def removal_order(pages: Sequence[Page], parent_id: str) -> list[Page]:
    """The pages to delete, deepest first (depth counted through the found pages' parents)."""
    by_id = {p.id: p for p in pages}

    def depth(page: Page) -> int:
        level, current, seen = 1, page.parent_id, {page.id}
        while current and current != parent_id and current in by_id and current not in seen:
            seen.add(current)
            level += 1
            current = by_id[current].parent_id
        return level

    return sorted(pages, key=lambda p: (-depth(p), int(p.id)))


def holds_marker(page: Page) -> bool:
    """A labelled page a build made: its body holds a build's marker line (a person's own page
    that merely carries the label tracksync-test is not one)."""
    return bool(re.search(rf"<p>{re.escape(MARKER)} [0-9a-f]{{6}}: test page ", page.body or ""))


def is_unlabelled_test_page(page: Page) -> bool:
    """A page a build created but was stopped before labelling: its title and its marker line."""
    tag = page.title[len(TITLE_PREFIX) : len(TITLE_PREFIX) + 6]
    return (
        page.title.startswith(TITLE_PREFIX)
        and bool(_TAG.fullmatch(tag))
        and f"<p>{MARKER} {tag}: test page " in (page.body or "")
    )

"""jira-confluence, the plan (pure): from the project's issues (the store's copy with this run's
changes merged in), the pages under the parent (one listing) and the pages' stored rows, what to
do with each epic's page:

- create: no row, or a pending one, and no page under the parent carries the page's marker (its
  label, or the anchor in its body written with the create itself);
- link: a page with the marker found (lost store, a create whose answer was lost): remembered, and
  updated when it differs from what the page should say;
- update: the generated title or body changed (content hash), or the epic left the project (the
  note "no longer in {KEY}" put at the top, once, listed in the report);
- conflict: the page's version is not the one tracksync wrote and its body differs from what it
  wrote: a person edited it; nothing is written (`sync.py conflicts`, `resolve`);
- unchanged: otherwise (no write).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..clients.confluence import Page
from .jira_confluence_body import (
    EPIC_MARKER,
    anchor,
    gone_note,
    marker_of,
    page_body,
    page_title,
)

JOB = "jira-confluence"
Row = dict[str, Any]


def body_hash(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def content_hash(title: str, body: str) -> str:
    return hashlib.sha256(f"{title}\n{body}".encode()).hexdigest()[:32]


@dataclass
class EpicPagesRead:
    project: str
    parent: Page
    issues: dict[str, Row]  # issue id -> {issue_key, epic_id, data}: the store's copy with this run's changes
    present: set[str] | None  # ids of the epics in the project now (None: not known, a --jql run)
    wanted: set[str] | None  # markers of the pages to sync (None: every one; --jql: those of the matches)
    rows: dict[str, Row]  # marker -> stored epic_pages row
    children: dict[str, tuple[Page, list[str]]]  # the parent's children: page id -> (page, labels)
    bodies: dict[str, str] = field(default_factory=dict)  # page id -> body read this run


@dataclass
class PageAction:
    kind: str  # create, link, update, conflict, unchanged
    origin: str
    label: str  # the epic's key, or "Without epic"
    title: str  # the title to write (or written)
    body: str
    content_hash: str
    epic_key: str | None = None
    page: Page | None = None  # the page found (link, update, conflict, unchanged)
    gone: bool = False  # the epic left the project: the page keeps the note
    detail: str = ""
    then_update: bool = False  # link: the page found also needs the generated body
    adopt: bool = False  # a version tracksync did not record, with the body it wrote (a title edit, a restore)
    # or the body and title this run would write (tracksync's own write whose answer was lost)


@dataclass
class EpicPagesPlan:
    actions: list[PageAction]

    def of(self, kind: str) -> list[PageAction]:
        return [a for a in self.actions if a.kind == kind]


def _found_by_marker(read: EpicPagesRead, origin: str) -> Page | None:
    for page, labels in read.children.values():
        if origin in labels:
            return page
    mark = anchor(origin)
    for page_id, body in sorted(read.bodies.items()):
        if mark in body and page_id in read.children:
            return read.children[page_id][0]
    return None


def plan_jira_confluence(read: EpicPagesRead) -> EpicPagesPlan:
    epics = {issue_id: row for issue_id, row in read.issues.items() if row["data"].get("epic")}
    groups: dict[str, list[Mapping[str, Any]]] = {}
    no_epic = marker_of(None, read.project)
    for issue in read.issues.values():
        data = issue["data"]
        if data.get("epic") or data.get("subtask"):
            continue
        epic_id = issue.get("epic_id")
        origin = marker_of(epic_id, read.project) if epic_id in epics else no_epic
        groups.setdefault(origin, []).append(data)
    targets: list[tuple[str, Mapping[str, Any] | None]] = [
        (marker_of(issue_id, read.project), row["data"])
        for issue_id, row in sorted(epics.items(), key=lambda kv: _order(kv[1]["issue_key"]))
    ]
    if groups.get(no_epic) or no_epic in read.rows:
        targets.append((no_epic, None))
    actions: list[PageAction] = []
    for origin, epic in targets:
        if read.wanted is not None and origin not in read.wanted:
            continue
        row = read.rows.get(origin)
        epic_id = origin[len(EPIC_MARKER) :] if origin.startswith(EPIC_MARKER) else None
        gone = epic_id is not None and read.present is not None and epic_id not in read.present
        if gone and row is None:
            continue  # an epic gone before its page was ever made
        note = gone_note(read.project) if gone else ""
        title = page_title(epic)
        body = page_body(origin, epic, groups.get(origin, []), note)
        wanted_hash = content_hash(title, body)
        label = str(epic["key"]) if epic else page_title(None)
        action = PageAction("unchanged", origin, label, title, body, wanted_hash, epic["key"] if epic else None)
        action.gone = gone
        linked = row is not None and row["state"] in ("linked", "gone") and row.get("page_id") in read.children
        if linked:
            assert row is not None
            page = read.children[row["page_id"]][0]
            action.page = page
            if row.get("title") and page_title(epic) == _base_title(row, epic):
                action.title = str(row["title"])  # keep a suffix that made it unique
            if page.version != row.get("version"):
                seen = read.bodies.get(page.id)
                own = seen == body and page.title == action.title  # our write whose answer was lost
                if not own and (seen is None or body_hash(seen) != row.get("body_hash")):
                    action.kind = "conflict"
                    action.detail = f"edited in Confluence since tracksync wrote version {row.get('version')}"
                    actions.append(action)
                    continue
                action.adopt = True
                if own:
                    actions.append(action)  # unchanged: the page already says what it should
                    continue
            if gone and row["state"] == "gone":
                actions.append(action)  # the note is there already
                continue
            if wanted_hash != row.get("content_hash") or page.title != action.title:
                action.kind = "update"
                action.detail = "epic no longer in the project: note added" if gone else _what_changed(row, page, title)
            actions.append(action)
            continue
        found = _found_by_marker(read, origin)
        if found is not None:
            action.kind, action.page = "link", found
            seen = read.bodies.get(found.id)
            action.then_update = seen != body or found.title != title
            action.detail = "found by its marker" + ("; updated" if action.then_update else "")
        elif gone:
            continue  # the page is gone too: nothing to keep
        else:
            action.kind = "create"
        actions.append(action)
    return EpicPagesPlan(actions)


def _base_title(row: Row, epic: Mapping[str, Any] | None) -> str:
    """The title the stored one was made from (without the suffix that made it unique)."""
    stored = str(row.get("title") or "")
    base = page_title(epic)
    return base if stored == base or stored.startswith(base + " (") else stored


def _what_changed(row: Row, page: Page, title: str) -> str:
    if not page.title.startswith(title):
        return f"retitled {page.title!r} -> {title!r}"
    return "table or epic fields changed"


def _order(key: str) -> tuple[str, int]:
    project, _, number = key.rpartition("-")
    return (project, int(number)) if number.isdigit() else (key, 0)

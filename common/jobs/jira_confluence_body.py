"""jira-confluence, the pages' content: Jira issues as plain rows (`issue_row`, from a search
answer of either deployment) and the generated storage-format body and title of an epic's page.

Every text that comes from Jira goes through `text()` (XML escaping, control characters
dropped): a summary such as ``</p><ac:structured-macro ...>`` stays text on the page."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from xml.sax.saxutils import escape

EPIC_MARKER = "tracksync-epic-"  # + the epic's issue id: label, content property and anchor on its page
NO_EPIC_MARKER = "tracksync-noepic-"  # + the project key, lower case: the page "Without epic"
NO_EPIC_TITLE = "Without epic"
EXCERPT = 300  # characters of the epic's description shown
TITLE_MAX = 255
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_KEY_PART = re.compile(r"[A-Z][A-Z0-9_]*-[0-9]{1,12}")
_ID = re.compile(r"[0-9]{1,20}")

Row = dict[str, Any]


def text(value: Any) -> str:
    """A value from Jira as storage-format text: escaped, no control characters."""
    return escape(_CONTROL.sub("", str(value)), {'"': "&quot;", "'": "&#39;"})


def key_order(key: str) -> tuple[str, int]:
    project, _, number = key.rpartition("-")
    return (project, int(number)) if number.isdigit() else (key, 0)


def marker_of(epic_id: str | None, project: str) -> str:
    return f"{EPIC_MARKER}{epic_id}" if epic_id else f"{NO_EPIC_MARKER}{project.lower()}"


def _plain(description: Any) -> str:
    """Text of a description: ADF (Cloud) flattened, wiki markup (Data Center) as it is. A walk
    without recursion and with type checks: a description nested thousands deep, or with a
    `content` that is not a list, is text too (never a crash); it stops once the excerpt is full."""
    if isinstance(description, str):
        return description
    parts: list[str] = []
    size = 0
    stack: list[Any] = [description]
    while stack and size <= EXCERPT * 4:
        node = stack.pop()
        if isinstance(node, str):  # a block's closing space, pushed below
            parts.append(node)
            continue
        if isinstance(node, list):
            stack.extend(reversed(node))
            continue
        if not isinstance(node, dict):
            continue
        if node.get("type") == "text" and isinstance(node.get("text"), str):
            parts.append(node["text"])
            size += len(node["text"])
        if node.get("type") in ("paragraph", "heading", "listItem"):
            stack.append(" ")
        content = node.get("content")
        if isinstance(content, list):
            stack.extend(reversed(content))
    return "".join(parts)


def issue_row(record: Mapping[str, Any], epic_field: str | None) -> Row | None:
    """(issue_id, issue_key, epic, is_epic, data) of a search answer's issue, or None when it is
    not one (no id or key). `epic` is the epic's id (Cloud parent) or key (Data Center Epic Link)."""
    fields = record.get("fields") if isinstance(record.get("fields"), dict) else {}
    assert isinstance(fields, dict)
    issue_id, key = record.get("id"), record.get("key")
    if not isinstance(issue_id, str | int) or not _ID.fullmatch(str(issue_id)):
        return None
    if not isinstance(key, str) or not _KEY_PART.fullmatch(key):
        return None
    kind = fields.get("issuetype") if isinstance(fields.get("issuetype"), dict) else {}
    assert isinstance(kind, dict)
    is_epic = kind.get("name") == "Epic" or kind.get("hierarchyLevel") == 1
    epic: str | None = None
    parent = fields.get("parent")
    if isinstance(parent, dict) and not is_epic:
        ptype = (parent.get("fields") or {}).get("issuetype") if isinstance(parent.get("fields"), dict) else None
        if isinstance(ptype, dict) and (ptype.get("name") == "Epic" or ptype.get("hierarchyLevel") == 1):
            epic = str(parent.get("id")) if _ID.fullmatch(str(parent.get("id"))) else None
    if epic_field and not is_epic and isinstance(fields.get(epic_field), str) and fields[epic_field]:
        epic = "key:" + str(fields[epic_field])
    status = fields.get("status") if isinstance(fields.get("status"), dict) else {}
    assignee = fields.get("assignee") if isinstance(fields.get("assignee"), dict) else None
    due = fields.get("duedate")
    data = {
        "key": key,
        "summary": str(fields.get("summary") or ""),
        "status": str((status or {}).get("name") or ""),
        "assignee": str(assignee.get("displayName") or assignee.get("name") or "") if assignee else "",
        "due": due if isinstance(due, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", due) else "",
        "epic": is_epic,
        "subtask": bool(kind.get("subtask")),
    }
    if is_epic:
        data["excerpt"] = " ".join(_plain(fields.get("description")).split())[:EXCERPT]
    return {"issue_id": str(issue_id), "issue_key": key, "epic": epic, "data": data}


def page_title(epic: Mapping[str, Any] | None) -> str:
    if epic is None:
        return NO_EPIC_TITLE
    title = " ".join(_CONTROL.sub("", f"{epic['key']} {epic['summary']}").split())
    return title[:TITLE_MAX]


def unique_title(title: str, attempt: int) -> str:
    """The title's n-th alternative when it is taken in the space: "Title (2)", "Title (3)", ..."""
    if attempt == 0:
        return title
    suffix = f" ({attempt + 1})"
    return title[: TITLE_MAX - len(suffix)] + suffix


def jira_macro(key: str) -> str:
    return (
        '<ac:structured-macro ac:name="jira" ac:schema-version="1">'
        f'<ac:parameter ac:name="key">{text(key)}</ac:parameter></ac:structured-macro>'
    )


def anchor(marker: str) -> str:
    """The page's marker in its body (written with the create itself, so a create whose answer was
    lost is still found by it)."""
    return (
        '<ac:structured-macro ac:name="anchor" ac:schema-version="1">'
        f'<ac:parameter ac:name="">{text(marker)}</ac:parameter></ac:structured-macro>'
    )


def gone_note(project: str) -> str:
    return f'<p class="tracksync-note"><strong>Note: this epic is no longer in {text(project)}.</strong></p>'


def page_body(
    marker: str, epic: Mapping[str, Any] | None, children: Iterable[Mapping[str, Any]], note: str = ""
) -> str:
    """The generated storage-format body of an epic's page (epic None: the page "Without epic")."""
    parts = [anchor(marker), note]
    if epic is not None:
        parts.append(
            f"<p><strong>Status:</strong> {text(epic['status'] or '-')} | "
            f"<strong>Assignee:</strong> {text(epic['assignee'] or 'Unassigned')} | "
            f"<strong>Due date:</strong> {text(epic['due'] or '-')}</p>"
        )
        parts.append(f"<p>{jira_macro(epic['key'])}</p>")
        if epic.get("excerpt"):
            parts.append(f"<p>{text(epic['excerpt'])}</p>")
    else:
        parts.append("<p>Issues without an epic.</p>")
    rows = [
        "<tr><th>Issue</th><th>Summary</th><th>Status</th><th>Assignee</th><th>Due date</th></tr>",
        *(
            f"<tr><td>{jira_macro(c['key'])}</td><td>{text(c['summary'])}</td><td>{text(c['status'])}</td>"
            f"<td>{text(c['assignee'])}</td><td>{text(c['due'])}</td></tr>"
            for c in sorted(children, key=lambda c: key_order(str(c["key"])))
        ),
    ]
    parts.append(f"<table><tbody>{''.join(rows)}</tbody></table>")
    return "".join(parts)

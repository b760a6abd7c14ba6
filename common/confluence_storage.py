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

The code is in three modules: confluence_storage_tree (tokenizer, text, task parts),
confluence_storage_read (read_page) and confluence_storage_edit (apply_edits).
"""

from .confluence_storage_edit import (
    EditResult,
    TaskEdit,
    apply_edits,
    jira_macro,
    link_task,
    replace_task,
    set_task_status,
)
from .confluence_storage_read import JiraMacro, StoragePage, Task, find_jira_macros, find_tasks, read_page
from .confluence_storage_tree import (
    ISSUE_KEY,
    MAX_BODY_CHARS,
    MAX_DEPTH,
    MAX_NODES,
    SUMMARY_CHARS,
    Mention,
    StorageFormatError,
)

__all__ = [
    "ISSUE_KEY",
    "MAX_BODY_CHARS",
    "MAX_DEPTH",
    "MAX_NODES",
    "SUMMARY_CHARS",
    "EditResult",
    "JiraMacro",
    "Mention",
    "StorageFormatError",
    "StoragePage",
    "Task",
    "TaskEdit",
    "apply_edits",
    "find_jira_macros",
    "find_tasks",
    "jira_macro",
    "link_task",
    "read_page",
    "replace_task",
    "set_task_status",
]

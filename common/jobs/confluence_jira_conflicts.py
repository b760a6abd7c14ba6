"""Settling a confluence-jira conflict (a task's checkbox flipped and its issue's status changed
since the last run, to states that disagree): `python sync.py resolve ID --keep confluence|jira|skip`.

Resolving only edits the task's row in the store; the next run writes the winning side:

- confluence: the task's state wins: the row says the issue is as it is now and the task as it was,
  so the next run transitions the issue;
- jira: the issue's state wins: the row says the task is as it is now and the issue's status is
  unknown, so the next run reads the issue and sets the checkbox;
- skip: both sides are taken as they are now; nothing is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UsageError
from ..runlock import JobLock
from ..store import Store
from .conflicts import open_conflict
from .confluence_jira_plan import JOB, page_of

if TYPE_CHECKING:
    from ..config import Settings

RESOLUTIONS = {"confluence": "source", "source": "source", "jira": "target", "target": "target", "skip": "skip"}


def resolve_task_conflict(settings: Settings, conflict_id: int, keep: str) -> str:
    if keep not in RESOLUTIONS:
        raise UsageError(f"--keep {keep}: a confluence-jira conflict is settled with confluence, jira or skip")
    resolution = RESOLUTIONS[keep]
    with JobLock(settings.database_path, JOB), Store(settings.database_path) as store:
        conflict = open_conflict(store, conflict_id)
        origin = conflict["source_key"]
        task_complete = (conflict["source_data"] or {}).get("task") == "complete"
        target = conflict["target_data"] or {}
        issue_done = target.get("task") == "complete"
        status = str(target.get("issue_status") or "")
        if resolution == "source":
            store.update_issue_link(
                origin, task_complete=int(not task_complete), issue_status=status, issue_done=int(issue_done)
            )
            done = "the task's state wins: the next run moves the issue"
        elif resolution == "target":
            store.update_issue_link(
                origin, task_complete=int(task_complete), issue_status="", issue_done=int(issue_done)
            )
            store.forget_confluence_page(page_of(origin))
            done = "the issue's state wins: the next run sets the checkbox"
        else:
            store.update_issue_link(
                origin, task_complete=int(task_complete), issue_status=status, issue_done=int(issue_done)
            )
            done = "both sides left as they are"
        store.record_audit(None, JOB, origin, "resolve", "issue", None, conflict["last_data"], resolution)
        store.resolve_conflict(conflict_id, resolution)
    return f"conflict {conflict_id} ({origin}) resolved: {done}"

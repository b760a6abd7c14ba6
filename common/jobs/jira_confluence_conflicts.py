"""Settling a jira-confluence conflict (a person edited a generated page since tracksync wrote it):
`python sync.py resolve ID --keep jira|confluence|skip`. Resolving only edits the page's row in
the store; the next run acts on it:

- jira: the generated page wins: the next run writes it over the person's edit;
- confluence: the person's edit stands: taken as synced, it is replaced only when the epic's
  page changes in Jira again;
- skip: nothing changes; the next run finds the edit again and reports the conflict again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UsageError
from ..runlock import JobLock
from ..store import Store
from .conflicts import open_conflict
from .jira_confluence_plan import JOB

if TYPE_CHECKING:
    from ..config import Settings

RESOLUTIONS = {"jira": "source", "source": "source", "confluence": "target", "target": "target", "skip": "skip"}


def resolve_page_conflict(settings: Settings, conflict_id: int, keep: str) -> str:
    if keep not in RESOLUTIONS:
        raise UsageError(f"--keep {keep}: a jira-confluence conflict is settled with jira, confluence or skip")
    resolution = RESOLUTIONS[keep]
    with JobLock(settings.database_path, JOB), Store(settings.database_path) as store:
        conflict = open_conflict(store, conflict_id)
        origin = conflict["source_key"]
        row = store.epic_page(origin)
        if row is None:
            raise UsageError(f"conflict {conflict_id}: tracksync no longer knows the page of {origin}")
        version = (conflict["target_data"] or {}).get("version")
        if resolution == "source":
            store.save_epic_page(origin, {**row, "version": version, "content_hash": None})
            done = "the generated page wins: the next run writes it"
        elif resolution == "target":
            store.save_epic_page(origin, {**row, "version": version, "content_hash": conflict["source_hash"]})
            done = "the person's edit stands until the epic changes in Jira"
        else:
            done = "nothing changed; the next run reports it again"
        store.record_audit(None, JOB, origin, "resolve", "page", conflict["target_id"], None, resolution)
        store.resolve_conflict(conflict_id, resolution)
    return f"conflict {conflict_id} ({origin}) resolved: {done}"

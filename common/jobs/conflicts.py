"""Conflicts: an item changed at its source and, by a person, in Kimai since the last sync.
`python sync.py conflicts` lists the open ones; `python sync.py resolve ID --keep ...` settles one:

- source (`--keep source`, or the source by name: `zammad`, `graph`): write the source's values
  to Kimai (one PATCH) and link them;
- target (`--keep kimai`): keep the Kimai timesheet as it is and accept it as synced;
- skip: leave both sides as they are; the item is compared again when its source changes.
"""

from __future__ import annotations

from ..clients.kimai import KimaiClient
from ..config import Settings
from ..errors import NotFound, UsageError
from ..http import RequestCounter
from ..runlock import JobLock
from ..store import Store
from ..store_queries import Row
from .base import Action, ActionKind, Applier, Result, Target

RESOLUTIONS = {
    "zammad": "source",
    "graph": "source",
    "source": "source",
    "kimai": "target",
    "target": "target",
    "skip": "skip",
}
SOURCE_WORDS = {"zammad": "zammad-kimai", "graph": "graph-kimai"}  # --keep naming the source: only its job's


def list_conflicts(settings: Settings, job: str | None = None) -> list[Row]:
    with Store(settings.database_path, readonly=True) as store:
        return store.conflicts(job=job)


def write_source_values(settings: Settings, store: Store, conflict: Row) -> None:
    """--keep zammad: one update of the timesheet, through the Applier like any write of a run
    (audited, its link synced with the source's hash); the flags a person set are kept."""
    kimai = KimaiClient(settings, RequestCounter())
    target_id = conflict["target_id"]
    try:
        current = kimai.get_timesheet(target_id)
    except NotFound:
        raise UsageError(f"timesheet {target_id} no longer exists in Kimai; the next sync creates it again") from None
    action = Action(
        ActionKind.UPDATE,
        conflict["source_key"],
        conflict["target_type"],
        conflict["source_key"],
        "",
        conflict["source_data"],
        target_id=target_id,
        before=conflict["target_data"],
        keep={"billable": current.get("billable", True), "exported": current.get("exported", False)},
        source_hash=conflict["source_hash"],
        detail="conflict resolved: the source's values",
    )
    result = Result(job=conflict["job"])

    def write(action: Action) -> Target:
        assert action.target_id is not None and action.keep is not None
        return kimai.update_timesheet(action.target_id, {**action.fields, **action.keep})

    Applier(conflict["job"], store, None, 1, result).execute([action], write, lambda _: {})
    if result.failures:
        raise UsageError(f"timesheet {target_id} was not updated: {result.failures[0][1]}")


def conflict_job(settings: Settings, conflict_id: int) -> str | None:
    """The job a conflict belongs to (None: no such conflict): `sync.py resolve` hands it on to
    the resolver of that job."""
    with Store(settings.database_path, readonly=True) as store:
        found = store.conflicts(conflict_id=conflict_id, open_only=False)
    return str(found[0]["job"]) if found else None


def open_conflict(store: Store, conflict_id: int) -> Row:
    """The conflict `conflict_id`, still open; a usage error (2) naming it otherwise."""
    found = store.conflicts(conflict_id=conflict_id, open_only=False)
    if not found:
        raise UsageError(f"no conflict with id {conflict_id} (python sync.py conflicts lists them)")
    conflict = found[0]
    if conflict["resolved_at"]:
        raise UsageError(
            f"conflict {conflict_id} was already resolved ({conflict['resolution']}) at {conflict['resolved_at']}"
        )
    return conflict


def resolve(settings: Settings, conflict_id: int, keep: str) -> str:
    """Settle one open conflict; returns a one-line description of what was done."""
    with Store(settings.database_path, readonly=True) as store:
        conflict = open_conflict(store, conflict_id)
    job, key, target_id = conflict["job"], conflict["source_key"], conflict["target_id"]
    if keep in ("confluence", "jira"):
        raise UsageError(
            f"conflict {conflict_id} is one of {job}: --keep {keep} settles Confluence/Jira conflicts only; "
            "use --keep source, kimai or skip"
        )
    if SOURCE_WORDS.get(keep, job) != job:
        raise UsageError(
            f"conflict {conflict_id} is one of {job}: --keep {keep} names another source; "
            "use --keep source, kimai or skip"
        )
    resolution = RESOLUTIONS[keep]
    with JobLock(settings.database_path, job), Store(settings.database_path) as store:
        if resolution == "source":
            write_source_values(settings, store, conflict)
            done = f"timesheet {target_id} now holds the source's values"
        else:
            store.mark_synced(
                job,
                key,
                conflict["target_type"],
                target_id,
                conflict["source_hash"],
                conflict["target_data"],
                None,
                audit=("resolve", conflict["target_data"], conflict["target_data"]),
                state="kept",
            )
            done = f"timesheet {target_id} kept as edited in Kimai"
        store.resolve_conflict(conflict_id, resolution)
    return f"conflict {conflict_id} ({key}) resolved: {done}"

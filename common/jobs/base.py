"""What every job shares: the plan's actions, the run's result, and applying a plan in parallel."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from .. import progress, shutdown
from ..errors import OK, PARTIAL, STOPS_RUN, Interrupted, SyncError, UnknownOutcome

if TYPE_CHECKING:
    from ..store import Store

log = logging.getLogger("tracksync.job")

Target = dict[str, Any]  # an object of the target service as it answers (with its "id")
Write = Callable[["Action"], Target]  # sends one action, returns the object written
Reread = Callable[[list["Action"]], Mapping[str, Target]]  # the target's objects of those actions, by marker


class ActionKind(StrEnum):
    """What a planned action does. A str: equal to its value ("create" == ActionKind.CREATE), and
    printed and written to JSON and the store as that value."""

    CREATE = "create"  # writes: send it to the target
    UPDATE = "update"
    SHOW = "show"
    HIDE = "hide"
    DELETE = "delete"
    LINK = "link"  # found by its marker as wanted: remember the link
    UNCHANGED = "unchanged"  # as wanted and linked: nothing to do
    KEEP = "keep"  # edited in the target by a person: the edit stands (link state kept)
    CONFLICT = "conflict"  # changed on both sides: recorded for `sync.py conflicts`, left as it is
    REPORT = "report"  # deleted at the source, the target kept: reported once (link state orphaned)
    GONE = "gone"  # deleted at the source and already gone from the target: nothing to do (link state deleted)


WRITES = frozenset({ActionKind.CREATE, ActionKind.UPDATE, ActionKind.SHOW, ActionKind.HIDE, ActionKind.DELETE})
# how each action kind is counted in the summary
COUNTED_AS = {
    ActionKind.CREATE: "created",
    ActionKind.UPDATE: "updated",
    ActionKind.SHOW: "updated",
    ActionKind.HIDE: "hidden",
    ActionKind.DELETE: "deleted",
    ActionKind.LINK: "unchanged",
    ActionKind.UNCHANGED: "unchanged",
    ActionKind.KEEP: "unchanged",
    ActionKind.CONFLICT: "conflicts",
    ActionKind.REPORT: "deleted_in_source",
    ActionKind.GONE: "unchanged",
}
# the link state these kinds record
SETTLED_STATE = {ActionKind.KEEP: "kept", ActionKind.REPORT: "orphaned", ActionKind.GONE: "deleted"}
SUMMARY_KEYS = ("created", "updated", "hidden", "deleted", "unchanged", "conflicts", "failed")
# Kimai objects that hold the items: counted under their own keys (customers_created, ...), listed
# first in a plan. An activity is an item of gitea-kimai and a container of the timesheet jobs.
CONTAINERS = {"customer": "customers", "project": "projects", "activity": "activities"}
ITEM_TYPE = {"gitea-kimai": "activity"}  # the target type of a job's items; default timesheet
CONTAINER_KEYS = tuple(f"{plural}_created" for plural in CONTAINERS.values())
CHANGES = ("created", "updated", "hidden", "deleted")  # counts that mean something was (or would be) written


def content_hash(fields: Any) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


@dataclass
class Action:
    """One planned change for one source item. `fields` are the mapped (desired) values."""

    kind: ActionKind  # a plain string is taken as its ActionKind
    key: str  # origin marker of the source item
    target_type: str
    label: str  # how people name the item, e.g. "#12 acme/web"
    scope: str  # the unit the target state was read for (a repository, a window)
    fields: dict[str, Any]
    target_id: int | None = None
    parent: int | None = None  # the target's container: project id of an activity, customer id of a project
    before: dict[str, Any] | None = None  # the target's current mapped values (updates)
    keep: dict[str, Any] | None = None  # target values a write must repeat (Kimai turns omitted booleans false)
    detail: str = ""  # what changes, e.g. "name 'a' -> 'b'"
    source_hash: str | None = None  # hash of the source item, when change detection cannot use `fields`
    needs: dict[str, Action] | None = (
        None  # field -> the planned container create whose id it takes ("parent": the parent)
    )
    last: dict[str, Any] | None = None  # the values the store last synced (a conflict's third side)

    def __post_init__(self) -> None:
        self.kind = ActionKind(self.kind)

    def take_ids(self) -> str | None:
        """Fill in the ids of the containers this action waits for, once they were created; the
        reason it cannot be sent when one was not: the first container up the chain that was not
        created, one reason for all its dependents."""
        for name, container in (self.needs or {}).items():
            if container.target_id is None:
                while any(c.target_id is None for c in (container.needs or {}).values()):
                    container = next(c for c in (container.needs or {}).values() if c.target_id is None)
                return f"{container.label} could not be created"
            if name == "parent":
                self.parent = container.target_id
            else:
                self.fields[name] = container.target_id
        return None

    @property
    def hash(self) -> str:
        return content_hash(self.fields)

    @property
    def writes(self) -> bool:
        return self.kind in WRITES

    def line(self) -> str:
        text = f"{self.kind} {self.label}"
        return f"{text}: {self.detail}" if self.detail else text


@dataclass
class Result:
    job: str
    dry_run: bool = False
    counts: Counter[str] = field(default_factory=Counter)
    actions: list[Action] = field(default_factory=list)  # every planned change (not unchanged)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (label, reason)
    failed_scopes: set[str] = field(default_factory=set)  # scopes (repository, ticket) with a failed item
    warnings: list[str] = field(default_factory=list)
    requests: dict[str, Any] = field(default_factory=dict)  # RequestCounter.totals()
    seconds: float = 0.0
    run_id: int | None = None
    exit_code: int = OK
    error: str | None = None  # what stopped the whole run, if anything
    open_conflicts: int = 0  # conflicts of this job in the store, still unsettled

    def is_container(self, action: Action) -> bool:
        return action.target_type in CONTAINERS and action.target_type != ITEM_TYPE.get(self.job, "timesheet")

    def tally(self, action: Action) -> None:
        """Count an action: items under created/updated/...; containers (customers, projects, and
        the activities of timesheet jobs) under their own keys, e.g. projects_created, so the
        item counts stay one per item."""
        key = COUNTED_AS[action.kind]
        self.counts[f"{CONTAINERS[action.target_type]}_{key}" if self.is_container(action) else key] += 1

    def fail(self, label: str, reason: str, scope: str | None = None) -> None:
        self.failures.append((label, str(reason)))
        if scope is not None:
            self.failed_scopes.add(scope)
        self.counts["failed"] += 1
        self.exit_code = PARTIAL

    @property
    def outcome(self) -> str:
        """ok, conflicts (found this run), partial (some items failed: exit 3), failed (an
        error stopped the run) or interrupted (a stop signal: exit 75)."""
        if self.error is not None or self.exit_code not in (OK, PARTIAL):
            from .. import shutdown

            return "interrupted" if self.exit_code == 75 and shutdown.requested() else "failed"
        if self.exit_code == PARTIAL or self.failures:
            return "partial"
        return "conflicts" if self.counts.get("conflicts") or self.open_conflicts else "ok"

    @property
    def changed(self) -> bool:
        """True when anything was (under --dry-run: would be) written, failed or conflicts."""
        return bool(
            self.outcome != "ok"
            or any(v for k, v in self.counts.items() if k in CHANGES or k.endswith(tuple(f"_{c}" for c in CHANGES)))
        )

    def summary(self) -> dict[str, Any]:
        """The job's object in `sync.py --json` (docs/json.md)."""
        counts = {k: self.counts.get(k, 0) for k in SUMMARY_KEYS + CONTAINER_KEYS}
        counts.update({k: v for k, v in sorted(self.counts.items()) if k not in counts})
        return {
            "job": self.job,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "dry_run": self.dry_run,
            "counts": counts,
            "requests": self.requests.get("requests", 0),
            "writes": self.requests.get("writes", 0),
            "seconds": round(self.seconds, 3),
            "run_id": self.run_id,
            "open_conflicts": self.open_conflicts,
            "plan": [plan_entry(a) for a in self.actions] if self.dry_run else [],
            "failures": [{"item": label, "reason": reason} for label, reason in self.failures],
            "warnings": list(self.warnings),
            "error": self.error,
        }


def plan_entry(action: Action) -> dict[str, Any]:
    """One planned action as JSON: what, on which item and target, under which parent."""
    return {
        "action": action.kind,
        "item": action.key,
        "target_type": action.target_type,
        "label": action.label,
        "parent": action.parent,
        "target_id": action.target_id,
        "detail": action.detail,
    }


class Applier:
    """Applies actions with a thread pool. The store is written from the calling thread only:
    the intent (`pending`) before the creates are sent, each result as it comes back. What the
    actions that write nothing found is recorded here too (`settle`), so a job only plans.

    A create whose answer never came (UnknownOutcome) is looked up by its marker in a fresh read
    of the target, and sent again only when the marker is absent: never a blind resend."""

    RESOLVE_ROUNDS = 3

    def __init__(
        self, job: str, store: Store, run_id: int | None, workers: int, result: Result, dry_run: bool = False
    ) -> None:
        self.job, self.store, self.run_id, self.workers, self.result = job, store, run_id, workers, result
        self.dry_run = dry_run

    def execute(self, actions: Sequence[Action], write: Write, reread: Reread) -> None:
        """write(action) -> target object (dict with id); reread(actions) -> {marker: target}
        for the scopes of those actions. Under --dry-run the changes are only listed."""
        for action in actions:
            if not action.writes:
                self.settle(action)
        changes = [a for a in actions if a.writes]
        if self.dry_run:
            self.result.actions.extend(changes)
            for action in changes:
                self.result.tally(action)
            return
        for round_ in range(self.RESOLVE_ROUNDS + 1):
            unknown = self._send(changes, write)
            if not unknown:
                return
            found: Mapping[str, Target]
            try:
                found = reread(unknown)
            except SyncError as exc:
                log.warning("could not re-read to resolve %d unanswered writes: %s", len(unknown), exc)
                found, round_ = {}, self.RESOLVE_ROUNDS
            changes = []
            for action in unknown:
                target = found.get(action.key)
                if target is not None:
                    self.record(action, target["id"])
                elif round_ < self.RESOLVE_ROUNDS:
                    changes.append(action)  # the marker is absent: the create never happened
                else:
                    self.fail(action, "no answer from the server; the next run resolves it by its marker")
            if not changes:
                return

    def settle(self, action: Action) -> None:
        """Count and record an action that writes nothing to the target. link: the target found by
        its marker is remembered (with an audit event); keep: a person's edit in the target stands
        (link state kept); report: deleted at the source, the target kept (link orphaned, so it is
        reported once); conflict: an open conflict for `sync.py conflicts`, listed in the plan, its
        link left as last synced. Under --dry-run nothing reaches the store."""
        kind = action.kind
        if kind == ActionKind.CONFLICT:
            self.result.actions.append(action)
            self.result.warnings.append(f"{action.label}: conflict, {action.detail}; see python sync.py conflicts")
        elif kind in (ActionKind.KEEP, ActionKind.REPORT):
            self.result.warnings.append(f"{action.label}: {action.detail}")
        if self.dry_run or kind == ActionKind.UNCHANGED:
            self.result.tally(action)
        elif kind == ActionKind.LINK:
            self.record(action, action.target_id)
        elif kind == ActionKind.CONFLICT:
            self.store.add_conflict(
                self.job,
                action.key,
                action.target_type,
                action.target_id,
                action.fields,
                action.before,
                action.last,
                action.source_hash,
                self.run_id,
            )
            self.result.tally(action)
        else:
            self.store.mark_synced(
                self.job,
                action.key,
                action.target_type,
                action.target_id,
                action.source_hash,
                action.fields,
                self.run_id,
                state=SETTLED_STATE[kind],
            )
            self.result.tally(action)

    def _send(self, actions: list[Action], write: Write) -> list[Action]:
        """Send the writes, at most `workers` at a time; returns the actions whose outcome is
        unknown. A stop (SIGTERM, or a failure that stops the run: 77, 69, 75) sends nothing
        new, lets the writes in flight finish, records their answers, then is raised."""
        unknown: list[Action] = []
        stop: SyncError | None = None
        for target_type in {a.target_type for a in actions if a.kind == ActionKind.CREATE}:
            keys = [a.key for a in actions if a.kind == ActionKind.CREATE and a.target_type == target_type]
            self.store.mark_pending(self.job, keys, target_type, self.run_id)
        queue = iter(actions)
        running: dict[Future[Target], Action] = {}
        with (
            progress.task(f"writing {self.job}", total=len(actions)) as bar,
            ThreadPoolExecutor(max_workers=self.workers) as pool,
        ):
            while True:
                while stop is None and len(running) < self.workers:
                    try:
                        shutdown.check()  # no new write once a stop was asked for
                    except Interrupted as exc:
                        stop = exc
                        break
                    action = next(queue, None)
                    if action is None:
                        break
                    running[pool.submit(write, action)] = action
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    action = running.pop(future)
                    bar.advance()
                    try:
                        target = future.result()
                    except UnknownOutcome as exc:
                        log.info("%s: %s; looking for its marker", action.label, exc)
                        unknown.append(action)
                    except STOPS_RUN as exc:
                        stop = stop or exc  # the whole run stops once the writes in flight are answered
                    except SyncError as exc:
                        self.fail(action, str(exc))
                    else:
                        self.record(action, target["id"])
        if stop is not None:
            raise stop
        return unknown

    def record(self, action: Action, target_id: int | None) -> None:
        action.target_id = target_id
        audit = (action.kind, action.before, action.fields) if action.writes or action.kind == ActionKind.LINK else None
        self.store.mark_synced(
            self.job,
            action.key,
            action.target_type,
            target_id,
            action.source_hash or action.hash,
            action.fields,
            self.run_id,
            audit,
            state="deleted" if action.kind == ActionKind.DELETE else "synced",
        )
        self.result.tally(action)

    def fail(self, action: Action, reason: str) -> None:
        if not self.dry_run:
            self.store.mark_failed(self.job, action.key, action.target_type, self.run_id, reason)
        self.result.fail(action.label, reason, action.scope)


@dataclass
class PlanOutcome:
    """What a timesheet job's plan records before anything is sent: items that failed while read,
    counts, warnings, and the creates that cannot be made (each fails through the applier, so its
    link records why)."""

    failed: list[tuple[str, str, str | None]] = field(default_factory=list)  # result.fail(label, reason, scope)
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    unmapped: list[tuple[Action, str]] = field(default_factory=list)  # (create that cannot be made, why)

    def record(self, result: Result, applier: Applier, uncounted: Collection[str] = ()) -> None:
        """Into the run's result: the failures, the counts (all but `uncounted`), the warnings; the
        unmapped creates fail through `applier`."""
        for label, reason, scope in self.failed:
            result.fail(label, reason, scope=scope)
        for key, count in self.counts.items():
            if key not in uncounted:
                result.counts[key] += count
        result.warnings += self.warnings
        for action, reason in self.unmapped:
            applier.fail(action, reason)

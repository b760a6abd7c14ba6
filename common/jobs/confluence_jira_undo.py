"""`sync.py undo RUN_ID [--delete-issues] [--dry-run]`: take back what a confluence-jira run did.

- every page the run changed gets its body from before the run back, as a new version, but only
  when the page's current version is still the one the run wrote: a page edited since is
  reported and left alone (exit 3);
- the issues the run created are moved to JIRA_UNDO_STATUS and lose their origin label (so a
  later run does not link them again), or are deleted with --delete-issues;
- their links in the store are removed.

Undo is recorded as a run of the job (params {"undo": RUN_ID}), takes the job's lock, is safe to
repeat (what was undone is marked so), and --dry-run only lists what it would do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..clients.confluence import PageConflict, confluence_client
from ..clients.jira import atlassian_deployment, jira_client
from ..errors import OK, PARTIAL, STOPS_RUN, NotFound, SyncError, UsageError
from ..http import RequestCounter
from ..runlock import JobLock
from ..store import Store
from .confluence_jira_plan import JOB, TRACKSYNC_LABEL

if TYPE_CHECKING:
    from ..config import Settings


@dataclass
class UndoResult:
    run_id: int
    dry_run: bool
    undo_run: int | None = None
    lines: list[str] = field(default_factory=list)  # what was (or would be) done, one line each
    left_alone: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return PARTIAL if self.left_alone or self.failures else OK

    def summary(self) -> dict[str, Any]:
        return {
            "undo_of": self.run_id,
            "undo_run": self.undo_run,
            "dry_run": self.dry_run,
            "exit_code": self.exit_code,
            "counts": self.counts,
            "done": self.lines,
            "left_alone": self.left_alone,
            "failures": self.failures,
        }

    def summary_line(self) -> str:
        """The log file's line for this undo, like a run's (common/run_output.py summary_line)."""
        counts = " ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
        outcome = "ok" if self.exit_code == OK else "partial"
        dry = "yes" if self.dry_run else "no"
        return (
            f"job=undo undo_of={self.run_id} outcome={outcome} dry_run={dry} {counts} "
            f"run_id={self.undo_run or '-'} exit={self.exit_code}"
        ).replace("  ", " ")

    def count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1


def undo_run(settings: Settings, run_id: int, delete_issues: bool = False, dry_run: bool = False) -> UndoResult:
    settings.require("JIRA_URL", "JIRA_TOKEN", "CONFLUENCE_URL")
    with Store(settings.database_path, readonly=True) as store:
        runs = [r for r in store.runs(JOB) if r["id"] == run_id]
    if not runs:
        raise UsageError(
            f"run {run_id} is not a confluence-jira run in the store (python report.py history lists them)"
        )
    undone = _undo_of(runs[0])
    if undone is not None:
        raise UsageError(
            f"run {run_id} is itself the undo of run {undone}; it wrote nothing an undo could take back "
            "(run python sync.py confluence-jira to sync the pages again)"
        )
    result = UndoResult(run_id, dry_run)
    if dry_run:
        with Store(settings.database_path, readonly=True) as store:
            _undo(settings, store, result, delete_issues)
        return result
    with JobLock(settings.database_path, JOB), Store(settings.database_path) as store:
        result.undo_run = store.start_run(JOB, {"undo": run_id, "delete_issues": delete_issues})
        status, code, error = "failed", 1, None
        try:
            _undo(settings, store, result, delete_issues)
            status, code = ("ok", OK) if result.exit_code == OK else ("partial", PARTIAL)
        except SyncError as exc:
            code, error = exc.exit_code, str(exc)
            raise
        finally:
            counts = {"updated": result.counts.get("pages_restored", 0), "failed": len(result.failures)}
            counts["deleted"] = result.counts.get("issues_deleted", 0)
            store.finish_run(result.undo_run, status, code, counts, error)
    return result


def _undo_of(run: dict[str, Any]) -> int | None:
    """The run an undo run took back (its params {"undo": RUN_ID}), None for a sync run."""
    try:
        params = json.loads(run.get("params") or "{}")
    except (TypeError, ValueError):
        return None
    undone = params.get("undo") if isinstance(params, dict) else None
    return undone if isinstance(undone, int) and not isinstance(undone, bool) else None


def _undo(settings: Settings, store: Store, result: UndoResult, delete_issues: bool) -> None:
    counter = RequestCounter()
    deployment = atlassian_deployment(settings, counter)
    jira = jira_client(settings, counter, deployment, result.dry_run)
    confluence = confluence_client(settings, counter, deployment, result.dry_run)
    jira.myself()
    confluence.current_user()
    for write in store.page_writes(result.run_id):
        page_id, label = write["page_id"], f"page {write['page_id']} ({write['title']})"
        try:
            current = confluence.get_page(page_id)
        except NotFound:
            result.left_alone.append(f"{label}: no longer exists or is not readable")
            continue
        if current.version != write["version_written"] and current.body == write["body_before"]:
            # already back as it was (an earlier undo whose answer was lost, or restored by hand)
            if not result.dry_run:
                assert result.undo_run is not None
                store.mark_page_write_undone(write["id"], result.undo_run)
                store.forget_confluence_page(page_id)
            result.lines.append(f"{label} already has its body of version {write['version_before']} back")
            continue
        if current.version != write["version_written"]:
            result.left_alone.append(
                f"{label}: edited since the run (version {current.version}, the run wrote {write['version_written']}); "
                "left alone"
            )
            continue
        if result.dry_run:
            result.lines.append(f"would restore {label} to its body of version {write['version_before']}")
            result.count("pages_restored")
            continue
        try:
            confluence.update_page(current, write["body_before"], f"tracksync: undo of run {result.run_id}")
        except PageConflict:
            result.left_alone.append(f"{label}: saved by someone during the undo; left alone")
            continue
        except STOPS_RUN:
            raise
        except SyncError as exc:
            result.failures.append(f"{label}: {exc}")
            continue
        assert result.undo_run is not None
        store.mark_page_write_undone(write["id"], result.undo_run)
        store.forget_confluence_page(page_id)
        result.lines.append(f"restored {label} to its body of version {write['version_before']}")
        result.count("pages_restored")
    done: list[str] = []
    for row in store.issues_created_by(result.run_id):
        key, origin = row["issue_key"], row["origin"]
        if not key:
            continue
        try:
            if delete_issues:
                if not result.dry_run:
                    jira.delete_issue(key)
                result.lines.append(f"{'would delete' if result.dry_run else 'deleted'} {key}")
                result.count("issues_deleted")
            else:
                _move_back(jira, settings.jira_undo_status, key, origin, result)
        except STOPS_RUN:
            raise
        except SyncError as exc:
            result.failures.append(f"{key}: {exc}")
            continue
        done.append(origin)
    if done and not result.dry_run:
        store.drop_issue_links(done)
        store.record_audit(result.undo_run, JOB, f"undo:{result.run_id}", "undo", "issue", None, None, sorted(done))
    result.counts["links_removed"] = len(done)


def _move_back(jira: Any, status: str, key: str, origin: str, result: UndoResult) -> None:
    issue = jira.issue(key, ("status", "labels"))
    if issue is None:
        result.lines.append(f"{key} no longer exists")
        return
    fields = issue.get("fields") or {}
    current = str((fields.get("status") or {}).get("name") or "")
    labels = [x for x in fields.get("labels") or [] if isinstance(x, str)]
    if current.lower() != status.lower():
        transition = next(
            (t for t in jira.transitions(key) if str((t.get("to") or {}).get("name", "")).lower() == status.lower()),
            None,
        )
        if transition is None:
            raise SyncError(f"no transition leads to {status} (JIRA_UNDO_STATUS)")
        if not result.dry_run:
            jira.transition(key, str(transition["id"]))
    if origin in labels and not result.dry_run:
        jira.set_labels(key, [x for x in labels if x not in (origin, TRACKSYNC_LABEL)])
    result.lines.append(f"{'would move' if result.dry_run else 'moved'} {key} to {status}")
    result.count("issues_moved")

"""What `sync.py` prints about its runs: the plan of a dry run under "would ..." headings,
failures and warnings grouped by reason, the summary table with its outcome column, the JSON
document (docs/json.md) and the one-line summary each run leaves in the log file."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from .cli import paint
from .errors import CONFIG
from .jobs.base import CONTAINER_KEYS, CONTAINERS, SUMMARY_KEYS, Action, ActionKind, Result

JSON_VERSION = 1
EXAMPLES = 3  # examples named on a grouped line

HEADINGS = {
    ActionKind.CREATE: "would create",
    ActionKind.UPDATE: "would update",
    ActionKind.SHOW: "would show again",
    ActionKind.HIDE: "would hide",
    ActionKind.DELETE: "would delete",
    ActionKind.CONFLICT: "conflicts, left as they are",
    ActionKind.REPORT: "deleted at the source, kept",
}
CONTAINER_RANK = {"customer": 0, "project": 1, "activity": 2}
COLUMNS = (
    "job",
    "outcome",
    "created",
    "updated",
    "hidden",
    "deleted",
    "unchanged",
    "conflicts",
    "failed",
    "new containers",
    "requests",
    "seconds",
)
# a dry run's table says what would happen: nothing was created, updated, hidden or deleted
DRY_RUN_HEADERS = {
    "created": "would create",
    "updated": "would update",
    "hidden": "would hide",
    "deleted": "would delete",
    "new containers": "would create containers",
}


def table_headers(results: Sequence[Result]) -> list[str]:
    """COLUMNS, worded for dry runs when every run in the table is one."""
    dry = bool(results) and all(r.dry_run for r in results)
    return [DRY_RUN_HEADERS.get(c, c) if dry else c for c in COLUMNS]


def plan_order(result: Result) -> Callable[[Action], tuple[int, str, int, str]]:
    """Sort key of a plan: customers, projects, activities (containers), then items by scope and number."""

    def key(action: Action) -> tuple[int, str, int, str]:
        rank = CONTAINER_RANK[action.target_type] if result.is_container(action) else len(CONTAINER_RANK)
        number = re.search(r"#(\d+)", action.label)
        return rank, action.scope or "", int(number.group(1)) if number else 0, action.label

    return key


def plan_lines(result: Result) -> list[str]:
    """The plan of a dry run: one heading per kind of change with its count, each action once."""
    lines = [f"Plan for {result.job} (dry run, nothing written):"]
    by_kind: dict[ActionKind, list[Action]] = {}
    for action in sorted(result.actions, key=plan_order(result)):
        by_kind.setdefault(action.kind, []).append(action)
    for kind in sorted(by_kind, key=lambda k: list(HEADINGS).index(k) if k in HEADINGS else len(HEADINGS)):
        lines.append(f"  {HEADINGS.get(kind, f'would {kind}')} ({len(by_kind[kind])}):")
        lines += [f"    {action.line()}" for action in by_kind[kind]]
    if not result.actions:
        lines.append("  nothing to change")
    return lines


def grouped(pairs: Iterable[tuple[str, str]], noun: str) -> list[str]:
    """(subject, reason) pairs as lines: one per reason, with a count and a few examples when the
    reason repeats (`12 entries: REASON (e.g. a, b, c)`), `subject: reason` when it stands alone."""
    reasons: dict[str, list[str]] = {}  # reason -> its subjects, in the order first given
    for subject, reason in pairs:
        reasons.setdefault(reason, []).append(subject)
    lines: list[str] = []
    for reason, subjects in reasons.items():
        if len(subjects) == 1:
            lines.append(f"{subjects[0]}: {reason}" if subjects[0] else reason)
        else:
            examples = ", ".join(sorted(map(str, subjects), key=natural)[:EXAMPLES])
            lines.append(f"{len(subjects)} {noun}: {reason} (e.g. {examples})")
    return lines


def natural(text: str) -> list[tuple[int, int, str]]:
    """Sort key reading the numbers in a text as numbers: #9 before #10."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text)]


def split_warning(text: str) -> tuple[str | None, str]:
    """'subject: reason' -> (subject, reason); a warning without a subject stays whole."""
    subject, sep, reason = text.partition(": ")
    return (subject, reason) if sep else (None, text)


def message_lines(result: Result) -> list[tuple[str, str]]:
    """(stream word, text) for stderr: the error that stopped the run, else failures and warnings."""
    if result.error is not None:
        return [("error", result.error)]
    noun = "items" if result.job == "gitea-kimai" else "entries"
    lines = [("failed", line) for line in grouped(result.failures, noun)]
    warnings = [split_warning(w) for w in result.warnings]
    lines += [("warning", line) for line in grouped([(s, r) for s, r in warnings if s is not None], noun)]
    lines += [("warning", r) for s, r in warnings if s is None]
    return lines


def containers_cell(counts: Mapping[str, int]) -> str:
    parts: list[str] = []
    for kind, plural in CONTAINERS.items():
        n = counts.get(f"{plural}_created", 0)
        if n:
            parts.append(f"{n} {kind if n == 1 else plural}")
    return ", ".join(parts) or "-"


def table_row(result: Result) -> list[str | int]:
    counts = result.counts
    row: dict[str, str | int] = {
        "job": result.job,
        "outcome": paint(result.outcome),
        "new containers": containers_cell(counts),
        "requests": result.requests.get("requests", 0),
        "seconds": f"{result.seconds:.3f}",
    }
    row.update({k: counts.get(k, 0) for k in SUMMARY_KEYS})
    row["failed"] = paint(row["failed"], "failed") if row["failed"] else 0
    row["conflicts"] = paint(row["conflicts"], "conflicts") if row["conflicts"] else 0
    return [row[c] for c in COLUMNS]


def json_document(results: Sequence[Result], exit_code: int, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`{"version": 1, "exit_code": N, "error": first error or null, "jobs": [...]}` (docs/json.md)."""
    jobs = [r.summary() for r in results]
    error = next((j["error"] for j in jobs if j["error"]), None)
    return {"version": JSON_VERSION, "exit_code": exit_code, "error": error, "jobs": jobs, **(extra or {})}


def leaves_summary(result: Result, env_file: str | None) -> bool:
    """Whether a run appends its summary line to the log file: every run does, except one that
    never started because no configuration was found (78 before its lock and store, with no env
    file read), so trying a script in a folder that is not set up leaves no tracksync.log there."""
    return not (result.exit_code == CONFIG and result.run_id is None and env_file is None)


def summary_line(result: Result) -> str:
    """The log file's line for one run: job, outcome, counts, seconds, run id (and the error)."""
    counts = {k: result.counts.get(k, 0) for k in SUMMARY_KEYS + CONTAINER_KEYS}
    fields = [
        f"job={result.job}",
        f"outcome={result.outcome}",
        f"dry_run={'yes' if result.dry_run else 'no'}",
        *(f"{k}={v}" for k, v in counts.items()),
        f"requests={result.requests.get('requests', 0)}",
        f"seconds={result.seconds:.3f}",
        f"run_id={result.run_id if result.run_id else '-'}",
        f"exit={result.exit_code}",
    ]
    if result.error:
        fields.append(f"error={result.error!r}")
    return "run summary: " + " ".join(fields)


def human_time(value: str | None) -> str:
    """An ISO 8601 instant from the store as `2026-11-27 14:03:12 UTC` (its zone named)."""
    if not value:
        return ""
    try:
        instant = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)  # the store writes UTC
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

"""Read-only queries behind report.py: run status and history, links, failures and the audit
trail. The store is always opened read-only; it is never created or migrated here."""
import json
import sqlite3
from contextlib import contextmanager
from datetime import datetime, time, timezone
from pathlib import Path

from .errors import DataError, UsageError
from .runlock import lock_path, lock_state, read_holder
from .store import Store

RUN_COLUMNS = ("created", "updated", "hidden", "deleted", "unchanged", "failed", "conflicts", "requests", "writes")
LINK_STATES = ("pending", "synced", "failed")  # always shown; jobs may add others (kept, deleted, ...)


@contextmanager
def reading_store(settings):
    """The store opened read-only (an empty one when the file does not exist yet); an unreadable
    file becomes one line with exit 65 instead of a traceback."""
    path = settings.database_path
    try:
        with Store(path, readonly=True) as store:
            yield store
    except sqlite3.DatabaseError as exc:
        raise DataError(f"the store {path} cannot be read ({exc}); run `python diagnose.py --database`") from None


def lock_info(database_path, job):
    """Like runlock.lock_state, without creating a lock file when there is none."""
    path = lock_path(database_path, job)
    if not path.exists():
        holder = read_holder(f"{path}.pid")
        return {"held": False, "pid": holder and holder.get("pid"), "stale": holder is not None}
    return lock_state(database_path, job)


def parse_since(text, flag="--since"):
    """An instant in the zone it states (ISO 8601 with an offset or Z), or a bare date (midnight)
    or date-time in this machine's local zone; returned as the store's UTC ISO text."""
    value = text.strip()
    try:
        if len(value) == 10:
            moment = datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time())
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(f"{flag}: expected a date like 2026-05-01, a local time like 2026-05-01T08:00 or an "
                         f"instant like 2026-05-01T08:00+02:00 or 2026-05-01T06:00Z, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # the machine's local time zone
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _seconds(run):
    """The run's duration in seconds, to the millisecond when the store kept it (schema 4)."""
    duration_ms = run["duration_ms"] if "duration_ms" in run.keys() else None
    if duration_ms is not None:
        return round(duration_ms / 1000, 3)
    if not (run["started_at"] and run["finished_at"]):
        return None
    return round((datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(run["started_at"])).total_seconds(), 3)


def run_outcome(status, held):
    """A run still `running` whose job lock is free never finished: it was killed (interrupted)."""
    return ("running" if held else "interrupted") if status == "running" else status


def _run_row(run, settings=None):
    held = settings is not None and run["status"] == "running" and lock_info(settings.database_path, run["job"])["held"]
    row = {"run": run["id"], "job": run["job"], "started": run["started_at"], "finished": run["finished_at"],
           "seconds": _seconds(run), "outcome": run_outcome(run["status"], held), "exit_code": run["exit_code"]}
    row.update({name: run[name] for name in RUN_COLUMNS})
    row["message"] = run["message"]
    return row


def status(store, settings, jobs):
    """One row per job: its last run, the links by state, and whether a run is going on now."""
    known = list(jobs) + [r[0] for r in store.db.execute("SELECT DISTINCT job FROM runs ORDER BY job") if r[0] not in jobs]
    rows = []
    for job in known:
        last = store.db.execute("SELECT * FROM runs WHERE job = ? ORDER BY id DESC LIMIT 1", (job,)).fetchone()
        states = dict(store.db.execute("SELECT state, COUNT(*) FROM links WHERE job = ? GROUP BY state", (job,)).fetchall())
        row = {"job": job, "last_run": None, "started": None, "finished": None, "seconds": None,
               "outcome": "never run", "exit_code": None, **{name: None for name in RUN_COLUMNS}, "message": None}
        if last:
            row.update(_run_row(last, settings))
            row["last_run"] = row.pop("run")
        row.update(links={**{state: 0 for state in LINK_STATES}, **states})
        rows.append(row)
    return rows


def history(store, job=None, since=None, limit=20, settings=None):
    sql, args = "SELECT * FROM runs WHERE 1 = 1", []
    if job:
        sql += " AND job = ?"
        args.append(job)
    if since:
        sql += " AND started_at >= ?"
        args.append(since)
    sql += " ORDER BY id DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return [_run_row(run, settings) for run in store.db.execute(sql, args)]


def _like(text):
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def items(store, job=None, state=None, search=None, limit=None):
    sql, args = "SELECT * FROM links WHERE 1 = 1", []
    if job:
        sql += " AND job = ?"
        args.append(job)
    if state:
        sql += " AND state = ?"
        args.append(state)
    if search:
        sql += (" AND (source_key LIKE ? ESCAPE '\\' OR CAST(target_id AS TEXT) = ? "
                "OR data LIKE ? ESCAPE '\\' OR error LIKE ? ESCAPE '\\')")
        args += [_like(search), search, _like(search), _like(search)]
    sql += " ORDER BY job, source_key"
    if limit:
        sql += f" LIMIT {int(limit)}"
    rows = []
    for link in store.db.execute(sql, args):
        data = json.loads(link["data"]) if link["data"] else {}
        rows.append({"job": link["job"], "item": link["source_key"], "name": data.get("name"),
                     "target_type": link["target_type"], "target_id": link["target_id"], "state": link["state"],
                     "changed": link["updated_at"], "run": link["run_id"], "error": link["error"]})
    return rows


def errors(store, run_id=None):
    """Without a run: the items failed now (state failed). With one: the failures recorded in
    that run, and the error that stopped the run if any. Returns (run or None, rows)."""
    if run_id is None:
        rows = store.db.execute("SELECT job, source_key, target_type, error, run_id, updated_at FROM links "
                                "WHERE state = 'failed' ORDER BY job, source_key")
        return None, [{"job": r["job"], "item": r["source_key"], "target_type": r["target_type"],
                       "reason": r["error"], "run": r["run_id"], "at": r["updated_at"]} for r in rows]
    run = store.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    if run is None:
        raise UsageError(f"--run: there is no run {run_id} in the store")
    rows = store.db.execute("SELECT e.job, e.source_key, l.target_type, e.message, e.run_id, e.at FROM item_errors e "
                            "LEFT JOIN links l ON l.job = e.job AND l.source_key = e.source_key "
                            "WHERE e.run_id = ? ORDER BY e.id", (run_id,))
    return _run_row(run), [{"job": r["job"], "item": r["source_key"], "target_type": r["target_type"],
                            "reason": r["message"], "run": r["run_id"], "at": r["at"]} for r in rows]


def audit(store, job=None, item=None, limit=None):
    """Every write the toolkit recorded, oldest first, with the values before and after."""
    sql, args = "SELECT * FROM audit WHERE 1 = 1", []
    if job:
        sql += " AND job = ?"
        args.append(job)
    if item:  # the full origin marker, or the part after the service prefix ("acme/web#4")
        sql += " AND (source_key = ? OR source_key LIKE ? ESCAPE '\\')"
        args += [item, "%:" + item.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")]
    sql += " ORDER BY id"
    if limit:
        sql = f"SELECT * FROM ({sql.replace('ORDER BY id', 'ORDER BY id DESC')} LIMIT {int(limit)}) ORDER BY id"
    rows = []
    for event in store.db.execute(sql, args):
        before = json.loads(event["before"]) if event["before"] else None
        after = json.loads(event["after"]) if event["after"] else None
        rows.append({"id": event["id"], "at": event["at"], "run": event["run_id"], "job": event["job"],
                     "item": event["source_key"], "action": event["action"], "target_type": event["target_type"],
                     "target_id": event["target_id"], "before": before, "after": after})
    return rows


def describe_changes(before, after, width=48):
    """`field: old -> new` for each changed field, one per line, values shortened."""
    before, after = before or {}, after or {}
    lines = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if name not in before:
            lines.append(f"{name}: {_short(new, width)}")
        else:
            lines.append(f"{name}: {_short(old, width)} -> {_short(new, width)}")
    return "\n".join(lines) or "(no field changed)"


def _short(value, width):
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    text = text.replace("\\n", " ")
    return text if len(text) <= width else text[:width - 1] + "…"


def export_folder(settings, out):
    return Path(out or settings.export_dir)

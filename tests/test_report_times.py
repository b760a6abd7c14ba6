"""report.py and time: every wall-clock time in a table names its zone, JSON keeps ISO 8601 with
the offset, --since is read in the zone it states, run durations are kept to the millisecond,
and an interrupted run shows as such."""

import json
import sqlite3
import time

from ops_helpers import explain, invoke, offline_env

from common.runlock import JobLock
from common.store import MIGRATIONS, Store

JOB = "gitea-kimai"


def report(folder, env_file, *args, tz="UTC", code=0):
    proc = invoke("report.py", *args, cwd=folder, env_file=env_file, env={"TZ": tz})
    assert proc.returncode == code, explain(proc)
    return proc


def store_with_runs(db, *starts):
    """Finished runs that started at the given UTC instants (ISO text), one second long each."""
    with Store(db) as store:
        for start in starts:
            run_id = store.start_run(JOB, {})
            store.finish_run(run_id, "ok", 0, {"created": 1})
            store.conn.execute(
                "UPDATE runs SET started_at = ?, finished_at = ? WHERE id = ?",
                (start, start.replace(":00+", ":01+"), run_id),
            )
            store.mark_failed(JOB, f"gitea:acme/web#{run_id}", "activity", run_id, "refused")
            store.record_audit(run_id, JOB, f"gitea:acme/web#{run_id}", "create", "activity", 1, None, {"name": "x"})
            store.finish_import(store.start_import(run_id, "csv-kimai", "csv", {}), "ok", {"read": 1})
            for table, column in (
                ("links", "updated_at"),
                ("item_errors", "at"),
                ("audit", "at"),
                ("imports", "started_at"),
            ):
                store.conn.execute(f"UPDATE {table} SET {column} = ?", (start,))
            store.conn.commit()


def test_tables_name_the_zone_and_json_keeps_the_offset(tmp_path):
    env_file = offline_env(tmp_path)
    store_with_runs(tmp_path / "sync.db", "2026-11-27T14:03:00+00:00")
    for args in (["history"], ["status"], ["items"], ["errors"], ["errors", "--run", "1"], ["audit"], ["imports"]):
        assert "2026-11-27 14:03:00 UTC" in report(tmp_path, env_file, *args).stdout, args
        assert "2026-11-27 23:03:00 JST" in report(tmp_path, env_file, *args, tz="Asia/Tokyo").stdout, args
        assert "2026-11-27T14:03:00" not in report(tmp_path, env_file, *args).stdout, args
    runs = json.loads(report(tmp_path, env_file, "history", "--json", tz="Asia/Tokyo").stdout)
    assert runs[0]["started"] == "2026-11-27T14:03:00+00:00" and runs[0]["finished"] == "2026-11-27T14:03:01+00:00"


def test_since_is_read_in_the_zone_it_states(tmp_path):
    env_file = offline_env(tmp_path)
    store_with_runs(tmp_path / "sync.db", "2026-11-27T07:00:00+00:00", "2026-11-27T09:00:00+00:00")

    def since(value, tz="UTC"):
        return [
            r["run"]
            for r in json.loads(report(tmp_path, env_file, "history", "--since", value, "--json", tz=tz).stdout)
        ]

    assert since("2026-11-27T08:00Z") == [2]
    assert since("2026-11-27T08:00:00+00:00") == [2]
    assert since("2026-11-27T08:00+01:00") == [2, 1]  # 07:00 UTC: both
    assert since("2026-11-27T10:01+01:00") == []  # 09:01 UTC: after both
    assert since("2026-11-27T09:00+00:00") == [2]  # at or after
    # a bare date or time is the machine's local time: 07:30 in Berlin is 06:30 UTC
    assert since("2026-11-27T07:30", tz="Europe/Berlin") == [2, 1] == since("2026-11-27", tz="Europe/Berlin")
    assert since("2026-11-27T07:30", tz="UTC") == [2] and since("2026-11-27T08:30", tz="Asia/Tokyo") == [2, 1]
    assert "local zone" in " ".join(report(tmp_path, env_file, "history", "--help").stdout.split())


def test_run_durations_are_kept_to_the_millisecond(tmp_path):
    with Store(tmp_path / "sync.db") as store:
        run_id = store.start_run(JOB, {})
        time.sleep(0.0123)
        store.finish_run(run_id, "ok", 0, {})
        [row] = store.runs(JOB)
    assert isinstance(row["duration_ms"], int) and 12 <= row["duration_ms"] < 2000
    env_file = offline_env(tmp_path)
    [shown] = json.loads(report(tmp_path, env_file, "history", "--json").stdout)
    assert shown["seconds"] == row["duration_ms"] / 1000
    assert f"{row['duration_ms'] / 1000:g}" in report(tmp_path, env_file, "history").stdout


def test_a_store_of_schema_3_is_migrated_and_its_runs_keep_their_seconds(tmp_path):
    db = sqlite3.connect(tmp_path / "sync.db")
    for number, script in enumerate(MIGRATIONS[:3], start=1):
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    db.execute(
        "INSERT INTO runs (job, started_at, finished_at, status, exit_code) VALUES "
        "(?, '2026-11-27T10:00:00+00:00', '2026-11-27T10:00:07+00:00', 'ok', 0)",
        (JOB,),
    )
    db.commit()
    db.close()
    env_file = offline_env(tmp_path)
    [shown] = json.loads(report(tmp_path, env_file, "history", "--json").stdout)  # read-only: migrated in memory
    assert shown["seconds"] == 7
    with Store(tmp_path / "sync.db") as store:
        assert store.schema_version == len(MIGRATIONS) and store.runs(JOB)[0]["duration_ms"] is None


def test_interrupted_runs_show_in_history_and_status(tmp_path):
    env_file = offline_env(tmp_path)
    with Store(tmp_path / "sync.db") as store:
        stopped = store.start_run(JOB, {})
        store.finish_run(stopped, "interrupted", 75, {"created": 2}, "stopped by SIGTERM")
        killed = store.start_run(JOB, {})  # never finished: its process died
    history = {r["run"]: r for r in json.loads(report(tmp_path, env_file, "history", "--json").stdout)}
    assert history[stopped]["outcome"] == "interrupted" and history[stopped]["exit_code"] == 75
    assert history[killed]["outcome"] == "interrupted"
    with JobLock(str(tmp_path / "sync.db"), JOB):
        history = {r["run"]: r for r in json.loads(report(tmp_path, env_file, "history", "--json").stdout)}
        assert history[killed]["outcome"] == "running"
    with Store(tmp_path / "sync.db") as store:
        store.conn.execute("DELETE FROM runs WHERE id = ?", (killed,))
        store.conn.commit()
    [status] = [r for r in json.loads(report(tmp_path, env_file, "--json").stdout) if r["job"] == JOB]
    assert status["outcome"] == "interrupted" and status["exit_code"] == 75
    assert "interrupted" in report(tmp_path, env_file, "history").stdout


def test_backup_summaries_name_the_zone_of_the_last_run(monkeypatch):
    from common.ops.backup import summary_line

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        line = summary_line({"schema_version": 4, "counts": {"runs": 1}, "last_run": "2026-11-27T14:03:00+00:00"})
    finally:
        monkeypatch.undo()
        time.tzset()
    assert line.endswith("last run 2026-11-27 23:03:00 JST"), line

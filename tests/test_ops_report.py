"""report.py: status, history, items, errors, export and audit, read from a seeded store."""

import csv
import json
import sqlite3

import pytest
from ops_helpers import explain, invoke, offline_env, seed_store, store_state

from common.runlock import JobLock
from common.store import Store


@pytest.fixture
def work(tmp_path):
    env_file = offline_env(tmp_path)
    seed_store(tmp_path / "sync.db")
    return tmp_path, env_file


def report(work, *args, code=0):
    folder, env_file = work
    proc = invoke("report.py", *args, cwd=folder, env_file=env_file)
    assert proc.returncode == code, explain(proc)
    return proc


def as_json(work, *args):
    return json.loads(report(work, *args, "--json").stdout)


def test_bare_report_is_the_status_of_each_job(work):
    before = store_state(work[0] / "sync.db")
    table = report(work).stdout
    assert "gitea-kimai" in table and "partial" in table
    rows = {r["job"]: r for r in as_json(work)}
    row = rows.pop("gitea-kimai")
    assert all(other["outcome"] == "never run" for other in rows.values())  # every known job has a row
    assert row["job"] == "gitea-kimai" and row["last_run"] == 2 and row["outcome"] == "partial"
    assert row["exit_code"] == 3 and row["created"] == 1 and row["seconds"] is not None
    assert row["links"] == {"pending": 1, "synced": 2, "failed": 2}
    assert as_json(work, "status")[0] == row
    assert store_state(work[0] / "sync.db") == before, "a report must not change the store"


def test_status_tells_a_running_run_from_an_interrupted_one(work):
    folder, _ = work
    with Store(folder / "sync.db") as store:
        store.start_run("gitea-kimai", {})

    def outcome():
        return {r["job"]: r["outcome"] for r in as_json(work)}["gitea-kimai"]

    assert outcome() == "interrupted"
    with JobLock(str(folder / "sync.db"), "gitea-kimai"):
        assert outcome() == "running"


def test_history_filters(work):
    runs = as_json(work, "history")
    assert [r["run"] for r in runs] == [2, 1] and all(r["exit_code"] == 3 for r in runs)
    assert [r["run"] for r in as_json(work, "history", "--limit", "1")] == [2]
    assert as_json(work, "history", "--job", "other") == []
    assert as_json(work, "history", "--since", "2999-01-01") == []
    assert len(as_json(work, "history", "--since", "2000-01-01T00:00:00Z")) == 2
    proc = report(work, "history", "--since", "yesterday", code=2)
    assert "--since" in proc.stderr and proc.stderr.count("\n") == 1


def test_items_by_state_and_search(work):
    items = as_json(work, "items", "--job", "gitea-kimai")
    assert len(items) == 5
    failed = as_json(work, "items", "--job", "gitea-kimai", "--state", "failed")
    assert {i["item"] for i in failed} == {"gitea:acme/api#1", "gitea:acme/api#2"}
    assert all(i["error"].startswith("kimai: refused") for i in failed)
    found = as_json(work, "items", "--search", "Issue 2")
    assert [(i["item"], i["target_id"], i["state"]) for i in found] == [("gitea:acme/web#2", 102, "synced")]
    assert [i["item"] for i in as_json(work, "items", "--search", "101")] == ["gitea:acme/web#1"]
    assert as_json(work, "items", "--search", "%") == []  # LIKE wildcards are literal
    assert "gitea:acme/web#99" in report(work, "items", "--state", "pending").stdout
    assert as_json(work, "items", "--state", "bogus") == []


def test_errors_now_and_per_run(work):
    now = as_json(work, "errors")  # one shape with or without --run
    assert now["run"] is None and {e["item"] for e in now["errors"]} == {"gitea:acme/api#1", "gitea:acme/api#2"}
    per_run = as_json(work, "errors", "--run", "1")
    assert per_run["run"]["run"] == 1 and [e["reason"] for e in per_run["errors"]] == [
        "kimai: refused (400) for item 1"
    ]
    assert "refused (400) for item 2" in report(work, "errors", "--run", "2").stdout
    proc = report(work, "errors", "--run", "42", code=2)
    assert "no run 42" in proc.stderr


def test_audit_shows_before_and_after(work):
    events = as_json(work, "audit", "--item", "gitea:acme/web#1")
    assert [e["action"] for e in events] == ["create", "update"]
    assert events[1]["before"] == {"name": "#1 Issue 1", "visible": True}
    assert events[1]["after"] == {"name": "#1 Renamed", "visible": False}
    assert len(as_json(work, "audit", "--item", "acme/web#1")) == 2  # without the service prefix
    assert len(as_json(work, "audit", "--job", "gitea-kimai")) == 3
    table = report(work, "audit", "--item", "acme/web#1").stdout
    assert "name: '#1 Issue 1' -> '#1 Renamed'" in table and "visible: true -> false" in table


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_writes_links_runs_and_audit(work, fmt):
    folder, _ = work
    files = as_json(work, "export", "--format", fmt, "--out", str(folder / "out"))["files"]
    assert sorted(p.split("/")[-1].split("-")[0] for p in files) == ["audit", "links", "runs"]
    links = next(p for p in files if "/links-" in p)
    if fmt == "json":
        rows = json.loads(open(links).read())
    else:
        rows = list(csv.DictReader(open(links, newline="")))
    assert len(rows) == 5 and {r["state"] for r in rows} == {"synced", "failed", "pending"}


def test_missing_store_is_reported_and_not_created(tmp_path):
    env_file = offline_env(tmp_path)
    proc = invoke("report.py", cwd=tmp_path, env_file=env_file)
    assert proc.returncode == 0 and "never run" in proc.stdout, explain(proc)
    assert not (tmp_path / "sync.db").exists()


def test_corrupted_store_is_one_line_with_65(tmp_path):
    env_file = offline_env(tmp_path)
    (tmp_path / "sync.db").write_bytes(b"this is not sqlite" * 500)
    proc = invoke("report.py", "history", cwd=tmp_path, env_file=env_file)
    assert proc.returncode == 65 and proc.stderr.count("\n") == 1 and "diagnose.py" in proc.stderr, explain(proc)


def test_newer_store_schema_is_refused_with_78(tmp_path):
    env_file = offline_env(tmp_path)
    db = sqlite3.connect(tmp_path / "sync.db")
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    proc = invoke("report.py", cwd=tmp_path, env_file=env_file)
    assert proc.returncode == 78 and "newer" in proc.stderr, explain(proc)

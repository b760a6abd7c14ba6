"""The run record tells the truth: a run killed with SIGKILL, or whose store filled its disk
mid-run, is never left `running` forever: `report.py history` and `status` show it interrupted at
once (its lock is free), and the next start of the job closes its row in the store as
`interrupted`, so exports and every later reader agree. A failed run's last stderr line is its
error, also with EXPORT_ENABLED=true."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys

import pytest
from conftest import ROOT, wait_for
from gitea_helpers import seed


def statuses(db):
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, status, message FROM runs ORDER BY id").fetchall()


def test_a_killed_run_shows_interrupted_and_the_next_start_closes_its_row(workdir):
    sb = workdir.sandbox
    seed(sb, repos=("web",), issues=80)
    sb.faults.configure(latency_ms=20)
    proc = workdir.start("sync.py", "gitea-kimai")
    wait_for(lambda: len(sb.kimai.activities) >= 5 or proc.poll() is not None)
    proc.kill()  # SIGKILL: no handler runs, the row stays as it was
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert statuses(workdir.db)[0][1] == "running"

    history = json.loads(workdir.run("report.py", "history", "--json", check_code=0).stdout)
    status = json.loads(workdir.run("report.py", "status", "--json", check_code=0).stdout)
    assert history[0]["outcome"] == "interrupted" and "never finished" in history[0]["message"]
    assert next(r for r in status if r["job"] == "gitea-kimai")["outcome"] == "interrupted"

    sb.faults.reset()
    workdir.sync("gitea-kimai", check_code=0)
    (first, status_1, message), (second, status_2, _) = statuses(workdir.db)
    assert (status_1, status_2) == ("interrupted", "ok")
    assert "never finished" in message and f"run {second}" in message
    history = json.loads(workdir.run("report.py", "history", "--json", check_code=0).stdout)
    assert [r["outcome"] for r in history] == ["ok", "interrupted"]
    export = json.loads(workdir.run("report.py", "export", "--format", "json", "--json", check_code=0).stdout)
    runs_file = next(f for f in export["files"] if "runs-" in f)
    with open(runs_file, encoding="utf-8") as handle:
        assert [r["status"] for r in json.load(handle)] == ["interrupted", "ok"]


def test_with_exports_on_a_failed_job_s_error_is_the_last_stderr_line(workdir):
    seed(workdir.sandbox, repos=("web",), issues=3)
    workdir.set(
        SYNC_JOBS="zammad-kimai,gitea-kimai",  # the job that stops first, one with a failed item after it
        ZAMMAD_URL="http://127.0.0.1:9",
        REPOS_TO_SYNC="web,nope",
        EXPORT_ENABLED="true",
    )
    proc = workdir.sync()
    assert proc.returncode == 69, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert any(line.startswith("failed: acme/nope") for line in lines), proc.stderr
    assert lines[-1].startswith("error: zammad") and "127.0.0.1:9" in lines[-1], proc.stderr
    assert any(line.startswith("exported ") for line in lines), proc.stderr  # the exports were said, before
    assert "Traceback" not in proc.stderr


def test_an_export_folder_that_is_a_file_is_one_line_naming_it_not_a_traceback(workdir):
    seed(workdir.sandbox, repos=("web",), issues=1)
    (workdir.path / "exports").write_text("not a folder")
    workdir.set(EXPORT_ENABLED="true")
    proc = workdir.sync("gitea-kimai")
    assert proc.returncode == 78, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: configuration key EXPORT_DIR") and "exports" in lines[-1], proc.stderr
    assert "Traceback" not in proc.stderr and "unexpected" not in proc.stderr


@pytest.mark.skipif(shutil.which("unshare") is None or sys.platform != "linux", reason="needs unshare")
def test_a_store_whose_disk_fills_mid_run_is_74_and_its_row_is_closed_by_the_next_start(workdir):
    """The store on a 4 MiB tmpfs (a user and mount namespace) with room for the run's start but
    not for its items: exit 74 naming DATABASE_PATH; after space is freed the reports say
    interrupted and the next run closes the row."""
    if subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("user namespaces are not available here")
    seed(workdir.sandbox, repos=("web",), issues=120)
    mount = workdir.path / "small"
    mount.mkdir()
    db = mount / "sync.db"
    workdir.set(DATABASE_PATH=str(db))
    out = workdir.path / "out"
    out.mkdir()
    python, env = sys.executable, workdir.env_file
    script = f"""
mount -t tmpfs -o size=4m tmpfs {mount} || exit 99
{python} -c 'import common.store as s; s.Store("{db}").close()'
(dd if=/dev/zero of={mount}/filler bs=4k 2>/dev/null; true)
truncate -s -64K {mount}/filler
{python} {ROOT}/sync.py gitea-kimai --env-file {env} >{out}/sync1.out 2>{out}/sync1.err; echo $? >{out}/sync1.rc
rm {mount}/filler
{python} {ROOT}/report.py history --json --env-file {env} >{out}/history.json 2>{out}/history.err
{python} {ROOT}/sync.py gitea-kimai --env-file {env} >{out}/sync2.out 2>{out}/sync2.err; echo $? >{out}/sync2.rc
{python} -c 'import sqlite3, json; print(json.dumps(sqlite3.connect("{db}").execute("SELECT status, message FROM runs ORDER BY id").fetchall()))' >{out}/runs.json
"""
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        cwd=workdir.path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    err = (out / "sync1.err").read_text()
    assert (out / "sync1.rc").read_text().strip() == "74", err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: DATABASE_PATH {db}"), err
    history = json.loads((out / "history.json").read_text())
    assert history[0]["outcome"] in ("interrupted", "failed"), history
    assert (out / "sync2.rc").read_text().strip() == "0", (out / "sync2.err").read_text()
    runs = json.loads((out / "runs.json").read_text())
    assert runs[0][0] in ("interrupted", "failed") and runs[1][0] == "ok", runs


def test_a_killed_import_is_never_running_forever_in_the_import_history(workdir):
    sb = workdir.sandbox
    rows = [f"2026-03-{1 + n % 28:02d},{8 + n % 9:02d}:00,{8 + n % 9:02d}:30,Web,Dev,Acme,row {n}" for n in range(60)]
    sheet = workdir.path / "hours.csv"
    sheet.write_text("date,begin,end,project,activity,customer,description\n" + "\n".join(rows) + "\n")
    sb.faults.configure(latency_ms=25)
    proc = workdir.start("sync.py", "csv-kimai", str(sheet), "--create-missing")
    wait_for(lambda: len(sb.kimai.timesheets) >= 3 or proc.poll() is not None)
    proc.kill()
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the import ended before it was killed: use more rows"
    with sqlite3.connect(workdir.db) as conn:
        assert conn.execute("SELECT status FROM imports").fetchall() == [("running",)]

    shown = json.loads(workdir.run("report.py", "imports", "--json", check_code=0).stdout)
    assert [row["status"] for row in shown] == ["interrupted"]

    sb.faults.reset()
    workdir.sync("csv-kimai", str(sheet), "--create-missing", check_code=0)
    with sqlite3.connect(workdir.db) as conn:
        assert conn.execute("SELECT status FROM imports ORDER BY id").fetchall() == [("interrupted",), ("ok",)]
    assert len(sb.kimai.timesheets) == 60  # the rest, no duplicate

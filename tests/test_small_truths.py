"""Small truths of the scripts' output: audit times name their zone; test_connection.py and
diagnose.py JSON always carry a top-level "error" (null when fine), like sync.py's; a script run
where nothing is set up leaves no tracksync.log behind unless a run has a summary to write."""

import json
import os
import subprocess
import sys

import pytest
from ops_helpers import ROOT, explain, invoke, offline_env, run

from common.store import Store

JOB = "zammad-kimai"


def audited_store(db):
    with Store(db) as store:
        run_id = store.start_run(JOB, {})
        store.record_audit(
            run_id,
            JOB,
            "zammad:ticket/1/time/1",
            "update",
            "timesheet",
            7,
            {"begin": "2026-03-29T01:30:00", "end": "2026-03-29T03:30:00", "project": 1},
            {"begin": "2026-03-29T03:30:00", "end": "2026-03-29T05:30:00", "project": 1},
        )
        store.finish_run(run_id, "ok", 0, {})


@pytest.mark.parametrize("zone", ["Europe/Berlin", None])
def test_audit_times_name_their_zone(tmp_path, zone):
    env_file = offline_env(tmp_path, KIMAI_TIMEZONE=zone)
    audited_store(tmp_path / "sync.db")
    proc = invoke("report.py", "audit", cwd=tmp_path, env_file=env_file)
    assert proc.returncode == 0, explain(proc)
    out = proc.stdout
    named = zone or "the Kimai user's zone"
    assert f"begin: 2026-03-29 01:30:00 {named}" in out and f"-> 2026-03-29 03:30:00 {named}" in out, out
    proc = invoke("report.py", "audit", "--json", cwd=tmp_path, env_file=env_file)
    assert proc.returncode == 0, explain(proc)
    (event,) = json.loads(proc.stdout)
    assert event["timezone"] == zone and event["after"]["begin"] == "2026-03-29T03:30:00"


@pytest.mark.parametrize("script", ["test_connection.py", "diagnose.py"])
def test_json_of_the_checks_always_has_a_top_level_error(tmp_path, script):
    env_file = offline_env(tmp_path)  # the services are on a closed port
    proc = run(script, "--json", cwd=tmp_path, env_file=env_file)
    assert proc.returncode == 69, explain(proc)
    data = json.loads(proc.stdout)
    assert data["exit_code"] == 69
    assert isinstance(data["error"], str) and "127.0.0.1:9" in data["error"], data["error"]
    assert "\n" not in data["error"]


def test_json_of_diagnose_has_a_null_error_when_fine(tmp_path):
    env_file = offline_env(tmp_path)
    proc = invoke("diagnose.py", "--database", "--json", cwd=tmp_path, env_file=env_file)
    data = json.loads(proc.stdout)
    assert proc.returncode == 0 and "error" in data and data["error"] is None, explain(proc)


def bare(script, *args, cwd, env=None):
    """A script run in a folder with no env file and no tracksync key in the environment."""
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "PYTHONPATH": str(ROOT), **(env or {})},
    )


@pytest.mark.parametrize(
    "script, args",
    [
        ("sync.py", ()),
        ("sync.py", ("gitea-kimai",)),
        ("sync.py", ("conflicts",)),
        ("report.py", ()),
        ("report.py", ("history",)),
        ("backup.py", ("list",)),
        ("backup.py", ("create",)),
        ("backup.py", ("verify", "nope.zip")),
        ("backup.py", ("restore", "nope.zip")),
        ("sync.py", ("--dry-run",)),
        ("report.py", ("audit",)),
        ("diagnose.py", ()),
        ("test_connection.py", ()),
    ],
)
def test_a_script_run_where_nothing_is_set_up_leaves_no_log_file(tmp_path, script, args):
    proc = bare(script, *args, cwd=tmp_path)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [], (proc.returncode, proc.stderr)


def test_a_real_run_configured_by_the_environment_writes_its_summary(tmp_path):
    env = {
        "GITEA_URL": "http://127.0.0.1:9",
        "GITEA_TOKEN": "gitea-offline-token-777",
        "GITEA_ORGANIZATION": "acme",
        "KIMAI_URL": "http://127.0.0.1:9",
        "KIMAI_TOKEN": "kimai-offline-token-888",
        "HTTP_RETRY_BACKOFF": "0",
    }
    proc = bare("sync.py", "gitea-kimai", cwd=tmp_path, env=env)
    assert proc.returncode == 69, proc.stderr
    log = (tmp_path / "tracksync.log").read_text()
    assert "run summary: job=gitea-kimai outcome=failed" in log and "exit=69" in log


@pytest.mark.parametrize("script", ["test_connection.py", "diagnose.py"])
def test_a_failing_check_s_last_stderr_line_is_its_error(tmp_path, script):
    env_file = offline_env(tmp_path)
    proc = run(script, cwd=tmp_path, env_file=env_file)
    assert proc.returncode == 69, explain(proc)
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error") and "127.0.0.1:9" in last, proc.stderr

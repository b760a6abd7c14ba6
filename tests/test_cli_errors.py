"""How every script ends: an error under --json is also a JSON object on stdout, a usage error
keeps click's message, and a closed stdout (`| head`) ends the command quietly (exit 141)."""

import json
import os
import subprocess
import sys

import pytest
from gitea_helpers import seed
from ops_helpers import ROOT, clean_environ, explain, offline_env, run, seed_store

TRACEBACK_SIGNS = ("Traceback", "Exception ignored", "BrokenPipe", "unexpected error")


def json_error(proc, code):
    assert proc.returncode == code, explain(proc)
    data = json.loads(proc.stdout)
    assert set(data) == {"error", "exit_code"} and data["exit_code"] == code, data
    assert "\n" not in data["error"] and data["error"]
    return data["error"]


@pytest.mark.parametrize(
    "command",
    [
        ["sync.py", "--json"],
        ["report.py", "--json", "history"],
        ["backup.py", "--json", "list"],
        ["test_connection.py", "--json"],
    ],
)
def test_a_configuration_error_under_json_is_a_json_object_on_stdout_and_one_line_on_stderr(tmp_path, command):
    env_file = offline_env(tmp_path, HTTP_TIMEOUT="soon")
    proc = run(command[0], *command[1:], cwd=tmp_path, env_file=env_file)
    error = json_error(proc, 78)
    assert "HTTP_TIMEOUT" in error
    assert proc.stderr.strip().splitlines() == [f"error: {error}"]


def test_without_json_an_error_leaves_stdout_empty(tmp_path):
    proc = run("report.py", "history", cwd=tmp_path, env_file=offline_env(tmp_path, HTTP_TIMEOUT="soon"))
    assert proc.returncode == 78 and proc.stdout == "" and "HTTP_TIMEOUT" in proc.stderr


def test_an_unreachable_service_under_json_is_69_as_json(tmp_path):
    env_file = offline_env(
        tmp_path, ZAMMAD_URL="http://127.0.0.1:9", ZAMMAD_TOKEN="zammad-offline-token-999", HTTP_TIMEOUT="2"
    )
    proc = run(
        "report.py",
        "--json",
        "reconcile",
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-31",
        cwd=tmp_path,
        env_file=env_file,
    )
    error = json_error(proc, 69)
    assert "cannot reach" in error and "offline-token" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "command", [["diagnose.py", "--json", "--job", "nosuch"], ["report.py", "--json", "history", "--limit", "many"]]
)
def test_a_usage_error_keeps_clicks_message_and_under_json_adds_the_object(tmp_path, command):
    proc = run(command[0], *command[1:], cwd=tmp_path, env_file=offline_env(tmp_path))
    error = json_error(proc, 2)
    assert "Usage:" in proc.stderr and f"Error: {error}" in proc.stderr
    plain = run(command[0], *[a for a in command[1:] if a != "--json"], cwd=tmp_path, env_file=offline_env(tmp_path))
    assert plain.returncode == 2 and plain.stdout == "" and "Usage:" in plain.stderr


def closed_pipe_run(command, cwd, env_file, env=None):
    """Run with stdout a pipe whose reading end is closed before the command writes a byte,
    as `command | head -0` would; returns (exit code, stderr)."""
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / command[0]), *command[1:], "--env-file", str(env_file)],
        cwd=cwd,
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_environ(**(env or {})),
    )
    os.close(write_end)
    os.close(read_end)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.mark.parametrize(
    "command", [["report.py", "history"], ["report.py", "--json", "items"], ["report.py", "--help"]]
)
def test_report_into_a_closed_pipe_ends_quietly(tmp_path, command):
    env_file = offline_env(tmp_path)
    seed_store(tmp_path / "sync.db", runs=3)
    code, err = closed_pipe_run(command, tmp_path, env_file)
    assert not any(sign in err for sign in TRACEBACK_SIGNS), err
    assert err == ""
    # click's own output (--help) into a closed pipe ends quietly with click's exit 1
    assert code == (1 if command[-1] == "--help" else 141)


def test_sync_dry_run_into_a_closed_pipe_ends_quietly(workdir):
    seed(workdir.sandbox, issues=30)
    code, err = closed_pipe_run(["sync.py", "--dry-run"], workdir.path, workdir.env_file)
    assert code == 141 and not any(sign in err for sign in TRACEBACK_SIGNS), err
    assert workdir.sandbox.kimai.activities == []


def test_resolve_names_a_conflict_that_does_not_exist_whatever_keep_says(workdir):
    for keep in ("jira", "confluence", "kimai", "graph"):
        proc = workdir.sync("resolve", "99", "--keep", keep)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip() == "error: no conflict with id 99 (python sync.py conflicts lists them)"

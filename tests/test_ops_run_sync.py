"""run_sync.sh: `auto` keeps exactly one crontab line (a stub crontab on PATH) whose run exits 75
while the previous one holds the lock, commands work from any folder and pass exit codes through.
The demo's tests are in test_demo.py, set-up and systemd units in test_run_sync_setup.py."""

import fcntl
import os
import subprocess
import zipfile

import pytest
from ops_helpers import ROOT, explain, offline_env, run, seed_store
from repo_copy import copy_repo, fake_program, path_with, run_in

STUB = """#!/bin/sh
if [ "$1" = "-l" ]; then
  if [ -f "$CRONTAB_FILE" ]; then cat "$CRONTAB_FILE"; exit 0; fi
  echo "no crontab for $(id -un)" >&2; exit 1
fi
if [ "$1" = "-" ]; then cat > "$CRONTAB_FILE"; exit 0; fi
echo "stub crontab: unexpected arguments $*" >&2; exit 2
"""
OTHER = "0 3 * * * /usr/local/bin/nightly-report"


@pytest.fixture
def cron(tmp_path):
    stub_dir = tmp_path / "bin"
    stub_dir.mkdir()
    (stub_dir / "crontab").write_text(STUB)
    (stub_dir / "crontab").chmod(0o755)
    table = tmp_path / "crontab.txt"
    env = {"PATH": f"{stub_dir}{os.pathsep}{os.environ['PATH']}", "CRONTAB_FILE": str(table)}

    def auto(*args):
        return run("run_sync.sh", "auto", *args, cwd=tmp_path, env=env)

    return auto, table


def tracksync_lines(table):
    return [line for line in table.read_text().splitlines() if "sync.py" in line]


def test_auto_twice_leaves_one_line_and_remove_takes_it_out(cron, tmp_path):
    auto, table = cron
    env_file = offline_env(tmp_path)
    table.write_text(OTHER + "\n")
    for _ in range(2):
        proc = auto("--every", "10", "--env-file", env_file.name)
        assert proc.returncode == 0, explain(proc)
    (line,) = tracksync_lines(table)
    assert line.startswith("*/10 * * * * ") and "flock -n -E 75 " in line and f"{ROOT}/sync.py" in line
    assert f"--env-file {env_file}" in line and ">> " in line and "2>&1" in line
    assert OTHER in table.read_text().splitlines()
    assert auto("--every", "5").returncode == 0
    (line,) = tracksync_lines(table)
    assert line.startswith("*/5 ")
    proc = auto("--remove")
    assert proc.returncode == 0, explain(proc)
    assert tracksync_lines(table) == [] and table.read_text().splitlines() == [OTHER]


def test_auto_on_an_empty_crontab_and_bad_interval(cron):
    auto, table = cron
    assert auto().returncode == 0
    assert len(tracksync_lines(table)) == 1 and len(table.read_text().splitlines()) == 1
    assert auto("--every", "0").returncode == 2
    assert auto("--every", "often").returncode == 2
    assert len(tracksync_lines(table)) == 1


def test_commands_work_from_any_folder_and_pass_exit_codes_through(tmp_path):
    env_file = offline_env(tmp_path)
    seed_store(tmp_path / "sync.db")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    relative_env = os.path.relpath(env_file, elsewhere)

    proc = run("run_sync.sh", "backup", "create", "--env-file", relative_env, cwd=elsewhere)
    assert proc.returncode == 0, explain(proc)
    (archive,) = (tmp_path / "backups").iterdir()
    proc = run("run_sync.sh", "backup", "list", "--env-file", relative_env, cwd=elsewhere)
    assert proc.returncode == 0 and archive.name in proc.stdout, explain(proc)
    proc = run("run_sync.sh", "report", "history", "--env-file", relative_env, cwd=elsewhere)
    assert proc.returncode == 0 and "gitea-kimai" in proc.stdout, explain(proc)

    with zipfile.ZipFile(archive) as zf, zipfile.ZipFile(tmp_path / "bad.zip", "w") as bad:
        for name in zf.namelist():
            bad.writestr(name, zf.read(name))
        bad.writestr("../escape", b"x")
    proc = run("run_sync.sh", "backup", "verify", "../bad.zip", "--env-file", relative_env, cwd=elsewhere)
    assert proc.returncode == 65, explain(proc)
    proc = run("run_sync.sh", "diagnose", "--network", "--env-file", relative_env, cwd=elsewhere)
    assert proc.returncode == 69, explain(proc)
    proc = run("run_sync.sh", "connection", "--env-file", "missing.env", cwd=elsewhere)
    assert proc.returncode == 78, explain(proc)
    assert run("run_sync.sh", "help", cwd=elsewhere).returncode == 0
    assert run("run_sync.sh", "no-such-command", cwd=elsewhere).returncode == 2


def test_the_cron_line_exits_75_while_a_run_holds_the_lock(tmp_path):
    repo = copy_repo(tmp_path)
    stub = fake_program(tmp_path / "bin", "crontab", STUB.removeprefix("#!/bin/sh\n"))
    env = {"PATH": path_with(stub.parent), "CRONTAB_FILE": str(tmp_path / "crontab.txt")}
    proc = run_in(repo, "auto", "--every", "5", env=env)
    assert proc.returncode == 0, explain(proc)
    (line,) = tracksync_lines(tmp_path / "crontab.txt")
    command = line.split(" ", 5)[5].removesuffix(" # tracksync-auto")
    with open(repo / ".cron.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a run still going
        held = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60)
    assert held.returncode == 75, explain(held)
    free = subprocess.run(
        ["sh", "-c", command.replace(" >> ", " --help >> ")], capture_output=True, text=True, timeout=60
    )
    assert free.returncode == 0 and "Usage: sync.py" in (repo / "cron.log").read_text()

"""A log file on a full disk (/dev/full: every write fails with ENOSPC) costs one warning line on
stderr, never a traceback, and the command goes on with its own exit code and output."""

import os

import pytest
from gitea_helpers import seed
from ops_helpers import explain, offline_env, run, seed_store

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")

WARNING = "warning: LOG_FILE /dev/full cannot be written (No space left on device); carrying on without it"


def assert_one_warning(proc):
    assert "Traceback" not in proc.stderr and "Logging error" not in proc.stderr, proc.stderr
    assert proc.stderr.count("warning: LOG_FILE") == 1, proc.stderr
    assert WARNING in proc.stderr.splitlines(), proc.stderr


def test_a_sync_whose_log_disk_is_full_warns_once_and_succeeds(workdir):
    seed(workdir.sandbox, repos=("web",), issues=5)
    workdir.set(LOG_FILE="/dev/full", LOG_LEVEL="DEBUG")
    proc = workdir.sync("gitea-kimai", "-vv")
    assert proc.returncode == 0, proc.stderr
    assert_one_warning(proc)
    assert "gitea-kimai" in proc.stdout  # the summary table, as usual
    again = workdir.sync("gitea-kimai", "--json")
    assert again.returncode == 0 and again.stdout.lstrip().startswith("{"), again.stderr
    assert_one_warning(again)


def test_a_failing_sync_keeps_its_code_and_its_error_last(tmp_path):
    env_file = offline_env(tmp_path, LOG_FILE="/dev/full")
    proc = run("sync.py", "gitea-kimai", cwd=tmp_path, env_file=env_file)
    assert proc.returncode == 69, explain(proc)
    assert_one_warning(proc)
    assert proc.stderr.strip().splitlines()[-1].startswith("error: gitea: cannot reach"), proc.stderr


@pytest.mark.parametrize(
    "script, args", [("report.py", ("history",)), ("backup.py", ("create",)), ("diagnose.py", ("--database",))]
)
def test_the_other_scripts_carry_on_too(tmp_path, script, args):
    env_file = offline_env(tmp_path, LOG_FILE="/dev/full", LOG_LEVEL="DEBUG")
    seed_store(tmp_path / "sync.db")
    proc = run(script, *args, "-v" if script == "diagnose.py" else "--json", cwd=tmp_path, env_file=env_file)
    assert proc.returncode == 0, explain(proc)
    assert "Traceback" not in proc.stderr and "Logging error" not in proc.stderr, proc.stderr
    assert proc.stderr.count("warning: LOG_FILE") <= 1, proc.stderr

"""run_sync.sh's schedules: cron and systemd take the same evenly spaced intervals, the crontab
line runs the quiet sync and survives a % in a path, and the script tells its version and ends
its help with examples."""

import shlex

import pytest
from ops_helpers import ROOT, explain, run
from test_ops_run_sync import cron, tracksync_lines  # noqa: F401 (fixture)


def test_a_percent_sign_in_a_path_is_escaped_for_cron(cron, tmp_path):
    auto, table = cron
    folder = tmp_path / "pct%d"
    folder.mkdir()
    (folder / "b.env").write_text("")
    proc = auto("--env-file", str(folder / "b.env"))
    assert proc.returncode == 0, explain(proc)
    (line,) = tracksync_lines(table)
    command = line.split(" ", 5)[5]
    assert "%" not in command.replace("\\%", "")  # cron would cut the command at a bare %
    assert " --quiet" in command


@pytest.mark.parametrize(
    "every, fields", [("15", "*/15 * * * *"), ("60", "0 */1 * * *"), ("360", "0 */6 * * *"), ("1440", "0 0 * * *")]
)
def test_cron_intervals_are_evenly_spaced(cron, every, fields):
    auto, table = cron
    assert auto("--every", every).returncode == 0
    (line,) = tracksync_lines(table)
    assert line.startswith(fields + " ")


@pytest.mark.parametrize("every", ["7", "45", "90", "1500"])
def test_intervals_that_do_not_divide_the_hour_or_day_are_refused_by_both(cron, tmp_path, every):
    auto, table = cron
    proc = auto("--every", every)
    assert proc.returncode == 2 and "evenly spaced" in proc.stderr
    env = {"HOME": str(tmp_path), "TRACKSYNC_UNIT_DIR": str(tmp_path / "units")}
    proc = run("run_sync.sh", "systemd", "--every", every, cwd=tmp_path, env=env)
    assert proc.returncode == 2 and "evenly spaced" in proc.stderr
    assert not (tmp_path / "units").exists()


def test_version_and_help_examples():
    proc = run("run_sync.sh", "--version", cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout.startswith("run_sync.sh (tracksync), version ")
    lines = run("run_sync.sh", "help", cwd=ROOT).stdout.strip().splitlines()
    examples = lines[lines.index("Examples:") + 1 :]
    assert 2 <= len(examples) <= 3 and all(shlex.split(e)[0] == "./run_sync.sh" for e in examples)

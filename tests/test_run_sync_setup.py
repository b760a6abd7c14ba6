"""run_sync.sh sets up its own virtual environment (too old a Python, no venv module, installs only
when the requirement files change, a failed install) and writes systemd units without running
systemctl. Fakes stand in for python3 and pip so these tests need no network."""

import os
import shlex
import shutil
import subprocess
import sys

import pytest
from repo_copy import ROOT as ROOT_REPO
from repo_copy import copy_repo, explain, fake_program, path_with, run_in

PIP_WRAPPER = """if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
  echo "$*" >> "$PIP_CALLS"; echo "pip output that belongs in the log"; exit "${{PIP_EXIT:-0}}"
fi
exec {python} "$@"
"""


@pytest.fixture
def repo(tmp_path):
    repo = copy_repo(tmp_path)
    (repo / ".venv").unlink()
    return repo


def test_too_old_a_python_is_refused_in_one_line_naming_the_minimum(repo, tmp_path):
    old = fake_program(tmp_path / "bin", "python3", "echo 3.9; exit 1\n")
    proc = run_in(repo, "report", "--help", env={"PATH": path_with(old.parent)})
    assert proc.returncode == 69, explain(proc)
    assert proc.stderr.splitlines() == [
        "run_sync.sh: Python 3.11 or newer is needed; python3 is 3.9 (set PYTHON=/path/to/python3.11 or newer)"
    ]
    assert not (repo / ".venv").exists()


def test_without_the_venv_module_it_says_to_install_python3_venv_and_leaves_no_half_venv(repo, tmp_path):
    debian = fake_program(
        tmp_path / "bin",
        "python3",
        f"""case "$*" in
  *"-m venv"*) mkdir -p "$3/bin"; touch "$3/bin/python"; chmod +x "$3/bin/python"
     echo "The virtual environment was not created successfully because ensurepip is not available."; exit 1 ;;
  *) exec {sys.executable} "$@" ;;
esac
""",
    )
    proc = run_in(repo, "sync", "--help", env={"PYTHON": str(debian)})
    assert proc.returncode == 69, explain(proc)
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("run_sync.sh: cannot create .venv: ") and "ensurepip is not available" in last
    assert last.endswith("on Debian/Ubuntu: apt install python3-venv")
    assert not (repo / ".venv").exists()


@pytest.mark.parametrize("folder", [".venv", "venv"])
def test_installs_into_the_existing_venv_only_when_the_requirements_change(repo, tmp_path, folder):
    calls = tmp_path / "pip-calls.txt"
    fake_program(repo / folder / "bin", "python", PIP_WRAPPER.format(python=sys.executable))
    env = {"PIP_CALLS": str(calls)}

    def pip_calls():
        return calls.read_text().splitlines() if calls.exists() else []

    proc = run_in(repo, "report", "--help", env=env)
    assert proc.returncode == 0 and "Usage: report.py" in proc.stdout, explain(proc)
    (call,) = pip_calls()
    assert call.startswith("-m pip install ") and call.endswith("-r requirements.txt")
    log = repo / folder / "install.log"
    assert proc.stderr == f"run_sync.sh: installing requirements.txt into {folder} (log: {log})\n"
    assert "pip output that belongs in the log" in log.read_text()

    assert run_in(repo, "report", "--help", env=env).stderr == ""  # nothing changed: no pip at all
    assert len(pip_calls()) == 1
    proc = run_in(repo, "test", "--version", env=env)
    assert proc.returncode == 0, explain(proc)
    assert pip_calls()[-1].endswith("-r requirements-dev.txt") and len(pip_calls()) == 2
    run_in(repo, "test", "--version", env=env)
    run_in(repo, "sync", "--help", env=env)  # the dev install covered the runtime requirements
    assert len(pip_calls()) == 2

    with open(repo / "requirements.txt", "a") as requirements:
        requirements.write("# changed\n")
    run_in(repo, "sync", "--help", env=env)
    assert len(pip_calls()) == 3 and not (repo / ".venv" if folder == "venv" else tmp_path / "none").exists()


def test_a_failed_install_says_so_in_one_line_with_the_log_and_exits_69(repo, tmp_path):
    fake_program(repo / ".venv" / "bin", "python", PIP_WRAPPER.format(python=sys.executable))
    env = {"PIP_CALLS": str(tmp_path / "calls"), "PIP_EXIT": "1"}
    proc = run_in(repo, "sync", "--help", env=env)
    assert proc.returncode == 69 and proc.stdout == "", explain(proc)
    log = repo / ".venv" / "install.log"
    assert proc.stderr.splitlines()[-1] == f"run_sync.sh: installing requirements.txt failed (pip exit 1; log: {log})"
    proc = run_in(repo, "sync", "--help", env={**env, "PIP_EXIT": "0"})  # no stamp was written: it retries
    assert proc.returncode == 0 and len((tmp_path / "calls").read_text().splitlines()) == 2, explain(proc)


# -- systemd units --------------------------------------------------------------------------------
@pytest.fixture
def units(tmp_path):
    """HOME and XDG_CONFIG_HOME in tmp_path, and a systemctl on PATH that records any call."""
    home = tmp_path / "home"
    home.mkdir()
    calls = tmp_path / "systemctl-calls"
    fake = fake_program(tmp_path / "bin", "systemctl", f'echo "$*" >> {calls}\n')
    env = {"HOME": str(home), "PATH": path_with(fake.parent)}

    def systemd(*args, **extra):
        return run_in(ROOT_REPO, "systemd", *args, cwd=tmp_path, env={**env, **extra})

    yield systemd, home
    assert not calls.exists(), "run_sync.sh called systemctl"


def read_units(folder):
    return (folder / "tracksync.service").read_text(), (folder / "tracksync.timer").read_text()


def setting(text, key):
    (value,) = [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]
    return value


def test_user_units_go_to_xdg_config_home_and_run_the_quiet_sync(units, tmp_path):
    systemd, home = units
    env_file = tmp_path / "my env%1.env"
    env_file.write_text("")
    config = tmp_path / "xdg"
    proc = systemd("--every", "10", "--env-file", os.path.relpath(env_file, tmp_path), XDG_CONFIG_HOME=str(config))
    assert proc.returncode == 0, explain(proc)
    folder = config / "systemd" / "user"
    service, timer = read_units(folder)
    *lines, linger = proc.stdout.splitlines()
    assert lines == [
        f"wrote {folder}/tracksync.service",
        f"wrote {folder}/tracksync.timer",
        "enable the timer with:",
        "  systemctl --user daemon-reload",
        "  systemctl --user enable --now tracksync.timer",
    ]
    assert linger.startswith("to keep it running while you are logged out: loginctl enable-linger ")
    assert setting(service, "Type") == "oneshot" and setting(service, "WorkingDirectory") == str(ROOT_REPO)
    argv = shlex.split(setting(service, "ExecStart").replace("%%", "%").replace("$$", "$"))
    assert argv == [str(ROOT_REPO / "run_sync.sh"), "sync", "--quiet", "--env-file", str(env_file)]
    assert setting(service, "SuccessExitStatus") == "75" and int(setting(service, "TimeoutStopSec")) >= 60
    assert "User=" not in service
    assert setting(timer, "OnCalendar") == "*:0/10" and setting(timer, "Persistent") == "true"
    assert setting(timer, "WantedBy") == "timers.target"
    if shutil.which("systemd-analyze"):
        check = subprocess.run(
            [
                "systemd-analyze",
                "verify",
                "--man=no",
                str(folder / "tracksync.service"),
                str(folder / "tracksync.timer"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 0, check.stderr


def test_without_xdg_config_home_they_go_to_home_config_and_remove_deletes_them(units):
    systemd, home = units
    proc = systemd("--every", "120")
    assert proc.returncode == 0, explain(proc)
    folder = home / ".config" / "systemd" / "user"
    service, timer = read_units(folder)
    assert setting(timer, "OnCalendar") == "*-*-* 0/2:00:00"
    assert shlex.split(setting(service, "ExecStart"))[-1] == str(ROOT_REPO / ".env")
    (folder / "timers.target.wants").mkdir()
    (folder / "timers.target.wants" / "tracksync.timer").symlink_to(folder / "tracksync.timer")
    proc = systemd("--remove")
    assert proc.returncode == 0, explain(proc)
    assert sorted(p.name for p in folder.rglob("*")) == ["timers.target.wants"]
    assert "  systemctl --user stop tracksync.timer" in proc.stdout.splitlines()
    assert "  systemctl --user daemon-reload" in proc.stdout.splitlines()


def test_system_units_and_bad_intervals(units, tmp_path):
    systemd, home = units
    target = tmp_path / "etc-systemd-system"
    proc = systemd("--system", "--every", "5", TRACKSYNC_UNIT_DIR=str(target))
    assert proc.returncode == 0, explain(proc)
    service, timer = read_units(target)
    assert setting(service, "User") and setting(timer, "OnCalendar") == "*:0/5"
    assert "  systemctl daemon-reload" in proc.stdout.splitlines()
    assert "  systemctl enable --now tracksync.timer" in proc.stdout.splitlines()
    assert not (home / ".config").exists()
    for every in ("0", "90", "often", "1500"):
        assert systemd("--every", every, TRACKSYNC_UNIT_DIR=str(tmp_path / "x")).returncode == 2
    assert not (tmp_path / "x").exists()
    assert systemd("--bogus").returncode == 2

"""A copy of the repository with nothing beside it (the files git knows, as in the working tree),
reusing the test run's virtual environment, for tests of run_sync.sh that must not touch ROOT."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def copy_repo(dest):
    """Copy tracked and untracked-but-not-ignored files of ROOT to dest/repo; link .venv to the
    interpreter running the tests. Returns the copy's folder."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if listing.returncode != 0:
        pytest.skip("not a git checkout")
    if sys.prefix == sys.base_prefix:
        pytest.skip("the tests do not run in a virtual environment that the copy could reuse")
    repo = Path(dest) / "repo"
    for name in filter(None, listing.stdout.split("\0")):
        source = ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    (repo / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    return repo


def run_in(repo, *args, cwd=None, env=None, timeout=180):
    """bash repo/run_sync.sh ARGS with a clean tracksync environment."""
    from ops_helpers import clean_environ

    environ = clean_environ(**(env or {}))
    environ.pop("PYTHONPATH", None)  # the copy must work on its own
    return subprocess.run(
        ["bash", str(repo / "run_sync.sh"), *args],
        cwd=cwd or repo,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environ,
    )


def explain(proc):
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


def fake_program(folder, name, script):
    """An executable shell script `name` in `folder` (for PATH or PYTHON)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return path


def path_with(folder):
    return f"{folder}{os.pathsep}{os.environ['PATH']}"

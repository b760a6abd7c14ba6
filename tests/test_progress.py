"""The progress line: on a terminal's stderr for work longer than a second (done/total, rate,
ETA), erased at the end, never on stdout, never when stderr is not a terminal or under --json."""

import os
import pty
import re
import subprocess
import sys
import time

import pytest
from conftest import ROOT
from gitea_helpers import expected_issues, seed

from common import progress

BAR = "writing gitea-kimai"


def run_on_terminal(workdir, *args):
    """Run sync.py with stderr on a pseudo-terminal and stdout on a pipe: (code, stdout, terminal, seconds)."""
    master, slave = pty.openpty()
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "sync.py"), *args, "--env-file", str(workdir.env_file)],
        cwd=workdir.path,
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"},
    )
    os.close(slave)
    terminal = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        terminal += chunk
    out = proc.stdout.read()
    proc.wait(timeout=60)
    os.close(master)
    return proc.returncode, out, terminal.decode(errors="replace"), time.monotonic() - started


@pytest.fixture
def slow(workdir):
    seed(workdir.sandbox, repos=("web",), issues=60)
    workdir.set(SYNC_WORKERS="2")
    workdir.sandbox.faults.configure(latency_ms=40)  # about 1.5 s of creates
    return workdir


def test_a_slow_run_shows_a_progress_line_on_the_terminal_and_erases_it(slow):
    code, out, terminal, seconds = run_on_terminal(slow, "gitea-kimai")
    assert code == 0, terminal
    total = len(expected_issues(slow.sandbox))
    draws = [part.split("\r")[0] for part in terminal.split("\r" + BAR)[1:]]
    assert draws, terminal
    assert any(f"/{total}" in d and "/s" in d and "ETA" in d for d in draws), draws
    assert len(draws) <= seconds * 5 + 2, "redrawn more than a few times a second"
    assert re.search(r"\r {40,}\r$", terminal.rsplit(BAR, 1)[1]), "the line is not erased at the end"
    assert BAR not in out and "\r" not in out  # stdout keeps only the data


def test_no_progress_line_when_stderr_is_a_pipe(slow):
    proc = slow.sync("gitea-kimai", check_code=0)
    assert BAR not in proc.stderr and "\r" not in proc.stderr + proc.stdout


def test_no_progress_line_under_json_even_on_a_terminal(slow):
    code, out, terminal, _ = run_on_terminal(slow, "gitea-kimai", "--json")
    assert code == 0 and BAR not in terminal and "\r" not in out


def test_the_line_shows_done_total_rate_and_eta():
    text = progress.line("writing kimai", 30, 120, 10.0)
    assert text.startswith("writing kimai  [") and "30/120" in text and "3.0/s" in text and "ETA 0:30" in text
    assert progress.line("reading gitea", 250, None, 5.0) == "reading gitea  250 items  50.0/s"
    assert len(progress.line("x" * 300, 1, 2, 1.0, width=60)) < 60

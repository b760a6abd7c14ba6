"""Shared fixtures: a running sandbox and a work folder with an env file pointing at it, from
which the real scripts run as subprocesses."""

import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@pytest.fixture(autouse=True)
def fresh_process_state():
    """Every test starts with what a fresh process has, whichever tests ran before it in this
    worker: commands run in-process (CliRunner) set the umask to 077, install a SIGTERM handler,
    turn the progress line off under --json and attach log handlers. Without this a test that
    relies on umask 022 (the owner-only file modes) could pass only because of an earlier test."""
    from ops_helpers import close_log_handlers

    from common import progress

    umask = os.umask(0o022)
    os.umask(umask)
    main = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM) if main else None
    yield
    os.umask(umask)
    if main:
        signal.signal(signal.SIGTERM, sigterm)
    progress.enable(True)
    close_log_handlers()


@dataclass
class Workdir:
    path: Path
    env_file: Path
    sandbox: object

    def set(self, **values):
        """Add or replace keys in the env file."""
        lines = [ln for ln in self.env_file.read_text().splitlines() if ln.split("=", 1)[0] not in values]
        lines += [f"{k}={v}" for k, v in values.items()]
        self.env_file.write_text("\n".join(lines) + "\n")

    def run(self, script, *args, timeout=180, env=None, check_code=None):
        """Run a top-level script (sync.py, report.py, ...) with this env file; returns the process."""
        if script == "run_sync.sh":
            command = ["bash", str(ROOT / script), *args]
        else:
            extra = [] if "--env-file" in args else ["--env-file", str(self.env_file)]
            command = [sys.executable, str(ROOT / script), *args, *extra]
        proc = subprocess.run(
            command,
            cwd=self.path,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        )
        if check_code is not None:
            assert proc.returncode == check_code, (
                f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    def sync(self, *args, **kw):
        return self.run("sync.py", *args, **kw)

    def start(self, script, *args, capture=True):
        """Start a top-level script with this env file and return at once (its Popen), to signal or
        kill it mid-run. `capture`: its output piped as text (read by communicate()), else dropped."""
        output = subprocess.PIPE if capture else subprocess.DEVNULL
        return subprocess.Popen(
            [sys.executable, str(ROOT / script), *args, "--env-file", str(self.env_file)],
            cwd=self.path,
            stdout=output,
            stderr=output,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    def kill_runs(self, *args, runs=3, pause=(0.5, 1.0), seed=3):
        """Start `sync.py *args` `runs` times, each killed with SIGKILL after a random pause (seconds,
        within `pause`) if it is still running; returns how many were killed."""
        rng = random.Random(seed)
        killed = 0
        for _ in range(runs):
            proc = self.start("sync.py", *args, capture=False)
            time.sleep(rng.uniform(*pause))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                killed += 1
            proc.wait()
        return killed

    @property
    def db(self):
        return self.path / "sync.db"


def wait_for(condition, timeout=30):
    """Poll `condition` every 10 ms until it holds; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def sandbox():
    from sandbox import Sandbox

    sb = Sandbox().start()
    yield sb
    # Stopping waits up to a poll interval (0.05 s) per server; no later test needs these ports or
    # threads, so the stop runs beside the next test instead of before it
    threading.Thread(target=sb.stop, name="sandbox-stop", daemon=True).start()
    assert not sb.violations, "requests or responses off the API contract:\n" + "\n".join(sb.violations[:20])


@pytest.fixture
def workdir(tmp_path, sandbox):
    from common.config import KEYS

    env = {k: v for k, v in sandbox.env(owner="acme").items() if k in KEYS}  # services whose jobs exist
    env.update(
        DATABASE_PATH=str(tmp_path / "sync.db"),
        LOG_FILE=str(tmp_path / "tracksync.log"),
        CACHE_DIR=str(tmp_path / ".cache"),
        EXPORT_DIR=str(tmp_path / "exports"),
        BACKUP_DIR=str(tmp_path / "backups"),
        HTTP_TIMEOUT="5",
        HTTP_RETRY_BACKOFF="0",  # retries at once: the tests count them, they need not wait
    )
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    env_file.chmod(0o600)
    return Workdir(tmp_path, env_file, sandbox)


@pytest.fixture
def zwork(workdir):
    """A work folder configured for zammad-kimai, with a global Kimai activity 'Support'."""
    sb = workdir.sandbox
    workdir.set(ZAMMAD_URL=sb.url("zammad"), ZAMMAD_TOKEN=sb.tokens["zammad"], ZAMMAD_DEFAULT_ACTIVITY="Support")
    sb.kimai.add_activity("Support", None)
    return workdir


@pytest.fixture
def iwork(workdir):
    """A work folder configured for the Toggl and Harvest imports."""
    env = workdir.sandbox.env(owner="acme")
    keys = ("TOGGL_URL", "TOGGL_TOKEN", "TOGGL_WORKSPACE", "HARVEST_URL", "HARVEST_TOKEN", "HARVEST_ACCOUNT_ID")
    workdir.set(**{k: env[k] for k in keys})
    return workdir

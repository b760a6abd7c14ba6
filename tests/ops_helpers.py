"""Helpers of the operations tests (test_ops_*.py): env files, running the real scripts as
subprocesses, and stores filled through the Store API."""

import hashlib
import importlib
import logging
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from common.config import KEYS  # noqa: E402
from common.store import Store  # noqa: E402

JOB = "gitea-kimai"


def clean_environ(**extra):
    """The test process's environment without any tracksync key, so only the env file counts."""
    env = {k: v for k, v in os.environ.items() if k not in KEYS and k != "SYNC_ENV_FILE"}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def example_settings(**extra):
    """Settings with each service the clients read at https://<service>.example.com with a test
    token (tests answer those requests with `responses`) and the cache off; `extra` adds keys."""
    from common.config import load_settings

    services = {
        "KIMAI": {},
        "ZAMMAD": {},
        "GITEA": {"GITEA_ORGANIZATION": "acme"},
        "TOGGL": {"TOGGL_WORKSPACE": "7"},
        "HARVEST": {"HARVEST_ACCOUNT_ID": "8"},
    }
    environ = {"CACHE_ENABLED": "false"}
    for name, more in services.items():
        environ |= {f"{name}_URL": f"https://{name.lower()}.example.com", f"{name}_TOKEN": f"{name.lower()}-secret-1"}
        environ |= more
    return load_settings(None, environ={**environ, **extra})


def write_env(path, mode=0o600, **values):
    path = Path(path)
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    path.chmod(mode)
    return path


def offline_env(folder, **values):
    """An env file in `folder` with every path inside it and services on a closed port."""
    folder = Path(folder)
    base = dict(
        GITEA_URL="http://127.0.0.1:9",
        GITEA_TOKEN="gitea-offline-token-777",
        GITEA_ORGANIZATION="acme",
        KIMAI_URL="http://127.0.0.1:9",
        KIMAI_TOKEN="kimai-offline-token-888",
        DATABASE_PATH=str(folder / "sync.db"),
        BACKUP_DIR=str(folder / "backups"),
        LOG_FILE=str(folder / "tracksync.log"),
        CACHE_DIR=str(folder / ".cache"),
        EXPORT_DIR=str(folder / "exports"),
        HTTP_TIMEOUT="3",
        HTTP_RETRY_BACKOFF="0",  # retries at once: the tests count them, they need not wait
    )
    base.update(values)
    return write_env(folder / "test.env", **{k: v for k, v in base.items() if v is not None})


def run(script, *args, cwd, env_file=None, env=None, timeout=60):
    """Run a top-level script as a subprocess; --env-file goes last when given."""
    if script.endswith(".sh"):
        command = ["bash", str(ROOT / script), *args]
    else:
        command = [sys.executable, str(ROOT / script), *args]
    if env_file is not None:
        command += ["--env-file", str(env_file)]
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=clean_environ(**(env or {}))
    )


def invoke(script, *args, cwd, env_file=None, env=None):
    """Run a script's click command in this process (click's CliRunner), as `run` would run the
    script: --env-file last when given, in `cwd`, with no tracksync key from the environment (TZ
    and other variables from `env`). For commands that need no server and no real terminal; it
    saves the interpreter's start (~0.2 s) of a subprocess. Returns (returncode, stdout, stderr)
    like subprocess.run. The click object is looked up at call time: `cli` of module `script`."""
    from click.testing import CliRunner

    cli = importlib.import_module(Path(script).stem).cli
    args = [*args, *(["--env-file", str(env_file)] if env_file is not None else [])]
    unset = {k: None for k in os.environ if k in KEYS or k == "SYNC_ENV_FILE"}
    here = os.getcwd()
    os.chdir(cwd)
    try:
        with _zone((env or {}).get("TZ")):
            result = CliRunner().invoke(
                cli, args, prog_name=script, env={**unset, **(env or {})}, catch_exceptions=False
            )
    finally:
        os.chdir(here)
        close_log_handlers()  # they write to CliRunner's streams, closed now
    return subprocess.CompletedProcess([script, *args], result.exit_code, result.stdout, result.stderr)


def close_log_handlers():
    """Detach and close the handlers a command attached to the tracksync logger (a fresh process
    has none)."""
    logger = logging.getLogger("tracksync")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


@contextmanager
def _zone(tz):
    """The local time zone `tz` (a TZ value) for this process while the block runs."""
    if tz is None:
        yield
        return
    saved = os.environ.get("TZ")
    os.environ["TZ"] = tz
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


def explain(proc):
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


def seed_store(db_path, runs=2):
    """A store with `runs` finished runs: synced, failed and pending links, audit events."""
    with Store(db_path) as store:
        for n in range(1, runs + 1):
            run_id = store.start_run(JOB, {"full": n == 1})
            key = f"gitea:acme/web#{n}"
            store.mark_pending(JOB, [key], "activity", run_id)
            store.mark_synced(
                JOB, key, "activity", 100 + n, "hash", {"name": f"#{n} Issue {n}", "visible": True}, run_id
            )
            store.record_audit(
                run_id, JOB, key, "create", "activity", 100 + n, None, {"name": f"#{n} Issue {n}", "visible": True}
            )
            if n > 1:
                store.record_audit(
                    run_id,
                    JOB,
                    "gitea:acme/web#1",
                    "update",
                    "activity",
                    101,
                    {"name": "#1 Issue 1", "visible": True},
                    {"name": "#1 Renamed", "visible": False},
                )
            store.mark_failed(JOB, f"gitea:acme/api#{n}", "activity", run_id, f"kimai: refused (400) for item {n}")
            store.finish_run(run_id, "partial", 3, {"created": 1, "failed": 1, "requests": 5, "writes": 1})
        store.mark_pending(JOB, ["gitea:acme/web#99"], "activity", run_id)
    return Path(db_path)


def digest(path):
    path = Path(path)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def store_state(db_path):
    """Digest of the store file and its -wal, to show that nothing touched it (an empty -wal is
    what any reader of a WAL database leaves: it counts as none)."""
    wal = Path(f"{db_path}-wal")
    return digest(db_path), digest(wal) if wal.exists() and wal.stat().st_size else None

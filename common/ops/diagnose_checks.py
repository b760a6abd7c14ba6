"""The checks behind diagnose.py. Each check gives OK, WARN or FAIL with a one-line detail and,
when it is not OK, a one-line hint saying what to do. FAIL carries the exit code of its kind.

Groups: config (the env file and every value), network (DNS, TCP, TLS, clock per service:
network_checks.py), api (authentication, version and permissions per service: connection.py),
database (the store, opened read-only: never created or migrated here, and the job locks).
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..config import DEFAULT_ENV_FILE, KEYS, Settings, is_blank, parse_value, tidy_values
from ..errors import CONFIG, DATA_INVALID, TEMPORARY, ConfigError, most_serious
from ..errors import OK as EXIT_OK
from ..reports.runs import lock_info
from ..runlock import lock_path
from ..store import SCHEMA_VERSION
from ..store_files import StoreFile

GROUPS = ("config", "network", "api", "database")
# keys each job cannot run without (beyond the defaults every key has)
JOB_KEYS = {
    "gitea-kimai": ("GITEA_URL", "GITEA_TOKEN", "GITEA_ORGANIZATION", "KIMAI_URL", "KIMAI_TOKEN"),
    "zammad-kimai": ("ZAMMAD_URL", "ZAMMAD_TOKEN", "KIMAI_URL", "KIMAI_TOKEN"),
    "toggl-kimai": ("TOGGL_TOKEN", "TOGGL_WORKSPACE", "KIMAI_URL", "KIMAI_TOKEN"),
    "harvest-kimai": ("HARVEST_TOKEN", "HARVEST_ACCOUNT_ID", "KIMAI_URL", "KIMAI_TOKEN"),
    "csv-kimai": ("KIMAI_URL", "KIMAI_TOKEN"),
}


@dataclass
class Check:
    group: str
    name: str
    status: str  # OK, WARN, FAIL
    detail: str
    hint: str = ""
    code: int = EXIT_OK
    latency_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ok(group: str, name: str, detail: str, *, latency_ms: float | None = None) -> Check:
    return Check(group, name, "OK", detail, latency_ms=latency_ms)


def warn(group: str, name: str, detail: str, hint: str, *, latency_ms: float | None = None) -> Check:
    return Check(group, name, "WARN", detail, hint, latency_ms=latency_ms)


def fail(group: str, name: str, detail: str, hint: str, code: int, *, latency_ms: float | None = None) -> Check:
    return Check(group, name, "FAIL", detail, hint, code, latency_ms=latency_ms)


def exit_code(checks: Iterable[Check]) -> int:
    return most_serious(c.code for c in checks if c.status == "FAIL")


def first_error(checks: Iterable[Check]) -> str | None:
    """The error of `diagnose.py --json` (null when no check fails): the first failed check with
    the exit code's reason, `group name: detail`."""
    checks = list(checks)
    code = exit_code(checks)
    failed = [c for c in checks if c.status == "FAIL" and c.code == code] if code else []
    return f"{failed[0].group} {failed[0].name}: {failed[0].detail}" if failed else None


def redact(checks: list[Check], secrets: Iterable[str]) -> list[Check]:
    """No configured secret value in any of its forms (logs.redact), nor a password inside an
    address, survives in any detail or hint."""
    from ..logs import redact as redact_text
    from .connection import mask_url_credentials

    for check in checks:
        check.detail = redact_text(mask_url_credentials(check.detail))
        check.hint = redact_text(mask_url_credentials(check.hint))
        for secret in secrets:
            if secret and len(secret) >= 4:
                check.detail = check.detail.replace(secret, "***")
                check.hint = check.hint.replace(secret, "***")
    return checks


# --- config ---------------------------------------------------------------------------------


def config_checks(
    env_file: str | None = None, environ: Mapping[str, str] | None = None
) -> tuple[list[Check], Settings]:
    """Check the env file and every value; returns (checks, settings). The settings are resolved
    leniently (a malformed value falls back to its default) so the other groups can still run."""
    environ = os.environ if environ is None else environ
    checks: list[Check] = []
    file_values: dict[str, str] = {}
    explicit = env_file or environ.get("SYNC_ENV_FILE")
    path = Path(explicit) if explicit else Path(DEFAULT_ENV_FILE)
    found = path.is_file()
    if explicit and not found:
        checks.append(
            fail(
                "config",
                "env file",
                f"env file not found: {path}",
                "pass --env-file PATH or set SYNC_ENV_FILE to an existing file",
                CONFIG,
            )
        )
    elif not found:
        checks.append(
            warn(
                "config",
                "env file",
                f"no {DEFAULT_ENV_FILE} here; using the environment and defaults",
                "cp .env.template .env, fill it in, chmod 600 .env",
            )
        )
    else:
        file_values = _env_file_checks(path, checks)
    settings = _lenient_settings(file_values, environ, str(path) if found else None, checks)
    checks.extend(_job_key_checks(settings))
    checks.extend(_folder_checks(settings))
    if settings.read_only_mode:
        checks.append(
            warn(
                "config",
                "READ_ONLY_MODE",
                "on: every run is a dry run and writes nothing",
                "set READ_ONLY_MODE=false when the plans look right",
            )
        )
    return checks, settings


def _env_file_checks(path: Path, checks: list[Check]) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        checks.append(
            fail(
                "config",
                "env file",
                f"cannot read {path}: {exc.__class__.__name__}",
                "check the file's owner and mode, and that it is UTF-8 text",
                CONFIG,
            )
        )
        return {}
    checks.append(_mode_check(path))
    from io import StringIO

    from dotenv.parser import parse_stream

    values, lines = {}, defaultdict(list)
    problems = 0
    for binding in parse_stream(StringIO(text)):
        line = binding.original.line
        if binding.error:  # never print the line itself: it may hold a secret
            checks.append(
                fail(
                    "config",
                    f"line {line}",
                    f"{path} line {line} cannot be parsed",
                    "write KEY=value; quote values that contain spaces or #",
                    CONFIG,
                )
            )
            problems += 1
            continue
        if binding.key is None:
            continue
        lines[binding.key].append(line)
        if binding.key not in KEYS:
            import difflib

            close = difflib.get_close_matches(binding.key, KEYS, n=1)
            hint = f"did you mean {close[0]}?" if close else "remove it; .env.template lists every key"
            checks.append(fail("config", binding.key, f"unknown key in {path} (line {line})", hint, CONFIG))
            problems += 1
            continue
        values[binding.key] = binding.value if binding.value is not None else ""
    for name, where in lines.items():
        if len(where) > 1:
            checks.append(
                warn(
                    "config",
                    name,
                    f"set {len(where)} times (lines {', '.join(map(str, where))}); the last wins",
                    "keep one line per key",
                )
            )
    if not problems:
        checks.append(ok("config", "env file", f"{path}: {len(values)} keys, all known"))
    return values


def _mode_check(path: Path) -> Check:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        what = "readable" if mode & 0o044 else "writable"
        return warn(
            "config",
            "env file mode",
            f"{path} is {what} by group or others (mode {mode:o}); it holds tokens",
            f"chmod 600 {path}",
        )
    return ok("config", "env file mode", f"mode {mode:o}: only its owner can read it")


def _lenient_settings(
    file_values: Mapping[str, str], environ: Mapping[str, str], env_file: str | None, checks: list[Check]
) -> Settings:
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, key in KEYS.items():
        values[name], sources[name] = key.default, "default"
        for source, table in (("environment", environ), ("env file", file_values)):
            if name not in table:
                continue
            try:
                values[name] = parse_value(key, table[name])
                sources[name] = "default" if is_blank(key, table[name]) else source
            except ConfigError as exc:
                checks.append(fail("config", name, f"{exc} (from the {source})", key.help, CONFIG))
            break
    tidy_values(values, sources, env_file)
    return Settings(values, env_file, sources)


def _job_key_checks(settings: Settings) -> list[Check]:
    from ..jobs import JOBS

    checks = []
    for job in settings.sync_jobs:
        if job not in JOBS:
            checks.append(fail("config", "SYNC_JOBS", f"unknown job {job!r}", f"known jobs: {', '.join(JOBS)}", CONFIG))
            continue
        needed = JOB_KEYS.get(job) or JOBS[job].required_keys()  # a job not listed: what it declares
        missing = [k for k in needed if settings.get(k) in (None, "", ())]
        if missing:
            checks.append(
                fail(
                    "config",
                    f"job {job}",
                    f"missing {', '.join(missing)}",
                    f"set {missing[0]} in the env file ({KEYS[missing[0]].help})",
                    CONFIG,
                )
            )
        else:
            checks.append(ok("config", f"job {job}", "every key it needs is set"))
    return checks


def _folder_checks(settings: Settings) -> list[Check]:
    checks = []
    for key, target in (
        ("DATABASE_PATH", Path(settings.database_path).parent),
        ("BACKUP_DIR", Path(settings.backup_dir)),
        ("LOG_FILE", Path(settings.log_file).parent if settings.log_file else None),
    ):
        if target is None:
            continue
        existing = next((p for p in [target, *target.parents] if p.exists()), Path("."))
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            checks.append(
                fail(
                    "config",
                    key,
                    f"cannot write in {existing} (for {target})",
                    f"create the folder or point {key} somewhere writable",
                    CONFIG,
                )
            )
    return checks


# --- database -------------------------------------------------------------------------------


def database_checks(settings: Settings, jobs: Iterable[str]) -> list[Check]:
    checks: list[Check] = []
    db = Path(settings.database_path)
    checks.extend(_lock_checks(settings, jobs))
    if not db.exists():
        checks.insert(0, warn("database", "store", f"no store at {db} yet", "the first `python sync.py` creates it"))
        return checks
    size = db.stat().st_size
    wal = Path(f"{db}-wal")
    wal_size = wal.stat().st_size if wal.exists() else 0
    try:
        store = StoreFile(db)
    except sqlite3.Error as exc:
        return [
            fail("database", "store", f"cannot open {db}: {exc}", "check the file's owner and mode", CONFIG),
            *checks,
        ]
    try:
        checks[0:0] = _store_checks(store, db, size, wal_size, settings, jobs)
    except sqlite3.DatabaseError as exc:
        checks.insert(
            0,
            fail(
                "database",
                "integrity",
                f"{db} is not a readable SQLite store: {exc}",
                "restore a backup: python backup.py list --detail, then backup.py restore FILE",
                DATA_INVALID,
            ),
        )
    finally:
        store.close()
    return checks


def _store_checks(
    store: StoreFile, db: Path, size: int, wal_size: int, settings: Settings, jobs: Iterable[str]
) -> list[Check]:
    checks = []
    problems = store.integrity_problems(20)
    if problems == ["ok"]:
        checks.append(ok("database", "integrity", f"{db}: integrity_check ok"))
    else:
        checks.append(
            fail(
                "database",
                "integrity",
                f"{db}: {len(problems)} problem(s), first: {problems[0]}",
                "restore a backup: python backup.py list --detail, then backup.py restore FILE",
                DATA_INVALID,
            )
        )
        return checks
    version = store.schema_version()
    if version > SCHEMA_VERSION:
        checks.append(
            fail(
                "database",
                "schema",
                f"schema {version} is newer than this tracksync ({SCHEMA_VERSION})",
                "upgrade tracksync (or restore a backup made by this version)",
                CONFIG,
            )
        )
        return checks
    if version < SCHEMA_VERSION:
        checks.append(
            warn(
                "database",
                "schema",
                f"schema {version}, this tracksync has {SCHEMA_VERSION}",
                "the next sync migrates it; take a backup first (python backup.py create)",
            )
        )
    else:
        checks.append(ok("database", "schema", f"schema {version} (current)"))
    mode = store.journal_mode()
    checks.append(
        ok("database", "journal", "WAL mode")
        if mode == "wal"
        else warn("database", "journal", f"journal mode {mode}, not WAL", "the next sync switches it to WAL")
    )
    checks.append(ok("database", "size", f"{_mb(size)} (write-ahead log {_mb(wal_size)})"))
    running = {job for job in jobs if lock_info(settings.database_path, job)["held"]}
    tables = store.tables()
    if "links" in tables:
        for job, count in store.pending_links().items():
            if job in running:
                checks.append(ok("database", f"pending {job}", f"{count} item(s) pending: a {job} run is in progress"))
            else:
                checks.append(
                    warn(
                        "database",
                        f"pending {job}",
                        f"{count} item(s) left pending by an interrupted run",
                        "the next sync finds them by their origin marker; report.py items --state pending lists them",
                    )
                )
        failed = store.failed_links()
        if failed:
            checks.append(
                warn(
                    "database",
                    "failed items",
                    f"{failed} item(s) failed in their last run",
                    "python report.py errors shows why; the next sync retries them",
                )
            )
    if "runs" in tables:
        for run_id, job in store.unfinished_runs():
            if job not in running:
                checks.append(
                    warn(
                        "database",
                        f"run {run_id}",
                        f"run {run_id} of {job} never finished (interrupted)",
                        "nothing to repair: the next sync heals what it left",
                    )
                )
    return checks


def _lock_checks(settings: Settings, jobs: Iterable[str]) -> list[Check]:
    checks = []
    for job in jobs:
        state = lock_info(settings.database_path, job)
        pid, where = state["pid"], lock_path(settings.database_path, job)
        if state["held"]:
            if pid and not _alive(pid):
                checks.append(
                    fail(
                        "database",
                        f"lock {job}",
                        f"held, but its recorded process {pid} no longer exists",
                        f"find the holder with `fuser {where}`; stop it, then run again",
                        TEMPORARY,
                    )
                )
            else:
                checks.append(ok("database", f"lock {job}", f"held by a running {job} sync (pid {pid})"))
        elif state["stale"]:
            checks.append(
                warn(
                    "database",
                    f"lock {job}",
                    f"left by process {pid}, which no longer exists; the lock is free",
                    f"nothing blocks the next run; rm {where}.pid to tidy up",
                )
            )
    return checks


def _alive(pid: int | str) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True
    return True


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size / 1000:.1f} kB"

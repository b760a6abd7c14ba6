"""Store problems are one line naming DATABASE_PATH and a documented exit code, never exit 1 and
never a change to a file that is not a store: a text file, a folder, a damaged store (65 or 78),
a store locked by another process beyond the wait (75), a full disk (74). Several processes
opening a brand-new store at once migrate it once, none dies with `database is locked`."""

import errno
import hashlib
import multiprocessing
import shutil
import sqlite3
import subprocess
import sys

import pytest
from ops_helpers import ROOT, clean_environ, offline_env, run

from common.errors import DATA_INVALID, EXIT_CODES, IO_ERROR, SEVERITY, StoreFull, StoreLocked
from common.store import SCHEMA_VERSION, Store, store_problem

COMMANDS = [("sync.py", "gitea-kimai"), ("sync.py", "gitea-kimai", "--dry-run"), ("report.py", "status")]


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_error_line(proc, path):
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: DATABASE_PATH ") and str(path) in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and "unexpected" not in proc.stderr
    return lines[0]


def damaged_store(path):
    """A real store with links, then 3000 bytes in its middle overwritten (its header intact)."""
    with Store(path) as store:
        with store.conn:
            for n in range(3000):
                store.conn.execute(
                    "INSERT INTO links (job, source_key, target_type, state, data, created_at, updated_at) "
                    "VALUES ('gitea-kimai', ?, 'activity', 'synced', ?, 'now', 'now')",
                    (f"gitea:acme/web#{n}", '"' + "x" * 200 + '"'),
                )
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 3000] = b"\xa5" * 3000
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "kind, code",
    [("text", DATA_INVALID), ("short text", DATA_INVALID), ("damaged", DATA_INVALID), ("cut header", DATA_INVALID)],
)
def test_a_file_that_is_no_usable_store_is_named_and_left_unchanged(tmp_path, kind, code):
    db = tmp_path / "sync.db"
    if kind == "text":
        db.write_text("KIMAI_TOKEN=not-a-store\n" * 200)
    elif kind == "short text":
        db.write_text("hello\n")  # shorter than a SQLite header: SQLite would take it over
    elif kind == "damaged":
        damaged_store(db)
    else:
        damaged_store(db)
        db.write_bytes(db.read_bytes()[:60])
    env_file = offline_env(tmp_path)
    before = digest(db)
    for command in COMMANDS:
        proc = run(*command, cwd=tmp_path, env_file=env_file)
        assert proc.returncode == code, (command, proc.returncode, proc.stderr)
        one_error_line(proc, db)
        assert digest(db) == before, f"{command} changed the file"
    assert not (tmp_path / "sync.db-wal").exists() or (tmp_path / "sync.db-wal").stat().st_size == 0


def test_a_folder_as_store_is_78_naming_database_path(tmp_path):
    db = tmp_path / "sync.db"
    db.mkdir()
    env_file = offline_env(tmp_path)
    for command in COMMANDS:
        proc = run(*command, cwd=tmp_path, env_file=env_file)
        assert proc.returncode == 78, (command, proc.returncode, proc.stderr)
        assert "folder" in one_error_line(proc, db)
    assert list(db.iterdir()) == []


def test_a_store_under_a_file_is_78_naming_database_path_not_a_traceback(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    env_file = offline_env(tmp_path, DATABASE_PATH=str(tmp_path / "notes.txt" / "sync.db"))
    proc = run("sync.py", "gitea-kimai", cwd=tmp_path, env_file=env_file)
    assert proc.returncode == 78, proc.stderr
    assert proc.stderr.startswith("error: DATABASE_PATH ") and "Traceback" not in proc.stderr
    assert (tmp_path / "notes.txt").read_text() == "x"


def test_a_store_locked_by_another_process_beyond_the_wait_is_75(tmp_path):
    db = tmp_path / "sync.db"
    Store(db).close()
    env_file = offline_env(tmp_path)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process writing for longer than the wait
    try:
        # the real sync.py, with the wait shortened from 30 s to 1 s
        code = (
            "import runpy, sys; import common.store as s; s.BUSY_TIMEOUT = 1.0; "
            f"sys.argv = ['sync.py', 'gitea-kimai', '--env-file', {str(env_file)!r}]; "
            f"runpy.run_path({str(ROOT / 'sync.py')!r}, run_name='__main__')"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60, env=clean_environ()
        )
    finally:
        holder.rollback()
        holder.close()
    assert proc.returncode == 75, proc.stderr
    assert "write lock" in one_error_line(proc, db)


def _open_new_store(path, barrier, results):
    barrier.wait()
    try:
        with Store(path) as store:
            results.put(("ok", store.schema_version))
    except BaseException as exc:  # noqa: BLE001 (reported to the test)
        results.put(("error", repr(exc)))


def test_processes_opening_a_new_store_at_once_migrate_it_once(tmp_path):
    context = multiprocessing.get_context("spawn")
    for round_ in range(5):
        path = tmp_path / f"new{round_}.db"
        barrier, results = context.Barrier(4), context.Queue()
        processes = [context.Process(target=_open_new_store, args=(path, barrier, results)) for _ in range(4)]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=60) for _ in processes]
        for process in processes:
            process.join(60)
        assert outcomes == [("ok", SCHEMA_VERSION)] * 4, outcomes
        db = sqlite3.connect(path)
        assert db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'runs'").fetchone()[0] == 1
        db.close()


def test_two_jobs_starting_at_once_on_a_new_store_both_run(tmp_path):
    """gitea-kimai and zammad-kimai (two locks, one store) started together: each records its run
    and stops on the closed port (69), none exits 1 on `database is locked` or a second migration."""
    started = []  # five new stores, each opened by two jobs at once; the rounds overlap too
    for round_ in range(5):
        folder = tmp_path / str(round_)
        folder.mkdir()
        env_file = offline_env(folder, ZAMMAD_URL="http://127.0.0.1:9", ZAMMAD_TOKEN="zammad-offline-token-999")
        procs = [
            subprocess.Popen(
                [sys.executable, str(ROOT / "sync.py"), job, "--env-file", str(env_file)],
                cwd=folder,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=clean_environ(),
            )
            for job in ("gitea-kimai", "zammad-kimai")
        ]
        started.append((folder, procs))
    for folder, procs in started:
        outcomes = [(proc.wait(60), proc.stderr.read()) for proc in procs]
        for proc in procs:
            proc.stdout.close()
            proc.stderr.close()
        assert [code for code, _ in outcomes] == [69, 69], outcomes
        with Store(folder / "sync.db", readonly=True) as store:
            assert store.schema_version == SCHEMA_VERSION
            assert sorted(r["job"] for r in store.runs()) == ["gitea-kimai", "zammad-kimai"]


def test_io_error_is_a_documented_exit_code():
    assert IO_ERROR == 74 and IO_ERROR in EXIT_CODES and IO_ERROR in SEVERITY


def test_a_full_disk_is_74_naming_the_path(tmp_path):
    """SQLite's own `database or disk is full` from a write, and ENOSPC from the file system."""
    path = tmp_path / "sync.db"
    with Store(path) as store:
        page_count = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {page_count}")  # the disk is full from now on
        run_id = None
        with pytest.raises(StoreFull) as caught:
            run_id = store.start_run("gitea-kimai", {"note": "x" * 50_000})
            store.mark_failed("gitea-kimai", "k", "activity", run_id, "y" * 50_000)
    assert caught.value.exit_code == 74 and f"DATABASE_PATH {path}" in str(caught.value)
    assert "disk is full" in str(caught.value)
    problem = store_problem(OSError(errno.ENOSPC, "No space left on device"), path)
    assert isinstance(problem, StoreFull) and problem.exit_code == 74 and str(path) in str(problem)
    full = store_problem(sqlite3.OperationalError("database or disk is full"), path)
    assert isinstance(full, StoreFull) and full.exit_code == 74
    locked = store_problem(sqlite3.OperationalError("database is locked"), path)
    assert isinstance(locked, StoreLocked) and locked.exit_code == 75
    assert store_problem(sqlite3.IntegrityError("UNIQUE constraint failed"), path) is None


@pytest.mark.skipif(shutil.which("unshare") is None or sys.platform != "linux", reason="needs unshare")
def test_a_full_disk_under_a_real_sync_is_74(tmp_path):
    """A store on a 1 MiB tmpfs that fills up (a user and mount namespace: no root needed)."""
    mount = tmp_path / "small"
    mount.mkdir()
    env_file = offline_env(tmp_path, DATABASE_PATH=str(mount / "sync.db"))
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("user namespaces are not available here")
    filler = mount / "filler"
    script = (
        f"mount -t tmpfs -o size=1m tmpfs {mount} && "
        f"{sys.executable} -c 'import common.store as s; s.Store(\"{mount / 'sync.db'}\").close()' && "
        f"(dd if=/dev/zero of={filler} bs=4k 2>/dev/null; true) && "
        f"truncate -s -16K {filler} && "  # room for the job's lock files, not for the run's record
        f"exec {sys.executable} {ROOT / 'sync.py'} gitea-kimai --env-file {env_file}"
    )
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_environ(),
    )
    assert proc.returncode == 74, proc.stderr
    assert "the disk is full" in one_error_line(proc, mount / "sync.db"), proc.stderr

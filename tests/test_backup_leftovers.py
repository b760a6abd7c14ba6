"""A backup or restore killed half-way (SIGKILL: no handler runs) leaves no copy of the store
beside the store, and the next `backup.py` command removes what it left in BACKUP_DIR."""

import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time

import pytest
from ops_helpers import ROOT, clean_environ, explain, offline_env, run, seed_store

from common.store import Store


@pytest.fixture
def work(tmp_path):
    """A store of about 4 MB (random text compresses badly: the backup takes a while) in its own
    folder, BACKUP_DIR in another."""
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    db = store_dir / "sync.db"
    with Store(db) as store:
        with store.conn:
            store.conn.executemany(
                "INSERT INTO links (job, source_key, target_type, state, data, created_at, updated_at) "
                "VALUES ('gitea-kimai', ?, 'activity', 'synced', ?, 'now', 'now')",
                [(f"gitea:acme/web#{n}", os.urandom(2000).hex()) for n in range(1000)],
            )
    env_file = offline_env(tmp_path, DATABASE_PATH=str(db), BACKUP_DIR=str(tmp_path / "backups"))
    return tmp_path, env_file, db


def start(work, *args):
    folder, env_file, _ = work
    return subprocess.Popen(
        [sys.executable, str(ROOT / "backup.py"), *args, "--env-file", str(env_file)],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_environ(),
    )


def hidden(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) if folder.is_dir() else []


def beside_the_store(db):
    return sorted(p.name for p in db.parent.iterdir() if p.name not in (db.name, f"{db.name}-wal", f"{db.name}-shm"))


def kill_when(proc, condition, timeout=30):
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, "the command ended before it could be killed: use a larger store"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)
    proc.kill()
    proc.communicate(timeout=30)


def test_a_killed_backup_s_scratch_is_removed_by_the_next_backup_command(work):
    folder, env_file, db = work
    backups = folder / "backups"
    proc = start(work, "create")
    kill_when(proc, lambda: bool(hidden(backups)))
    assert hidden(backups), "the scratch folder of the killed backup should still be there"
    assert beside_the_store(db) == []

    listed = run("backup.py", "list", "--json", cwd=folder, env_file=env_file)
    assert listed.returncode == 0, explain(listed)
    assert hidden(backups) == [] and list(backups.iterdir()) == []
    assert "left behind by a backup or restore that was stopped" in listed.stderr
    assert "Traceback" not in listed.stderr


def test_a_killed_restore_copies_nothing_beside_the_store_and_is_cleaned_up(work):
    folder, env_file, db = work
    created = run("backup.py", "create", "--json", cwd=folder, env_file=env_file)
    assert created.returncode == 0, explain(created)
    archive = next((folder / "backups").glob("tracksync-backup-*.zip"))
    before = db.read_bytes()

    proc = start(work, "restore", str(archive))
    seen_beside = []

    def scratch_made():
        seen_beside.extend(beside_the_store(db))
        return bool(hidden(folder / "backups"))

    kill_when(proc, scratch_made)
    assert seen_beside == [] and beside_the_store(db) == [], "a copy of the store was made beside it"
    assert db.read_bytes() == before  # killed before the rename: the store is untouched

    again = run("backup.py", "create", cwd=folder, env_file=env_file)
    assert again.returncode == 0, explain(again)
    assert hidden(folder / "backups") == []
    assert beside_the_store(db) == []
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_backup_stopped_with_sigterm_cleans_up_itself_and_exits_75(work):
    folder, env_file, db = work
    backups = folder / "backups"
    proc = start(work, "create")
    deadline = time.monotonic() + 30
    while not hidden(backups):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.002)
    proc.terminate()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 75, err
    assert err.decode().strip().splitlines() == ["error: stopped by a signal (SIGTERM); nothing was left half-written"]
    assert list(backups.iterdir()) == [] and beside_the_store(db) == []


def test_a_backup_folder_that_is_a_file_is_78_naming_it(work):
    folder, env_file, _ = work
    (folder / "not-a-folder").write_text("x")
    proc = run("backup.py", "create", cwd=folder, env_file=env_file, env={"BACKUP_DIR": str(folder / "not-a-folder")})
    assert proc.returncode == 78, explain(proc)
    assert proc.stderr.startswith("error: configuration key BACKUP_DIR: cannot write") and "not-a-folder" in proc.stderr
    assert "Traceback" not in proc.stderr


NEEDS_UNSHARE = pytest.mark.skipif(shutil.which("unshare") is None or sys.platform != "linux", reason="needs unshare")


def backup_on_full_disk(folder, *args):
    """`backup.py ARGS` in a user namespace where `folder` is a 256 KiB tmpfs (skips the test where
    user namespaces are not available); stdout ends with rc=<its exit code> and what is left in
    the folder."""
    if subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("user namespaces are not available here")
    command = shlex.join([sys.executable, str(ROOT / "backup.py"), *map(str, args)])
    where = shlex.quote(str(folder))
    script = f"mount -t tmpfs -o size=256k tmpfs {where} && {command}; echo rc=$?; ls -A {where}"
    return subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, env=clean_environ())


@NEEDS_UNSHARE
def test_a_backup_folder_on_a_full_disk_is_74_naming_it_and_left_clean(work):
    folder, env_file, _ = work
    small = folder / "small"
    small.mkdir()
    proc = backup_on_full_disk(small, "create", "--out", small, "--env-file", env_file)
    lines = proc.stderr.strip().splitlines()
    assert "rc=74" in proc.stdout, explain(proc)
    assert proc.stdout.strip().splitlines()[-1] == "rc=74", "something was left in the folder: " + proc.stdout
    assert len(lines) == 1 and lines[0].startswith(f"error: --out {small}: cannot be written"), proc.stderr


def test_a_killed_export_s_half_written_file_is_removed_by_the_next_export(tmp_path):
    env_file = offline_env(tmp_path)
    seed_store(tmp_path / "sync.db")
    exports = tmp_path / "exports"
    exports.mkdir()
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process id that no longer exists
    leftover = exports / f".links-20261127T000000Z.csv.{gone.pid}-abc123.partial"
    leftover.write_text("half a file")
    running = exports / f".links-20261127T000000Z.csv.{os.getpid()}-def456.partial"  # a live writer's
    running.write_text("being written")
    proc = run("report.py", "export", cwd=tmp_path, env_file=env_file)
    assert proc.returncode == 0, explain(proc)
    assert not leftover.exists() and running.exists()
    assert len(list(exports.glob("*.csv"))) == 3


@NEEDS_UNSHARE
def test_a_restore_whose_backup_folder_is_full_is_74_not_a_damaged_archive(work):
    folder, env_file, db = work
    created = run("backup.py", "create", "--out", str(folder / "archives"), cwd=folder, env_file=env_file)
    assert created.returncode == 0, explain(created)
    archive = next((folder / "archives").glob("tracksync-backup-*.zip"))
    before = db.read_bytes()
    backups = folder / "backups"
    backups.mkdir()
    proc = backup_on_full_disk(backups, "restore", archive, "--env-file", env_file)
    assert proc.stdout.strip().splitlines() == ["rc=74"], explain(proc)  # and nothing left in the folder
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: BACKUP_DIR {backups}: cannot be written"), proc.stderr
    assert db.read_bytes() == before


def test_leftovers_of_older_versions_go_but_nothing_else_does(work):
    folder, env_file, db = work
    backups = folder / "backups"
    backups.mkdir()
    old = time.time() - 2 * 3600
    legacy = backups / ".backup-ab12cd34"  # an older version's scratch of a killed backup
    legacy.mkdir()
    (legacy / "store.db").write_bytes(b"x" * 100)
    beside = db.parent / ".restore-zz99yy88"
    beside.mkdir()
    (beside / "staged.db").write_bytes(b"x")
    mine = db.parent / ".backup-scripts"  # a user's own folder with a similar name
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    recent = backups / ".backup-ef56gh78"  # may belong to an older version's backup still running
    recent.mkdir()
    for path in (legacy, beside, mine):
        os.utime(path, (old, old))
    listed = run("backup.py", "list", cwd=folder, env_file=env_file)
    assert listed.returncode == 0, explain(listed)
    assert not legacy.exists() and not beside.exists()
    assert (mine / "notes.txt").exists() and recent.exists()

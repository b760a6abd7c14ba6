"""backup.py: snapshots, verification, tampered archives, restore rules, prune."""

import hashlib
import json
import sqlite3
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
from ops_helpers import ROOT, clean_environ, explain, offline_env, run, seed_store, store_state

from common import __version__
from common.ops.backup import redact_env, unsafe_member
from common.runlock import JobLock
from common.store import SCHEMA_VERSION, Store


@pytest.fixture
def work(tmp_path):
    env_file = offline_env(tmp_path)
    seed_store(tmp_path / "sync.db")
    return tmp_path, env_file


def create(work, *args):
    folder, env_file = work
    proc = run("backup.py", "create", *args, "--json", cwd=folder, env_file=env_file)
    assert proc.returncode == 0, explain(proc)
    data = json.loads(proc.stdout)
    return Path(data["archive"]), data


def counts(db_path):
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("runs", "links", "audit")}
    finally:
        db.close()


def test_backup_archive_has_a_manifest_with_checksums_and_verifies(work):
    folder, env_file = work
    archive, manifest = create(work)
    assert archive.parent == folder / "backups" and archive.stat().st_mode & 0o077 == 0
    assert manifest["tool_version"] == __version__ and manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["created"].endswith("+00:00") and set(manifest["members"]) == {"store.db"}
    assert len(manifest["members"]["store.db"]["sha256"]) == 64
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == ["manifest.json", "store.db"]
    proc = run("backup.py", "verify", str(archive), cwd=folder, env_file=env_file)
    assert proc.returncode == 0 and proc.stdout.startswith("OK "), explain(proc)
    # the spelling `backup` works as well as `create`, and list shows both archives
    assert run("backup.py", "backup", cwd=folder, env_file=env_file).returncode == 0
    listed = json.loads(run("backup.py", "list", "--detail", "--json", cwd=folder, env_file=env_file).stdout)
    assert len(listed) == 2 and all(row["status"] == "verified" for row in listed)


WRITER = textwrap.dedent("""
    import sqlite3, sys, time
    from pathlib import Path
    db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    stop, n = Path(sys.argv[2]), 0
    while not stop.exists():
        n += 1
        db.execute("BEGIN IMMEDIATE")
        run_id = db.execute("INSERT INTO runs (job, started_at, status) VALUES ('gitea-kimai', '2024-01-01T00:00:00+00:00', 'ok')").lastrowid
        db.execute("INSERT INTO links (job, source_key, target_type, target_id, state, run_id, created_at, updated_at) "
                   "VALUES ('gitea-kimai', ?, 'activity', ?, 'synced', ?, 'x', 'x')", (f"gitea:acme/load#{n}", n, run_id))
        db.execute("INSERT INTO audit (run_id, job, source_key, action, target_type, target_id, after, at) "
                   "VALUES (?, 'gitea-kimai', ?, 'create', 'activity', ?, '{}', 'x')", (run_id, f"gitea:acme/load#{n}", n))
        db.execute("COMMIT")
        if n == 50:
            Path(sys.argv[2] + ".ready").write_text("go")
""")


def test_backup_taken_while_a_sync_writes_restores_to_a_consistent_store(tmp_path):
    env_file = offline_env(tmp_path)
    db = tmp_path / "sync.db"
    Store(db).close()
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(stop)], env=clean_environ())
    try:
        deadline = time.monotonic() + 20
        while not Path(f"{stop}.ready").exists():
            assert writer.poll() is None and time.monotonic() < deadline, "the writer did not start"
            time.sleep(0.02)
        archives = [
            Path(json.loads(run("backup.py", "create", "--json", cwd=tmp_path, env_file=env_file).stdout)["archive"])
            for _ in range(3)
        ]
    finally:
        stop.write_text("stop")
        writer.wait(timeout=20)
    final = counts(db)
    seen = []
    for archive in archives:
        target = tmp_path / f"restored-{archive.stem}.db"
        proc = run(
            "backup.py", "restore", str(archive), cwd=tmp_path, env_file=env_file, env={"DATABASE_PATH": str(target)}
        )
        assert proc.returncode == 0, explain(proc)
        restored = counts(target)
        # every writer transaction added one row to each table: a torn snapshot would differ
        assert restored["runs"] == restored["links"] == restored["audit"] >= 50
        seen.append(restored["runs"])
    assert seen == sorted(seen) and seen[-1] < final["runs"], "the backups did not overlap the writes"


def test_include_config_keeps_settings_and_drops_every_secret(tmp_path):
    env_file = offline_env(tmp_path)
    env_file.write_text(env_file.read_text() + "# GITEA_TOKEN=an-old-token-123456\n")
    seed_store(tmp_path / "sync.db")
    archive, manifest = create((tmp_path, env_file), "--include-config")
    assert set(manifest["members"]) == {"store.db", "config.env"}
    with zipfile.ZipFile(archive) as zf:
        config = zf.read("config.env").decode()
        everything = b"".join(zf.read(name) for name in zf.namelist())
    assert "GITEA_ORGANIZATION=acme" in config and "GITEA_TOKEN=" in config and "KIMAI_TOKEN=" in config
    for secret in (b"gitea-offline-token-777", b"kimai-offline-token-888", b"an-old-token-123456"):
        assert secret not in everything and secret not in archive.read_bytes()


def test_redact_env_masks_secret_keys_url_passwords_and_unparsable_lines():
    text = 'GITEA_URL=https://bob:hunter22@git.example.com\nKIMAI_TOKEN="abc def"\nbroken line with s3cret\nA_PASSWORD=pw\n'
    out = redact_env(text, secrets=["zzzz"])
    assert "hunter22" not in out and "abc def" not in out and "s3cret" not in out and "=pw" not in out
    assert "git.example.com" in out and "KIMAI_TOKEN=" in out


@pytest.mark.parametrize(
    "name,refused",
    [
        ("store.db", False),
        ("../store.db", True),
        ("/etc/passwd", True),
        ("a/../../b", True),
        ("C:/x", True),
        ("a\\b", True),
    ],
)
def test_member_names(name, refused):
    assert (unsafe_member(name) is not None) == refused


def rebuild(archive, target, change):
    """Copy an archive member by member through `change(members) -> members`."""
    with zipfile.ZipFile(archive) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    members = change(members)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return target


def flip_store_byte(members):
    data = bytearray(members["store.db"])
    data[len(data) // 2] ^= 0xFF
    return {**members, "store.db": bytes(data)}


def newer_schema(members, folder):
    path = folder / "newer.db"
    path.write_bytes(members["store.db"])
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    data = path.read_bytes()
    manifest = json.loads(members["manifest.json"])
    manifest["schema_version"] = SCHEMA_VERSION + 1
    manifest["members"]["store.db"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    return {"manifest.json": json.dumps(manifest).encode(), "store.db": data}


def raw_byte_flip(archive, target):
    data = bytearray(archive.read_bytes())
    start = data.find(b"store.db") + 200  # inside the compressed snapshot
    data[start] ^= 0xFF
    target.write_bytes(bytes(data))
    return target


TAMPERING = {
    "changed byte in the snapshot": lambda a, t, f: rebuild(a, t, flip_store_byte),
    "changed byte in the file": lambda a, t, f: raw_byte_flip(a, t),
    "member with ..": lambda a, t, f: rebuild(a, t, lambda m: {**m, "../evil.db": b"x"}),
    "absolute member": lambda a, t, f: rebuild(a, t, lambda m: {**m, "/tmp/evil.db": b"x"}),
    "newer schema": lambda a, t, f: rebuild(a, t, lambda m: newer_schema(m, f)),
    "not a zip": lambda a, t, f: (t.write_bytes(b"PK\x03\x04 not really"), t)[1],
}


@pytest.mark.parametrize("how", list(TAMPERING))
def test_tampered_archive_is_refused_with_65_and_the_store_untouched(work, how):
    folder, env_file = work
    archive, _ = create(work)
    tampered = TAMPERING[how](archive, folder / "tampered.zip", folder)
    before = store_state(folder / "sync.db")
    for command in ("verify", "restore"):
        proc = run("backup.py", command, str(tampered), cwd=folder, env_file=env_file)
        assert proc.returncode == 65, explain(proc)
        assert proc.stderr.startswith("error: tampered.zip: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert store_state(folder / "sync.db") == before
    assert not (folder / "evil.db").exists() and not Path("/tmp/evil.db").exists()
    assert [p.name for p in (folder / "backups").iterdir()] == [archive.name], "no safety copy for a refused restore"


def test_restore_while_a_sync_holds_the_lock_is_refused_with_75(work):
    folder, env_file = work
    archive, _ = create(work)
    before = store_state(folder / "sync.db")
    with JobLock(str(folder / "sync.db"), "gitea-kimai"):
        proc = run("backup.py", "restore", str(archive), cwd=folder, env_file=env_file)
    assert proc.returncode == 75, explain(proc)
    assert "gitea-kimai" in proc.stderr and proc.stderr.count("\n") == 1
    assert store_state(folder / "sync.db") == before


def test_restore_replaces_the_store_says_what_it_replaced_and_keeps_a_safety_copy(work):
    folder, env_file = work
    db = folder / "sync.db"
    archive, _ = create(work)
    seed_store(db, runs=3)  # the store moves on: 5 runs now
    assert counts(db)["runs"] == 5
    proc = run("backup.py", "restore", str(archive), cwd=folder, env_file=env_file)
    assert proc.returncode == 0, explain(proc)
    assert "replaced" in proc.stdout and "5 runs" in proc.stdout and "2 runs" in proc.stdout
    assert counts(db)["runs"] == 2
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    safety = [p for p in (folder / "backups").iterdir() if "pre-restore" in p.name]
    assert len(safety) == 1 and str(safety[0].name) in proc.stdout
    assert run("backup.py", "verify", str(safety[0]), cwd=folder, env_file=env_file).returncode == 0
    with Store(db) as store:  # the restored store is a working store
        assert len(store.runs()) == 2


def test_restore_over_a_corrupted_store_keeps_its_files(work):
    folder, env_file = work
    archive, _ = create(work)
    (folder / "sync.db").write_bytes(b"garbage" * 1000)
    proc = run("backup.py", "restore", str(archive), cwd=folder, env_file=env_file)
    assert proc.returncode == 0, explain(proc)
    assert counts(folder / "sync.db")["runs"] == 2
    kept = [p for p in (folder / "backups").iterdir() if p.is_dir() and p.name.startswith("pre-restore")]
    assert len(kept) == 1 and (kept[0] / "sync.db").read_bytes() == b"garbage" * 1000


def test_prune_keeps_the_newest(work):
    folder, env_file = work
    made = [create(work)[0] for _ in range(4)]
    proc = run("backup.py", "prune", "--keep", "2", cwd=folder, env_file=env_file)
    assert proc.returncode == 0, explain(proc)
    assert sorted(p.name for p in (folder / "backups").iterdir()) == sorted(p.name for p in made[2:])
    assert run("backup.py", "prune", "--keep", "0", cwd=folder, env_file=env_file).returncode == 2


def test_backup_without_a_store_names_the_key(tmp_path):
    env_file = offline_env(tmp_path)
    proc = run("backup.py", "create", cwd=tmp_path, env_file=env_file)
    assert proc.returncode == 78 and "DATABASE_PATH" in proc.stderr and proc.stderr.count("\n") == 1, explain(proc)
    assert not (tmp_path / "sync.db").exists()


def test_missing_archive_is_one_line(work):
    folder, env_file = work
    proc = run("backup.py", "verify", "nothing.zip", cwd=folder, env_file=env_file)
    assert proc.returncode == 65 and proc.stderr.count("\n") == 1, explain(proc)


def test_backups_during_a_real_sync_restore_to_working_stores(workdir):
    """sync.py writes the store (one commit per item) while backups are taken in a loop."""
    sb = workdir.sandbox
    sb.gitea.add_org("acme")
    sb.gitea.add_repo("acme", "web")
    for n in range(60):
        sb.gitea.add_issue("acme", "web", f"Issue {n}")
    sb.faults.configure(latency_ms=15)
    workdir.set(SYNC_WORKERS="2")
    sync = subprocess.Popen(
        [sys.executable, str(ROOT / "sync.py"), "--env-file", str(workdir.env_file)],
        cwd=workdir.path,
        env=clean_environ(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    archives = []
    while sync.poll() is None:
        if workdir.db.exists():
            proc = workdir.run("backup.py", "create", "--json")
            if proc.returncode == 0:
                archives.append(Path(json.loads(proc.stdout)["archive"]))
        time.sleep(0.05)
    assert sync.returncode == 0, sync.stderr.read()
    assert archives, "no backup was taken while the sync ran"
    final = counts(workdir.db)
    for archive in archives:
        target = workdir.path / f"restored-{archive.stem}.db"
        proc = workdir.run("backup.py", "restore", str(archive), env={"DATABASE_PATH": str(target)})
        assert proc.returncode == 0, explain(proc)
        restored = counts(target)  # integrity_check ok
        assert restored["links"] <= final["links"] and restored["runs"] == 1
        synced = sqlite3.connect(target).execute("SELECT COUNT(*) FROM links WHERE state = 'synced'").fetchone()[0]
        assert synced == restored["audit"], (
            "each synced item commits with its audit event: a snapshot sees both or neither"
        )

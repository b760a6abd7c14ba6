"""The SQLite store: migrations, links, cursors, runs, and a read-only open that changes nothing."""
import hashlib

import pytest

from common.store import SCHEMA_VERSION, Store, StoreError


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_links_move_from_pending_to_synced_or_failed(tmp_path):
    with Store(tmp_path / "s.db") as store:
        run = store.start_run("gitea-kimai", {"full": True})
        store.mark_pending("gitea-kimai", ["gitea:a/b#1"], "activity", run)
        assert store.links("gitea-kimai")["gitea:a/b#1"]["state"] == "pending"
        store.mark_synced("gitea-kimai", "gitea:a/b#1", "activity", 7, "h1", {"name": "x"}, run,
                          audit=("create", None, {"name": "x"}))
        [event] = store.db.execute("SELECT action, after FROM audit").fetchall()
        assert tuple(event) == ("create", '{"name": "x"}')
        store.mark_failed("gitea-kimai", "gitea:a/b#2", "activity", run, "kimai: refused")
        links = store.links("gitea-kimai")
        assert links["gitea:a/b#1"]["target_id"] == 7 and links["gitea:a/b#1"]["data"] == {"name": "x"}
        assert links["gitea:a/b#2"]["state"] == "failed" and links["gitea:a/b#2"]["error"] == "kimai: refused"
        store.finish_run(run, "partial", 3, {"created": 1, "failed": 1, "requests": 9})
        [row] = store.runs("gitea-kimai")
        assert (row["status"], row["created"], row["failed"], row["requests"]) == ("partial", 1, 1, 9)


def test_cursors_and_schema_version(tmp_path):
    with Store(tmp_path / "s.db") as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.cursor("gitea-kimai", "acme/web") is None
        store.set_cursor("gitea-kimai", "acme/web", "2026-01-01T00:00:00Z")
        store.set_cursor("gitea-kimai", "acme/web", "2026-01-02T00:00:00Z")
        assert store.cursor("gitea-kimai", "acme/web") == "2026-01-02T00:00:00Z"


def test_read_only_open_leaves_the_file_untouched_and_refuses_writes(tmp_path):
    path = tmp_path / "s.db"
    with Store(path) as store:
        store.set_cursor("j", "s", "v")
    before = digest(path)
    with Store(path, readonly=True) as store:
        assert store.cursor("j", "s") == "v"
        with pytest.raises(Exception):
            store.set_cursor("j", "s", "w")
    assert digest(path) == before
    assert not (tmp_path / "s.db-wal").exists() or (tmp_path / "s.db-wal").stat().st_size == 0


def test_read_only_open_of_a_missing_store_creates_nothing(tmp_path):
    with Store(tmp_path / "absent.db", readonly=True) as store:
        assert store.links("gitea-kimai") == {}
    assert list(tmp_path.iterdir()) == []


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "s.db"
    with Store(path) as store:
        store.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this tracksync"):
        Store(path)


def test_read_only_open_of_an_older_store_migrates_a_copy_in_memory(tmp_path):
    import sqlite3

    from common.store import MIGRATIONS
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    db.close()
    before = digest(path)
    with Store(path, readonly=True) as store:
        assert store.schema_version == SCHEMA_VERSION and store.imports() == []
    assert digest(path) == before

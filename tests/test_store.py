"""The SQLite store: migrations, links, cursors, runs, and a read-only open that changes nothing."""

import hashlib
import sqlite3

import pytest

from common.store import SCHEMA_VERSION, Store, StoreError


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_links_move_from_pending_to_synced_or_failed(tmp_path):
    with Store(tmp_path / "s.db") as store:
        run = store.start_run("gitea-kimai", {"full": True})
        store.mark_pending("gitea-kimai", ["gitea:a/b#1"], "activity", run)
        assert store.links("gitea-kimai")["gitea:a/b#1"]["state"] == "pending"
        store.mark_synced(
            "gitea-kimai", "gitea:a/b#1", "activity", 7, "h1", {"name": "x"}, run, audit=("create", None, {"name": "x"})
        )
        [event] = store.conn.execute("SELECT action, after FROM audit").fetchall()
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
        with pytest.raises(sqlite3.OperationalError):  # attempt to write a readonly database
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
        store.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
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


def filled(path):
    """A store with two jobs' runs, links in three states, an item error and audit events."""
    store = Store(path)
    first = store.start_run("gitea-kimai", {})
    store.mark_synced(
        "gitea-kimai",
        "gitea:acme/web#1",
        "activity",
        11,
        "h",
        {"name": "50%_off"},
        first,
        audit=("create", None, {"name": "50%_off"}),
    )
    store.mark_synced(
        "gitea-kimai",
        "gitea:acme/web#2",
        "activity",
        12,
        "h",
        {"name": "plain"},
        first,
        audit=("update", {"name": "old"}, {"name": "plain"}),
    )
    store.finish_run(first, "ok", 0, {"created": 1, "updated": 1})
    second = store.start_run("gitea-kimai", {})
    store.mark_failed("gitea-kimai", "gitea:acme/web#3", "activity", second, "kimai: refused")
    store.mark_pending("zammad-kimai", ["zammad:ticket/1/time/1"], "timesheet", second)
    store.finish_run(second, "partial", 3, {"failed": 1})
    return store, first, second


def test_report_queries_read_runs_links_failures_and_audit(tmp_path):
    store, first, second = filled(tmp_path / "s.db")
    with store:
        store.start_run("zammad-kimai", {})
        assert store.jobs_with_runs() == ["gitea-kimai", "zammad-kimai"]
        assert store.last_run("gitea-kimai")["id"] == second and store.last_run("none") is None
        assert store.run(first)["status"] == "ok" and store.run(999) is None
        assert [r["id"] for r in store.runs("gitea-kimai")] == [second, first]
        assert [r["id"] for r in store.runs(since="2000-01-01T00:00:00+00:00", limit=2)] == [second + 1, second]
        assert store.runs(since="2999-01-01T00:00:00+00:00") == []
        assert store.link_states("gitea-kimai") == {"synced": 2, "failed": 1}
        assert store.link_states("zammad-kimai") == {"pending": 1}
        [failed] = store.failed_links()
        assert (failed["source_key"], failed["error"], failed["run_id"]) == (
            "gitea:acme/web#3",
            "kimai: refused",
            second,
        )
        [failure] = store.run_failures(second)
        assert (failure["source_key"], failure["target_type"], failure["message"]) == (
            "gitea:acme/web#3",
            "activity",
            "kimai: refused",
        )
        assert store.run_failures(first) == []


def test_search_links_matches_key_data_error_or_target_id_with_like_wildcards_taken_literally(tmp_path):
    store, _, _ = filled(tmp_path / "s.db")
    with store:
        keys = lambda **kw: [link["source_key"] for link in store.search_links(**kw)]  # noqa: E731
        assert keys(text="50%_") == ["gitea:acme/web#1"] and keys(text="%") == ["gitea:acme/web#1"]
        assert keys(text="12") == ["gitea:acme/web#2"] and keys(text="refused") == ["gitea:acme/web#3"]
        assert keys(job="gitea-kimai", state="synced", limit=1) == ["gitea:acme/web#1"]
        assert store.search_links(state="synced")[0]["data"] == {"name": "50%_off"}
        assert store.search_links(state="pending")[0]["data"] is None


def test_audit_events_decoded_by_item_suffix_and_the_last_ones_oldest_first(tmp_path):
    store, _, _ = filled(tmp_path / "s.db")
    with store:
        events = store.audit_events()
        assert [(e["action"], e["before"], e["after"]) for e in events] == [
            ("create", None, {"name": "50%_off"}),
            ("update", {"name": "old"}, {"name": "plain"}),
        ]
        assert [e["source_key"] for e in store.audit_events(item="acme/web#2")] == ["gitea:acme/web#2"]
        assert store.audit_events(item="web#") == [] and store.audit_events(job="zammad-kimai") == []
        assert [e["action"] for e in store.audit_events(limit=1)] == ["update"]


def test_export_rows_columns_and_table_rows(tmp_path):
    store, _, _ = filled(tmp_path / "s.db")
    with store:
        links = store.export_rows("links")
        assert list(links[0]) == [
            "job",
            "source_key",
            "target_type",
            "target_id",
            "state",
            "source_hash",
            "error",
            "run_id",
            "created_at",
            "updated_at",
        ]
        assert [ln["source_key"] for ln in links][:2] == ["gitea:acme/web#1", "gitea:acme/web#2"]
        assert [r["id"] for r in store.export_rows("runs")] == [1, 2] and len(store.export_rows("audit")) == 2
        assert store.table_columns("cursors") == ["job", "scope", "value", "updated_at"]
        rows = store.table_rows("links")
        assert [r["_rowid"] for r in rows] == [1, 2, 3, 4] and rows[0]["data"] == '{"name": "50%_off"}'
        for bad in ("sqlite_master", "links; DROP TABLE runs"):
            with pytest.raises(ValueError):
                store.table_rows(bad)
            with pytest.raises(ValueError):
                store.export_rows(bad)


def test_purge_person_deletes_the_rows_and_records_one_audit_event_in_one_transaction(tmp_path):
    store, _, _ = filled(tmp_path / "s.db")
    with store:
        counts = store.purge_person("gdpr", "gdpr:abc", {"links": [1, 3], "audit": [1], "item_errors": []})
        assert counts == {"links": 2, "audit": 1, "item_errors": 0}
        assert sorted(store.links("gitea-kimai")) == ["gitea:acme/web#2"]
        [event] = store.audit_events(job="gdpr")
        assert (event["source_key"], event["action"], event["target_type"], event["before"], event["after"]) == (
            "gdpr:abc",
            "purge",
            "person",
            None,
            counts,
        )
        with pytest.raises(ValueError):  # a bad table after a good one: nothing is deleted, nothing audited
            store.purge_person("gdpr", "gdpr:def", {"links": [2], "nonsense": [1]})
        assert sorted(store.links("gitea-kimai")) == ["gitea:acme/web#2"] and len(store.audit_events(job="gdpr")) == 1


def test_exclusive_holds_off_other_writers_and_rolls_back_on_an_error(tmp_path):
    import sqlite3

    path = tmp_path / "s.db"
    store, _, _ = filled(path)
    with store:
        with pytest.raises(RuntimeError):
            with store.exclusive():
                store.purge_person("gdpr", "gdpr:abc", {"links": [1]})  # inside exclusive: committed at its end
                raise RuntimeError("after the purge")
        assert len(store.links("gitea-kimai")) == 3 and store.audit_events(job="gdpr") == []
        with pytest.raises(ValueError):
            with store.exclusive():
                store.purge_person("gdpr", "gdpr:abc", {"links": [1], "nonsense": [1]})
        assert len(store.links("gitea-kimai")) == 3 and store.audit_events(job="gdpr") == []
        other = sqlite3.connect(path, timeout=0)
        with store.exclusive():
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("INSERT INTO cursors VALUES ('j', 's', 'v', 'now')")
            store.purge_person("gdpr", "gdpr:abc", {"links": [2]})
            assert len(store.links("gitea-kimai")) == 2
        other.execute("INSERT INTO cursors VALUES ('j', 's', 'v', 'now')")
        other.commit()
        other.close()
        assert len(store.links("gitea-kimai")) == 2 and store.cursor("j", "s") == "v"
        assert len(store.audit_events(job="gdpr")) == 1


def test_store_files_copy_describe_and_the_write_ahead_log(tmp_path):
    from common.store_files import checkpoint_wal, copy_store_file, describe_store_file, set_wal_mode

    path, copy = tmp_path / "s.db", tmp_path / "copy.db"
    store, _, second = filled(path)
    with store:
        copy_store_file(path, copy)
    info = describe_store_file(copy, ("runs", "links", "audit", "webhook"))
    with Store(copy, readonly=True) as snapshot:
        started = snapshot.run(second)["started_at"]
    assert info == {
        "schema_version": SCHEMA_VERSION,
        "integrity": "ok",
        "counts": {"runs": 2, "links": 4, "audit": 2},
        "last_run": started,
    }
    assert not (tmp_path / "copy.db-wal").exists()
    set_wal_mode(copy)
    with Store(copy) as again:
        again.set_cursor("j", "s", "v")
        assert (tmp_path / "copy.db-wal").exists()
        checkpoint_wal(copy)
        assert (tmp_path / "copy.db-wal").stat().st_size == 0
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    checkpoint_wal(tmp_path / "junk.db")  # nothing, no error


def test_store_file_answers_the_database_checks_questions(tmp_path):
    import sqlite3

    from common.store_files import StoreFile

    path = tmp_path / "s.db"
    store, _, second = filled(path)
    with store:
        store.start_run("zammad-kimai", {})
    with StoreFile(path) as file:
        assert file.integrity_problems(20) == ["ok"] and file.schema_version() == SCHEMA_VERSION
        assert file.journal_mode() == "wal" and {"runs", "links", "audit"} <= file.tables()
        assert file.pending_links() == {"zammad-kimai": 1} and file.failed_links() == 1
        assert file.unfinished_runs() == [(second + 1, "zammad-kimai")] and file.count("links") == 4
        assert file.last_run_start() is not None
    with pytest.raises(sqlite3.Error):
        StoreFile(tmp_path / "absent.db")
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    with StoreFile(tmp_path / "junk.db") as junk, pytest.raises(sqlite3.DatabaseError):
        junk.integrity_problems(20)

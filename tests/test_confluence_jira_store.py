"""The store's part for confluence-jira (migration 6): a task's row pending before its create
with the time of the latest send, linked afterwards; the pages read; the page writes undo needs."""

import sqlite3
import time

from common.store import Store
from common.store_schema import MIGRATIONS, SCHEMA_VERSION


def test_a_schema_5_store_gains_the_tables_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript("".join(MIGRATIONS[:5]) + "; PRAGMA user_version = 5;")
    db.execute("INSERT INTO runs (job, started_at, status) VALUES ('gitea-kimai', '2026-01-01', 'ok')")
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION >= 6
        assert store.task_issues() == {} and store.confluence_pages() == {} and store.page_writes(1) == []
        assert len(store.runs()) == 1


def test_pending_then_linked_and_each_send_restarts_the_lag_clock(tmp_path):
    with Store(tmp_path / "s.db") as store:
        first = store.mark_issue_pending("confluence-task-7-1", "7", "1", 1)
        row = store.task_issues()["confluence-task-7-1"]
        assert row["state"] == "pending" and row["sent_at"] == first and row["issue_key"] is None
        time.sleep(1.1)
        second = store.mark_issue_pending("confluence-task-7-1", "7", "1", 2)
        assert second > first  # a new send: JIRA_SEARCH_LAG counts from it
        store.save_issue_link(
            "confluence-task-7-1",
            {
                "page_id": "7",
                "task_id": "1",
                "issue_id": "10001",
                "issue_key": "OPS-1",
                "created_run": 2,
                "task_complete": 0,
            },
        )
        row = store.task_issues(["confluence-task-7-1"])["confluence-task-7-1"]
        assert row["state"] == "linked" and row["sent_at"] is None and row["issue_key"] == "OPS-1"
        assert row["task_complete"] is False and row["on_page"] is False
        store.update_issue_link("confluence-task-7-1", on_page=1, issue_status="To Do", issue_done=0)
        assert store.task_issues()["confluence-task-7-1"]["on_page"] is True
        assert [r["origin"] for r in store.issues_created_by(2)] == ["confluence-task-7-1"]
        store.drop_issue_links(["confluence-task-7-1"])
        assert store.task_issues() == {}


def test_page_writes_for_undo(tmp_path):
    with Store(tmp_path / "s.db") as store:
        store.record_page_write(3, "7", "Minutes", 4, "<p>before</p>", 5)
        (write,) = store.page_writes(3)
        assert (write["version_before"], write["body_before"], write["version_written"]) == (4, "<p>before</p>", 5)
        store.mark_page_write_undone(write["id"], 9)
        assert store.page_writes(3) == [] and store.page_writes(3, include_undone=True)[0]["undone_run"] == 9

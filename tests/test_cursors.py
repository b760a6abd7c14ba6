"""Import cursors come from the server's clock and a window never moves them past what it did
not read (toggl-kimai, harvest-kimai end to end against the sandbox; the Date header unit)."""

from datetime import UTC, datetime, timedelta

import pytest
import requests

from common.http import response_date
from common.store import Store

HOUR = 3600


def markers(sb, prefix):
    return sorted(
        (s.get("description") or "").split("\n")[0]
        for s in sb.kimai.timesheets
        if (s.get("description") or "").startswith(prefix)
    )


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def toggl_entry(sb, project, start, text):
    return sb.toggl.add_entry(start, start + timedelta(minutes=30), description=text, project_id=project["id"])


def test_toggl_window_then_plain_run_imports_an_entry_dated_after_to(iwork):
    sb = iwork.sandbox
    project = sb.toggl.add_project("Website", client_name="Acme Corp")
    sb.toggl.clock.skew(-2 * HOUR)  # both entries were last changed two hours ago
    inside = toggl_entry(sb, project, utc(2026, 11, 2, 8), "inside the window")
    after = toggl_entry(sb, project, utc(2026, 11, 9, 8), "after --to")
    sb.toggl.clock.skew(0)
    iwork.sync("toggl-kimai", "--from", "2026-11-01", "--to", "2026-11-03", "--create-missing", check_code=0)
    assert markers(sb, "toggl:") == [f"toggl:{inside['id']}"]
    with Store(iwork.db) as store:  # the window created no change cursor: it did not read past --to
        assert store.cursor("toggl-kimai", "entries") is None
    iwork.sync("toggl-kimai", "--create-missing", check_code=0)
    assert markers(sb, "toggl:") == sorted([f"toggl:{inside['id']}", f"toggl:{after['id']}"])
    with Store(iwork.db) as store:  # now the plain run read everything from the floor on
        assert store.cursor("toggl-kimai", "entries")
    sb.clear_requests()
    iwork.sync("toggl-kimai", check_code=0)  # incremental from here: since=, nothing to write
    reads = [r for r in sb.requests if r.service == "toggl" and r.path.endswith("/time_entries")]
    assert [list(r.query) for r in reads] == [["since"]]
    assert not [r for r in sb.requests if r.service == "kimai" and r.method != "GET"]


def test_window_after_the_cursor_exists_leaves_it_alone(iwork):
    sb = iwork.sandbox
    project = sb.toggl.add_project("Website")
    toggl_entry(sb, project, utc(2026, 11, 2, 8), "one")
    iwork.sync("toggl-kimai", "--from", "2026-11-01", "--to", "2026-11-03", "--create-missing", check_code=0)
    iwork.sync("toggl-kimai", check_code=0)
    with Store(iwork.db) as store:
        cursor = store.cursor("toggl-kimai", "entries")
    iwork.sync("toggl-kimai", "--from", "2026-10-01", "--to", "2026-10-03", check_code=0)
    with Store(iwork.db) as store:
        assert store.cursor("toggl-kimai", "entries") == cursor


def test_toggl_client_clock_ahead_loses_no_change_made_right_after_a_run(iwork):
    """A client clock 10 minutes ahead of Toggl's is the same as Toggl's clock 10 minutes behind."""
    sb = iwork.sandbox
    sb.toggl.clock.skew(-600)
    project = sb.toggl.add_project("Website")
    entry = toggl_entry(sb, project, utc(2026, 11, 2, 8), "before")
    iwork.sync("toggl-kimai", "--from", "2026-11-01", "--to", "2026-11-03", "--create-missing", check_code=0)
    iwork.sync("toggl-kimai", check_code=0)  # creates the cursor
    with Store(iwork.db) as store:
        cursor = int(store.cursor("toggl-kimai", "entries"))
    assert cursor <= sb.toggl.clock.wall() - 300  # Toggl's time, not the client's
    sb.toggl.edit_entry(entry["id"], description="changed right after the run")
    iwork.sync("toggl-kimai", check_code=0)
    [sheet] = sb.kimai.timesheets
    assert sheet["description"].endswith("changed right after the run")


def harvest_setup(sb):
    client = sb.harvest.add_client("Globex")
    return sb.harvest.add_project("Support", client["id"]), sb.harvest.add_task("Calls")


def test_harvest_window_then_plain_run_imports_an_entry_dated_after_to(iwork):
    sb = iwork.sandbox
    project, task = harvest_setup(sb)
    sb.harvest.clock.skew(-2 * HOUR)
    inside = sb.harvest.add_entry("2026-11-02", 1, project["id"], task["id"], notes="inside")
    after = sb.harvest.add_entry("2026-11-09", 1, project["id"], task["id"], notes="after --to")
    sb.harvest.clock.skew(0)
    iwork.sync("harvest-kimai", "--from", "2026-11-01", "--to", "2026-11-03", "--create-missing", check_code=0)
    assert markers(sb, "harvest:") == [f"harvest:{inside['id']}"]
    iwork.sync("harvest-kimai", "--create-missing", check_code=0)
    assert markers(sb, "harvest:") == sorted([f"harvest:{inside['id']}", f"harvest:{after['id']}"])


def test_harvest_client_clock_ahead_loses_no_change_made_right_after_a_run(iwork):
    sb = iwork.sandbox
    sb.harvest.clock.skew(-600)
    project, task = harvest_setup(sb)
    entry = sb.harvest.add_entry("2026-11-02", 1, project["id"], task["id"], notes="before")
    iwork.sync("harvest-kimai", "--from", "2026-11-01", "--to", "2026-11-03", "--create-missing", check_code=0)
    iwork.sync("harvest-kimai", check_code=0)
    with Store(iwork.db) as store:
        cursor = datetime.fromisoformat(store.cursor("harvest-kimai", "entries"))
    assert cursor.timestamp() <= sb.harvest.clock.wall() - 300
    sb.harvest.edit_entry(entry["id"], notes="changed right after the run")
    iwork.sync("harvest-kimai", check_code=0)
    [sheet] = sb.kimai.timesheets
    assert sheet["description"].endswith("changed right after the run")


def test_sandbox_date_header_follows_the_skewed_service_clock(sandbox):
    sandbox.toggl.clock.skew(-3 * HOUR)
    answer = requests.get(f"{sandbox.url('toggl')}/api/v9/me", auth=(sandbox.toggl.token, "api_token"), timeout=5)
    seen = response_date(answer)
    assert seen is not None and abs((datetime.now(UTC) - seen) - timedelta(hours=3)) < timedelta(seconds=5)


@pytest.mark.parametrize("value", [None, "", "yesterday", "Mon, 99 Foo 2026 10:00:00 GMT"])
def test_response_date_unusable_is_none(value):
    answer = requests.Response()
    if value is not None:
        answer.headers["Date"] = value
    assert response_date(answer) is None

"""Deletions at the source that a read proves: a complete read of a date range (a Toggl window,
Harvest pages followed to their end) lists every entry dated in it, so a linked entry dated
inside that did not come back was deleted; IMPORT_DELETE_POLICY applies to it as to the deletions
Toggl reports on `since`. A read that was cut (MAX_PAGES, a failed page) or that does not cover the
entry's day proves nothing. End to end: sync.py against the sandbox's Toggl, Harvest and Kimai."""

from datetime import UTC, datetime, timedelta

import pytest

from common.store import Store

TOGGL, HARVEST = "toggl-kimai", "harvest-kimai"


def kimai_writes(sb):
    return [(r.method, r.path) for r in sb.requests if r.service == "kimai" and r.method in ("POST", "PATCH", "DELETE")]


def links(workdir, job):
    with Store(workdir.db) as store:
        return {key: link["state"] for key, link in store.links(job, "timesheet").items()}


def sheet_of(sb, key):
    return next(s for s in sb.kimai.timesheets if (s.get("description") or "").split("\n")[0] == key)


def seed_toggl(sb, days=(2, 3)):
    """Two entries a day on 2026-11-02 and 03 (08:00 and 09:00 UTC, Europe/Berlin users)."""
    project = sb.toggl.add_project("Website", client_name="Acme Corp")
    entries = []
    for day in days:
        for hour in (8, 9):
            start = datetime(2026, 11, day, hour, tzinfo=UTC)
            entries.append(sb.toggl.add_entry(start, start + timedelta(minutes=30), project_id=project["id"]))
    return entries


WINDOW = ("--from", "2026-11-01", "--to", "2026-11-03")


@pytest.mark.parametrize("policy", ["report", "delete"])
def test_toggl_window_read_again_finds_an_entry_deleted_in_it(iwork, policy):
    sb = iwork.sandbox
    entries = seed_toggl(sb)
    iwork.sync(TOGGL, *WINDOW, "--create-missing", check_code=0)
    gone = f"toggl:{entries[1]['id']}"
    sheet = sheet_of(sb, gone)
    iwork.set(IMPORT_DELETE_POLICY=policy)
    sb.toggl.delete_entry(entries[1]["id"])
    sb.clear_requests()
    proc = iwork.sync(TOGGL, *WINDOW, check_code=0)
    if policy == "delete":
        assert kimai_writes(sb) == [("DELETE", f"/api/timesheets/{sheet['id']}")]
        assert links(iwork, TOGGL)[gone] == "deleted" and len(sb.kimai.timesheets) == 3
    else:
        assert f"{gone}: deleted in toggl" in proc.stderr, proc.stderr
        assert kimai_writes(sb) == [] and links(iwork, TOGGL)[gone] == "orphaned"
        again = iwork.sync(TOGGL, *WINDOW, check_code=0)  # reported once
        assert "deleted in toggl" not in again.stderr
    others = {k: v for k, v in links(iwork, TOGGL).items() if k != gone}
    assert set(others.values()) == {"synced"} and len(others) == 3


def test_toggl_window_proves_nothing_about_entries_dated_outside_it(iwork):
    sb = iwork.sandbox
    entries = seed_toggl(sb)
    iwork.set(IMPORT_DELETE_POLICY="delete")
    iwork.sync(TOGGL, *WINDOW, "--create-missing", check_code=0)
    sb.clear_requests()
    proc = iwork.sync(TOGGL, "--from", "2026-11-03", "--to", "2026-11-04", check_code=0)  # 02 is not read
    assert kimai_writes(sb) == [] and "deleted" not in proc.stderr
    assert set(links(iwork, TOGGL).values()) == {"synced"} and len(sb.kimai.timesheets) == len(entries)
    # the edge: Toggl reads days of its user's zone (Europe/Berlin); 2026-11-02 23:30 there is 22:30 UTC
    late = sb.toggl.add_entry(
        datetime(2026, 11, 2, 22, 30, tzinfo=UTC),
        datetime(2026, 11, 2, 22, 45, tzinfo=UTC),
        description="late",
        project_id=entries[0]["project_id"],
    )
    iwork.sync(TOGGL, *WINDOW, check_code=0)
    sb.toggl.delete_entry(late["id"])
    sb.clear_requests()
    iwork.sync(TOGGL, "--from", "2026-11-03", "--to", "2026-11-04", check_code=0)
    assert kimai_writes(sb) == [] and links(iwork, TOGGL)[f"toggl:{late['id']}"] == "synced"
    iwork.sync(TOGGL, "--from", "2026-11-02", "--to", "2026-11-02", check_code=0)
    assert links(iwork, TOGGL)[f"toggl:{late['id']}"] == "deleted"


def seed_harvest(sb, days=("2026-11-02", "2026-11-03")):
    client = sb.harvest.add_client("Globex")
    project = sb.harvest.add_project("Support contract", client["id"])
    task = sb.harvest.add_task("Support")
    return [
        sb.harvest.add_entry(day, 1.0, project["id"], task["id"], notes=f"{day} {n}") for day in days for n in range(3)
    ]


HARVEST_WINDOW = ("--from", "2026-11-01", "--to", "2026-11-03")


@pytest.mark.parametrize("policy", ["report", "delete"])
def test_harvest_window_followed_to_its_last_page_finds_an_entry_deleted_in_it(iwork, policy):
    sb = iwork.sandbox
    entries = seed_harvest(sb)
    sb.harvest.page_cap = 2  # three pages, followed by links.next
    iwork.sync(HARVEST, *HARVEST_WINDOW, "--create-missing", check_code=0)
    assert len(sb.kimai.timesheets) == 6
    gone = f"harvest:{entries[5]['id']}"  # the day's last: no other entry moves
    sheet = sheet_of(sb, gone)
    sb.harvest.delete_entry(entries[5]["id"])
    iwork.set(IMPORT_DELETE_POLICY=policy)
    sb.clear_requests()
    proc = iwork.sync(HARVEST, *HARVEST_WINDOW, check_code=0)
    reads = [r for r in sb.requests if r.service == "harvest" and r.path.endswith("/time_entries")]
    assert len(reads) == 3, reads
    if policy == "delete":
        assert kimai_writes(sb) == [("DELETE", f"/api/timesheets/{sheet['id']}")]
        assert links(iwork, HARVEST)[gone] == "deleted"
    else:
        assert f"{gone}: deleted in harvest" in proc.stderr, proc.stderr
        assert kimai_writes(sb) == [] and links(iwork, HARVEST)[gone] == "orphaned"
    assert sorted(links(iwork, HARVEST).values()).count("synced") == 5


def test_harvest_read_cut_by_max_pages_or_a_failed_page_proves_no_deletion(iwork):
    sb = iwork.sandbox
    entries = seed_harvest(sb)
    sb.harvest.page_cap = 2
    iwork.set(IMPORT_DELETE_POLICY="delete")
    iwork.sync(HARVEST, *HARVEST_WINDOW, "--create-missing", check_code=0)
    for entry in entries:  # every entry is gone from Harvest; three new ones, two pages
        sb.harvest.delete_entry(entry["id"])
    project, task = entries[0]["project"]["id"], entries[0]["task"]["id"]
    for day in ("2026-11-03", "2026-11-03", "2026-11-02"):
        sb.harvest.add_entry(day, 1.0, project, task, notes="new")
    sb.clear_requests()
    proc = iwork.sync(HARVEST, *HARVEST_WINDOW, "--max-pages", "1", check_code=0)
    assert "MAX_PAGES reached" in proc.stderr
    assert [m for m, _ in kimai_writes(sb)] == ["POST", "POST"] and set(links(iwork, HARVEST).values()) == {"synced"}
    sb.harvest.failing_page = 2
    sb.clear_requests()
    failed = iwork.sync(HARVEST, *HARVEST_WINDOW, check_code=69)
    assert "harvest" in failed.stderr.lower() and "Traceback" not in failed.stderr
    assert not [w for w in kimai_writes(sb) if w[0] == "DELETE"]
    assert set(links(iwork, HARVEST).values()) == {"synced"}
    sb.harvest.failing_page = None
    iwork.sync(HARVEST, *HARVEST_WINDOW, check_code=0)  # read whole now: the six are gone
    states = links(iwork, HARVEST)
    assert sorted(states.values()).count("deleted") == 6 and len(sb.kimai.timesheets) == 3


def test_harvest_incremental_read_concludes_nothing(iwork):
    """updated_since lists changes, not a date range: an entry missing from it is not deleted."""
    sb = iwork.sandbox
    seed_harvest(sb)
    iwork.set(IMPORT_DELETE_POLICY="delete")
    iwork.sync(HARVEST, *HARVEST_WINDOW, "--create-missing", check_code=0)
    iwork.sync(HARVEST, check_code=0)  # from the floor on: the cursor
    sb.clear_requests()
    iwork.sync(HARVEST, check_code=0)  # updated_since: nothing changed, nothing came back
    assert kimai_writes(sb) == [] and set(links(iwork, HARVEST).values()) == {"synced"}

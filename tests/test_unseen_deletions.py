"""A source item that disappears is seen whatever its link's state: a link kept after a conflict
settled for Kimai, or reported once under `report` and the policy switched to `delete`
(zammad-kimai and toggl-kimai end to end against the sandbox)."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

from common.store import Store

ZAMMAD = "zammad-kimai"


def seed_ticket(sb, entries=2):
    org = sb.zammad.add_organization("Acme Corp")
    ticket = sb.zammad.add_ticket("Printer broken", organization_id=org["id"])
    for _ in range(entries):
        sb.zammad.add_time_accounting(ticket["id"], 15)
    return ticket


def kimai_writes(sb):
    return [(r.method, r.path) for r in sb.requests if r.service == "kimai" and r.method in ("POST", "PATCH", "DELETE")]


def link_state(workdir, job, key):
    with Store(workdir.db) as store:
        return store.links(job)[key]["state"]


def edit_in_kimai(sb, sheet, text):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sb.tokens['kimai']}"
    session.patch(
        f"{sb.url('kimai')}/api/timesheets/{sheet['id']}",
        json={"description": sheet["description"] + "\n" + text, "exported": False},
    ).raise_for_status()


def keep_kimai_edit(zwork, ticket):
    """One entry synced, then edited in Kimai only: the edit stands, the link is kept."""
    sb = zwork.sandbox
    zwork.sync(ZAMMAD, check_code=0)
    entry = sb.zammad.time_accountings[0]
    key = f"zammad:ticket/{ticket['id']}/time/{entry['id']}"
    sheet = next(s for s in sb.kimai.timesheets if s["description"].startswith(key + "\n") or s["description"] == key)
    edit_in_kimai(sb, sheet, "billed to Globex")
    proc = zwork.sync(ZAMMAD, "--full", check_code=0)
    assert "edited in Kimai" in proc.stderr and link_state(zwork, ZAMMAD, key) == "kept"
    return entry, key, sheet


@pytest.mark.parametrize("policy", ["report", "delete"])
def test_zammad_kept_link_whose_entry_is_deleted_follows_the_policy(zwork, policy):
    sb = zwork.sandbox
    ticket = seed_ticket(sb)
    entry, key, sheet = keep_kimai_edit(zwork, ticket)
    zwork.set(ZAMMAD_DELETE_POLICY=policy)
    sb.zammad.delete_time_accounting(ticket["id"], entry["id"])
    sb.clear_requests()
    proc = zwork.sync(ZAMMAD, check_code=0)
    if policy == "delete":
        assert kimai_writes(sb) == [("DELETE", f"/api/timesheets/{sheet['id']}")]
        assert link_state(zwork, ZAMMAD, key) == "deleted"
    else:
        assert "deleted in Zammad" in proc.stderr, proc.stderr
        assert kimai_writes(sb) == [] and link_state(zwork, ZAMMAD, key) == "orphaned"
        assert any(s["id"] == sheet["id"] for s in sb.kimai.timesheets)


def test_zammad_kept_link_after_resolve_keep_kimai_is_deleted_with_full(zwork):
    sb = zwork.sandbox
    ticket = seed_ticket(sb, entries=1)
    zwork.sync(ZAMMAD, check_code=0)
    [entry] = sb.zammad.time_accountings
    [sheet] = sb.kimai.timesheets
    edit_in_kimai(sb, sheet, "edited in Kimai")
    sb.zammad.edit_time_accounting(ticket["id"], entry["id"], time_unit="30.0")
    zwork.sync(ZAMMAD, check_code=0)  # changed on both sides: a conflict
    [conflict] = json.loads(zwork.sync("conflicts", "--json", check_code=0).stdout)
    zwork.sync("resolve", str(conflict["id"]), "--keep", "kimai", check_code=0)
    key = f"zammad:ticket/{ticket['id']}/time/{entry['id']}"
    assert link_state(zwork, ZAMMAD, key) == "kept"
    zwork.set(ZAMMAD_DELETE_POLICY="delete")
    sb.zammad.delete_time_accounting(ticket["id"], entry["id"])
    sb.clear_requests()
    zwork.sync(ZAMMAD, "--full", check_code=0)
    assert kimai_writes(sb) == [("DELETE", f"/api/timesheets/{sheet['id']}")] and sb.kimai.timesheets == []


def test_zammad_entry_reported_under_report_is_deleted_once_the_policy_is_delete(zwork):
    sb = zwork.sandbox
    ticket = seed_ticket(sb, entries=2)
    zwork.sync(ZAMMAD, check_code=0)
    first = sb.zammad.time_accountings[0]
    key = f"zammad:ticket/{ticket['id']}/time/{first['id']}"
    sb.zammad.delete_time_accounting(ticket["id"], first["id"])
    proc = zwork.sync(ZAMMAD, check_code=0)
    assert "deleted in Zammad" in proc.stderr and len(sb.kimai.timesheets) == 2
    assert link_state(zwork, ZAMMAD, key) == "orphaned"
    again = zwork.sync(ZAMMAD, check_code=0)  # reported once
    assert "deleted in Zammad" not in again.stderr
    zwork.set(ZAMMAD_DELETE_POLICY="delete")
    sb.clear_requests()
    zwork.sync(ZAMMAD, check_code=0)  # the ticket did not change since: the link alone says it is gone
    assert [m for m, _ in kimai_writes(sb)] == ["DELETE"] and len(sb.kimai.timesheets) == 1
    assert link_state(zwork, ZAMMAD, key) == "deleted"
    sb.clear_requests()
    zwork.sync(ZAMMAD, check_code=0)
    assert kimai_writes(sb) == []


@pytest.fixture
def iwork(workdir):
    env = workdir.sandbox.env(owner="acme")
    workdir.set(**{k: env[k] for k in ("TOGGL_URL", "TOGGL_TOKEN", "TOGGL_WORKSPACE")})
    return workdir


def test_toggl_entry_reported_under_report_is_deleted_once_the_policy_is_delete(iwork):
    sb = iwork.sandbox
    project = sb.toggl.add_project("Website", client_name="Acme Corp")
    day = datetime(2026, 11, 2, 8, tzinfo=UTC)
    entries = [
        sb.toggl.add_entry(day + timedelta(hours=n), day + timedelta(hours=n, minutes=30), project_id=project["id"])
        for n in range(2)
    ]
    iwork.sync("toggl-kimai", "--from", "2026-11-01", "--to", "2026-11-03", "--create-missing", check_code=0)
    iwork.sync("toggl-kimai", check_code=0)  # the change cursor
    sb.toggl.delete_entry(entries[0]["id"])
    key = f"toggl:{entries[0]['id']}"
    proc = iwork.sync("toggl-kimai", check_code=0)
    assert "deleted in toggl" in proc.stderr and link_state(iwork, "toggl-kimai", key) == "orphaned"
    with Store(iwork.db) as store:  # Toggl no longer lists the deletion on `since` after this
        store.set_cursor("toggl-kimai", "entries", str(int(sb.toggl.clock.wall())))
    iwork.set(IMPORT_DELETE_POLICY="delete")
    sb.clear_requests()
    iwork.sync("toggl-kimai", check_code=0)
    assert [m for m, _ in kimai_writes(sb)] == ["DELETE"] and len(sb.kimai.timesheets) == 1
    assert link_state(iwork, "toggl-kimai", key) == "deleted"


def test_toggl_deleted_entry_whose_link_failed_is_still_seen(iwork):
    """A link left `failed` (an update refused) whose entry is then deleted in Toggl: reported."""
    sb = iwork.sandbox
    project = sb.toggl.add_project("Website")
    day = datetime(2026, 11, 2, 8, tzinfo=UTC)
    entry = sb.toggl.add_entry(day, day + timedelta(minutes=30), project_id=project["id"])
    iwork.sync("toggl-kimai", "--from", "2026-11-01", "--to", "2026-11-03", "--create-missing", check_code=0)
    iwork.sync("toggl-kimai", check_code=0)
    key = f"toggl:{entry['id']}"
    with Store(iwork.db) as store:
        store.conn.execute("UPDATE links SET state = 'failed' WHERE source_key = ?", (key,))
        store.conn.commit()
    sb.toggl.delete_entry(entry["id"])
    proc = iwork.sync("toggl-kimai", check_code=0)
    assert "deleted in toggl" in proc.stderr and link_state(iwork, "toggl-kimai", key) == "orphaned"


def test_an_entry_gone_from_both_sides_is_settled_once_and_never_looked_up_again(zwork):
    sb = zwork.sandbox
    ticket = seed_ticket(sb, entries=1)
    zwork.set(ZAMMAD_DELETE_POLICY="delete")
    zwork.sync(ZAMMAD, check_code=0)
    [entry] = sb.zammad.time_accountings
    key = f"zammad:ticket/{ticket['id']}/time/{entry['id']}"
    [sheet] = sb.kimai.timesheets
    session = requests.Session()  # removed by hand in Kimai ...
    session.headers["Authorization"] = f"Bearer {sb.tokens['kimai']}"
    session.delete(f"{sb.url('kimai')}/api/timesheets/{sheet['id']}").raise_for_status()
    assert sb.kimai.timesheets == []
    sb.zammad.delete_time_accounting(ticket["id"], entry["id"])  # ... and deleted in Zammad
    sb.clear_requests()
    zwork.sync(ZAMMAD, check_code=0)
    assert link_state(zwork, ZAMMAD, key) == "deleted" and kimai_writes(sb) == []
    sb.zammad.add_time_accounting(ticket["id"], 15)  # the ticket changes again: its entries are read
    sb.clear_requests()
    zwork.sync(ZAMMAD, check_code=0)
    assert not [r for r in sb.requests if r.service == "kimai" and r.path == f"/api/timesheets/{sheet['id']}"]

"""zammad-kimai end to end: sync.py as a subprocess against the sandbox's Zammad and Kimai."""

import json
from collections import Counter
from datetime import UTC, datetime

import pytest
import requests
from sync_json import flat_summary

JOB = ["zammad-kimai"]


@pytest.fixture
def zwork(zwork):
    """conftest's zammad-kimai work folder, with SYNC_JOBS=zammad-kimai (run_sync.sh)."""
    zwork.set(SYNC_JOBS="zammad-kimai")
    return zwork


def seed_tickets(sb, tickets=3, entries=2, organization="Acme Corp", minutes=15):
    org = sb.zammad.add_organization(organization)
    made = []
    for n in range(tickets):
        ticket = sb.zammad.add_ticket(f"Printer {n} broken", organization_id=org["id"])
        for _ in range(entries):
            sb.zammad.add_time_accounting(ticket["id"], minutes)
        made.append(ticket)
    return made


def marked(sb):
    """marker -> list of Kimai timesheets carrying it."""
    index = {}
    for sheet in sb.kimai.timesheets:
        index.setdefault((sheet.get("description") or "").split("\n")[0], []).append(sheet)
    return index


def assert_one_timesheet_per_entry(sb):
    index = marked(sb)
    expected = {f"zammad:ticket/{e['ticket_id']}/time/{e['id']}" for e in sb.zammad.time_accountings}
    duplicates = {k: len(v) for k, v in index.items() if len(v) > 1}
    assert not duplicates, duplicates
    assert set(index) == expected


def kimai_writes(sb):
    return [(r.method, r.path) for r in sb.requests if r.service == "kimai" and r.method in ("POST", "PATCH", "DELETE")]


def kimai_api(sb):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sb.tokens['kimai']}"
    return session, f"{sb.url('kimai')}/api"


def test_first_run_over_more_than_one_search_page_then_unchanged(zwork):
    sb = zwork.sandbox
    seed_tickets(sb, tickets=205, entries=1)
    proc = zwork.sync(*JOB, "--json", check_code=0)
    assert flat_summary(proc)["created"] == 205
    assert_one_timesheet_per_entry(sb)
    searches = [r for r in sb.requests if r.path.endswith("/tickets/search")]
    assert len(searches) == 2  # 200 + 5: paged until a short page, no total asked
    sheet = sb.kimai.timesheets[0]
    assert "zammad" in sheet["tags"] and sheet["description"].split("\n")[1].startswith("#")
    sb.clear_requests()
    summary = flat_summary(zwork.sync(*JOB, "--json", check_code=0))
    assert kimai_writes(sb) == [] and summary["created"] == summary["updated"] == 0
    assert sb.count() == 2, [(r.method, r.path) for r in sb.requests]  # the two search pages, nothing else


def test_dst_entry_lands_at_the_right_local_time(zwork):
    sb = zwork.sandbox
    ticket = seed_tickets(sb, tickets=1, entries=0)[0]
    # 00:30 UTC on 2026-03-29, the day Europe/Berlin springs forward at 01:00 UTC
    sb.zammad.add_time_accounting(ticket["id"], 90, created_at=datetime(2026, 3, 29, 0, 30, tzinfo=UTC))
    zwork.sync(*JOB, "--full", check_code=0)
    [sheet] = sb.kimai.timesheets
    assert sheet["begin"] == "2026-03-29T01:30:00+0100"
    assert sheet["end"] == "2026-03-29T04:00:00+0200"
    assert sheet["duration"] == 90 * 60


def test_time_unit_hours_and_project_per_organisation(zwork):
    sb = zwork.sandbox
    zwork.set(ZAMMAD_TIME_UNIT="hours")
    seed_tickets(sb, tickets=2, entries=1, organization="Globex", minutes=1.5)
    zwork.sync(*JOB, check_code=0)
    assert {s["duration"] for s in sb.kimai.timesheets} == {90 * 60}
    assert [c["name"] for c in sb.kimai.customers] == ["Globex"]
    assert sorted(p["name"] for p in sb.kimai.projects) == sorted(
        f"#{t['number']} {t['title']}" for t in sb.zammad.tickets
    )


def test_changed_entry_updates_its_timesheet_once(zwork):
    sb = zwork.sandbox
    [ticket] = seed_tickets(sb, tickets=1, entries=2)
    zwork.sync(*JOB, check_code=0)
    entry = sb.zammad.time_accountings[0]
    sb.zammad.edit_time_accounting(ticket["id"], entry["id"], time_unit="45.0")
    sb.clear_requests()
    summary = flat_summary(zwork.sync(*JOB, "--json", check_code=0))
    assert summary["updated"] == 1 and Counter(m for m, _ in kimai_writes(sb)) == {"PATCH": 1}
    sheet = marked(sb)[f"zammad:ticket/{ticket['id']}/time/{entry['id']}"][0]
    assert sheet["duration"] == 45 * 60


def test_edit_on_both_sides_is_a_conflict_then_resolved_with_one_write(zwork):
    sb = zwork.sandbox
    [ticket] = seed_tickets(sb, tickets=1, entries=1)
    zwork.sync(*JOB, check_code=0)
    [entry] = sb.zammad.time_accountings
    [sheet] = sb.kimai.timesheets
    session, base = kimai_api(sb)  # a person changes the description in Kimai
    session.patch(
        f"{base}/timesheets/{sheet['id']}",
        json={"description": sheet["description"] + "\nbilled to Globex", "billable": True, "exported": False},
    ).raise_for_status()
    sb.zammad.edit_time_accounting(ticket["id"], entry["id"], time_unit="30.0")  # and Zammad changes the duration
    sb.clear_requests()
    proc = zwork.sync(*JOB, check_code=0)
    assert kimai_writes(sb) == []
    assert "conflict" in proc.stderr
    listed = json.loads(zwork.sync("conflicts", "--json", check_code=0).stdout)
    assert len(listed) == 1 and listed[0]["source_key"] == f"zammad:ticket/{ticket['id']}/time/{entry['id']}"
    shown = zwork.sync("conflicts", check_code=0, env={"KIMAI_TIMEZONE": "Europe/Berlin"}).stdout
    assert "end: kimai '" in shown and "(Europe/Berlin) / source '" in shown  # a wall-clock time names its zone
    zwork.sync(*JOB, check_code=0)  # still one open conflict, still no write
    assert len(json.loads(zwork.sync("conflicts", "--json").stdout)) == 1 and kimai_writes(sb) == []
    proc = zwork.sync("resolve", str(listed[0]["id"]), "--keep", "zammad", check_code=0)
    assert kimai_writes(sb) == [("PATCH", f"/api/timesheets/{sheet['id']}")]
    assert sb.kimai.timesheets[0]["duration"] == 30 * 60
    assert json.loads(zwork.sync("conflicts", "--json").stdout) == []
    sb.clear_requests()
    zwork.sync(*JOB, check_code=0)
    assert kimai_writes(sb) == []


def test_an_edit_in_kimai_only_is_kept_and_accepted_so_a_later_zammad_change_overwrites_it(zwork):
    """keep is recorded (link kept, holding Kimai's values): the next change in Zammad is an
    update, not a conflict with the person's edit that was already accepted."""
    sb = zwork.sandbox
    [ticket] = seed_tickets(sb, tickets=1, entries=1)
    zwork.sync(*JOB, check_code=0)
    [entry] = sb.zammad.time_accountings
    [sheet] = sb.kimai.timesheets
    session, base = kimai_api(sb)
    session.patch(
        f"{base}/timesheets/{sheet['id']}",
        json={"description": sheet["description"] + "\nbilled to Globex", "billable": True, "exported": False},
    ).raise_for_status()
    sb.clear_requests()
    proc = zwork.sync(*JOB, "--full", check_code=0)
    assert kimai_writes(sb) == [] and "edited in Kimai" in proc.stderr
    sb.zammad.edit_time_accounting(ticket["id"], entry["id"], time_unit="30.0")
    summary = flat_summary(zwork.sync(*JOB, "--json", check_code=0))
    assert summary["updated"] == 1 and summary["conflicts"] == 0
    assert kimai_writes(sb) == [("PATCH", f"/api/timesheets/{sheet['id']}")]
    assert json.loads(zwork.sync("conflicts", "--json").stdout) == []


def test_unmapped_activity_or_agent_fails_alone_exit_3(zwork):
    sb = zwork.sandbox
    zwork.set(ZAMMAD_DEFAULT_ACTIVITY="", ZAMMAD_ACTIVITY_MAP="Billable=Support")
    billable = sb.zammad.add_type("Billable")
    other = sb.zammad.add_type("Travel")
    [ticket] = seed_tickets(sb, tickets=1, entries=0)
    sb.zammad.add_time_accounting(ticket["id"], 10, type_id=billable["id"])
    sb.zammad.add_time_accounting(ticket["id"], 20, type_id=other["id"])
    proc = zwork.sync(*JOB, check_code=3)
    assert "activity type 'Travel' is not in ZAMMAD_ACTIVITY_MAP" in proc.stderr
    assert len(sb.kimai.timesheets) == 1


def test_deleted_entry_is_reported_or_deleted(zwork):
    sb = zwork.sandbox
    [ticket] = seed_tickets(sb, tickets=1, entries=2)
    zwork.sync(*JOB, check_code=0)
    first = sb.zammad.time_accountings[0]
    sb.zammad.delete_time_accounting(ticket["id"], first["id"])
    proc = zwork.sync(*JOB, check_code=0)
    assert "deleted in Zammad" in proc.stderr and len(sb.kimai.timesheets) == 2
    second = sb.zammad.time_accountings[0]
    sb.zammad.delete_time_accounting(ticket["id"], second["id"])
    zwork.set(ZAMMAD_DELETE_POLICY="delete")
    sb.clear_requests()
    zwork.sync(*JOB, check_code=0)  # the one reported before goes too, now the policy is delete
    assert [m for m, _ in kimai_writes(sb)] == ["DELETE", "DELETE"]
    assert len(sb.kimai.timesheets) == 0


def test_dry_run_plans_and_writes_nothing(zwork):
    sb = zwork.sandbox
    seed_tickets(sb, tickets=2, entries=2)
    proc = zwork.sync(*JOB, "--dry-run", check_code=0)
    assert sum(line.strip().startswith("create #") for line in proc.stdout.splitlines()) == 4
    assert kimai_writes(sb) == [] and not zwork.db.exists()


def test_store_deleted_and_faults_never_duplicate(zwork):
    sb = zwork.sandbox
    seed_tickets(sb, tickets=12, entries=3)
    sb.faults.configure(error_rate=0.05, rate_429=0.05, drop_rate=0.05, commit_drop_rate=0.05, retry_after=0, seed=11)
    codes = []
    for _ in range(6):
        codes.append(zwork.sync(*JOB).returncode)
        if codes[-1] == 0:
            break
    sb.faults.reset()
    assert codes[-1] == 0, codes
    assert_one_timesheet_per_entry(sb)
    for suffix in ("", "-wal", "-shm"):
        (zwork.path / f"sync.db{suffix}").unlink(missing_ok=True)
    sb.clear_requests()
    zwork.sync(*JOB, check_code=0)
    assert [m for m, _ in kimai_writes(sb)] == []
    assert_one_timesheet_per_entry(sb)


def test_sigkill_mid_run_then_converges_without_duplicates(zwork):
    sb = zwork.sandbox
    seed_tickets(sb, tickets=40, entries=5)
    zwork.set(SYNC_WORKERS="2")
    sb.faults.configure(latency_ms=10)
    assert zwork.kill_runs(*JOB, pause=(0.5, 1.0)) >= 2
    sb.faults.reset()
    zwork.sync(*JOB, check_code=0)
    assert_one_timesheet_per_entry(sb)


def test_every_write_is_in_the_audit_log(zwork):
    sb = zwork.sandbox
    [ticket] = seed_tickets(sb, tickets=1, entries=1)
    zwork.sync(*JOB, check_code=0)
    [entry] = sb.zammad.time_accountings
    sb.zammad.edit_time_accounting(ticket["id"], entry["id"], time_unit="20.0")
    zwork.sync(*JOB, check_code=0)
    events = json.loads(zwork.run("report.py", "audit", "--job", "zammad-kimai", "--json", check_code=0).stdout)
    actions = [e["action"] for e in events if e["target_type"] == "timesheet"]
    assert sorted(actions) == ["create", "update"]
    update = next(e for e in events if e["action"] == "update")
    assert update["run"] and update["before"]["end"] != update["after"]["end"]

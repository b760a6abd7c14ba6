"""toggl-kimai and harvest-kimai end to end against the sandbox's Toggl, Harvest and Kimai."""

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

from sync_json import flat_summary

from common.store import Store


def by_marker(sb, prefix):
    found = Counter((s.get("description") or "").split("\n")[0] for s in sb.kimai.timesheets)
    return {k: n for k, n in found.items() if k.startswith(prefix)}


def kimai_writes(sb):
    return [(r.method, r.path) for r in sb.requests if r.service == "kimai" and r.method in ("POST", "PATCH", "DELETE")]


def utc(*args):
    return datetime(*args, tzinfo=UTC)


DAY = utc(2026, 11, 2, 8, 0)


def seed_toggl(sb, count=5, day=DAY):
    project = sb.toggl.add_project("Website", client_name="Acme Corp")
    entries = []
    for n in range(count):
        start = day + timedelta(hours=n)
        entries.append(
            sb.toggl.add_entry(
                start,
                start + timedelta(minutes=45),
                description=f"Task {n}",
                project_id=project["id"],
                tags=("dev",),
                billable=True,
            )
        )
    return project, entries


def test_toggl_window_import_then_reimport_makes_no_write(iwork):
    sb = iwork.sandbox
    _, entries = seed_toggl(sb)
    sb.toggl.add_entry(utc(2026, 11, 2, 16, 0), None, description="still running")
    proc = iwork.sync(
        "toggl-kimai", "--from", "2026-11-01", "--to", "2026-11-03", "--create-missing", "--json", check_code=0
    )
    summary = flat_summary(proc)
    assert summary["created"] == 5 and summary["skipped"] == 1
    assert by_marker(sb, "toggl:") == {f"toggl:{e['id']}": 1 for e in entries}
    sheet = sb.kimai.timesheets[0]
    assert "import" in sheet["tags"] and "dev" in sheet["tags"] and sheet["duration"] == 45 * 60
    assert [c["name"] for c in sb.kimai.customers] == ["Acme Corp"] and [p["name"] for p in sb.kimai.projects] == [
        "Website"
    ]
    sb.clear_requests()
    summary = flat_summary(
        iwork.sync("toggl-kimai", "--from", "2026-11-01", "--to", "2026-11-03", "--json", check_code=0)
    )
    assert kimai_writes(sb) == [] and summary["unchanged"] == 5
    history = json.loads(iwork.run("report.py", "imports", "--json", check_code=0).stdout)
    assert [h["status"] for h in history] == ["ok", "ok"] and history[1]["created"] == 5 and history[1]["skipped"] == 1


def test_toggl_spring_forward_entry_lands_at_0330_local(iwork):
    sb = iwork.sandbox
    project = sb.toggl.add_project("Ops")
    sb.toggl.add_entry(utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2, 0), project_id=project["id"])
    iwork.sync("toggl-kimai", "--from", "2026-03-28", "--to", "2026-03-30", "--create-missing", check_code=0)
    [sheet] = sb.kimai.timesheets
    assert sheet["begin"] == "2026-03-29T03:30:00+0200"


def test_toggl_quota_exhausted_mid_import_exits_75_then_resumes(iwork):
    sb = iwork.sandbox
    seed_toggl(sb, count=4)
    sb.toggl.set_quota(1)
    proc = iwork.sync("toggl-kimai", "--from", "2026-11-01", "--to", "2026-11-03", "--create-missing")
    assert proc.returncode == 75 and "rate limited" in proc.stderr, proc.stderr
    sb.toggl.set_quota(None)
    iwork.sync("toggl-kimai", "--from", "2026-11-01", "--to", "2026-11-03", "--create-missing", check_code=0)
    assert set(by_marker(sb, "toggl:").values()) == {1} and len(by_marker(sb, "toggl:")) == 4


def test_toggl_incremental_updates_changes_and_reports_or_deletes_deleted(iwork):
    sb = iwork.sandbox
    _, entries = seed_toggl(sb, count=3)
    iwork.sync("toggl-kimai", "--from", "2026-11-01", "--to", "2026-11-03", "--create-missing", check_code=0)
    iwork.sync("toggl-kimai", check_code=0)  # incremental from the cursor the first import left
    sb.toggl.edit_entry(entries[0]["id"], description="Renamed task")
    sb.toggl.delete_entry(entries[1]["id"])
    sb.clear_requests()
    proc = iwork.sync("toggl-kimai", check_code=0)
    assert [m for m, _ in kimai_writes(sb)] == ["PATCH"]
    assert "deleted in toggl" in proc.stderr and len(sb.kimai.timesheets) == 3
    gone = f"toggl:{entries[1]['id']}"
    with Store(iwork.db) as store:  # reported once: the link is orphaned, its hash and data kept
        links = store.links("toggl-kimai")
    assert links[gone]["state"] == "orphaned" and links[gone]["target_id"] and links[gone]["source_hash"]
    assert links[gone]["data"]["description"].startswith(gone)
    again = flat_summary(iwork.sync("toggl-kimai", "--json", check_code=0))  # Toggl still lists it deleted
    assert again.get("deleted_in_source", 0) == 0 and again["warnings"] == []
    iwork.set(IMPORT_DELETE_POLICY="delete")
    sb.toggl.delete_entry(entries[2]["id"])
    sb.clear_requests()
    iwork.sync("toggl-kimai", check_code=0)  # the one reported before goes too, now the policy is delete
    assert [m for m, _ in kimai_writes(sb)] == ["DELETE", "DELETE"] and len(sb.kimai.timesheets) == 1


def test_unmapped_project_is_reported_and_skipped_exit_3(iwork):
    sb = iwork.sandbox
    seed_toggl(sb, count=2)
    proc = iwork.sync("toggl-kimai", "--from", "2026-11-01", "--to", "2026-11-03")
    assert proc.returncode == 3 and "Kimai has no project 'Website'" in proc.stderr
    assert sb.kimai.timesheets == []
    customer = sb.kimai.add_customer("Acme Corp")
    project = sb.kimai.add_project("Web site (Kimai)", customer["id"])
    sb.kimai.add_activity("Work", None)
    map_file = iwork.path / "import.map"
    map_file.write_text("project:Website=Web site (Kimai)\n")
    iwork.set(IMPORT_MAP=str(map_file))
    iwork.sync("toggl-kimai", "--from", "2026-11-01", "--to", "2026-11-03", check_code=0)
    assert {s["project"] for s in sb.kimai.timesheets} == {project["id"]}


def test_toggl_dry_run_writes_nothing(iwork):
    sb = iwork.sandbox
    seed_toggl(sb, count=2)
    proc = iwork.sync(
        "toggl-kimai", "--from", "2026-11-01", "--to", "2026-11-03", "--create-missing", "--dry-run", check_code=0
    )
    assert sum(ln.strip().startswith("create toggl") for ln in proc.stdout.splitlines()) == 2
    assert kimai_writes(sb) == [] and not iwork.db.exists()


def test_harvest_2500_entries_two_pages_exactly_once(iwork):
    sb = iwork.sandbox
    client = sb.harvest.add_client("Globex")
    project = sb.harvest.add_project("Support contract", client["id"])
    task = sb.harvest.add_task("Support")
    first_day = datetime(2026, 9, 1).date()
    for n in range(2500):  # 28 quarter hours a day over 90 days
        sb.harvest.add_entry(
            (first_day + timedelta(days=n % 90)).isoformat(), 0.25, project["id"], task["id"], notes=f"call {n}"
        )
    iwork.set(SYNC_WORKERS="8")
    proc = iwork.sync(
        "harvest-kimai", "--from", "2026-09-01", "--to", "2026-11-30", "--create-missing", "--json", check_code=0
    )
    assert flat_summary(proc)["created"] == 2500
    reads = [r for r in sb.requests if r.service == "harvest" and r.path.endswith("/time_entries")]
    assert len(reads) == 2
    markers = by_marker(sb, "harvest:")
    assert len(markers) == 2500 and set(markers.values()) == {1}
    # entries of a day without times are laid end to end from 09:00
    day = sorted((s for s in sb.kimai.timesheets if s["begin"].startswith("2026-10-05")), key=lambda s: s["begin"])
    assert day[0]["begin"] == "2026-10-05T09:00:00+0200" and day[1]["begin"] == "2026-10-05T09:15:00+0200"
    sb.clear_requests()
    iwork.sync("harvest-kimai", "--from", "2026-09-01", "--to", "2026-11-30", check_code=0)
    assert kimai_writes(sb) == []


def test_harvest_started_and_ended_times_and_headers(iwork):
    sb = iwork.sandbox
    client = sb.harvest.add_client("Initech")
    project = sb.harvest.add_project("TPS reports", client["id"])
    task = sb.harvest.add_task("Writing")
    sb.harvest.add_entry("2026-11-10", 1.5, project["id"], task["id"], started_time="1:30pm", ended_time="3:00pm")
    iwork.sync("harvest-kimai", "--from", "2026-11-10", "--to", "2026-11-10", "--create-missing", check_code=0)
    [sheet] = sb.kimai.timesheets
    assert sheet["begin"] == "2026-11-10T13:30:00+0100" and sheet["end"] == "2026-11-10T15:00:00+0100"
    request = next(r for r in sb.requests if r.service == "harvest")
    assert request.headers.get("Harvest-Account-Id") and "tracksync" in request.headers.get("User-Agent", "")

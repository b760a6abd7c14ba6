"""Imports stream: a CSV file is checked in a first pass that keeps no row, then imported batch by
batch from a second; Harvest pages are imported as they come. What a batch holds is bounded (the
peak memory figures are in bench/csv_import.py and bench/imports.py); here: the batches behave as
one run (each container created once, every row once, a re-run writes nothing) and really
interleave reads and writes."""

import json
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from ops_helpers import invoke
from sync_json import flat_summary

from common.errors import DataError
from common.jobs import csv_file, imports
from common.jobs.csv_file import check_file, file_digest, valid_rows
from common.jobs.csv_rows import decode

BERLIN = ZoneInfo("Europe/Berlin")
HEADER = "date,begin,end,project,activity,customer,description"


def csv_rows(count, first=date(2026, 3, 2)):
    """`count` one-hour rows, four a day, over two projects of two customers."""
    rows = []
    for n in range(count):
        day = first + timedelta(days=n // 4)
        hour = 9 + n % 4
        customer, project = ("Acme Corp", "Website") if n % 2 else ("Globex", "Support")
        rows.append(f"{day},{hour:02d}:00,{hour + 1:02d}:00,{project},Development,{customer},item {n}")
    return rows


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(imports, "BATCH", 3)
    monkeypatch.setattr(csv_file, "BATCH", 3)


def sync_in_process(workdir, *args):
    return invoke("sync.py", *args, cwd=workdir.path, env_file=workdir.env_file)


def test_a_csv_imported_in_batches_creates_each_container_once_and_every_row_once(workdir, small_batches):
    sb = workdir.sandbox
    sb.kimai.add_activity("Development", None)
    lines = csv_rows(10)
    lines.insert(4, "2026-03-31,25:00,10:00,Website,Development,Acme Corp,bad time")
    lines.insert(7, lines[1])  # a duplicate of the second row
    (workdir.path / "hours.csv").write_text(
        "\ufeff" + HEADER.replace(",", ";") + "\n" + "\n".join(line.replace(",", ";") for line in lines) + "\n",
        encoding="utf-8",
    )
    refused = sync_in_process(workdir, "csv-kimai", "hours.csv", "--create-missing")
    assert refused.returncode == 65 and "line 6: begin '25:00'" in refused.stderr, refused.stderr
    assert "line 9: duplicate of line 3" in refused.stderr and sb.count(service="kimai", writes=True) == 0
    sb.clear_requests()
    proc = sync_in_process(workdir, "csv-kimai", "hours.csv", "--create-missing", "--skip-invalid", "--json")
    assert proc.returncode == 3, proc.stderr
    summary = flat_summary(proc)
    assert summary["created"] == 10 and summary["customers_created"] == 2 and summary["projects_created"] == 2
    assert len(sb.kimai.timesheets) == 10 and len(sb.kimai.customers) == 2 and len(sb.kimai.projects) == 2
    kimai = [(r.method, r.path) for r in sb.requests if r.service == "kimai" and r.path.endswith("/timesheets")]
    first_post = kimai.index(("POST", "/api/timesheets"))
    assert ("GET", "/api/timesheets") in kimai[first_post:], kimai  # a later batch read after the first writes
    assert [r.method for r in sb.requests if r.service == "kimai" and r.path.endswith("/customers")].count("POST") == 2
    sb.clear_requests()
    again = flat_summary(sync_in_process(workdir, "csv-kimai", "hours.csv", "--skip-invalid", "--json"))
    assert again["unchanged"] == 10 and again["created"] == 0 and sb.count(service="kimai", writes=True) == 0


def test_a_dry_run_in_batches_lists_each_container_once(workdir, small_batches):
    sb = workdir.sandbox
    sb.kimai.add_activity("Development", None)
    (workdir.path / "hours.csv").write_text(HEADER + "\n" + "\n".join(csv_rows(8)) + "\n")
    proc = sync_in_process(workdir, "csv-kimai", "hours.csv", "--create-missing", "--dry-run", "--json")
    summary = flat_summary(proc)
    assert summary["created"] == 8 and summary["customers_created"] == 2 and summary["projects_created"] == 2
    assert sb.count(service="kimai", writes=True) == 0 and sb.kimai.timesheets == []


def test_a_file_changed_between_the_check_and_the_import_stops_rather_than_import_an_unchecked_row(tmp_path):
    path = tmp_path / "hours.csv"
    path.write_text(HEADER + "\n" + "\n".join(csv_rows(4)) + "\n")
    checked = check_file(path, BERLIN, None)
    assert len(checked.first_line_of) == 4 and checked.errors == []
    path.write_text(HEADER + "\n" + "\n".join(csv_rows(3) + ["2026-03-03,09:00,10:00,Other,Dev,,new"]) + "\n")
    with pytest.raises(DataError, match="line 5 changed while the file was imported"):
        list(valid_rows(path, BERLIN, None, checked))


def test_the_first_pass_names_a_byte_that_is_not_utf8_and_an_empty_file(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"\xef\xbb\xbf" + HEADER.encode() + b"\n2026-03-02,09:00,10:00,Caf\xe9,Dev,,x\n")
    data = path.read_bytes()
    with pytest.raises(DataError, match=r"not UTF-8 \(byte 80\)"):  # after the BOM, as decode() counts
        decode(data, "latin.csv")
    with pytest.raises(DataError, match=r"not UTF-8 \(byte 80\)"):
        file_digest(path)
    path.write_bytes(b"\xef\xbb\xbf \n\n")
    with pytest.raises(DataError, match="the file is empty"):
        file_digest(path)


def test_harvest_pages_are_imported_as_they_come(iwork, small_batches):
    """Batches are planned and written while the next pages are still to be read (a page's last
    day waits for the next page, where it may go on), so a long window is never held whole."""
    workdir, sb = iwork, iwork.sandbox
    client = sb.harvest.add_client("Globex")
    project = sb.harvest.add_project("Support contract", client["id"])
    task = sb.harvest.add_task("Support")
    days = ("2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05")
    for day in days:
        for n in range(2):
            sb.harvest.add_entry(day, 1.0, project["id"], task["id"], notes=f"{day} {n}")
    sb.harvest.page_cap = 2
    proc = sync_in_process(workdir, "harvest-kimai", "--from", "2026-11-01", "--to", "2026-11-06", "--create-missing")
    assert proc.returncode == 0, proc.stderr
    order = [
        (r.service, r.method, r.path)
        for r in sb.requests
        if r.path.endswith("/time_entries") or (r.service == "kimai" and r.method == "POST" and "timesheets" in r.path)
    ]
    pages = [i for i, (service, _, _) in enumerate(order) if service == "harvest"]
    writes = [i for i, (service, _, _) in enumerate(order) if service == "kimai"]
    assert len(pages) == 4 and len(writes) == 8, order
    assert writes[0] < pages[-1], order  # written before the last page was read
    starts = sorted((s["begin"][:10], s["begin"][11:16]) for s in sb.kimai.timesheets)
    assert starts == [(d, t) for d in days for t in ("09:00", "10:00")]


@pytest.mark.parametrize("body", [{"time_entries": {"id": 7}}, {"entries": []}, []])
def test_a_harvest_page_of_another_shape_is_the_servers_fault(body):
    """A page without its list of entries: the shared pager makes the KeyError or TypeError one
    clear error (69), never a crash; each entry is then checked against the client's ENTRY shape
    (tests/test_hostile_data.py)."""
    from common.clients.harvest import entries_of

    with pytest.raises((KeyError, TypeError)):
        entries_of(body)
    assert entries_of({"time_entries": [{"id": 7, "spent_date": "2026-11-02"}]}) == [
        {"id": 7, "spent_date": "2026-11-02"}
    ]


def test_harvest_changes_stream_and_lay_an_untimed_entrys_whole_day_out_again(iwork):
    """A plain run reads the entries updated since its cursor page by page; an untimed entry that
    changed moves the untimed entries after it on its day, so that day is read whole (one window
    read over the untimed days) and its other entries follow; a timed change on another day
    needs no such read of its day."""
    workdir, sb = iwork, iwork.sandbox
    client = sb.harvest.add_client("Globex")
    project = sb.harvest.add_project("Support contract", client["id"])
    task = sb.harvest.add_task("Support")
    day = [sb.harvest.add_entry("2026-11-02", 1.0, project["id"], task["id"], notes=f"n{n}") for n in range(3)]
    timed = sb.harvest.add_entry(
        "2026-11-05", 1.0, project["id"], task["id"], notes="timed", started_time="14:00", ended_time="15:00"
    )
    sb.harvest.page_cap = 2
    window = ("--from", "2026-11-01", "--to", "2026-11-06")
    workdir.sync("harvest-kimai", *window, "--create-missing", check_code=0)
    workdir.sync("harvest-kimai", check_code=0)  # from the floor on: the cursor
    sb.harvest.edit_entry(day[0]["id"], hours=2.0)
    sb.harvest.edit_entry(timed["id"], ended_time="16:00")
    sb.clear_requests()
    summary = flat_summary(workdir.sync("harvest-kimai", "--json", check_code=0))
    assert summary["updated"] == 4 and summary["created"] == 0, summary
    reads = [r.query for r in sb.requests if r.service == "harvest" and r.path.endswith("/time_entries")]
    assert [("updated_since" in q, q.get("from"), q.get("to")) for q in reads if q["page"] == ["1"]] == [
        (True, None, None),
        (False, ["2026-11-02"], ["2026-11-02"]),
    ], reads
    spans = sorted((s["begin"][:16], s["end"][:16]) for s in sb.kimai.timesheets)
    assert spans == [
        ("2026-11-02T09:00", "2026-11-02T11:00"),
        ("2026-11-02T11:00", "2026-11-02T12:00"),
        ("2026-11-02T12:00", "2026-11-02T13:00"),
        ("2026-11-05T14:00", "2026-11-05T16:00"),
    ]


def test_an_env_file_given_as_the_csv_is_refused_without_repeating_its_lines(workdir):
    """The configuration file passed by mistake: one line naming the problem, exit 65, and none
    of its values (tokens) on stdout, stderr, the log or the store, in any case."""
    secret = "Zq9-SecretTokenValue-4711"
    (workdir.path / "oops.env").write_text(f"KIMAI_TOKEN={secret}\nKIMAI_URL=http://127.0.0.1:1\n")
    proc = workdir.sync("csv-kimai", "oops.env", check_code=65)
    assert "reads like KEY=value configuration" in proc.stderr, proc.stderr
    everything = proc.stdout + proc.stderr
    for path in workdir.path.rglob("*"):
        if path.is_file() and path.name != "oops.env":
            everything += path.read_bytes().decode("utf-8", "replace")
    assert secret.lower() not in everything.lower() and "127.0.0.1:1" not in proc.stderr


def test_a_lost_store_links_every_row_by_marker_in_batches_and_warns_of_a_double_once(workdir, small_batches):
    sb = workdir.sandbox
    sb.kimai.add_activity("Development", None)
    (workdir.path / "hours.csv").write_text(HEADER + "\n" + "\n".join(csv_rows(8)) + "\n")
    assert sync_in_process(workdir, "csv-kimai", "hours.csv", "--create-missing").returncode == 0
    first = sb.kimai.timesheets[0]
    sb.kimai.add_timesheet(
        first["project"], first["activity"], first["begin"][:19], first["end"][:19], description=first["description"]
    )
    workdir.db.unlink()  # the store is lost
    sb.clear_requests()
    proc = sync_in_process(workdir, "csv-kimai", "hours.csv", "--json")
    summary = flat_summary(proc)
    assert summary["created"] == 0 and summary["unchanged"] == 8 and sb.count(service="kimai", writes=True) == 0
    marker = first["description"].split("\n")[0]
    warnings = [w for w in json.loads(proc.stdout)["jobs"][0]["warnings"] if marker in w]
    assert warnings == [f"2 Kimai timesheets carry {marker}; see report.py reconcile"], warnings


def test_rows_out_of_date_order_are_imported_in_batches_of_one_month(workdir, small_batches, monkeypatch):
    """A file in no date order: each batch holds rows of one month, so the Kimai timesheets a
    batch reads (its days and a week either side) stay few; at most HELD_BATCHES x BATCH rows wait."""
    monkeypatch.setattr(imports, "HELD_BATCHES", 2)
    sb = workdir.sandbox
    sb.kimai.add_activity("Development", None)
    rows = [
        f"2026-{month:02d}-{day:02d},09:00,10:00,Website,Development,Acme Corp,{month}/{day}"
        for day in (3, 10, 17)
        for month in (1, 4, 7, 10)
    ]
    (workdir.path / "hours.csv").write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    sb.clear_requests()
    proc = sync_in_process(workdir, "csv-kimai", "hours.csv", "--create-missing", "--json")
    assert flat_summary(proc)["created"] == 12 and len(sb.kimai.timesheets) == 12
    spans = [
        (date.fromisoformat(r.query["begin"][0][:10]), date.fromisoformat(r.query["end"][0][:10]))
        for r in sb.requests
        if r.service == "kimai" and r.method == "GET" and r.path == "/api/timesheets"
    ]
    assert spans and all(end - begin <= timedelta(days=31) for begin, end in spans), spans

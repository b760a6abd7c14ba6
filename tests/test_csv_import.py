"""csv-kimai: the row parser (fast, no I/O) and the job end to end (sync.py as a subprocess
against the sandbox's Kimai, whose user works in Europe/Berlin)."""

import hashlib
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sync_json import flat_summary

from common.errors import DataError, UsageError
from common.jobs.csv_file import parse_file
from common.jobs.csv_rows import TEMPLATE, check_date_format, decode

BERLIN = ZoneInfo("Europe/Berlin")
HEADER = "date,begin,end,duration,project,activity,customer,description,tags,billable,user"


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def parse(*rows, header=HEADER, date_format=None):
    return parse_file("\n".join([header, *rows]) + "\n", BERLIN, date_format)


def errors(*rows, **kw):
    return dict(parse(*rows, **kw).errors)


# -- the row parser ----------------------------------------------------------------------------
def test_durations_h_mm_and_decimal_hours_give_the_same_entry():
    a, b, c = parse(
        "2026-03-31,09:00,,1:30,Web,Dev,,,,,",
        "2026-03-31,09:00,,1.5,Web,Dev,,x,,,",
        "2026-03-31,09:00,10:30,,Web,Dev,,y,,,",
    ).rows
    assert a.begin == utc(2026, 3, 31, 7) and a.end == b.end == c.end == utc(2026, 3, 31, 8, 30)
    assert parse('2026-03-31,09:00,,"0,25",Web,Dev,,,,,').rows[0].end == utc(2026, 3, 31, 7, 15)
    assert parse("2026-03-31,09:00,,1:30:30,Web,Dev,,,,,").rows[0].end == utc(2026, 3, 31, 8, 30, 30)


@pytest.mark.parametrize(
    "duration, message",
    [
        ("1:75", "duration '1:75' is not H:MM or decimal hours"),
        ("1h", "duration '1h' is not H:MM or decimal hours"),
        ("0:00", "duration '0:00' is zero"),
        ("25", "duration '25' is longer than 24 hours"),
    ],
)
def test_bad_durations_are_named(duration, message):
    assert errors(f"2026-03-31,09:00,,{duration},Web,Dev,,,,,") == {2: message}


def test_end_before_begin_is_the_next_day_and_equal_is_refused():
    [row] = parse("2026-03-31,22:00,02:00,,Web,Dev,,,,,").rows
    assert row.end - row.begin == timedelta(hours=4) and row.end == utc(2026, 4, 1, 0)
    [row] = parse("2026-03-31,22:00,24:00,,Web,Dev,,,,,").rows
    assert row.end == utc(2026, 3, 31, 22)
    assert errors("2026-03-31,09:00,09:00,,Web,Dev,,,,,") == {2: "end 09:00 equals begin: the entry would last no time"}


def test_end_and_duration_must_agree():
    assert parse("2026-03-31,09:00,10:30,1.5,Web,Dev,,,,,").rows
    assert errors("2026-03-31,09:00,10:30,2:00,Web,Dev,,,,,") == {2: "end 10:30 and duration 2:00 disagree"}


def test_a_local_time_that_does_not_exist_is_refused_with_its_line():
    found = errors("2026-03-29,01:00,01:45,,Web,Dev,,,,,", "2026-03-29,02:30,,1:00,Web,Dev,,,,,")
    assert found == {3: "begin 2026-03-29 02:30 does not exist in Europe/Berlin (clocks go forward)"}
    [row] = parse("2026-03-29,01:30,03:30,,Web,Dev,,,,,").rows  # across the jump: one real hour
    assert row.end - row.begin == timedelta(hours=1)


def test_dates_iso_by_default_ambiguous_refused_format_explicit():
    assert "ambiguous" in errors("03/04/2026,09:00,,1,Web,Dev,,,,,")[2]
    assert "pass --date-format" in errors("03/04/2026,09:00,,1,Web,Dev,,,,,")[2]
    assert "is not YYYY-MM-DD: pass --date-format" in errors("31/03/2026,09:00,,1,Web,Dev,,,,,")[2]
    assert "not a day of the calendar" in errors("2026-02-30,09:00,,1,Web,Dev,,,,,")[2]
    [row] = parse("03/04/2026,09:00,,1,Web,Dev,,,,,", date_format="%d/%m/%Y").rows
    assert row.begin == utc(2026, 4, 3, 7)
    assert (
        "does not match --date-format %m/%d/%Y" in errors("31/03/2026,09:00,,1,Web,Dev,,,,,", date_format="%m/%d/%Y")[2]
    )
    check_date_format("%d.%m.%Y")
    with pytest.raises(UsageError, match="day, month and year"):
        check_date_format("%d/%m")


def test_marker_ignores_line_order_format_and_spacing_and_duplicates_are_refused():
    first = parse("2026-03-31,09:00,10:30,,Web,Dev,Acme,Call,b;a,yes,", "2026-04-01,09:00,,2,Web,Dev,,,,,").rows
    again = parse(
        "01.04.2026 ; 09:00 ; 11:00 ; ; Web ; Dev ; ; ; ; ;",
        '31.03.2026; 09:00:00; ; 1:30; Web;  Dev; Acme; Call ; "a ; b";true;',
        header=HEADER.replace(",", " ; ").upper(),
        date_format="%d.%m.%Y",
    ).rows
    assert {r.key for r in first} == {r.key for r in again} and len({r.key for r in first}) == 2
    assert all(r.key.startswith("csv:") and len(r.key) == 20 for r in first)
    assert errors("2026-03-31,09:00,10:30,,Web,Dev,,,,,", "2026-03-31,09:00,,1.5,Web,Dev,,,,,") == {
        3: "duplicate of line 2 (same date, times, project, activity, customer, description, tags, billable and user)"
    }
    changed = parse("2026-03-31,09:00,10:30,,Web,Dev,Acme,Call,b;a,no,").rows[0]
    assert changed.key != first[0].key


def test_values_tags_billable_user_and_every_problem_of_a_row():
    [row] = parse('2026-03-31,09:00,10:00,,Web,Dev,Acme, " two\r\nlines ",dev; dev ;;ops,NO,kim@example.com').rows
    assert (row.description, row.tags, row.billable, row.user, row.customer) == (
        "two\nlines",
        ("dev", "ops"),
        False,
        "kim@example.com",
        "Acme",
    )
    assert parse("2026-03-31,09:00,10:00,,Web,Dev,,,,,").rows[0].billable is True
    found = errors('2026-03-31,9.00,,,,Dev,,,"a,b",maybe,')[2]
    assert found == (
        "begin '9.00' is not HH:MM or HH:MM:SS; needs an end or a duration; project is empty; "
        "tag 'a,b' contains ','; separate tags with ';'; billable 'maybe' is not true/false, yes/no or 1/0"
    )


def test_line_numbers_count_blank_lines_and_quoted_newlines():
    found = errors(
        '2026-03-31,09:00,10:00,,Web,Dev,,"a\nb",,,',
        "",
        "2026-03-31,09:00,10:00,,,Dev,,,,,",
        "2026-03-31,09:00,10:00,,Web,Dev,,,,,,extra",
    )
    assert found == {
        5: "project is empty",
        6: '12 fields but the header has 11 (a separator inside a value needs "quotes")',
    }


def test_header_checks_and_separator_detection():
    assert parse("2026-03-31;09:00;1;Web;Dev", header=" Date ;BEGIN;Duration;Project;Activity").separator == ";"
    old_mac = parse_file("date\tbegin\tduration\tproject\tactivity\r2026-03-31\t09:00\t1\tWeb\tDev\r", BERLIN)
    assert old_mac.separator == "\t" and len(old_mac.rows) == 1
    with pytest.raises(DataError, match=r"line 1 \(header\): unknown column 'hours' .*; missing column activity"):
        parse(header="date,begin,end,project,hours")
    with pytest.raises(DataError, match="needs an end or a duration column"):
        parse(header="date,begin,project,activity")
    with pytest.raises(DataError, match="'date' appears twice"):
        parse(header="date,begin,end,project,activity,Date")
    with pytest.raises(DataError, match="line 3: not readable as CSV"):
        parse(
            "2026-03-31,09:00,10:00,Web,Dev",
            '2026-03-31,09:00,10:00,Web,"Dev',
            header="date,begin,end,project,activity",
        )


def test_decode_bom_and_refusals():
    assert decode("\ufeffdate,begin".encode(), "f.csv") == "date,begin"
    with pytest.raises(DataError, match="f.csv: not UTF-8"):
        decode("Datum;Tätigkeit".encode("latin-1"), "f.csv")
    with pytest.raises(DataError, match="f.csv: the file is empty"):
        decode(b"\xef\xbb\xbf\n", "f.csv")


def test_template_is_a_valid_file():
    [row] = parse_file(TEMPLATE, BERLIN).rows
    assert (row.project, row.activity, row.customer, row.tags) == (
        "Website",
        "Development",
        "Acme Corp",
        ("dev", "meeting"),
    )


# -- end to end ----------------------------------------------------------------------------------
ROWS = [
    "2026-03-31,09:00,10:30,,Website,Development,Acme Corp,Kick-off,meeting;dev,yes,",
    "2026-03-31,11:00,,1:30,Website,Development,Acme Corp,Review,,no,",
    "2026-04-01,09:00,,1.5,Website,Development,Acme Corp,Pairing,,,kim@example.com",
    "2026-04-01,22:30,01:00,,Website,Development,Acme Corp,Night deploy,ops,1,",
]


@pytest.fixture
def cwork(workdir):
    sb = workdir.sandbox
    customer = sb.kimai.add_customer("Acme Corp")
    sb.kimai.add_project("Website", customer["id"])
    sb.kimai.add_activity("Development", None)
    workdir.kim = sb.kimai.add_user("kim")["id"]
    (workdir.path / "import.map").write_text(f"user:kim@example.com={workdir.kim}\n")
    workdir.set(IMPORT_MAP=str(workdir.path / "import.map"))
    return workdir


def write(workdir, name, rows, header=HEADER, bom=False, sep=","):
    text = "\n".join([header.replace(",", sep), *rows]) + "\n"
    path = workdir.path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def kimai_writes(sb):
    return [(r.method, r.path) for r in sb.requests if r.service == "kimai" and r.method in ("POST", "PATCH", "DELETE")]


def csv_sheets(sb):
    return sorted(
        (s for s in sb.kimai.timesheets if (s.get("description") or "").startswith("csv:")), key=lambda s: s["begin"]
    )


def history(workdir):
    return json.loads(workdir.run("report.py", "imports", "--json", "--errors", check_code=0).stdout)


def test_valid_file_imports_once_reimport_and_reexport_make_no_write(cwork):
    sb = cwork.sandbox
    path = write(cwork, "hours.csv", ROWS)
    summary = flat_summary(cwork.sync("csv-kimai", "hours.csv", "--json", check_code=0))
    assert summary["created"] == 4 and summary["failed"] == 0
    sheets = csv_sheets(sb)
    assert [(s["begin"], s["end"]) for s in sheets] == [
        ("2026-03-31T09:00:00+0200", "2026-03-31T10:30:00+0200"),
        ("2026-03-31T11:00:00+0200", "2026-03-31T12:30:00+0200"),
        ("2026-04-01T09:00:00+0200", "2026-04-01T10:30:00+0200"),
        ("2026-04-01T22:30:00+0200", "2026-04-02T01:00:00+0200"),
    ]
    assert [s["billable"] for s in sheets] == [True, False, True, True]
    assert set(sheets[0]["tags"]) == {"import", "meeting", "dev"} and sheets[0]["description"].endswith("\nKick-off")
    assert sheets[2]["user"] == cwork.kim and {s["user"] for s in sheets[:2]} == {sb.kimai.me}
    assert len({s["description"].split("\n")[0] for s in sheets}) == 4

    sb.clear_requests()
    summary = flat_summary(cwork.sync("csv-kimai", "hours.csv", "--json", check_code=0))
    assert kimai_writes(sb) == [] and summary["unchanged"] == 4 and summary["created"] == 0

    # the same sheet re-exported: rows reordered, BOM, ';', day/month/year, end written as a duration
    again = [r.replace("2026-03-31", "31/03/2026").replace("2026-04-01", "01/04/2026") for r in reversed(ROWS)]
    again[-1] = again[-1].replace("09:00,10:30,", "09:00,,1:30")
    reexport = write(
        cwork,
        "export.csv",
        [r.replace(",", ";").replace("meeting;dev", '"meeting;dev"') for r in again],
        bom=True,
        sep=";",
    )
    sb.clear_requests()
    summary = flat_summary(cwork.sync("csv-kimai", "export.csv", "--date-format", "%d/%m/%Y", "--json", check_code=0))
    assert kimai_writes(sb) == [] and summary["unchanged"] == 4 and len(csv_sheets(sb)) == 4

    imports = history(cwork)
    assert [(h["job"], h["status"], h["created"]) for h in imports] == [("csv-kimai", "ok", 0)] * 2 + [
        ("csv-kimai", "ok", 4)
    ]
    assert imports[2]["file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert imports[0]["file_sha256"] == hashlib.sha256(reexport.read_bytes()).hexdigest()
    assert imports[0]["parameters"] == {"file": "export.csv", "date_format": "%d/%m/%Y", "separator": "semicolon"}
    table = cwork.run("report.py", "imports", check_code=0).stdout
    assert "csv-kimai" in table and hashlib.sha256(path.read_bytes()).hexdigest()[:12] in table


def test_invalid_rows_exit_65_write_nothing_then_skip_invalid_imports_the_rest(cwork):
    sb = cwork.sandbox
    rows = [
        ROWS[0],
        "2026-03-31,13:00,,1:75,Website,Development,Acme Corp,,,,",
        ROWS[1],
        "2026-03-29,02:30,,1,Website,Development,Acme Corp,,,,",
        ROWS[2],
    ]
    write(cwork, "hours.csv", rows)
    proc = cwork.sync("csv-kimai", "hours.csv", check_code=65)
    assert "hours.csv: 2 invalid rows; nothing imported" in proc.stderr
    assert "line 3: duration '1:75' is not H:MM or decimal hours" in proc.stderr
    assert "line 5: begin 2026-03-29 02:30 does not exist in Europe/Berlin (clocks go forward)" in proc.stderr
    assert "Traceback" not in proc.stderr and kimai_writes(sb) == [] and csv_sheets(sb) == []
    [refused] = history(cwork)
    assert refused["status"] == "invalid" and (refused["read"], refused["created"], refused["failed"]) == (5, 0, 2)
    assert [e["line"] for e in refused["errors"]] == [3, 5]

    proc = cwork.sync("csv-kimai", "hours.csv", "--skip-invalid", "--json", check_code=3)
    summary = flat_summary(proc)
    assert summary["created"] == 3 and summary["skipped"] == 2 and len(csv_sheets(sb)) == 3
    assert (
        "warning: line 3: skipped, duration '1:75'" in proc.stderr and "warning: line 5: skipped, begin" in proc.stderr
    )
    partial = history(cwork)[0]
    assert (partial["status"], partial["created"], partial["skipped"]) == ("partial", 3, 2)


def test_ambiguous_date_refused_then_read_with_date_format(cwork):
    sb = cwork.sandbox
    write(cwork, "eu.csv", ["03/04/2026,09:00,,1:00,Website,Development,Acme Corp,,,,"])
    proc = cwork.sync("csv-kimai", "eu.csv", check_code=65)
    assert "line 2: date '03/04/2026' is ambiguous" in proc.stderr and "--date-format" in proc.stderr
    cwork.sync("csv-kimai", "eu.csv", "--date-format", "%d/%m/%Y", check_code=0)
    assert [s["begin"] for s in csv_sheets(sb)] == ["2026-04-03T09:00:00+0200"]


def test_template_output_imports_as_a_valid_file(cwork):
    proc = cwork.sync("csv-kimai", "--template", check_code=0)
    assert proc.stdout == TEMPLATE and len(proc.stdout.splitlines()) == 2
    (cwork.path / "template.csv").write_text(proc.stdout)
    summary = flat_summary(cwork.sync("csv-kimai", "template.csv", "--json", check_code=0))
    assert summary["created"] == 1 and csv_sheets(cwork.sandbox)[0]["begin"] == "2026-03-31T09:00:00+0200"


def test_dry_run_shows_the_plan_and_writes_nothing(cwork):
    write(cwork, "hours.csv", ROWS[:2] + ["2026-04-02,09:00,,1,Intranet,Support,,,,,"])
    proc = cwork.sync("csv-kimai", "hours.csv", "--dry-run", "--create-missing", check_code=0)
    plan = [ln.strip() for ln in proc.stdout.splitlines() if ln.startswith("  ")]
    assert "create line 2: 2026-03-31 09:00 to 10:30 Europe/Berlin, Website / Development" in plan  # the zone named
    assert any(ln.startswith("create line 4") for ln in plan)
    containers = [ln for ln in plan if ln.startswith(("create customer", "create project", "create activity"))]
    assert containers == [
        "create customer 'Imported'",
        "create project 'Intranet' (customer 'Imported')",
        "create activity 'Support' in project 'Intranet' (customer 'Imported')",
    ]
    assert kimai_writes(cwork.sandbox) == [] and not cwork.db.exists()


def test_file_problems_are_one_line_each(cwork):
    write(cwork, "odd.csv", ["2026-03-31,09:00,1,Website,Development"], header="date,begin,hours,project,activity")
    proc = cwork.sync("csv-kimai", "odd.csv", check_code=65)
    assert proc.stderr.strip().splitlines() == [
        "error: odd.csv: line 1 (header): unknown column 'hours' (known: date, begin, end, duration, project, activity, "
        "customer, description, tags, billable, user); needs an end or a duration column"
    ]
    (cwork.path / "latin.csv").write_bytes(
        "date;begin;end;project;activity\n2026-03-31;09:00;10:00;Büro;Dev\n".encode("latin-1")
    )
    assert cwork.sync("csv-kimai", "latin.csv", check_code=65).stderr.startswith("error: latin.csv: not UTF-8")
    assert "does not exist" in cwork.sync("csv-kimai", "missing.csv", check_code=2).stderr

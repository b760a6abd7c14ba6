"""report.py export-timesheets end to end: the real script against the sandbox's Kimai."""

import csv
import io
import json

import pytest

WINDOW = ["--from", "2026-03-01", "--to", "2026-03-31"]
FORMULA = "=cmd|' /C calc'!A0"


@pytest.fixture
def kimai(workdir):
    """Two customers with a project 'Web' each, a global and a project activity, timesheets of
    two users, and some just outside March (Europe/Berlin, the sandbox user's zone)."""
    sb = workdir.sandbox.kimai
    acme, beta = sb.add_customer("Acme")["id"], sb.add_customer("Beta GmbH")["id"]
    web, app, beta_web = (
        sb.add_project("Web", acme)["id"],
        sb.add_project("App", acme)["id"],
        sb.add_project("Web", beta)["id"],
    )
    dev, review = sb.add_activity("Dev", None)["id"], sb.add_activity("Review", app)["id"]
    bob = sb.add_user("bob")["id"]
    ids = {
        "acme": acme,
        "beta": beta,
        "web": web,
        "app": app,
        "beta_web": beta_web,
        "dev": dev,
        "review": review,
        "bob": bob,
        "sheets": {},
    }
    add = lambda name, *a, **kw: ids["sheets"].__setitem__(name, sb.add_timesheet(*a, **kw)["id"])  # noqa: E731
    add("acme_web", web, dev, "2026-03-02T09:00:00", "2026-03-02T10:00:00", description="plain work")
    add("review", app, review, "2026-03-03T09:00:00", "2026-03-03T11:00:00", billable=False, description="review")
    add("formula", beta_web, dev, "2026-03-04T09:00:00", "2026-03-04T10:45:00", description=FORMULA, tags=["a", "b"])
    add("bob", web, dev, "2026-03-05T09:00:00", "2026-03-05T09:30:00", user=bob, description="bob's")
    add("dst", web, dev, "2026-03-29T01:30:00", "2026-03-29T03:30:00", description="clocks go forward")  # 1 real hour
    add("last", web, dev, "2026-03-31T23:30:00", "2026-04-01T00:15:00", description="last minutes of March")
    add("before", web, dev, "2026-02-28T23:59:00", "2026-03-01T00:30:00", description="February")
    add("after", web, dev, "2026-04-01T00:00:00", "2026-04-01T01:00:00", description="April")
    return ids


def export(workdir, *args, code=0):
    proc = workdir.run("report.py", "export-timesheets", *WINDOW, *args)
    assert proc.returncode == code, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    token = workdir.sandbox.tokens["kimai"]
    assert token not in proc.stdout and token not in proc.stderr
    return proc


def as_json(workdir, *args):
    return json.loads(export(workdir, "--format", "json", *args).stdout)


def kimai_requests(sb, path=""):
    return [r for r in sb.requests if r.service == "kimai" and r.path.endswith(path)]


def test_pages_of_500_names_and_totals_without_writing(workdir, kimai):
    sb = workdir.sandbox
    for n in range(520):  # 15 minutes each, all in March
        sb.kimai.add_timesheet(
            kimai["app"],
            kimai["dev"],
            f"2026-03-{1 + n % 28:02d}T{4 + n // 28:02d}:00:00",
            f"2026-03-{1 + n % 28:02d}T{4 + n // 28:02d}:15:00",
        )
    sb.clear_requests()
    report = as_json(workdir)
    pages = kimai_requests(sb, "/timesheets")
    assert [r.query["page"] for r in pages] == [["1"], ["2"]] and all(r.query["size"] == ["500"] for r in pages)
    assert all(r.query["user"] == ["all"] for r in pages)
    for path in ("/customers", "/projects", "/activities"):
        assert len(kimai_requests(sb, path)) == 1, path  # names: one list each, never one per row
    assert not [r for r in sb.requests if r.is_write]
    assert report["timezone"] == "Europe/Berlin" and report["from"] == "2026-03-01"
    rows = {r["id"]: r for r in report["timesheets"]}
    sheets = kimai["sheets"]
    assert sheets["before"] not in rows and sheets["after"] not in rows and sheets["last"] in rows
    assert report["totals"]["count"] == len(rows) == 520 + 6
    # 520 x 0.25 + 1 + 2 + 1.75 + 0.5 + 1 (DST night) + 0.75
    assert report["totals"]["hours"] == 137.0
    per_project = {(p["customer"], p["project"]): (p["count"], p["hours"]) for p in report["totals"]["per_project"]}
    assert per_project == {("Acme", "App"): (521, 132.0), ("Acme", "Web"): (4, 3.25), ("Beta GmbH", "Web"): (1, 1.75)}
    row = rows[sheets["formula"]]
    assert (row["customer"], row["project"], row["activity"], row["hours"]) == ("Beta GmbH", "Web", "Dev", 1.75)
    assert row["begin"] == "2026-03-04T09:00:00+01:00" and row["date"] == "2026-03-04"
    assert rows[sheets["dst"]]["end"] == "2026-03-29T03:30:00+02:00" and rows[sheets["dst"]]["hours"] == 1.0


def test_filters_are_resolved_once_and_applied_by_kimai(workdir, kimai):
    sb = workdir.sandbox
    sheets = kimai["sheets"]
    in_march = {sheets[k] for k in ("acme_web", "review", "formula", "bob", "dst", "last")}

    def ids(*args):
        return {r["id"] for r in as_json(workdir, *args)["timesheets"]}

    assert ids("--customer", "beta gmbh") == {sheets["formula"]}
    both_webs = in_march - {sheets["review"]}
    assert ids("--project", "Web") == both_webs  # the name is used under two customers: both
    sb.clear_requests()
    report = as_json(
        workdir,
        "--customer",
        str(kimai["acme"]),
        "--project",
        "Web",
        "--activity",
        "Dev",
        "--billable-only",
        "--user",
        "me",
    )
    assert {r["id"] for r in report["timesheets"]} == {sheets[k] for k in ("acme_web", "dst", "last")}
    query = kimai_requests(sb, "/timesheets")[0].query
    assert query["customers[]"] == [str(kimai["acme"])] and query["projects[]"] == [str(kimai["web"])]
    assert query["activities[]"] == [str(kimai["dev"])] and query["billable"] == ["1"] and query["user"] == ["1"]
    assert report["filters"]["project"] == {"value": "Web", "ids": [kimai["web"]]}
    assert ids("--activity", "Review") == {sheets["review"]}
    assert ids("--user", str(kimai["bob"])) == {sheets["bob"]}
    assert ids("--billable-only") == in_march - {sheets["review"]}


def test_csv_is_spreadsheet_safe_with_an_optional_bom(workdir, kimai):
    out = workdir.path / "march.csv"
    proc = export(workdir, "--out", str(out), "--bom")
    assert proc.stdout.strip() == str(out) and "6 timesheets, 7.00 hours" in proc.stderr
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfid,date,begin,end,hours")
    rows = {int(r["id"]): r for r in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))}
    formula = rows[kimai["sheets"]["formula"]]
    assert formula["description"] == "'" + FORMULA  # neutralised: a spreadsheet shows text
    assert (formula["hours"], formula["customer"], formula["tags"]) == ("1.75", "Beta GmbH", "a, b")
    assert rows[kimai["sheets"]["acme_web"]]["hours"] == "1.00" and rows[kimai["sheets"]["review"]]["billable"] == "no"
    stdout = export(workdir).stdout  # no --out: the CSV on stdout, no byte order mark
    assert stdout.startswith("id,date,") and "'=cmd|" in stdout
    assert not [r for r in workdir.sandbox.requests if r.is_write]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--customer", "Nobody Inc"], "--customer: Kimai has no customer 'Nobody Inc'"),
        (
            ["--customer", "Beta GmbH", "--project", "App"],
            "--project: Kimai has no project 'App' of customer 'Beta GmbH'",
        ),
        (["--activity", "Sleeping"], "--activity: Kimai has no activity 'Sleeping'"),
        (["--format", "json", "--bom"], "--bom is for --format csv"),
    ],
)
def test_unknown_names_are_one_line_and_exit_2(workdir, kimai, args, message):
    out = workdir.path / "never.csv"
    proc = export(workdir, *args, "--out", str(out), code=2)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), proc.stderr
    assert not out.exists() and proc.stdout == ""


def test_bad_dates_are_refused_before_any_request(workdir):
    sb = workdir.sandbox
    proc = workdir.run("report.py", "export-timesheets", "--from", "2026-03-31", "--to", "2026-03-01")
    assert proc.returncode == 2 and proc.stderr.strip() == "error: --to 2026-03-01 is before --from 2026-03-31"
    proc = workdir.run("report.py", "export-timesheets", "--from", "March", "--to", "2026-03-01")
    assert proc.returncode == 2 and "--from: expected a date like 2026-03-31, got 'March'" in proc.stderr
    assert kimai_requests(sb) == []

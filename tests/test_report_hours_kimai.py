"""report.py hours --source kimai end to end: the real script against the sandbox's Kimai, whose
token user lives in Europe/Berlin (the days are cut there)."""

import csv
import io
import json

import pytest
from test_report_json_shapes import documented, same_shape

WINDOW = ["--from", "2026-03-01", "--to", "2026-03-31"]


@pytest.fixture
def kimai(workdir):
    sb = workdir.sandbox.kimai
    acme, beta = sb.add_customer("Acme")["id"], sb.add_customer("Beta GmbH")["id"]
    web, app, beta_web = (
        sb.add_project("Web", acme)["id"],
        sb.add_project("App", acme)["id"],
        sb.add_project("Web", beta)["id"],
    )
    dev, review = sb.add_activity("Dev", None)["id"], sb.add_activity("=Review", app)["id"]
    bob = sb.add_user("bob")["id"]
    add = sb.add_timesheet
    add(web, dev, "2026-03-02T09:00:00", "2026-03-02T10:00:00", tags=["x", "y"])  # 1:00
    add(app, review, "2026-03-03T09:00:00", "2026-03-03T11:20:00")  # 2:20
    add(beta_web, dev, "2026-03-04T09:00:00", "2026-03-04T09:20:00", user=bob)  # 0:20
    add(web, dev, "2026-03-29T01:30:00", "2026-03-29T03:30:00", tags=["x"])  # clocks go forward: 1:00
    add(web, dev, "2026-03-31T23:30:00", "2026-04-01T00:15:00")  # 0:30 in March, 0:15 in April
    add(web, dev, "2026-02-28T23:40:00", "2026-03-01T00:20:00")  # 0:20 in March, 0:20 in February
    add(web, dev, "2026-04-01T00:00:00", "2026-04-01T01:00:00")  # April: not counted
    add(app, dev, "2026-03-09T08:00:00", None)  # running: excluded
    return {"web": web, "app": app, "beta_web": beta_web, "dev": dev, "review": review, "bob": bob}


def hours(workdir, *args, code=0):
    proc = workdir.run("report.py", "hours", *args)
    assert proc.returncode == code, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    token = workdir.sandbox.tokens["kimai"]
    assert token not in proc.stdout and token not in proc.stderr
    return proc


def report(workdir, *args):
    return json.loads(hours(workdir, *WINDOW, "--format", "json", *args).stdout)


def check_sums(doc):
    """The total is the sum of the rows, in seconds, hundredths of hours and minutes."""
    rows, total = doc["rows"], doc["total"]
    assert sum(r["seconds"] for r in rows) == total["seconds"]
    assert sum(round(r["hours"] * 100) for r in rows) == round(total["hours"] * 100)
    minutes = lambda text: int(text.split(":")[0]) * 60 + int(text.split(":")[1])  # noqa: E731
    assert sum(minutes(r["hm"]) for r in rows) == minutes(total["hm"])


def test_by_project_sums_the_window_cut_at_kimai_midnights(workdir, kimai):
    sb = workdir.sandbox
    sb.clear_requests()
    doc = report(workdir)
    assert not [r for r in sb.requests if r.is_write]
    same_shape(documented("hours"), {**doc, "zones": documented("hours")["zones"]})  # zones: {} for kimai
    assert doc["zones"] == {} and doc["include_planned"] is False
    assert doc["timezone"] == "Europe/Berlin" and doc["source"] == "kimai" and doc["by"] == "project"
    rows = {r["key"]: r for r in doc["rows"]}
    # Web (Acme): 1:00 + 1:00 + 0:30 + 0:20 = 2:50; App: 2:20; Web (Beta GmbH): 0:20
    assert {k: (r["seconds"], r["hm"], r["items"]) for k, r in rows.items()} == {
        "Web (Acme)": (170 * 60, "2:50", 4),
        "App": (140 * 60, "2:20", 1),
        "Web (Beta GmbH)": (20 * 60, "0:20", 1),
    }
    # rounded once, by largest remainders: the rows add up to the total as shown
    assert [rows[k]["hours"] for k in ("Web (Acme)", "App", "Web (Beta GmbH)")] == [2.84, 2.33, 0.33]
    assert rows["App"]["id"] == kimai["app"]
    assert doc["total"] == {"items": 6, "seconds": 330 * 60, "hours": 5.5, "hm": "5:30"}
    assert doc["excluded"] == [{"reason": "running", "items": 1, "seconds": 0, "hours": 0.0, "hm": "0:00"}]
    check_sums(doc)
    pages = [r for r in sb.requests if r.service == "kimai" and r.path.endswith("/timesheets")]
    assert pages and all(r.query["size"] == ["500"] and r.query["user"] == ["all"] for r in pages)


def test_per_day_week_and_month(workdir, kimai):
    days = {(r["period"], r["key"]): r["hm"] for r in report(workdir, "--per", "day")["rows"]}
    assert days[("2026-03-01", "Web (Acme)")] == "0:20"
    assert days[("2026-03-29", "Web (Acme)")] == "1:00"  # the 23-hour day
    assert days[("2026-03-31", "Web (Acme)")] == "0:30"
    assert not [p for p, _ in days if not p.startswith("2026-03")]
    weeks = report(workdir, "--per", "week", "--by", "customer")
    check_sums(weeks)
    assert {(r["period"], r["key"]): r["hm"] for r in weeks["rows"]} == {
        ("2026-W09", "Acme"): "0:20",  # Sunday 1 March belongs to ISO week 9
        ("2026-W10", "Acme"): "3:20",
        ("2026-W10", "Beta GmbH"): "0:20",
        ("2026-W13", "Acme"): "1:00",
        ("2026-W14", "Acme"): "0:30",
    }
    months = report(workdir, "--per", "month", "--by", "activity")
    assert {(r["period"], r["key"]): r["hm"] for r in months["rows"]} == {
        ("2026-03", "Dev"): "3:10",
        ("2026-03", "=Review"): "2:20",
    }


def test_by_user_and_by_tag_says_a_timesheet_counts_under_each_tag(workdir, kimai):
    users = {r["key"]: r["hm"] for r in report(workdir, "--by", "user")["rows"]}
    assert (
        users["bob"] == "0:20" and sum(int(v.split(":")[1]) + 60 * int(v.split(":")[0]) for v in users.values()) == 330
    )
    doc = report(workdir, "--by", "tag")
    assert {r["key"]: r["hm"] for r in doc["rows"]} == {"x": "2:00", "y": "1:00", "(no tag)": "3:30"}
    assert doc["total"]["hm"] == "6:30" and doc["total"]["items"] == 6
    assert doc["counted_more_than_once"]["items"] == 1 and doc["counted_more_than_once"]["seconds"] == 3600
    check_sums(doc)
    table = hours(workdir, *WINDOW, "--by", "tag").stdout
    assert "counts under each of them" in table and "Europe/Berlin" in table


def test_table_and_csv(workdir, kimai):
    table = hours(workdir, *WINDOW).stdout
    lines = table.splitlines()
    assert "days cut in Europe/Berlin" in lines[0]
    total = next(line for line in lines if line.startswith("total"))
    assert total.split() == ["total", "6", "5.50", "5:30"]
    assert "excluded: running 1" in table
    rows = list(csv.DictReader(io.StringIO(hours(workdir, *WINDOW, "--by", "activity", "--format", "csv").stdout)))
    assert [r["line"] for r in rows] == ["row", "row", "total", "excluded"]
    assert rows[0]["activity"] == "'=Review" and rows[0]["hours"] == "2.33" and rows[0]["hm"] == "2:20"
    assert rows[1]["activity"] == "Dev" and rows[1]["hours"] == "3.17"
    assert rows[2]["hours"] == "5.50" and rows[3]["reason"] == "running"


@pytest.mark.parametrize(
    "args, word",
    [
        (["--by", "category"], "--source calendar"),
        (["--by", "mailbox"], "--source calendar"),
        (["--from", "2026-04-01"], "before"),
        (["--from", "March"], "--from"),
        (["--per", "year"], "--per"),
        (["--to", "20260331"], "--to"),  # fromisoformat's basic form: would end the window a day early
        (["--from", "2026-W10"], "--from"),  # an ISO week date
        (["--from", "2026-03-01T08:00:00.123456789"], "--from"),
    ],
)
def test_usage_errors_exit_2_before_any_request(workdir, kimai, args, word):
    sb = workdir.sandbox
    sb.clear_requests()
    proc = workdir.run("report.py", "hours", *WINDOW, *args)
    assert proc.returncode == 2 and word in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not [r for r in sb.requests if r.service == "kimai"]


def test_an_instant_window_is_read_in_the_zone_it_states(workdir, kimai):
    doc = report(workdir, "--from", "2026-03-02T08:30:00Z", "--to", "2026-03-03T09:00:00+01:00")
    # 09:00-10:00 Berlin on the 2nd (08:00-09:00 UTC): 30 minutes after 08:30Z
    assert {r["key"]: r["hm"] for r in doc["rows"]} == {"Web (Acme)": "0:30"}


def test_a_break_is_shared_between_the_days_and_kimai_timezone_cuts_them(workdir, kimai):
    sb = workdir.sandbox
    # 22:00-02:00 Berlin with a 60-minute break: 3 hours worked, shared 2:4 -> 1:30 and 1:30
    sb.kimai.add_timesheet(kimai["app"], kimai["dev"], "2026-03-10T22:00:00", "2026-03-11T02:00:00", **{"break": 3600})
    window = ["--from", "2026-03-10", "--to", "2026-03-11", "--per", "day", "--format", "json"]
    doc = json.loads(hours(workdir, *window).stdout)
    assert {(r["period"], r["key"]): r["hm"] for r in doc["rows"]} == {
        ("2026-03-10", "App"): "1:30",
        ("2026-03-11", "App"): "1:30",
    }
    check_sums(doc)
    workdir.set(KIMAI_TIMEZONE="America/New_York")  # 22:00 Berlin = 17:00 New York: one day
    doc = json.loads(hours(workdir, *window).stdout)
    assert doc["timezone"] == "America/New_York"
    assert {(r["period"], r["key"]): r["hm"] for r in doc["rows"]} == {("2026-03-10", "App"): "3:00"}


def test_a_timesheet_begun_days_before_the_window_counts_its_part_inside(workdir, kimai):
    """Kimai's begin/end filters both select by the begin: a timesheet that began days before the
    window is found by reading the ended ones ordered by their end, and the read stops after the
    first page that reaches back before the window."""
    sb = workdir.sandbox
    add = sb.kimai.add_timesheet
    add(kimai["app"], kimai["dev"], "2026-04-27T09:00:00", "2026-05-02T03:00:00")  # 3:00 on 2 May
    add(kimai["web"], kimai["dev"], "2026-04-20T00:00:00", "2026-05-10T00:00:00")  # all of 2-3 May: 48:00
    add(kimai["web"], kimai["dev"], "2026-04-28T08:00:00", None)  # running through the window
    add(kimai["web"], kimai["dev"], "2026-04-29T08:00:00", "2026-04-29T09:00:00")  # before: not counted
    sb.clear_requests()
    doc = json.loads(hours(workdir, "--from", "2026-05-02", "--to", "2026-05-03", "--format", "json").stdout)
    assert {r["key"]: (r["hm"], r["items"]) for r in doc["rows"]} == {"App": ("3:00", 1), "Web (Acme)": ("48:00", 1)}
    assert doc["total"] == {"items": 2, "seconds": 51 * 3600, "hours": 51.0, "hm": "51:00"}
    assert [(e["reason"], e["items"]) for e in doc["excluded"]] == [("running", 2)]
    assert not [r for r in sb.requests if r.is_write]
    pages = [r for r in sb.requests if r.service == "kimai" and r.path.endswith("/timesheets")]
    assert len(pages) == 2  # the ended ones (one page) and the running ones


def test_a_user_list_that_is_not_a_list_is_the_servers_fault(workdir, kimai):
    """--by user: a null or broken answer to GET /users stops the report (69, naming it), never
    shows other users as `user N`."""
    sb = workdir.sandbox
    sb.faults.configure(hostile=["null_200"], services=["kimai"], paths="/api/users$", methods=["GET"])
    proc = hours(workdir, *WINDOW, "--by", "user", "--json", code=69)
    doc = json.loads(proc.stdout)
    assert doc["exit_code"] == 69 and "/api/users" in doc["error"] and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_token_user_zone_unknown_here_is_kimais_fault_named(workdir, kimai):
    """Kimai reads the begin/end filters in the token user's zone: one this machine does not know
    is a bad answer (69, naming the request), not a data error (65) without the service."""
    sb = workdir.sandbox
    sb.kimai.update_user(sb.kimai.me, timezone="Mars/Olympus_Mons")
    proc = hours(workdir, *WINDOW, code=69)
    assert "kimai" in proc.stderr and "/api/users/me" in proc.stderr and "Mars/Olympus_Mons" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_help_names_every_form_of_from_and_to(workdir):
    text = " ".join(workdir.run("report.py", "hours", "--help").stdout.split())
    for form in ("YYYY-MM-DD", "today", "yesterday", "2026-11-01T08:00)", "2026-11-01T08:00+01:00", "Examples:"):
        assert form in text, form


def test_many_pages_sum_exactly_what_overlaps_the_window(workdir, kimai):
    """1,200 timesheets over three months, some days long: the report (pages of 500 read by end)
    equals the overlap of each with the window worked out here, and reads no page it does not need."""
    import random
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    sb, berlin, rng = workdir.sandbox, ZoneInfo("Europe/Berlin"), random.Random(7)
    start, stop = datetime(2026, 3, 10, tzinfo=berlin), datetime(2026, 3, 21, tzinfo=berlin)  # 10-20 March
    expected = 0
    for _ in range(1200):
        begin = datetime(2026, 1, 1, tzinfo=berlin) + timedelta(minutes=15 * rng.randrange(4 * 24 * 100))
        end = begin + timedelta(minutes=15 * rng.choice([1, 4, 8, 96, 4 * 24 * 12]))
        sb.kimai.add_timesheet(kimai["web"], kimai["dev"], begin, end)
        expected += max((min(end, stop) - max(begin, start)).total_seconds(), 0)
    sb.clear_requests()
    doc = json.loads(hours(workdir, "--from", "2026-03-10", "--to", "2026-03-20", "--format", "json").stdout)
    assert doc["total"]["seconds"] == expected
    check_sums(doc)
    pages = [r for r in sb.requests if r.path.endswith("/timesheets") and r.query.get("active") == ["0"]]
    assert len(pages) < 3  # 1,200 ended ones ordered by end: the window's and one page before it


def test_a_window_ending_in_the_repeated_autumn_hour_keeps_what_began_in_it(workdir, kimai):
    """Kimai reads the offset-less `end` filter as the first of the two 02:30s of 25 October: a
    window ending at the second one still counts a timesheet that began between them."""
    from datetime import UTC, datetime

    sb = workdir.sandbox
    # 02:10-02:20 CET (the second pass of that hour) = 01:10-01:20 UTC
    sb.kimai.add_timesheet(
        kimai["app"], kimai["dev"], datetime(2026, 10, 25, 1, 10, tzinfo=UTC), datetime(2026, 10, 25, 1, 20, tzinfo=UTC)
    )
    window = ["--from", "2026-10-25", "--to", "2026-10-25T02:30+01:00", "--format", "json"]
    doc = json.loads(hours(workdir, *window).stdout)
    assert {r["key"]: r["hm"] for r in doc["rows"]} == {"App": "0:10"}


def test_a_name_with_a_newline_or_an_escape_sequence_stays_on_its_row(workdir, kimai):
    sb = workdir.sandbox
    evil = sb.kimai.add_project("Evil\ntotal 0 0.00 0:00\x1b[2J", sb.kimai.add_customer("Zeta")["id"])["id"]
    sb.kimai.add_timesheet(evil, kimai["dev"], "2026-03-05T09:00:00", "2026-03-05T10:00:00")
    table = hours(workdir, *WINDOW).stdout
    assert "\x1b" not in table and "Evil\\ntotal 0 0.00 0:00\\x1b[2J" in table
    assert len([line for line in table.splitlines() if line.startswith("total")]) == 1
    keys = [r["key"] for r in json.loads(hours(workdir, *WINDOW, "--json").stdout)["rows"]]
    assert "Evil\ntotal 0 0.00 0:00\x1b[2J" in keys  # JSON keeps the name as it is


def test_two_projects_of_one_name_for_one_customer_name_are_two_rows_told_apart(workdir, kimai):
    sb = workdir.sandbox
    acme2 = sb.kimai.add_customer("Acme")["id"]  # a second customer named Acme, with its own Web
    web2 = sb.kimai.add_project("Web", acme2)["id"]
    sb.kimai.add_timesheet(web2, kimai["dev"], "2026-03-05T09:00:00", "2026-03-05T10:00:00")
    rows = {r["key"]: (r["id"], r["hm"]) for r in report(workdir)["rows"]}
    assert rows[f"Web (Acme) #{kimai['web']}"] == (kimai["web"], "2:50")
    assert rows[f"Web (Acme) #{web2}"] == (web2, "1:00")


def test_two_users_of_one_alias_are_two_rows_told_apart(workdir, kimai):
    sb = workdir.sandbox
    ann1, ann2 = sb.kimai.add_user("ann1", alias="Ann")["id"], sb.kimai.add_user("ann2", alias="Ann")["id"]
    sb.kimai.add_timesheet(kimai["web"], kimai["dev"], "2026-03-05T09:00:00", "2026-03-05T10:00:00", user=ann1)
    sb.kimai.add_timesheet(kimai["web"], kimai["dev"], "2026-03-06T09:00:00", "2026-03-06T09:30:00", user=ann2)
    rows = {r["key"]: (r["id"], r["hm"]) for r in report(workdir, "--by", "user")["rows"]}
    assert rows[f"Ann #{ann1}"] == (ann1, "1:00") and rows[f"Ann #{ann2}"] == (ann2, "0:30")


def test_a_token_that_sees_only_its_own_timesheets_says_so(workdir, kimai):
    """Kimai ignores user=all without view_other_timesheet: bob's 0:20 is not in the sums, and the
    report says whose timesheets it holds instead of passing for everyone's."""
    sb = workdir.sandbox
    workdir.set(CACHE_ENABLED="false")  # GET /users/me is cached for CACHE_TTL: the roles change here
    assert report(workdir)["timesheets_of"] == "every user"
    sb.kimai.update_user(sb.kimai.me, roles=["ROLE_USER"])
    doc = report(workdir)
    assert doc["timesheets_of"] == "the token user only" and doc["total"]["hm"] == "5:10"
    assert "timesheets of the token user only" in hours(workdir, *WINDOW).stdout.splitlines()[0]
    sb.kimai.update_user(sb.kimai.me, roles=["ROLE_TEAMLEAD"])
    assert report(workdir)["timesheets_of"] == "the token user and the teams it leads"


def test_a_window_empty_in_the_kimai_zone_is_a_usage_error(workdir, kimai):
    """--to a day in Tokyo ends at 15:00 UTC: an instant at 23:30 UTC that day is after it."""
    workdir.set(KIMAI_TIMEZONE="Asia/Tokyo")
    proc = hours(workdir, "--from", "2026-03-01T23:30Z", "--to", "2026-03-01", code=2)
    assert "--to 2026-03-01 is not after --from 2026-03-01T23:30Z in Asia/Tokyo" in proc.stderr

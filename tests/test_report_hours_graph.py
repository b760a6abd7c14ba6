"""report.py hours after a real graph-kimai run: the calendar's hours per project equal Kimai's for
the events the job turned into timesheets, and the calendar lists what the job left out, by reason."""

import json
from datetime import UTC, datetime, timedelta

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
ANN, BOB, CYD = "ann@acme.example", "bob@acme.example", "cyd@acme.example"


def at(days, hour, minute=0):
    return TODAY + timedelta(days=days, hours=hour, minutes=minute)


def day(days):
    return (TODAY + timedelta(days=days)).date().isoformat()


def hours(workdir, *args):
    window = ["--from", day(-30), "--to", day(10), "--json"]
    proc = workdir.run("report.py", "hours", *window, *args, check_code=0)
    assert workdir.sandbox.tokens["kimai"] not in proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def test_calendar_and_kimai_agree_after_a_sync(workdir):
    sb = workdir.sandbox
    for box, zone in ((ANN, "W. Europe Standard Time"), (BOB, "Pacific Standard Time"), (CYD, "Asia/Tokyo")):
        sb.graph.add_user(box, box.split("@")[0].title(), zone)
    customer = sb.kimai.add_customer("Acme")["id"]
    sb.kimai.add_project("Web site", customer)
    sb.kimai.add_project("Support retainer", customer)
    sb.kimai.add_activity("Meeting", None)
    workdir.set(
        GRAPH_USERS=f"{ANN},{BOB},{CYD}",
        GRAPH_CATEGORY_MAP="Website relaunch=Web site",
        GRAPH_DEFAULT_ACTIVITY="Meeting",
    )
    web, retainer = ["Website relaunch"], ["[PROJECT] Support retainer"]
    for n, box in enumerate((ANN, BOB, CYD)):
        g = sb.graph
        g.add_event(box, "Relaunch", at(-3 - n, 9), at(-3 - n, 10, 20), categories=web)  # 1:20
        g.add_event(box, "Late", at(-5, 22, 40), at(-4, 1, 10), categories=web)  # across midnight, 2:30
        g.add_event(box, "Retainer", at(-2, 13), at(-2, 13, 45), categories=retainer)  # 0:45
        g.add_event(box, "Declined", at(-6, 8), at(-6, 9), categories=web, response="declined", organizer="x@y.example")
        g.add_event(box, "Lunch", at(-6, 11), at(-6, 12), categories=["Blue category"])
        g.add_event(box, "Planning", at(3, 9), at(3, 10), categories=web)  # not ended: no timesheet yet
    workdir.sync("graph-kimai", check_code=0)

    calendar = hours(workdir, "--source", "calendar")
    kimai = hours(workdir)
    per_project = lambda doc: {r["key"]: r["seconds"] for r in doc["rows"]}  # noqa: E731
    assert (
        per_project(calendar)
        == per_project(kimai)
        == {"Web site": 3 * (80 + 150) * 60, "Support retainer": 3 * 45 * 60}
    )
    assert calendar["total"] == kimai["total"] and calendar["total"]["hm"] == "13:45"
    excluded = {e["reason"]: (e["items"], e["seconds"]) for e in calendar["excluded"]}
    assert excluded == {"declined": (3, 3 * 3600), "unmapped": (3, 3 * 3600), "planned": (3, 3 * 3600)}
    assert set(calendar["zones"].values()) == {"Europe/Berlin", "America/Los_Angeles", "Asia/Tokyo"}

    planned = hours(workdir, "--source", "calendar", "--include-planned", "--by", "mailbox")
    assert {r["key"]: r["hm"] for r in planned["rows"]} == {ANN: "6:35", BOB: "6:35", CYD: "6:35"}  # + unmapped

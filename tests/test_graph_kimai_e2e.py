"""graph-kimai end to end: sync.py as a subprocess against the sandbox's Microsoft Graph and Kimai."""

import sqlite3
from datetime import UTC, date, datetime, timedelta

import pytest
from sync_json import flat_summary

from common.timeutil import parse_instant

JOB = ["graph-kimai"]
ANN, BOB, CYD = "ann@acme.example", "bob@acme.example", "cyd@acme.example"
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def at(days, hour, minute=0):
    """An instant `days` from today at hour:minute UTC."""
    return TODAY + timedelta(days=days, hours=hour, minutes=minute)


@pytest.fixture
def gwork(workdir):
    """A work folder for graph-kimai: three mailboxes in different zones, Kimai projects 'Web site'
    and 'Support retainer', a global activity 'Meeting', pages of 3 events."""
    sb = workdir.sandbox
    sb.graph.add_user(ANN, "Ann", "W. Europe Standard Time")
    sb.graph.add_user(BOB, "Bob", "Pacific Standard Time")
    sb.graph.add_user(CYD, "Cyd", "Asia/Tokyo")
    customer = sb.kimai.add_customer("Acme")
    sb.kimai.add_project("Web site", customer["id"])
    sb.kimai.add_project("Support retainer", customer["id"])
    sb.kimai.add_activity("Meeting", None)
    workdir.set(
        GRAPH_USERS=f"{ANN},{BOB},{CYD}",
        GRAPH_CATEGORY_MAP="Website relaunch=Web site",
        GRAPH_DEFAULT_ACTIVITY="Meeting",
        PAGE_SIZE="3",
        SYNC_JOBS="graph-kimai",
    )
    return workdir


def by_marker(sb):
    index = {}
    for sheet in sb.kimai.timesheets:
        index.setdefault((sheet.get("description") or "").split("\n")[0], []).append(sheet)
    return index


def marker(mailbox, event):
    return f"graph:{mailbox}/{event['id']}"


def kimai_writes(sb):
    return [(r.method, r.path) for r in sb.requests if r.service == "kimai" and r.method in ("POST", "PATCH", "DELETE")]


def assert_at(sheet, start, end):
    assert parse_instant(sheet["begin"]) == start and parse_instant(sheet["end"]) == end, sheet


def seed_mailbox(sb, mailbox):
    """Mapped events, a weekly series (3 past occurrences, one moved, one to come) and the events
    GRAPH_SKIP / GRAPH_PRIVATE keep out. Returns {name: event or occurrences}."""
    g = sb.graph
    made = {
        "mapped": [
            g.add_event(mailbox, f"Relaunch {n}", at(-n - 1, 9), at(-n - 1, 10, 30), categories=["Website relaunch"])
            for n in range(4)
        ],
        "convention": g.add_event(
            mailbox, "Retainer call", at(-2, 13), at(-2, 14), categories=["[PROJECT] Support retainer"]
        ),
        "declined": g.add_event(
            mailbox,
            "Declined",
            at(-3, 8),
            at(-3, 9),
            categories=["Website relaunch"],
            response="declined",
            organizer="pat@partner.example",
        ),
        "cancelled": g.add_event(
            mailbox, "Cancelled", at(-3, 10), at(-3, 11), categories=["Website relaunch"], is_cancelled=True
        ),
        "free": g.add_event(mailbox, "Free", at(-3, 12), at(-3, 13), categories=["Website relaunch"], show_as="free"),
        "all_day": g.add_event(
            mailbox,
            "Offsite",
            (TODAY - timedelta(days=4)).date(),
            (TODAY - timedelta(days=3)).date(),
            categories=["Website relaunch"],
            is_all_day=True,
        ),
        "private": g.add_event(
            mailbox,
            "Doctor appointment",
            at(-5, 15),
            at(-5, 16),
            categories=["Website relaunch"],
            sensitivity="private",
        ),
        "unmapped": g.add_event(mailbox, "Lunch", at(-5, 11), at(-5, 12), categories=["Blue category"]),
        "future": g.add_event(mailbox, "Planning", at(3, 9), at(3, 10), categories=["Website relaunch"]),
    }
    series = g.add_series(mailbox, "Weekly sync", at(-20, 7), at(-20, 7, 30), 4, categories=["Website relaunch"])
    made["series"] = series["occurrences"]  # days -20, -13, -6 (past) and +1 (to come)
    made["moved"] = g.move_event(mailbox, series["occurrences"][1]["id"], at(-12, 16), at(-12, 17))
    return made


def test_first_run_three_zones_then_an_unchanged_re_run(gwork):
    sb = gwork.sandbox
    seeds = {box: seed_mailbox(sb, box) for box in (ANN, BOB, CYD)}
    proc = gwork.sync(*JOB, "--json", check_code=0)
    index = by_marker(sb)
    expected = set()
    for box, made in seeds.items():
        past = made["mapped"] + [
            made["convention"],
            made["private"],
            made["series"][0],
            made["moved"],
            made["series"][2],
        ]
        expected |= {marker(box, e) for e in past}
        for event in made["mapped"]:
            assert_at(index[marker(box, event)][0], event["start"], event["end"])
        assert_at(index[marker(box, made["moved"])][0], at(-12, 16), at(-12, 17))  # the exception at its moved time
        private = index[marker(box, made["private"])][0]
        assert private["description"].split("\n")[1] == "Private appointment" and "Doctor" not in private["description"]
    extra = sorted({v[0]["description"].split("\n")[1] for k, v in index.items() if k not in expected})
    assert set(index) == expected and all(len(v) == 1 for v in index.values()), extra
    assert flat_summary(proc)["created"] == len(expected) == 27
    sheet = next(iter(index.values()))[0]
    assert "outlook" in sheet["tags"]
    deltas = [r for r in sb.requests if r.service == "graph" and "/calendarView/delta" in r.path]
    assert len(deltas) >= 3 * 2  # more than one page per mailbox
    with sqlite3.connect(gwork.db) as db:
        stored = db.execute("SELECT mailbox, COUNT(*) FROM graph_events GROUP BY mailbox").fetchall()
        # every event of the window is kept, timesheet or not (the series' 4 occurrences; no master)
        assert sorted(stored) == [(ANN, 16), (BOB, 16), (CYD, 16)]
        zones = dict(db.execute("SELECT mailbox, time_zone FROM graph_events GROUP BY mailbox").fetchall())
        assert zones == {ANN: "Europe/Berlin", BOB: "America/Los_Angeles", CYD: "Asia/Tokyo"}

    sb.clear_requests()
    summary = flat_summary(gwork.sync(*JOB, "--json", check_code=0))
    graph = [(r.method, r.path) for r in sb.requests if r.service == "graph"]
    assert kimai_writes(sb) == [] and summary["created"] == summary["updated"] == 0
    assert [p for m, p in graph if m != "GET"] == [f"/{sb.graph.tenant_id}/oauth2/v2.0/token"]  # writes nothing
    assert sum("/calendarView/delta" in path for _, path in graph) == 3  # one delta request per mailbox
    assert sb.count() <= 3 + 2, [(r.method, r.path) for r in sb.requests]  # plus the token and at most one more


@pytest.mark.parametrize("policy", ["delete", "report"])
def test_a_move_a_deletion_and_a_new_event(gwork, policy):
    sb = gwork.sandbox
    gwork.set(GRAPH_USERS=ANN, GRAPH_DELETE_POLICY=policy)
    made = [
        sb.graph.add_event(ANN, f"Relaunch {n}", at(-n - 1, 9), at(-n - 1, 10), categories=["Website relaunch"])
        for n in range(5)
    ]
    gwork.sync(*JOB, check_code=0)
    sb.graph.move_event(ANN, made[0]["id"], at(-1, 11), at(-1, 11, 45))
    sb.graph.delete_event(ANN, made[1]["id"])
    new = sb.graph.add_event(ANN, "New", at(-1, 14), at(-1, 15), categories=["Website relaunch"])
    sb.clear_requests()
    proc = gwork.sync(*JOB, "--json", check_code=0)
    writes = sorted(method for method, _ in kimai_writes(sb))
    index = by_marker(sb)
    assert_at(index[marker(ANN, made[0])][0], at(-1, 11), at(-1, 11, 45))
    assert marker(ANN, new) in index
    summary = flat_summary(proc)
    if policy == "delete":
        assert writes == ["DELETE", "PATCH", "POST"]
        assert marker(ANN, made[1]) not in index
    else:
        assert writes == ["PATCH", "POST"] and marker(ANN, made[1]) in index
        assert summary["deleted_in_source"] == 1
        assert any("deleted in Outlook" in w for w in summary["warnings"])
    with sqlite3.connect(gwork.db) as db:
        deleted = db.execute("SELECT deleted_at FROM graph_events WHERE event_id = ?", (made[1]["id"],)).fetchone()
    assert deleted and deleted[0]  # kept, marked deleted
    sb.clear_requests()
    gwork.sync(*JOB, check_code=0)
    assert kimai_writes(sb) == []


def test_dst_spring_forward_exact_and_the_repeated_autumn_hour_refused(gwork):
    sb = gwork.sandbox
    gwork.set(GRAPH_USERS=ANN, GRAPH_WINDOW_PAST_DAYS="3650", KIMAI_TIMEZONE="Europe/Berlin")
    year = TODAY.year if TODAY.month > 10 else TODAY.year - 1
    spring = date(year, 3, 31) - timedelta(days=(date(year, 3, 31).weekday() + 1) % 7)  # last Sunday of March
    autumn = date(year, 10, 31) - timedelta(days=(date(year, 10, 31).weekday() + 1) % 7)
    s0 = datetime(spring.year, spring.month, spring.day, tzinfo=UTC)
    a0 = datetime(autumn.year, autumn.month, autumn.day, tzinfo=UTC)
    tag = ["Website relaunch"]
    spring_event = sb.graph.add_event(
        ANN, "Night shift", s0 + timedelta(minutes=30), s0 + timedelta(minutes=90), categories=tag
    )
    repeated = sb.graph.add_event(
        ANN, "Repeated hour", a0 + timedelta(minutes=30), a0 + timedelta(minutes=50), categories=tag
    )
    before = sb.graph.add_event(ANN, "Before", a0 - timedelta(hours=2), a0 - timedelta(hours=1), categories=tag)
    after = sb.graph.add_event(ANN, "After", a0 + timedelta(hours=2), a0 + timedelta(hours=3), categories=tag)
    proc = gwork.sync(*JOB, check_code=3)
    index = by_marker(sb)
    sheet = index[marker(ANN, spring_event)][0]
    assert_at(sheet, s0 + timedelta(minutes=30), s0 + timedelta(minutes=90))
    assert sheet["begin"].startswith(f"{spring}T01:30:00") and sheet["end"].startswith(f"{spring}T03:30:00")
    assert_at(index[marker(ANN, before)][0], a0 - timedelta(hours=2), a0 - timedelta(hours=1))
    assert_at(index[marker(ANN, after)][0], a0 + timedelta(hours=2), a0 + timedelta(hours=3))
    assert marker(ANN, repeated) not in index
    assert repeated["id"] in proc.stderr and "repeated" in proc.stderr and "Traceback" not in proc.stderr


def test_a_missing_mailbox_fails_alone(gwork):
    sb = gwork.sandbox
    gwork.set(GRAPH_USERS=f"{ANN},ghost@acme.example,{BOB}")
    sb.graph.add_user("nocal@acme.example", "No calendar")
    sb.graph.remove_mailbox("nocal@acme.example")
    gwork.set(GRAPH_USERS=f"{ANN},ghost@acme.example,nocal@acme.example,{BOB}")
    a = sb.graph.add_event(ANN, "A", at(-1, 9), at(-1, 10), categories=["Website relaunch"])
    b = sb.graph.add_event(BOB, "B", at(-1, 9), at(-1, 10), categories=["Website relaunch"])
    proc = gwork.sync(*JOB, check_code=3)
    assert set(by_marker(sb)) == {marker(ANN, a), marker(BOB, b)}
    assert "ghost@acme.example" in proc.stderr and "nocal@acme.example" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_every_user_with_a_mail_address_when_graph_users_is_empty(gwork):
    sb = gwork.sandbox
    gwork.set(GRAPH_USERS="")
    sb.graph.add_user(None, "Service account")
    events = [
        sb.graph.add_event(box, "A", at(-1, 9), at(-1, 10), categories=["Website relaunch"]) for box in (ANN, BOB, CYD)
    ]
    gwork.sync(*JOB, check_code=0)
    assert set(by_marker(sb)) == {marker(box, e) for box, e in zip((ANN, BOB, CYD), events, strict=True)}


def test_dry_run_lists_the_plan_and_changes_nothing(gwork):
    sb = gwork.sandbox
    gwork.set(GRAPH_USERS=ANN)
    sb.graph.add_event(ANN, "Relaunch", at(-1, 9), at(-1, 10, 30), categories=["Website relaunch"])
    proc = gwork.sync(*JOB, "--dry-run", check_code=0)
    local = at(-1, 9).astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    lines = [line.strip() for line in proc.stdout.splitlines() if line.strip().startswith("create graph:")]
    assert len(lines) == 1 and lines[0].startswith(f"create graph:{ANN}/")
    assert lines[0].endswith(f"{local:%Y-%m-%d %H:%M}–{local + timedelta(minutes=90):%H:%M} Web site")
    assert kimai_writes(sb) == [] and not gwork.db.exists()


def test_lost_store_and_faults_never_duplicate(gwork):
    sb = gwork.sandbox
    gwork.set(GRAPH_USERS=f"{ANN},{BOB}")
    for box in (ANN, BOB):
        for n in range(8):
            sb.graph.add_event(box, f"E{n}", at(-n - 1, 9), at(-n - 1, 10), categories=["Website relaunch"])
    sb.faults.configure(error_rate=0.05, rate_429=0.05, drop_rate=0.05, commit_drop_rate=0.2, retry_after=0, seed=7)
    codes = []
    for _ in range(8):
        codes.append(gwork.sync(*JOB).returncode)
        if codes[-1] == 0:
            break
    sb.faults.reset()
    assert codes[-1] == 0, codes
    index = by_marker(sb)
    assert len(index) == 16 and all(len(v) == 1 for v in index.values())
    for suffix in ("", "-wal", "-shm"):
        (gwork.path / f"sync.db{suffix}").unlink(missing_ok=True)
    sb.clear_requests()
    proc = gwork.sync(*JOB, "--json", check_code=0)
    assert kimai_writes(sb) == [] and flat_summary(proc)["created"] == 0
    assert len(by_marker(sb)) == 16


def test_throttling_and_a_token_expiring_mid_run(gwork):
    sb = gwork.sandbox
    gwork.set(GRAPH_USERS=f"{ANN},{BOB}")
    for box in (ANN, BOB):
        for n in range(6):
            sb.graph.add_event(box, f"E{n}", at(-n - 1, 9), at(-n - 1, 10), categories=["Website relaunch"])
    sb.graph.throttle(2, status=429, retry_after=1)
    sb.graph.token_ttl = 1  # every token expires a second after it was issued
    sb.faults.configure(latency_ms=150, services=("graph",))
    proc = gwork.sync(*JOB, "--json", check_code=0)
    assert flat_summary(proc)["created"] == 12 and all(len(v) == 1 for v in by_marker(sb).values())
    assert sb.graph.tokens_issued >= 2  # renewed during the run
    throttled = [r for r in sb.requests if r.service == "graph" and r.status == 429]
    assert len(throttled) == 2


def test_sigkill_mid_run_then_converges_without_duplicates(gwork):
    sb = gwork.sandbox
    gwork.set(GRAPH_USERS=f"{ANN},{BOB}", SYNC_WORKERS="2")
    events = [
        sb.graph.add_event(
            box, f"E{n}", at(-(n % 60) - 1, 6 + n % 10), at(-(n % 60) - 1, 7 + n % 10), categories=["Website relaunch"]
        )
        for box in (ANN, BOB)
        for n in range(60)
    ]
    sb.faults.configure(latency_ms=10)
    assert gwork.kill_runs(*JOB, pause=(0.6, 1.2)) >= 2
    sb.faults.reset()
    gwork.sync(*JOB, check_code=0)
    index = by_marker(sb)
    assert set(index) == {marker(box, e) for box, e in zip([ANN] * 60 + [BOB] * 60, events, strict=True)}
    assert all(len(v) == 1 for v in index.values())


def test_a_hand_edit_in_kimai_is_a_conflict_never_overwritten(gwork):
    import requests

    sb = gwork.sandbox
    gwork.set(GRAPH_USERS=ANN)
    event = sb.graph.add_event(ANN, "Relaunch", at(-2, 9), at(-2, 10), categories=["Website relaunch"])
    gwork.sync(*JOB, check_code=0)
    sheet = by_marker(sb)[marker(ANN, event)][0]
    edited_end = parse_instant(sheet["end"]) + timedelta(minutes=30)
    local_end = edited_end.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%dT%H:%M:%S")
    answer = requests.patch(
        f"{sb.url('kimai')}/api/timesheets/{sheet['id']}",
        json={"end": local_end},
        headers={"Authorization": f"Bearer {sb.tokens['kimai']}"},
        timeout=5,
    )
    assert answer.ok, answer.text
    sb.graph.move_event(ANN, event["id"], at(-2, 11), at(-2, 12))
    proc = gwork.sync(*JOB, "--json", check_code=0)
    assert flat_summary(proc)["conflicts"] == 1
    assert parse_instant(by_marker(sb)[marker(ANN, event)][0]["end"]) == edited_end  # the edit stands
    listed = gwork.sync("conflicts", check_code=0)
    assert marker(ANN, event) in listed.stdout
    with sqlite3.connect(gwork.db) as db:
        [(conflict_id,)] = db.execute("SELECT id FROM conflicts WHERE resolved_at IS NULL").fetchall()
    gwork.sync("resolve", str(conflict_id), "--keep", "kimai", check_code=0)
    sb.clear_requests()
    proc = gwork.sync(*JOB, "--json", check_code=0)  # the edit stands, nothing is written
    assert kimai_writes(sb) == [] and flat_summary(proc)["conflicts"] == 0
    assert parse_instant(by_marker(sb)[marker(ANN, event)][0]["end"]) == edited_end


def test_a_conflict_settled_for_outlook_writes_outlooks_times(gwork):
    """`resolve --keep graph` (or source) writes the event's times over the hand edit; a word
    naming another source (zammad) is refused for a graph-kimai conflict, nothing written."""
    import requests

    sb = gwork.sandbox
    gwork.set(GRAPH_USERS=ANN)
    event = sb.graph.add_event(ANN, "Relaunch", at(-2, 9), at(-2, 10), categories=["Website relaunch"])
    gwork.sync(*JOB, check_code=0)
    sheet = by_marker(sb)[marker(ANN, event)][0]
    answer = requests.patch(
        f"{sb.url('kimai')}/api/timesheets/{sheet['id']}",
        json={"description": sheet["description"] + " (edited)"},
        headers={"Authorization": f"Bearer {sb.tokens['kimai']}"},
        timeout=5,
    )
    assert answer.ok, answer.text
    sb.graph.move_event(ANN, event["id"], at(-2, 11), at(-2, 12))
    assert flat_summary(gwork.sync(*JOB, "--json", check_code=0))["conflicts"] == 1
    with sqlite3.connect(gwork.db) as db:
        [(conflict_id,)] = db.execute("SELECT id FROM conflicts WHERE resolved_at IS NULL").fetchall()
    sb.clear_requests()
    refused = gwork.sync("resolve", str(conflict_id), "--keep", "zammad", check_code=2)
    assert "graph-kimai" in refused.stderr and kimai_writes(sb) == []
    gwork.sync("resolve", str(conflict_id), "--keep", "graph", check_code=0)
    assert len(kimai_writes(sb)) == 1
    assert parse_instant(by_marker(sb)[marker(ANN, event)][0]["begin"]) == at(-2, 11)


def test_the_secret_and_token_never_leak(gwork):
    sb = gwork.sandbox
    gwork.set(GRAPH_USERS=ANN)
    sb.graph.add_event(ANN, "Relaunch", at(-2, 9), at(-2, 10), categories=["Website relaunch"])
    outputs = [gwork.sync(*JOB, "-v", check_code=0), gwork.sync(*JOB, "--json", check_code=0)]
    secrets = [sb.graph.client_secret, *sb.graph.issued_tokens]
    assert len(secrets) >= 2
    texts = [p.stdout + p.stderr for p in outputs] + [(gwork.path / "tracksync.log").read_text(errors="replace")]
    blobs = [gwork.db.read_bytes()] + [p.read_bytes() for p in gwork.path.glob("sync.db-wal")]
    for secret in secrets:
        assert not any(secret in text for text in texts)
        assert not any(secret.encode() in blob for blob in blobs)


def test_an_expired_delta_link_or_a_moved_window_starts_a_new_round_that_writes_nothing(gwork):
    sb = gwork.sandbox
    gwork.set(GRAPH_USERS=ANN, GRAPH_DELETE_POLICY="delete")
    made = [
        sb.graph.add_event(ANN, f"E{n}", at(-n - 1, 9), at(-n - 1, 10), categories=["Website relaunch"])
        for n in range(4)
    ]
    gwork.sync(*JOB, check_code=0)
    with sqlite3.connect(gwork.db) as db:
        first_link = db.execute("SELECT value FROM cursors WHERE scope = ?", (f"delta:{ANN}",)).fetchone()[0]
    sb.graph.expire_delta_tokens()
    sb.clear_requests()
    proc = gwork.sync(*JOB, "--json", check_code=0)  # 410: a new round, unchanged events cost no write
    assert kimai_writes(sb) == [] and flat_summary(proc)["unchanged"] == 4
    assert any(r.status == 410 for r in sb.requests)
    with sqlite3.connect(gwork.db) as db:
        assert db.execute("SELECT value FROM cursors WHERE scope = ?", (f"delta:{ANN}",)).fetchone()[0] != first_link
    gwork.set(GRAPH_WINDOW_PAST_DAYS="60")  # the window moved: a new round, deletions seen by what it no longer lists
    sb.graph.delete_event(ANN, made[0]["id"])
    sb.clear_requests()
    gwork.sync(*JOB, check_code=0)
    assert [m for m, _ in kimai_writes(sb)] == ["DELETE"]
    assert any("startDateTime" in r.query for r in sb.requests if "/calendarView/delta" in r.path)
    with sqlite3.connect(gwork.db) as db:
        assert db.execute("SELECT COUNT(*) FROM graph_events WHERE deleted_at IS NOT NULL").fetchone()[0] == 1
        assert db.execute("SELECT COUNT(*) FROM graph_events").fetchone()[0] == 4


def test_a_malformed_graph_users_entry_is_a_configuration_error(gwork):
    gwork.set(GRAPH_USERS=f"{ANN},not-a-mailbox")
    proc = gwork.sync(*JOB, check_code=78)
    assert "GRAPH_USERS" in proc.stderr and "not-a-mailbox" in proc.stderr and "Traceback" not in proc.stderr
    assert gwork.sandbox.count("kimai", writes=True) == 0


def test_from_to_reads_a_one_off_window_and_keeps_the_delta_link(gwork):
    sb = gwork.sandbox
    gwork.set(GRAPH_USERS=ANN, GRAPH_WINDOW_PAST_DAYS="10")
    old = sb.graph.add_event(ANN, "Old", at(-40, 9), at(-40, 10), categories=["Website relaunch"])
    recent = sb.graph.add_event(ANN, "Recent", at(-5, 9), at(-5, 10), categories=["Website relaunch"])
    gwork.sync(*JOB, check_code=0)
    assert set(by_marker(sb)) == {marker(ANN, recent)}
    with sqlite3.connect(gwork.db) as db:
        link = db.execute("SELECT value FROM cursors WHERE scope = ?", (f"delta:{ANN}",)).fetchone()[0]
    first, last = (TODAY - timedelta(days=45)).date(), (TODAY - timedelta(days=35)).date()
    proc = gwork.sync(*JOB, "--from", str(first), "--to", str(last), "--json", check_code=0)
    assert flat_summary(proc)["created"] == 1 and set(by_marker(sb)) == {marker(ANN, old), marker(ANN, recent)}
    with sqlite3.connect(gwork.db) as db:
        assert db.execute("SELECT value FROM cursors WHERE scope = ?", (f"delta:{ANN}",)).fetchone()[0] == link
    sb.clear_requests()
    gwork.sync(*JOB, check_code=0)
    assert kimai_writes(sb) == [] and sum("/calendarView/delta" in r.path for r in sb.requests) == 1
    assert gwork.sync(*JOB, "--from", "2026-13-01", check_code=2).stderr.count("--from") >= 1


def test_graph_skip_and_graph_private_as_configured(gwork):
    sb = gwork.sandbox
    gwork.set(GRAPH_USERS=ANN, GRAPH_SKIP="cancelled", GRAPH_PRIVATE="skip")
    tag = ["Website relaunch"]
    declined = sb.graph.add_event(
        ANN, "Declined", at(-3, 8), at(-3, 9), categories=tag, response="declined", organizer="pat@partner.example"
    )
    free = sb.graph.add_event(ANN, "Free", at(-3, 12), at(-3, 13), categories=tag, show_as="free")
    day = (TODAY - timedelta(days=4)).date()
    all_day = sb.graph.add_event(ANN, "Offsite", day, day + timedelta(days=1), categories=tag, is_all_day=True)
    sb.graph.add_event(ANN, "Cancelled", at(-3, 10), at(-3, 11), categories=tag, is_cancelled=True)
    sb.graph.add_event(ANN, "Doctor", at(-5, 15), at(-5, 16), categories=tag, sensitivity="private")
    gwork.sync(*JOB, check_code=0)
    index = by_marker(sb)
    assert set(index) == {marker(ANN, e) for e in (declined, free, all_day)}
    berlin = __import__("zoneinfo").ZoneInfo("Europe/Berlin")
    after = day + timedelta(days=1)
    midnights = [datetime(d.year, d.month, d.day, tzinfo=berlin).astimezone(UTC) for d in (day, after)]
    assert_at(index[marker(ANN, all_day)][0], *midnights)  # its dates in the mailbox's zone
    assert not any("Doctor" in (s.get("description") or "") for s in sb.kimai.timesheets)

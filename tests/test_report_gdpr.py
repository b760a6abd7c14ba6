"""report.py gdpr end to end: one person's ZIP from the sandbox's Kimai and a seeded store, and
the purge; plus the e-mail -> Kimai user resolution and row matching as units."""

import hashlib
import json
import sqlite3
import stat
import zipfile

import pytest

from common import config
from common.config import load_settings
from common.reports.gdpr import Person, kimai_user_of
from common.store import Store

JOB = "zammad-kimai"
BOB, ADMIN = "bob@example.com", "admin@example.com"


@pytest.fixture
def people(workdir):
    """Kimai: the token's user admin (id 1) and bob, with timesheets each; the store: links, audit
    events, a conflict, failures and imports of both, a Gitea link of nobody, and a decoy e-mail."""
    sb = workdir.sandbox.kimai
    project = sb.add_project("Web", sb.add_customer("Acme")["id"])["id"]
    activity = sb.add_activity("Dev", None)["id"]
    bob = sb.add_user("bob")["id"]
    sheets = {1: [], bob: []}
    for user, label in ((1, "admin-private-AAA"), (bob, "bob-private-BBB")):
        for n in range(3):
            sheet = sb.add_timesheet(
                project,
                activity,
                f"2026-03-0{n + 2}T09:00:00",
                f"2026-03-0{n + 2}T10:00:00",
                user=user,
                description=f"zammad:ticket/{user}/time/{n}\n{label}-{n}",
            )
            sheets[user].append(sheet["id"])
    workdir.set(ZAMMAD_USER_MAP=f"{ADMIN}=1;{BOB}={bob}")
    with Store(workdir.db) as store:
        run = store.start_run(JOB, {})
        for user, ids in sheets.items():
            for n, sheet_id in enumerate(ids):
                fields = {
                    "begin": f"2026-03-0{n + 2}T09:00:00",
                    "project": project,
                    "user": user,
                    "description": f"zammad:ticket/{user}/time/{n}",
                }
                store.mark_synced(
                    JOB,
                    f"zammad:ticket/{user}/time/{n}",
                    "timesheet",
                    sheet_id,
                    "h",
                    fields,
                    run,
                    audit=("create", None, fields),
                )
        store.add_conflict(
            JOB,
            f"zammad:ticket/{bob}/time/0",
            "timesheet",
            sheets[bob][0],
            {"user": bob},
            {"user": bob, "end": "x"},
            None,
            "h",
            run,
        )
        store.mark_failed(JOB, "zammad:ticket/7/time/70", "timesheet", run, f"agent {BOB} is not in ZAMMAD_USER_MAP")
        store.mark_failed(JOB, "zammad:ticket/7/time/71", "timesheet", run, f"agent {ADMIN} is not in ZAMMAD_USER_MAP")
        store.mark_failed(JOB, "zammad:ticket/7/time/72", "timesheet", run, "agent notbob@example.com is unknown")
        store.mark_synced("gitea-kimai", "gitea:acme/web#1", "activity", 5, "h", {"name": "#1 Fix login"}, run)
        for email in (BOB, ADMIN):
            imported = store.start_import(run, "csv-kimai", "csv", {"file": "hours.csv", "user": email})
            store.finish_import(imported, "partial", {"read": 2, "failed": 1}, [(3, "csv:hours.csv#3", "no project")])
        store.finish_run(run, "ok", 0, {})
    return {"bob": bob, "sheets": sheets}


def gdpr(workdir, *args, code=0):
    proc = workdir.run("report.py", "gdpr", *args)
    assert proc.returncode == code, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    for token in workdir.sandbox.tokens.values():
        assert token not in proc.stdout + proc.stderr
    return proc


def members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def store_dump(path):
    with sqlite3.connect(path) as db:
        return "\n".join(db.iterdump())


def check_archive(workdir, path):
    """Mode 600, the manifest's checksums and counts hold, and no token in any member."""
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    files = members(path)
    manifest = json.loads(files.pop("manifest.json"))
    assert set(manifest["members"]) == set(files)
    for name, data in files.items():
        assert manifest["members"][name]["sha256"] == hashlib.sha256(data).hexdigest(), name
        assert manifest["members"][name]["size"] == len(data)
        for token in workdir.sandbox.tokens.values():
            assert token.encode() not in data, name
    for kind, count in manifest["counts"].items():
        assert len(json.loads(files[f"{kind}.json"])) == count, kind
    return manifest, {name: data.decode("utf-8") for name, data in files.items()}


def test_the_archive_holds_that_person_and_no_one_else(workdir, people):
    sb = workdir.sandbox
    out = workdir.path / "bob.zip"
    proc = gdpr(workdir, "--user", "Bob@Example.com", "--out", str(out))
    assert proc.stdout.strip() == str(out)
    manifest, files = check_archive(workdir, out)
    assert (
        manifest["subject"]["kimai_user_id"] == people["bob"]
        and manifest["subject"]["kimai_user_from"] == "ZAMMAD_USER_MAP"
    )
    assert "kimai_user.json" not in files  # Kimai only shows the token's own user
    sheets = json.loads(files["kimai_timesheets.json"])
    assert sorted(s["id"] for s in sheets) == people["sheets"][people["bob"]] and {s["user"] for s in sheets} == {
        people["bob"]
    }
    links = json.loads(files["store_links.json"])  # the synced timesheets and the failure naming the e-mail
    assert sorted(ln["target_id"] for ln in links if ln["target_id"]) == people["sheets"][people["bob"]]
    assert [ln["source_key"] for ln in links if not ln["target_id"]] == ["zammad:ticket/7/time/70"]
    assert len(json.loads(files["store_audit.json"])) == 3 and len(json.loads(files["store_conflicts.json"])) == 1
    errors = json.loads(files["store_item_errors.json"])
    assert [e["source_key"] for e in errors] == ["zammad:ticket/7/time/70"]
    imports = json.loads(files["store_imports.json"])
    assert [i["parameters"]["user"] for i in imports] == [BOB]
    assert [e["import_id"] for e in json.loads(files["store_import_errors.json"])] == [imports[0]["id"]]
    admin_ids = {str(i) for i in people["sheets"][1]}
    for name, text in files.items():
        assert "admin-private" not in text and ADMIN not in text and "notbob" not in text and "Fix login" not in text, (
            name
        )
    for row in links + json.loads(files["store_audit.json"]):
        assert row["target_id"] is None or str(row["target_id"]) not in admin_ids
    assert "bob-private-BBB-0" in files["kimai_timesheets.csv"] and "zammad:ticket/2/time/1" in files["store_links.csv"]
    assert not [r for r in sb.requests if r.is_write]


def test_the_token_user_is_found_by_e_mail_and_gets_their_user_record(workdir, people):
    workdir.set(ZAMMAD_USER_MAP="")
    proc = gdpr(workdir, "--user", ADMIN, "--json")
    result = json.loads(proc.stdout)
    manifest, files = check_archive(workdir, workdir.path / result["file"])
    assert result["file"].startswith(str(workdir.path / "exports" / "gdpr-"))
    assert manifest["subject"]["kimai_user_from"] == "the token's user" and ADMIN not in result["file"]
    assert [u["id"] for u in json.loads(files["kimai_user.json"])] == [1]
    assert result["counts"]["kimai_timesheets"] == 3 and result["counts"]["store_links"] == 3 + 1
    for name, text in files.items():
        assert "bob-private" not in text and BOB not in text, name


def test_an_unknown_person_is_refused_unless_the_kimai_user_is_given(workdir, people):
    proc = gdpr(workdir, "--user", "carol@example.com", code=2)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "carol@example.com" in lines[0] and "--kimai-user" in lines[0]
    assert not (workdir.path / "exports").exists()
    proc = gdpr(workdir, "--user", "carol@example.com", "--kimai-user", str(people["bob"]), "--json")
    assert json.loads(proc.stdout)["counts"]["kimai_timesheets"] == 3
    assert "expected an e-mail address" in gdpr(workdir, "--user", "carol", code=2).stderr


def test_purge_needs_yes_then_removes_the_rows_and_records_one_audit_event(workdir, people):
    sb = workdir.sandbox
    before = store_dump(workdir.db)
    proc = gdpr(workdir, "--user", BOB, "--purge", code=2)
    assert proc.stderr.strip() == "error: --purge deletes this person's rows from the store: add --yes to confirm"
    assert store_dump(workdir.db) == before and not (workdir.path / "exports").exists()

    result = json.loads(gdpr(workdir, "--user", BOB, "--purge", "--yes", "--json").stdout)
    assert result["purged"] == {
        "links": 3 + 1,
        "audit": 3,
        "conflicts": 1,
        "item_errors": 1,
        "imports": 1,
        "import_errors": 1,
        "graph_events": 0,
    }
    check_archive(workdir, workdir.path / result["file"])  # the archive first, then the purge
    dump = store_dump(workdir.db)
    assert " bob@" not in dump and '"bob@' not in dump and "notbob@example.com" in dump and ADMIN in dump
    with Store(workdir.db, readonly=True) as store:
        remaining = store.links(JOB).values()
        assert sorted(ln["target_id"] for ln in remaining if ln["target_id"]) == people["sheets"][1]
        assert sorted(ln["source_key"] for ln in remaining if not ln["target_id"]) == [
            "zammad:ticket/7/time/71",
            "zammad:ticket/7/time/72",
        ]
        purges = [dict(r) for r in store.conn.execute("SELECT * FROM audit WHERE action = 'purge'")]
        assert len(purges) == 1 and store.conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == 3 + 1
        assert purges[0]["source_key"] == "gdpr:" + hashlib.sha256(BOB.encode()).hexdigest()
        assert json.loads(purges[0]["after"]) == result["purged"]
        assert len(store.imports()) == 1 and len(store.links("gitea-kimai")) == 1
    assert len([s for s in sb.kimai.timesheets if s["user"] == people["bob"]]) == 3  # Kimai is never changed
    assert not [r for r in sb.requests if r.is_write]
    again = json.loads(gdpr(workdir, "--user", BOB, "--json").stdout)["counts"]
    assert {k: v for k, v in again.items() if k.startswith("store_")} == dict.fromkeys(
        (
            "store_links",
            "store_audit",
            "store_conflicts",
            "store_item_errors",
            "store_imports",
            "store_import_errors",
            "store_graph_events",
        ),
        0,
    )


def test_e_mail_to_kimai_user_from_the_maps(tmp_path):
    me = {"id": 1, "email": "Admin@Example.com"}
    mapping = tmp_path / "import.map"
    mapping.write_text("customer:Acme=Acme GmbH\nuser:carol@example.com=7\n")
    environ = {"ZAMMAD_USER_MAP": "dave@example.com=4"}
    if "IMPORT_MAP" in config.KEYS:
        environ["IMPORT_MAP"] = str(mapping)
    empty = tmp_path / "empty.env"
    empty.write_text("")
    settings = load_settings(env_file=str(empty), environ=environ)
    assert kimai_user_of("admin@example.com", settings, me) == (1, "the token's user")
    assert kimai_user_of("DAVE@example.com", settings, me) == (4, "ZAMMAD_USER_MAP")
    expected = (7, "IMPORT_MAP") if "IMPORT_MAP" in config.KEYS else (None, None)
    assert kimai_user_of("carol@example.com", settings, me) == expected
    assert kimai_user_of("acme", settings, me) == (None, None)


def test_rows_name_a_person_by_e_mail_user_key_or_timesheet():
    person = Person(BOB, 2, [10])
    assert person.owns({"message": "agent Bob@Example.com is not mapped."})
    assert person.owns({"data": {"fields": {"user": 2}}}) and person.owns({"data": {"user": "2"}})
    assert person.owns({"target_type": "timesheet", "target_id": 10, "data": None})
    assert not person.owns({"message": "agent notbob@example.com"}) and not person.owns(
        {"message": "bob@example.com.au"}
    )
    assert not person.owns({"data": {"project": 2, "activity": 2}}) and not person.owns(
        {"target_type": "activity", "target_id": 10}
    )


def kimai_lookups(sb):
    """The GET /api/users requests Kimai saw: (query, status)."""
    return [(r.query, r.status) for r in sb.requests if r.service == "kimai" and r.path == "/api/users"]


@pytest.mark.parametrize("enabled", [True, False])
def test_an_e_mail_no_map_knows_is_found_in_kimais_user_list_by_a_super_admin_token(workdir, people, enabled):
    """The token's user (admin) is a ROLE_SUPER_ADMIN: GET /api/users?visible=3&term=E-MAIL finds the
    one user with exactly that e-mail (hidden users too), and the ZIP holds that user's timesheets."""
    sb = workdir.sandbox
    carol = sb.kimai.add_user("cjones", email="Carol@Example.com", alias="Carol Jones", enabled=enabled)["id"]
    sb.kimai.add_user("notcarol", email="notcarol@example.com")  # the term matches it too: not the same e-mail
    project, activity = sb.kimai.projects[0]["id"], sb.kimai.activities[0]["id"]
    sheets = [
        sb.kimai.add_timesheet(
            project,
            activity,
            f"2026-04-0{n + 1}T09:00:00",
            f"2026-04-0{n + 1}T11:00:00",
            user=carol,
            description=f"carol-private-{n}",
        )["id"]
        for n in range(2)
    ]
    sb.clear_requests()
    out = workdir.path / "carol.zip"
    proc = gdpr(workdir, "--user", "carol@example.COM", "--out", str(out))
    assert proc.stdout.strip() == str(out) and proc.stderr.strip() == f"Kimai user {carol}: 2 kimai_timesheets"
    manifest, files = check_archive(workdir, out)
    assert (
        manifest["subject"]["kimai_user_id"] == carol and manifest["subject"]["kimai_user_from"] == "Kimai's user list"
    )
    assert manifest["subject"]["email"] == "carol@example.COM"
    timesheets = json.loads(files["kimai_timesheets.json"])
    assert sorted(t["id"] for t in timesheets) == sheets and {t["user"] for t in timesheets} == {carol}
    assert "carol-private-1" in files["kimai_timesheets.csv"] and "kimai_user.json" not in files
    for name, text in files.items():
        assert "admin-private" not in text and "bob-private" not in text, name
    assert all(json.loads(files[f"store_{table}.json"]) == [] for table in ("links", "audit", "imports"))
    assert kimai_lookups(sb) == [({"visible": ["3"], "term": ["carol@example.com"]}, 200)]
    assert sb.count(writes=True) == 0 and sb.violations == []


def test_without_view_user_the_e_mail_is_refused_naming_the_flag_and_the_maps(workdir, people):
    """A token whose user is no super admin gets 403 from GET /api/users: one line naming
    --kimai-user and the maps, exit 2, no ZIP; --kimai-user ID then works."""
    sb = workdir.sandbox
    carol = sb.kimai.add_user("carol")["id"]
    sb.kimai.update_user(sb.kimai.me, roles=["ROLE_ADMIN"])  # an admin, but view_user is the super admin's
    sb.clear_requests()
    out = workdir.path / "carol.zip"
    proc = gdpr(workdir, "--user", "carol@example.com", "--out", str(out), code=2)
    [line] = proc.stderr.strip().splitlines()
    assert line == (
        "error: no Kimai user id known for carol@example.com: this token may not list Kimai users "
        "(it needs the view_user permission), and it is not the token's user nor in ZAMMAD_USER_MAP "
        "or IMPORT_MAP; pass --kimai-user ID (or map the e-mail there)"
    )
    assert proc.stdout == "" and not out.exists() and not (workdir.path / "exports").exists()
    assert kimai_lookups(sb) == [({"visible": ["3"], "term": ["carol@example.com"]}, 403)]
    result = json.loads(gdpr(workdir, "--user", "carol@example.com", "--kimai-user", str(carol), "--json").stdout)
    assert result["subject"]["kimai_user_id"] == carol and result["subject"]["kimai_user_from"] == "--kimai-user"
    workdir.set(ZAMMAD_USER_MAP=f"carol@example.com={carol}")  # or the map names the e-mail: no lookup then
    sb.clear_requests()
    result = json.loads(gdpr(workdir, "--user", "carol@example.com", "--json").stdout)
    assert result["subject"]["kimai_user_from"] == "ZAMMAD_USER_MAP" and kimai_lookups(sb) == []
    assert sb.count(writes=True) == 0 and sb.violations == []


def test_two_kimai_users_with_the_e_mail_are_refused(workdir, people):
    sb = workdir.sandbox
    for name in ("carol", "carol2"):
        sb.kimai.add_user(name, email="carol@example.com")
    proc = gdpr(workdir, "--user", "carol@example.com", code=2)
    [line] = proc.stderr.strip().splitlines()
    assert "2 Kimai users have this e-mail" in line and "--kimai-user ID" in line


def test_a_token_that_may_not_see_other_timesheets_does_not_put_its_own_in_the_archive(workdir, people):
    sb = workdir.sandbox
    sb.kimai.update_user(sb.kimai.me, roles=["ROLE_USER"])
    proc = workdir.run("report.py", "gdpr", "--user", BOB, "--json")
    if proc.returncode == 0:
        manifest, files = check_archive(workdir, workdir.path / json.loads(proc.stdout)["file"])
        assert {t["user"] for t in json.loads(files["kimai_timesheets.json"])} <= {people["bob"]}
        assert not any("admin-private" in text for text in files.values())
    else:  # refused: one line naming the missing permission, nothing written, nothing purged
        assert proc.returncode == 77, proc.stderr
        assert "view_other_timesheet" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert not list(workdir.path.rglob("*.zip"))


def test_stored_calendar_events_of_the_persons_mailbox_or_organised_by_them_are_theirs(workdir, people):
    """graph-kimai's copy of Outlook events: an event in bob's mailbox, or one he organised in
    another mailbox, is in his archive and goes with --purge; admin's own events stay."""
    rows = [
        (BOB, "AAMk-1", "Bob's planning", ADMIN),
        (ADMIN, "AAMk-2", "Review with Bob", BOB),
        (ADMIN, "AAMk-3", "Admin alone", ADMIN),
    ]
    with Store(workdir.db) as store, store.conn:
        for mailbox, event_id, subject, organizer in rows:
            store.conn.execute(
                "INSERT INTO graph_events (mailbox, event_id, subject, organizer, categories, seen_at) "
                "VALUES (?, ?, ?, ?, '[]', '2026-11-27T10:00:00Z')",
                (mailbox, event_id, subject, organizer),
            )
    out = workdir.path / "bob.zip"
    gdpr(workdir, "--user", BOB, "--out", str(out))
    manifest, files = check_archive(workdir, out)
    events = json.loads(files["store_graph_events.json"])
    assert (
        sorted(e["event_id"] for e in events) == ["AAMk-1", "AAMk-2"] and manifest["counts"]["store_graph_events"] == 2
    )
    result = json.loads(gdpr(workdir, "--user", BOB, "--purge", "--yes", "--json").stdout)
    assert result["purged"]["graph_events"] == 2
    with Store(workdir.db, readonly=True) as store:
        left = [r[0] for r in store.conn.execute("SELECT event_id FROM graph_events")]
    assert left == ["AAMk-3"]

"""Every text the store keeps that may come from a server or an exception is redacted at the store
layer, as the log is (every form of every configured secret), whoever the caller: run messages,
item errors, link errors, conflict data, audit values, import parameters and errors. Exports,
backups (the store snapshot and the env file, comments included) and GDPR archives likewise."""

import base64
import json
import sqlite3
import zipfile
from urllib.parse import quote

import pytest
from ops_helpers import explain, offline_env, run

from common.config import load_settings
from common.logs import secret_forms, setup_logging
from common.store import Store

TOKEN = "kimai-offline-token-888"


@pytest.fixture(autouse=True)
def no_configured_secrets():
    """The redaction's secrets are the process's (set by setup_logging): none before and after."""
    setup_logging(None)
    yield
    setup_logging(None)


def forms():
    return [f for f in secret_forms(TOKEN) if len(f) >= 8]


def leaks(text):
    return [form for form in forms() if form in text]


def dump(db):
    with sqlite3.connect(db) as conn:
        return "\n".join(conn.iterdump())


def test_every_text_the_store_keeps_is_redacted_whoever_writes_it(tmp_path):
    env_file = offline_env(tmp_path)
    setup_logging(load_settings(str(env_file), environ={}))
    encoded = base64.b64encode(TOKEN.encode()).decode()
    with Store(tmp_path / "sync.db") as store:
        run_id = store.start_run("csv-kimai", {"file": f"/home/{TOKEN}.csv"})
        store.mark_failed("csv-kimai", "csv:1", "timesheet", run_id, f"kimai: 400 Bearer {TOKEN.upper()} refused")
        store.add_conflict(
            "zammad-kimai", "zammad:1", "timesheet", 5, {"d": TOKEN.lower()}, {"d": encoded}, None, "h", run_id
        )
        store.record_audit(run_id, "csv-kimai", "csv:2", "update", "timesheet", 6, {"url": quote(TOKEN)}, {"d": TOKEN})
        import_id = store.start_import(run_id, "csv-kimai", "csv", {"note": TOKEN})
        store.finish_import(import_id, "partial", {"failed": 1}, [(2, f"row {TOKEN}", f"no project {TOKEN}")])
        store.finish_run(run_id, "failed", 69, {}, f"kimai answered: invalid token {TOKEN}")
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    text = dump(tmp_path / "sync.db")
    assert "***" in text
    assert leaks(text) == []
    assert leaks((tmp_path / "sync.db").read_bytes().decode("latin-1")) == []


def test_a_secret_in_a_csv_row_never_reaches_the_store_or_the_reports(workdir):
    token = next(
        line.split("=", 1)[1] for line in workdir.env_file.read_text().splitlines() if line.startswith("KIMAI_TOKEN=")
    )
    sheet = workdir.path / "hours.csv"
    sheet.write_text(
        "date,begin,end,project,activity,description\n"
        f"2026-11-02,09:00,10:00,{token},{token.lower()},{token}\n"
        f"2026-11-02,09:00,xx,P,A,{token}\n"
    )
    proc = workdir.sync("csv-kimai", str(sheet), "--skip-invalid")
    assert proc.returncode == 3, explain(proc)
    outputs = [proc.stdout + proc.stderr, dump(workdir.db)]
    for args in (("imports", "--errors", "--json"), ("errors", "--json"), ("history", "--json")):
        shown = workdir.run("report.py", *args, check_code=0)
        outputs.append(shown.stdout + shown.stderr)
    assert "***" in outputs[1]
    for text in outputs:
        assert token not in text and token.lower() not in text


def test_backups_and_exports_of_an_older_store_and_a_commented_env_file_hold_no_secret(tmp_path):
    """A store written before the store redacted (a secret in a run message and an item error)
    and an env file whose comment quotes the token, lower-cased."""
    env_file = offline_env(tmp_path)
    with open(env_file, "a") as handle:
        handle.write(f"# the old kimai key was {TOKEN.lower()}, rotated\n")
    db = tmp_path / "sync.db"
    with Store(db) as store:  # no secrets configured in this process: kept as given
        run_id = store.start_run("gitea-kimai", {})
        store.mark_failed("gitea-kimai", "gitea:acme/web#1", "activity", run_id, f"echoed {TOKEN}")
        store.finish_run(run_id, "failed", 77, {}, f"kimai: token {TOKEN} refused")
    assert TOKEN in dump(db)

    created = run("backup.py", "create", "--include-config", "--json", cwd=tmp_path, env_file=env_file)
    assert created.returncode == 0, explain(created)
    with zipfile.ZipFile(json.loads(created.stdout)["archive"]) as archive:
        config = archive.read("config.env").decode()
        snapshot = tmp_path / "snapshot.db"
        snapshot.write_bytes(archive.read("store.db"))
    assert leaks(config) == []
    assert leaks(dump(snapshot)) == [] and leaks(snapshot.read_bytes().decode("latin-1")) == []
    with sqlite3.connect(snapshot) as conn:
        assert conn.execute("SELECT message FROM runs").fetchone()[0] == "kimai: token *** refused"

    exported = run("report.py", "export", "--format", "json", "--json", cwd=tmp_path, env_file=env_file)
    assert exported.returncode == 0, explain(exported)
    for path in json.loads(exported.stdout)["files"]:
        with open(path, encoding="utf-8") as handle:
            assert leaks(handle.read()) == [], path


@pytest.mark.parametrize("form", ["lower", "base64"])
def test_a_gdpr_archive_holds_no_form_of_a_secret(workdir, form):
    token = next(
        line.split("=", 1)[1] for line in workdir.env_file.read_text().splitlines() if line.startswith("KIMAI_TOKEN=")
    )
    shown = token.lower() if form == "lower" else base64.b64encode(token.encode()).decode()
    with Store(workdir.db) as store:  # an older store: the text kept as it came
        run_id = store.start_run("zammad-kimai", {})
        store.conn.execute(
            "INSERT INTO item_errors (run_id, job, source_key, message, at) VALUES (?, ?, ?, ?, 'now')",
            (run_id, "zammad-kimai", "zammad:ticket/1/time/1", f"ann@example.com: server said {shown}"),
        )
        store.conn.commit()
    proc = workdir.run("report.py", "gdpr", "--user", "ann@example.com", "--kimai-user", "1", "--json")
    assert proc.returncode == 0, explain(proc)
    with zipfile.ZipFile(json.loads(proc.stdout)["file"]) as archive:
        members = {name: archive.read(name).decode() for name in archive.namelist()}
    assert any("server said ***" in text for text in members.values()), members.keys()
    for text in members.values():
        assert shown not in text

"""sync.py and backup.py on the command line (issue 8, "cron, systemd and the terminal"): each job
takes only its own options, --version, examples in every --help, the webhook's secret, and the
JSON of `cache status` and of an error."""

import json
import os
import re
import signal
import subprocess
import sys

import pytest
from gitea_helpers import seed
from ops_helpers import ROOT, explain, offline_env, run
from sync_json import job_summary
from test_zammad_kimai_e2e import seed_tickets, zwork  # noqa: F401 (zwork: fixture)
from test_zammad_kimai_webhook import free_port, start_webhook, wait_for


# a job-specific flag given where it does not belong -> usage error naming it
@pytest.mark.parametrize(
    "args, flag, owner",
    [
        (("toggl-kimai", "--repos", "web"), "--repos", "gitea-kimai"),
        (("zammad-kimai", "--include-prs"), "--include-prs", "gitea-kimai"),
        (("gitea-kimai", "--from", "2026-11-01"), "--from", "zammad-kimai, toggl-kimai, harvest-kimai"),
        (("gitea-kimai", "--create-missing"), "--create-missing", "toggl-kimai, harvest-kimai, csv-kimai"),
        (("zammad-kimai", "--create-missing"), "--create-missing", "toggl-kimai"),
        (("csv-kimai", "--repos", "web"), "--repos", "gitea-kimai"),
        (("harvest-kimai", "--template"), "--template", "csv-kimai"),
        (("--repos", "web"), "--repos", "gitea-kimai"),  # on the bare group: it runs SYNC_JOBS, no job's own options
        (("--from", "2026-11-01", "zammad-kimai"), "--from", "zammad-kimai"),
    ],
)
def test_a_flag_of_another_job_is_a_usage_error_naming_it(tmp_path, args, flag, owner):
    proc = run("sync.py", *args, cwd=tmp_path, env_file=offline_env(tmp_path))
    assert proc.returncode == 2, explain(proc)
    assert f"No such option '{flag}'" in proc.stderr and proc.stdout == ""
    assert f"it is an option of {owner}" in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    "job, own, foreign",
    [
        ("gitea-kimai", ["--repos", "--include-prs"], ["--from", "--to", "--create-missing", "--template"]),
        ("zammad-kimai", ["--from", "--to"], ["--repos", "--include-prs", "--create-missing"]),
        ("toggl-kimai", ["--from", "--to", "--create-missing"], ["--repos", "--include-prs", "--skip-invalid"]),
        ("harvest-kimai", ["--from", "--to", "--create-missing"], ["--repos", "--template"]),
        ("csv-kimai", ["--template", "--date-format", "--skip-invalid", "--create-missing"], ["--repos", "--from"]),
    ],
)
def test_each_job_help_shows_its_own_options_and_the_common_ones(tmp_path, job, own, foreign):
    text = run("sync.py", job, "--help", cwd=tmp_path).stdout
    options = set(re.findall(r"^\s+(?:-\w, )?(--[\w-]+)", text, re.M))
    common = {
        "--dry-run",
        "--full",
        "--json",
        "--quiet",
        "--verbose",
        "--env-file",
        "--cache",
        "--rate-limit",
        "--page-size",
        "--max-pages",
        "--stats",
        "--export",
        "--clear-cache",
        "--fail-on-conflicts",
    }
    assert set(own) | common <= options, text
    assert not options & set(foreign), text


def test_options_before_and_after_the_job_name_are_merged(workdir):
    seed(workdir.sandbox, repos=("web", "api"), issues=1)
    summary = job_summary(workdir.sync("--dry-run", "gitea-kimai", "--repos", "api", "--json", check_code=0))
    assert summary["dry_run"] is True and summary["plan"]
    assert all("acme/api" in p["item"] for p in summary["plan"] if p["target_type"] != "customer"), summary["plan"]
    assert workdir.sandbox.kimai.activities == []


@pytest.mark.parametrize("script", ["sync.py", "backup.py"])
def test_version(tmp_path, script):
    from common import __version__

    proc = run(script, "--version", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"{script}, version {__version__}"


SYNC_COMMANDS = [
    (),
    ("gitea-kimai",),
    ("zammad-kimai",),
    ("toggl-kimai",),
    ("harvest-kimai",),
    ("csv-kimai",),
    ("conflicts",),
    ("resolve",),
    ("webhook",),
    ("cache",),
]
BACKUP_COMMANDS = [(), ("create",), ("list",), ("verify",), ("prune",), ("restore",)]


@pytest.mark.parametrize(
    "script, command", [("sync.py", c) for c in SYNC_COMMANDS] + [("backup.py", c) for c in BACKUP_COMMANDS]
)
def test_every_help_ends_with_real_examples(tmp_path, script, command):
    text = run(script, *command, "--help", cwd=tmp_path).stdout
    examples = text.split("Examples:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert 2 <= len(examples) <= 3, text
    names = {c[0] for c in (SYNC_COMMANDS if script == "sync.py" else BACKUP_COMMANDS) if c}
    for line in examples:
        words = line.split("#")[0].split()
        assert words[:2] == ["python", script], line
        sub = next((w for w in words if w in names), None)
        assert sub == (command[0] if command else sub), line  # an example of this very command
        known = run(script, "--help", cwd=tmp_path).stdout + (
            run(script, sub, "--help", cwd=tmp_path).stdout if sub else ""
        )
        assert all(w.split("=")[0] in known for w in words if w.startswith("-")), line  # every flag exists


# -- the webhook's secret ---------------------------------------------------------------------------


def test_webhook_refuses_to_start_without_a_secret(zwork):
    proc = zwork.sync("webhook", "--port", "0", check_code=78)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "ZAMMAD_WEBHOOK_SECRET" in lines[0] and "--insecure" in lines[0], proc.stderr
    assert proc.stdout == ""


def test_webhook_insecure_starts_warns_and_serves_unsigned_deliveries(zwork):
    import requests

    from sandbox.zammad import webhook_request

    sb = zwork.sandbox
    [ticket] = seed_tickets(sb, tickets=1, entries=1)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "sync.py"),
            "webhook",
            "--insecure",
            "--port",
            str(port),
            "--env-file",
            str(zwork.env_file),
        ],
        cwd=zwork.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert wait_for(lambda: port_open(port))
        body, headers = webhook_request(sb, ticket["id"])  # unsigned
        assert requests.post(f"http://127.0.0.1:{port}/", data=body, headers=headers, timeout=5).status_code == 202
        assert wait_for(lambda: len(sb.kimai.timesheets) == 1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert re.search(r"ZAMMAD_WEBHOOK_SECRET is not set \(--insecure\)", err), err
    assert wait_for(lambda: "run summary: job=zammad-kimai outcome=ok" in (zwork.path / "tracksync.log").read_text())
    zwork.set(ZAMMAD_WEBHOOK_SECRET="s3cret-webhook-key")  # with the secret: no warning
    proc = start_webhook(zwork, port)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "not set" not in err, err


def port_open(port):
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


# -- JSON of the other commands ---------------------------------------------------------------------


def test_cache_status_json(workdir):
    seed(workdir.sandbox, repos=("web",), issues=1)
    workdir.sync(check_code=0)
    data = json.loads(workdir.sync("cache", "status", "--json", check_code=0).stdout)
    assert set(data) == {"enabled", "ttl_seconds", "folder", "files"} and data["enabled"] is True
    assert data["files"] and all(set(f) == {"file", "bytes"} and f["bytes"] > 0 for f in data["files"])
    cleared = json.loads(workdir.sync("cache", "clear", "--json", check_code=0).stdout)
    assert cleared["removed"] == len(data["files"])


def test_an_error_under_json_is_a_json_object_on_stdout_too(tmp_path):
    env_file = offline_env(tmp_path, KIMAI_TOKEN=None)
    proc = run("sync.py", "--json", cwd=tmp_path, env_file=env_file)
    assert proc.returncode == 78 and proc.stderr.startswith("error: ")
    data = json.loads(proc.stdout)
    assert data["exit_code"] == 78 and "KIMAI_TOKEN" in data["error"]
    proc = run("sync.py", "--json", "--env-file", str(tmp_path / "missing.env"), cwd=tmp_path)  # stopped before any job
    assert proc.returncode == 78, explain(proc)
    data = json.loads(proc.stdout)
    assert data["exit_code"] == 78 and "missing.env" in data["error"]

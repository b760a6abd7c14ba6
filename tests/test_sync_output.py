"""What sync.py prints (issue 8, "every output tells the truth"): errors alone, the outcome column,
dry-run plans under headings, grouped failures, one JSON schema, --quiet, the log file's summary
line and --fail-on-conflicts. Each runs the real sync.py against the sandbox."""

import json
import os
import pty
import re
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from conftest import ROOT
from gitea_helpers import seed
from sync_json import job_summary, sync_document
from test_imports_e2e import utc
from test_zammad_kimai_e2e import JOB as ZAMMAD
from test_zammad_kimai_e2e import kimai_api, seed_tickets, zwork  # noqa: F401 (zwork: fixture)

from common.store import Store

TOGGL_WINDOW = ("--from", "2026-11-01", "--to", "2026-11-03")


def table(stdout):
    """The summary table as {job: {column: cell}} (columns split on two or more spaces)."""
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.startswith("job "))
    headers = re.split(r"\s{2,}", lines[start].strip())
    rows = {}
    for line in lines[start + 2 :]:
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) != len(headers):
            break
        rows[cells[0]] = dict(zip(headers, cells, strict=True))
    return rows


def seed_toggl_entries(sb, count=3, project="Website", client="Globex"):
    """`count` Toggl entries of one project whose customer, project and activity Kimai lacks."""
    toggl_project = sb.toggl.add_project(project, client_name=client)
    for n in range(count):
        start = utc(2026, 11, 2, 8) + timedelta(hours=n)
        sb.toggl.add_entry(
            start, start + timedelta(minutes=45), description=f"Task {n}", project_id=toggl_project["id"]
        )


# -- a run stopped by an error prints its error and nothing else ----------------------------------


@pytest.mark.parametrize(
    "keys, code, says",
    [
        ({"KIMAI_TOKEN": ""}, 78, "KIMAI_TOKEN"),
        ({"KIMAI_TOKEN": "not-the-right-token"}, 77, "authentication refused"),
        ({"KIMAI_URL": "http://127.0.0.1:9"}, 69, "cannot reach"),
    ],
)
@pytest.mark.parametrize("dry_run", [(), ("--dry-run",), ("--stats",)])
def test_a_stopped_run_prints_only_its_error_line(workdir, keys, code, says, dry_run):
    seed(workdir.sandbox, repos=("web",), issues=2)
    workdir.set(**keys)
    proc = workdir.sync(*dry_run, check_code=code)
    assert proc.stdout == ""  # no plan, no "nothing to change", no table of zeros
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], proc.stderr


def test_a_bad_flag_is_a_usage_error_without_plan_or_table(workdir):
    proc = workdir.sync("--no-such-flag", check_code=2)
    assert proc.stdout == "" and "No such option --no-such-flag" in proc.stderr.replace("'", "")
    assert "outcome" not in proc.stderr and "Plan for" not in proc.stderr


def test_of_several_jobs_the_stopped_one_gives_its_error_and_a_failed_row(workdir):
    sb = workdir.sandbox
    seed(sb, repos=("web",), issues=2)
    workdir.set(SYNC_JOBS="gitea-kimai,zammad-kimai", ZAMMAD_URL="http://127.0.0.1:9", ZAMMAD_TOKEN="zammad-token-1234")
    proc = workdir.sync(check_code=69)
    rows = table(proc.stdout)
    assert list(rows) == ["gitea-kimai", "zammad-kimai"]
    assert (
        rows["gitea-kimai"]["outcome"] == "ok" and rows["gitea-kimai"]["created"] == "5"
    )  # 2 issues + 3 awkward titles
    assert rows["zammad-kimai"]["outcome"] == "failed"  # said in its row, not left out of the table
    assert proc.stderr.splitlines() == [
        ln for ln in proc.stderr.splitlines() if ln.startswith("error: zammad: cannot reach")
    ]
    assert len(proc.stderr.splitlines()) == 1
    data = sync_document(workdir.sync("--json", check_code=69))
    assert [(j["job"], j["outcome"]) for j in data["jobs"]] == [("gitea-kimai", "ok"), ("zammad-kimai", "failed")]
    assert data["exit_code"] == 69 and data["error"].startswith("zammad: cannot reach")
    assert data["jobs"][1]["error"] == data["error"] and data["jobs"][1]["exit_code"] == 69


# -- the outcome column ----------------------------------------------------------------------------


def test_outcome_column_ok_then_partial(workdir):
    sb = workdir.sandbox
    seed(sb, repos=("web", "api"), issues=2)
    assert table(workdir.sync(check_code=0).stdout)["gitea-kimai"]["outcome"] == "ok"
    proc = workdir.sync("gitea-kimai", "--repos", "web,nope", check_code=3)
    assert table(proc.stdout)["gitea-kimai"]["outcome"] == "partial"
    assert job_summary(workdir.sync("gitea-kimai", "--repos", "nope", "--json", check_code=3))["outcome"] == "partial"


def test_outcome_conflicts_and_fail_on_conflicts(zwork):
    sb = zwork.sandbox
    [ticket] = seed_tickets(sb, tickets=1, entries=1)
    zwork.sync(*ZAMMAD, check_code=0)
    assert zwork.sync(*ZAMMAD, "--fail-on-conflicts", check_code=0).stdout  # no open conflict: exit 0
    [entry], [sheet] = sb.zammad.time_accountings, sb.kimai.timesheets
    session, base = kimai_api(sb)  # a person edits the timesheet in Kimai, and Zammad changes the entry
    session.patch(
        f"{base}/timesheets/{sheet['id']}",
        json={"description": sheet["description"] + "\nbilled to Globex", "billable": True, "exported": False},
    ).raise_for_status()
    sb.zammad.edit_time_accounting(ticket["id"], entry["id"], time_unit="30.0")
    proc = zwork.sync(*ZAMMAD, check_code=0)
    assert table(proc.stdout)["zammad-kimai"]["outcome"] == "conflicts"
    proc = zwork.sync(*ZAMMAD, "--fail-on-conflicts", check_code=3)  # the conflict is still open
    assert "1 open conflict" in proc.stderr
    proc = zwork.sync("--fail-on-conflicts", "--quiet", check_code=3)  # the bare group, from cron
    assert "1 open conflict" in proc.stderr
    listed = zwork.sync("conflicts", check_code=0).stdout
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", listed), listed  # the detected time names its zone
    [conflict] = json.loads(zwork.sync("conflicts", "--json", check_code=0).stdout)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", conflict["detected_at"])
    assert set(conflict) == {
        "id",
        "job",
        "source_key",
        "target_type",
        "target_id",
        "source_data",
        "target_data",
        "last_data",
        "run_id",
        "detected_at",
    }


# -- dry run: headings, each container once, and the real run does exactly the plan ---------------


def test_dry_run_lists_each_container_once_under_headings_and_the_real_run_does_the_plan(iwork):
    sb = iwork.sandbox
    seed_toggl_entries(sb, count=3)  # three entries need the same new customer, project and activity
    proc = iwork.sync("toggl-kimai", *TOGGL_WINDOW, "--create-missing", "--dry-run", check_code=0)
    lines = proc.stdout.splitlines()
    heading = lines.index("  would create (6):")
    planned = [ln.strip() for ln in lines[heading + 1 : heading + 7]]
    assert planned[:3] == [
        "create customer 'Globex'",
        "create project 'Website' (customer 'Globex')",
        "create activity 'Work' in project 'Website' (customer 'Globex')",
    ]
    assert all(ln.startswith("create toggl ") for ln in planned[3:])
    assert sum("customer 'Globex'" in ln for ln in lines) == 3  # its own line, and as the parent of two
    row = table(proc.stdout)["toggl-kimai"]  # a dry run's table says "would": nothing was created
    assert "created" not in row and row["would create"] == "3"
    assert row["would create containers"] == "1 customer, 1 project, 1 activity"
    plan = job_summary(
        iwork.sync("toggl-kimai", *TOGGL_WINDOW, "--create-missing", "--dry-run", "--json", check_code=0)
    )
    kinds = [(p["action"], p["target_type"]) for p in plan["plan"]]
    assert (
        kinds.count(("create", "customer"))
        == kinds.count(("create", "project"))
        == kinds.count(("create", "activity"))
        == 1
    )
    assert (
        plan["counts"]["customers_created"]
        == plan["counts"]["projects_created"]
        == plan["counts"]["activities_created"]
        == 1
    )

    real = job_summary(iwork.sync("toggl-kimai", *TOGGL_WINDOW, "--create-missing", "--json", check_code=0))
    assert (len(sb.kimai.customers), len(sb.kimai.projects), len(sb.kimai.activities), len(sb.kimai.timesheets)) == (
        1,
        1,
        1,
        3,
    )
    assert real["counts"] == plan["counts"]  # the real run counts what the plan said


def test_dry_run_of_gitea_kimai_counts_customer_and_project_like_the_real_run(workdir):
    sb = workdir.sandbox
    seed(sb, repos=("web", "api"), issues=2)
    proc = workdir.sync("--dry-run", check_code=0)
    assert "  would create (" in proc.stdout
    assert sum(ln.strip().startswith("create customer") for ln in proc.stdout.splitlines()) == 1
    assert sum(ln.strip().startswith("create project") for ln in proc.stdout.splitlines()) == 2
    planned = table(proc.stdout)["gitea-kimai"]
    done = table(workdir.sync(check_code=0).stdout)["gitea-kimai"]
    assert planned["would create containers"] == done["new containers"] == "1 customer, 2 projects"
    assert planned["would create"] == done["created"] == str(len(sb.kimai.activities))
    assert "nothing to change" in workdir.sync("--dry-run", check_code=0).stdout


# -- many failures for one reason are one line -----------------------------------------------------


def test_failures_of_one_reason_are_one_line_with_a_count_and_examples(iwork):
    sb = iwork.sandbox
    seed_toggl_entries(sb, count=5)
    proc = iwork.sync("toggl-kimai", *TOGGL_WINDOW, check_code=3)
    failed = [ln for ln in proc.stderr.splitlines() if ln.startswith("failed:")]
    assert len(failed) == 1, proc.stderr
    assert re.fullmatch(
        r"failed: 5 entries: Kimai has no project 'Website'.*\(e\.g\. toggl \d+, toggl \d+, toggl \d+\)", failed[0]
    )
    with Store(iwork.db, readonly=True) as store:  # every item is still recorded (report.py errors)
        assert sum(ln["state"] == "failed" for ln in store.links("toggl-kimai").values()) == 5
    summary = job_summary(iwork.sync("toggl-kimai", *TOGGL_WINDOW, "--json", check_code=3))
    assert len(summary["failures"]) == 5  # JSON keeps every item


def test_a_single_failure_stays_label_and_reason(iwork):
    seed_toggl_entries(iwork.sandbox, count=1)
    proc = iwork.sync("toggl-kimai", *TOGGL_WINDOW, check_code=3)
    assert re.search(r"^failed: toggl \d+: Kimai has no project 'Website'", proc.stderr, re.M), proc.stderr


# -- one JSON schema --------------------------------------------------------------------------------

JOB_KEYS = {
    "job",
    "outcome",
    "exit_code",
    "dry_run",
    "counts",
    "requests",
    "writes",
    "seconds",
    "run_id",
    "plan",
    "failures",
    "warnings",
    "error",
    "open_conflicts",
}


def test_json_is_one_schema_for_one_job_and_for_two(zwork):
    sb = zwork.sandbox
    seed(sb, repos=("web",), issues=2)
    seed_tickets(sb, tickets=1, entries=1)
    zwork.set(SYNC_JOBS="gitea-kimai")
    one = sync_document(zwork.sync("--json", check_code=0))
    zwork.set(SYNC_JOBS="gitea-kimai,zammad-kimai")
    two = sync_document(zwork.sync("--json", check_code=0))
    assert set(one) == set(two) == {"version", "exit_code", "error", "jobs"}
    assert [j["job"] for j in two["jobs"]] == ["gitea-kimai", "zammad-kimai"]
    for job in one["jobs"] + two["jobs"]:
        assert set(job) == JOB_KEYS and job["outcome"] == "ok" and isinstance(job["run_id"], int)
        assert {"created", "updated", "customers_created", "projects_created", "activities_created"} <= set(
            job["counts"]
        )
        assert round(job["seconds"], 3) == job["seconds"]
    assert one["jobs"][0]["counts"]["created"] == 5 and two["jobs"][1]["counts"]["created"] == 1
    dry = job_summary(zwork.sync("gitea-kimai", "--dry-run", "--json", "--full", check_code=0))
    assert dry["dry_run"] is True and dry["run_id"] is None and set(dry) == JOB_KEYS


def test_json_plan_entries_name_action_item_target_and_parent(workdir):
    seed(workdir.sandbox, repos=("web",), issues=1)
    plan = job_summary(workdir.sync("--dry-run", "--json", check_code=0))["plan"]
    assert [p["target_type"] for p in plan][:2] == ["customer", "project"]
    for entry in plan:
        assert set(entry) == {"action", "item", "target_type", "label", "parent", "target_id", "detail"}


def test_json_error_of_a_stopped_job_is_in_the_document(workdir):
    seed(workdir.sandbox, repos=("web",), issues=1)
    workdir.set(KIMAI_TOKEN="not-the-right-token")
    proc = workdir.sync("--json", check_code=77)
    data = sync_document(proc)
    assert data["exit_code"] == 77 and "authentication refused" in data["error"]
    assert data["jobs"][0]["outcome"] == "failed" and data["jobs"][0]["plan"] == []
    assert proc.stderr.startswith("error: ")  # and the line on stderr


# -- --quiet and the log file -----------------------------------------------------------------------


def test_quiet_is_silent_when_nothing_changed_and_speaks_when_something_did(workdir):
    sb = workdir.sandbox
    seed(sb, repos=("web",), issues=2)
    proc = workdir.sync("--quiet", check_code=0)
    assert table(proc.stdout)["gitea-kimai"]["created"] == "5"
    proc = workdir.sync("--quiet", check_code=0)
    assert proc.stdout == "" and proc.stderr == ""
    assert workdir.sync("--quiet", "--dry-run", check_code=0).stdout == ""  # an empty plan: silent too
    sb.gitea.add_issue("acme", "web", "A new one")
    proc = workdir.sync("-q", "--dry-run", check_code=0)
    assert "would create (1):" in proc.stdout
    assert table(workdir.sync("gitea-kimai", "-q", check_code=0).stdout)["gitea-kimai"]["created"] == "1"
    proc = workdir.sync("gitea-kimai", "--repos", "web,nope", "-q", check_code=3)  # a failure is never quiet
    assert "failed: acme/nope" in proc.stderr and "gitea-kimai" in proc.stdout


def test_every_run_appends_one_summary_line_to_the_log_file(workdir):
    sb = workdir.sandbox
    seed(sb, repos=("web",), issues=2)
    workdir.set(LOG_LEVEL="ERROR")
    log = workdir.path / "tracksync.log"
    workdir.sync("--quiet", check_code=0)
    workdir.sync("--quiet", check_code=0)
    workdir.sync("--dry-run", check_code=0)
    workdir.set(KIMAI_TOKEN="not-the-right-token")
    workdir.sync("--quiet", check_code=77)
    lines = [ln for ln in log.read_text().splitlines() if "run summary:" in ln]
    assert len(lines) == 4, log.read_text()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"
    assert all(re.match(stamp, ln) and "job=gitea-kimai" in ln for ln in lines)
    assert "outcome=ok" in lines[0] and "created=5" in lines[0] and "run_id=1" in lines[0]
    assert re.search(r"seconds=\d+\.\d{3}\b", lines[0])
    assert "unchanged=5" in lines[1] and "dry_run=yes" in lines[2] and "run_id=-" in lines[2]
    assert "outcome=failed" in lines[3] and "exit=77" in lines[3]
    assert "not-the-right-token" not in log.read_text()
    assert not [
        ln for ln in log.read_text().splitlines() if " INFO " in ln and "run summary:" not in ln
    ]  # LOG_LEVEL holds


def run_on_a_terminal(workdir, *args, env=None):
    """sync.py with its stdout on a pseudo-terminal; returns what it printed there."""
    master, slave = pty.openpty()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "sync.py"), *args, "--env-file", str(workdir.env_file)],
        cwd=workdir.path,
        stdout=slave,
        stderr=subprocess.PIPE,
        timeout=120,
        env={**{k: v for k, v in os.environ.items() if k != "NO_COLOR"}, "PYTHONPATH": str(ROOT), **(env or {})},
    )
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.returncode == 0, proc.stderr
    return out.decode()


def test_outcome_is_coloured_on_a_terminal_unless_no_color(workdir):
    seed(workdir.sandbox, repos=("web",), issues=1)
    assert "\x1b[32mok\x1b[0m" in run_on_a_terminal(workdir)
    plain = run_on_a_terminal(workdir, env={"NO_COLOR": "1"})
    assert "\x1b[" not in plain and " ok " in plain
    assert "\x1b[" not in workdir.sync(check_code=0).stdout  # piped: no colour


def test_quiet_keeps_a_warning_of_an_unchanged_run_in_the_log_file(workdir):
    seed(workdir.sandbox, repos=("web",), issues=12)
    workdir.sync(check_code=0)
    proc = workdir.sync("gitea-kimai", "--quiet", "--full", "--page-size", "5", "--max-pages", "1", check_code=0)
    assert proc.stdout == "" and proc.stderr == ""
    assert "gitea-kimai: warning: acme/web: MAX_PAGES reached" in (workdir.path / "tracksync.log").read_text()


def test_a_sigterm_stopped_run_is_interrupted_in_json_and_prints_only_its_error(workdir):
    import signal

    from conftest import wait_for

    sb = workdir.sandbox
    seed(sb, repos=("web",), issues=150)
    workdir.set(SYNC_WORKERS="2")
    sb.faults.configure(latency_ms=15)
    proc = workdir.start("sync.py", "gitea-kimai", "--json")
    wait_for(lambda: len(sb.kimai.activities) >= 10 or proc.poll() is not None)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 75, (out, err)
    data = json.loads(out)
    assert data["exit_code"] == 75 and data["jobs"][0]["outcome"] == "interrupted"
    assert data["jobs"][0]["counts"]["created"] > 0  # what was done before the stop is counted
    sb.faults.configure(latency_ms=15)
    proc = workdir.start("sync.py", "gitea-kimai", "--full")
    wait_for(lambda: len(sb.kimai.activities) >= 20 or proc.poll() is not None)
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 75 and err.startswith("error: stopped by a signal"), (out, err)
    assert table(out)["gitea-kimai"]["outcome"] == "interrupted"  # a row: it did write before the stop


def test_json_is_printed_under_quiet_too_and_a_dry_run_exports_nothing(workdir):
    seed(workdir.sandbox, repos=("web",), issues=1)
    workdir.sync(check_code=0)
    data = sync_document(workdir.sync("--quiet", "--json", check_code=0))  # nothing changed: still a document
    assert data["jobs"][0]["outcome"] == "ok"
    workdir.sync("--dry-run", "--export", check_code=0)
    assert not (workdir.path / "exports").exists()


def test_the_same_error_of_several_jobs_is_said_once(workdir):
    workdir.set(
        SYNC_JOBS="gitea-kimai,zammad-kimai",
        KIMAI_TOKEN="",
        ZAMMAD_URL="http://127.0.0.1:9",
        ZAMMAD_TOKEN="zammad-token-1234",
    )
    proc = workdir.sync(check_code=78)
    assert proc.stderr.count("KIMAI_TOKEN") == 1, proc.stderr

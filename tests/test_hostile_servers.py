"""The real scripts against hostile stand-ins (sandbox/faults.py `hostile=[...]`): bad data (an
HTML page, an empty body, `null`, truncated JSON), paging that cannot be trusted (no headers,
repeated pages, next links that loop or lead elsewhere), trickled and oversized answers. Each
stops the run with one line naming the service and the request (69), after no write, or reads
the whole list anyway; nothing is ever sent to another origin."""

from datetime import UTC, datetime, timedelta

import pytest
from gitea_helpers import assert_converged
from gitea_helpers import seed as seed_gitea

DAY = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
TOGGL = ["toggl-kimai", "--from", "2026-11-01", "--to", "2026-11-03", "--create-missing"]
HARVEST = ["harvest-kimai", "--from", "2026-11-01", "--to", "2026-11-03", "--create-missing"]


@pytest.fixture
def hwork(workdir):
    sb = workdir.sandbox
    env = sb.env(owner="acme")
    keys = ("TOGGL_URL", "TOGGL_TOKEN", "TOGGL_WORKSPACE", "HARVEST_URL", "HARVEST_TOKEN", "HARVEST_ACCOUNT_ID")
    workdir.set(
        **{k: env[k] for k in keys},
        ZAMMAD_URL=sb.url("zammad"),
        ZAMMAD_TOKEN=sb.tokens["zammad"],
        ZAMMAD_DEFAULT_ACTIVITY="Support",
    )
    sb.kimai.add_activity("Support", None)
    seed_gitea(sb, issues=3)
    org = sb.zammad.add_organization("Acme Corp")
    ticket = sb.zammad.add_ticket("Printer broken", organization_id=org["id"])
    sb.zammad.add_time_accounting(ticket["id"], 15)
    project = sb.toggl.add_project("Website", client_name="Acme Corp")
    sb.toggl.add_entry(DAY, DAY + timedelta(minutes=45), description="Task", project_id=project["id"])
    return workdir


def kimai_writes(sb):
    return [(r.method, r.path) for r in sb.requests if r.service == "kimai" and r.method != "GET"]


# (job, service, path of a read after the service was proven, what the one line says)
BAD_READS = [
    (["gitea-kimai"], "gitea", r"/repos/acme/web/issues$", "GET /api/v1/repos/acme/web/issues"),
    (["gitea-kimai"], "kimai", r"/api/projects$", "GET /api/projects"),
    (["zammad-kimai"], "zammad", r"/tickets/search$", "GET /api/v1/tickets/search"),
    (["zammad-kimai"], "kimai", r"/api/timesheets$", "GET /api/timesheets"),
    (TOGGL, "toggl", r"/workspaces/\d+/projects$", "GET /api/v9/workspaces/"),
    (HARVEST, "harvest", r"/v2/time_entries$", "GET /v2/time_entries"),
]
WHAT = {
    "html_200": "is an HTML page, not JSON",
    "empty_200": "is empty, not JSON",
    "malformed_json": "is truncated JSON",
    "null_200": "expected ",
}


@pytest.mark.parametrize("behaviour", list(WHAT))
@pytest.mark.parametrize(("job", "service", "path", "where"), BAD_READS)
def test_bad_data_from_a_server_stops_the_run_in_one_line_before_any_write(hwork, job, service, path, where, behaviour):
    sb = hwork.sandbox
    sb.faults.configure(hostile=[behaviour], services=[service], paths=path, methods=["GET"])
    proc = hwork.sync(*job)
    assert proc.returncode == 69, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"error: {service}: {where}") and WHAT[behaviour] in lines[0], lines[0]
    assert any(r.fault == behaviour for r in sb.requests)
    assert kimai_writes(sb) == []


def test_a_list_without_paging_headers_is_read_to_its_end(workdir):
    sb = workdir.sandbox
    seed_gitea(sb, issues=23)
    workdir.set(PAGE_SIZE="5")
    sb.faults.configure(hostile=["no_paging_headers"], services=["gitea"])
    workdir.sync(check_code=0)
    assert_converged(sb)
    assert all("Link" not in r.headers for r in sb.requests if r.service == "gitea")


@pytest.mark.parametrize("behaviour", ["repeat_page", "loop_next"])
def test_a_list_that_does_not_advance_stops_the_run(workdir, behaviour):
    sb = workdir.sandbox
    seed_gitea(sb, issues=23)
    workdir.set(PAGE_SIZE="5")
    sb.faults.configure(hostile=[behaviour], services=["gitea"], paths="/issues$")
    proc = workdir.sync()
    assert proc.returncode == 69, proc.stderr
    assert "reading stopped" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert kimai_writes(sb) == []
    assert sum(1 for r in sb.requests if r.path.endswith("/issues")) <= 3


def test_a_next_link_to_another_origin_is_never_followed(workdir):
    sb = workdir.sandbox
    seed_gitea(sb, issues=23)
    workdir.set(PAGE_SIZE="5")
    sb.faults.configure(hostile=["foreign_next"], services=["gitea"], paths="/issues$")
    proc = workdir.sync()
    assert proc.returncode == 69, proc.stderr
    assert "refused a link to http://localhost:" in proc.stderr, proc.stderr
    hosts = {r.headers.get("Host", "").split(":")[0] for r in sb.requests}
    assert hosts == {"127.0.0.1"}  # the link leads to this very server by another name: never used
    assert kimai_writes(sb) == []


def test_a_trickled_answer_stops_the_run_within_its_deadline(workdir):
    sb = workdir.sandbox
    seed_gitea(sb, issues=3)
    workdir.set(HTTP_TIMEOUT="1")
    sb.faults.configure(hostile=["trickle"], services=["kimai"], paths="/api/projects$", trickle_ms=100)
    proc = workdir.sync(timeout=60)
    assert proc.returncode == 69, proc.stderr
    assert proc.stderr.strip() == (
        "error: kimai: GET /api/projects: the answer was still arriving after 4 x HTTP_TIMEOUT (4 s); reading stopped"
    )
    assert kimai_writes(sb) == []


def test_an_oversized_answer_stops_the_run(workdir):
    sb = workdir.sandbox
    seed_gitea(sb, issues=3)
    sb.faults.configure(hostile=["oversized"], services=["gitea"], paths="/issues$", oversized_mib=65)
    proc = workdir.sync()
    assert proc.returncode == 69, proc.stderr
    assert "larger than 64 MiB" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert kimai_writes(sb) == []

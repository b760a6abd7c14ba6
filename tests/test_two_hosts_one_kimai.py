"""Two hosts share one Kimai but not one store (zammad-kimai and gitea-kimai): runs of either,
one after another, a store lost on the way, never duplicate a timesheet, project or activity:
each is found by its origin marker before it is created. And a host whose plan was read before
the other host created the same items looks them up again right before its creates."""

from collections import Counter
from dataclasses import replace

from conftest import Workdir
from gitea_helpers import assert_converged, seed

from common.config import load_settings
from common.http import RequestCounter
from common.jobs.base import Result
from common.jobs.gitea_kimai import GiteaKimaiJob
from common.jobs.gitea_kimai import Options as GiteaOptions
from common.jobs.zammad_kimai import Options as ZammadOptions
from common.jobs.zammad_kimai import ZammadKimaiJob
from common.store import Store


def second_host(workdir, name="host-b"):
    """Another host: the same services and settings, its own store and log."""
    path = workdir.path / name
    path.mkdir()
    env_file = path / ".env"
    env_file.write_text(workdir.env_file.read_text())
    host = Workdir(path, env_file, workdir.sandbox)
    host.set(DATABASE_PATH=str(path / "sync.db"), LOG_FILE=str(path / "tracksync.log"))
    return host


def zammad_hosts(workdir):
    sb = workdir.sandbox
    workdir.set(ZAMMAD_URL=sb.url("zammad"), ZAMMAD_TOKEN=sb.tokens["zammad"], ZAMMAD_DEFAULT_ACTIVITY="Support")
    sb.kimai.add_activity("Support", None)
    return workdir, second_host(workdir)


def seed_zammad(sb, tickets=2, entries=2):
    org = sb.zammad.add_organization("Acme Corp")
    made = [sb.zammad.add_ticket(f"Printer {n} broken", organization_id=org["id"]) for n in range(tickets)]
    for ticket in made:
        for _ in range(entries):
            sb.zammad.add_time_accounting(ticket["id"], 15)
    return made


def kimai_creates(sb):
    return [r.path for r in sb.requests if r.service == "kimai" and r.method == "POST"]


def assert_each_once(sb):
    markers = Counter(s["description"].split("\n", 1)[0] for s in sb.kimai.timesheets)
    assert markers and all(n == 1 for n in markers.values()), markers
    assert len(sb.zammad.time_accountings) == len(sb.kimai.timesheets)
    for kind in ("customers", "projects"):
        names = Counter(o["name"] for o in getattr(sb.kimai, kind))
        assert all(n == 1 for n in names.values()), (kind, names)


def test_zammad_two_stores_one_kimai_one_after_another_and_a_lost_store_make_no_duplicate(workdir):
    host_a, host_b = zammad_hosts(workdir)
    sb = workdir.sandbox
    [first, _] = seed_zammad(sb)
    host_a.sync("zammad-kimai", check_code=0)
    assert len(sb.kimai.timesheets) == 4
    sb.clear_requests()
    host_b.sync("zammad-kimai", check_code=0)  # its own, empty store: everything is found by marker
    assert kimai_creates(sb) == []
    sb.zammad.add_time_accounting(first["id"], 20)
    host_b.sync("zammad-kimai", check_code=0)  # B makes the new one ...
    sb.clear_requests()
    host_a.sync("zammad-kimai", check_code=0)  # ... A links it
    assert kimai_creates(sb) == []
    host_a.db.unlink()  # host A loses its store
    sb.clear_requests()
    host_a.sync("zammad-kimai", check_code=0)
    assert kimai_creates(sb) == []
    assert_each_once(sb)


def test_gitea_two_stores_one_kimai_one_after_another_and_a_lost_store_make_no_duplicate(workdir):
    sb = workdir.sandbox
    seed(sb, issues=12)
    host_b = second_host(workdir)
    workdir.sync("gitea-kimai", check_code=0)
    made = (len(sb.kimai.customers), len(sb.kimai.projects), len(sb.kimai.activities))
    assert made[2] > 0
    for host in (host_b, workdir):
        sb.clear_requests()
        host.sync("gitea-kimai", check_code=0)
        assert kimai_creates(sb) == []
    workdir.db.unlink()
    sb.clear_requests()
    workdir.sync("gitea-kimai", "--full", check_code=0)
    assert kimai_creates(sb) == []
    assert (len(sb.kimai.customers), len(sb.kimai.projects), len(sb.kimai.activities)) == made
    assert_converged(sb)


def run_in_two_steps(host, job_class, options, between):
    """Host `host` reads and plans, `between()` runs (the other host), then `host` applies."""
    settings = load_settings(host.env_file)
    with Store(settings.database_path) as store:
        run_id = store.start_run(job_class.name, {})
        result = Result(job=job_class.name)
        job = job_class(settings, replace(options, workers=1), store, RequestCounter(), result, run_id)
        plan = job.plan(job.read())
        between()
        job.apply(plan)
    return result


def test_zammad_host_whose_plan_predates_the_other_hosts_creates_links_them(workdir):
    host_a, host_b = zammad_hosts(workdir)
    sb = workdir.sandbox
    seed_zammad(sb)
    result = run_in_two_steps(
        host_b, ZammadKimaiJob, ZammadOptions(), lambda: host_a.sync("zammad-kimai", check_code=0)
    )
    assert result.exit_code == 0 and result.counts["created"] == 0, result.counts
    assert_each_once(sb)


def test_gitea_host_whose_plan_predates_the_other_hosts_creates_links_them(workdir):
    sb = workdir.sandbox
    seed(sb, issues=12)
    host_b = second_host(workdir)
    result = run_in_two_steps(host_b, GiteaKimaiJob, GiteaOptions(), lambda: workdir.sync("gitea-kimai", check_code=0))
    assert result.exit_code == 0, result.failures
    assert_converged(sb)
    assert len(sb.kimai.customers) == 1

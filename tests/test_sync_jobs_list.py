"""SYNC_JOBS as a cron administrator writes it: one job's held lock does not stop the others (and
the run still leaves its summary line), a job that needs a file argument is refused up front, and
a missing key stops a job before any lock file or store is made."""

from gitea_helpers import seed
from test_zammad_kimai_e2e import seed_tickets, zwork  # noqa: F401 (fixture)

from common.runlock import JobLock


def test_a_held_lock_stops_only_its_own_job(zwork):
    sb = zwork.sandbox
    seed(sb, issues=2)
    seed_tickets(sb, tickets=1, entries=1)
    zwork.set(SYNC_JOBS="gitea-kimai,zammad-kimai", LOG_FILE="sync.log")
    with JobLock(str(zwork.db), "gitea-kimai"):
        proc = zwork.sync()
    assert proc.returncode == 75, proc.stderr
    assert "another gitea-kimai run is in progress" in proc.stderr
    assert len(sb.kimai.timesheets) == 1  # zammad-kimai ran all the same
    log = (zwork.path / "sync.log").read_text()
    assert "job=gitea-kimai" in log and "exit=75" in log and "job=zammad-kimai" in log


def test_csv_kimai_in_sync_jobs_is_refused_up_front(workdir):
    workdir.set(SYNC_JOBS="gitea-kimai,csv-kimai")
    proc = workdir.sync(check_code=78)
    assert "SYNC_JOBS" in proc.stderr and "csv-kimai FILE" in proc.stderr
    assert not workdir.db.exists() and workdir.sandbox.count() == 0


def test_a_missing_key_stops_the_job_before_a_lock_or_store_is_made(workdir):
    workdir.set(GITEA_ORGANIZATION="")
    proc = workdir.sync(check_code=78)
    assert "GITEA_ORGANIZATION" in proc.stderr
    assert not workdir.db.exists() and not list(workdir.path.glob("*.lock"))

"""Kimai customers, projects and activities shared by jobs: two jobs that need the same new one
at the same moment create it once (the containers lock on the store, and a fresh read right
before the create that turns it into a link), end to end; and the writer's rules in units."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from unittest.mock import MagicMock

import pytest
from sync_json import flat_summary

from common.errors import LockHeld
from common.jobs.base import ActionKind, Applier, Result
from common.jobs.kimai_targets import Containers, ContainerWriter, KimaiState
from common.runlock import containers_lock


# -- end to end --------------------------------------------------------------------------------
def test_two_jobs_needing_the_same_new_customer_and_project_at_once_create_each_once(workdir):
    sb = workdir.sandbox
    env = sb.env(owner="acme")
    workdir.set(**{k: env[k] for k in ("TOGGL_URL", "TOGGL_TOKEN", "TOGGL_WORKSPACE")})
    project = sb.toggl.add_project("Website", client_name="Acme Corp")
    day = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    for n in range(3):
        begin = day + timedelta(hours=n)
        sb.toggl.add_entry(begin, begin + timedelta(minutes=45), description=f"Task {n}", project_id=project["id"])
    rows = [f"2026-11-04,{9 + n:02d}:00,,0:45,Website,Development,Acme Corp,Row {n},,," for n in range(3)]
    header = "date,begin,end,duration,project,activity,customer,description,tags,billable,user"
    (workdir.path / "hours.csv").write_text("\n".join([header, *rows]) + "\n")
    sb.faults.configure(latency_ms=40)  # both runs read Kimai before either creates: their windows overlap
    procs = [
        workdir.start(
            "sync.py", "toggl-kimai", "--from", "2026-11-01", "--to", "2026-11-03", "--create-missing", "--json"
        ),
        workdir.start("sync.py", "csv-kimai", "hours.csv", "--create-missing", "--json"),
    ]
    outcomes = [(proc.wait(120), proc.stdout.read(), proc.stderr.read()) for proc in procs]
    for proc in procs:
        proc.stdout.close()
        proc.stderr.close()
    sb.faults.configure(latency_ms=0)
    assert [code for code, _, _ in outcomes] == [0, 0], outcomes
    assert [c["name"] for c in sb.kimai.customers] == ["Acme Corp"]
    assert [p["name"] for p in sb.kimai.projects] == ["Website"]
    activities = Counter((a.get("project"), a["name"]) for a in sb.kimai.activities)
    assert all(n == 1 for n in activities.values()), activities
    assert len(sb.kimai.timesheets) == 6
    created = [flat_summary(SimpleNamespace(stdout=out, returncode=0)) for _, out, _ in outcomes]
    assert sum(s.get("customers_created", 0) for s in created) == 1
    assert sum(s.get("projects_created", 0) for s in created) == 1


# -- units ---------------------------------------------------------------------------------------
class FakeKimai:
    """Kimai where another job already made the customer and project the plan would create."""

    def __init__(self, customers=(), projects=()):
        self.customers, self.projects, self.calls = list(customers), list(projects), []

    def list_customers(self):
        self.calls.append("customers")
        return self.customers

    def list_projects(self):
        self.calls.append("projects")
        return self.projects

    def list_activities(self, project_ids):
        self.calls.append("activities")
        return []

    def create_customer(self, name, *args, comment=None):
        self.calls.append(("create customer", name))
        return {"id": 500}

    def create_project(self, name, customer_id, comment):
        self.calls.append(("create project", name, customer_id))
        return {"id": 501}

    def create_activity(self, name, project_id, comment):
        self.calls.append(("create activity", name, project_id))
        return {"id": 502}


def settings(tmp_path):
    return SimpleNamespace(
        database_path=str(tmp_path / "sync.db"),
        kimai_customer_country="DE",
        kimai_customer_currency="EUR",
        kimai_customer_timezone="UTC",
    )


def applier(dry_run=False):
    return Applier("csv-kimai", MagicMock(), None if dry_run else 1, 1, Result("csv-kimai", dry_run=dry_run), dry_run)


def test_a_planned_create_whose_object_appears_in_the_fresh_read_becomes_a_link(tmp_path):
    containers = Containers(KimaiState(customers=[]))
    project = containers.project("Website", "Acme Corp")
    kimai = FakeKimai(
        customers=[{"id": 7, "name": "Acme Corp"}],
        projects=[
            {"id": 8, "name": "Website", "customer": 7, "comment": None},
            {"id": 9, "name": "Website", "customer": 3},
        ],
    )
    run = applier()
    ContainerWriter(kimai, settings(tmp_path), run).apply(containers.actions, [], None, None)
    assert kimai.calls == ["customers", "projects"]  # one read per kind, no create
    assert [(a.kind, a.target_id) for a in containers.actions] == [(ActionKind.LINK, 7), (ActionKind.LINK, 8)]
    assert project.target_id == 8 and project.parent == 7
    synced = [c.args[1] for c in run.store.mark_synced.call_args_list]
    assert synced == ["kimai:customer/Acme Corp", "kimai:project/Acme Corp > Website"]
    assert run.result.counts.get("customers_created", 0) == 0


def test_a_create_still_missing_is_sent_and_nothing_is_read_without_creates_or_under_dry_run(tmp_path):
    containers = Containers(KimaiState(customers=[]))
    containers.project("Website", "Acme Corp")
    kimai = FakeKimai()
    ContainerWriter(kimai, settings(tmp_path), applier()).apply(containers.actions, [], None, None)
    assert kimai.calls == [
        "customers",
        ("create customer", "Acme Corp"),
        "projects",
        ("create project", "Website", 500),
    ]
    quiet, dry = FakeKimai(), Containers(KimaiState(customers=[]))
    dry.project("Website", "Acme Corp")
    ContainerWriter(quiet, settings(tmp_path / "dry"), applier(dry_run=True)).apply(dry.actions, [], None, None)
    found = Containers(KimaiState(customers=[{"id": 7, "name": "Acme Corp"}]))
    found.customer("Acme Corp")
    ContainerWriter(quiet, settings(tmp_path), applier()).apply(found.actions, [], None, None)
    assert quiet.calls == []
    assert not (tmp_path / "dry").exists()  # no lock taken either


def test_the_containers_lock_waits_a_bounded_time_then_names_itself(tmp_path):
    db = tmp_path / "sync.db"
    with containers_lock(db), pytest.raises(LockHeld, match=r"sync\.db\.containers\.lock was held for over 0\.2 s"):
        with containers_lock(db, timeout=0.2):
            pass
    with containers_lock(db):  # released: free again
        pass

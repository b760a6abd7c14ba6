"""Planning the Kimai customers, projects and activities items need (no I/O), and applying them in
order through the shared applier: each container created once, before the items that need it."""

from datetime import UTC, datetime

import pytest

from common.errors import ApiError
from common.jobs.base import Action, Applier, Result
from common.jobs.import_plan import ImportEntry, plan_references, plan_timesheet, timesheet_fields
from common.jobs.kimai_targets import Containers, ContainerWriter, KimaiState, needs_customers, same_reason_for_all
from common.timeutil import zone

BERLIN = zone("Europe/Berlin")
NO_MAP = {"customer": {}, "project": {}, "activity": {}, "user": {}}


# Kimai objects as GET /api/customers, /api/projects, /api/activities return them (fields trimmed)
def customer(id_, name):
    return {
        "id": id_,
        "name": name,
        "number": None,
        "comment": None,
        "visible": True,
        "billable": True,
        "currency": "EUR",
        "timezone": "Europe/Berlin",
        "color": None,
        "metaFields": [],
        "teams": [],
    }


def project(id_, name, customer_id, comment=None):
    return {
        "id": id_,
        "name": name,
        "customer": customer_id,
        "parentTitle": "",
        "comment": comment,
        "visible": True,
        "billable": True,
        "globalActivities": True,
        "orderNumber": None,
        "start": None,
        "end": None,
        "metaFields": [],
        "teams": [],
    }


def activity(id_, name, project_id=None):
    return {
        "id": id_,
        "name": name,
        "project": project_id,
        "parentTitle": None,
        "comment": None,
        "visible": True,
        "billable": True,
        "metaFields": [],
        "teams": [],
    }


def entry(n, project="Website", activity="Work", customer="Globex", user=None):
    begin = datetime(2026, 11, 2, 8 + n, tzinfo=UTC)
    return ImportEntry(
        key=f"toggl:{4000 + n}",
        label=f"toggl {4000 + n}",
        begin=begin,
        end=begin.replace(minute=45),
        project=project,
        activity=activity,
        customer=customer,
        user=user,
        version=str(n),
    )


def state(customers=(), projects=(), activities=()):
    return KimaiState(list(customers), list(projects), list(activities))


def plan(entries, kimai, create_missing=True, links=None):
    containers = Containers(kimai, links, comment="toggl import")
    refs, reasons = plan_references(entries, NO_MAP, "Imported", containers, create_missing)
    return containers, refs, reasons


def lines(containers):
    return [a.line() for a in containers.actions]


# -- planning --------------------------------------------------------------------------------
def test_entries_needing_one_new_project_and_activity_plan_each_once_with_its_parents():
    containers, refs, reasons = plan([entry(1), entry(2), entry(3, activity="Design")], state())
    assert reasons == {}
    assert lines(containers) == [
        "create customer 'Globex'",
        "create project 'Website' (customer 'Globex')",
        "create activity 'Work' in project 'Website' (customer 'Globex')",
        "create activity 'Design' in project 'Website' (customer 'Globex')",
    ]
    customer_, project_, work, design = containers.actions
    assert project_.needs == {"parent": customer_} and work.needs == design.needs == {"parent": project_}
    assert refs["toggl:4001"][:2] == refs["toggl:4002"][:2] == (project_, work) and refs["toggl:4003"][1] is design
    assert [a.target_type for a in containers.actions] == ["customer", "project", "activity", "activity"]


def test_existing_customer_project_and_global_activity_by_name_plan_no_create():
    kimai = state([customer(3, "Globex")], [project(8, "Website", 3)], [activity(20, "Work")])
    containers, refs, reasons = plan([entry(1), entry(2)], kimai)
    assert containers.actions == [] and reasons == {}
    assert refs["toggl:4001"] == (8, 20, None)


def test_missing_customer_is_one_create_for_all_its_projects():
    kimai = state([customer(3, "Initech")], [project(8, "Website", 3)], [activity(20, "Work")])
    entries = [entry(1), entry(2, project="Intranet"), entry(3, project="Intranet")]
    containers, refs, _ = plan(entries, kimai)
    assert lines(containers) == [
        "create customer 'Globex'",
        "create project 'Website' (customer 'Globex')",
        "create project 'Intranet' (customer 'Globex')",
    ]
    assert refs["toggl:4001"][1] == 20  # the global activity serves the new project


def test_project_activity_found_under_its_project_and_new_one_created_under_an_existing_project():
    kimai = state(
        [customer(3, "Globex")], [project(8, "Website", 3), project(9, "Intranet", 3)], [activity(31, "Work", 8)]
    )
    containers, refs, _ = plan([entry(1), entry(2, project="Intranet")], kimai)
    assert refs["toggl:4001"][:2] == (8, 31)
    [created] = containers.actions
    assert created.line() == "create activity 'Work' in project 'Intranet' (customer 'Globex')"
    assert created.parent == 9 and not created.needs and refs["toggl:4002"][1] is created


def test_entry_without_customer_takes_the_one_project_of_that_name_or_the_default_customer():
    kimai = state([customer(3, "Globex")], [project(8, "Website", 3)], [activity(20, "Work")])
    containers, refs, _ = plan([entry(1, customer=None), entry(2, customer=None, project="Ops")], kimai)
    assert refs["toggl:4001"][0] == 8
    assert lines(containers) == ["create customer 'Imported'", "create project 'Ops' (customer 'Imported')"]


def test_without_create_missing_the_reason_names_the_container_not_the_entry():
    kimai = state([customer(3, "Globex")], [project(8, "Website", 3)], [])
    containers, refs, reasons = plan([entry(1), entry(2), entry(3, project="Ops")], kimai, create_missing=False)
    assert containers.actions == [] and refs == {}
    assert (
        reasons["toggl:4001"]
        == reasons["toggl:4002"]
        == (
            "Kimai has no activity 'Work' (global or of project 'Website'); map it in IMPORT_MAP or use --create-missing"
        )
    )
    assert reasons["toggl:4003"].startswith("Kimai has no project 'Ops' (customer 'Globex')")
    assert not any("4001" in r or "toggl" in r for r in reasons.values())


def test_an_unmapped_user_plans_no_container_for_its_entry():
    containers, refs, reasons = plan([entry(1, user="kim@example.com")], state())
    assert containers.actions == [] and "kim@example.com" in reasons["toggl:4001"]


def test_found_container_with_a_pending_link_is_linked_to_settle_it():
    # the last run created the customer but lost the answer, then stopped before the project
    kimai = state([customer(3, "Globex")], [], [activity(20, "Work")])
    links = {"kimai:customer/Globex": {"state": "pending", "target_id": None}}
    containers, _, _ = plan([entry(1)], kimai, links=links)
    assert [(a.kind, a.key, a.target_id) for a in containers.actions] == [
        ("link", "kimai:customer/Globex", 3),
        ("create", "kimai:project/Globex > Website", None),
    ]
    assert containers.actions[1].parent == 3 and not containers.actions[1].needs
    synced = {"kimai:customer/Globex": {"state": "synced", "target_id": 3}}
    assert [a.kind for a in plan([entry(1)], kimai, links=synced)[0].actions] == ["create"]


def test_marked_projects_under_a_new_customer_plan_one_customer():
    projects = [project(5, "web", 2, comment="gitea:acme/web\nhttps://git.example.com/acme/web")]
    wanted = [("gitea:acme/web", "web"), ("gitea:acme/api", "api"), ("gitea:acme/docs", "docs")]
    assert needs_customers(wanted, projects, {})
    assert not needs_customers(wanted[:1], projects, {})
    containers = Containers(KimaiState([customer(2, "Acme")], projects), {})
    refs = {key: containers.marked_project(key, name, key, "Globex", f"acme/{name}") for key, name in wanted}
    assert refs["gitea:acme/web"] == 5  # found by its marker, whatever its customer
    assert lines(containers) == [
        "link project 'web' (customer 'Globex')",
        "create customer 'Globex'",
        "create project 'api' (customer 'Globex')",
        "create project 'docs' (customer 'Globex')",
    ]
    assert refs["gitea:acme/api"].needs == {"parent": containers.planned["kimai:customer/Globex"]}
    # asked again (a second ticket of one organisation): the same action
    assert containers.marked_project("gitea:acme/api", "api", "x", "Globex", "acme/api") is refs["gitea:acme/api"]


def test_marked_project_found_by_name_under_its_existing_customer_is_linked():
    containers = Containers(KimaiState([customer(2, "Zammad")], [project(7, "#12 Printer", 2)]), {})
    assert containers.marked_project("zammad:ticket/12", "#12 Printer", "zammad:ticket/12", "Zammad", "ticket #12") == 7
    assert [a.kind for a in containers.actions] == ["link"]


def test_timesheet_plan_refers_to_planned_containers_and_names_the_zone():
    containers, refs, _ = plan([entry(1)], state())
    project_, activity_, user = refs["toggl:4001"]
    fields = timesheet_fields(entry(1), BERLIN, None, None, user)
    needs = {"project": project_, "activity": activity_}
    created = plan_timesheet(entry(1), fields, None, None, None, "Europe/Berlin", needs)
    assert created.line() == "create toggl 4001: 2026-11-02 10:00 to 10:45 Europe/Berlin, Website / Work"
    current = {**fields, "project": 8, "activity": 20, "begin": "2026-11-02T09:00:00"}
    updated = plan_timesheet(entry(1), fields, None, {"id": 77}, current, "Europe/Berlin", needs)
    assert updated.kind == "update" and updated.detail == (
        "begin 2026-11-02 09:00 -> 2026-11-02 10:00 Europe/Berlin, project 8 -> new project 'Website' (customer 'Globex'), "
        "activity 20 -> new activity 'Work' in project 'Website' (customer 'Globex')"
    )


# -- applying ----------------------------------------------------------------------------------
class FakeStore:
    def __init__(self):
        self.events = []

    def mark_pending(self, job, keys, target_type, run_id):
        self.events += [("pending", key) for key in keys]

    def mark_synced(self, job, key, target_type, target_id, source_hash, data, run_id, audit=None, state="synced"):
        self.events.append(("synced", key, target_id, audit[0] if audit else None))

    def mark_failed(self, job, key, target_type, run_id, error):
        self.events.append(("failed", key, error))


class FakeKimai:
    """Answers creates with new ids; `refuse` names refused; `lose` names committed but unanswered."""

    def __init__(self, refuse=(), lose=()):
        self.created, self.refuse, self.lose, self.next_id = [], set(refuse), set(lose), 100

    def _create(self, kind, name, parent):
        if name in self.refuse:
            raise ApiError(
                f"POST {kind}s refused (400): name: already used",
                service="kimai",
                status=400,
                body={
                    "code": 400,
                    "message": "Validation Failed",
                    "errors": {"children": {"name": {"errors": ["already used"]}}},
                },
            )
        self.next_id += 1
        self.created.append((kind, name, parent, self.next_id))
        if name in self.lose:
            from common.errors import UnknownOutcome

            raise UnknownOutcome(f"POST {kind}s: no answer (ConnectionError)", service="kimai")
        return {"id": self.next_id}

    def create_customer(self, name, country, currency, tz, comment=None):
        return self._create("customer", name, None)

    def create_project(self, name, customer_id, comment, visible=True, billable=True):
        return self._create("project", name, customer_id)

    def create_activity(self, name, project_id, comment, visible=True, billable=True):
        return self._create("activity", name, project_id)

    def list_customers(self):
        return [{"id": i, "name": n} for k, n, _, i in self.created if k == "customer"]

    def list_projects(self):
        return [{"id": i, "name": n, "customer": p, "comment": None} for k, n, p, i in self.created if k == "project"]

    def list_activities(self, project_ids):
        return [
            {"id": i, "name": n, "project": p, "comment": None}
            for k, n, p, i in self.created
            if k == "activity" and p in project_ids
        ]


class Settings:
    kimai_customer_country, kimai_customer_currency, kimai_customer_timezone = "DE", "EUR", "UTC"


def apply(containers, items, kimai, dry_run=False):
    result, store = Result("toggl-kimai", dry_run=dry_run), FakeStore()
    applier = Applier("toggl-kimai", store, None if dry_run else 1, 1, result, dry_run)
    sent = []

    def write(action):
        sent.append((action.key, action.fields["project"], action.fields["activity"]))
        return {"id": 900 + len(sent)}

    ContainerWriter(kimai, Settings(), applier).apply(containers.actions, items, write, lambda unknown: {})
    return result, store, sent


def planned_items(entries, kimai_state):
    containers, refs, _ = plan(entries, kimai_state)
    items = []
    for e in entries:
        project_, activity_, user = refs[e.key]
        fields = timesheet_fields(e, BERLIN, None, None, user)
        items.append(
            plan_timesheet(e, fields, None, None, None, "Europe/Berlin", {"project": project_, "activity": activity_})
        )
    return containers, items


def test_containers_are_created_in_order_once_each_with_pending_record_and_audit_then_items_get_their_ids():
    containers, items = planned_items([entry(1), entry(2)], state())
    kimai = FakeKimai()
    result, store, sent = apply(containers, items, kimai)
    assert kimai.created == [
        ("customer", "Globex", None, 101),
        ("project", "Website", 101, 102),
        ("activity", "Work", 102, 103),
    ]
    assert sent == [("toggl:4001", 102, 103), ("toggl:4002", 102, 103)]
    assert ("pending", "kimai:customer/Globex") in store.events
    assert ("synced", "kimai:project/Globex > Website", 102, "create") in store.events
    assert store.events.index(("pending", "kimai:customer/Globex")) < store.events.index(("pending", "toggl:4001"))
    assert (
        result.counts["customers_created"] == result.counts["projects_created"] == 1 and result.counts["created"] == 2
    )


def test_dry_run_lists_each_container_once_and_sends_nothing():
    containers, items = planned_items([entry(1), entry(2), entry(3)], state())
    kimai = FakeKimai()
    result, store, sent = apply(containers, items, kimai, dry_run=True)
    assert kimai.created == [] and sent == [] and store.events == []
    assert [a.line().split(":")[0] for a in result.actions] == [
        "create customer 'Globex'",
        "create project 'Website' (customer 'Globex')",
        "create activity 'Work' in project 'Website' (customer 'Globex')",
        "create toggl 4001",
        "create toggl 4002",
        "create toggl 4003",
    ]


def test_a_refused_container_fails_its_dependents_with_one_shared_reason():
    containers, items = planned_items([entry(1), entry(2)], state())
    kimai = FakeKimai(refuse={"Website"})
    result, store, sent = apply(containers, items, kimai)
    assert sent == [] and kimai.created == [("customer", "Globex", None, 101)]
    assert result.failures == [
        ("project 'Website' (customer 'Globex')", "kimai: create refused (400): Validation Failed; name: already used"),
        (
            "activity 'Work' in project 'Website' (customer 'Globex')",
            "project 'Website' (customer 'Globex') could not be created",
        ),
        ("toggl 4001", "project 'Website' (customer 'Globex') could not be created"),
        ("toggl 4002", "project 'Website' (customer 'Globex') could not be created"),
    ]
    assert ("failed", "toggl:4001", result.failures[2][1]) in store.events


def test_a_refused_customer_is_the_one_reason_of_everything_under_it():
    containers, items = planned_items([entry(1), entry(2)], state())
    result, _, sent = apply(containers, items, FakeKimai(refuse={"Globex"}))
    assert sent == [] and result.failures[0][0] == "customer 'Globex'"
    assert {reason for _, reason in result.failures[1:]} == {"customer 'Globex' could not be created"}
    assert len(result.failures) == 5  # the customer, its project and activity, two entries


def test_a_container_create_whose_answer_was_lost_is_found_by_name_under_its_parent_not_sent_again():
    containers, items = planned_items([entry(1)], state())
    kimai = FakeKimai(lose={"Globex", "Work"})
    result, store, sent = apply(containers, items, kimai)
    assert [c[:2] for c in kimai.created] == [("customer", "Globex"), ("project", "Website"), ("activity", "Work")]
    assert sent == [("toggl:4001", 102, 103)] and result.failures == []


def test_refusals_of_item_writes_do_not_name_the_item():
    def refuse(action):
        raise ApiError(
            f"PATCH timesheets/{action.target_id} refused (400): begin: invalid",
            service="kimai",
            status=400,
            body={"message": "Validation Failed", "errors": {"children": {"begin": {"errors": ["invalid"]}}}},
        )

    reasons = set()
    for target_id in (11, 12):
        with pytest.raises(ApiError) as caught:
            same_reason_for_all(refuse)(
                Action("update", f"toggl:{target_id}", "timesheet", "x", "", {}, target_id=target_id)
            )
        reasons.add(str(caught.value))
    assert reasons == {"kimai: update refused (400): Validation Failed; begin: invalid"}

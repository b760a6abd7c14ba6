"""The imports' planner without HTTP, fed with real Toggl entries (recorded from
api.track.toggl.com) and Harvest's documented entries, both shipped in sandbox/contracts/*/examples:
the source rows as the jobs read them (`convert`), the Kimai references they map to
(`plan_references`), each row's action (`plan_timesheet`: the source wins on a change) and the
rows deleted at the source under both delete policies.

The jobs are built with no store; their constructors make HTTP sessions but send nothing, and the
Toggl workspace lists (projects, clients, tasks) come from a stand-in holding the names the
recorded entries carry."""

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from common.config import KEYS, Settings
from common.http import RequestCounter
from common.jobs.base import Action, Applier, Result
from common.jobs.harvest_kimai import HarvestKimaiJob
from common.jobs.import_plan import (
    ImportRead,
    current_fields,
    plan_references,
    plan_timesheet,
    timesheet_fields,
)
from common.jobs.imports import Options
from common.jobs.kimai_targets import Containers, KimaiState, needs_of, ref_id
from common.jobs.toggl_kimai import TogglKimaiJob
from common.store import Store

CONTRACTS = Path(__file__).resolve().parents[1] / "sandbox" / "contracts"
TZ = ZoneInfo("Europe/Berlin")


def example(service, name):
    return json.loads((CONTRACTS / service / "examples" / name).read_text("utf-8"))


TOGGL_ENTRIES = example("toggl", "me_time_entries.meta.response.json")  # 3 stopped entries, with names
TOGGL_SINCE = example("toggl", "me_time_entries.since.response.json")  # 4 deleted, 1 live
TOGGL_RUNNING = example("toggl", "me_time_entries_current.running.response.json")
HARVEST_ENTRIES = example("harvest", "get_time_entries.response200.json")["time_entries"]


def settings(**values):
    base = {name: key.default for name, key in KEYS.items()}
    base.update(
        KIMAI_URL="http://kimai.invalid",
        KIMAI_TOKEN="kimai-token-0001",
        TOGGL_TOKEN="toggl-token-0001",
        TOGGL_WORKSPACE=2230580,
        HARVEST_TOKEN="harvest-token-0001",
        HARVEST_ACCOUNT_ID="1",
    )
    base.update(values)
    return Settings(base)


class TogglLists:
    """The workspace lists, built from the names the recorded entries carry (meta=true)."""

    def __init__(self, entries):
        self.clients_ = [{"id": 1, "name": "AGL"}]
        self.projects_ = list(
            {
                e["project_id"]: {"id": e["project_id"], "name": e["project_name"], "client_id": 1}
                for e in entries
                if e.get("project_name")
            }.values()
        )

    def projects(self):
        return self.projects_

    def clients(self):
        return self.clients_

    def tasks(self):
        return []


def toggl_job(**values):
    job = TogglKimaiJob(settings(**values), Options(dry_run=True), None, RequestCounter(), Result(job="toggl-kimai"))
    job.toggl, job.tz = TogglLists(TOGGL_ENTRIES), TZ
    return job


def harvest_job(**values):
    job = HarvestKimaiJob(
        settings(**values), Options(dry_run=True), None, RequestCounter(), Result(job="harvest-kimai")
    )
    job.tz = TZ
    return job


def toggl_read(raw=TOGGL_ENTRIES):
    return toggl_job().convert(raw, {}, None)


def harvest_read(raw=HARVEST_ENTRIES, **values):
    return harvest_job(**values).convert(raw)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def timesheet(fields, id_=700, exported=False, tags=None):
    """The Kimai timesheet of these fields, as Kimai answers it (offset without a colon, tags a list)."""
    return {
        "id": id_,
        "begin": fields["begin"] + "+0100",
        "end": fields["end"] + "+0100",
        "project": fields["project"],
        "activity": fields["activity"],
        "description": fields["description"],
        "billable": fields["billable"],
        "exported": exported,
        "tags": tags if tags is not None else fields["tags"].split(","),
        "user": 1,
    }


def link(entry, target_id=700, state="synced", source_hash=None):
    return {
        "source_key": entry.key,
        "target_type": "timesheet",
        "target_id": target_id,
        "state": state,
        "source_hash": source_hash or entry.version,
        "data": None,
    }


def plan(entry, fields, target, stored=None, needs=None):
    current = current_fields(target, TZ, "user" in fields) if target else None
    return plan_timesheet(entry, fields, stored, target, current, TZ.key, needs)


# --- the source rows as the jobs read them ------------------------------------------------------


def test_toggl_entries_become_rows_with_project_client_and_default_activity():
    read = toggl_read()
    assert [e.key for e in read.entries] == ["toggl:3731531776", "toggl:3731416928", "toggl:3731292842"]
    first = read.entries[0]
    assert (first.begin, first.end) == (utc(2024, 12, 16, 17, 5, 25), utc(2024, 12, 16, 18, 7, 5))
    assert (first.project, first.customer, first.activity) == ("AGL Social Media", "AGL", "Work")
    assert (first.description, first.tags, first.billable, first.label) == ("Inbox Zero", (), False, "toggl 3731531776")
    assert len({e.version for e in read.entries}) == 3 and read.skipped == [] and read.deleted == []


def test_toggl_deleted_entries_are_reported_deleted_and_a_running_one_is_skipped():
    read = toggl_job().convert(TOGGL_SINCE + [TOGGL_RUNNING], {}, None)
    assert read.deleted == ["toggl:3730276799", "toggl:3730303299", "toggl:3730289470", "toggl:3730288662"]
    assert [e.key for e in read.entries] == ["toggl:3730256173"]
    assert read.skipped == [(None, "toggl 3729750453", "running entry (imported once it is stopped)")]


def test_a_toggl_row_changes_version_when_the_entry_does():
    changed = [{**TOGGL_ENTRIES[0], "stop": "2024-12-16T18:10:00+00:00"}] + TOGGL_ENTRIES[1:]
    before, after = toggl_read().entries, toggl_read(changed).entries
    assert before[0].version != after[0].version
    assert [e.version for e in before[1:]] == [e.version for e in after[1:]]


def test_harvest_entries_are_read_in_harvests_zone_with_client_project_and_task():
    read = harvest_read(HARVEST_TIMEZONE="America/New_York")
    by_key = {e.key: e for e in read.entries}
    entry = by_key["harvest:636709355"]  # 2017-03-02, 3:00pm to 5:00pm (2.11 hours booked)
    assert (entry.begin, entry.end) == (utc(2017, 3, 2, 20, 0), utc(2017, 3, 2, 22, 0))
    assert (entry.customer, entry.project, entry.activity) == ("ABC Corp", "Marketing Website", "Graphic Design")
    assert (entry.description, entry.billable, entry.user) == ("Adding CSS styling", True, None)
    assert by_key["harvest:636708574"].billable is False
    assert len(read.entries) == 4 and read.skipped == []


def test_harvest_entries_without_times_are_laid_end_to_end_from_the_day_start():
    untimed = [
        {**e, "started_time": None, "ended_time": None} for e in HARVEST_ENTRIES if e["spent_date"] == "2017-03-01"
    ]
    read = harvest_read(untimed, IMPORT_DAY_START="08:30")
    spans = [(e.key, e.begin, e.end) for e in read.entries]
    # in Harvest id order: 636707831 (2.0 h), 636708574 (1.0 h), 636708723 (1.35 h = 81 min); Berlin is UTC+1
    assert spans == [
        ("harvest:636707831", utc(2017, 3, 1, 7, 30), utc(2017, 3, 1, 9, 30)),
        ("harvest:636708574", utc(2017, 3, 1, 9, 30), utc(2017, 3, 1, 10, 30)),
        ("harvest:636708723", utc(2017, 3, 1, 10, 30), utc(2017, 3, 1, 11, 51)),
    ]


# --- the Kimai fields of a row ------------------------------------------------------------------


def test_a_row_maps_to_a_timesheet_with_its_marker_tags_and_billable_flag():
    entry = toggl_read().entries[0]
    assert timesheet_fields(entry, TZ, 5, 9, None) == {
        "begin": "2024-12-16T18:05:25",
        "end": "2024-12-16T19:07:05",
        "project": 5,
        "activity": 9,
        "description": "toggl:3731531776\nInbox Zero",
        "tags": "import",
        "billable": False,
    }
    harvest = harvest_read().entries[0]
    fields = timesheet_fields(harvest, TZ, 5, 9, 4)
    assert fields["description"] == f"{harvest.key}\n{harvest.description}" and fields["user"] == 4


# --- each row's action --------------------------------------------------------------------------


@pytest.fixture(params=["toggl", "harvest"])
def row(request):
    """A real row of each source and its desired fields."""
    entry = (toggl_read() if request.param == "toggl" else harvest_read()).entries[0]
    return entry, timesheet_fields(entry, TZ, 5, 9, None)


def test_a_row_without_timesheet_is_created(row):
    entry, fields = row
    action = plan(entry, fields, None)
    assert action.kind == "create" and action.target_id is None and action.writes
    assert action.fields == fields and action.source_hash == entry.version and action.scope == entry.project
    assert action.detail.endswith(f", {entry.project} / {entry.activity}")


def test_a_timesheet_as_wanted_and_linked_is_unchanged(row):
    entry, fields = row
    action = plan(entry, fields, timesheet(fields), link(entry))
    assert action.kind == "unchanged" and action.target_id == 700 and not action.writes


@pytest.mark.parametrize("stored", ["none", "other target", "older version", "orphaned"])
def test_a_timesheet_as_wanted_found_by_marker_is_linked(row, stored):
    entry, fields = row
    links = {
        "none": None,
        "other target": link(entry, 999),
        "older version": link(entry, source_hash="old"),
        "orphaned": link(entry, state="orphaned"),
    }
    action = plan(entry, fields, timesheet(fields), links[stored])
    assert action.kind == "link" and action.target_id == 700 and not action.writes


def test_tags_in_another_order_are_the_same(row):
    entry, fields = row
    fields = {**fields, "tags": "import,billing,customer"}
    action = plan(entry, fields, timesheet(fields, tags=["customer", "import", "billing"]), link(entry))
    assert action.kind == "unchanged"


def test_a_row_changed_at_the_source_updates_its_timesheet_keeping_the_export_flag(row):
    entry, fields = row
    before = {**fields, "end": fields["begin"], "description": fields["description"] + " (draft)"}
    action = plan(entry, fields, timesheet(before, exported=True), link(entry, source_hash="old"))
    assert action.kind == "update" and action.target_id == 700 and action.writes
    assert action.fields == fields and action.before == current_fields(timesheet(before), TZ, False)
    assert action.keep == {"exported": True}
    assert action.detail.startswith("end ") and action.detail.endswith(" Europe/Berlin")


def test_a_timesheet_edited_in_kimai_is_overwritten_by_the_source(row):
    """The imports have no conflict policy: the source wins."""
    entry, fields = row
    edited = {**fields, "activity": 10, "billable": not fields["billable"]}
    action = plan(entry, fields, timesheet(edited), link(entry))
    assert action.kind == "update"
    assert action.detail == f"activity 10 -> 9, billable {edited['billable']!r} -> {fields['billable']!r}"


def test_only_the_description_or_tags_changed_says_so(row):
    entry, fields = row
    action = plan(entry, fields, timesheet({**fields, "tags": "import,old"}), link(entry))
    assert action.kind == "update" and action.detail == "description or tags changed"


def test_a_row_waiting_for_a_planned_project_names_it():
    entry = toggl_read().entries[0]
    project = Action(
        "create", "kimai:project/AGL > AGL Social Media", "project", "project 'AGL Social Media'", "AGL", {}
    )
    fields = timesheet_fields(entry, TZ, None, 9, None)
    created = plan(entry, fields, None, needs={"project": project})
    assert created.kind == "create" and created.needs == {"project": project}
    target = timesheet({**fields, "project": 3})
    moved = plan(entry, fields, target, link(entry), needs={"project": project})
    assert moved.kind == "update" and moved.detail == "project 3 -> new project 'AGL Social Media'"


# --- the Kimai references of the rows ----------------------------------------------------------


def test_rows_map_to_existing_projects_and_activities_or_fail_naming_what_is_missing():
    entries = harvest_read().entries
    state = KimaiState(
        customers=[{"id": 1, "name": "123 Industries"}],
        projects=[{"id": 5, "name": "Online Store - Phase 1", "customer": 1}],
        activities=[{"id": 9, "name": "Programming", "project": None}, {"id": 10, "name": "Research", "project": 5}],
    )
    mapping = {"customer": {}, "project": {}, "activity": {"Project Management": "Programming"}, "user": {}}
    refs, reasons = plan_references(entries, mapping, "Imported", Containers(state), create_missing=False)
    assert refs == {
        "harvest:636707831": (5, 9, None),
        "harvest:636708574": (5, 10, None),
        "harvest:636708723": (5, 9, None),
    }
    assert reasons == {
        "harvest:636709355": "Kimai has no project 'Marketing Website' (customer 'ABC Corp'); map it "
        "in IMPORT_MAP or use --create-missing"
    }


def test_with_create_missing_the_missing_containers_are_planned_once():
    entries = toggl_read().entries
    containers = Containers(KimaiState(customers=[], projects=[], activities=[]))
    refs, reasons = plan_references(
        entries,
        {k: {} for k in ("customer", "project", "activity", "user")},
        "Imported",
        containers,
        create_missing=True,
    )
    assert reasons == {}
    assert [(a.kind, a.target_type, a.key) for a in containers.actions] == [
        ("create", "customer", "kimai:customer/AGL"),
        ("create", "project", "kimai:project/AGL > AGL Social Media"),
        ("create", "activity", "kimai:activity/AGL > AGL Social Media > Work"),
        ("create", "project", "kimai:project/AGL > AGL Coaching"),
        ("create", "activity", "kimai:activity/AGL > AGL Coaching > Work"),
    ]
    project, activity, user = refs["toggl:3731416928"]
    assert refs["toggl:3731292842"] == (project, activity, user)  # the same planned project, not a second one
    assert ref_id(project) is None and needs_of(project=project, activity=activity) == {
        "project": project,
        "activity": activity,
    }


# --- rows deleted at the source: the delete policy --------------------------------------------


def deleted_plan(policy):
    job = toggl_job(IMPORT_DELETE_POLICY=policy)
    key = "toggl:3730276799"  # deleted in the recording
    data = {"begin": "2024-12-16T03:18:20", "description": key}
    stored = {
        "source_key": key,
        "target_type": "timesheet",
        "target_id": 700,
        "state": "synced",
        "source_hash": "v",
        "data": data,
    }
    return job, data, job.plan_deleted([stored], {key: {"id": 700}})


def test_delete_policy_delete_deletes_the_timesheet():
    job, data, [action] = deleted_plan("delete")
    assert action.kind == "delete" and action.target_id == 700 and action.before == data
    assert action.detail == "deleted in toggl"


def test_delete_policy_report_plans_a_report_keeping_the_timesheet_and_writes_nothing():
    job, data, [action] = deleted_plan("report")
    assert (action.kind, action.key, action.target_id, action.fields, action.source_hash) == (
        "report",
        "toggl:3730276799",
        700,
        data,
        "v",
    )
    assert not action.writes and f"{action.label}: {action.detail}" == (
        "toggl:3730276799: deleted in toggl; its timesheet is kept (IMPORT_DELETE_POLICY=report)"
    )
    assert job.result.counts == {} and job.result.warnings == []  # planning only plans: the applier reports


def test_the_applier_reports_a_deletion_once_and_marks_the_link_orphaned(tmp_path):
    """What the report action asks of the shared applier: count and warn, and keep the link's
    hash and data under the state orphaned, so the next run does not report it again."""
    job, data, [action] = deleted_plan("report")
    with Store(tmp_path / "sync.db") as store:
        store.mark_synced("toggl-kimai", action.key, "timesheet", 700, "v", data, None)
        result = Result(job="toggl-kimai")
        Applier("toggl-kimai", store, None, 1, result).execute([action], None, None)
        link = store.links("toggl-kimai")[action.key]
    assert (link["state"], link["target_id"], link["source_hash"], link["data"]) == ("orphaned", 700, "v", data)
    assert result.counts["deleted_in_source"] == 1 and result.warnings == [
        "toggl:3730276799: deleted in toggl; its timesheet is kept (IMPORT_DELETE_POLICY=report)"
    ]


# --- a job's whole plan from a hand-built read --------------------------------------------------


class NoKimai:
    """A Kimai client that must not be called."""

    def __getattr__(self, name):
        raise AssertionError(f"Kimai was asked: {name}")


HARVEST_STATE = KimaiState(
    customers=[{"id": 1, "name": "123 Industries"}],
    projects=[{"id": 5, "name": "Online Store - Phase 1", "customer": 1}],
    activities=[{"id": 9, "name": "Programming", "project": None}, {"id": 10, "name": "Research", "project": 5}],
)


def harvest_plan(read):
    """plan() of a harvest job with no store and a Kimai client that refuses every call."""
    job = harvest_job(IMPORT_DELETE_POLICY="delete")
    job.kimai, job.map["activity"]["Project Management"] = NoKimai(), "Programming"
    return job, job.plan(read)


def test_the_plan_of_a_read_counts_current_rows_and_plans_each_other_rows_action_without_io():
    source = harvest_read()
    source.deleted, source.cursor = ["harvest:1"], "2026-11-27T10:00:00Z"
    source.skipped = [(None, "harvest 2", "running timer (imported once it is stopped)")]
    current, changed, new, unmapped = source.entries
    changed_fields = timesheet_fields(changed, TZ, 5, 10, None)
    gone = {"begin": "2017-03-01T09:00:00", "description": "harvest:1"}
    read = ImportRead(
        source,
        TZ,
        links={
            current.key: link(current),
            changed.key: link(changed, target_id=701, source_hash="an older version"),
            "harvest:1": {**link(current, target_id=702), "source_key": "harvest:1", "data": gone},
        },
        kimai=HARVEST_STATE,
        timesheets={
            changed.key: timesheet({**changed_fields, "end": "2017-03-01T11:30:00"}, id_=701),
            "harvest:1": {"id": 702},
        },
        warnings=["2 Kimai timesheets carry harvest:9; see report.py reconcile"],
    )
    job, plan = harvest_plan(read)
    assert plan.unchanged == 1 and plan.skipped == source.skipped and plan.invalid == []
    assert [(a.kind, a.key, a.target_id) for a in plan.timesheets] == [
        ("update", changed.key, 701),
        ("create", new.key, None),
        ("delete", "harvest:1", 702),
    ]
    update, create, delete = plan.timesheets
    assert update.fields == changed_fields and update.detail == "end 2017-03-01 11:30 -> 2017-03-01 12:00 Europe/Berlin"
    assert create.fields == timesheet_fields(new, TZ, 5, 9, None) and delete.before == gone
    [(refused, reason)] = plan.refused
    assert refused.key == unmapped.key and reason.startswith("Kimai has no project 'Marketing Website'")
    assert plan.containers == [] and plan.all_users is False
    assert plan.warnings == read.warnings and plan.cursor == "2026-11-27T10:00:00Z"
    assert job.result.counts == {} and job.result.failures == [] and job.result.warnings == []  # only planned


def test_a_read_with_every_row_current_plans_nothing_but_the_count_and_an_incomplete_one_keeps_the_cursor():
    source = harvest_read()
    source.cursor, source.complete = "2026-11-27T10:00:00Z", False
    read = ImportRead(source, TZ, links={e.key: link(e) for e in source.entries})  # Kimai not read: nothing to do
    _, plan = harvest_plan(read)
    assert (plan.unchanged, plan.timesheets, plan.refused, plan.containers) == (4, [], [], [])
    assert plan.cursor is None

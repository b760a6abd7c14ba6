"""The zammad-kimai planner without HTTP, fed with Zammad's documented payloads (shipped in
sandbox/contracts/zammad/examples): which entries need a look (link states), and each entry's
action under every conflict policy (manual, zammad-wins, kimai-wins) and delete policy (report,
delete), changed on one side or on both.

The pure parts are module functions (`timesheet_fields`, `current_fields`, `plan_entry`); the
link selection (`select`), the orphans' plan (`plan_orphans`) and the whole `plan(read)` are
methods, so a job is built with no store: its constructor makes HTTP sessions but sends nothing."""

import copy
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from common.config import KEYS, Settings
from common.http import RequestCounter
from common.jobs.base import Action, Result
from common.jobs.kimai_targets import KimaiState
from common.jobs.zammad_kimai import JOB, Options, ZammadKimaiJob
from common.jobs.zammad_plan import (
    References,
    TicketRead,
    ZammadRead,
    current_fields,
    entry_marker,
    minutes_per_unit,
    plan_entry,
    timesheet_fields,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "sandbox" / "contracts" / "zammad" / "examples"
TZ = ZoneInfo("Europe/Berlin")
PROJECT, ACTIVITY = 11, 21
POLICIES = ("manual", "zammad-wins", "kimai-wins")


def example(name):
    return json.loads((EXAMPLES / name).read_text("utf-8"))


# The documentation's two examples come from different tickets: the time accountings name ticket
# 50, the ticket example is ticket 3. The entries are read by ticket id, so the ticket takes theirs.
ENTRIES = example("time_accountings_list.json")
TICKET = {**example("ticket.expand_true.json"), "id": ENTRIES[0]["ticket_id"]}


def settings(**values):
    base = {name: key.default for name, key in KEYS.items()}
    base.update(
        ZAMMAD_URL="http://zammad.invalid",
        ZAMMAD_TOKEN="zammad-token-0001",
        KIMAI_URL="http://kimai.invalid",
        KIMAI_TOKEN="kimai-token-0001",
        ZAMMAD_DEFAULT_ACTIVITY="Support",
    )
    base.update(values)
    return Settings(base)


def job(full=False, **values):
    result = Result(job=JOB)
    made = ZammadKimaiJob(settings(**values), Options(full=full), None, RequestCounter(), result)
    made.tz = TZ
    return made


def desired(entry, ticket=TICKET, type_name="Billable"):
    return timesheet_fields(ticket, entry, TZ, 1.0, PROJECT, ACTIVITY, None, type_name)


def timesheet(fields, id_=501, billable=True, exported=False):
    """The Kimai timesheet of these fields, as Kimai answers (offset without a colon)."""
    begin = f"{fields['begin']}+0200"
    end = f"{fields['end']}+0200"
    return {
        "id": id_,
        "begin": begin,
        "end": end,
        "project": fields["project"],
        "activity": fields["activity"],
        "description": fields["description"],
        "user": 1,
        "billable": billable,
        "exported": exported,
        "tags": ["zammad"],
    }


def link(key, target_id=501, state="synced", source_hash="h", data=None):
    return {
        "source_key": key,
        "target_type": "timesheet",
        "target_id": target_id,
        "state": state,
        "source_hash": source_hash,
        "data": data,
        "job": JOB,
    }


def version_of(entry, ticket=TICKET):
    """The entry's version as the job computes it (select hands it over with the work)."""
    made = job()
    [(_, _, version)] = made.select([TicketRead(ticket, [entry])], {}, None).work
    return version


def plan(entry, fields, target, last, policy, version=None, state="synced"):
    """plan_entry for one entry: `fields` what Zammad wants now, `target` the Kimai timesheet
    (None: none), `last` the fields the store remembers writing (None: no link)."""
    key = entry_marker(TICKET["id"], entry["id"])
    version = version or version_of(entry)
    stored = link(key, target["id"] if target else 501, state, "older", last) if last is not None else None
    current = current_fields(target, TZ, False) if target else None
    return plan_entry(
        key,
        f"#{TICKET['number']} time/{entry['id']}",
        fields,
        version,
        stored,
        target,
        current,
        policy,
        str(TICKET["id"]),
        TZ.key,
    )


# --- mapping the real payloads ---------------------------------------------------------------


def test_an_entry_maps_to_a_timesheet_in_kimais_zone_with_marker_ticket_and_type():
    entry = ENTRIES[0]  # 15.0 units created 2023-08-16T08:11:49.315Z, ticket #53003 "Order 787556"
    fields = desired(entry)
    assert fields == {
        "begin": "2023-08-16T10:11:49",
        "end": "2023-08-16T10:26:49",
        "project": PROJECT,
        "activity": ACTIVITY,
        "description": "zammad:ticket/50/time/6\n#53003 Order 787556\nBillable",
    }
    assert "user" not in fields
    assert timesheet_fields(TICKET, entry, TZ, 1.0, PROJECT, ACTIVITY, 7)["user"] == 7


def test_time_units_in_hours_or_a_number_of_minutes():
    entry = ENTRIES[1]  # 30.0 units
    assert timesheet_fields(TICKET, entry, TZ, minutes_per_unit("hours"), 1, 1, None)["end"] == "2023-08-17T16:12:02"
    assert timesheet_fields(TICKET, entry, TZ, minutes_per_unit("6"), 1, 1, None)["end"] == "2023-08-16T13:12:02"


def test_a_kimai_timesheet_reads_back_as_the_fields_that_made_it():
    for entry in ENTRIES:
        fields = desired(entry)
        assert current_fields(timesheet(fields), TZ, False) == fields
        assert current_fields(timesheet(fields), TZ, True) == {**fields, "user": 1}


# --- which entries need a look: link states --------------------------------------------------


def test_synced_and_kept_entries_of_the_same_version_are_skipped_and_counted():
    made = job()
    versions = {e["id"]: version_of(e) for e in ENTRIES}
    key = {e["id"]: entry_marker(TICKET["id"], e["id"]) for e in ENTRIES}
    links = {
        key[6]: link(key[6], state="synced", source_hash=versions[6]),
        key[7]: link(key[7], state="kept", source_hash=versions[7]),
        key[8]: link(key[8], state="synced", source_hash=versions[8]),
    }
    selection = made.select([TicketRead(TICKET, ENTRIES)], links, None)
    assert selection.work == [] and selection.orphans == []
    assert selection.unchanged == 3


@pytest.mark.parametrize("state", ["pending", "failed", "orphaned", "conflict"])
def test_an_entry_in_any_other_state_is_planned_again(state):
    made = job()
    entry = ENTRIES[0]
    key = entry_marker(TICKET["id"], entry["id"])
    selection = made.select(
        [TicketRead(TICKET, [entry])], {key: link(key, state=state, source_hash=version_of(entry))}, None
    )
    assert [e["id"] for _, e, _ in selection.work] == [6]
    assert selection.unchanged == 0


def test_an_entry_changed_in_zammad_or_a_renamed_ticket_is_planned_again():
    entry = ENTRIES[0]
    key = entry_marker(TICKET["id"], entry["id"])
    links = {key: link(key, source_hash=version_of(entry))}
    changed = {**entry, "time_unit": "20.0"}
    renamed = {**TICKET, "title": "Order 787556 (urgent)"}
    assert [e for _, e, _ in job().select([TicketRead(TICKET, [changed])], links, None).work] == [changed]
    assert [t for t, _, _ in job().select([TicketRead(renamed, [entry])], links, None).work] == [renamed]


def test_full_plans_every_entry_whatever_its_link_says():
    made = job(full=True)
    links = {
        entry_marker(TICKET["id"], e["id"]): link(entry_marker(TICKET["id"], e["id"]), source_hash=version_of(e))
        for e in ENTRIES
    }
    work = made.select([TicketRead(TICKET, ENTRIES)], links, None).work
    assert [e["id"] for _, e, _ in work] == [6, 7, 8]


def test_a_synced_entry_gone_from_zammad_is_an_orphan_once():
    entry_gone = entry_marker(TICKET["id"], 99)
    other_ticket = entry_marker(4, 99)
    already = entry_marker(TICKET["id"], 98)
    links = {entry_gone: link(entry_gone), other_ticket: link(other_ticket), already: link(already, state="orphaned")}
    selection = job().select([TicketRead(TICKET, ENTRIES)], links, None)
    assert len(selection.work) == 3
    assert [o["source_key"] for o in selection.orphans] == [entry_gone]  # not another ticket's, not one reported before


def test_a_ticket_whose_entries_could_not_be_read_fails_without_orphaning_them():
    made = job()
    key = entry_marker(TICKET["id"], 6)
    selection = made.select([TicketRead(TICKET, error="zammad: server error 500")], {key: link(key)}, None)
    assert selection.work == [] and selection.orphans == []
    assert selection.failed == [("ticket #53003", "zammad: server error 500", "50")]


# --- one entry's action ------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_an_entry_without_timesheet_is_created(policy):
    entry = ENTRIES[0]
    action = plan(entry, desired(entry), None, None, policy)
    assert action.kind == "create" and action.target_id is None
    assert action.fields == desired(entry) and action.source_hash == version_of(entry)
    assert action.detail == "2023-08-16 10:11:49 to 10:26:49 Europe/Berlin"
    assert action.line() == "create #53003 time/6: 2023-08-16 10:11:49 to 10:26:49 Europe/Berlin"


@pytest.mark.parametrize("policy", POLICIES)
def test_a_timesheet_as_wanted_and_linked_is_unchanged(policy):
    entry = ENTRIES[0]
    fields = desired(entry)
    key = entry_marker(TICKET["id"], entry["id"])
    version = version_of(entry)
    target = timesheet(fields)
    action = plan_entry(
        key,
        "l",
        fields,
        version,
        link(key, 501, "synced", version, fields),
        target,
        current_fields(target, TZ, False),
        policy,
        "50",
        TZ.key,
    )
    assert action.kind == "unchanged" and action.target_id == 501 and not action.writes


@pytest.mark.parametrize("stored", ["none", "other target", "older version", "kept"])
def test_a_timesheet_as_wanted_found_by_marker_is_linked(stored):
    entry = ENTRIES[0]
    fields = desired(entry)
    key = entry_marker(TICKET["id"], entry["id"])
    version = version_of(entry)
    links = {
        "none": None,
        "other target": link(key, 999, "synced", version, fields),
        "older version": link(key, 501, "synced", "older", fields),
        "kept": link(key, 501, "kept", version, fields),
    }
    target = timesheet(fields)
    action = plan_entry(
        key, "l", fields, version, links[stored], target, current_fields(target, TZ, False), "manual", "50", TZ.key
    )
    assert action.kind == "link" and action.target_id == 501 and not action.writes


@pytest.mark.parametrize("policy", POLICIES)
def test_changed_in_zammad_only_updates_whatever_the_policy(policy):
    entry = ENTRIES[0]
    last = desired(entry)  # what was written, and Kimai still has
    now = desired({**entry, "time_unit": "20.0"})  # 15 -> 20 minutes in Zammad
    action = plan(entry, now, timesheet(last, billable=False, exported=True), last, policy)
    assert action.kind == "update" and action.target_id == 501
    assert action.fields == now and action.before == last
    assert action.keep == {"billable": False, "exported": True}  # Kimai's flags are sent back as they are
    assert action.detail == "end 2023-08-16 10:26:49 -> 2023-08-16 10:31:49 Europe/Berlin"


@pytest.mark.parametrize("policy", POLICIES)
def test_changed_in_kimai_only_keeps_the_persons_edit_whatever_the_policy(policy):
    entry = ENTRIES[1]
    last = desired(entry)
    edited = {**last, "end": "2023-08-16T11:00:00", "description": last["description"] + "\ncalled back"}
    action = plan(entry, last, timesheet(edited), last, policy)
    assert action.kind == "keep" and action.target_id == 501 and not action.writes
    assert action.fields == edited and action.detail == "edited in Kimai"


def both_sides(policy):
    entry = ENTRIES[2]
    last = desired(entry)
    edited_in_kimai = {**last, "begin": "2023-08-16T09:00:00"}
    now = desired({**entry, "time_unit": "45.0"})
    return last, edited_in_kimai, now, plan(entry, now, timesheet(edited_in_kimai, billable=False), last, policy)


def test_changed_on_both_sides_manual_is_a_conflict_naming_the_fields():
    last, edited, now, action = both_sides("manual")
    assert action.kind == "conflict" and action.target_id == 501 and not action.writes
    assert action.fields == now and action.before == edited and action.last == last  # the applier records all three
    assert action.detail == "changed in Zammad and in Kimai (begin, end)"


def test_changed_on_both_sides_zammad_wins_overwrites_kimai_keeping_its_flags():
    last, edited, now, action = both_sides("zammad-wins")
    assert action.kind == "update" and action.target_id == 501
    assert action.fields == now and action.before == edited and action.keep == {"billable": False, "exported": False}
    assert action.detail == (
        "begin 2023-08-16 09:00 -> 2023-08-16 10:12:29 Europe/Berlin, "
        "end 2023-08-16 10:47:29 -> 2023-08-16 10:57:29 Europe/Berlin"
    )


def test_changed_on_both_sides_kimai_wins_keeps_kimais_timesheet():
    last, edited, now, action = both_sides("kimai-wins")
    assert action.kind == "keep" and action.target_id == 501 and not action.writes
    assert action.fields == edited and action.detail == "changed on both sides; Kimai wins"


@pytest.mark.parametrize("policy", POLICIES)
def test_without_a_remembered_write_a_different_timesheet_is_updated(policy):
    """A link from before the store kept the written fields (or none at all: found by marker):
    no proof of an edit in Kimai, so Zammad's entry is written."""
    entry = ENTRIES[0]
    now = desired(entry)
    differs = {**now, "activity": 22}
    key = entry_marker(TICKET["id"], entry["id"])
    target = timesheet(differs)
    for stored in (None, link(key, 501, "synced", "older", None)):
        action = plan_entry(key, "l", now, "v", stored, target, current_fields(target, TZ, False), policy, "50", TZ.key)
        assert action.kind == "update" and action.detail == "activity 22 -> 21"


def test_only_the_description_changed_says_so():
    entry = ENTRIES[0]
    last = desired(entry)
    now = desired(entry, ticket={**TICKET, "title": "Order 787556 (urgent)"})
    action = plan(entry, now, timesheet(last), last, "manual")
    assert action.kind == "update" and action.detail == "description changed"


def test_an_entry_waiting_for_a_planned_project_is_created_after_it():
    entry = ENTRIES[0]
    project = Action("create", "zammad:ticket/50", "project", "project '#53003 Order 787556'", "ticket #53003", {})
    fields = timesheet_fields(TICKET, entry, TZ, 1.0, None, ACTIVITY, None)
    action = plan_entry(
        entry_marker(50, 6), "l", fields, "v", None, None, None, "manual", "50", TZ.key, {"project": project}
    )
    assert action.kind == "create" and action.needs == {"project": project}
    project.target_id = 77
    assert action.take_ids() is None and action.fields["project"] == 77


# --- entries deleted in Zammad: the delete policy --------------------------------------------


def orphan_plan(policy, in_kimai=True):
    made = job(ZAMMAD_DELETE_POLICY=policy)
    fields = desired(ENTRIES[0])
    key = entry_marker(TICKET["id"], ENTRIES[0]["id"])
    existing = {key: timesheet(fields)} if in_kimai else {}
    return fields, made.plan_orphans([link(key, 501, "synced", "v", copy.deepcopy(fields))], existing)


def test_delete_policy_report_reports_and_keeps_the_timesheet():
    fields, [action] = orphan_plan("report")
    assert action.kind == "report" and action.target_id == 501 and not action.writes
    assert action.label == "ticket 50/time/6"
    assert action.detail == "deleted in Zammad; timesheet kept (ZAMMAD_DELETE_POLICY=report)"


def test_delete_policy_delete_deletes_the_timesheet():
    fields, [action] = orphan_plan("delete")
    assert action.kind == "delete" and action.target_id == 501 and action.writes
    assert action.before == fields and action.detail == "deleted in Zammad"


@pytest.mark.parametrize("policy", ["report", "delete"])
def test_a_timesheet_already_gone_from_kimai_is_only_settled(policy):
    """Nothing to write or report: the link is marked deleted, so it is never looked up again."""
    [action] = orphan_plan(policy, in_kimai=False)[1]
    assert action.kind == "gone" and not action.writes and action.source_hash == "v"


# --- the job's plan() on a hand-built read: no HTTP, no store ----------------------------------


def webhook_read():
    """Ticket 50 sent by the webhook with its three entries (6 new, 7 synced as it is, 8 of an
    activity type no map names), one of its synced entries gone from Zammad (99, its timesheet
    still in Kimai), ticket 7 unchanged since its last sync, ticket 4 unknown to Zammad."""
    made = job(ZAMMAD_DEFAULT_ACTIVITY="", ZAMMAD_ACTIVITY_MAP="3=Support;2=Support")
    made.opts = Options(ticket_ids=(50, 7, 4))
    key = {n: entry_marker(TICKET["id"], n) for n in (6, 7, 8, 99)}
    gone = desired(ENTRIES[0])
    links = {
        "zammad:ticket/50": {**link("zammad:ticket/50", target_id=PROJECT), "target_type": "project"},
        key[7]: link(key[7], target_id=502, source_hash=version_of(ENTRIES[1])),
        key[99]: link(key[99], target_id=599, data=gone),
        "zammad:ticket/7/time/1": link("zammad:ticket/7/time/1", target_id=503),
    }
    read = ZammadRead(
        TZ,
        None,
        links,
        tickets=[TicketRead(TICKET, ENTRIES)],
        missing=[4],
        unchanged={7},
        references=References({2: "Billable", 3: "Not billable", 4: "Travel"}, {"Support": ACTIVITY}),
        kimai=KimaiState(),
        timesheets={key[99]: timesheet(gone, id_=599)},
        warnings=["2 Kimai timesheets carry zammad:ticket/9/time/1; see report.py reconcile"],
    )
    return made, read


def test_plan_of_a_read_lists_every_action_failure_count_and_cursor_without_io():
    made, read = webhook_read()
    plan = made.plan(read)  # the services' URLs are .invalid and the store is None: any I/O raises
    assert [(a.kind, a.key, a.target_id) for a in plan.actions] == [
        ("create", entry_marker(50, 6), None),
        ("report", entry_marker(50, 99), 599),
    ]
    created = plan.actions[0].fields
    assert (created["project"], created["activity"]) == (PROJECT, ACTIVITY)
    assert created["description"].splitlines() == ["zammad:ticket/50/time/6", "#53003 Order 787556", "Not billable"]
    assert plan.containers == []  # the ticket's project is linked
    [(unmapped, reason)] = plan.unmapped
    assert unmapped.key == entry_marker(50, 8)
    assert reason == "activity type 'Travel' is not in ZAMMAD_ACTIVITY_MAP and ZAMMAD_DEFAULT_ACTIVITY is not set"
    assert plan.failed == [("ticket 4", "not found in Zammad", None)]
    assert plan.counts == {"tickets_unchanged": 1, "unchanged": 2}  # entry 7, and ticket 7's entry
    assert plan.warnings == read.warnings
    assert (plan.save_versions, plan.save_cursor) == (True, False)  # the webhook moves no cursor
    assert made.result.failures == [] and not made.result.counts  # planning records nothing


def test_apply_records_the_plan_in_order_and_dry_run_writes_nothing():
    made, read = webhook_read()
    made.opts = Options(ticket_ids=(50, 7, 4), dry_run=True)
    made.applier.dry_run = True
    plan = made.plan(read)
    assert (plan.save_versions, plan.save_cursor) == (False, False)
    made.apply(plan)  # the store is None: any store write would fail
    assert made.result.failures == [
        ("ticket 4", "not found in Zammad"),
        ("#53003 time/8", plan.unmapped[0][1]),
    ]
    assert [a.key for a in made.result.actions] == [entry_marker(50, 6)]
    assert made.result.counts["unchanged"] == 2 and made.result.counts["created"] == 1
    assert made.result.warnings[0] == read.warnings[0]


@pytest.mark.parametrize("policy", ["report", "delete"])
def test_a_ticket_deleted_outright_plans_every_synced_entry_by_the_policy(policy):
    """Ticket 9 answered 404 (read.deleted): each of its entry links that still needs a look
    (synced, kept, failed; not deleted, orphaned only under delete) follows the policy, the
    action says the ticket was deleted, its timesheet gone from Kimai too is settled."""
    made = job(ZAMMAD_DELETE_POLICY=policy)
    key = {n: entry_marker(9, n) for n in (1, 2, 3, 4, 5)}
    fields = desired(ENTRIES[0])
    links = {
        key[1]: link(key[1], target_id=601, data=fields),
        key[2]: link(key[2], target_id=602, state="kept", data=fields),
        key[3]: link(key[3], target_id=603, state="failed", data=fields),
        key[4]: link(key[4], target_id=604, state="deleted", data=fields),
        key[5]: link(key[5], target_id=605, state="orphaned", data=fields),
        entry_marker(8, 1): link(entry_marker(8, 1), target_id=606, data=fields),  # another ticket
    }
    existing = {key[n]: timesheet(fields, id_=600 + n) for n in (1, 2, 4, 5)}  # 3's timesheet is gone too
    read = ZammadRead(TZ, None, links, deleted={9}, timesheets=existing)
    plan = made.plan(read)
    kinds = {a.key: (a.kind, a.target_id) for a in plan.actions}
    if policy == "delete":
        assert kinds == {
            key[1]: ("delete", 601),
            key[2]: ("delete", 602),
            key[3]: ("gone", 603),
            key[5]: ("delete", 605),
        }
    else:
        assert kinds == {key[1]: ("report", 601), key[2]: ("report", 602), key[3]: ("gone", 603)}
    assert {a.detail.split(";")[0] for a in plan.actions if a.detail} == {"ticket deleted in Zammad"}
    assert plan.failed == []

"""The shared Applier records what the actions that write nothing found, in a real store: a
link found by its marker, a person's edit that stands (keep), a conflict, an item deleted at the
source and reported (report). Under --dry-run they are counted and listed, and nothing reaches
the store. And ActionKind: a str Enum, so text, JSON and store hold the same words as before."""

import json

import pytest

from common.jobs.base import Action, ActionKind, Applier, Result, plan_entry
from common.store import Store

JOB = "zammad-kimai"
KEY = "zammad:ticket/50/time/7"
LAST = {"begin": "2026-03-02T09:00:00", "end": "2026-03-02T10:00:00", "description": "last synced"}
WANTED = {**LAST, "description": "changed in Zammad"}
IN_KIMAI = {**LAST, "end": "2026-03-02T10:30:00"}


def no_write(action):
    raise AssertionError(f"{action.kind} {action.label} must not be sent")


def action(kind, fields, **extra):
    return Action(kind, KEY, "timesheet", "#53003 time/7", "50", fields, target_id=501, **extra)


@pytest.fixture()
def store(tmp_path):
    with Store(tmp_path / "sync.db") as store:
        yield store


def apply(store, actions, dry_run=False, synced_before=True):
    run_id = store.start_run(JOB, {})
    if synced_before:
        store.mark_synced(JOB, KEY, "timesheet", 501, "old version", LAST, run_id)
    result = Result(JOB, dry_run=dry_run)
    Applier(JOB, store, run_id, 2, result, dry_run).execute(actions, no_write, lambda unknown: {})
    return result, run_id


def test_keep_records_the_link_as_kept_with_kimais_values_and_the_new_version(store):
    result, run_id = apply(store, [action(ActionKind.KEEP, IN_KIMAI, source_hash="v2", detail="edited in Kimai")])
    link = store.links(JOB)[KEY]
    assert (link["state"], link["target_id"], link["source_hash"], link["data"], link["run_id"]) == (
        "kept",
        501,
        "v2",
        IN_KIMAI,
        run_id,
    )
    assert result.counts["unchanged"] == 1 and result.warnings == ["#53003 time/7: edited in Kimai"]
    assert result.actions == [] and store.conflicts(JOB) == []


def test_report_orphans_the_link_so_it_is_reported_once(store):
    result, _ = apply(store, [action("report", LAST, detail="deleted in Zammad; timesheet kept")])
    link = store.links(JOB)[KEY]
    assert (link["state"], link["target_id"], link["data"]) == ("orphaned", 501, LAST)
    assert result.counts["deleted_in_source"] == 1
    assert result.warnings == ["#53003 time/7: deleted in Zammad; timesheet kept"]


def test_conflict_is_recorded_with_all_three_sides_and_the_link_left_as_last_synced(store):
    conflict = action(
        ActionKind.CONFLICT,
        WANTED,
        before=IN_KIMAI,
        last=LAST,
        source_hash="v2",
        detail="changed in Zammad and in Kimai (end, description)",
    )
    result, run_id = apply(store, [conflict])
    [recorded] = store.conflicts(JOB)
    assert (
        recorded["source_key"],
        recorded["target_type"],
        recorded["target_id"],
        recorded["source_hash"],
        recorded["run_id"],
    ) == (KEY, "timesheet", 501, "v2", run_id)
    assert (recorded["source_data"], recorded["target_data"], recorded["last_data"]) == (WANTED, IN_KIMAI, LAST)
    link = store.links(JOB)[KEY]
    assert (link["state"], link["source_hash"], link["data"]) == ("synced", "old version", LAST)
    assert result.counts["conflicts"] == 1 and result.actions == [conflict] and result.outcome == "conflicts"
    assert result.warnings == [
        "#53003 time/7: conflict, changed in Zammad and in Kimai (end, description); see python sync.py conflicts"
    ]


def test_a_second_conflict_for_the_same_item_replaces_the_open_one(store):
    apply(store, [action(ActionKind.CONFLICT, WANTED, before=IN_KIMAI, last=LAST)])
    apply(store, [action(ActionKind.CONFLICT, {**WANTED, "description": "again"}, before=IN_KIMAI, last=LAST)])
    assert [c["source_data"]["description"] for c in store.conflicts(JOB)] == ["again"]


def test_link_remembers_the_target_found_by_its_marker_with_an_audit_event(store):
    result, _ = apply(store, [action(ActionKind.LINK, WANTED, source_hash="v2")], synced_before=False)
    link = store.links(JOB)[KEY]
    assert (link["state"], link["target_id"], link["source_hash"], link["data"]) == ("synced", 501, "v2", WANTED)
    assert [e["action"] for e in store.audit_events(JOB, item=KEY)] == ["link"]
    assert result.counts["unchanged"] == 1 and result.warnings == []


def test_unchanged_is_only_counted(store):
    result, _ = apply(store, [action(ActionKind.UNCHANGED, LAST)])
    assert store.links(JOB)[KEY]["source_hash"] == "old version" and result.counts["unchanged"] == 1


def test_under_dry_run_nothing_reaches_the_store_but_everything_is_counted_and_conflicts_listed(store):
    conflict = action(ActionKind.CONFLICT, WANTED, before=IN_KIMAI, last=LAST, detail="both")
    plan = [
        action(ActionKind.KEEP, IN_KIMAI, detail="edited in Kimai"),
        action(ActionKind.REPORT, LAST, detail="gone"),
        conflict,
        Action(ActionKind.LINK, "zammad:ticket/50/time/8", "timesheet", "#53003 time/8", "50", LAST, target_id=502),
    ]
    result, _ = apply(store, plan, dry_run=True)
    assert set(store.links(JOB)) == {KEY} and store.links(JOB)[KEY]["state"] == "synced"
    assert store.conflicts(JOB) == [] and [e["action"] for e in store.audit_events(JOB)] == []
    assert (result.counts["unchanged"], result.counts["deleted_in_source"], result.counts["conflicts"]) == (2, 1, 1)
    assert result.actions == [conflict] and len(result.warnings) == 3


def test_a_kind_given_as_its_word_is_the_enum_and_an_unknown_word_is_refused():
    assert action("keep", LAST).kind is ActionKind.KEEP and ActionKind.KEEP == "keep"
    assert action("create", LAST).writes and not action("conflict", LAST).writes
    with pytest.raises(ValueError):
        action("remove", LAST)


def test_text_and_json_show_the_kind_as_its_word():
    update = action(ActionKind.UPDATE, WANTED, detail="end 10:00 -> 10:30")
    assert update.line() == "update #53003 time/7: end 10:00 -> 10:30"
    assert json.loads(json.dumps(plan_entry(update)))["action"] == "update"
    assert json.dumps(plan_entry(update)).startswith('{"action": "update",')

"""The source versions the imports store on their links, across the move from their own hash to
base.content_hash: a store written before it still reads as current, so an unchanged re-import
costs no Kimai request and no store write.

The hashes below were computed by the code before the move (imports.version_of) from the
recorded examples the planner tests use, and from the same entries with text beyond ASCII, which
that code hashed \\u-escaped."""

import pytest
from test_imports_plan import HARVEST_ENTRIES, TOGGL_ENTRIES, TZ, TogglLists, harvest_job, settings, toggl_job

from common.http import RequestCounter
from common.jobs.base import Result
from common.jobs.import_plan import source_version
from common.jobs.imports import Options
from common.jobs.toggl_kimai import TogglKimaiJob
from common.store import Store

NON_ASCII = "Café – Überprüfung"
STORED_TOGGL = {
    "toggl:3731531776": "43805dce7b7c2c87",
    "toggl:3731416928": "b69c3c54dbc6a778",
    "toggl:3731292842": "bcf2a2441af19757",
}
STORED_HARVEST = {
    "harvest:636707831": "56202f8a048242b9",
    "harvest:636708574": "1ca51dc59b2bf266",
    "harvest:636708723": "a35333c030031d22",
    "harvest:636709355": "48c8d3ca05adb223",
}
STORED_NON_ASCII = {"toggl:3731531776": "9c5b33d8baa8eea2", "harvest:636709355": "1cb78831ed848ef0"}


def toggl_entries(raw=TOGGL_ENTRIES):
    return toggl_job().convert(raw, {}, None).entries


def non_ascii_entries():
    toggl = toggl_entries([{**TOGGL_ENTRIES[0], "description": NON_ASCII}])
    harvest = harvest_job().convert([{**HARVEST_ENTRIES[0], "notes": NON_ASCII}]).entries
    return toggl + harvest


def test_ascii_rows_keep_the_stored_versions():
    harvest = harvest_job().convert(HARVEST_ENTRIES).entries
    assert {e.key: e.version for e in toggl_entries()} == STORED_TOGGL
    assert {e.key: e.version for e in harvest} == STORED_HARVEST
    assert all(e.earlier_version is None for e in toggl_entries() + harvest)


def test_rows_with_text_beyond_ascii_accept_the_stored_escaped_version():
    entries = non_ascii_entries()
    assert {e.key: e.earlier_version for e in entries} == STORED_NON_ASCII
    for entry in entries:
        assert entry.version != entry.earlier_version  # the content_hash of the same parts
        assert entry.is_version(entry.version) and entry.is_version(STORED_NON_ASCII[entry.key])
        assert not entry.is_version(None) and not entry.is_version("0000000000000000")


def test_the_version_is_base_content_hash_of_the_parts():
    from common.jobs.base import content_hash

    assert source_version("a", 1, None) == (content_hash(["a", 1, None]), None)


class NoKimai:
    """A Kimai client that must not be called."""

    def __getattr__(self, name):
        raise AssertionError(f"Kimai was asked: {name}")


@pytest.mark.parametrize("non_ascii", [False, True])
def test_an_unchanged_reimport_on_a_store_written_before_makes_no_request_and_no_write(tmp_path, non_ascii):
    raw = (
        [{**e, "description": f"{NON_ASCII} {n}"} for n, e in enumerate(TOGGL_ENTRIES)] if non_ascii else TOGGL_ENTRIES
    )
    entries = toggl_entries(raw)
    with Store(tmp_path / "sync.db") as store:
        for n, entry in enumerate(entries):  # the links as the code before wrote them
            stored = entry.earlier_version if non_ascii else STORED_TOGGL[entry.key]
            store.mark_synced("toggl-kimai", entry.key, "timesheet", 700 + n, stored, {"begin": "x"}, None)
        before = store.links("toggl-kimai")
        job = TogglKimaiJob(settings(), Options(), store, RequestCounter(), Result(job="toggl-kimai"))
        job.toggl, job.tz, job.kimai = TogglLists(TOGGL_ENTRIES), TZ, NoKimai()
        read = job.convert(raw, {}, None)
        job.sync(read)
        assert job.result.counts["unchanged"] == 3 and not job.result.failures
        assert store.links("toggl-kimai") == before

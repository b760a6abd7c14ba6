"""report.py --json: each command prints the shape docs/json-report.md documents (the examples
there have exactly the keys the commands print), whatever the options and the data."""

import json
import re

import pytest
from ops_helpers import ROOT, explain, invoke, offline_env, seed_store

from common.store import Store

DOC = (ROOT / "docs" / "json-report.md").read_text()
# free-form objects: their keys are data (states, tables, fields), not part of the shape
FREE = {"links", "parameters", "before", "after", "filters", "per_ticket", "counts", "purged"}


def documented(command):
    """The JSON example under the heading of `report.py COMMAND`."""
    match = re.search(r"^### `report\.py " + re.escape(command) + r"`.*?```json\n(.*?)```", DOC, re.M | re.S)
    assert match, f"docs/json-report.md has no example for report.py {command}"
    return json.loads(match.group(1))


def same_shape(example, actual, where="$"):
    """Same keys in every object, at every depth; lists compared by their first item."""
    if isinstance(example, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        assert set(example) == set(actual), f"{where}: documented {sorted(example)}, printed {sorted(actual)}"
        for key in example:
            if key not in FREE:
                same_shape(example[key], actual[key], f"{where}.{key}")
    elif isinstance(example, list):
        assert isinstance(actual, list), f"{where}: expected a list, got {actual!r}"
        if example and actual:
            for item in actual:
                same_shape(example[0], item, f"{where}[]")


def report_json(folder, env_file, *args):
    proc = invoke("report.py", *args, "--json", cwd=folder, env_file=env_file)
    assert proc.returncode == 0, explain(proc)
    return json.loads(proc.stdout)


@pytest.fixture
def seeded(tmp_path):
    env_file = offline_env(tmp_path)
    seed_store(tmp_path / "sync.db")
    with Store(tmp_path / "sync.db") as store:
        run_id = store.start_run("csv-kimai", {})
        imported = store.start_import(run_id, "csv-kimai", "csv", {"file": "hours.csv"}, "ab" * 32)
        store.finish_import(
            imported, "partial", {"read": 2, "created": 1, "failed": 1}, [(3, "csv:hours.csv#3", "no project")]
        )
        store.finish_run(run_id, "interrupted", 75, {"created": 1})
    return tmp_path, env_file


@pytest.mark.parametrize(
    "command, args",
    [
        ("status", ()),
        ("history", ()),
        ("history", ("--job", "csv-kimai")),
        ("items", ()),
        ("items", ("--state", "pending")),
        ("errors", ()),
        ("errors", ("--run", "2")),
        ("audit", ()),
        ("imports", ()),
        ("export", ("--format", "json")),
    ],
)
def test_store_reports_print_the_documented_shape(seeded, command, args):
    folder, env_file = seeded
    actual = report_json(folder, env_file, command, *args)
    assert actual, "the seeded store gives every command something to print"
    same_shape(documented(command), actual)


def test_the_shape_does_not_depend_on_the_data(tmp_path):
    """An empty store: the same shapes (lists empty, objects with every key)."""
    env_file = offline_env(tmp_path)
    same_shape(documented("status"), report_json(tmp_path, env_file, "status"))  # every job: never run
    assert report_json(tmp_path, env_file, "errors") == {"run": None, "errors": []}
    assert report_json(tmp_path, env_file, "history") == [] == report_json(tmp_path, env_file, "audit")


def test_kimai_reports_print_the_documented_shape(workdir):
    sb = workdir.sandbox
    workdir.set(ZAMMAD_URL=sb.url("zammad"), ZAMMAD_TOKEN=sb.tokens["zammad"])
    project = sb.kimai.add_project("Website", sb.kimai.add_customer("Acme")["id"])["id"]
    activity = sb.kimai.add_activity("Support", None)["id"]
    sb.kimai.add_timesheet(
        project, activity, "2026-11-02T09:00:00", "2026-11-02T10:30:00", description="zammad:ticket/99/time/1\nprinter"
    )
    reconcile = json.loads(
        workdir.run(
            "report.py", "reconcile", "--from", "2026-11-01", "--to", "2026-11-30", "--json", check_code=0
        ).stdout
    )
    assert reconcile["items"] and reconcile["per_ticket"]
    same_shape(documented("reconcile"), reconcile)
    assert all(set(counts) == set(reconcile["totals"]) for counts in reconcile["per_ticket"].values())
    out = workdir.path / "november.csv"
    summary = json.loads(
        workdir.run(
            "report.py",
            "export-timesheets",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--out",
            str(out),
            "--json",
            check_code=0,
        ).stdout
    )
    same_shape(documented("export-timesheets"), summary)
    proc = workdir.run("report.py", "export-timesheets", "--from", "2026-11-01", "--to", "2026-11-30", "--json")
    assert proc.returncode == 2 and "--format json" in proc.stderr, explain(proc)
    gdpr = json.loads(workdir.run("report.py", "gdpr", "--user", "admin@example.com", "--json", check_code=0).stdout)
    same_shape(documented("gdpr"), gdpr)

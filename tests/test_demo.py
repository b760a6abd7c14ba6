"""./run_sync.sh demo in a copy of the repository with nothing beside it: the happy path shows the
plan, the first sync and a second sync that writes nothing; a broken stand-in is named in one
line with the sandbox log's path, never as the sync's "cannot reach"."""

import re
import shutil

import pytest
from repo_copy import copy_repo, explain, run_in

FAILURE_LINE = re.compile(r"^demo: the (\w+) stand-in (cannot start|failed): (.+) \(log: (/\S+/sandbox\.log)\)$")


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return copy_repo(tmp_path_factory.mktemp("fresh"))


def table_rows(text):
    """{job: {column: value}} from the tabulate tables in a stretch of demo output."""
    lines = text.splitlines()
    rows = {}
    for index, line in enumerate(lines):
        if line.startswith("job ") and index + 1 < len(lines) and lines[index + 1].startswith("---"):
            columns = re.split(r"\s{2,}", line.strip())
            for row in lines[index + 2 :]:
                if not row.startswith(("gitea-kimai", "zammad-kimai")):
                    break
                rows[row.split()[0]] = dict(zip(columns, re.split(r"\s{2,}", row.strip()), strict=False))
    return rows


def test_demo_in_a_fresh_copy_plans_syncs_then_writes_nothing(repo, tmp_path):
    before = sorted(path.name for path in repo.iterdir())
    temp = tmp_path / "tmp"
    temp.mkdir()
    proc = run_in(repo, "demo", cwd=tmp_path, env={"TMPDIR": str(temp)}, timeout=120)
    assert proc.returncode == 0, explain(proc)
    plan, rest = proc.stdout.split("== First sync")
    first, second = rest.split("== Second sync")
    assert re.search(r"create customer '?acme'?\n", plan)
    assert int(re.search(r"\((\d+) creates in all", plan).group(1)) > 10
    first_rows, second_rows = table_rows(first), table_rows(second)
    assert set(first_rows) == set(second_rows) == {"gitea-kimai", "zammad-kimai"}
    assert all(int(row["created"]) > 0 for row in first_rows.values())
    for row in second_rows.values():
        assert [row[column] for column in ("created", "updated", "hidden", "deleted")] == ["0"] * 4
    assert "cannot reach" not in proc.stdout + proc.stderr
    assert sorted(path.name for path in repo.iterdir()) == before  # nothing left in the project
    assert list(temp.iterdir()) == [] and [p.name for p in tmp_path.iterdir()] == ["tmp"]


def assert_one_line_reason(proc, service, how):
    assert proc.returncode != 0
    assert "cannot reach" not in proc.stdout + proc.stderr
    (line,) = [line for line in proc.stderr.splitlines() if line.startswith("demo:")]
    match = FAILURE_LINE.match(line)
    assert match, line
    assert match.group(1, 2) == (service, how)
    return match.group(3), match.group(4)


def test_a_stand_in_that_cannot_start_is_named_with_its_log(repo, tmp_path):
    empty = tmp_path / "no-specs"
    empty.mkdir()
    proc = run_in(repo, "demo", env={"TRACKSYNC_SPECS": str(empty), "TMPDIR": str(tmp_path)}, timeout=60)
    reason, log = assert_one_line_reason(proc, "gitea", "cannot start")
    assert proc.returncode == 78  # the configuration (TRACKSYNC_SPECS), not a bug of ours
    assert reason == f"the contract file {empty}/gitea/openapi3.subset.json does not exist (TRACKSYNC_SPECS is set)"
    assert reason in open(log).read()  # the folder with the log is kept after a failure
    assert proc.stdout == ""


def test_a_stand_in_that_breaks_while_serving_is_named_not_reported_as_unreachable(repo, tmp_path):
    specs = tmp_path / "specs"
    shutil.copytree(repo / "sandbox" / "contracts", specs)
    gitea = specs / "gitea" / "openapi3.subset.json"
    gitea.write_text(gitea.read_text().replace('"#/components/schemas/Issue"', '"#/components/schemas/Nope"'))
    env = {"TRACKSYNC_SPECS": str(specs), "TMPDIR": str(tmp_path), "HTTP_RETRY_BACKOFF": "0"}
    proc = run_in(repo, "demo", env=env, timeout=120)
    reason, log = assert_one_line_reason(proc, "gitea", "failed")
    assert reason.startswith("GET /api/v1/repos/acme/") and "sandbox error" in reason and "Nope" in reason
    text = open(log).read()
    assert text.startswith("sandbox: FAILED gitea: GET /api/v1/repos/acme/") and "Traceback" in text
    assert "== First sync" not in proc.stdout  # it stopped at the plan

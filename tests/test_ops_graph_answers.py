"""test_connection.py --service graph against odd mailbox settings: a time zone Graph sends as
another type, a path or a huge text is reported (WARN, shortened, named unknown as graph-kimai
would treat it), never an unexpected error (1)."""

from __future__ import annotations

import pytest
from ops_helpers import explain, run
from test_ops_graph import graph_env, graph_row  # noqa: F401 (the fixture)

ANN = "ann@acme.example"


@pytest.mark.parametrize("zone", [42, ["W. Europe Standard Time"], "../../etc/passwd", "X" * 5000, ""])
def test_an_unreadable_time_zone_warns_and_names_the_mailbox(tmp_path, sandbox, graph_env, zone):
    sandbox.graph.set_time_zone(ANN, zone)
    proc = run("test_connection.py", "--service", "graph", "--json", cwd=tmp_path, env_file=graph_env(GRAPH_USERS=ANN))
    assert proc.returncode == 0 and "unexpected" not in proc.stderr + proc.stdout, explain(proc)
    row = graph_row(proc)
    step = row["steps"][-1]
    assert row["status"] == "WARN" and step["name"] == "permissions", row
    assert f"{ANN}" in step["detail"] and "unknown zone" in step["detail"] and len(step["detail"]) < 600
    assert ANN in step["hint"]
    if not isinstance(zone, str):  # the stand-in served what its contract forbids, as asked: not a client fault
        with sandbox.log._lock:
            sandbox.log._violations[:] = [v for v in sandbox.log._violations if "is not of type 'string'" not in v]


def test_a_known_zone_still_shows_its_iana_name(tmp_path, sandbox, graph_env):
    sandbox.graph.set_time_zone(ANN, "Pacific Standard Time")
    proc = run("test_connection.py", "--service", "graph", "--json", cwd=tmp_path, env_file=graph_env(GRAPH_USERS=ANN))
    assert proc.returncode == 0, explain(proc)
    assert f"{ANN} Pacific Standard Time = America/Los_Angeles" in graph_row(proc)["steps"][-1]["detail"]


@pytest.mark.parametrize("users", ["not-a-mailbox", f"{ANN},bob@", f"{ANN},a/b@acme.example"])
def test_a_malformed_graph_users_entry_fails_naming_the_key_as_the_job_would(tmp_path, sandbox, graph_env, users):
    proc = run(
        "test_connection.py", "--service", "graph", "--json", cwd=tmp_path, env_file=graph_env(GRAPH_USERS=users)
    )
    assert proc.returncode == 78, explain(proc)
    row = graph_row(proc)
    assert row["status"] == "FAIL" and "GRAPH_USERS" in row["steps"][-1]["detail"], row

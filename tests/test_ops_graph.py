"""test_connection.py and diagnose.py --api know Microsoft Graph: a token, then one user, one
mailbox's settings and one calendar read (never a write); refusals name the key (77/78) or the
missing permission; a half-configured Graph is a row of its own, an unconfigured one is skipped."""

from __future__ import annotations

import json
import socket

import pytest
from ops_helpers import explain, run, write_env

from sandbox import seed_graph


@pytest.fixture
def graph_env(tmp_path, sandbox):
    seed_graph.demo(sandbox)
    env = {k: v for k, v in sandbox.env().items() if k.startswith(("GRAPH_", "KIMAI_"))}

    def make(**values):
        merged = {**env, "LOG_FILE": "", "HTTP_TIMEOUT": "5", "HTTP_RETRY_BACKOFF": "0", **values}
        return write_env(tmp_path / "graph.env", **{k: v for k, v in merged.items() if v is not None})

    return make


def graph_row(proc) -> dict:
    return next(r for r in json.loads(proc.stdout)["services"] if r["service"] == "graph")


def test_a_configured_graph_is_checked_by_reading_only(tmp_path, sandbox, graph_env):
    proc = run("test_connection.py", "--service", "graph", "--json", cwd=tmp_path, env_file=graph_env())
    assert proc.returncode == 0, explain(proc)
    row = graph_row(proc)
    assert row["status"] == "OK" and [s["name"] for s in row["steps"]] == ["tls", "authentication", "permissions"]
    detail = row["steps"][2]["detail"]
    assert "User.Read.All" in detail and "MailboxSettings.Read" in detail and "Calendars.Read" in detail
    assert "W. Europe Standard Time = Europe/Berlin" in detail
    graph = [r for r in sandbox.requests if r.service == "graph"]
    assert {(r.method, r.path.split("/")[1]) for r in graph if r.method != "GET"} == {("POST", sandbox.graph.tenant_id)}
    assert sandbox.graph.tokens_issued == 1  # the token request is the only POST: nothing is written
    for secret in [sandbox.graph.client_secret, *sandbox.graph.issued_tokens]:
        assert secret not in proc.stdout + proc.stderr


def test_listed_mailboxes_are_read_and_a_missing_one_warns(tmp_path, sandbox, graph_env):
    sandbox.graph.remove_mailbox("bob@acme.example")
    env_file = graph_env(GRAPH_USERS="chandra@acme.example,bob@acme.example")
    proc = run("test_connection.py", "--service", "graph", "--json", cwd=tmp_path, env_file=env_file)
    assert proc.returncode == 0, explain(proc)
    row = graph_row(proc)
    assert row["status"] == "WARN" and "bob@acme.example" in row["detail"]
    assert "chandra@acme.example Asia/Kolkata" in row["detail"]


@pytest.mark.parametrize(
    "values, code, words",
    [
        ({"GRAPH_CLIENT_SECRET": "not-the-secret-value"}, 77, ["Microsoft Graph", "GRAPH_CLIENT_SECRET"]),
        ({"GRAPH_CLIENT_ID": "00000000-0000-0000-0000-000000000000"}, 77, ["Microsoft Graph", "GRAPH_CLIENT_ID"]),
        ({"GRAPH_TENANT_ID": "nobody.onmicrosoft.com"}, 78, ["GRAPH_TENANT_ID"]),
    ],
)
def test_refused_credentials_name_the_key(tmp_path, sandbox, graph_env, values, code, words):
    proc = run("test_connection.py", "--service", "graph", cwd=tmp_path, env_file=graph_env(**values))
    assert proc.returncode == code, explain(proc)
    assert all(word in proc.stdout + proc.stderr for word in words)
    assert "Traceback" not in proc.stderr
    for secret in ("not-the-secret-value", sandbox.graph.client_secret):
        assert secret not in proc.stdout + proc.stderr


def test_a_missing_permission_is_named(tmp_path, sandbox, graph_env):
    sandbox.graph.revoke("MailboxSettings.Read")
    proc = run("test_connection.py", "--service", "graph", cwd=tmp_path, env_file=graph_env())
    assert proc.returncode == 77, explain(proc)
    assert "MailboxSettings.Read" in proc.stdout + proc.stderr
    proc = run("diagnose.py", "--api", "--json", cwd=tmp_path, env_file=graph_env())
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"] if c["name"].startswith("graph")}
    assert checks["graph authentication"]["status"] == "OK"
    # no job uses Graph here: its failure is a warning that stops nothing
    assert (
        checks["graph permissions"]["status"] == "WARN"
        and "MailboxSettings.Read" in checks["graph permissions"]["detail"]
    )


def test_half_configured_graph_is_its_own_row_and_unconfigured_graph_is_skipped(tmp_path, sandbox, graph_env):
    env_file = graph_env(GRAPH_CLIENT_SECRET=None, GRAPH_URL=None, GRAPH_LOGIN_URL=None)
    proc = run("test_connection.py", "--json", cwd=tmp_path, env_file=env_file, env={"SYNC_JOBS": "gitea-kimai"})
    row = graph_row(proc)
    assert row["status"] == "WARN" and "GRAPH_CLIENT_SECRET" in row["detail"], explain(proc)
    env_file = graph_env(
        GRAPH_CLIENT_SECRET=None, GRAPH_URL=None, GRAPH_LOGIN_URL=None, GRAPH_TENANT_ID=None, GRAPH_CLIENT_ID=None
    )
    proc = run("diagnose.py", "--api", "--json", cwd=tmp_path, env_file=env_file)
    graph = [c for c in json.loads(proc.stdout)["checks"] if c["name"].startswith("graph")]
    assert [(c["status"], c["detail"]) for c in graph] == [("SKIP", "skipped (not configured)")]


def test_network_checks_cover_the_login_host_only_when_it_is_another_one(tmp_path, sandbox, graph_env):
    proc = run("diagnose.py", "--network", "--json", cwd=tmp_path, env_file=graph_env())
    names = [c["name"] for c in json.loads(proc.stdout)["checks"] if c["name"].startswith("graph")]
    assert names == ["graph dns", "graph tcp", "graph tls", "graph clock"], explain(proc)
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    proc = run(
        "diagnose.py",
        "--network",
        "--json",
        cwd=tmp_path,
        env_file=graph_env(GRAPH_LOGIN_URL=f"http://127.0.0.1:{port}"),
    )
    login = {c["name"]: c for c in json.loads(proc.stdout)["checks"] if c["name"].startswith("graph login")}
    assert login["graph login tcp"]["status"] in ("WARN", "FAIL") and str(port) in login["graph login tcp"]["detail"]


def test_a_login_host_on_plain_http_elsewhere_is_a_tls_warning(tmp_path, sandbox, graph_env):
    env_file = graph_env(GRAPH_LOGIN_URL="http://login.example.invalid")
    proc = run("test_connection.py", "--service", "graph", "--json", cwd=tmp_path, env_file=env_file)
    steps = {s["name"]: s for s in graph_row(proc)["steps"]}
    assert steps["tls"]["status"] == "WARN" and "GRAPH_LOGIN_URL" in steps["tls"]["detail"], explain(proc)
    assert steps["authentication"]["status"] == "FAIL" and proc.returncode == 69
    assert sandbox.graph.client_secret not in proc.stdout + proc.stderr


def test_diagnose_config_names_the_graph_keys_graph_kimai_needs(tmp_path, sandbox, graph_env):
    env_file = graph_env(GRAPH_CLIENT_SECRET=None, SYNC_JOBS="graph-kimai")
    proc = run("diagnose.py", "--config", "--json", cwd=tmp_path, env_file=env_file)
    job = next(c for c in json.loads(proc.stdout)["checks"] if c["name"] == "job graph-kimai")
    assert job["status"] == "FAIL" and "GRAPH_CLIENT_SECRET" in job["detail"], explain(proc)
    proc = run("diagnose.py", "--config", "--json", cwd=tmp_path, env_file=graph_env(SYNC_JOBS="graph-kimai"))
    job = next(c for c in json.loads(proc.stdout)["checks"] if c["name"] == "job graph-kimai")
    assert job["status"] == "OK", explain(proc)

"""test_connection.py against the sandbox: one row per service, read-only, exit codes."""

import json

from ops_helpers import explain, offline_env, run, write_env

from sandbox import seed_atlassian


def connection(workdir, *args):
    return workdir.run("test_connection.py", *args)


def seed(sb):
    sb.gitea.add_org("acme")
    sb.gitea.add_repo("acme", "web")
    sb.gitea.add_issue("acme", "web", "one issue")
    sb.graph.add_user("ann@acme.example", "Ann Archer")


def test_all_services_pass_and_nothing_is_written(workdir):
    sb = workdir.sandbox
    seed(sb)
    atlassian = seed_atlassian.demo(sb)
    workdir.set(JIRA_PROJECT=atlassian.project, CONFLUENCE_PAGES=atlassian.root_id)
    proc = connection(workdir, "--json")
    assert proc.returncode == 0, explain(proc)
    data = json.loads(proc.stdout)
    rows = {s["service"]: s for s in data["services"]}
    assert (
        set(rows) == {"gitea", "kimai", "zammad", "toggl", "harvest", "graph", "jira", "confluence"}
        and data["exit_code"] == 0
    )
    assert rows["gitea"]["version"] and rows["kimai"]["version"] and rows["kimai"]["user"] and rows["zammad"]["user"]
    assert [s["name"] for s in rows["gitea"]["steps"]] == ["tls", "version", "authentication", "permissions"]
    assert [s["name"] for s in rows["zammad"]["steps"]] == ["tls", "authentication", "permissions"]
    not_ok = [
        (n, s["name"], s["status"], s.get("detail")) for n, r in rows.items() for s in r["steps"] if s["status"] != "OK"
    ]
    assert not_ok == []
    assert sb.count() >= 8 and sb.count(writes=True) == 0
    assert not sb.gitea.issues("acme", "web")[1:] and sb.kimai.customers == [] and sb.kimai.activities == []
    table = connection(workdir).stdout.splitlines()
    assert table[0].split()[:3] == ["service", "url", "status"] and len(table) == 10


def test_wrong_token_exits_77_and_names_the_service(workdir):
    seed(workdir.sandbox)
    workdir.set(KIMAI_TOKEN="not-the-kimai-token")
    proc = connection(workdir)
    assert proc.returncode == 77, explain(proc)
    assert "error: kimai: authentication: authentication refused (401): check KIMAI_TOKEN" in proc.stderr
    assert "gitea" not in proc.stderr  # the other service passed
    workdir.set(GITEA_TOKEN="not-the-gitea-token")
    proc = connection(workdir, "--service", "gitea")
    assert proc.returncode == 77 and "error: gitea:" in proc.stderr and "kimai" not in proc.stdout, explain(proc)


def test_unknown_owner_is_a_configuration_error(workdir):
    workdir.set(GITEA_ORGANIZATION="nobody")
    proc = connection(workdir)
    assert proc.returncode == 78 and "GITEA_ORGANIZATION" in proc.stderr, explain(proc)


def test_unreachable_service_exits_69(tmp_path):
    proc = run("test_connection.py", cwd=tmp_path, env_file=offline_env(tmp_path))
    assert proc.returncode == 69, explain(proc)
    assert "gitea: connection: cannot reach" in proc.stderr and "kimai: connection" in proc.stderr


def test_missing_token_or_no_service_exit_78(tmp_path):
    proc = run("test_connection.py", cwd=tmp_path, env_file=offline_env(tmp_path, KIMAI_TOKEN=None))
    assert proc.returncode == 78 and "KIMAI_TOKEN" in proc.stderr, explain(proc)
    proc = run("test_connection.py", cwd=tmp_path, env_file=write_env(tmp_path / "empty.env", LOG_LEVEL="INFO"))
    assert proc.returncode == 78 and proc.stderr.count("\n") == 1, explain(proc)

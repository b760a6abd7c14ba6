"""test_connection.py and diagnose.py --api know Jira and Confluence, both deployments: read-only
checks of serverInfo, myself, the project, Confluence's current user and the configured pages."""

import json

from test_confluence_jira_e2e import atl, explain  # noqa: F401


def rows(proc):
    return {p["service"]: p for p in json.loads(proc.stdout)["services"]}


def test_both_services_checked_read_only(atl):
    work, sb, _seed = atl
    work.set(SYNC_JOBS="confluence-jira")
    sb.clear_requests()
    proc = work.run("test_connection.py", "--json")
    assert proc.returncode == 0, explain(proc)
    found = rows(proc)
    assert found["jira"]["status"] == "OK" and found["confluence"]["status"] == "OK"
    assert ("Cloud" if sb.jira.cloud else "Data Center") in json.dumps(found["jira"]["steps"])
    diagnose = work.run("diagnose.py", "--api")
    assert diagnose.returncode == 0, explain(diagnose)
    assert "jira permissions" in diagnose.stdout and "confluence permissions" in diagnose.stdout
    assert sb.count(writes=True) == 0


def test_a_missing_page_is_78_and_a_wrong_token_77(atl):
    work, sb, _seed = atl
    work.set(SYNC_JOBS="confluence-jira", CONFLUENCE_PAGES="999999")
    proc = work.run("test_connection.py", "--json")
    assert proc.returncode == 78, explain(proc)
    assert "999999" in rows(proc)["confluence"]["detail"]
    work.set(CONFLUENCE_PAGES=_seed.root_id, JIRA_TOKEN="wrong-token-value")
    proc = work.run("test_connection.py", "--json")
    assert proc.returncode == 77, explain(proc)
    assert rows(proc)["jira"]["status"] == "FAIL" and "wrong-token-value" not in proc.stdout + proc.stderr

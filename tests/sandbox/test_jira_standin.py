"""The Jira stand-in, both deployments, through plain requests and the j-found client: auth per
deployment, serverInfo/myself, projects, issue create/get/edit/delete with Jira's validation,
transitions by target status, remote links upserted by globalId, the JQL subset with both paging
styles, search lag and the create-only faults. Every test fails on a contract violation."""

from __future__ import annotations

import base64
import threading
import time

import pytest
import requests

from common.clients.jira import JiraClient, detect_deployment
from common.config import load_settings
from common.errors import ApiError, UnknownOutcome
from common.http import RequestCounter
from sandbox import Sandbox, seed_atlassian


@pytest.fixture(params=["cloud", "datacenter"])
def sb(request: pytest.FixtureRequest):
    sandbox = Sandbox(services=["jira", "confluence"], atlassian=request.param).start()
    sandbox.seed = seed_atlassian.demo(sandbox)  # type: ignore[attr-defined]
    yield sandbox
    threading.Thread(target=sandbox.stop, daemon=True).start()
    if "allow_violations" not in request.fixturenames:
        assert sandbox.violations == []


@pytest.fixture
def allow_violations() -> None:
    """A test that sends requests off the contract on purpose."""


def settings():
    return load_settings(None, environ={"CACHE_ENABLED": "false", "HTTP_RETRY_BACKOFF": "0", "HTTP_TIMEOUT": "5"})


def client(sb: Sandbox) -> JiraClient:
    env = sb.env()
    return JiraClient(
        settings(),
        RequestCounter(),
        url=env["JIRA_URL"],
        token=env["JIRA_TOKEN"],
        email=env.get("JIRA_EMAIL"),
        deployment=sb.jira.deployment,  # type: ignore[attr-defined]
    )


def api(sb: Sandbox) -> tuple[str, dict[str, str]]:
    """(API base, auth headers) of the deployment."""
    env = sb.env()
    if sb.jira.cloud:  # type: ignore[attr-defined]
        basic = base64.b64encode(f"{env['JIRA_EMAIL']}:{env['JIRA_TOKEN']}".encode()).decode()
        return env["JIRA_URL"] + "/rest/api/3", {"Authorization": f"Basic {basic}"}
    return env["JIRA_URL"] + "/rest/api/2", {"Authorization": f"Bearer {env['JIRA_TOKEN']}"}


def test_auth_per_deployment_and_server_info(sb):
    env = sb.env()
    cloud = sb.jira.cloud
    base, headers = api(sb)
    assert requests.get(base + "/myself", headers=headers, timeout=5).status_code == 200
    bearer = {"Authorization": f"Bearer {env['JIRA_TOKEN']}"}
    # Cloud wants Basic e-mail:API token; a Bearer token is a Data Center PAT
    assert (requests.get(base + "/myself", headers=bearer, timeout=5).status_code == 200) is not cloud
    wrong = {"Authorization": "Bearer nope"}
    answer = requests.get(base + "/myself", headers=wrong, timeout=5)
    assert answer.status_code == 401 and answer.json()["errorMessages"]
    assert (
        detect_deployment(
            settings(), RequestCounter(), url=env["JIRA_URL"], token=env["JIRA_TOKEN"], email=env.get("JIRA_EMAIL")
        )
        == sb.jira.deployment
    )
    me = client(sb).myself()
    assert ("accountId" in me) is cloud and ("key" in me) is not cloud
    info = client(sb).server_info()
    assert info["deploymentType"] == ("Cloud" if cloud else "Server")
    # the other deployment's API version is not there
    other = env["JIRA_URL"] + ("/rest/api/2/issue/ACME-1" if cloud else "/rest/api/3/issue/ACME-1")
    assert requests.get(other, headers=headers, timeout=5).status_code == 404


def test_create_get_search_transition_link_delete(sb):
    jira = client(sb)
    cloud = sb.jira.cloud
    project = jira.project("ACME")
    assert project and {t["name"] for t in project["issueTypes"]} >= {"Task", "Epic"}
    assert jira.project("NOPE") is None
    alice = "5b10ac8d82e05b22cc7d4ef5" if cloud else "alice"
    fields = jira.issue_fields(
        project="ACME",
        issue_type="Task",
        summary="Draft  the\trelease plan",
        description=["From page X", ("X", "http://wiki/x")],
        labels=["tracksync", "confluence-task-1-2"],
        assignee=alice,
        parent=sb.seed.issues["epic"] if cloud else None,
    )
    made = jira.create_issue(fields)
    issue = sb.jira.issue_by_key(made["key"])
    assert issue.summary == "Draft the release plan" and issue.status.name == "To Do"
    assert isinstance(issue.description, dict if cloud else str)
    assert (issue.parent_key == sb.seed.issues["epic"]) is cloud
    found, complete = jira.search('project = ACME AND labels = "confluence-task-1-2"')
    assert complete and [i["key"] for i in found] == [made["key"]]

    transitions = jira.transitions(made["key"])
    done = [t for t in transitions if t["to"]["name"] == "Done"]
    assert done and done[0]["name"] != "Done"  # pick by target status, not by name
    assert done[0]["to"]["statusCategory"]["key"] == "done"
    jira.transition(made["key"], done[0]["id"])
    assert sb.jira.issue_by_key(made["key"]).status.name == "Done"

    first = jira.upsert_remote_link(made["key"], "tracksync:confluence:1:2", "http://wiki/x", "Page X")
    again = jira.upsert_remote_link(made["key"], "tracksync:confluence:1:2", "http://wiki/x", "Page X renamed")
    assert first["id"] == again["id"]
    links = jira.remote_links(made["key"])
    assert len(links) == 1 and links[0]["object"]["title"] == "Page X renamed"
    assert jira.remote_links(made["key"], "tracksync:confluence:9:9") == []

    assert jira.delete_issue(made["key"]) is True
    assert jira.delete_issue(made["key"]) is False
    assert jira.issue(made["key"]) is None


def test_create_validation(sb):
    base, headers = api(sb)
    cloud = sb.jira.cloud

    def create(**fields):
        body = {"project": {"key": "ACME"}, "issuetype": {"name": "Task"}, "summary": "ok", **fields}
        return requests.post(base + "/issue", json={"fields": body}, headers=headers, timeout=5)

    assert create(project={"key": "NOPE"}).json()["errors"] == {"project": "valid project is required"}
    assert "issuetype" in create(issuetype={"name": "Saga"}).json()["errors"]
    assert "summary" in create(summary="x" * 256).json()["errors"]
    assert "labels" in create(labels=["two words"]).json()["errors"]
    wrong_description = "plain text" if cloud else {"type": "doc", "version": 1, "content": []}
    assert "description" in create(description=wrong_description).json()["errors"]
    assert "assignee" in create(assignee={"accountId": "nobody"} if cloud else {"name": "nobody"}).json()["errors"]
    # a Task's parent must be an epic on Cloud; Data Center links epics by the Epic Link field
    assert "parent" in create(parent={"key": sb.seed.issues["task"]}).json()["errors"]
    assert create().status_code == 201
    assert len(sb.jira.issues) == 4


def test_jql_subset_and_paging(sb):
    jira = client(sb)
    cloud = sb.jira.cloud
    epic = sb.seed.issues["epic"]
    for number in range(7):
        sb.jira.add_issue("ACME", f"Child {number}", parent=epic, labels=["bulk"] if number % 2 else [])
    sb.jira.page_size = 3  # several pages: nextPageToken on Cloud, startAt/total on Data Center
    found, complete = jira.search("project = ACME ORDER BY key ASC")
    keys = [i["key"] for i in found]
    assert complete and keys == [f"ACME-{n}" for n in range(1, 10)]
    epic_clause = f"parent = {epic}" if cloud else f'"Epic Link" = {epic}'
    found, _ = jira.search(f'{epic_clause} AND (labels = "bulk" OR summary ~ "Child 0") ORDER BY key DESC')
    assert [i["fields"]["labels"] for i in found][0] == ["bulk"]
    assert len(found) == 4
    found, _ = jira.search("issuetype = Epic")
    assert {i["key"] for i in found} == {epic, sb.seed.issues["ops_epic"]}
    found, _ = jira.search(f'key in ({epic}, "OPS-1") AND updated >= "2000-01-01 00:00"')
    assert len(found) == 2
    found, _ = jira.search('updated >= "2999-01-01 00:00"')
    assert found == []
    with pytest.raises(ApiError):
        jira.search("bogusfield = 1")


def test_dc_has_no_search_jql_and_cloud_no_old_search(sb):
    base, headers = api(sb)
    if sb.jira.cloud:
        assert (
            requests.get(base + "/search", params={"jql": "project = ACME"}, headers=headers, timeout=5).status_code
            == 410
        )
    else:
        assert (
            requests.get(base + "/search/jql", params={"jql": "project = ACME"}, headers=headers, timeout=5).status_code
            == 404
        )


def test_search_lag_hides_new_and_changed_issues(sb):
    jira = client(sb)
    sb.jira.search_lag(0.4)
    made = jira.create_issue(jira.issue_fields(project="ACME", issue_type="Task", summary="lagging", labels=["lag"]))
    assert jira.search('labels = "lag"')[0] == []
    assert jira.issue(made["key"]) is not None  # a get by key is not lagging
    time.sleep(0.45)
    assert [i["key"] for i in jira.search('labels = "lag"')[0]] == [made["key"]]
    sb.jira.set_status(made["key"], "Done")
    seen = jira.search('labels = "lag"', fields=("status",))[0]
    assert seen[0]["fields"]["status"]["name"] == "To Do"  # the index still has the old status
    time.sleep(0.45)
    assert jira.search('labels = "lag"', fields=("status",))[0][0]["fields"]["status"]["name"] == "Done"


def test_create_faults_hit_only_issue_creates(sb):
    jira = client(sb)
    sb.jira.create_faults(commit_drop_rate=1.0, seed=1)
    fields = jira.issue_fields(project="ACME", issue_type="Task", summary="dropped", labels=["drop"])
    with pytest.raises(UnknownOutcome):
        jira.create_issue(fields)
    assert len(sb.jira.issues_with_label("drop")) == 1  # created, the answer lost
    assert sb.count("jira", "POST") == 1  # never resent
    jira.upsert_remote_link("ACME-1", "g:1", "http://x", "x")  # other writes unaffected
    sb.jira.create_faults(error_rate=1.0, seed=1)
    with pytest.raises(UnknownOutcome):  # a 5xx on a create: the client cannot know it was not made
        jira.create_issue(fields)
    assert len(sb.jira.issues_with_label("drop")) == 1
    sb.jira.create_faults()
    jira.create_issue(fields)
    assert len(sb.jira.issues_with_label("drop")) == 2


def test_off_contract_requests_are_reported_on_both_deployments(sb, allow_violations):
    base, headers = api(sb)
    requests.get(base + "/issue/ACME-1", params={"bogus": "1"}, headers=headers, timeout=5)
    assert any("unknown query parameter 'bogus'" in v for v in sb.violations)  # DC v2 checked as v3
    wiki = sb.env()["CONFLUENCE_URL"] + "/rest/api/content/search"
    confluence_headers = dict(headers)
    if not sb.jira.cloud:
        confluence_headers["Authorization"] = f"Bearer {sb.env()['CONFLUENCE_TOKEN']}"
    requests.get(wiki, params={"cql": "type = page", "sneaky": "1"}, headers=confluence_headers, timeout=5)
    assert any("confluence" in v and "'sneaky'" in v for v in sb.violations)


def test_bulk_seed_is_fast_and_readable_in_pages():
    sandbox = Sandbox(services=["jira", "confluence"]).start()
    try:
        started = time.monotonic()
        seed = seed_atlassian.bulk(sandbox, pages=200, tasks=10)
        assert time.monotonic() - started < 2
        assert len(sandbox.confluence.pages) == 201 and len(seed.open_tasks) == 200
        assert sum(len(ids) for ids in seed.open_tasks.values()) == 2000
        env = sandbox.env()
        from common.clients.confluence import ConfluenceClient

        wiki = ConfluenceClient(
            settings(),
            RequestCounter(),
            url=env["CONFLUENCE_URL"],
            token=env["CONFLUENCE_TOKEN"],
            email=env["CONFLUENCE_EMAIL"],
            deployment="cloud",
        )
        pages, complete = wiki.descendants(seed.root_id)
        assert complete and len(pages) == 200
        assert sandbox.count("confluence", "GET") == 4  # 50 a page with bodies
        levels = {len(sandbox.confluence._ancestors(page)) for page in sandbox.confluence.pages.values()}
        assert levels == {0, 1, 2}
        assert sandbox.violations == []
    finally:
        sandbox.stop()


def test_command_line_runs_them_only_when_asked(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for flag, expected in ((None, False), ("datacenter", True)):
        env_file = tmp_path / f"{flag}.env"
        command = [sys.executable, "-m", "sandbox", "--seed", "demo", "--env-out", str(env_file)]
        if flag:
            command += ["--atlassian", flag]
        process = subprocess.Popen(command, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 15
            while not env_file.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            values = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
            assert ("JIRA_URL" in values) is expected and ("CONFLUENCE_URL" in values) is expected
            if expected:
                answer = requests.get(
                    values["JIRA_URL"] + "/rest/api/2/project/ACME",
                    headers={"Authorization": f"Bearer {values['JIRA_TOKEN']}"},
                    timeout=5,
                )
                assert answer.json()["key"] == "ACME" and "JIRA_EMAIL" not in values
                assert values["CONFLUENCE_PAGES"].isdigit()
        finally:
            process.terminate()
            assert process.wait(timeout=10) == 0
        assert "VIOLATION" not in process.stderr.read()


def test_epic_link_field_found_by_name_on_data_center(sb):
    base, headers = api(sb)
    fields = requests.get(base + "/field", headers=headers, timeout=5).json()
    epic_link = [f["id"] for f in fields if f["name"] == "Epic Link"]
    epic = sb.seed.issues["epic"]
    body = {"project": {"key": "ACME"}, "issuetype": {"name": "Task"}, "summary": "under the epic"}
    if sb.jira.cloud:
        assert epic_link == []
        body["parent"] = {"key": epic}
    else:
        assert epic_link == ["customfield_10101"]
        refused = requests.post(
            base + "/issue", json={"fields": dict(body, parent={"key": epic})}, headers=headers, timeout=5
        )
        assert refused.status_code == 400 and "parent" in refused.json()["errors"]
        body[epic_link[0]] = epic
    made = requests.post(base + "/issue", json={"fields": body}, headers=headers, timeout=5)
    assert made.status_code == 201
    clause = f"parent = {epic}" if sb.jira.cloud else f'"Epic Link" = {epic}'
    found, _ = client(sb).search(clause)
    assert made.json()["key"] in {issue["key"] for issue in found}
    state = requests.get(sb.url("jira") + "/_sandbox/state", timeout=5).json()
    assert state["deployment"] == sb.jira.deployment and len(state["issues"]) == 4


def test_hostile_queries_are_400_not_a_sandbox_failure(sb):
    base, headers = api(sb)
    path = "/search/jql" if sb.jira.cloud else "/search"
    for jql in (
        "(" * 500 + "project = ACME" + ")" * 500,
        "NOT " * 500 + "project = ACME",
        'labels = "open',
        "project =",
    ):
        answer = requests.get(base + path, params={"jql": jql}, headers=headers, timeout=5)
        assert answer.status_code == 400 and answer.json()["errorMessages"]
    quoted = requests.get(
        base + path, params={"jql": 'labels = "a\\"b" OR labels = \'x y\''}, headers=headers, timeout=5
    )
    assert quoted.status_code == 200
    if sb.jira.cloud:
        bad = requests.get(
            base + path, params={"jql": "project = ACME", "nextPageToken": "3"}, headers=headers, timeout=5
        )
        assert bad.status_code == 400
    assert sb.failures == []


def test_wrong_tokens_are_401_in_both_products(sb):
    env = sb.env()
    for url in (
        env["JIRA_URL"] + ("/rest/api/3/myself" if sb.jira.cloud else "/rest/api/2/myself"),
        env["CONFLUENCE_URL"] + "/rest/api/user/current",
    ):
        wrong_basic = base64.b64encode(f"{sb.atlassian_credentials.email}:wrong".encode()).decode()
        for header in (f"Basic {wrong_basic}", "Bearer wrong", ""):
            assert requests.get(url, headers={"Authorization": header}, timeout=5).status_code == 401


def test_epic_plan_seed_pages_consistently_and_moves_keep_the_old_key(sb):
    plan = seed_atlassian.epics(sb, epics=3, per_epic=60, without_epic=5)
    assert len(plan) == 4 and sum(len(keys) for keys in plan.values()) == 185
    jira = client(sb)
    epic = next(key for key in plan if key)
    clause = f"parent = {epic}" if sb.jira.cloud else f'"Epic Link" = {epic}'
    found, complete = jira.search(clause + " ORDER BY key ASC", fields=("summary",))
    assert complete and [i["key"] for i in found] == plan[epic]
    sb.jira.page_size = 25
    everything, _ = jira.search("project = ACME ORDER BY key ASC")
    assert len(everything) == 2 + 3 + 185  # the demo's ACME-1 and ACME-2, 3 epics, 185 issues (8 pages)
    assert len({i["key"] for i in everything}) == len(everything)
    moved = sb.jira.move_issue(plan[epic][0], "OPS")
    assert moved.key.startswith("OPS-") and jira.issue(plan[epic][0])["key"] == moved.key
    assert plan[epic][0] not in {i["key"] for i in jira.search("project = ACME")[0]}


def test_an_issue_deleted_between_pages_shifts_nothing(sb):
    jira = client(sb)
    for number in range(10):
        sb.jira.add_issue("ACME", f"Paged {number}", labels=["paged"])
    base, headers = api(sb)
    path, query = ("/search/jql", {}) if sb.jira.cloud else ("/search", {"startAt": 0})
    params = {"jql": 'labels = "paged" ORDER BY key ASC', "maxResults": 4, "fields": "summary", **query}
    first = requests.get(base + path, params=params, headers=headers, timeout=5).json()
    seen = [i["fields"]["summary"] for i in first["issues"]]
    sb.jira.remove_issue(first["issues"][0]["key"])
    following = {"nextPageToken": first["nextPageToken"]} if sb.jira.cloud else {"startAt": 4}
    second = requests.get(base + path, params={**params, **following}, headers=headers, timeout=5).json()
    seen += [i["fields"]["summary"] for i in second["issues"]]
    assert seen == [f"Paged {n}" for n in range(8)]
    assert len(jira.search('labels = "paged"')[0]) == 9


@pytest.mark.parametrize("kind", ["DataCenter", None])
def test_data_center_detected_whatever_its_server_info_says(kind):
    sandbox = Sandbox(services=["jira"], atlassian="datacenter").start()
    try:
        sandbox.jira.dc_deployment_type = kind
        env = sandbox.env()
        found = detect_deployment(settings(), RequestCounter(), url=env["JIRA_URL"], token=env["JIRA_TOKEN"])
        assert found == "datacenter" and sandbox.violations == []
    finally:
        sandbox.stop()

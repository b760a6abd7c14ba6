"""The Jira client speaks both deployments: Cloud REST v3 (Basic e-mail:token, search/jql with
nextPageToken, ADF descriptions, accountId) and Data Center REST v2 (Bearer PAT, search with
startAt/total, wiki markup, user names). Every Cloud request is checked against the shipped
Jira Cloud contract; answers are the contract's own examples."""

import base64
import json
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from common.clients import NotTheApi
from common.clients.jira import JiraClient, adf_document, deployment_of, detect_deployment, wiki_markup
from common.config import load_settings
from common.errors import ApiError, AuthError, DryRunWrite, UnknownOutcome
from common.http import BadAnswer, RequestCounter
from sandbox.contract import Contract

CONTRACTS = Path(__file__).resolve().parents[1] / "sandbox" / "contracts" / "jira"
CONTRACT = Contract("jira", json.loads((CONTRACTS / "jira-cloud-platform-v3.subset.json").read_text("utf-8")))
CLOUD = "https://acme.atlassian.net"
DC = "https://jira.acme.example"
TOKEN = "jira-secret-token-0042"


def example(name):
    return json.loads((CONTRACTS / "examples" / name).read_text("utf-8"))


def client(deployment="cloud", dry_run=False):
    settings = load_settings(None, environ={"CACHE_ENABLED": "false", "HTTP_RETRY_BACKOFF": "0"})
    counter = RequestCounter()
    if deployment == "cloud":
        made = JiraClient(
            settings,
            counter,
            url=CLOUD + "/",
            token=TOKEN,
            email="ops@acme.example",
            deployment="cloud",
            dry_run=dry_run,
        )
    else:
        made = JiraClient(settings, counter, url=DC, token=TOKEN, deployment="datacenter", dry_run=dry_run)
    return made, counter


def contract_problems():
    """Every request made so far, and the answer it got, checked against the Jira Cloud v3 contract."""
    problems = []
    for call in responses.calls:
        parts = urlsplit(call.request.url)
        body = json.loads(call.request.body) if call.request.body else None
        problems += CONTRACT.check_request(call.request.method, parts.path, parse_qs(parts.query), body)
        if parts.path.endswith("/serverInfo"):
            continue  # Atlassian's own example breaks its schema (defaultLocale, "+0000" dates): the stand-in's problem
        answer = call.response.json() if call.response.content else None
        problems += CONTRACT.check_response(call.request.method, parts.path, call.response.status_code, answer)
    return problems


@responses.activate
def test_cloud_uses_basic_auth_and_reads_server_info_and_myself():
    responses.get(f"{CLOUD}/rest/api/3/serverInfo", json=example("get_rest_api_3_serverInfo.response200.json"))
    responses.get(f"{CLOUD}/rest/api/3/myself", json=example("get_rest_api_3_myself.response200.json"))
    jira, counter = client()
    assert deployment_of(jira.server_info()) == "cloud"  # the example has no deploymentType: version 1001
    assert jira.myself()["accountId"] == "5b10a2844c20165700ede21g"
    expected = "Basic " + base64.b64encode(f"ops@acme.example:{TOKEN}".encode()).decode()
    assert all(call.request.headers["Authorization"] == expected for call in responses.calls)
    assert contract_problems() == [] and counter.totals()["requests"] == 2


def test_deployment_from_server_info():
    assert deployment_of({"deploymentType": "Cloud", "version": "1001.0.0"}) == "cloud"
    assert deployment_of({"deploymentType": "Server", "version": "9.12.4"}) == "datacenter"
    assert deployment_of({"deploymentType": "DataCenter", "version": "10.3.1"}) == "datacenter"
    assert deployment_of({"version": "8.20.1", "baseUrl": "https://jira.acme.example"}) == "datacenter"
    assert deployment_of({"version": "8.20.1", "baseUrl": "https://acme.atlassian.net"}) == "cloud"


@responses.activate
def test_detect_deployment_asks_rest_api_2_server_info_once():
    responses.get(f"{DC}/rest/api/2/serverInfo", json={"version": "9.12.4", "deploymentType": "Server"})
    settings = load_settings(None, environ={"CACHE_ENABLED": "false"})
    assert detect_deployment(settings, RequestCounter(), url=DC, token=TOKEN) == "datacenter"
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert len(responses.calls) == 1


@responses.activate
def test_an_address_that_is_not_jira_is_a_configuration_error():
    responses.get(f"{CLOUD}/rest/api/3/serverInfo", body="<html>login</html>", content_type="text/html")
    jira, _ = client()
    with pytest.raises(NotTheApi, match="JIRA_URL does not point at a Jira API") as caught:
        jira.server_info()
    assert caught.value.exit_code == 78


@responses.activate
def test_cloud_search_follows_next_page_token_until_is_last():
    page_one = example("get_rest_api_3_search_jql.response200.json")
    page_one = dict(page_one, isLast=False, nextPageToken="tok-2")
    second = dict(page_one["issues"][0], id="10003", key="ED-3")
    responses.get(
        f"{CLOUD}/rest/api/3/search/jql",
        json=page_one,
        match=[
            responses.matchers.query_param_matcher(
                {"jql": "labels = tracksync", "fields": "status,labels", "maxResults": "100"}
            )
        ],
    )
    responses.get(
        f"{CLOUD}/rest/api/3/search/jql",
        json={"issues": [second], "isLast": True, "nextPageToken": "tok-3"},  # isLast wins over a token
        match=[responses.matchers.query_param_matcher({"nextPageToken": "tok-2"}, strict_match=False)],
    )
    jira, _ = client()
    issues, complete = jira.search("labels = tracksync", fields=("status", "labels"))
    assert [i["key"] for i in issues] == ["ED-1", "ED-3"] and complete
    assert parse_qs(urlsplit(responses.calls[1].request.url).query)["nextPageToken"] == ["tok-2"]
    assert len(responses.calls) == 2
    assert contract_problems() == []


@responses.activate
def test_data_center_search_pages_by_start_at_up_to_total_with_a_bearer_token():
    issue = {"id": "1", "key": "OPS-1", "fields": {}}
    responses.get(
        f"{DC}/rest/api/2/search",
        json={"startAt": 2, "maxResults": 2, "total": 3, "issues": [dict(issue, id="3", key="OPS-3")]},
        match=[responses.matchers.query_param_matcher({"startAt": "2"}, strict_match=False)],
    )
    responses.get(
        f"{DC}/rest/api/2/search",
        json={"startAt": 0, "maxResults": 2, "total": 3, "issues": [issue, dict(issue, id="2", key="OPS-2")]},
        match=[responses.matchers.query_param_matcher({"startAt": "0"}, strict_match=False)],
    )
    jira, counter = client("datacenter")
    issues, complete = jira.search("project = OPS")
    assert [i["key"] for i in issues] == ["OPS-1", "OPS-2", "OPS-3"] and complete
    assert counter.totals()["requests"] == 2  # stops at total, no empty third page
    assert all(call.request.headers["Authorization"] == f"Bearer {TOKEN}" for call in responses.calls)
    for call in responses.calls:  # the same parameters as the v3 `search` of the contract
        parts = urlsplit(call.request.url)
        path = parts.path.replace("/rest/api/2/", "/rest/api/3/")
        assert CONTRACT.check_request("GET", path, parse_qs(parts.query), None) == []


@responses.activate
def test_create_issue_in_each_deployment_s_format():
    responses.post(f"{CLOUD}/rest/api/3/issue", status=201, json=example("post_rest_api_3_issue.response201.json"))
    responses.post(f"{DC}/rest/api/2/issue", status=201, json={"id": "10001", "key": "OPS-7", "self": "x"})
    description = [
        "Page: Sprint 42",
        ("Sprint 42", "https://acme.atlassian.net/wiki/pages/viewpage.action?pageId=1"),
        "a *b* [c]",
    ]
    common = dict(project="ED", issue_type="Task", summary="  write\nthe notes ", description=description)
    cloud, _ = client()
    fields = cloud.issue_fields(
        **common,
        labels=["tracksync", "confluence-task-1-2"],
        due=date(2026, 12, 1),
        assignee="557058:abc",
        parent="ED-1",
    )
    assert cloud.create_issue(fields)["key"] == "ED-24"
    sent = json.loads(responses.calls[0].request.body)["fields"]
    assert sent["summary"] == "write the notes" and sent["duedate"] == "2026-12-01"
    assert sent["assignee"] == {"accountId": "557058:abc"} and sent["parent"] == {"key": "ED-1"}
    assert sent["description"]["type"] == "doc" and sent["description"]["content"][1]["content"][0]["marks"] == [
        {"type": "link", "attrs": {"href": "https://acme.atlassian.net/wiki/pages/viewpage.action?pageId=1"}}
    ]
    assert contract_problems() == []

    datacenter, _ = client("datacenter")
    assert datacenter.create_issue(datacenter.issue_fields(**common, assignee="jsmith"))["key"] == "OPS-7"
    sent = json.loads(responses.calls[1].request.body)["fields"]
    assert sent["assignee"] == {"name": "jsmith"}
    assert sent["description"] == (
        "Page: Sprint 42\n\n[Sprint 42|https://acme.atlassian.net/wiki/pages/viewpage.action?pageId=1]\n\na \\*b\\* \\[c\\]"
    )


@responses.activate
def test_a_create_whose_outcome_is_unknown_is_never_resent():
    responses.post(f"{CLOUD}/rest/api/3/issue", status=502)
    jira, counter = client()
    with pytest.raises(UnknownOutcome):
        jira.create_issue(jira.issue_fields(project="ED", issue_type="Task", summary="x"))
    assert counter.totals()["requests"] == 1


@pytest.mark.parametrize(
    "answer",
    [
        {"body": "<html><body>Saved</body></html>", "content_type": "text/html"},
        {"body": '{"id": "10001", "key": "ED-', "content_type": "application/json"},
        {"json": None},
        {"json": {"id": "10001"}},
        {"json": {"id": "10001", "key": 'ED-1"/><ac:structured-macro ac:name="html">'}},
    ],
)
@responses.activate
def test_a_2xx_create_answer_without_a_readable_key_is_an_unknown_outcome_not_a_crash(answer):
    """The issue may exist: never a JSONDecodeError, never a plain failure (which would free the
    task for a second create), never a key that is no Jira key (it would go into a page's macro)."""
    responses.post(f"{CLOUD}/rest/api/3/issue", status=201, **answer)
    jira, counter = client()
    with pytest.raises(UnknownOutcome) as err:
        jira.create_issue(jira.issue_fields(project="ED", issue_type="Task", summary="x"))
    assert "POST /rest/api/3/issue" in str(err.value) and counter.totals()["requests"] == 1


@responses.activate
def test_a_create_refused_names_the_field():
    responses.post(f"{CLOUD}/rest/api/3/issue", status=400, json=example("post_rest_api_3_issue.response400.json"))
    jira, _ = client()
    with pytest.raises(ApiError) as caught:
        jira.create_issue(jira.issue_fields(project="NOPE", issue_type="Task", summary="x"))
    assert caught.value.status == 400 and "refused (400)" in str(caught.value)


@responses.activate
def test_transitions_and_a_transition():
    responses.get(
        f"{CLOUD}/rest/api/3/issue/ED-24/transitions",
        json=example("get_rest_api_3_issue_issueIdOrKey_transitions.response200.json"),
    )
    responses.post(f"{CLOUD}/rest/api/3/issue/ED-24/transitions", status=204)
    jira, _ = client()
    found = jira.transitions("ED-24")
    assert [(t["id"], t["to"]["name"]) for t in found] == [("2", "In Progress"), ("711", "Closed")]
    jira.transition("ED-24", "711")
    assert json.loads(responses.calls[1].request.body) == {"transition": {"id": "711"}}
    assert contract_problems() == []


@responses.activate
def test_remote_link_is_an_upsert_by_global_id():
    responses.post(
        f"{CLOUD}/rest/api/3/issue/ED-24/remotelink",
        json=example("post_rest_api_3_issue_issueIdOrKey_remotelink.response200.json"),
    )
    responses.get(
        f"{CLOUD}/rest/api/3/issue/ED-24/remotelink",
        json=example("get_rest_api_3_issue_issueIdOrKey_remotelink_linkId.response200.json"),
    )
    jira, _ = client()
    url = "https://acme.atlassian.net/wiki/pages/viewpage.action?pageId=1"
    assert jira.upsert_remote_link("ED-24", "tracksync:confluence:1:2", url, "Sprint 42")["id"] == 10000
    assert json.loads(responses.calls[0].request.body) == {
        "globalId": "tracksync:confluence:1:2",
        "object": {"url": url, "title": "Sprint 42"},
    }
    assert len(jira.remote_links("ED-24", "tracksync:confluence:1:2")) == 1
    assert parse_qs(urlsplit(responses.calls[1].request.url).query) == {"globalId": ["tracksync:confluence:1:2"]}
    assert contract_problems() == []
    responses.get(f"{CLOUD}/rest/api/3/issue/ED-25/remotelink", status=404, json={"errorMessages": ["No link"]})
    assert jira.remote_links("ED-25", "tracksync:confluence:1:3") == []  # none with that globalId yet


@responses.activate
def test_wrong_token_names_jira_and_never_the_token():
    responses.get(f"{CLOUD}/rest/api/3/myself", status=401, json={"errorMessages": [f"bad token {TOKEN}"]})
    jira, _ = client()
    with pytest.raises(AuthError) as caught:
        jira.myself()
    assert str(caught.value) == "jira: authentication refused (401): check JIRA_TOKEN"
    assert caught.value.exit_code == 77


@responses.activate
def test_missing_things_and_hostile_keys():
    responses.get(f"{DC}/rest/api/2/project/NOPE", status=404, json={"errorMessages": ["No project could be found"]})
    responses.get(f"{DC}/rest/api/2/issue/OPS-404", status=404, json={"errorMessages": ["Issue does not exist"]})
    responses.delete(f"{DC}/rest/api/2/issue/OPS-404", status=404)
    responses.get(f"{DC}/rest/api/2/user", json={"key": "8a7f808a5e", "name": "jsmith"})
    jira, _ = client("datacenter")
    jira.api.proven = True  # as after server_info: a 404 is then a missing project, not a wrong address
    assert jira.project("NOPE") is None
    assert jira.issue("OPS-404") is None
    assert jira.delete_issue("OPS-404") is False
    assert jira.user_by_key("8a7f808a5e")["name"] == "jsmith"
    assert parse_qs(urlsplit(responses.calls[-1].request.url).query) == {"key": ["8a7f808a5e"]}
    calls = len(responses.calls)
    for hostile in ("../../admin", "OPS-1/transitions", "OPS 1", ""):
        with pytest.raises(ApiError, match="not an issue or project key"):
            jira.issue(hostile)
    assert len(responses.calls) == calls  # nothing was sent


@responses.activate
def test_dry_run_refuses_every_write_before_it_leaves():
    jira, counter = client(dry_run=True)
    with pytest.raises(DryRunWrite):
        jira.create_issue(jira.issue_fields(project="ED", issue_type="Task", summary="x"))
    with pytest.raises(DryRunWrite):
        jira.transition("ED-1", "2")
    with pytest.raises(DryRunWrite):
        jira.upsert_remote_link("ED-1", "g", "https://x.example", "t")
    assert len(responses.calls) == 0 and counter.totals()["requests"] == 0


def test_description_formats_are_bounded_and_escaped():
    document = adf_document(["x" * 40_000, "dropped: over the limit"])
    assert len(document["content"]) == 1 and len(document["content"][0]["content"][0]["text"]) == 32_000
    assert wiki_markup(["{code}h1. |x|", ("a]b", "https://e.example/?a=|]")]) == (
        "\\{code\\}h1. \\|x\\|\n\n[a\\]b|https://e.example/?a=%7C%5D]"
    )
    with pytest.raises(ValueError):
        JiraClient(load_settings(None, environ={}), RequestCounter(), url=CLOUD, token="t", deployment="server")


def test_jql_strings_are_quoted_so_page_text_cannot_change_a_query():
    from common.clients.jira import jql_string

    assert jql_string("confluence-task-123-4") == '"confluence-task-123-4"'
    assert jql_string('x" OR project = SECRET OR labels = "y') == '"x\\" OR project = SECRET OR labels = \\"y"'
    assert jql_string("a\\\nb") == '"a\\\\ b"'


@pytest.mark.parametrize(
    "fields",
    [[], "x", {"status": "Done"}, {"status": {"name": "Done", "statusCategory": "done"}}, {"labels": "tracksync"}],
)
@responses.activate
def test_an_issue_whose_fields_have_the_wrong_kinds_is_a_bad_answer_not_a_crash(fields):
    responses.get(f"{CLOUD}/rest/api/3/issue/ED-1", json={"id": "10001", "key": "ED-1", "fields": fields})
    jira, _ = client()
    with pytest.raises(BadAnswer) as err:
        jira.issue("ED-1", ("status", "labels"))
    assert "GET /rest/api/3/issue/ED-1" in str(err.value) and err.value.exit_code == 69


@responses.activate
def test_malformed_transitions_are_left_out():
    good = {"id": "31", "name": "Close", "to": {"name": "Done", "statusCategory": {"key": "done"}}}
    bad = [
        "31",
        None,
        {"name": "no id", "to": {"name": "Done"}},
        {"id": True, "to": {"name": "Done"}},
        {"id": "32", "to": "Done"},
        {"id": "33", "to": {"name": None}},
        {"id": "34", "to": {"name": "Done", "statusCategory": "done"}},
    ]
    responses.get(f"{CLOUD}/rest/api/3/issue/ED-1/transitions", json={"transitions": [*bad, good]})
    jira, _ = client()
    assert jira.transitions("ED-1") == [good]

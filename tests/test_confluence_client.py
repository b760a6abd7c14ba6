"""The Confluence client speaks both deployments: Cloud (v2 pages with cursor paging in the Link
header, v1 CQL search under /wiki) and Data Center (/rest/api/content with start/limit and
`_links.next` under the site's context path). Pages come back with their storage body and
version; an update sends version + 1 and a 409 is PageConflict. Requests are checked against the
shipped Confluence Cloud v1/v2 contracts (Data Center's paths are v1's without /wiki)."""

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from common.clients import NotTheApi
from common.clients.confluence import ChildPage, ConfluenceClient, Page, PageConflict, PageRef, page_ref
from common.config import load_settings
from common.errors import ApiError, AuthError, DryRunWrite, NotFound, ServiceUnavailable
from common.http import BadAnswer, RequestCounter
from sandbox.contract import Contract

CONTRACTS = Path(__file__).resolve().parents[1] / "sandbox" / "contracts" / "confluence"
V1 = Contract("confluence-v1", json.loads((CONTRACTS / "confluence-cloud-v1.subset.json").read_text("utf-8")))
V2 = Contract("confluence-v2", json.loads((CONTRACTS / "confluence-cloud-v2.subset.json").read_text("utf-8")))
EXAMPLE_BODY = json.loads((CONTRACTS / "storage-format-tasklist.examples.json").read_text("utf-8"))["examples"][
    "as-returned-by-confluence"
]["storage"]
CLOUD = "https://acme.atlassian.net/wiki"
DC = "https://intranet.acme.example/confluence"  # Data Center under a context path
TOKEN = "confluence-secret-token-77"


def client(deployment="cloud", dry_run=False):
    settings = load_settings(None, environ={"CACHE_ENABLED": "false", "HTTP_RETRY_BACKOFF": "0"})
    counter = RequestCounter()
    if deployment == "cloud":
        made = ConfluenceClient(
            settings, counter, url=CLOUD, token=TOKEN, email="ops@acme.example", deployment="cloud", dry_run=dry_run
        )
    else:
        made = ConfluenceClient(settings, counter, url=DC + "/", token=TOKEN, deployment="datacenter", dry_run=dry_run)
    made.api.proven = True  # as after current_user(): a 404 is a missing page, not a wrong address
    return made, counter


def contract_problems():
    """Every request made so far, and the made-up answer it got, checked against the contract."""
    problems = []
    for call in responses.calls:
        parts = urlsplit(call.request.url)
        path = parts.path
        if parts.netloc == "intranet.acme.example":
            path = "/wiki" + path[len("/confluence") :]  # Data Center: v1's paths without /wiki
        contract = V2 if path.startswith("/wiki/api/v2/") else V1
        body = json.loads(call.request.body) if call.request.body else None
        problems += contract.check_request(call.request.method, path, parse_qs(parts.query), body)
        answer = call.response.json() if call.response.content else None
        problems += contract.check_response(call.request.method, path, call.response.status_code, answer)
    return problems


def v2_page(page_id, version=3, body=EXAMPLE_BODY, **extra):
    page = {"id": page_id, "status": "current", "title": f"Page {page_id}", "spaceId": "98306", "parentId": "100"}
    page["version"] = {"number": version, "createdAt": "2026-11-27T10:00:00.000Z", "authorId": "557058:x"}
    if body is not None:
        page["body"] = {"storage": {"representation": "storage", "value": body}}
    return {**page, **extra}


def v1_page(page_id, version=3, body=EXAMPLE_BODY):
    """A v1 Content object with every field the contract requires."""
    page = {
        "id": page_id,
        "type": "page",
        "status": "current",
        "title": f"Page {page_id}",
        "space": {"key": "OPS", "name": "Ops", "status": "current", "type": "global", "_expandable": {}, "_links": {}},
        "ancestors": [{"id": a, "type": "page", "status": "current", "title": f"Page {a}"} for a in ("1", "100")],
        "version": {"number": version, "when": "2026-11-27T10:00:00.000Z", "minorEdit": False},
        "_expandable": {},
        "_links": {},
    }
    if body is not None:
        page["body"] = {"storage": {"value": body, "representation": "storage"}}
    return page


@pytest.mark.parametrize(
    "text, ref",
    [
        ("123456", PageRef(page_id="123456")),
        (" 42 ", PageRef(page_id="42")),
        ("https://acme.atlassian.net/wiki/spaces/OPS/pages/98765/Sprint+42", PageRef(page_id="98765")),
        ("https://acme.atlassian.net/wiki/spaces/OPS/pages/edit-v2/98765", PageRef(page_id="98765")),
        ("https://acme.atlassian.net/wiki/pages/viewpage.action?pageId=555", PageRef(page_id="555")),
        ("https://intranet.acme.example/confluence/pages/viewpage.action?pageId=777&x=1", PageRef(page_id="777")),
        (
            "https://intranet.acme.example/display/OPS/Sprint+42+%26+more",
            PageRef(space="OPS", title="Sprint 42 & more"),
        ),
    ],
)
def test_page_references_of_either_deployment(text, ref):
    assert page_ref(text) == ref


@pytest.mark.parametrize("text", ["", "abc", "12ab", "https://x.example/wiki/x/AbCd", "file:///etc/passwd", "42; DROP"])
def test_what_is_not_a_page_reference_is_one_line(text):
    with pytest.raises(ValueError, match="not a Confluence page id or page URL") as caught:
        page_ref(text)
    assert "\n" not in str(caught.value)


@responses.activate
def test_cloud_reads_a_page_with_its_storage_body_and_version():
    responses.get(f"{CLOUD}/api/v2/pages/123", json=v2_page("123", version=7))
    confluence, _ = client()
    page = confluence.get_page("123")
    assert (page.id, page.title, page.version, page.body, page.parent_id, page.space) == (
        "123",
        "Page 123",
        7,
        EXAMPLE_BODY,
        "100",
        "98306",
    )
    assert parse_qs(urlsplit(responses.calls[0].request.url).query) == {"body-format": ["storage"]}
    expected = "Basic " + base64.b64encode(f"ops@acme.example:{TOKEN}".encode()).decode()
    assert responses.calls[0].request.headers["Authorization"] == expected
    assert contract_problems() == []


@responses.activate
def test_data_center_reads_a_page_under_its_context_path_with_a_bearer_token():
    responses.get(f"{DC}/rest/api/content/123", json=v1_page("123", version=4))
    confluence, _ = client("datacenter")
    page = confluence.get_page("123")
    assert (page.version, page.body, page.parent_id, page.space) == (4, EXAMPLE_BODY, "100", "OPS")
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert contract_problems() == []


@responses.activate
def test_a_missing_page_is_not_found_and_a_broken_answer_is_refused():
    responses.get(f"{CLOUD}/api/v2/pages/404", status=404, json={"errors": [{"status": 404, "code": "NOT_FOUND"}]})
    responses.get(f"{CLOUD}/api/v2/pages/5", json=v2_page("5", body=None))
    responses.get(f"{CLOUD}/api/v2/pages/6", json=v2_page("6", version="7"))
    confluence, _ = client()
    with pytest.raises(NotFound):
        confluence.get_page("404")
    with pytest.raises(BadAnswer, match="page 5: the answer has no storage-format body"):
        confluence.get_page("5")
    with pytest.raises(BadAnswer, match="page 6: the answer has no version number"):
        confluence.get_page("6")
    with pytest.raises(ApiError, match="not a Confluence page id"):
        confluence.get_page("../admin")
    assert len(responses.calls) == 3


@responses.activate
def test_an_address_that_is_not_confluence_is_a_configuration_error():
    responses.get(f"{CLOUD}/rest/api/user/current", status=404, body="<html>not here</html>")
    settings = load_settings(None, environ={"CACHE_ENABLED": "false"})
    confluence = ConfluenceClient(settings, RequestCounter(), url=CLOUD, token=TOKEN, deployment="cloud")
    with pytest.raises(NotTheApi, match="CONFLUENCE_URL does not point at a Confluence API"):
        confluence.current_user()


@responses.activate
def test_cloud_children_follow_the_link_header_cursor():
    # exactly the fields of the contract's ChildPage: no version, no body
    first = {"results": [{"id": "201", "title": "A", "status": "current", "spaceId": "98306", "childPosition": 0}]}
    second = {"results": [{"id": "202", "title": "B", "status": "current", "spaceId": "98306", "childPosition": 1}]}
    responses.get(
        f"{CLOUD}/api/v2/pages/100/children",
        json=second,
        match=[responses.matchers.query_param_matcher({"cursor": "c2"}, strict_match=False)],
    )
    responses.get(
        f"{CLOUD}/api/v2/pages/100/children",
        json=first,
        headers={
            "Link": '</wiki/api/v2/pages/100/children?limit=250&cursor=c2>; rel="next", <https://acme.atlassian.net/wiki>; rel="base"'
        },
    )
    confluence, _ = client()
    pages, complete = confluence.child_pages("100")
    assert pages == [ChildPage("201", "A", "100"), ChildPage("202", "B", "100")] and complete
    assert responses.calls[1].request.url == f"{CLOUD}/api/v2/pages/100/children?limit=250&cursor=c2"
    assert contract_problems() == []


@responses.activate
def test_data_center_children_follow_links_next_under_the_context_path():
    responses.get(
        f"{DC}/rest/api/content/100/child/page",
        json={
            "results": [v1_page("302", body=None)],
            "start": 1,
            "limit": 1,
            "size": 1,
            "_links": {"context": "/confluence"},
        },
        match=[responses.matchers.query_param_matcher({"start": "1"}, strict_match=False)],
    )
    responses.get(
        f"{DC}/rest/api/content/100/child/page",
        json={
            "results": [v1_page("301", body=None)],
            "start": 0,
            "limit": 1,
            "size": 1,
            "_links": {
                "next": "/rest/api/content/100/child/page?expand=version,space&limit=1&start=1",
                "context": "/confluence",
            },
        },
    )
    confluence, _ = client("datacenter")
    pages, complete = confluence.child_pages("100")
    assert [(p.id, p.title) for p in pages] == [("301", "Page 301"), ("302", "Page 302")] and complete
    assert urlsplit(responses.calls[1].request.url).path == "/confluence/rest/api/content/100/child/page"
    assert contract_problems() == []


@responses.activate
def test_descendants_come_from_one_cql_search_with_bodies():
    responses.get(
        f"{CLOUD}/rest/api/content/search",
        json={"results": [v1_page("402")], "size": 1, "_links": {"context": "/wiki", "base": CLOUD}},
        match=[responses.matchers.query_param_matcher({"cursor": "n2"}, strict_match=False)],
    )
    responses.get(
        f"{CLOUD}/rest/api/content/search",
        json={
            "results": [v1_page("401")],
            "size": 1,
            "_links": {"next": "/rest/api/content/search?cql=x&limit=50&cursor=n2", "context": "/wiki", "base": CLOUD},
        },
    )
    confluence, _ = client()
    since = datetime(2026, 11, 27, 9, 5, tzinfo=UTC)
    pages, complete = confluence.descendants("100", modified_since=since)
    assert [(p.id, p.version, p.body) for p in pages] == [("401", 3, EXAMPLE_BODY), ("402", 3, EXAMPLE_BODY)]
    query = parse_qs(urlsplit(responses.calls[0].request.url).query)
    assert query["cql"] == ['ancestor = 100 and type = page and lastmodified >= "2026-11-27 09:05"']
    assert query["expand"] == ["version,space,ancestors,body.storage"] and query["limit"] == ["50"]
    assert urlsplit(responses.calls[1].request.url).path == "/wiki/rest/api/content/search"
    assert contract_problems() == []


@responses.activate
def test_a_next_link_to_another_host_is_refused_before_anything_is_sent():
    responses.get(
        f"{CLOUD}/rest/api/content/search",
        json={"results": [v1_page("401")], "_links": {"next": "https://evil.example/steal", "context": "/wiki"}},
    )
    confluence, _ = client()
    with pytest.raises(ServiceUnavailable, match="refused a link to https://evil.example"):
        confluence.descendants("100")
    assert len(responses.calls) == 1


@responses.activate
def test_cloud_update_sends_version_plus_one_and_409_is_a_conflict():
    responses.put(f"{CLOUD}/api/v2/pages/123", json=v2_page("123", version=8, body=None))
    confluence, counter = client()
    before = Page("123", "Page 123", 7, EXAMPLE_BODY, "100", "98306")
    saved = confluence.update_page(before, EXAMPLE_BODY + "<p>x</p>", "tracksync: 1 task linked")
    assert (saved.version, saved.body) == (8, EXAMPLE_BODY + "<p>x</p>")
    assert json.loads(responses.calls[0].request.body) == {
        "id": "123",
        "status": "current",
        "title": "Page 123",
        "body": {"representation": "storage", "value": EXAMPLE_BODY + "<p>x</p>"},
        "version": {"number": 8, "message": "tracksync: 1 task linked"},
    }
    assert contract_problems() == []

    responses.put(f"{CLOUD}/api/v2/pages/124", status=409, json={"errors": [{"status": 409, "title": "Conflict"}]})
    with pytest.raises(PageConflict, match="version 8 refused \\(409\\)") as caught:
        confluence.update_page(Page("124", "T", 7, ""), "<p/>")
    assert caught.value.status == 409 and caught.value.exit_code == 3
    assert counter.totals()["writes"] == 2  # a conflict is never retried with the same stale version


@responses.activate
def test_data_center_update_uses_the_content_api():
    responses.put(f"{DC}/rest/api/content/123", json=v1_page("123", version=5, body=None))
    confluence, _ = client("datacenter")
    saved = confluence.update_page(Page("123", "Page 123", 4, EXAMPLE_BODY), "<p>new</p>")
    assert saved.version == 5
    assert json.loads(responses.calls[0].request.body) == {
        "id": "123",
        "type": "page",
        "title": "Page 123",
        "body": {"storage": {"value": "<p>new</p>", "representation": "storage"}},
        "version": {"number": 5},
    }
    assert contract_problems() == []


@responses.activate
def test_wrong_token_names_confluence_and_dry_run_never_writes():
    responses.get(f"{CLOUD}/rest/api/user/current", status=401, json={"message": f"bad {TOKEN}"})
    confluence, _ = client()
    with pytest.raises(AuthError) as caught:
        confluence.current_user()
    assert str(caught.value) == "confluence: authentication refused (401): check CONFLUENCE_TOKEN"
    dry, counter = client(dry_run=True)
    with pytest.raises(DryRunWrite):
        dry.update_page(Page("1", "T", 1, ""), "<p/>")
    assert counter.totals()["requests"] == 0


@responses.activate
def test_find_page_by_space_and_title():
    responses.get(f"{DC}/rest/api/content", json={"results": [v1_page("900", body=None)], "size": 1, "_links": {}})
    confluence, _ = client("datacenter")
    assert confluence.find_page("OPS", "Sprint 42 & more") == "900"
    assert parse_qs(urlsplit(responses.calls[0].request.url).query) == {
        "type": ["page"],
        "spaceKey": ["OPS"],
        "title": ["Sprint 42 & more"],
    }
    assert confluence.page_url("900") == f"{DC}/pages/viewpage.action?pageId=900"
    assert contract_problems() == []


@pytest.mark.parametrize("bad_id", ["../admin", "secret-token-0042", None, True, 1.5, {"id": "1"}])
@responses.activate
def test_a_page_id_in_an_answer_that_is_not_one_is_a_bad_answer_never_quoted(bad_id):
    """Hostile data in a read (the search of a tree) stops the run (69) before anything is written,
    and the value is not echoed (it could hold a secret)."""
    page = dict(v1_page("7"), id=bad_id)
    responses.get(f"{DC}/rest/api/content/search", json={"results": [page], "size": 1, "_links": {}})
    confluence, _ = client("datacenter")
    with pytest.raises(BadAnswer) as err:
        confluence.descendants("1")
    assert err.value.exit_code == 69 and "secret" not in str(err.value) and "admin" not in str(err.value)

"""The one pager (common.paging via ServiceSession.pages): it reads every page of an honest server and always
ends, without sending credentials elsewhere, when the server's paging lies."""

import pytest
import responses
from ops_helpers import example_settings
from responses import matchers

from common import paging as paging_module
from common import shutdown
from common.config import load_settings
from common.errors import Interrupted, ServiceUnavailable
from common.http import RequestCounter, ServiceSession, origin_of

BASE = "https://git.example.com/api/v1"
LIST = f"{BASE}/repos/acme/web/issues"


def session():
    settings = load_settings(None, environ={"GITEA_TOKEN": "secret-token-1234", "CACHE_ENABLED": "false"})
    return ServiceSession(
        "gitea", BASE, {"Authorization": "token secret-token-1234"}, settings, counter=RequestCounter()
    )


def items(first, count):
    return [{"id": n} for n in range(first, first + count)]


def page(number, body, headers=None, url=LIST):
    responses.get(
        url,
        json=body,
        headers=headers or {},
        match=[matchers.query_param_matcher({"state": "all", "page": str(number)}, strict_match=False)],
    )


@responses.activate
def test_follows_next_links_and_stops_at_the_total_count():
    for n in (1, 2, 3):
        link = {"Link": f'<{LIST}?page={n + 1}&state=all>; rel="next"'} if n < 3 else {}
        page(n, items(n * 10, 10 if n < 3 else 10), {"X-Total-Count": "30", **link})
    found, complete = session().pages("repos/acme/web/issues", {"state": "all"}, page_size=10)
    assert [i["id"] for i in found] == list(range(10, 20)) + list(range(20, 30)) + list(range(30, 40))
    assert complete and len(responses.calls) == 3  # a full last page with the total reached: no 4th request


@responses.activate
def test_without_any_paging_header_reads_until_a_short_page():
    page(1, items(0, 50))
    page(2, items(50, 50))
    page(3, items(100, 7))
    found, complete = session().pages("repos/acme/web/issues", {"state": "all"}, page_size=50)
    assert len(found) == 107 and complete and len(responses.calls) == 3


@responses.activate
def test_without_headers_or_page_size_reads_until_an_empty_page():
    page(1, items(0, 5))
    page(2, items(5, 5))
    page(3, [])
    found, complete = session().pages("repos/acme/web/issues", {"state": "all"})
    assert len(found) == 10 and complete and len(responses.calls) == 3


@responses.activate
def test_total_pages_header_ends_the_list():
    page(1, items(0, 2), {"X-Total-Pages": "2"})
    page(2, items(2, 2), {"X-Total-Pages": "2"})
    found, complete = session().pages("repos/acme/web/issues", {"state": "all"}, page_size=2)
    assert len(found) == 4 and complete and len(responses.calls) == 2


@responses.activate
def test_a_404_past_the_first_page_ends_the_list():
    page(1, items(0, 3))
    responses.get(
        LIST,
        status=404,
        json={"message": "Not Found"},
        match=[matchers.query_param_matcher({"page": "2"}, strict_match=False)],
    )
    found, complete = session().pages("repos/acme/web/issues", {"state": "all"}, page_size=3)
    assert len(found) == 3 and complete


@responses.activate
def test_a_server_that_ignores_the_page_number_is_stopped():
    responses.get(LIST, json=items(0, 50))  # the same full page whatever is asked
    with pytest.raises(ServiceUnavailable, match="repeats an earlier page") as err:
        session().pages("repos/acme/web/issues", {"state": "all"}, page_size=50)
    assert err.value.exit_code == 69 and len(responses.calls) == 2


@responses.activate
def test_a_next_link_that_leads_back_is_not_followed_round_and_round():
    page(1, items(0, 5), {"Link": f'<{LIST}?page=2&state=all>; rel="next"'})
    page(2, items(5, 5), {"Link": f'<{LIST}?page=2&state=all>; rel="next"'})  # points at itself
    with pytest.raises(ServiceUnavailable, match="already read"):
        session().pages("repos/acme/web/issues", {"state": "all"})
    assert len(responses.calls) == 2


@pytest.mark.parametrize(
    "elsewhere",
    [
        "https://evil.example.com/api/v1/repos/acme/web/issues?page=2",
        "http://git.example.com/api/v1/repos/acme/web/issues?page=2",
        "https://git.example.com:8443/api/v1/repos/acme/web/issues?page=2",
    ],
)
@responses.activate
def test_a_next_link_to_another_scheme_host_or_port_is_refused_and_nothing_is_sent_there(elsewhere):
    page(1, items(0, 5), {"Link": f'<{elsewhere}>; rel="next"'})
    responses.get(elsewhere.split("?")[0], json=items(5, 5))
    with pytest.raises(ServiceUnavailable, match="refused a link to") as err:
        session().pages("repos/acme/web/issues", {"state": "all"})
    assert err.value.exit_code == 69
    assert "GITEA_URL" in str(err.value) and "secret-token" not in str(err.value)
    assert [c.request.url.split("?")[0] for c in responses.calls] == [LIST]


@responses.activate
def test_an_absolute_url_of_another_origin_is_refused_by_any_request():
    """Clients that follow next links themselves are protected too."""
    responses.get("https://evil.example.com/steal", json=[])
    with pytest.raises(ServiceUnavailable, match="evil.example.com"):
        session().request("GET", "https://evil.example.com/steal")
    assert len(responses.calls) == 0
    responses.get(f"{BASE}/version", json={"version": "1"})
    assert session().get_json(f"{BASE}/version") == {"version": "1"}  # the same origin is fine
    assert origin_of("https://GIT.example.com:443/x") == origin_of(BASE) != origin_of("https://git.example.com:8443/")


@responses.activate
def test_a_relative_next_link_is_resolved_against_the_page():
    page(1, items(0, 5), {"Link": '</api/v1/repos/acme/web/issues?page=2&state=all>; rel="next"'})
    page(2, items(5, 2))
    found, complete = session().pages("repos/acme/web/issues", {"state": "all"}, page_size=5)
    assert len(found) == 7 and complete


@responses.activate
def test_max_pages_cuts_the_list_and_says_so():
    for n in (1, 2, 3):
        page(n, items(n * 10, 10))
    found, complete = session().pages("repos/acme/web/issues", {"state": "all"}, page_size=10, max_pages=2)
    assert len(found) == 20 and complete is False and len(responses.calls) == 2


@responses.activate
def test_a_list_that_never_ends_is_stopped(monkeypatch):
    monkeypatch.setattr(paging_module, "HARD_MAX_PAGES", 4)
    for n in range(1, 6):
        page(n, items(n * 10, 10))  # distinct full pages, no headers, forever (here: 5)
    with pytest.raises(ServiceUnavailable, match="more than 4 pages"):
        session().pages("repos/acme/web/issues", {"state": "all"}, page_size=10)
    assert len(responses.calls) == 4


@responses.activate
def test_items_are_picked_from_the_body_and_checked():
    url = f"{BASE}/time_entries"
    responses.get(
        url,
        json={"time_entries": items(0, 2), "links": {"next": f"{url}?page=2"}},
        match=[matchers.query_param_matcher({"page": "1"}, strict_match=False)],
    )
    responses.get(
        url,
        json={"time_entries": items(2, 1), "links": {"next": None}},
        match=[matchers.query_param_matcher({"page": "2"})],
    )
    found, _ = session().pages(
        "time_entries",
        page_size=2,
        items=lambda body: body["time_entries"],
        next_url=lambda response, body: (body.get("links") or {}).get("next"),
    )
    assert [i["id"] for i in found] == [0, 1, 2]
    responses.get(f"{BASE}/odd", json={"not": "a list"})
    with pytest.raises(ServiceUnavailable, match="expected a list"):
        session().pages("odd")
    responses.get(f"{BASE}/entries", json=[{"id": 1}])  # a list where the object with time_entries belongs
    with pytest.raises(ServiceUnavailable, match="unexpected shape"):
        session().pages("entries", items=lambda body: body["time_entries"])
    responses.get(f"{BASE}/linked", json={"time_entries": items(0, 1), "links": {"next": 42}})
    with pytest.raises(ServiceUnavailable, match="not a URL"):
        session().pages(
            "linked", items=lambda body: body["time_entries"], next_url=lambda r, body: body["links"]["next"]
        )
    responses.get(f"{BASE}/html", body="<html>hi</html>", content_type="text/html")
    with pytest.raises(ServiceUnavailable, match="not JSON|HTML page|empty"):
        session().pages("html")


@responses.activate
def test_a_stop_request_is_honoured_between_pages():
    page(1, items(0, 5))
    page(2, items(5, 5))
    http = session()
    original = http.request

    def request_then_sigterm(*args, **kw):
        response = original(*args, **kw)
        shutdown.request()  # SIGTERM arrives while page 1 is read
        return response

    http.request = request_then_sigterm
    try:
        with pytest.raises(Interrupted):
            http.pages("repos/acme/web/issues", {"state": "all"}, page_size=5)
    finally:
        shutdown._requested.clear()
    assert len(responses.calls) == 1


# -- every client's list goes through the pager -------------------------------------------------
@responses.activate
def test_kimai_timesheets_without_total_pages_are_read_to_the_short_page():
    from common.clients.kimai import KimaiClient

    url = "https://kimai.example.com/api/timesheets"

    def sheets(first, count):  # what the client checks a Kimai timesheet holds
        return [
            {"id": n + 1, "begin": "2026-01-01T08:00:00", "user": 1, "project": 1, "activity": 1}
            for n in range(first, first + count)
        ]

    for number, body in ((1, sheets(0, 500)), (2, sheets(500, 500)), (3, sheets(1000, 3))):
        responses.get(url, json=body, match=[matchers.query_param_matcher({"page": str(number)}, strict_match=False)])
    sheets = KimaiClient(example_settings(), RequestCounter()).list_timesheets(
        "2026-01-01T00:00:00", "2026-12-31T23:59:59"
    )
    assert len(sheets) == 1003 and len(responses.calls) == 3


@responses.activate
def test_zammad_search_that_repeats_its_page_is_stopped():
    from common.clients.zammad import ZammadClient

    responses.get("https://zammad.example.com/api/v1/tickets/search", json=items(0, 200))  # page ignored
    with pytest.raises(ServiceUnavailable, match="repeats an earlier page"):
        ZammadClient(example_settings(), RequestCounter()).search_tickets("updated_at:>2026-01-01")
    assert len(responses.calls) == 2


# -- the strategies of the services still to come: Graph, Jira Cloud, Confluence v1 --------------
@responses.activate
def test_odata_next_links_are_followed_and_no_page_number_is_sent():
    url = "https://git.example.com/api/v1/users/a/calendarView"
    responses.get(
        url,
        json={"value": items(0, 2), "@odata.nextLink": f"{url}?$skiptoken=X1"},
        match=[matchers.query_param_matcher({"startDateTime": "s"})],
    )
    responses.get(url, json={"value": items(2, 1)}, match=[matchers.query_param_matcher({"$skiptoken": "X1"})])
    found, complete = session().pages(
        "users/a/calendarView",
        {"startDateTime": "s"},
        page_param=None,
        items=lambda b: b["value"],
        next_url=lambda r, b: b.get("@odata.nextLink"),
    )
    assert [i["id"] for i in found] == [0, 1, 2] and complete and len(responses.calls) == 2


def jira_token(response, body):
    return None if body.get("isLast") else {"nextPageToken": body["nextPageToken"]}


@responses.activate
def test_next_page_tokens_are_sent_back_until_the_last_page():
    url = "https://git.example.com/api/v1/search/jql"
    responses.get(
        url,
        json={"issues": items(0, 2), "nextPageToken": "t1", "isLast": False},
        match=[matchers.query_param_matcher({"jql": "project=A"})],
    )
    responses.get(
        url,
        json={"issues": items(2, 2), "isLast": True},
        match=[matchers.query_param_matcher({"jql": "project=A", "nextPageToken": "t1"})],
    )
    found, complete = session().pages(
        "search/jql", {"jql": "project=A"}, items=lambda b: b["issues"], next_params=jira_token
    )
    assert [i["id"] for i in found] == [0, 1, 2, 3] and complete and len(responses.calls) == 2


@responses.activate
def test_a_token_that_repeats_is_stopped():
    url = "https://git.example.com/api/v1/search/jql"
    responses.get(
        url,
        json={"issues": items(0, 1), "nextPageToken": "same", "isLast": False},
        match=[matchers.query_param_matcher({"jql": "x"})],
    )
    responses.get(
        url,
        json={"issues": items(1, 1), "nextPageToken": "same", "isLast": False},
        match=[matchers.query_param_matcher({"jql": "x", "nextPageToken": "same"})],
    )
    with pytest.raises(ServiceUnavailable, match="token repeats"):
        session().pages("search/jql", {"jql": "x"}, items=lambda b: b["issues"], next_params=jira_token)


@responses.activate
def test_start_limit_pages_follow_their_links_next():
    url = "https://git.example.com/api/v1/content/7/child/page"
    responses.get(
        url,
        json={"results": items(0, 2), "_links": {"next": "/api/v1/content/7/child/page?start=2&limit=2"}},
        match=[matchers.query_param_matcher({"limit": "2"})],
    )
    responses.get(
        url,
        json={"results": items(2, 1), "_links": {}},
        match=[matchers.query_param_matcher({"start": "2", "limit": "2"})],
    )
    found, complete = session().pages(
        "content/7/child/page",
        {"limit": 2},
        page_param=None,
        items=lambda b: b["results"],
        next_url=lambda r, b: b["_links"].get("next"),
    )
    assert len(found) == 3 and complete and len(responses.calls) == 2

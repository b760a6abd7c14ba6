"""The Microsoft Graph client: token reuse and renewal, refusals mapped to 77/78 naming the key or
the permission, delta rounds paged to the delta link, links to other hosts refused, Retry-After
waited out, mailbox-level errors, and the secret and token never in an error text or a log."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses

from common import logs
from common.clients.graph import DeltaExpired, GraphClient, MailboxError
from common.config import load_settings
from common.errors import AuthError, ConfigError, ServiceUnavailable
from common.http import RequestCounter

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "sandbox" / "contracts" / "msgraph" / "examples"
GRAPH = "https://graph.example.test"
LOGIN = "https://login.example.test"
TENANT = "acme.onmicrosoft.com"
SECRET = "s3cr3t~client~secret~value"
TOKEN_URL = f"{LOGIN}/{TENANT}/oauth2/v2.0/token"
START = datetime(2026, 11, 1, tzinfo=UTC)
END = START + timedelta(days=30)


def client(**env: str) -> tuple[GraphClient, RequestCounter]:
    settings = load_settings(
        None,
        environ={
            "GRAPH_URL": GRAPH,
            "GRAPH_LOGIN_URL": LOGIN,
            "GRAPH_TENANT_ID": TENANT,
            "GRAPH_CLIENT_ID": "7d2e9f40-3c1b-4e8a-9b6f-5a4c3d2e1f00",
            "GRAPH_CLIENT_SECRET": SECRET,
            "HTTP_RETRY_BACKOFF": "0",
            "CACHE_ENABLED": "false",
            **env,
        },
    )
    counter = RequestCounter()
    return GraphClient(settings, counter), counter


def token_answer(token: str = "access-token-1", expires_in: int = 3599) -> dict:
    return {"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": token}


def token_calls() -> list:
    return [c for c in responses.calls if c.request.url == TOKEN_URL]


def example(name: str) -> dict:
    """A documentation example with its graph.microsoft.com links pointing at GRAPH."""
    text = (
        (EXAMPLES / name)
        .read_text("utf-8")
        .replace("https://graph.microsoft.com/v1.0/me/", f"{GRAPH}/v1.0/users/ann@acme.example/")
    )
    return json.loads(text)


def odata(code: str, message: str = "refused") -> dict:
    return {"error": {"code": code, "message": message, "innerError": {"date": "2026-11-27T10:00:00"}}}


@responses.activate
def test_the_token_is_asked_for_once_and_reused_and_sent_as_a_form():
    responses.post(TOKEN_URL, json=token_answer())
    responses.get(f"{GRAPH}/v1.0/users/ann@acme.example/mailboxSettings", json={"timeZone": "UTC"})
    graph, counter = client()
    assert graph.mailbox_settings("ann@acme.example")["timeZone"] == "UTC"
    assert graph.mailbox_settings("ann@acme.example")["timeZone"] == "UTC"
    assert len(token_calls()) == 1
    form = token_calls()[0].request.body
    assert "grant_type=client_credentials" in form and "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default" in form
    sent = [c.request for c in responses.calls if "mailboxSettings" in c.request.url]
    assert all(r.headers["Authorization"] == "Bearer access-token-1" for r in sent)
    assert 'outlook.timezone="UTC"' in sent[0].headers["Prefer"]
    assert counter.totals()["requests"] == 3 and counter.totals()["writes"] == 0  # the token POST writes nothing


@responses.activate
def test_an_expiring_token_is_renewed_before_use():
    responses.post(TOKEN_URL, json=token_answer("tok-first", expires_in=1))
    responses.post(TOKEN_URL, json=token_answer("tok-BBB2"))
    responses.get(f"{GRAPH}/v1.0/users/ann@acme.example/mailboxSettings", json={"timeZone": "UTC"})
    graph, _ = client()
    graph.mailbox_settings("ann@acme.example")
    time.sleep(0.6)  # a 1 s token is renewed after half its life
    graph.mailbox_settings("ann@acme.example")
    sent = [c.request.headers["Authorization"] for c in responses.calls if "mailboxSettings" in c.request.url]
    assert sent == ["Bearer tok-first", "Bearer tok-BBB2"] and len(token_calls()) == 2


@responses.activate
def test_a_401_renews_the_token_once_then_gives_up_with_77():
    responses.post(TOKEN_URL, json=token_answer("tok-AAA1"))
    responses.post(TOKEN_URL, json=token_answer("tok-BBB2"))
    responses.post(TOKEN_URL, json=token_answer("tok-CCC3"))
    url = f"{GRAPH}/v1.0/users/ann@acme.example/mailboxSettings"
    responses.get(url, status=401, json=odata("InvalidAuthenticationToken", "Lifetime validation failed"))
    responses.get(url, json={"timeZone": "UTC"})
    graph, counter = client()
    assert graph.mailbox_settings("ann@acme.example") == {"timeZone": "UTC"}
    assert len(token_calls()) == 2
    assert counter.totals()["requests"] == 4 and counter.totals()["writes"] == 0  # both token requests count

    responses.replace(responses.GET, url, status=401, json=odata("InvalidAuthenticationToken"))
    with pytest.raises(AuthError) as err:
        graph.mailbox_settings("ann@acme.example")
    assert err.value.exit_code == 77 and "Microsoft Graph" in str(err.value)
    assert len(token_calls()) == 3  # one renewal for this request, not a loop
    assert_no_secret(str(err.value))


@pytest.mark.parametrize(
    "status, body, error, key",
    [
        (
            400,
            {
                "error": "invalid_request",
                "error_description": "AADSTS90002: Tenant 'x' not found.",
                "error_codes": [90002],
            },
            ConfigError,
            "GRAPH_TENANT_ID",
        ),
        (
            400,
            {
                "error": "unauthorized_client",
                "error_description": "AADSTS700016: Application ...",
                "error_codes": [700016],
            },
            AuthError,
            "GRAPH_CLIENT_ID",
        ),
        (
            401,
            {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.",
                "error_codes": [7000215],
            },
            AuthError,
            "GRAPH_CLIENT_SECRET",
        ),
        (
            400,
            json.loads((EXAMPLES / "token.error.invalid_scope.response.json").read_text()),
            AuthError,
            "GRAPH_CLIENT_ID",
        ),
    ],
)
@responses.activate
def test_token_refusals_are_77_or_78_naming_the_key(status, body, error, key):
    responses.post(TOKEN_URL, status=status, json=body)
    graph, _ = client()
    with pytest.raises(error) as err:
        list(graph.users())
    text = str(err.value)
    assert key in text and "Microsoft Graph" in text
    assert err.value.exit_code == (78 if error is ConfigError else 77)
    assert not [c for c in responses.calls if c.request.url.startswith(GRAPH)]  # nothing sent to Graph
    assert_no_secret(text)


@pytest.mark.parametrize(
    "call, path, permission",
    [
        (lambda g: list(g.users()), "users", "User.Read.All"),
        (
            lambda g: g.mailbox_settings("ann@acme.example"),
            "users/ann@acme.example/mailboxSettings",
            "MailboxSettings.Read",
        ),
        (
            lambda g: list(g.calendar_delta("ann@acme.example", START, END)),
            "users/ann@acme.example/calendarView/delta",
            "Calendars.Read",
        ),
    ],
)
@responses.activate
def test_403_is_77_naming_the_missing_permission(call, path, permission):
    responses.post(TOKEN_URL, json=token_answer())
    responses.get(f"{GRAPH}/v1.0/{path}", status=403, json=odata("ErrorAccessDenied", "Access is denied."))
    graph, _ = client()
    with pytest.raises(AuthError) as err:
        call(graph)
    assert permission in str(err.value) and err.value.exit_code == 77


@responses.activate
def test_a_delta_round_follows_next_links_to_the_delta_link_and_the_delta_link_next_time():
    responses.post(TOKEN_URL, json=token_answer())
    first = responses.get(
        f"{GRAPH}/v1.0/users/ann@acme.example/calendarView/delta",
        json=example("calendarView.delta.page1.response.json"),
    )
    responses.get(
        f"{GRAPH}/v1.0/users/ann@acme.example/calendarView/delta?$skiptoken=R0usmcCM996atia_s",
        json=example("calendarView.delta.page2.response.json"),
    )
    responses.get(
        f"{GRAPH}/v1.0/users/ann@acme.example/calendarView/delta?$skiptoken=R0usmci39OQxqJrxK4",
        json=example("calendarView.delta.page3_final.response.json"),
    )
    graph, _ = client(PAGE_SIZE="2")
    pages = list(graph.calendar_delta("ann@acme.example", START, END))
    assert [len(p.events) for p in pages] == [2, 2, 1]
    assert [p.delta_link for p in pages[:2]] == [None, None]
    assert pages[2].delta_link == f"{GRAPH}/v1.0/users/ann@acme.example/calendarView/delta?$deltatoken=R0usmcMDNGg0J1E"
    query = first.calls[0].request.url.split("?", 1)[1]
    assert "startDateTime=2026-11-01T00%3A00%3A00Z" in query and "endDateTime=2026-12-01T00%3A00%3A00Z" in query
    assert "odata.maxpagesize=2" in first.calls[0].request.headers["Prefer"]

    responses.get(pages[2].delta_link, json=example("calendarView.delta.next_round.response.json"))
    changes = list(graph.calendar_delta("ann@acme.example", START, END, pages[2].delta_link))
    assert len(changes) == 1 and changes[0].events[0]["@removed"] == {"reason": "deleted"}
    assert changes[0].delta_link.endswith("$deltatoken=R0usmcFuQtZdtpk4")


@responses.activate
def test_a_next_link_to_another_host_is_refused_before_anything_is_sent_there():
    responses.post(TOKEN_URL, json=token_answer())
    page = example("calendarView.delta.page1.response.json")
    page["@odata.nextLink"] = "https://evil.example/v1.0/users/ann@acme.example/calendarView/delta?$skiptoken=x"
    responses.get(f"{GRAPH}/v1.0/users/ann@acme.example/calendarView/delta", json=page)
    graph, _ = client()
    with pytest.raises(ServiceUnavailable, match="GRAPH_URL") as err:
        list(graph.calendar_delta("ann@acme.example", START, END))
    assert not [c for c in responses.calls if "evil.example" in c.request.url]
    assert err.value.exit_code == 69
    # a stored delta link on another host (GRAPH_URL changed since): a new round, nothing sent there
    with pytest.raises(DeltaExpired, match="not on GRAPH_URL"):
        list(graph.calendar_delta("ann@acme.example", START, END, "https://evil.example/v1.0/x?$deltatoken=1"))
    assert not [c for c in responses.calls if "evil.example" in c.request.url]


@responses.activate
def test_mailbox_errors_and_an_expired_delta_link():
    responses.post(TOKEN_URL, json=token_answer())
    responses.get(
        f"{GRAPH}/v1.0/users/gone@acme.example/mailboxSettings", status=404, json=odata("MailboxNotEnabledForRESTAPI")
    )
    responses.get(
        f"{GRAPH}/v1.0/users/ann@acme.example/calendarView/delta", status=410, json=odata("SyncStateNotFound")
    )
    graph, _ = client()
    with pytest.raises(MailboxError) as err:
        graph.mailbox_settings("gone@acme.example")
    assert err.value.mailbox == "gone@acme.example" and err.value.exit_code == 3 and "no mailbox" in str(err.value)
    with pytest.raises(DeltaExpired):
        list(
            graph.calendar_delta(
                "ann@acme.example",
                START,
                END,
                f"{GRAPH}/v1.0/users/ann@acme.example/calendarView/delta?$deltatoken=old",
            )
        )
    with pytest.raises(MailboxError, match="not an e-mail address"):
        graph.mailbox_settings("../../users")


@responses.activate
def test_a_404_that_is_not_graph_is_a_wrong_address_not_a_failed_mailbox():
    responses.post(TOKEN_URL, json=token_answer())
    responses.get(f"{GRAPH}/v1.0/users/ann@acme.example/mailboxSettings", status=404, body="<html>Not Found</html>")
    graph, _ = client()
    with pytest.raises(ConfigError, match="GRAPH_URL") as err:
        graph.mailbox_settings("ann@acme.example")
    assert err.value.exit_code == 78


@responses.activate
def test_a_token_that_cannot_go_into_a_header_is_refused_without_showing_it():
    responses.post(TOKEN_URL, json=token_answer("tok-AAA1\r\nX-Injected: 1"))
    graph, _ = client()
    with pytest.raises(ConfigError, match="GRAPH_LOGIN_URL") as err:
        list(graph.users())
    assert_no_secret(str(err.value))
    assert not [c for c in responses.calls if c.request.url.startswith(GRAPH)]


@responses.activate
def test_users_follow_next_links_and_skip_users_without_mail():
    responses.post(TOKEN_URL, json=token_answer())
    responses.get(
        f"{GRAPH}/v1.0/users",
        json={
            "value": [{"id": "1", "mail": "ann@acme.example"}, {"id": "2", "mail": None}],
            "@odata.nextLink": f"{GRAPH}/v1.0/users?$skiptoken=abc",
        },
    )
    responses.get(f"{GRAPH}/v1.0/users?$skiptoken=abc", json={"value": [{"id": "3", "mail": "bob@acme.example"}]})
    graph, _ = client()
    assert [u["mail"] for u in graph.users()] == ["ann@acme.example", "bob@acme.example"]


def test_retry_after_is_waited_out_and_expired_tokens_renewed_against_the_stand_in(sandbox, caplog):
    from sandbox import seed_graph

    seed_graph.demo(sandbox)
    settings = load_settings(None, environ={**sandbox.env(), "HTTP_RETRY_BACKOFF": "0", "CACHE_ENABLED": "false"})
    graph = GraphClient(settings, RequestCounter())
    caplog.set_level(logging.DEBUG)
    assert graph.mailbox_settings("ann@acme.example")["timeZone"] == "W. Europe Standard Time"
    for status in (429, 503):
        sandbox.graph.throttle(1, status=status, retry_after=1)
        started = time.monotonic()
        assert graph.mailbox_settings("bob@acme.example")["timeZone"] == "Pacific Standard Time"
        assert time.monotonic() - started >= 0.9
    sandbox.graph.expire_tokens()
    pages = list(
        graph.calendar_delta("chandra@acme.example", datetime.now(UTC) - timedelta(days=90), datetime.now(UTC))
    )
    assert sum(len(p.events) for p in pages) > 50 and graph.tokens_requested == 2
    for token in [*sandbox.graph.issued_tokens, sandbox.graph.client_secret]:
        assert token not in caplog.text
    for token in sandbox.graph.issued_tokens:  # what the process obtained is redacted like the secret
        assert logs.redact(f"Authorization: Bearer {token}") == "Authorization: Bearer ***"


def assert_no_secret(text: str) -> None:
    for secret in (SECRET, "access-token-1", "tok-AAA1", "tok-BBB2", "tok-CCC3"):
        assert secret not in text


def test_at_most_four_requests_are_in_flight_per_mailbox(sandbox):
    from concurrent.futures import ThreadPoolExecutor

    from sandbox import seed_graph

    seed_graph.demo(sandbox)
    settings = load_settings(
        None, environ={**sandbox.env(), "HTTP_RETRY_BACKOFF": "0", "CACHE_ENABLED": "false", "SYNC_WORKERS": "16"}
    )
    graph = GraphClient(settings, RequestCounter())
    graph.mailbox_settings("ann@acme.example")  # the token first
    sandbox.graph.handler_latency_ms = 100
    with ThreadPoolExecutor(12) as pool:
        zones = list(pool.map(lambda _: graph.mailbox_settings("ann@acme.example")["timeZone"], range(12)))
    assert zones == ["W. Europe Standard Time"] * 12
    assert sandbox.graph.max_in_flight["ann@acme.example"] == 4
    assert not [r for r in sandbox.requests if r.status == 429]


@responses.activate
def test_a_next_link_that_repeats_stops_the_read_instead_of_looping():
    responses.post(TOKEN_URL, json=token_answer())
    loop = f"{GRAPH}/v1.0/users/ann@acme.example/calendarView/delta?$skiptoken=again"
    responses.get(
        f"{GRAPH}/v1.0/users/ann@acme.example/calendarView/delta", json={"value": [], "@odata.nextLink": loop}
    )
    graph, _ = client()
    with pytest.raises(ServiceUnavailable, match="calendarView/delta: a next link repeats") as err:
        list(graph.calendar_delta("ann@acme.example", START, END))
    assert err.value.exit_code == 69 and "Microsoft Graph" in str(err.value)
    assert len([c for c in responses.calls if "skiptoken=again" in c.request.url]) == 1
    responses.get(f"{GRAPH}/v1.0/users", json={"value": [], "@odata.nextLink": f"{GRAPH}/v1.0/users?$skiptoken=x"})
    with pytest.raises(ServiceUnavailable, match="repeats"):
        list(graph.users())


@pytest.mark.parametrize("codes", [7000215, "7000215", {"a": 1}, None, True, [None, "x", 7000215.5]])
@responses.activate
def test_a_token_refusal_with_error_codes_of_another_type_is_still_named(codes):
    """error_codes is a list of numbers in Entra's answers; any other type is ignored (the error
    text decides), never an unexpected error (1)."""
    body = {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}
    responses.post(TOKEN_URL, status=401, json={**body, "error_codes": codes})
    graph, _ = client()
    with pytest.raises(AuthError) as err:
        list(graph.users())
    assert "GRAPH_CLIENT_SECRET" in str(err.value) and err.value.exit_code == 77
    assert_no_secret(str(err.value))

"""The Zammad stand-in reproduces the real API's auth, search, shapes and time accounting."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest
import requests
from sandbox_testkit import Api, allow_violations, sb  # noqa: F401 (pytest fixtures)

from sandbox import Sandbox, contract, seed_zammad
from sandbox.zammad import webhook_request


@pytest.fixture
def zammad(sb) -> Api:
    return Api(sb.url("zammad") + "/api/v1", {"Authorization": f"Token token={sb.tokens['zammad']}"})


@pytest.fixture
def acme(sb) -> dict:
    """One organisation, one agent, two activity types and a ticket with one entry."""
    organization = sb.zammad.add_organization("ACME Corp")
    sb.zammad.add_user("alice@example.com", "Alice", "Archer")
    support = sb.zammad.add_type("Support")
    sb.zammad.add_type("Development", note="code")
    ticket = sb.zammad.add_ticket(
        "Login page is blank", organization_id=organization["id"], customer_email="dana.dunn@acme.example"
    )
    entry = sb.zammad.add_time_accounting(ticket["id"], 15, type_id=support["id"], created_by_email="alice@example.com")
    return {"organization": organization, "ticket": ticket, "entry": entry, "type": support}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def many(sb, count: int, title: str = "Bulk ticket") -> None:
    for number in range(count):
        sb.zammad.insert_ticket(f"{title} {number}")


def ids(response: requests.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [ticket["id"] for ticket in response.json()]


# -- authentication ----------------------------------------------------------------------------
def test_missing_credentials_are_403_and_wrong_tokens_401_with_zammad_error_bodies(sb):
    base = sb.url("zammad") + "/api/v1/users/me"
    missing = requests.get(base, timeout=5)
    assert missing.status_code == 403
    assert missing.json() == {"error": "Authentication required", "error_human": "Authentication required"}
    assert missing.headers["X-Failure"] == "Authentication required"
    wrong_token = requests.get(base, headers={"Authorization": "Token token=nope"}, timeout=5)
    assert wrong_token.status_code == 401
    assert wrong_token.json() == {"error": "Can't find User for Token", "error_human": "Can't find User for Token"}
    wrong_bearer = requests.get(base, headers={"Authorization": "Bearer nope"}, timeout=5)
    assert wrong_bearer.status_code == 401 and wrong_bearer.json()["error"] == "The provided token is invalid."
    basic = requests.get(base, auth=("tracksync@example.com", "secret"), timeout=5)
    assert basic.status_code == 401 and basic.json()["error"] == "Invalid BasicAuth credentials"


@pytest.mark.parametrize("header", ["Token token={t}", 'Token token="{t}"', "Token {t}", "Bearer {t}"])
def test_accepted_token_forms(sb, header):
    response = requests.get(
        sb.url("zammad") + "/api/v1/users/me",
        headers={"Authorization": header.format(t=sb.tokens["zammad"])},
        timeout=5,
    )
    assert response.status_code == 200
    assert response.json()["login"] == "tracksync@example.com" and response.json()["role_ids"] == [1, 2]


def test_unknown_route_is_404_before_authentication(sb, allow_violations):
    response = requests.get(sb.url("zammad") + "/api/v1/nothing/here", timeout=5)
    assert response.status_code == 404
    assert response.json() == {"error": "This page doesn't exist.", "error_human": "This page doesn't exist."}


def test_env_has_url_and_token(sb):
    env = sb.env()
    assert env["ZAMMAD_URL"] == sb.url("zammad") and env["ZAMMAD_TOKEN"] == sb.tokens["zammad"]


# -- search: paging and totals -----------------------------------------------------------------
def test_search_pages_default_50_clamps_per_page_to_200_and_has_no_total(sb, zammad):
    many(sb, 260)
    first = zammad.get("/tickets/search", params={"query": "*"})
    assert isinstance(first.json(), list) and len(first.json()) == 50
    big = zammad.get("/tickets/search", params={"query": "*", "per_page": 200, "page": 1})
    assert len(big.json()) == 200 and "X-Total-Count" not in big.headers
    second = zammad.get("/tickets/search", params={"query": "*", "per_page": 200, "page": 2})
    assert len(second.json()) == 60
    assert not set(ids(big)) & set(ids(second))
    assert ids(zammad.get("/tickets/search", params={"query": "*", "per_page": 200, "page": 3})) == []


def test_per_page_above_200_is_clamped_and_limit_is_an_alias_outside_the_spec(sb, zammad, allow_violations):
    many(sb, 230)
    assert len(zammad.get("/tickets/search", params={"query": "*", "per_page": 500}).json()) == 200
    assert len(zammad.get("/tickets/search", params={"query": "*", "limit": 7}).json()) == 7
    violations = "\n".join(sb.violations)
    assert "'per_page': $: 500 is greater than the maximum of 200" in violations
    assert "unknown query parameter 'limit'" in violations


def test_with_total_count_full_and_only_total_count(sb, zammad):
    many(sb, 30, "Printer")
    many(sb, 5, "Scanner")
    full = zammad.get(
        "/tickets/search", params={"query": "printer", "full": "true", "with_total_count": "true", "per_page": 10}
    ).json()
    assert set(full) == {"record_ids", "assets", "total_count"}
    assert full["total_count"] == 30 and len(full["record_ids"]) == 10
    only = zammad.get("/tickets/search", params={"query": "printer", "only_total_count": "true"}).json()
    assert only == {"total_count": 30}
    assert zammad.get("/tickets/search", params={"query": "*", "only_total_count": "true"}).json() == {
        "total_count": 35
    }


def test_with_total_count_without_full_wraps_records_which_the_spec_does_not_describe(sb, zammad, allow_violations):
    many(sb, 3)
    body = zammad.get("/tickets/search", params={"query": "*", "with_total_count": "true"}).json()
    assert set(body) == {"records", "total_count"} and body["total_count"] == 3 and len(body["records"]) == 3
    assert any("/tickets/search -> 200" in violation for violation in sb.violations)


def test_elasticsearch_result_window_ends_at_10000(sb, zammad):
    many(sb, 3)
    beyond = zammad.get("/tickets/search", params={"query": "bulk", "page": 51, "per_page": 200, "full": "true"})
    assert beyond.json() == {"record_ids": [], "assets": {}, "total_count": 0}


# -- search: queries ---------------------------------------------------------------------------
def test_updated_at_ranges_follow_elasticsearch(sb, zammad):
    times = [
        "2024-05-01T10:00:00.250Z",
        "2024-05-01T10:00:00.750Z",
        "2024-05-02T08:00:00.000Z",
        "2024-05-03T23:59:59.999Z",
        "2024-05-04T00:00:00.000Z",
    ]
    for number, moment in enumerate(times, start=1):
        sb.zammad.insert_ticket(f"Ticket {number}", created_at=at(moment), updated_at=at(moment))

    def found(query: str) -> list[int]:
        return sorted(ids(zammad.get("/tickets/search", params={"query": query, "per_page": 200})))

    assert found(r"updated_at:>2024-05-01T10\:00\:00.250Z") == [2, 3, 4, 5]
    assert found(r"updated_at:>=2024-05-01T10\:00\:00.250Z") == [1, 2, 3, 4, 5]
    # a whole-second bound with ">" rounds up to .999: the rest of that second is skipped
    assert found(r"updated_at:>2024-05-01T10\:00\:00Z") == [3, 4, 5]
    assert found("updated_at:[2024-05-02T08:00:00Z TO *]") == [3, 4, 5]
    assert found("updated_at:[2024-05-01 TO 2024-05-03]") == [1, 2, 3, 4]  # inclusive date-only: whole days
    assert found("updated_at:{2024-05-01 TO 2024-05-04]") == [3, 4, 5]  # exclusive lower skips May 1st
    assert found("updated_at:>2024-05-01") == [3, 4, 5]
    assert found("updated_at:2024-05-01") == [1, 2]
    assert found("updated_at:<2024-05-02") == [1, 2]
    # Lucene ends a term at an unescaped colon: a syntax error, which Zammad answers with no hits
    assert found("updated_at:>2024-05-01T10:00:00Z") == []


def test_id_number_free_text_star_and_boolean_queries(sb, zammad, acme):
    second = sb.zammad.add_ticket("Export to CSV fails", customer_email="eli.east@acme.example")
    sb.zammad.add_ticket("Dark mode", state="closed")

    def found(query: str) -> list[int]:
        return sorted(ids(zammad.get("/tickets/search", params={"query": query})))

    first = acme["ticket"]["id"]
    assert found("*") == [1, 2, 3]
    assert found(f"id:{second['id']}") == [second["id"]]
    assert found(f"number:{acme['ticket']['number']}") == [first]
    assert found("logi") == [first]  # Zammad appends "*" to queries without ":"
    assert found("csv fails") == [second["id"]]
    assert found("title:export OR title:dark") == [2, 3]
    assert found("state.name:closed") == [3]
    assert found("NOT state.name:closed AND organization.name:acme") == [1]
    assert found("customer.email:eli.east@acme.example") == [2]


def test_sort_by_and_order_by(sb, zammad):
    for number in range(3):
        sb.zammad.insert_ticket(f"T{number}", created_at=at(f"2024-01-0{3 - number}T00:00:00Z"))
    assert ids(zammad.get("/tickets/search", params={"query": "*"})) == [1, 2, 3]  # updated_at desc
    assert ids(zammad.get("/tickets/search", params={"query": "*", "sort_by": "id"})) == [3, 2, 1]  # desc default
    assert ids(zammad.get("/tickets/search", params={"query": "*", "sort_by": "updated_at", "order_by": "asc"})) == [
        3,
        2,
        1,
    ]
    sb.zammad.edit_ticket(3, title="T2 again")
    assert ids(zammad.get("/tickets/search", params={"query": "t*"}))[0] == 3


# -- shapes ------------------------------------------------------------------------------------
def test_expand_and_full_shapes(sb, zammad, acme):
    ticket_id = acme["ticket"]["id"]
    plain = zammad.get("/tickets/search", params={"query": "*"}).json()[0]
    assert plain["article_ids"] and plain["ticket_time_accounting_ids"] == [acme["entry"]["id"]]
    assert "state" not in plain and plain["time_unit"] == "15.0"
    expanded = zammad.get("/tickets/search", params={"query": "*", "expand": "true"}).json()[0]
    assert (expanded["state"], expanded["organization"], expanded["customer"], expanded["owner"]) == (
        "open",
        "ACME Corp",
        "dana.dunn@acme.example",
        "-",
    )
    assert expanded["group"] == "Users" and expanded["priority"] == "2 normal"
    full = zammad.get("/tickets/search", params={"query": "*", "full": "true"}).json()
    assert full["record_ids"] == [ticket_id] and full["total_count"] == 1
    assert full["assets"]["Ticket"][str(ticket_id)]["title"] == "Login page is blank"
    assert str(acme["organization"]["id"]) in full["assets"]["Organization"]
    assert {str(plain["customer_id"]), "1", "2"} <= set(full["assets"]["User"])
    show = zammad.get(f"/tickets/{ticket_id}").json()
    assert "article_ids" not in show and show["updated_at"].endswith("Z") and len(show["updated_at"]) == 24
    assert zammad.get(f"/tickets/{ticket_id}", params={"expand": "true"}).json()["organization"] == "ACME Corp"
    missing = zammad.get("/tickets/999")
    assert missing.status_code == 404 and missing.json()["error"] == "Couldn't find Ticket with 'id'=999"


def test_ticket_index_pages_by_id_at_most_100(sb, zammad, allow_violations):
    many(sb, 120)
    sb.zammad.edit_ticket(50, title="Changed")
    first = ids(zammad.get("/tickets", params={"per_page": 500}))
    assert first == list(range(1, 101))
    assert ids(zammad.get("/tickets", params={"per_page": 100, "page": 2})) == list(range(101, 121))
    assert [violation.split(": ", 1)[1] for violation in sb.violations] == [
        "query parameter 'per_page': $: 500 is greater than the maximum of 100"
    ]


def test_users_and_types(sb, zammad, acme):
    me = zammad.get("/users/me").json()
    assert me["email"] == "tracksync@example.com" and me["group_ids"] == {"1": ["full"]}
    alice = zammad.get("/users/search", params={"query": "alice"}).json()
    assert [user["login"] for user in alice] == ["alice@example.com"]
    assert zammad.get(f"/users/{alice[0]['id']}", params={"expand": "true"}).json()["roles"] == ["Agent"]
    assert zammad.get("/users/999").status_code == 404
    types = zammad.get("/time_accounting/types").json()
    assert [(kind["name"], kind["note"], kind["active"]) for kind in types] == [
        ("Support", "", True),
        ("Development", "code", True),
    ]


# -- time accounting ---------------------------------------------------------------------------
def test_time_unit_is_a_decimal_string(sb, zammad, acme):
    ticket_id = acme["ticket"]["id"]
    created = zammad.post(f"/tickets/{ticket_id}/time_accountings", json={"time_unit": 7.5, "type_id": 2})
    assert created.status_code == 201
    assert created.json()["time_unit"] == "7.5" and created.json()["created_by_id"] == 2
    zammad.post(f"/tickets/{ticket_id}/time_accountings", json={"time_unit": "60"})
    listed = zammad.get(f"/tickets/{ticket_id}/time_accountings").json()
    assert [(entry["time_unit"], entry["type_id"]) for entry in listed] == [("15.0", 1), ("7.5", 2), ("60.0", None)]
    single = zammad.get(f"/tickets/{ticket_id}/time_accountings/{listed[1]['id']}").json()
    assert single == listed[1]
    assert zammad.get(f"/tickets/{ticket_id}").json()["time_unit"] == "82.5"
    assert sb.zammad.add_time_accounting(ticket_id, "abc")["time_unit"] == "0.0"  # Ruby's String#to_d


def test_time_accounting_errors(sb, zammad, acme, allow_violations):
    ticket_id = acme["ticket"]["id"]
    missing = zammad.post(f"/tickets/{ticket_id}/time_accountings", json={"time_unit": ""})
    assert missing.status_code == 422 and missing.json()["error"] == "Attribute 'time_unit' required!"
    assert (
        zammad.post(f"/tickets/{ticket_id}/time_accountings", json={"time_unit": 5, "type_id": 99}).status_code == 422
    )
    assert (
        zammad.post("/tickets/999/time_accountings", json={"time_unit": 5}).json()["error"]
        == "Couldn't find Ticket with 'id'=999"
    )
    other = sb.zammad.add_ticket("Other")
    wrong_ticket = zammad.get(f"/tickets/{other['id']}/time_accountings/{acme['entry']['id']}")
    assert wrong_ticket.status_code == 404 and "Ticket::TimeAccounting" in wrong_ticket.json()["error"]


def test_logging_time_bumps_the_ticket_updated_at(sb, zammad, acme):
    ticket_id = acme["ticket"]["id"]

    def updated() -> str:
        return zammad.get(f"/tickets/{ticket_id}").json()["updated_at"]

    before = updated()
    backdated = sb.zammad.add_time_accounting(ticket_id, 30, created_at="2024-01-02T03:04:05.678Z")
    assert backdated["created_at"] == "2024-01-02T03:04:05.678Z"
    after_add = updated()
    assert after_add > before
    cursor = after_add.replace(":", "\\:")
    assert ids(zammad.get("/tickets/search", params={"query": f"updated_at:>={cursor}"})) == [ticket_id]
    edited = sb.zammad.edit_time_accounting(ticket_id, backdated["id"], time_unit=45)
    assert edited["updated_at"] > edited["created_at"] and updated() > after_add
    after_edit = updated()
    sb.zammad.delete_time_accounting(ticket_id, backdated["id"])
    assert updated() > after_edit
    posted = zammad.post(f"/tickets/{ticket_id}/time_accountings", json={"time_unit": 5})
    assert updated() > posted.json()["created_at"] > after_edit
    assert [entry["id"] for entry in sb.zammad.time_accountings] == [acme["entry"]["id"], posted.json()["id"]]


# -- strict mode, webhooks, seeds, faults -------------------------------------------------------
def test_scripted_session_matches_the_spec_response_by_response(sb, zammad):
    """Drift test: every response of a realistic sync session, checked client-side too."""
    problems: list[str] = []
    checked: list[int] = []

    def check(response: requests.Response, *args, **kwargs) -> None:
        path = requests.utils.urlparse(response.request.url).path
        problems.extend(
            contract.validate_response(
                "zammad",
                response.request.method,
                path,
                response.status_code,
                response.json() if response.content else None,
            )
        )
        checked.append(response.status_code)

    seed_zammad.demo(sb)
    zammad.session.hooks["response"].append(check)
    zammad.get("/users/me")
    zammad.get("/users/me", params={"expand": "true"})
    zammad.get("/time_accounting/types")
    for page in (1, 2):
        zammad.get(
            "/tickets/search",
            params={
                "query": "updated_at:[2020-01-01T00:00:00Z TO *]",
                "page": page,
                "per_page": 5,
                "sort_by": "updated_at",
                "order_by": "asc",
            },
        )
    zammad.get("/tickets/search", params={"query": "*", "expand": "true"})
    zammad.get("/tickets/search", params={"query": "*", "full": "true", "with_total_count": "true"})
    zammad.get("/tickets/search", params={"query": "*", "only_total_count": "true"})
    zammad.get("/tickets", params={"page": 1, "per_page": 100})
    zammad.get("/tickets/3")
    zammad.get("/tickets/3", params={"expand": "true"})
    entries = zammad.get("/tickets/3/time_accountings").json()
    zammad.get(f"/tickets/3/time_accountings/{entries[0]['id']}")
    zammad.post("/tickets/3/time_accountings", json={"time_unit": "60.0", "type_id": 1})
    zammad.post("/tickets/3/time_accountings", json={"time_unit": 10, "type_id": None, "ticket_article_id": None})
    zammad.get("/users/3")
    zammad.get("/users/search", params={"query": "alice", "expand": "true"})
    zammad.get("/users/search", params={"query": "*", "full": "true"})
    zammad.get("/tickets/999")
    zammad.get("/tickets/999/time_accountings")
    assert problems == [] and sb.violations == []
    assert len(checked) == 20 and {200, 201, 404} == set(checked)


def test_webhook_request_is_signed_and_has_the_default_payload_shape(sb, acme):
    fresh = sb.zammad.add_ticket('New <b>"ticket"</b> & more', organization_id=acme["organization"]["id"])
    body, headers = webhook_request(sb, fresh["id"], secret="s3cret")
    expected = hmac.new(b"s3cret", body, hashlib.sha1).hexdigest()
    assert headers["X-Hub-Signature"] == f"sha1={expected}"
    assert headers["User-Agent"] == "Zammad User Agent" and headers["X-Zammad-Trigger"]
    assert len(headers["X-Zammad-Delivery"]) == 36
    assert "\\u003cb\\u003e" in body.decode() and b"<b>" not in body  # Rails' HTML-safe JSON escapes
    payload = json.loads(body)
    schema = {"$ref": "urn:tracksync-spec:zammad#/components/schemas/WebhookPayload"}
    assert contract.get_contract("zammad")._schema_errors(schema, payload) == []
    ticket = payload["ticket"]
    assert ticket["title"] == 'New <b>"ticket"</b> & more' and ticket["state"] == "open"
    assert ticket["organization"]["name"] == "ACME Corp" and ticket["customer"]["login"]
    assert "preferences" not in ticket["owner"] and list(ticket) == sorted(ticket)
    assert payload["article"]["ticket_id"] == fresh["id"] and payload["article"]["accounted_time"] == 0
    unsigned_body, unsigned = webhook_request(sb, acme["ticket"]["id"])
    assert "X-Hub-Signature" not in unsigned
    assert headers["X-Zammad-Delivery"] != unsigned["X-Zammad-Delivery"]
    booked = sb.zammad.add_time_accounting(acme["ticket"]["id"], 42.9, with_article=True)
    article = json.loads(webhook_request(sb, acme["ticket"]["id"])[0])["article"]
    assert article["id"] == booked["ticket_article_id"] and article["accounted_time"] == 42 and article["internal"]


def test_seeds_demo_and_bulk():
    sandbox = Sandbox(services=["zammad"])
    seed_zammad.demo(sandbox)
    tickets = sandbox.zammad.tickets
    assert len(tickets) == 10
    assert all(2 <= len(ticket["ticket_time_accounting_ids"]) <= 4 for ticket in tickets)
    assert [kind["active"] for kind in sandbox.zammad.types].count(False) == 1
    bulk = Sandbox(services=["zammad"])
    started = time.monotonic()
    seed_zammad.bulk(bulk, tickets=2000, entries=5, seed=1)
    assert time.monotonic() - started < 2
    assert len(bulk.zammad.tickets) == 2000 and len(bulk.zammad.time_accountings) == 10_000
    first = bulk.zammad.ticket(1)
    entries = [entry for entry in bulk.zammad.time_accountings if entry["ticket_id"] == 1]
    assert first["updated_at"] == max(entry["created_at"] for entry in entries) > first["created_at"]
    assert first["updated_at"] < datetime.now(UTC).isoformat()


def test_faults_apply_to_zammad(sb, zammad):
    sb.faults.configure(error_rate=1.0, services=["zammad"], seed=3)
    statuses = {zammad.get("/users/me").status_code for _ in range(12)}
    assert statuses <= {500, 502, 503} and 500 in statuses
    sb.faults.reset()
    assert zammad.get("/users/me").status_code == 200


def test_newer_zammad_deletes_asterisks_from_the_query(sb, zammad):
    many(sb, 2)
    sb.zammad.strip_asterisks = True
    assert len(ids(zammad.get("/tickets/search", params={"query": "*"}))) == 2
    assert ids(zammad.get("/tickets/search", params={"query": "updated_at:[2020-01-01 TO *]"})) == []


def test_a_deleted_ticket_is_gone_with_its_time_a_restricted_one_is_403_a_merged_one_keeps_its_time(sb, zammad):
    gone, hidden, merged, target = (sb.zammad.add_ticket(f"Ticket {n}") for n in range(4))
    for ticket in (gone, hidden, merged):
        sb.zammad.add_time_accounting(ticket["id"], 15)
    sb.zammad.delete_ticket(gone["id"])
    answer = zammad.get(f"/tickets/{gone['id']}")
    assert answer.status_code == 404 and answer.json()["error"].startswith("Couldn't find Ticket")
    assert zammad.get(f"/tickets/{gone['id']}/time_accountings").status_code == 404
    assert all(e["ticket_id"] != gone["id"] for e in sb.zammad.time_accountings)

    sb.zammad.restrict_ticket(hidden["id"])
    assert zammad.get(f"/tickets/{hidden['id']}").status_code == 403
    assert zammad.get(f"/tickets/{hidden['id']}/time_accountings").status_code == 403
    listed = ids(zammad.get("/tickets/search", params={"query": "*"}))
    assert hidden["id"] not in listed and gone["id"] not in listed and merged["id"] in listed

    before = sb.zammad.ticket(target["id"])["updated_at"]
    sb.zammad.merge_ticket(merged["id"], target["id"])
    assert zammad.get(f"/tickets/{merged['id']}", params={"expand": "true"}).json()["state"] == "merged"
    assert [e["ticket_id"] for e in zammad.get(f"/tickets/{merged['id']}/time_accountings").json()] == [merged["id"]]
    assert sb.zammad.ticket(target["id"])["updated_at"] > before
    with pytest.raises(ValueError):
        sb.zammad.merge_ticket(target["id"], merged["id"])  # not into a merged ticket


def test_an_admin_deletes_a_ticket_over_the_api(sb, zammad, allow_violations):  # noqa: F811
    ticket = sb.zammad.add_ticket("Spam")
    sb.zammad.add_time_accounting(ticket["id"], 5)
    assert zammad.delete(f"/tickets/{ticket['id']}").status_code == 200
    assert zammad.get(f"/tickets/{ticket['id']}").status_code == 404
    assert zammad.delete(f"/tickets/{ticket['id']}").status_code == 404
    assert sb.zammad.time_accountings == []

"""The Microsoft Graph stand-in: token endpoint, users, mailboxSettings and calendarView/delta
(paging, delta rounds, removals, recurring series, zones), auth errors and throttling."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sandbox_testkit import sb  # noqa: F401 (pytest fixture)

from sandbox import seed_graph


def window(days_back: int = 90, days_ahead: int = 30) -> dict[str, str]:
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "startDateTime": (now - timedelta(days=days_back)).isoformat().replace("+00:00", "Z"),
        "endDateTime": (now + timedelta(days=days_ahead)).isoformat().replace("+00:00", "Z"),
    }


def get_token(sb, **overrides) -> requests.Response:
    env = sb.graph.env(sb.url("graph"))
    form = {
        "client_id": env["GRAPH_CLIENT_ID"],
        "client_secret": env["GRAPH_CLIENT_SECRET"],
        "scope": "https://graph.microsoft.com/.default",
        "grant_type": "client_credentials",
    }
    tenant = overrides.pop("tenant", env["GRAPH_TENANT_ID"])
    form.update(overrides)
    return requests.post(f"{sb.url('graph')}/{tenant}/oauth2/v2.0/token", data=form, timeout=5)


class Graph:
    def __init__(self, sb, page_size: int = 50) -> None:
        self.sb = sb
        self.session = requests.Session()
        self.session.headers["Authorization"] = "Bearer " + get_token(sb).json()["access_token"]
        self.session.headers["Prefer"] = f'outlook.timezone="UTC", odata.maxpagesize={page_size}'

    def get(self, path_or_url: str, **params) -> requests.Response:
        url = path_or_url if "://" in path_or_url else f"{self.sb.url('graph')}/v1.0/{path_or_url}"
        return self.session.get(url, params=params or None, timeout=5)

    def round(self, mail: str, link: str | None = None, **params) -> tuple[list[dict], str, int]:
        """(every row, the delta link, pages) of one delta round."""
        response = self.get(link) if link else self.get(f"users/{mail}/calendarView/delta", **(params or window()))
        rows, pages = [], 0
        while True:
            assert response.status_code == 200, response.text
            body = response.json()
            rows += body["value"]
            pages += 1
            if "@odata.deltaLink" in body:
                return rows, body["@odata.deltaLink"], pages
            response = self.get(body["@odata.nextLink"])


@pytest.fixture
def demo(sb):
    return seed_graph.demo(sb)


def test_token_errors_name_what_is_wrong(sb):
    assert get_token(sb).json()["token_type"] == "Bearer"
    wrong_tenant = get_token(sb, tenant="nope.example")
    assert wrong_tenant.status_code == 400 and wrong_tenant.json()["error_codes"] == [90002]
    wrong_client = get_token(sb, client_id="00000000-0000-0000-0000-000000000000")
    assert wrong_client.status_code == 400 and wrong_client.json()["error"] == "unauthorized_client"
    wrong_secret = get_token(sb, client_secret="not-it")
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "invalid_client"
    assert sb.graph.client_secret not in wrong_secret.text
    assert get_token(sb, scope="https://foo.microsoft.com/.default").json()["error"] == "invalid_scope"
    # the request log never keeps the secret
    assert all(sb.graph.client_secret not in str(r.body) for r in sb.requests)


def test_users_page_with_next_links_and_list_users_without_mail(sb, demo):
    graph = Graph(sb)
    first = graph.get("users", **{"$top": "2", "$select": "id,mail"}).json()
    assert len(first["value"]) == 2 and first["@odata.nextLink"].startswith(sb.url("graph"))
    second = graph.get(first["@odata.nextLink"]).json()
    mails = [u["mail"] for u in first["value"] + second["value"]]
    assert mails == ["ann@acme.example", "bob@acme.example", "chandra@acme.example", None]
    assert "@odata.nextLink" not in second


def test_mailbox_settings_give_windows_and_iana_zones(sb, demo):
    graph = Graph(sb)
    zones = [graph.get(f"users/{m}/mailboxSettings").json()["timeZone"] for m, _, _ in seed_graph.DEMO_MAILBOXES]
    assert zones == ["W. Europe Standard Time", "Pacific Standard Time", "Asia/Kolkata"]


def test_a_delta_round_pages_to_the_delta_link_and_the_next_round_has_only_changes(sb, demo):
    graph = Graph(sb, page_size=20)
    mail = "ann@acme.example"
    rows, link, pages = graph.round(mail)
    assert pages == 4 and len(rows) == 66 == len({r["id"] for r in rows})
    unchanged, link, pages = graph.round(mail, link)
    assert unchanged == [] and pages == 1
    ids = demo[mail]
    sb.graph.delete_event(mail, ids["kickoff"])
    moved = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    sb.graph.move_event(mail, ids["design"], moved, moved + timedelta(minutes=45))
    sb.graph.move_event(mail, ids["call"], moved - timedelta(days=200), moved - timedelta(days=200))  # out of window
    new = sb.graph.add_event(mail, "New one", moved, moved + timedelta(hours=1), categories=["Website relaunch"])
    changes, link, _ = graph.round(mail, link)
    by_id = {r["id"]: r for r in changes}
    assert by_id[ids["kickoff"]]["@removed"] == {"reason": "deleted"}
    assert by_id[ids["call"]]["@removed"] == {"reason": "changed"}
    assert by_id[ids["design"]]["start"]["dateTime"] == moved.strftime("%Y-%m-%dT%H:%M:%S") + ".0000000"
    assert by_id[new["id"]]["subject"] == "New one" and len(changes) == 4
    assert graph.round(mail, link)[0] == []


def test_recurring_series_come_expanded_with_the_moved_exception(sb, demo):
    graph = Graph(sb)
    mail = "bob@acme.example"
    rows, _, _ = graph.round(mail)
    weekly = [r for r in rows if r["seriesMasterId"] == demo[mail]["weekly_master"]]
    assert len(weekly) == 8 and sorted({r["type"] for r in weekly}) == ["exception", "occurrence"]
    moved = next(r for r in weekly if r["id"] == demo[mail]["moved"])
    assert moved["type"] == "exception"
    # Pacific wall time 13:00 in UTC (PST or PDT)
    assert moved["start"]["dateTime"][11:13] in ("20", "21") and moved["start"]["timeZone"] == "UTC"
    assert all(r["type"] != "seriesMaster" for r in rows)


def test_outlook_timezone_preference_and_all_day_events(sb, demo):
    graph = Graph(sb)
    graph.session.headers["Prefer"] = 'outlook.timezone="W. Europe Standard Time", odata.maxpagesize=100'
    rows, _, _ = graph.round("ann@acme.example")
    kickoff = next(r for r in rows if r["id"] == demo["ann@acme.example"]["kickoff"])
    assert kickoff["start"]["dateTime"][11:16] == "09:00" and kickoff["start"]["timeZone"] == "W. Europe Standard Time"
    allday = next(r for r in rows if r["id"] == demo["ann@acme.example"]["allday"])
    assert allday["isAllDay"] and allday["start"]["dateTime"].endswith("T00:00:00.0000000")


def test_unknown_delta_token_is_410_and_missing_mailbox_404(sb, demo):
    graph = Graph(sb)
    _, link, _ = graph.round("ann@acme.example")
    sb.graph.expire_delta_tokens("ann@acme.example")
    gone = graph.get(link)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "SyncStateNotFound"
    sb.graph.remove_mailbox("chandra@acme.example")
    missing = graph.get("users/chandra@acme.example/calendarView/delta", **window())
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "MailboxNotEnabledForRESTAPI"
    unknown = graph.get("users/nobody@acme.example/mailboxSettings")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "ErrorInvalidUser"


def test_expired_token_and_missing_permission(sb, demo):
    graph = Graph(sb)
    assert graph.get("users").status_code == 200
    sb.graph.expire_tokens()
    expired = graph.get("users")
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "InvalidAuthenticationToken"
    graph = Graph(sb)
    sb.graph.revoke("Calendars.Read")
    assert graph.get("users/ann@acme.example/calendarView/delta", **window()).status_code == 403
    assert graph.get("users/ann@acme.example/mailboxSettings").status_code == 200


def test_throttle_answers_retry_after_and_concurrency_is_limited_per_mailbox(sb, demo):
    graph = Graph(sb)
    sb.graph.throttle(1, status=503, retry_after=2)
    throttled = graph.get("users")
    assert throttled.status_code == 503 and throttled.headers["Retry-After"] == "2"
    assert graph.get("users").status_code == 200
    sb.graph.handler_latency_ms = 200
    statuses = []

    def read() -> None:
        statuses.append(graph.get("users/ann@acme.example/mailboxSettings").status_code)

    threads = [threading.Thread(target=read) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses).count(429) == 2 and sb.graph.max_in_flight["ann@acme.example"] > 4

"""The Toggl Track stand-in reproduces API v9 and Reports v3 behaviour (formats, traps, throttling)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sandbox_testkit import Api, sb  # noqa: F401 (pytest fixtures)

from sandbox import contract, seed_imports

UTC = UTC


@pytest.fixture
def toggl(sb) -> Api:
    api = Api(sb.url("toggl") + "/api/v9", {})
    api.session.auth = (sb.tokens["toggl"], "api_token")
    return api


@pytest.fixture
def reports(sb) -> Api:
    api = Api(sb.url("toggl") + f"/reports/api/v3/workspace/{sb.toggl.workspace_id}", {})
    api.session.auth = (sb.tokens["toggl"], "api_token")
    return api


def hours_ago(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


def test_env_names_the_root_url_token_and_workspace(sb):
    env = sb.env()
    assert env["TOGGL_URL"] == sb.url("toggl") and env["TOGGL_TOKEN"] == sb.tokens["toggl"]
    assert env["TOGGL_WORKSPACE"] == str(sb.toggl.workspace_id)


@pytest.mark.parametrize(
    "auth",
    [
        None,
        ("wrong-token", "api_token"),
        ("toggl-sandbox-token-0123", "wrong"),
        ("sandbox@example.com", "wrong-password"),
    ],
)
def test_bad_or_missing_credentials_answer_403_with_a_bare_string(sb, auth):
    response = requests.get(sb.url("toggl") + "/api/v9/me", auth=auth, timeout=5)
    assert response.status_code == 403
    assert response.headers["Content-Type"].startswith("application/json")
    assert isinstance(response.json(), str)
    reports = requests.post(
        sb.url("toggl") + f"/reports/api/v3/workspace/{sb.toggl.workspace_id}/search/time_entries",
        json={"start_date": "2024-01-01"},
        auth=auth,
        timeout=5,
    )
    assert reports.status_code == 403


def test_email_and_password_work_too(sb):
    response = requests.get(sb.url("toggl") + "/api/v9/me", auth=("sandbox@example.com", "sandbox-password"), timeout=5)
    assert response.status_code == 200
    assert response.json()["default_workspace_id"] == sb.toggl.workspace_id


def test_entries_use_the_recorded_formats(sb, toggl):
    project = sb.toggl.add_project("Website", client_name="ACME")
    start = datetime(2024, 12, 16, 17, 5, 25, 123456, tzinfo=UTC)
    sb.toggl.add_entry(start, start + timedelta(seconds=3700), "Inbox Zero", project["id"], tags=["billed"])
    sb.toggl.add_entry("2024-12-16T15:00:00+01:00", "2024-12-16T15:30:00+01:00", description=None)
    entries = toggl.get("/me/time_entries", params={"start_date": "2024-12-16", "end_date": "2024-12-17"}).json()
    first, second = entries  # newest start first
    assert first["start"] == "2024-12-16T17:05:25+00:00" and first["stop"] == "2024-12-16T18:07:05+00:00"
    assert first["duration"] == 3700 and first["pid"] == project["id"] and first["tags"] == ["billed"]
    assert first["at"].endswith("Z") and first["server_deleted_at"] is None and first["duronly"] is True
    assert second["start"] == "2024-12-16T14:00:00+00:00" and second["description"] is None
    assert "pid" not in second and second["project_id"] is None and second["tags"] == []
    meta = toggl.get(
        "/me/time_entries", params={"start_date": "2024-12-16", "end_date": "2024-12-17", "meta": "true"}
    ).json()[0]
    assert meta["project_name"] == "Website" and meta["client_name"] == "ACME"


def test_start_and_end_date_go_together_and_dates_are_local_with_exclusive_end(sb, toggl):
    # the user is in Europe/Berlin: 2024-05-01 starts at 2024-04-30T22:00Z
    late = sb.toggl.add_entry("2024-04-30T22:30:00Z", "2024-04-30T23:00:00Z", "Local May 1st")
    sb.toggl.add_entry("2024-05-01T22:30:00Z", "2024-05-01T23:00:00Z", "Local May 2nd")
    day = toggl.get("/me/time_entries", params={"start_date": "2024-05-01", "end_date": "2024-05-02"}).json()
    assert [entry["id"] for entry in day] == [late["id"]]
    rfc = toggl.get(
        "/me/time_entries", params={"start_date": "2024-04-30T22:00:00Z", "end_date": "2024-05-03T00:00:00+02:00"}
    ).json()
    assert len(rfc) == 2
    alone = toggl.get("/me/time_entries", params={"start_date": "2024-05-01"})
    assert alone.status_code == 400 and isinstance(alone.json(), str)
    bad = toggl.get("/me/time_entries", params={"start_date": "01.05.2024", "end_date": "2024-05-02"})
    assert bad.status_code == 400 and isinstance(bad.json(), str)


def test_since_returns_changed_and_deleted_entries(sb, toggl):
    kept = sb.toggl.add_entry(hours_ago(3), hours_ago(2), "Kept")
    gone = sb.toggl.add_entry(hours_ago(5), hours_ago(4), "Gone")
    sb.toggl.delete_entry(gone["id"])
    since = int(time.time()) - 60
    changed = {entry["id"]: entry for entry in toggl.get("/me/time_entries", params={"since": since}).json()}
    assert set(changed) == {kept["id"], gone["id"]}
    assert changed[gone["id"]]["server_deleted_at"] is not None and changed[kept["id"]]["server_deleted_at"] is None
    assert changed[gone["id"]]["server_deleted_at"].endswith("+00:00")
    listed = toggl.get("/me/time_entries").json()  # without filters: the last days, deleted ones left out
    assert [entry["id"] for entry in listed] == [kept["id"]]
    assert [entry["id"] for entry in sb.toggl.entries] == [kept["id"]]
    assert toggl.get("/me/time_entries", params={"since": int(time.time()) + 60}).json() == []


def test_since_and_before_together_is_400_with_the_real_bare_string(sb, toggl):
    response = toggl.get("/me/time_entries", params={"since": 1734305120, "before": "2024-12-16T03:25:20+01:00"})
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.text == "\"'since' and 'before' can not be present simultaneously\""


def test_running_entry_has_null_stop_and_negative_duration_and_current_is_null_when_idle(sb, toggl):
    assert toggl.get("/me/time_entries/current").text == "null"
    running = sb.toggl.add_entry(hours_ago(0.5), description="Running")
    current = toggl.get("/me/time_entries/current").json()
    assert current["id"] == running["id"] and current["stop"] is None and current["duration"] == -1
    listed = toggl.get("/me/time_entries").json()[0]
    assert listed["stop"] is None and listed["duration"] < 0
    sb.toggl.edit_entry(running["id"], duration=-int(hours_ago(0.5).timestamp()))  # the legacy encoding
    assert toggl.get("/me/time_entries/current").json()["duration"] < -1_000_000_000
    stopped = sb.toggl.edit_entry(running["id"], stop=datetime.now(UTC))
    assert stopped["stop"] is not None and 1700 <= stopped["duration"] <= 1900
    response = toggl.get("/me/time_entries/current")
    assert response.status_code == 200 and response.text == "null"


def test_quota_exhaustion_answers_402_until_reset(sb, toggl):
    sb.toggl.add_entry(hours_ago(2), hours_ago(1), "Work")
    sb.toggl.set_quota(2)
    assert toggl.get("/me").status_code == 200
    assert toggl.get("/me/time_entries").status_code == 200
    refused = toggl.get("/me/time_entries")
    assert refused.status_code == 402 and isinstance(refused.json(), str)
    assert toggl.get("/me").status_code == 402
    sb.toggl.set_quota(None)
    assert toggl.get("/me/time_entries").status_code == 200


def test_leaky_bucket_answers_429_and_drains(sb, toggl):
    assert sb.toggl.rate_limit is None  # off unless a test switches it on
    sb.toggl.rate_limit = (3, 20.0)
    statuses = [toggl.get("/me").status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200] and 429 in statuses[3:]
    time.sleep(0.15)
    assert toggl.get("/me").status_code == 200


def test_workspace_lists_and_the_151_project_page(sb, toggl):
    wid = sb.toggl.workspace_id
    for number in range(160):
        sb.toggl.add_project(f"Project {number:03d}", client_name="ACME" if number % 2 else None)
    sb.toggl.add_tag("billed")
    first = toggl.get(f"/workspaces/{wid}/projects").json()
    second = toggl.get(f"/workspaces/{wid}/projects", params={"page": 2}).json()
    assert len(first) == 151 and len(second) == 9
    assert first[0]["name"] == "Project 000" and "cid" not in first[0] and first[1]["cid"] == first[1]["client_id"]
    assert [client["name"] for client in toggl.get(f"/workspaces/{wid}/clients").json()] == ["ACME"]
    assert [tag["name"] for tag in toggl.get(f"/workspaces/{wid}/tags").json()] == ["billed"]
    other = toggl.get("/workspaces/1/projects")
    assert other.status_code == 403 and isinstance(other.json(), str)


def test_reports_detailed_search_pages_with_next_headers(sb, reports):
    project = sb.toggl.add_project("Website")
    start = datetime(2024, 3, 4, 8, 0, tzinfo=UTC)
    for number in range(120):
        begin = start + timedelta(hours=number)
        sb.toggl.add_entry(begin, begin + timedelta(minutes=30), f"Task {number}", project["id"])
    sb.toggl.add_entry(hours_ago(1), None, "Running: not in reports")
    body = {"start_date": "2024-03-01", "end_date": "2024-03-31", "page_size": 50}
    seen, pages, row = [], 0, 1
    while True:
        response = reports.post("/search/time_entries", json=dict(body, first_row_number=row))
        assert response.status_code == 200
        rows = response.json()
        pages += 1
        seen += [item["id"] for r in rows for item in r["time_entries"]]
        if "X-Next-Row-Number" not in response.headers:
            break
        row = int(response.headers["X-Next-Row-Number"])
        assert int(response.headers["X-Next-ID"]) not in seen
    assert pages == 3 and len(seen) == len(set(seen)) == 120
    first = reports.post("/search/time_entries", json=body).json()[0]
    assert first["row_number"] == 1 and first["project_id"] == project["id"]
    assert first["time_entries"][0]["seconds"] == 1800 and first["time_entries"][0]["start"].endswith("+01:00")
    empty = reports.post("/search/time_entries", json={})
    assert empty.status_code == 400 and empty.json() == "At least one parameter must be set"


def test_contract_accepts_null_for_current_and_rejects_a_missing_body_elsewhere():
    assert contract.validate_response("toggl", "GET", "/api/v9/me/time_entries/current", 200, None) == []
    assert contract.validate_response("toggl", "GET", "/api/v9/me", 200, None) != []
    assert contract.validate_request("toggl", "GET", "/api/v9/workspaces/1/projects", {}, None) == []
    assert contract.validate_request("toggl", "GET", "/api/v9/me/time_entries", {"since": ["x"]}, None) != []


def test_demo_and_bulk_seeds(sb, toggl):
    seed_imports.toggl_demo(sb)
    entries = sb.toggl.entries
    assert len(entries) == 9 and len(sb.toggl.deleted_entries) == 1
    assert sum(entry["stop"] is None for entry in entries) == 1
    assert any(entry["description"] is None for entry in entries)
    assert any(entry["project_id"] is None for entry in entries)
    started = time.monotonic()
    seed_imports.toggl_bulk(sb, entries=3000)
    assert time.monotonic() - started < 2 and len(sb.toggl.entries) == 3009


def test_strict_session_over_every_endpoint_has_no_violations(sb, toggl, reports):
    """Drift test: a realistic import session, every response also checked client-side."""
    seed_imports.toggl_demo(sb)
    wid = sb.toggl.workspace_id
    today = datetime.now(UTC).date()
    calls = [
        ("/me", {}),
        ("/me", {"with_related_data": "true"}),
        ("/me/workspaces", {}),
        ("/me/time_entries", {}),
        ("/me/time_entries", {"meta": "true"}),
        ("/me/time_entries", {"start_date": str(today - timedelta(days=7)), "end_date": str(today)}),
        ("/me/time_entries", {"since": int(time.time()) - 3600}),
        ("/me/time_entries", {"before": str(today)}),
        ("/me/time_entries/current", {}),
        ("/me/projects", {"include_archived": "true"}),
        ("/me/clients", {}),
        ("/me/tags", {}),
        (f"/workspaces/{wid}", {}),
        (f"/workspaces/{wid}/projects", {"active": "true"}),
        (f"/workspaces/{wid}/clients", {"status": "active"}),
        (f"/workspaces/{wid}/tags", {}),
    ]
    problems = []
    for path, params in calls:
        response = toggl.get(path, params=params)
        assert response.status_code == 200, (path, response.text)
        problems += contract.validate_response(
            "toggl", "GET", "/api/v9" + path, 200, response.json(), dict(response.headers)
        )
    response = reports.post(
        "/search/time_entries",
        json={"start_date": str(today - timedelta(days=7)), "end_date": str(today), "grouped": True},
    )
    assert response.status_code == 200 and response.json()
    problems += contract.validate_response(
        "toggl",
        "POST",
        f"/reports/api/v3/workspace/{wid}/search/time_entries",
        200,
        response.json(),
        dict(response.headers),
    )
    assert problems == [] and sb.violations == []


def test_generic_faults_apply(sb, toggl):
    sb.faults.configure(error_rate=1.0, services=["toggl"], seed=4)
    statuses = {toggl.get("/me").status_code for _ in range(12)}
    assert statuses <= {500, 502, 503} and 500 in statuses
    sb.faults.configure(error_rate=1.0, services=["toggl"], seed=4)
    server_error = next(r for r in (toggl.get("/me") for _ in range(12)) if r.status_code == 500)
    assert server_error.json() == "Internal Server Error"

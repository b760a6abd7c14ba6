"""The Harvest v2 stand-in reproduces the real API's headers, paging, shapes and rate limit."""

from __future__ import annotations

import http.client
import time
from datetime import date, timedelta

import pytest
import requests
from sandbox_testkit import Api, sb  # noqa: F401 (pytest fixtures)

from sandbox import contract, seed_imports

USER_AGENT = "tracksync tests (tests@example.com)"


@pytest.fixture
def harvest(sb) -> Api:
    return Api(
        sb.url("harvest") + "/v2",
        {
            "Authorization": f"Bearer {sb.tokens['harvest']}",
            "Harvest-Account-Id": sb.harvest.account_id,
            "User-Agent": USER_AGENT,
        },
    )


@pytest.fixture
def work(sb):
    """A client, a project, two tasks; returns (project id, task id, other task id)."""
    client = sb.harvest.add_client("ACME Corp")
    project = sb.harvest.add_project("Website", client["id"], code="WEB")
    return project["id"], sb.harvest.add_task("Programming")["id"], sb.harvest.add_task("Meetings")["id"]


def test_env_names_the_root_url_token_and_account(sb):
    env = sb.env()
    assert env["HARVEST_URL"] == sb.url("harvest") and env["HARVEST_TOKEN"] == sb.tokens["harvest"]
    assert env["HARVEST_ACCOUNT_ID"] == sb.harvest.account_id


@pytest.mark.parametrize("missing", ["Authorization", "Harvest-Account-Id"])
def test_missing_token_or_account_id_is_401_invalid_token(sb, missing):
    headers = {
        "Authorization": f"Bearer {sb.tokens['harvest']}",
        "Harvest-Account-Id": sb.harvest.account_id,
        "User-Agent": USER_AGENT,
    }
    del headers[missing]
    response = requests.get(sb.url("harvest") + "/v2/users/me", headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response.json()["error_description"].startswith("The access token provided is expired, revoked")


def test_wrong_token_or_account_is_401_and_missing_user_agent_is_400(sb):
    base = sb.url("harvest") + "/v2/users/me"
    good = {
        "Authorization": f"Bearer {sb.tokens['harvest']}",
        "Harvest-Account-Id": sb.harvest.account_id,
        "User-Agent": USER_AGENT,
    }
    assert requests.get(base, headers=dict(good, Authorization="Bearer nope"), timeout=5).status_code == 401
    assert requests.get(base, headers=dict(good, **{"Harvest-Account-Id": "1"}), timeout=5).status_code == 401
    connection = http.client.HTTPConnection("127.0.0.1", int(sb.url("harvest").rsplit(":", 1)[1]), timeout=5)
    connection.request("GET", "/v2/users/me", headers={k: v for k, v in good.items() if k != "User-Agent"})
    no_agent = connection.getresponse()  # http.client, unlike requests/urllib3, sends no User-Agent of its own
    assert no_agent.status == 400
    connection.close()
    assert requests.get(base, headers=good, timeout=5).status_code == 200


def test_entry_shape_matches_the_documented_example(sb, harvest, work):
    project_id, task_id, _ = work
    entry = sb.harvest.add_entry(
        "2017-03-02", 2.11, project_id, task_id, notes="Adding CSS styling", started_time="3:00pm", ended_time="17:00"
    )
    listed = harvest.get("/time_entries").json()["time_entries"][0]
    single = harvest.get(f"/time_entries/{entry['id']}").json()
    assert listed == single == entry
    assert listed["spent_date"] == "2017-03-02" and listed["hours"] == 2.11 and listed["rounded_hours"] == 2.25
    assert listed["started_time"] == "3:00pm" and listed["ended_time"] == "5:00pm"
    assert listed["project"] == {"id": project_id, "name": "Website"}
    assert listed["client"]["name"] == "ACME Corp" and listed["user"]["name"] == "Sandbox Admin"
    assert listed["created_at"].endswith("Z") and listed["timer_started_at"] is None and listed["is_running"] is False
    missing = harvest.get("/time_entries/999")
    assert missing.status_code == 404 and missing.json() == {"status": 404, "error": "Not Found"}


def test_paging_2500_entries_at_2000_per_page_follows_absolute_links(sb, harvest):
    seed_imports.harvest_bulk(sb, entries=2500)
    first = harvest.get("/time_entries", params={"per_page": 2000, "from": "2000-01-01"}).json()
    assert (first["page"], first["per_page"], first["total_pages"], first["total_entries"]) == (1, 2000, 2, 2500)
    assert len(first["time_entries"]) == 2000 and first["next_page"] == 2 and first["previous_page"] is None
    root = sb.url("harvest")
    assert first["links"]["next"] == f"{root}/v2/time_entries?from=2000-01-01&page=2&per_page=2000"
    assert first["links"]["first"] == f"{root}/v2/time_entries?from=2000-01-01&page=1&per_page=2000"
    second = requests.get(first["links"]["next"], headers=harvest.session.headers, timeout=10).json()
    assert len(second["time_entries"]) == 500 and second["next_page"] is None and second["links"]["next"] is None
    assert second["links"]["previous"] == first["links"]["first"] and second["previous_page"] == 1
    ids = [entry["id"] for entry in first["time_entries"] + second["time_entries"]]
    assert len(set(ids)) == 2500
    dates = [entry["spent_date"] for entry in first["time_entries"] + second["time_entries"]]
    assert dates == sorted(dates, reverse=True)  # newest first


def test_per_page_is_clamped_to_2000_and_defaults_to_2000(sb, harvest, work):
    project_id, task_id, _ = work
    for day in range(3):
        sb.harvest.add_entry(date(2024, 5, 1) + timedelta(days=day), 1, project_id, task_id)
    assert harvest.get("/time_entries").json()["per_page"] == 2000
    assert harvest.get("/time_entries", params={"per_page": 5000}).json()["per_page"] == 2000
    small = harvest.get("/time_entries", params={"per_page": 2, "page": 2}).json()
    assert [e["spent_date"] for e in small["time_entries"]] == ["2024-05-01"] and small["links"]["next"] is None


def test_filters_and_running_entries(sb, harvest, work):
    project_id, task_id, meeting_id = work
    alice = sb.harvest.add_user("alice@example.com", "Alice", "Example")
    old = sb.harvest.add_entry("2024-04-30", 1.0, project_id, task_id)
    may = sb.harvest.add_entry("2024-05-02", 2.0, project_id, meeting_id, user_id=alice["id"], notes="")
    running = sb.harvest.add_entry(date.today(), 0.5, project_id, task_id, is_running=True)

    def ids(**params):
        return [entry["id"] for entry in harvest.get("/time_entries", params=params).json()["time_entries"]]

    assert ids(**{"from": "2024-05-01", "to": "2024-05-31"}) == [may["id"]]
    assert ids(user_id=alice["id"]) == [may["id"]] and ids(task_id=meeting_id) == [may["id"]]
    assert ids(is_running="true") == [running["id"]]
    assert set(ids(is_running="false")) == {old["id"], may["id"]}
    assert may["notes"] is None
    assert ids(updated_since="2000-01-01T00:00:00Z") == [running["id"], may["id"], old["id"]]  # newest first
    time.sleep(1.1)  # updated_at has whole seconds
    edited = sb.harvest.edit_entry(old["id"], notes="Changed")
    assert ids(updated_since=edited["updated_at"]) == [old["id"]]
    current = harvest.get(f"/time_entries/{running['id']}").json()
    assert current["is_running"] is True and current["timer_started_at"] is not None and current["ended_time"] is None
    assert current["hours"] >= 0.5
    stopped = sb.harvest.edit_entry(running["id"], is_running=False)
    assert stopped["is_running"] is False and stopped["timer_started_at"] is None
    sb.harvest.delete_entry(old["id"])
    assert old["id"] not in ids(updated_since="2000-01-01T00:00:00Z")  # deletions leave no trace


def test_rate_limit_answers_429_with_retry_after(sb, harvest):
    assert sb.harvest.rate_limit == (100, 15.0)  # the real limit is on by default
    sb.harvest.rate_limit = (5, 0.5)
    statuses = [harvest.get("/users/me") for _ in range(6)]
    assert [response.status_code for response in statuses[:5]] == [200] * 5
    assert statuses[5].status_code == 429 and statuses[5].headers["Retry-After"] == "1"
    time.sleep(0.55)
    assert harvest.get("/users/me").status_code == 200


def test_project_assignment_links_name_the_user_id(sb, harvest, work):
    body = harvest.get("/users/me/project_assignments").json()
    assignment = body["project_assignments"][0]
    assert assignment["project"]["code"] == "WEB" and len(assignment["task_assignments"]) == 2
    me = harvest.get("/users/me").json()["id"]
    assert body["links"]["first"] == f"{sb.url('harvest')}/v2/users/{me}/project_assignments?page=1&per_page=2000"


def test_demo_and_bulk_seeds(sb):
    seed_imports.harvest_demo(sb)
    entries = sb.harvest.entries
    assert len(entries) == 9 and sum(entry["is_running"] for entry in entries) == 1
    assert any(entry["notes"] is None for entry in entries) and any(entry["is_billed"] for entry in entries)
    assert len({entry["user"]["id"] for entry in entries}) == 2
    started = time.monotonic()
    seed_imports.harvest_bulk(sb, entries=20000, seed=1)
    assert time.monotonic() - started < 2 and len(sb.harvest.entries) == 20009


def test_strict_session_over_every_endpoint_has_no_violations(sb, harvest):
    """Drift test: a realistic import session, every response also checked client-side."""
    seed_imports.harvest_demo(sb)
    today = date.today()
    calls = [
        ("/users/me", {}),
        ("/company", {}),
        ("/users/me/project_assignments", {}),
        ("/clients", {"is_active": "true"}),
        ("/projects", {"is_active": "true"}),
        ("/tasks", {}),
        ("/time_entries", {"from": str(today - timedelta(days=7)), "to": str(today), "per_page": 100}),
        ("/time_entries", {"updated_since": "2000-01-01T00:00:00Z", "is_running": "true"}),
        ("/time_entries", {"page": 3}),
    ]
    problems = []
    for path, params in calls:
        response = harvest.get(path, params=params)
        assert response.status_code == 200, (path, response.text)
        problems += contract.validate_response(
            "harvest", "GET", "/v2" + path, 200, response.json(), dict(response.headers)
        )
    entry_id = sb.harvest.entries[0]["id"]
    response = harvest.get(f"/time_entries/{entry_id}")
    problems += contract.validate_response("harvest", "GET", f"/v2/time_entries/{entry_id}", 200, response.json())
    assert problems == [] and sb.violations == []


def test_generic_faults_apply(sb, harvest):
    sb.faults.configure(rate_429=1.0, retry_after=3, services=["harvest"])
    response = harvest.get("/users/me")
    assert response.status_code == 429 and response.headers["Retry-After"] == "3"
    sb.faults.reset()
    assert harvest.get("/users/me").status_code == 200

"""Strict mode: requests and responses are checked against the contracts in sandbox/contracts."""

from __future__ import annotations

import requests
from sandbox_testkit import allow_violations, gitea, kimai, kimai_project, sb  # noqa: F401 (pytest fixtures)

from sandbox import contract, seed


def test_strict_mode_records_bad_requests_but_still_serves_them(sb, gitea, kimai, kimai_project, allow_violations):
    sb.gitea.add_org("acme")
    sb.gitea.add_repo("acme", "web")
    assert gitea.get("/repos/acme/web/issues", params={"per_page": 100}).status_code == 200
    assert gitea.get("/repos/acme/web/pulls").status_code == 404
    kimai.post("/activities", json={"name": "Work", "project": str(kimai_project["id"]), "visible": "yes"})
    kimai.get("/activities", params={"projects": "1,2"})
    violations = "\n".join(sb.violations)
    assert "unknown query parameter 'per_page'" in violations
    assert "/api/v1/repos/acme/web/pulls: path not in the spec" in violations
    assert "$.project: '1' is not of type 'integer'" in violations
    assert "$.visible: 'yes' is not of type 'boolean'" in violations
    assert "unknown query parameter 'projects'" in violations


def test_validate_response_catches_drift():
    good = {
        "id": 1,
        "name": "A",
        "visible": True,
        "billable": True,
        "project": None,
        "number": None,
        "color": None,
        "color-safe": "#d2d6de",
        "metaFields": [],
        "comment": None,
        "parentTitle": None,
        "teams": [],
    }
    assert contract.validate_response("kimai", "GET", "/api/activities/1", 200, good) == []
    extra = dict(good, modifiedAt="2024-05-02T08:00:00+0200")
    missing = {key: value for key, value in good.items() if key != "comment"}
    check = lambda body: contract.validate_response("kimai", "GET", "/api/activities/1", 200, body)  # noqa: E731
    assert "Additional properties are not allowed" in check(extra)[0]
    assert "'comment' is a required property" in check(missing)[0]
    timesheet = {
        "id": 1,
        "begin": "2024-05-02T08:00:00+0200",
        "end": None,
        "duration": 0,
        "description": None,
        "activity": 1,
        "project": 1,
        "tags": [],
        "user": 1,
        "metaFields": [],
        "exported": False,
        "billable": True,
        "break": 0,
    }
    assert contract.validate_response("kimai", "GET", "/api/timesheets/1", 200, timesheet) == []
    rfc3339 = dict(timesheet, begin="2024-05-02T08:00:00+02:00")  # RFC 3339 is not Kimai's format
    assert (
        "$.begin: '2024-05-02T08:00:00+02:00' does not match"
        in contract.validate_response("kimai", "GET", "/api/timesheets/1", 200, rfc3339)[0]
    )
    assert contract.validate_response("gitea", "GET", "/api/v1/repos/a/b/issues/1", 200, {"pull_request": None}) == []
    assert contract.validate_response("gitea", "GET", "/api/v1/repos/a/b/issues/1", 200, {"number": "1"}) != []


def test_scripted_session_matches_the_spec_response_by_response(sb, gitea, kimai):
    """Drift test: every response of a realistic session, checked client-side against the spec."""
    checked: list[tuple[str, str, int]] = []
    problems: list[str] = []

    def check(response: requests.Response, *args, **kwargs) -> None:
        request = response.request
        path = requests.utils.urlparse(request.url).path
        body = response.json() if response.content else None
        problems.extend(
            contract.validate_response(
                service, request.method, path, response.status_code, body, dict(response.headers)
            )
        )
        checked.append((request.method, path, response.status_code))

    seed.demo(sb)
    service = "gitea"
    gitea.session.hooks["response"].append(check)
    gitea.get("/version")
    gitea.get("/user")
    gitea.get("/orgs/acme/repos")
    gitea.get("/user/repos", params={"limit": 2})
    gitea.get("/users/alice/repos")
    gitea.get("/repos/search", params={"q": "web"})
    gitea.get("/repos/acme/web")
    for page in (1, 2):
        gitea.get("/repos/acme/api/issues", params={"state": "all", "limit": 3, "page": page})
    gitea.get("/repos/acme/web/issues", params={"type": "pulls", "state": "closed"})
    gitea.get("/repos/acme/web/issues/4")
    gitea.post("/repos/acme/docs/issues", json={"title": "Filed by the drift test", "body": "x"})
    gitea.patch("/repos/acme/docs/issues/6", json={"state": "closed"})
    gitea.get("/repos/acme/nope/issues")

    service = "kimai"
    kimai.session.hooks["response"].append(check)
    kimai.get("/ping")
    kimai.get("/version")
    kimai.get("/users/me")
    customer = kimai.post(
        "/customers",
        json={
            "name": "ACME",
            "country": "DE",
            "currency": "EUR",
            "timezone": "Europe/Berlin",
            "visible": True,
            "billable": True,
        },
    ).json()
    kimai.get("/customers", params={"visible": 3, "full": 1})
    kimai.patch(f"/customers/{customer['id']}", json={"name": "ACME Corp", "visible": True, "billable": True})
    project = kimai.post(
        "/projects",
        json={"name": "web", "customer": customer["id"], "visible": True, "billable": True, "globalActivities": True},
    ).json()
    kimai.get("/projects", params={"customer": customer["id"], "ignoreDates": 1})
    kimai.get(f"/projects/{project['id']}")
    activity = kimai.post(
        "/activities",
        json={
            "name": "Login page is blank",
            "project": project["id"],
            "comment": "gitea:acme/web#1",
            "visible": True,
            "billable": True,
        },
    ).json()
    kimai.post("/activities", json={"name": "Global work", "visible": True, "billable": False})
    kimai.post("/activities", json={"name": "<b>", "project": project["id"], "visible": True, "billable": True})
    kimai.patch(
        f"/activities/{activity['id']}",
        json={"name": "Login page is blank (closed)", "visible": False, "billable": True},
    )
    kimai.get("/activities", params={"project": project["id"], "visible": 3})
    kimai.get(f"/activities/{activity['id']}")
    kimai.get("/activities/999")
    running = kimai.post(
        "/timesheets",
        json={
            "project": project["id"],
            "activity": activity["id"] + 1,
            "begin": "2024-05-02T08:00:00",
            "description": "running",
        },
    ).json()
    kimai.post(
        "/timesheets",
        params={"full": "true"},
        json={
            "project": project["id"],
            "activity": activity["id"] + 1,
            "begin": "2024-05-02T10:00:00",
            "end": "2024-05-02T11:00:00",
            "tags": "gitea",
            "exported": False,
            "billable": True,
        },
    )
    kimai.get("/timesheets", params={"user": "all", "size": 1, "page": 2, "orderBy": "begin", "order": "ASC"})
    kimai.get("/timesheets", params={"full": "true", "tags[]": "gitea", "projects[]": [project["id"]]})
    kimai.get("/timesheets/recent")
    kimai.get("/timesheets/active")
    kimai.patch(f"/timesheets/{running['id']}", json={"end": "2024-05-02T09:00:00"})
    kimai.get(f"/timesheets/{running['id']}")
    kimai.get("/timesheets", params={"page": 9})
    kimai.delete(f"/timesheets/{running['id']}")

    assert problems == []
    assert len(checked) == 40
    statuses = {status for _, _, status in checked}
    assert {200, 201, 204, 400, 404} <= statuses


def test_a_sandbox_bug_answers_500_and_is_recorded(sb, gitea, allow_violations):
    sb.gitea.route("GET", "/boom", lambda request: 1 / 0)
    assert gitea.get("/boom").status_code == 500
    assert any("sandbox error" in violation and "ZeroDivisionError" in violation for violation in sb.violations)

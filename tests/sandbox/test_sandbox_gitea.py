"""The Gitea stand-in reproduces the real API's paging, filtering and shapes."""

from __future__ import annotations

import time

import pytest
import requests
from sandbox_testkit import allow_violations, gitea, sb  # noqa: F401 (pytest fixtures)

from sandbox.gitea_json import format_time


@pytest.fixture
def web(sb):
    sb.gitea.add_org("acme")
    sb.gitea.add_repo("acme", "web")
    return sb


def test_missing_or_wrong_token_gives_gitea_style_401(sb, web):
    base = sb.url("gitea") + "/api/v1"
    missing = requests.get(base + "/repos/acme/web/issues")
    wrong = requests.get(base + "/repos/acme/web/issues", headers={"Authorization": "token nope"})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert set(response.json()) == {"message", "url"}
        assert response.json()["url"].startswith(sb.url("gitea"))
    assert missing.json()["message"] == "token is required"


@pytest.mark.parametrize("auth", ["header-token", "header-bearer", "query-token", "query-access_token"])
def test_accepted_token_forms(sb, web, auth):
    token = sb.tokens["gitea"]
    where, name = auth.split("-")
    headers = {"Authorization": f"{name} {token}"} if where == "header" else {}
    params = {name: token} if where == "query" else {}
    response = requests.get(sb.url("gitea") + "/api/v1/user", headers=headers, params=params)
    assert response.status_code == 200
    assert response.json()["login"] == "tracksync-bot"


def test_version_is_public(sb):
    assert requests.get(sb.url("gitea") + "/api/v1/version").json() == {"version": "1.26.3"}


def test_limit_is_clamped_to_50_with_total_and_absolute_links(web, gitea, sb):
    for number in range(120):
        sb.gitea.add_issue("acme", "web", f"Issue {number}")
    response = gitea.get("/repos/acme/web/issues", params={"limit": 100, "page": 2})
    assert response.status_code == 200
    assert len(response.json()) == 50
    assert response.headers["X-Total-Count"] == "120"
    links = dict(reversed(part.split("; ")) for part in response.headers["Link"].split(","))
    root = sb.url("gitea")
    assert links['rel="next"'] == f"<{root}/api/v1/repos/acme/web/issues?limit=100&page=3>"
    assert links['rel="last"'] == f"<{root}/api/v1/repos/acme/web/issues?limit=100&page=3>"
    assert links['rel="first"'] == f"<{root}/api/v1/repos/acme/web/issues?limit=100&page=1>"
    assert links['rel="prev"'] == f"<{root}/api/v1/repos/acme/web/issues?limit=100&page=1>"
    last = gitea.get("/repos/acme/web/issues", params={"limit": 100, "page": 3})
    assert len(last.json()) == 20 and 'rel="next"' not in last.headers["Link"]


def test_default_page_size_is_30_and_one_page_has_no_link(web, gitea, sb):
    for number in range(31):
        sb.gitea.add_issue("acme", "web", f"Issue {number}")
    assert len(gitea.get("/repos/acme/web/issues").json()) == 30
    sb.gitea.add_repo("acme", "small")
    sb.gitea.add_issue("acme", "small", "Only one")
    assert "Link" not in gitea.get("/repos/acme/small/issues").headers


def test_plain_issues_carry_pull_request_null_and_prs_carry_meta(web, gitea, sb):
    sb.gitea.add_issue("acme", "web", "A bug")
    sb.gitea.add_issue("acme", "web", "A fix", pull=True, state="closed")
    issues = {i["number"]: i for i in gitea.get("/repos/acme/web/issues", params={"state": "all"}).json()}
    assert "pull_request" in issues[1] and issues[1]["pull_request"] is None
    assert issues[1]["html_url"] == f"{sb.url('gitea')}/acme/web/issues/1"
    assert issues[2]["pull_request"]["merged"] is True
    assert issues[2]["html_url"] == f"{sb.url('gitea')}/acme/web/pulls/2"
    assert issues[2]["repository"] == {"id": 1, "name": "web", "owner": "acme", "full_name": "acme/web"}


def test_state_defaults_to_open_and_type_filters(web, gitea, sb):
    sb.gitea.add_issue("acme", "web", "open issue")
    sb.gitea.add_issue("acme", "web", "closed issue", state="closed")
    sb.gitea.add_issue("acme", "web", "open pr", pull=True)
    titles = lambda **params: [  # noqa: E731
        issue["title"] for issue in gitea.get("/repos/acme/web/issues", params=params).json()
    ]
    assert titles() == ["open pr", "open issue"]  # newest first, closed ones missing
    assert titles(state="all") == ["open pr", "closed issue", "open issue"]
    assert titles(state="closed") == ["closed issue"]
    assert titles(state="all", type="issues") == ["closed issue", "open issue"]
    assert titles(state="all", type="pulls") == ["open pr"]


def test_since_filters_on_updated_time(web, gitea, sb):
    for number in range(3):
        sb.gitea.add_issue("acme", "web", f"Issue {number}")
    time.sleep(1.1)  # Gitea compares whole seconds
    cursor = format_time(sb.gitea.clock.now())
    edited = sb.gitea.edit_issue("acme", "web", 2, title="Issue 1 (renamed)", state="closed")
    assert edited["updated_at"] > sb.gitea.issues("acme", "web")[0]["updated_at"]
    changed = gitea.get("/repos/acme/web/issues", params={"state": "all", "since": cursor}).json()
    assert [issue["number"] for issue in changed] == [2]
    assert changed[0]["closed_at"] == changed[0]["updated_at"]
    # both bounds are inclusive (at whole seconds), so before=<its own updated_at> still has #2
    earlier = gitea.get("/repos/acme/web/issues", params={"state": "all", "before": edited["updated_at"]}).json()
    assert [issue["number"] for issue in earlier] == [3, 2, 1]


def test_bad_since_is_422(web, gitea, allow_violations):
    response = gitea.get("/repos/acme/web/issues", params={"since": "yesterday"})
    assert response.status_code == 422 and "message" in response.json()


def test_unknown_repo_and_org_are_404_with_errors_list(web, gitea):
    for path in ("/repos/acme/nope", "/repos/acme/nope/issues", "/orgs/nobody/repos", "/repos/acme/web/issues/9"):
        response = gitea.get(path)
        assert response.status_code == 404
        assert response.json()["message"] == "not found" and isinstance(response.json()["errors"], list)


def test_owner_and_repo_names_are_case_insensitive(web, gitea):
    assert gitea.get("/repos/ACME/Web").json()["full_name"] == "acme/web"


def test_repo_lists_and_search(web, gitea, sb):
    sb.gitea.add_repo("acme", "api")
    assert [r["name"] for r in gitea.get("/orgs/acme/repos").json()] == ["api", "web"]
    assert [r["name"] for r in gitea.get("/users/acme/repos").json()] == ["api", "web"]
    found = gitea.get("/repos/search", params={"q": "we"}).json()
    assert found["ok"] is True and [r["full_name"] for r in found["data"]] == ["acme/web"]


def test_patch_issue_answers_201_and_deleted_repo_is_gone(web, gitea, sb):
    created = gitea.post("/repos/acme/web/issues", json={"title": "Via API"})
    assert created.status_code == 201 and created.json()["number"] == 1
    edited = gitea.patch("/repos/acme/web/issues/1", json={"state": "closed"})
    assert edited.status_code == 201 and edited.json()["state"] == "closed"
    sb.gitea.delete_repo("acme", "web")
    assert gitea.get("/repos/acme/web/issues/1").status_code == 404

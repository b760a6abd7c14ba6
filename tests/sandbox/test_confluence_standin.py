"""The Confluence stand-in, both deployments, through plain requests and the j-found client: pages
with storage bodies and versions, children over several pages, CQL descendants (+ lastmodified),
the version check (409), unique titles, delete, labels, content properties, version restore, the
demo seed and the hostile-case hooks. Every test fails on a contract violation."""

from __future__ import annotations

import base64
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from common.clients.confluence import ConfluenceClient, PageConflict
from common.config import load_settings
from common.confluence_storage import find_jira_macros, find_tasks
from common.errors import AuthError, NotFound
from common.http import RequestCounter
from sandbox import Sandbox, seed_atlassian


@pytest.fixture(params=["cloud", "datacenter"])
def sb(request: pytest.FixtureRequest):
    sandbox = Sandbox(services=["jira", "confluence"], atlassian=request.param).start()
    sandbox.seed = seed_atlassian.demo(sandbox)  # type: ignore[attr-defined]
    yield sandbox
    threading.Thread(target=sandbox.stop, daemon=True).start()
    assert sandbox.violations == []


def client(sb: Sandbox) -> ConfluenceClient:
    env = sb.env()
    settings = load_settings(None, environ={"CACHE_ENABLED": "false", "HTTP_RETRY_BACKOFF": "0", "HTTP_TIMEOUT": "5"})
    made = ConfluenceClient(
        settings,
        RequestCounter(),
        url=env["CONFLUENCE_URL"],
        token=env["CONFLUENCE_TOKEN"],
        email=env.get("CONFLUENCE_EMAIL"),
        deployment=sb.confluence.deployment,  # type: ignore[attr-defined]
    )
    made.current_user()
    return made


def v1(sb: Sandbox) -> tuple[str, dict[str, str]]:
    env = sb.env()
    if sb.confluence.cloud:  # type: ignore[attr-defined]
        basic = base64.b64encode(f"{env['CONFLUENCE_EMAIL']}:{env['CONFLUENCE_TOKEN']}".encode()).decode()
        return env["CONFLUENCE_URL"] + "/rest/api", {"Authorization": f"Basic {basic}"}
    return env["CONFLUENCE_URL"] + "/rest/api", {"Authorization": f"Bearer {env['CONFLUENCE_TOKEN']}"}


def test_seed_tree_tasks_macros_and_mentions(sb):
    seed = sb.seed
    wiki = client(sb)
    cloud = sb.confluence.cloud
    kickoff = wiki.get_page(seed.pages[seed_atlassian.TASK_PAGE])
    own = find_tasks(kickoff.body)
    first_list = kickoff.body[: kickoff.body.index("<h2>Follow-ups</h2>")]
    assert first_list.count("<ac:task>\n") == 4  # two open, one complete, one nested
    assert kickoff.body.count("<ac:task>\n") == 5  # and task 5 in a second list (the CDATA one is text)
    assert [t.task_id for t in own] == ["1", "2", "3", "5"]
    assert [t.task_id for t in own if t.status == "incomplete"] == seed.open_tasks[kickoff.id]
    assert any(t.status == "complete" for t in own)
    first = next(t for t in own if t.task_id == "1")
    assert first.due is not None and first.mentions
    assert ("account-id" if cloud else "userkey") in kickoff.body
    table = wiki.get_page(seed.pages[seed_atlassian.TABLE_PAGE])
    assert [t.task_id for t in find_tasks(table.body)] == ["1", "2"]
    apollo = wiki.get_page(seed.pages["Project Apollo"])
    assert [m.key for m in find_jira_macros(apollo.body)] == [seed.issues["epic"]]
    # three levels: root > Project Apollo > Apollo kickoff > Apollo kickoff actions
    assert table.parent_id == kickoff.id and kickoff.parent_id == apollo.id and apollo.parent_id == seed.root_id
    assert sb.env()["CONFLUENCE_PAGES"] == seed.root_id


def test_children_over_several_pages_and_descendants(sb):
    wiki = client(sb)
    root = sb.seed.root_id
    sb.confluence.max_limit = 5
    children, complete = wiki.child_pages(root)
    assert complete and len(children) == 12
    assert [c.title for c in children][:2] == ["Project Apollo", "Meeting notes 01"]
    assert sb.count("confluence", "GET") >= 1 + 3  # current user + three pages of children
    pages, complete = wiki.descendants(root)
    assert complete and len(pages) == len(sb.seed.pages) - 1
    assert all(page.body is not None and page.version == 1 for page in pages)
    later = datetime.now(UTC) + timedelta(minutes=2)
    assert wiki.descendants(root, modified_since=later)[0] == []
    sb.confluence.edit_page(sb.seed.pages["Apollo notes"], body="<p>changed</p>")
    recent = datetime.now(UTC) - timedelta(minutes=1)
    changed = wiki.descendants(root, modified_since=recent)[0]
    assert len(changed) == len(sb.seed.pages) - 1  # minute precision: everything seeded a moment ago
    sub = wiki.descendants(sb.seed.pages["Project Apollo"])[0]
    assert {p.title for p in sub} == {"Apollo kickoff", "Apollo kickoff actions", "Apollo notes"}


def test_update_needs_the_next_version_and_409_keeps_the_colleague(sb):
    wiki = client(sb)
    page = wiki.get_page(sb.seed.pages["Apollo notes"])
    sb.confluence.collide_on_next_put(page.id, lambda body: body + "<p>colleague</p>")
    with pytest.raises(PageConflict):
        wiki.update_page(page, page.body + "<p>mine</p>")
    current = wiki.get_page(page.id)
    assert current.version == 2 and current.body.endswith("<p>colleague</p>")
    saved = wiki.update_page(current, current.body + "<p>mine</p>")
    assert saved.version == 3
    assert sb.confluence.pages[page.id].body.endswith("<p>colleague</p><p>mine</p>")
    with pytest.raises(PageConflict):  # a stale version is always refused
        wiki.update_page(current, "<p>old</p>")


def test_missing_and_restricted_pages(sb):
    wiki = client(sb)
    with pytest.raises(NotFound):
        wiki.get_page("999999")
    hidden = sb.seed.pages["Meeting notes 03"]
    sb.confluence.restrict(hidden, 403)
    with pytest.raises(AuthError, match="403"):
        wiki.get_page(hidden)
    other = sb.seed.pages["Meeting notes 04"]
    sb.confluence.restrict(other, 404)  # as Cloud answers for a page the user may not see
    with pytest.raises(NotFound):
        wiki.get_page(other)
    children, _ = wiki.child_pages(sb.seed.root_id)
    assert hidden not in {c.id for c in children}
    assert hidden not in {p.id for p in wiki.descendants(sb.seed.root_id)[0]}


def test_create_unique_titles_delete_labels_properties_restore(sb):
    base, headers = v1(sb)
    root = sb.seed.root_id
    page = {
        "type": "page",
        "title": "New page",
        "space": {"key": "ENG"},
        "ancestors": [{"id": root}],
        "body": {"storage": {"value": "<p>v1</p>", "representation": "storage"}},
    }
    made = requests.post(base + "/content", json=page, headers=headers, timeout=5)
    assert made.status_code == 200
    page_id = made.json()["id"]
    assert requests.post(base + "/content", json=page, headers=headers, timeout=5).status_code == 400
    if sb.confluence.cloud:
        env = sb.env()
        v2 = env["CONFLUENCE_URL"] + "/api/v2/pages"
        space_id = sb.confluence.spaces["ENG"].id
        body = {
            "spaceId": space_id,
            "status": "current",
            "title": "New page",
            "parentId": root,
            "body": {"representation": "storage", "value": "<p>x</p>"},
        }
        assert requests.post(v2, json=body, headers=headers, timeout=5).status_code == 400
        body["title"] = "Another page"
        assert requests.post(v2, json=body, headers=headers, timeout=5).status_code == 200

    labels = requests.post(
        base + f"/content/{page_id}/label",
        json=[{"prefix": "global", "name": "tracksync-test"}],
        headers=headers,
        timeout=5,
    )
    assert labels.status_code == 200 and sb.confluence.pages[page_id].labels == ["tracksync-test"]
    found = requests.get(
        base + "/content/search", params={"cql": 'label = "tracksync-test"'}, headers=headers, timeout=5
    )
    assert [r["id"] for r in found.json()["results"]] == [page_id]

    prop = {"key": "tracksync-epic", "value": {"issue": "10000"}}
    assert (
        requests.post(base + f"/content/{page_id}/property", json=prop, headers=headers, timeout=5).status_code == 200
    )
    assert (
        requests.post(base + f"/content/{page_id}/property", json=prop, headers=headers, timeout=5).status_code == 409
    )
    got = requests.get(base + f"/content/{page_id}/property/tracksync-epic", headers=headers, timeout=5).json()
    assert got["value"] == {"issue": "10000"} and got["version"]["number"] == 1

    sb.confluence.edit_page(page_id, body="<p>v2 by alice</p>")
    restore = {"operationKey": "restore", "params": {"versionNumber": 1, "message": "undo"}}
    answer = requests.post(base + f"/content/{page_id}/version", json=restore, headers=headers, timeout=5)
    assert answer.status_code == 200 and answer.json()["number"] == 3
    assert sb.confluence.pages[page_id].body == "<p>v1</p>"
    old = requests.get(
        base + f"/content/{page_id}", params={"version": "2", "expand": "body.storage"}, headers=headers, timeout=5
    ).json()
    assert old["body"]["storage"]["value"] == "<p>v2 by alice</p>"

    assert requests.delete(base + f"/content/{page_id}", headers=headers, timeout=5).status_code == 204
    assert requests.get(base + f"/content/{page_id}", headers=headers, timeout=5).status_code == 404
    # the title is free again
    assert requests.post(base + "/content", json=page, headers=headers, timeout=5).status_code == 200


def test_throttle_and_fail_next_hooks(sb):
    base, headers = v1(sb)
    sb.confluence.throttle(1, retry_after=2)
    answer = requests.get(base + "/user/current", headers=headers, timeout=5)
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "2"
    assert requests.get(base + "/user/current", headers=headers, timeout=5).status_code == 200
    sb.confluence.fail_next("PUT", r"/content/", 503)
    wiki = client(sb)
    page = wiki.get_page(sb.seed.pages["Apollo notes"])
    started = time.monotonic()
    saved = wiki.update_page(page, "<p>after a 503</p>")  # the client retries an idempotent PUT
    assert saved.version == 2 and time.monotonic() - started < 5


@pytest.mark.parametrize("distinct", [False, True])
def test_a_mention_resolves_to_the_user_jira_assigns(distinct):
    """Data Center: a mention's ri:userkey is Confluence's key; with distinct keys (as in real
    installations) only Confluence's /rest/api/user?key= resolves it, to the username Jira
    assigns by name; by default it is Jira's key as well."""
    sandbox = Sandbox(services=["jira", "confluence"], atlassian="datacenter")
    sandbox.atlassian_credentials.distinct_user_keys = distinct
    sandbox.start()
    try:
        seed = seed_atlassian.demo(sandbox)
        base, headers = v1(sandbox)
        kickoff = sandbox.confluence.pages[seed.pages[seed_atlassian.TASK_PAGE]].body
        mention = next(t for t in find_tasks(kickoff) if t.task_id == "1").mentions[0]
        alice = sandbox.atlassian_credentials.user_by(name="alice")
        assert (mention.userkey == alice.key) is not distinct
        user = requests.get(base + "/user", params={"key": mention.userkey}, headers=headers, timeout=5).json()
        assert user["username"] == "alice" and user["userKey"] == mention.userkey
        assert requests.get(base + "/user", params={"key": "nobody"}, headers=headers, timeout=5).status_code == 404
        jira_users = sandbox.env()["JIRA_URL"] + "/rest/api/2/user"
        jira_headers = {"Authorization": f"Bearer {sandbox.env()['JIRA_TOKEN']}"}
        in_jira = requests.get(jira_users, params={"key": mention.userkey}, headers=jira_headers, timeout=5)
        assert (in_jira.status_code == 404) is distinct
        assert sandbox.violations == []
    finally:
        sandbox.stop()


def test_cloud_mentions_carry_the_account_id(sb):
    kickoff = sb.confluence.pages[sb.seed.pages[seed_atlassian.TASK_PAGE]].body
    mention = next(t for t in find_tasks(kickoff) if t.task_id == "1").mentions[0]
    alice = sb.atlassian_credentials.user_by(name="alice")
    assert (mention.account_id == alice.account_id) is sb.confluence.cloud
    assert (mention.userkey == alice.key) is not sb.confluence.cloud


def test_a_person_ticks_a_task(sb):
    wiki = client(sb)
    page_id = sb.seed.pages[seed_atlassian.TASK_PAGE]
    before = wiki.get_page(page_id)
    sb.confluence.set_task(page_id, "2", complete=True)
    after = wiki.get_page(page_id)
    assert after.version == before.version + 1
    assert {t.task_id: t.status for t in find_tasks(after.body)} == {
        "1": "incomplete",
        "2": "complete",
        "3": "complete",
        "5": "incomplete",
    }
    assert after.body.count("incomplete") == before.body.count("incomplete") - 1
    assert len(after.body) == len(before.body) - len("in")  # nothing else changed
    with pytest.raises(KeyError):
        sb.confluence.set_task(page_id, "99", complete=True)


def test_data_center_under_context_paths():
    """Data Center often lives under /jira and /confluence: the URLs in env() carry them, and
    Confluence's `_links.next` is relative to the context path (`_links.context`)."""
    sandbox = Sandbox(services=["jira", "confluence"], atlassian="datacenter")
    sandbox.jira.dc_context_path = "/jira"
    sandbox.confluence.dc_context_path = "/confluence"
    sandbox.start()
    try:
        seed = seed_atlassian.demo(sandbox)
        env = sandbox.env()
        assert env["JIRA_URL"].endswith("/jira") and env["CONFLUENCE_URL"].endswith("/confluence")
        sandbox.confluence.max_limit = 4
        wiki = client(sandbox)
        children, complete = wiki.child_pages(seed.root_id)
        assert complete and len(children) == 12
        assert len(wiki.descendants(seed.root_id)[0]) == len(seed.pages) - 1
        from common.clients.jira import JiraClient

        settings = load_settings(None, environ={"CACHE_ENABLED": "false", "HTTP_RETRY_BACKOFF": "0"})
        jira = JiraClient(
            settings, RequestCounter(), url=env["JIRA_URL"], token=env["JIRA_TOKEN"], deployment="datacenter"
        )
        assert jira.server_info()["baseUrl"] == env["JIRA_URL"]
        assert len(jira.search("project = ACME")[0]) == 2
        root = requests.get(sandbox.url("jira") + "/rest/api/2/myself", timeout=5)
        assert root.status_code == 404  # nothing outside the context path
        assert sandbox.violations == []
    finally:
        sandbox.stop()


def test_saving_gives_tasks_without_an_id_the_next_free_one(sb):
    wiki = client(sb)
    page = wiki.get_page(sb.seed.pages["Apollo notes"])
    code = "<ac:plain-text-body><![CDATA[<ac:task>not markup</ac:task>]]></ac:plain-text-body>"
    body = (
        "<ac:task-list><ac:task><ac:task-id>7</ac:task-id><ac:task-status>incomplete</ac:task-status>"
        "<ac:task-body>has one</ac:task-body></ac:task><ac:task><ac:task-status>incomplete</ac:task-status>"
        f"<ac:task-body>new</ac:task-body></ac:task></ac:task-list>{code}"
    )
    wiki.update_page(page, body)
    stored = wiki.get_page(page.id).body
    assert [t.task_id for t in find_tasks(stored)] == ["7", "8"]
    assert stored.endswith(code) and stored != body


def test_hooks_over_the_control_endpoints(sb):
    """For a sandbox run by `python -m sandbox --atlassian ...`: POST /_sandbox/<hook> (no auth)."""
    wiki = client(sb)
    control = sb.url("confluence") + "/_sandbox/"
    page = wiki.get_page(sb.seed.pages["Apollo notes"])
    assert requests.post(control + "collide", json={"page_id": page.id}, timeout=5).json() == {"ok": True}
    with pytest.raises(PageConflict):
        wiki.update_page(page, "<p>mine</p>")
    assert "colleague" in sb.confluence.pages[page.id].body
    assert (
        requests.post(
            control + "set-task",
            json={"page_id": sb.seed.pages[seed_atlassian.TASK_PAGE], "task_id": "1", "complete": True},
            timeout=5,
        ).status_code
        == 200
    )
    assert requests.post(control + "restrict", json={"page_id": page.id, "status": 404}, timeout=5).status_code == 200
    with pytest.raises(NotFound):
        wiki.get_page(page.id)
    assert requests.post(control + "set-task", json={"page_id": "1"}, timeout=5).status_code == 400
    assert requests.post(control + "bogus", json={}, timeout=5).status_code == 404
    jira_control = sb.url("jira") + "/_sandbox/"
    assert requests.post(jira_control + "set-status", json={"key": "ACME-1", "status": "Done"}, timeout=5).ok
    assert sb.jira.issue_by_key("ACME-1").status.name == "Done"
    assert (
        requests.post(jira_control + "set-status", json={"key": "ACME-1", "status": "Nope"}, timeout=5).status_code
        == 400
    )
    assert requests.post(jira_control + "throttle", json={"requests": 1, "retry_after": 3}, timeout=5).ok
    base, headers = v1(sb)
    assert requests.get(base + "/user/current", headers=headers, timeout=5).status_code == 200  # Jira's, not ours
    assert requests.get(sb.url("jira") + "/_sandbox/state", timeout=5).json()["issues"][0]["key"] == "ACME-1"


def test_find_a_page_by_space_and_title(sb):
    wiki = client(sb)
    assert wiki.find_page("ENG", seed_atlassian.TASK_PAGE) == sb.seed.pages[seed_atlassian.TASK_PAGE]
    assert wiki.find_page("ENG", "No such page") is None
    assert wiki.find_page("NOPE", seed_atlassian.TASK_PAGE) is None

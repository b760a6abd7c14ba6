"""sync.py flags and keys that shape a run: paging, cache, rate limit, read-only, logging."""

import time

from gitea_helpers import assert_converged, kimai_writes, seed
from sync_json import counts


def paths(sb, service, method="GET"):
    return [r.path for r in sb.requests if r.service == service and r.method == method]


def test_max_pages_cuts_the_list_and_keeps_the_cursor_so_the_rest_comes_next_run(workdir):
    sb = workdir.sandbox
    seed(sb, repos=("web",), issues=30)
    proc = workdir.sync("--page-size", "10", "--max-pages", "2", "--json", check_code=0)
    assert counts(proc)["created"] == 20
    assert "MAX_PAGES reached" in proc.stderr
    assert len(sb.kimai.activities) == 20
    workdir.sync("--page-size", "10", check_code=0)
    assert_converged(sb)


def test_page_size_is_sent_and_capped_at_fifty(workdir):
    sb = workdir.sandbox
    seed(sb, repos=("web",), issues=5)
    workdir.sync("--page-size", "200", check_code=0)
    limits = {r.query.get("limit", [None])[0] for r in sb.requests if r.path.endswith("/issues")}
    assert limits == {"50"}


def test_reference_cache_saves_identity_requests_until_cleared(workdir):
    sb = workdir.sandbox
    seed(sb, repos=("web",), issues=2)
    workdir.sync(check_code=0)
    sb.clear_requests()
    workdir.sync(check_code=0)
    assert "/api/v1/user" not in paths(sb, "gitea") and "/api/users/me" not in paths(sb, "kimai")
    sb.clear_requests()
    workdir.sync("--no-cache", check_code=0)
    assert "/api/v1/user" in paths(sb, "gitea") and "/api/users/me" in paths(sb, "kimai")
    sb.clear_requests()
    proc = workdir.sync("--clear-cache", check_code=0)
    assert "cleared the HTTP cache" in proc.stderr
    assert "/api/v1/user" in paths(sb, "gitea")


def test_cache_never_hides_a_change(workdir):
    sb = workdir.sandbox
    seed(sb, repos=("web",), issues=2)
    workdir.sync(check_code=0)
    sb.gitea.add_repo("acme", "late")  # a new repository and issue appear within the cache TTL
    sb.gitea.add_issue("acme", "late", "Arrived later")
    workdir.sync(check_code=0)
    assert_converged(sb)


def test_rate_limit_spaces_requests(workdir):
    sb = workdir.sandbox
    seed(sb, repos=("web",), issues=3)
    workdir.set(RATE_LIMIT_REQUESTS="4", RATE_LIMIT_PERIOD="1")
    started = time.monotonic()
    workdir.sync("--rate-limit", "--no-cache", check_code=0)
    kimai_requests = sb.count(service="kimai")  # users/me, customers, create, projects, create, activities, 3 creates
    assert kimai_requests >= 9
    assert time.monotonic() - started >= (kimai_requests - 4) / 4 - 0.1
    assert_converged(sb)


def test_read_only_mode_writes_nothing(workdir):
    sb = workdir.sandbox
    seed(sb, repos=("web",), issues=3)
    workdir.set(READ_ONLY_MODE="true")
    proc = workdir.sync(check_code=0)
    assert "dry run" in proc.stdout
    assert kimai_writes(sb) == [] and not workdir.db.exists()


def test_closed_issues_keep(workdir):
    sb = workdir.sandbox
    seed(sb, repos=("web",), issues=6)
    workdir.set(CLOSED_ISSUES="keep")
    workdir.sync(check_code=0)
    assert all(a["visible"] for a in sb.kimai.activities)


def test_existing_customer_and_project_are_reused(workdir):
    sb = workdir.sandbox
    seed(sb, repos=("web",), issues=2)
    customer = sb.kimai.add_customer("Acme GmbH")
    project = sb.kimai.add_project("web", customer["id"])
    workdir.set(KIMAI_CUSTOMER="Acme GmbH")
    workdir.sync(check_code=0)
    assert len(sb.kimai.customers) == 1 and len(sb.kimai.projects) == 1
    assert {a["project"] for a in sb.kimai.activities} == {project["id"]}


def test_no_token_reaches_output_or_log_file(workdir):
    sb = workdir.sandbox
    seed(sb, repos=("web",), issues=3)
    outputs = [workdir.sync("-vv"), workdir.sync("--dry-run", "-vv", "--json"), workdir.sync("--stats", "--export")]
    log_text = (workdir.path / "tracksync.log").read_text()
    exports = "".join(p.read_text() for p in (workdir.path / "exports").iterdir())
    for token in sb.tokens.values():
        for proc in outputs:
            assert token not in proc.stdout + proc.stderr
        assert token not in log_text and token not in exports

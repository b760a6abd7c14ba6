"""End to end: sync.py runs as a subprocess against the sandbox; assertions read the sandbox's state
and request log."""

from collections import Counter

from gitea_helpers import NON_LATIN, assert_converged, kimai_writes, seed
from sync_json import flat_summary, job_summary


def test_first_run_creates_one_activity_per_issue_and_one_project_per_repo(workdir):
    sb = workdir.sandbox
    seed(sb)
    proc = workdir.sync(check_code=0)
    assert_converged(sb)
    assert sorted(p["name"] for p in sb.kimai.projects) == ["api", "web"]
    assert [c["name"] for c in sb.kimai.customers] == ["acme"]
    names = {a["name"] for a in sb.kimai.activities}
    assert "#1 Fix ‹b› tags when 'a' - b" in names
    assert all(len(n) <= 150 for n in names)
    assert f"#3 {NON_LATIN}" in names
    hidden = [a for a in sb.kimai.activities if not a["visible"]]
    assert len(hidden) == 11  # every fifth of the 55 issues is closed
    assert flat_summary(workdir.sync("--json"))["unchanged"] == 58  # 55 + 3, the pull request left out
    assert "created" in proc.stdout and " 58 " in proc.stdout
    assert "Traceback" not in proc.stderr


def test_unchanged_rerun_makes_no_write_and_few_requests(workdir):
    sb = workdir.sandbox
    seed(sb)
    workdir.sync(check_code=0)
    sb.clear_requests()
    proc = workdir.sync("--json", check_code=0)
    summary = flat_summary(proc)
    assert kimai_writes(sb) == []
    assert summary["created"] == summary["updated"] == summary["hidden"] == summary["failed"] == 0
    assert summary["unchanged"] == 58  # read again within the cursor's overlap, skipped by their hash
    assert not [r for r in sb.requests if r.path.startswith("/api/activities")]  # so Kimai is not asked
    # exactly: the repository list and each repository's issues since its cursor (web: two pages of 50);
    # identities come from the cache, and no Kimai request at all
    assert sb.count() == 4, [(r.method, r.path) for r in sb.requests]
    assert summary["requests"] == sb.count()


def test_changes_make_exactly_those_writes(workdir):
    sb = workdir.sandbox
    seed(sb)
    workdir.sync(check_code=0)
    for n in (2, 3, 4):
        sb.gitea.edit_issue("acme", "web", n, title=f"Renamed {n}")
    sb.gitea.edit_issue("acme", "web", 7, state="closed")
    sb.gitea.edit_issue("acme", "web", 8, state="closed")
    sb.gitea.edit_issue("acme", "web", 6, state="open")  # was closed (every fifth from #1)
    sb.gitea.add_issue("acme", "web", "New one")
    sb.gitea.add_issue("acme", "api", "New two")
    sb.clear_requests()
    summary = flat_summary(workdir.sync("--json", check_code=0))
    writes = Counter((r.method, r.path.rstrip("0123456789")) for r in kimai_writes(sb))
    assert writes == {("PATCH", "/api/activities/"): 6, ("POST", "/api/activities"): 2}
    assert (summary["created"], summary["updated"], summary["hidden"]) == (2, 4, 2)
    assert_converged(sb)


def test_dry_run_prints_plan_and_writes_nothing(workdir):
    sb = workdir.sandbox
    seed(sb, issues=3)
    workdir.sync(check_code=0)
    sb.gitea.edit_issue("acme", "web", 2, title="Changed")
    sb.gitea.edit_issue("acme", "web", 3, state="closed")
    sb.gitea.add_issue("acme", "web", "Brand new")
    before = workdir.db.read_bytes()
    sb.clear_requests()
    proc = workdir.sync("--dry-run", check_code=0)
    assert kimai_writes(sb) == []
    assert workdir.db.read_bytes() == before
    lines = proc.stdout.splitlines()
    assert any(
        ln.strip().startswith("create #4 acme/web: activity '#4 Brand new' in project 'web' (customer 'acme')")
        for ln in lines
    ), proc.stdout
    assert any(ln.strip().startswith("update #2 acme/web: name") for ln in lines), proc.stdout
    assert any(ln.strip().startswith("hide #3 acme/web") for ln in lines), proc.stdout
    # and the real run then does exactly what was planned
    summary = flat_summary(workdir.sync("--json", check_code=0))
    assert (summary["created"], summary["updated"], summary["hidden"]) == (1, 1, 1)


def test_dry_run_on_an_empty_kimai_plans_customer_and_projects(workdir):
    sb = workdir.sandbox
    seed(sb, issues=2)
    proc = workdir.sync("--dry-run", "--json", check_code=0)
    plan = [p["action"] + " " + p["label"] for p in job_summary(proc)["plan"]]
    assert "create customer 'acme'" in plan and "create project 'web' (customer 'acme')" in plan
    assert sum(p.startswith("create #") for p in plan) == 5  # 2 in web, 3 in api (not the pull request)
    assert sb.kimai.customers == [] and not workdir.db.exists()


def test_pull_requests_only_when_asked(workdir):
    sb = workdir.sandbox
    seed(sb, issues=2)
    workdir.sync(check_code=0)
    assert_converged(sb, include_pulls=False)
    workdir.sync("gitea-kimai", "--include-prs", "--full", check_code=0)
    assert_converged(sb, include_pulls=True)


def test_wrong_tokens_exit_77_naming_the_service(workdir):
    sb = workdir.sandbox
    seed(sb, issues=1)
    for key, service in (("GITEA_TOKEN", "gitea"), ("KIMAI_TOKEN", "kimai")):
        proc = workdir.sync("--no-cache", env={key: "wrong-token"}, check_code=77)
        assert proc.stderr.strip().splitlines()[-1].startswith(f"error: {service}: authentication refused")
        assert "wrong-token" not in proc.stderr + proc.stdout
        assert "Traceback" not in proc.stderr
    assert sb.kimai.activities == []


def test_unreachable_server_exits_69(workdir):
    seed(workdir.sandbox, issues=1)
    proc = workdir.sync(env={"KIMAI_URL": "http://127.0.0.1:9"}, check_code=69)
    assert "kimai: cannot reach http://127.0.0.1:9" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_or_malformed_key_exits_78_naming_it(workdir):
    seed(workdir.sandbox, issues=1)
    proc = workdir.sync(env={"GITEA_ORGANIZATION": ""}, check_code=78)
    assert "GITEA_ORGANIZATION" in proc.stderr
    proc = workdir.sync(env={"SYNC_WORKERS": "lots"}, check_code=78)
    assert "SYNC_WORKERS" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_repository_fails_alone_exit_3(workdir):
    sb = workdir.sandbox
    seed(sb, issues=3)
    proc = workdir.sync("gitea-kimai", "--repos", "web,nope,api", check_code=3)
    assert "failed: acme/nope: gitea: repository acme/nope not found" in proc.stderr
    assert_converged(sb)


def test_second_concurrent_run_exits_75(workdir):
    from common.runlock import JobLock

    seed(workdir.sandbox, issues=1)
    with JobLock(str(workdir.db), "gitea-kimai"):
        proc = workdir.sync(check_code=75)
    assert "another gitea-kimai run is in progress" in proc.stderr


def test_stats_and_export(workdir):
    seed(workdir.sandbox, issues=3)
    proc = workdir.sync("--stats", "--export", check_code=0)
    assert "synced" in proc.stdout
    files = sorted(p.name.split("-")[0] for p in (workdir.path / "exports").iterdir())
    assert files == ["audit", "links", "runs"]
    links_csv = next((workdir.path / "exports").glob("links-*.csv")).read_text()
    assert "gitea:acme/web#1" in links_csv

"""confluence-jira --dry-run, both deployments: the plan names exactly what the real run then does
(the issues it creates and the pages it writes), and writes nothing anywhere: no request that
writes, no store, no log file."""

import json

from test_confluence_jira_e2e import atl, explain, per_origin, tracksync_issues  # noqa: F401

from sandbox import seed_atlassian


def job_of(proc):
    document = json.loads(proc.stdout)
    assert document["exit_code"] == proc.returncode and document["error"] is None
    (job,) = document["jobs"]
    return job


def test_the_dry_run_plans_the_creates_and_the_page_writes_the_real_run_makes(atl):
    work, sb, _seed = atl
    sb.clear_requests()
    dry = work.sync("confluence-jira", "--dry-run", "--json")
    assert dry.returncode == 0, explain(dry)
    plan = job_of(dry)
    assert sb.count(writes=True) == 0
    assert sorted(p.name for p in work.path.iterdir()) == ["test.env"]  # no store, no log
    planned = {a["item"] for a in plan["plan"] if a["action"] == "create"}
    real = work.sync("confluence-jira", "--json")
    assert real.returncode == 0, explain(real)
    done = job_of(real)
    assert planned == set(per_origin(sb))
    assert plan["counts"]["created"] == done["counts"]["created"] == len(planned)
    page_puts = sum(1 for r in sb.requests if r.method == "PUT" and r.service == "confluence")
    assert done["counts"]["pages_updated"] == page_puts > 0
    assert plan["counts"].get("pages_updated") == page_puts


def test_a_malformed_page_is_refused_by_name_before_any_request_or_store(atl):
    work, sb, _seed = atl
    sb.clear_requests()
    for value in ("../1", "x'y", "<b>1</b>"):
        proc = work.sync("confluence-jira", "--page", "65538", "--page", value, "--json")
        assert proc.returncode == 2, explain(proc)
        document = json.loads(proc.stdout)
        assert document["exit_code"] == 2 and "--page" in document["error"]
        assert "Traceback" not in proc.stderr
    assert sb.count() == 0
    assert sorted(p.name for p in work.path.iterdir()) == ["test.env"]  # no store, no lock, no log
    work.set(CONFLUENCE_PAGES="65538,a page")
    proc = work.sync("confluence-jira")
    assert proc.returncode == 78 and "CONFLUENCE_PAGES" in proc.stderr, explain(proc)
    assert sb.count() == 0


def test_status_changes_both_ways_dry_run_and_real_run_count_the_same_exact_updates(atl):
    work, sb, seed = atl
    assert work.sync("confluence-jira").returncode == 0
    kickoff = seed.pages[seed_atlassian.TASK_PAGE]
    sb.confluence.set_task(kickoff, seed.open_tasks[kickoff][0], True)  # task checked -> issue to Done
    others = [i for i in tracksync_issues(sb) if not any(f"confluence-task-{kickoff}-" in x for x in i.labels)]
    sb.jira.set_status(min(others, key=lambda i: int(i.key.split("-")[1])).key, "Done")  # -> its task checked
    sb.clear_requests()
    dry = job_of(work.sync("confluence-jira", "--dry-run", "--json"))
    assert sb.count(writes=True) == 0
    real = job_of(work.sync("confluence-jira", "--json"))
    transitions = sum(1 for r in sb.requests if r.method == "POST" and r.path.endswith("/transitions"))
    page_puts = sum(1 for r in sb.requests if r.method == "PUT" and r.service == "confluence")
    assert (transitions, page_puts) == (1, 1)
    for counts in (dry["counts"], real["counts"]):
        assert (counts["created"], counts["updated"], counts["pages_updated"]) == (0, 2, 1), counts

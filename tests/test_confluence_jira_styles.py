"""confluence-jira end to end, both deployments: the replace style, completed tasks created done,
and --dry-run (the plan as JSON, no write anywhere, no store file)."""

import json

from test_confluence_jira_e2e import atl, expected_origins, explain, per_origin, tracksync_issues  # noqa: F401

from common.confluence_storage import read_page
from sandbox import seed_atlassian


def test_replace_style_turns_tasks_into_paragraphs_with_the_macro_and_the_rerun_writes_nothing(atl):
    work, sb, seed = atl
    work.set(CONFLUENCE_TASK_STYLE="replace")
    kickoff = seed.pages[seed_atlassian.TASK_PAGE]
    before = read_page(sb.confluence.pages[kickoff].body)
    proc = work.sync("confluence-jira", "--page", kickoff)
    assert proc.returncode == 0, explain(proc)
    after = read_page(sb.confluence.pages[kickoff].body)
    issues = {label: i.key for i in tracksync_issues(sb) for label in i.labels if label.startswith("confluence-")}
    open_ids = seed.open_tasks[kickoff]
    for task_id in open_ids:
        key = issues[f"confluence-task-{kickoff}-{task_id}"]
        assert key in sb.confluence.pages[kickoff].body
        still = after.task(task_id)
        if still is not None:  # a task holding sub-tasks stays a task, linked
            assert still.jira_keys == (key,)
    replaced = [t for t in open_ids if after.task(t) is None]
    assert replaced, "at least one task became a paragraph"
    assert {t.task_id for t in after.tasks} == {t.task_id for t in before.tasks} - set(replaced)
    sb.clear_requests()
    again = work.sync("confluence-jira", "--page", kickoff)
    assert again.returncode == 0 and sb.count(writes=True) == 0
    assert max(per_origin(sb).values()) == 1


def test_completed_tasks_created_done(atl):
    work, sb, seed = atl
    work.set(CONFLUENCE_COMPLETED_TASKS="create-done")
    kickoff = seed.pages[seed_atlassian.TASK_PAGE]
    proc = work.sync("confluence-jira", "--page", kickoff)
    assert proc.returncode == 0, explain(proc)
    complete = [t.task_id for t in read_page(sb.confluence.pages[kickoff].versions[0].body).tasks if t.complete]
    assert complete
    for task_id in complete:
        issue = next(i for i in tracksync_issues(sb) if f"confluence-task-{kickoff}-{task_id}" in i.labels)
        assert issue.status.name == "Done"
    sb.clear_requests()
    assert work.sync("confluence-jira", "--page", kickoff).returncode == 0 and sb.count(writes=True) == 0


def test_dry_run_lists_the_plan_and_writes_nothing_anywhere(atl):
    work, sb, seed = atl
    sb.clear_requests()
    proc = work.sync("confluence-jira", "--dry-run", "--json")
    assert proc.returncode == 0, explain(proc)
    job = json.loads(proc.stdout)["jobs"][0]
    created = [p for p in job["plan"] if p["action"] == "create"]
    assert {p["item"] for p in created} == expected_origins(seed)
    assert job["counts"]["created"] == len(expected_origins(seed))
    assert sb.count(writes=True) == 0 and not tracksync_issues(sb)
    assert not work.db.exists()


def test_a_subtree_takes_its_project_and_parent_from_the_macro_above_its_root(atl):
    work, sb, seed = atl
    work.set(JIRA_PROJECT="OPS")  # what a tree without a macro above it would use
    kickoff = seed.pages[seed_atlassian.TASK_PAGE]  # under "Project Apollo", which holds the epic's macro
    proc = work.sync("confluence-jira", "--page", kickoff)
    assert proc.returncode == 0, explain(proc)
    issues = [i for i in tracksync_issues(sb) if any(f"confluence-task-{kickoff}-" in x for x in i.labels)]
    assert issues and all(i.project.key == "ACME" for i in issues)
    if sb.jira.cloud:  # a task under its epic; Data Center links epics by the Epic Link field instead
        assert all(i.parent_key == seed.issues["epic"] for i in issues)
    sb.clear_requests()
    assert work.sync("confluence-jira", "--page", kickoff).returncode == 0
    assert sb.count(writes=True) == 0 and sb.count() <= 8  # the page above is not read again


def test_a_mention_assigns_the_issue_and_the_user_map_overrides_it(atl):
    work, sb, seed = atl
    users = sb.atlassian_credentials
    users.distinct_user_keys = True  # a real Data Center: Confluence's user keys are not Jira's
    alice, bob = users.user_by(name="alice"), users.user_by(name="bob")

    def ref(user):
        return user.account_id if sb.jira.cloud else users.confluence_key(user)

    def mention(user):
        attribute = "ri:account-id" if sb.jira.cloud else "ri:userkey"
        return f'<ac:link><ri:user {attribute}="{ref(user)}" /></ac:link>'

    body = seed_atlassian.task_list(
        seed_atlassian.task(1, f"{mention(bob)} call the vendor"),
        seed_atlassian.task(2, f"{mention(alice)} book the room"),
    )
    page = sb.confluence.add_page(seed.space, "Assignments", body, seed.root_id)
    work.set(CONFLUENCE_USER_MAP=f"{ref(alice)}={bob.account_id if sb.jira.cloud else bob.name}")
    proc = work.sync("confluence-jira", "--page", page.id)
    assert proc.returncode == 0, explain(proc)
    for task_id in ("1", "2"):
        issue = next(i for i in tracksync_issues(sb) if f"confluence-task-{page.id}-{task_id}" in i.labels)
        assert issue.assignee is not None and issue.assignee.name == "bob"

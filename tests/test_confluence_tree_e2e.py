"""sync.py confluence-tree end to end, both deployments: the test tree is built under a page of the
demo seed (which already has children of its own), checked in the Confluence stand-in, synced
by confluence-jira (one issue per open task), and removed, leaving everything else in place."""

import json
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT
from test_confluence_jira_e2e import atl  # noqa: F401 (fixture: the demo seed, both deployments)

from common.confluence_storage import read_page
from common.ops.confluence_tree_plan import MAX_TREE_PAGES, is_complete, page_count, tree_paths


def explain(proc):
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-2000:]}"


def live(sb):
    return {pid: p for pid, p in sb.confluence.pages.items() if p.status == "current"}


def below(sb, parent_id):
    """Ids of the live pages under `parent_id`, any depth."""
    pages = live(sb)
    found, frontier = set(), {parent_id}
    while frontier:
        frontier = {pid for pid, p in pages.items() if p.parent_id in frontier} - found
        found |= frontier
    return found


def test_build_check_sync_with_confluence_jira_then_remove_leaves_the_rest(atl):
    work, sb, seed = atl
    parent = seed.root_id  # 12 pages of the seed below it already, some with tasks
    before = {pid: (p.title, p.body, p.parent_id, len(p.versions)) for pid, p in live(sb).items()}
    proc = work.sync(
        "confluence-tree",
        "--parent-page",
        parent,
        "--depth",
        "2",
        "--children",
        "2",
        "--tasks-per-page",
        "5",
        "--jira-project",
        seed.project,
        "--json",
    )
    assert proc.returncode == 0, explain(proc)
    out = json.loads(proc.stdout)
    assert out["created"] == 6 and len(out["pages"]) == 6 and out["run_id"]
    assert out["exit_code"] == 0 and out["error"] is None
    made = {r["id"]: r for r in out["pages"]}
    new = set(live(sb)) - set(before)
    assert new == set(made)
    titles = [p.title for p in live(sb).values() if p.space.key == seed.space]
    assert len(titles) == len(set(titles)), "titles unique in the space"
    for pid in new:
        page = sb.confluence.pages[pid]
        assert page.labels == ["tracksync-test"]
        assert page.title.startswith(f"tracksync-test {out['tag']} ")
        parsed = read_page(page.body)
        assert [t.task_id for t in parsed.tasks] == ["1", "2", "3", "4", "5"]
        assert [t.complete for t in parsed.tasks] == [is_complete(n) for n in range(1, 6)]
        assert '<time datetime="' in page.body
        assert ("ri:account-id=" if sb.jira.cloud else "ri:userkey=") in page.body
        assert f'<ac:parameter ac:name="key">{seed.issues["epic"]}</ac:parameter>' in page.body
        depth = 1 if page.parent_id == parent else 2
        assert made[pid]["depth"] == depth
        assert depth == 1 or page.parent_id in new
    # confluence-jira on the tree: exactly one issue per open task of the test pages
    sync = work.sync("confluence-jira", "--page", parent)
    assert sync.returncode == 0, explain(sync)
    origins = {}
    for issue in sb.jira.issues.values():
        for label in issue.labels:
            if label.startswith("confluence-task-") and label.split("-")[2] in new:
                origins[label] = origins.get(label, 0) + 1
    expected = {f"confluence-task-{pid}-{t}" for pid in new for t in range(1, 6) if not is_complete(t)}
    assert origins == dict.fromkeys(expected, 1)
    # a second build makes a second tree, titled apart
    again = work.sync("confluence-tree", "--parent-page", parent, "--depth", "1", "--children", "2", "--json")
    assert again.returncode == 0, explain(again)
    assert json.loads(again.stdout)["tag"] != out["tag"]
    # a person's page below a test page, and a labelled page elsewhere: both left alone
    first = next(pid for pid in new if sb.confluence.pages[pid].parent_id == parent)
    mine = sb.confluence.add_page(seed.space, "My notes under a test page", "<p>mine</p>", first)
    other_root = sb.confluence.add_page(seed.space, "Elsewhere", "<p>x</p>", None)
    elsewhere = sb.confluence.add_page(seed.space, "Labelled elsewhere", "<p>x</p>", other_root.id, ["tracksync-test"])
    test_pages = {pid for pid, p in live(sb).items() if p.title.startswith("tracksync-test ")}
    assert len(test_pages) == 8
    kept = {pid: (p.title, p.body, len(p.versions)) for pid, p in live(sb).items() if pid not in test_pages}
    gone = work.sync("confluence-tree", "--parent-page", parent, "--remove")
    assert gone.returncode == 0, explain(gone)
    assert "removed 8 page(s)" in gone.stderr
    after = live(sb)
    assert not (new & set(after))
    assert not [p for p in after.values() if p.title.startswith("tracksync-test ")]
    assert {pid: (p.title, p.body, len(p.versions)) for pid, p in after.items()} == kept  # all else untouched
    assert {pid for pid in before if before[pid][2] == parent} <= {p for p in after if after[p].parent_id == parent}
    assert mine.id in after and elsewhere.id in after
    # nothing left to remove: a second --remove deletes nothing
    sb.clear_requests()
    empty = work.sync("confluence-tree", "--parent-page", parent, "--remove", "--json")
    assert empty.returncode == 0, explain(empty)
    assert json.loads(empty.stdout)["removed"] == 0 and sb.count(writes=True) == 0


def test_dry_run_writes_nothing_and_prints_the_plan(atl):
    work, sb, seed = atl
    before = len(sb.confluence.pages)
    sb.clear_requests()
    proc = work.sync("confluence-tree", "--parent-page", seed.root_id, "--depth", "2", "--children", "3", "--dry-run")
    assert proc.returncode == 0, explain(proc)
    assert sb.count(writes=True) == 0 and len(sb.confluence.pages) == before
    assert proc.stdout.count("planned") == page_count(2, 3) == len(tree_paths(2, 3))
    assert "would have created 12 page(s)" in proc.stderr
    assert not work.db.exists() and not (work.path / "tracksync.log").exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (["--depth", "6"], "--depth 6"),
        (["--children", "0"], "--children 0"),
        (["--tasks-per-page", "51"], "--tasks-per-page 51"),
        (["--depth", "4", "--children", "5"], f"at most {MAX_TREE_PAGES} pages"),
        (["--jira-project", "NOPE"], "--jira-project NOPE"),
        (["--jira-project", " "], "--jira-project: empty"),
    ],
)
def test_bounds_are_usage_errors_and_nothing_is_written(atl, args, words):
    work, sb, seed = atl
    before = len(sb.confluence.pages)
    proc = work.sync("confluence-tree", "--parent-page", seed.root_id, *args)
    assert proc.returncode == 2, explain(proc)
    assert words in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert len(sb.confluence.pages) == before


def test_a_missing_parent_is_one_line_naming_it_and_a_wrong_token_is_77(atl):
    work, sb, seed = atl
    proc = work.sync("confluence-tree", "--parent-page", "99999999", "--depth", "1", "--children", "1")
    assert proc.returncode == 2, explain(proc)
    assert proc.stderr.strip().count("\n") == 0 and "99999999" in proc.stderr
    proc = work.sync("confluence-tree", "--parent-page", "99999999", "--remove")
    assert proc.returncode == 2 and "99999999" in proc.stderr, explain(proc)
    work.set(CONFLUENCE_TOKEN="wrong-token-123", JIRA_TOKEN="wrong-token-123")
    proc = work.sync("confluence-tree", "--parent-page", seed.root_id, "--depth", "1", "--children", "1")
    assert proc.returncode == 77, explain(proc)
    assert "wrong-token-123" not in proc.stderr + proc.stdout and "Traceback" not in proc.stderr


def test_a_build_killed_half_way_is_cleaned_by_remove(atl):
    work, sb, seed = atl
    parent = seed.pages["Project Apollo"]
    before = set(live(sb))
    sb.faults.configure(latency_ms=50)  # slow enough to kill it in the middle
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "sync.py"),
            "confluence-tree",
            "--parent-page",
            parent,
            "--depth",
            "2",
            "--children",
            "5",
            "--tasks-per-page",
            "2",
            "--env-file",
            str(work.env_file),
        ],
        cwd=work.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    deadline = time.monotonic() + 30
    while len(set(live(sb)) - before) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    sb.faults.configure(latency_ms=0)
    made = set(live(sb)) - before
    assert 4 <= len(made) < 30
    gone = work.sync("confluence-tree", "--parent-page", parent, "--remove")
    assert gone.returncode == 0, explain(gone)
    assert set(live(sb)) == before


def test_a_page_left_unlabelled_by_a_failed_label_is_still_removed_and_only_it(atl):
    work, sb, seed = atl
    parent = seed.pages["Project Apollo"]
    before = set(live(sb))
    sb.confluence.fail_next("POST", r".*/content/\d+/label", status=500, times=5)
    proc = work.sync("confluence-tree", "--parent-page", parent, "--depth", "1", "--children", "3")
    assert proc.returncode == 3, explain(proc)
    made = set(live(sb)) - before
    assert len(made) == 3
    unlabelled = [pid for pid in made if not sb.confluence.pages[pid].labels]
    assert unlabelled, "the failed label left a page without it"
    assert proc.stderr.count("failed:") == len(unlabelled)
    # a person's page titled like a test page, but without the marker line: left alone
    lookalike = sb.confluence.add_page(seed.space, "tracksync-test abcdef 9", "<p>my own</p>", parent)
    gone = work.sync("confluence-tree", "--parent-page", parent, "--remove")
    assert gone.returncode == 0, explain(gone)
    assert set(live(sb)) == before | {lookalike.id}


def test_lost_answers_to_creates_labels_and_deletes_never_make_a_duplicate_page(atl):
    work, sb, seed = atl
    parent = seed.pages["Project Apollo"]
    before = set(live(sb))
    sb.faults.configure(commit_drop_rate=0.4, seed=13, services=["confluence"])
    proc = work.sync("confluence-tree", "--parent-page", parent, "--depth", "2", "--children", "3", "--json")
    sb.faults.configure()
    assert proc.returncode == 0, explain(proc)
    made = set(live(sb)) - before
    titles = sorted(sb.confluence.pages[pid].title for pid in made)
    assert len(made) == 12 and len(set(titles)) == 12, "one page per planned page, none twice"
    assert all(sb.confluence.pages[pid].labels == ["tracksync-test"] for pid in made)
    assert {r["id"] for r in json.loads(proc.stdout)["pages"]} == made
    sb.faults.configure(commit_drop_rate=0.4, seed=5, services=["confluence"])
    gone = work.sync("confluence-tree", "--parent-page", parent, "--remove", "--json")
    sb.faults.configure()
    assert gone.returncode == 0, explain(gone)
    assert set(live(sb)) == before and json.loads(gone.stdout)["removed"] == 12


def test_missing_configuration_names_the_key(atl):
    work, sb, seed = atl
    work.set(CONFLUENCE_URL="")
    proc = work.sync("confluence-tree", "--parent-page", seed.root_id, "--remove")
    assert proc.returncode == 78 and "CONFLUENCE_URL" in proc.stderr, explain(proc)
    work.set(CONFLUENCE_URL=sb.env()["CONFLUENCE_URL"], JIRA_URL="", ATLASSIAN_DEPLOYMENT="auto")
    proc = work.sync("confluence-tree", "--parent-page", seed.root_id, "--remove")
    assert proc.returncode == 78 and "JIRA_URL" in proc.stderr, explain(proc)
    assert "Traceback" not in proc.stderr


def test_remove_keeps_a_persons_page_that_only_carries_the_label(atl):
    work, sb, seed = atl
    parent = seed.root_id
    built = work.sync("confluence-tree", "--parent-page", parent, "--depth", "1", "--children", "2", "--json")
    assert built.returncode == 0, explain(built)
    made = {r["id"] for r in json.loads(built.stdout)["pages"]}
    mine = sb.confluence.add_page(seed.space, "My tracksync-test notes", "<p>mine</p>", parent, ["tracksync-test"])
    proc = work.sync("confluence-tree", "--parent-page", parent, "--remove", "--json")
    assert proc.returncode == 0, explain(proc)
    assert {r["id"] for r in json.loads(proc.stdout)["pages"]} == made
    assert mine.id in live(sb) and not made & set(live(sb))


def test_a_page_url_of_another_site_is_refused_before_any_request(atl):
    work, sb, seed = atl
    sb.clear_requests()
    url = f"https://other-site.example/wiki/spaces/{seed.space}/pages/{seed.root_id}/Root"
    for args in (("--depth", "1", "--children", "1"), ("--remove",)):
        proc = work.sync("confluence-tree", "--parent-page", url, *args)
        assert proc.returncode == 2 and "--parent-page" in proc.stderr and "other-site.example" in proc.stderr, explain(
            proc
        )
        assert len(proc.stderr.strip().splitlines()) == 1
    assert sb.count() == 0
    here = work.sync(
        "confluence-tree",
        "--parent-page",
        f"{sb.env()['CONFLUENCE_URL']}/pages/viewpage.action?pageId={seed.root_id}",
        "--depth",
        "1",
        "--children",
        "1",
        "--dry-run",
    )
    assert here.returncode == 0, explain(here)


@pytest.mark.parametrize("hostile", ["html_200", "malformed_json"])
def test_an_unreadable_answer_to_a_create_is_69_and_remove_cleans_what_was_made(atl, hostile):
    work, sb, seed = atl
    parent = seed.root_id
    before = set(live(sb))
    sb.faults.configure(hostile=[hostile], services=["confluence"], paths=r"/pages$|/content$", methods=["POST"])
    bad = work.sync("confluence-tree", "--parent-page", parent, "--depth", "1", "--children", "3")
    assert bad.returncode == 69, explain(bad)
    assert "confluence" in bad.stderr and "POST" in bad.stderr and "Traceback" not in bad.stderr, explain(bad)
    assert len(bad.stderr.strip().splitlines()) == 1
    assert len(set(live(sb)) - before) <= 1, "nothing written after the bad answer"
    sb.faults.configure()
    gone = work.sync("confluence-tree", "--parent-page", parent, "--remove")
    assert gone.returncode == 0, explain(gone)
    assert set(live(sb)) == before

"""jira-confluence end to end, both deployments: sync.py runs as a subprocess against the Jira and
Confluence stand-ins (3 epics x 60 issues and 5 without an epic: more than one search page); the
checks read the stand-ins' pages (titles, bodies, versions, labels) and count the writes."""

import json
import re
import signal
import threading
import time

import pytest
from conftest import Workdir

from sandbox import Sandbox, seed_atlassian

DEPLOYMENTS = ["cloud", "datacenter"]


@pytest.fixture(params=DEPLOYMENTS)
def plan(request, tmp_path):
    """(workdir, sandbox, {epic key: [issue keys]}, parent page id)."""
    sb = Sandbox(atlassian=request.param, services=["jira", "confluence"]).start()
    keys = seed_atlassian.epics(sb)
    conf = sb.confluence
    if seed_atlassian.SPACE not in conf.spaces:
        conf.add_space(seed_atlassian.SPACE)
    parent = conf.add_page(seed_atlassian.SPACE, "Plan", "<p>The plan.</p>")
    conf.add_page(seed_atlassian.SPACE, "Notes of a person", "<p>Not ours.</p>", parent.id)
    env = dict(
        sb.env(),
        DATABASE_PATH=str(tmp_path / "sync.db"),
        LOG_FILE=str(tmp_path / "tracksync.log"),
        CACHE_DIR=str(tmp_path / ".cache"),
        HTTP_TIMEOUT="5",
        HTTP_RETRY_BACKOFF="0",
        JIRA_PROJECT=seed_atlassian.PROJECT,
        CONFLUENCE_PARENT_PAGE=parent.id,
    )
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    env_file.chmod(0o600)
    yield Workdir(tmp_path, env_file, sb), sb, keys, parent.id
    threading.Thread(target=sb.stop, daemon=True).start()
    assert not sb.violations, "off the contract:\n" + "\n".join(sb.violations[:10])


def explain(proc):
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-2000:]}"


def generated(sb, parent):
    return [p for p in sb.confluence.children_of(parent) if p.title != "Notes of a person"]


def table_keys(body):
    rows = re.findall(r"<tr><td>(.*?)</td>", body)
    return [re.search(r'ac:name="key">([^<]+)<', row).group(1) for row in rows]


def by_title(sb, parent):
    return {p.title: p for p in generated(sb, parent)}


def test_one_page_per_epic_tables_sorted_rerun_writes_nothing_then_exactly_the_changed_pages(plan):
    work, sb, keys, parent = plan
    proc = work.sync("jira-confluence")
    assert proc.returncode == 0, explain(proc)
    pages = by_title(sb, parent)
    assert len(pages) == 4 and "Without epic" in pages
    jira = sb.jira
    for epic_key, children in keys.items():
        if not epic_key:
            continue
        epic = jira.issue_by_key(epic_key)
        page = pages[f"{epic_key} {epic.summary}"]
        order = sorted(children, key=lambda k: int(k.split("-")[1]))
        assert table_keys(page.body) == order
        assert f'ac:name="key">{epic_key}<' in page.body.split("<table>")[0]  # the epic's macro
        assert f"tracksync-epic-{epic.id}" in page.labels
    assert table_keys(pages["Without epic"].body) == keys[""]
    # unchanged re-run: no write, and reads only the changed issues plus one listing
    sb.clear_requests()
    again = work.sync("jira-confluence")
    assert again.returncode == 0, explain(again)
    assert sb.count(writes=True) == 0
    # one issue renamed, one moved to another epic: two pages updated
    epics = [k for k in keys if k]
    renamed, moved = keys[epics[0]][3], keys[epics[1]][4]
    cloud = jira.cloud
    jira.edit(renamed, summary="Renamed <b>bold</b> & co")
    jira.edit(moved, **({"parent_key": epics[2]} if cloud else {"epic_key": epics[2]}))
    versions = {p.id: p.current.number for p in generated(sb, parent)}
    sb.clear_requests()
    third = work.sync("jira-confluence")
    assert third.returncode == 0, explain(third)
    changed = {p.id for p in generated(sb, parent) if p.current.number != versions[p.id]}
    assert len(changed) == 3 - (epics[0] == epics[2])  # the renamed issue's page, the moved one's two
    assert sb.count(writes=True) == len(changed)
    pages = by_title(sb, parent)
    third_page = next(p for t, p in pages.items() if t.startswith(epics[2] + " "))
    assert moved in table_keys(third_page.body)
    first_page = next(p for t, p in pages.items() if t.startswith(epics[0] + " "))
    assert "Renamed &lt;b&gt;bold&lt;/b&gt; &amp; co" in first_page.body and "<b>bold</b>" not in first_page.body


def test_epic_renamed_retitled_deleted_kept_with_note_person_edit_is_a_conflict(plan):
    work, sb, keys, parent = plan
    assert work.sync("jira-confluence").returncode == 0
    epics = [k for k in keys if k]
    jira = sb.jira
    jira.edit(epics[0], summary="Launch </p><script>x</script>")
    gone_page = next(p for p in generated(sb, parent) if p.title.startswith(epics[1] + " "))
    jira.remove_issue(epics[1])
    edited = next(p for p in generated(sb, parent) if p.title.startswith(epics[2] + " "))
    sb.confluence.edit_page(edited.id, body=edited.body + "<p>A person's line.</p>")
    edited_version = sb.confluence.pages[edited.id].current.number
    proc = work.sync("jira-confluence")
    assert proc.returncode == 0, explain(proc)
    titles = {p.title for p in generated(sb, parent)}
    assert f"{epics[0]} Launch </p><script>x</script>" in titles
    renamed = next(p for p in generated(sb, parent) if p.title.startswith(epics[0] + " "))
    assert "<script>" not in renamed.body
    kept = sb.confluence.pages[gone_page.id]
    assert kept.status == "current" and f"no longer in {seed_atlassian.PROJECT}" in kept.body
    assert kept.body.index("no longer in") < kept.body.index("<table>")
    assert epics[1] in proc.stderr + proc.stdout
    assert sb.confluence.pages[edited.id].current.number == edited_version  # not overwritten
    table = work.sync("conflicts")
    assert table.returncode == 0 and "page edited in Confluence" in table.stdout, explain(table)
    listed = work.sync("conflicts", "--json")
    assert f"tracksync-epic-{jira.issue_by_key(epics[2]).id}" in listed.stdout, explain(listed)
    # the note is written once, and the edited page stays a conflict, unwritten
    sb.clear_requests()
    again = work.sync("jira-confluence")
    assert again.returncode == 0 and sb.count(writes=True) == 0, explain(again)
    # resolved for Jira: the next run writes the generated page over the edit
    conflict = next(c for c in json.loads(work.sync("conflicts", "--json").stdout) if c["job"] == "jira-confluence")
    settled = work.sync("resolve", str(conflict["id"]), "--keep", "jira")
    assert settled.returncode == 0, explain(settled)
    assert work.sync("jira-confluence").returncode == 0
    page = sb.confluence.pages[edited.id]
    assert page.current.number == edited_version + 1 and "A person's line." not in page.body
    assert json.loads(work.sync("conflicts", "--json").stdout) == []


def test_lost_store_and_commit_then_drop_never_a_duplicate_page(plan):
    work, sb, keys, parent = plan
    sb.faults.configure(commit_drop_rate=1.0, services=["confluence"])
    first = work.sync("jira-confluence")
    assert first.returncode == 3, explain(first)
    assert "Traceback" not in first.stderr
    sb.faults.configure()
    assert len(generated(sb, parent)) == 4  # created, answers lost
    second = work.sync("jira-confluence")
    assert second.returncode == 0, explain(second)
    assert len(generated(sb, parent)) == 4
    assert all(any(label.startswith("tracksync-") for label in p.labels) for p in generated(sb, parent))
    (work.path / "sync.db").unlink()
    sb.clear_requests()
    third = work.sync("jira-confluence")
    assert third.returncode == 0, explain(third)
    assert len(generated(sb, parent)) == 4
    assert sb.count(writes=True) == 0  # every page found by its marker, as it should be
    assert sb.confluence.page_by_title("Notes of a person").body == "<p>Not ours.</p>"


def test_a_taken_title_is_made_unique_and_dry_run_writes_nothing(plan):
    work, sb, keys, parent = plan
    epic = next(k for k in keys if k)
    title = f"{epic} {sb.jira.issue_by_key(epic).summary}"
    sb.confluence.add_page(seed_atlassian.SPACE, title, "<p>elsewhere</p>")
    sb.clear_requests()
    dry = work.sync("jira-confluence", "--dry-run")
    assert dry.returncode == 0, explain(dry)
    assert sb.count(writes=True) == 0 and len(generated(sb, parent)) == 0
    assert "create" in dry.stdout
    proc = work.sync("jira-confluence")
    assert proc.returncode == 0, explain(proc)
    assert f"{title} (2)" in by_title(sb, parent)


def test_jql_limits_the_pages_to_the_epics_of_the_matches_and_an_epic_moved_out_keeps_its_page(plan):
    work, sb, keys, parent = plan
    epics = [k for k in keys if k]
    one_child = keys[epics[1]][0]
    proc = work.sync("jira-confluence", "--jql", f"key = {one_child}")
    assert proc.returncode == 0, explain(proc)
    pages = generated(sb, parent)
    assert [p.title.split(" ")[0] for p in pages] == [epics[1]]
    assert table_keys(pages[0].body) == keys[epics[1]]  # the whole table of that epic
    bad = work.sync("jira-confluence", "--jql", "key = = (")
    assert bad.returncode == 2 and "--jql" in bad.stderr and "Traceback" not in bad.stderr, explain(bad)
    assert work.sync("jira-confluence").returncode == 0
    assert len(generated(sb, parent)) == 4
    if seed_atlassian.OTHER_PROJECT not in sb.jira.projects:
        sb.jira.add_project(seed_atlassian.OTHER_PROJECT)
    page = next(p for p in generated(sb, parent) if p.title.startswith(epics[0] + " "))
    sb.jira.move_issue(epics[0], seed_atlassian.OTHER_PROJECT)
    moved = work.sync("jira-confluence")
    assert moved.returncode == 0, explain(moved)
    assert "no longer in ACME" in sb.confluence.pages[page.id].body and len(generated(sb, parent)) == 4


def test_sigkill_mid_run_then_one_page_per_epic(plan):
    work, sb, keys, parent = plan
    sb.faults.configure(latency_ms=40, services=["confluence"])
    process = work.start("sync.py", "jira-confluence", capture=False)
    deadline = time.monotonic() + 30
    while len(generated(sb, parent)) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 1 <= len(generated(sb, parent)) < 4, "killed between the creates"
    sb.faults.configure()
    proc = work.sync("jira-confluence")
    assert proc.returncode == 0, explain(proc)
    assert len(generated(sb, parent)) == 4
    assert len({p.title.split(" ")[0] for p in generated(sb, parent)}) == 4


def test_usage_and_configuration_errors_are_one_line_with_their_codes(plan):
    work, sb, keys, parent = plan
    cases = [
        (("--parent-page", "99999999"), 2, "--parent-page"),
        (("--parent-page", "not a page"), 2, "--parent-page"),
        (("--project", "acme;drop"), 2, "--project"),
        (("--parent-page", f"https://other-site.example/wiki/spaces/X/pages/{parent}/Plan"), 2, "other-site.example"),
    ]
    for args, code, named in cases:
        proc = work.sync("jira-confluence", *args)
        assert proc.returncode == code and named in proc.stderr, explain(proc)
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, explain(proc)
    nope = work.sync("jira-confluence", "--project", "NOPE")  # Jira answers 400 or nothing: said either way
    assert nope.returncode in (0, 78) and "NOPE" in nope.stderr and "Traceback" not in nope.stderr, explain(nope)
    assert generated(sb, parent) == []
    work.set(CONFLUENCE_PARENT_PAGE="")
    proc = work.sync("jira-confluence")
    assert proc.returncode == 78 and "CONFLUENCE_PARENT_PAGE" in proc.stderr, explain(proc)
    assert generated(sb, parent) == []


def test_a_save_by_a_person_between_listing_and_write_is_a_conflict_not_overwritten(plan):
    work, sb, keys, parent = plan
    assert work.sync("jira-confluence").returncode == 0
    epic = next(k for k in keys if k)
    sb.jira.edit(keys[epic][0], summary="Renamed in Jira")
    page = next(p for p in generated(sb, parent) if p.title.startswith(epic + " "))
    sb.confluence.collide_on_next_put(page.id, lambda body: body + "<p>Saved by Alice.</p>")
    proc = work.sync("jira-confluence")
    assert proc.returncode == 0, explain(proc)
    assert sb.confluence.pages[page.id].body.endswith("<p>Saved by Alice.</p>")
    assert "Renamed in Jira" not in sb.confluence.pages[page.id].body
    conflicts = json.loads(work.sync("conflicts", "--json").stdout)
    assert [c["target_id"] for c in conflicts] == [int(page.id)]


def test_jql_that_closes_its_parenthesis_stays_in_the_project_and_an_empty_jql_is_refused(plan):
    work, sb, keys, parent = plan
    other = seed_atlassian.OTHER_PROJECT
    if other not in sb.jira.projects:
        sb.jira.add_project(other)
    epic = sb.jira.add_issue(other, "Epic of another project", "Epic")
    sb.jira.add_issue(other, "child of another project", "Task", parent=epic.key)
    one_child = keys[[k for k in keys if k][0]][0]
    proc = work.sync("jira-confluence", "--jql", f"key = {one_child}) OR (project = {other}")
    assert proc.returncode == 0, explain(proc)
    titles = [p.title for p in generated(sb, parent)]
    assert len(titles) == 1 and titles[0].startswith(one_child.split("-")[0] + "-"), titles
    assert not any(other in t for t in titles) and other not in sb.confluence.pages[generated(sb, parent)[0].id].body
    sb.clear_requests()
    for jql in ("  ", 'summary ~ "' + "a" * 100_000 + '"'):  # empty; longer than a URL may be
        bad = work.sync("jira-confluence", "--jql", jql)
        assert bad.returncode == 2 and "--jql" in bad.stderr, explain(bad)
        assert len(bad.stderr.strip().splitlines()) == 1 and sb.count() == 0, explain(bad)


@pytest.mark.parametrize("hostile", ["html_200", "malformed_json"])
def test_an_unreadable_answer_to_a_page_write_is_69_then_the_next_run_heals(plan, hostile):
    """html_200: the server never saw the write; malformed_json: it made it and the answer was cut."""
    work, sb, keys, parent = plan
    sb.faults.configure(hostile=[hostile], services=["confluence"], paths=r"/pages$|/content$", methods=["POST"])
    bad = work.sync("jira-confluence")
    assert bad.returncode == 69, explain(bad)
    assert "confluence" in bad.stderr and "POST" in bad.stderr and "Traceback" not in bad.stderr, explain(bad)
    assert len(bad.stderr.strip().splitlines()) == 1 and len(generated(sb, parent)) <= 1, explain(bad)
    sb.faults.configure()
    healed = work.sync("jira-confluence")
    assert healed.returncode == 0, explain(healed)
    assert len(generated(sb, parent)) == 4 and len({p.title for p in generated(sb, parent)}) == 4
    # the same on an update: the person's edit check does not mistake tracksync's own write
    renamed = keys[[k for k in keys if k][0]][0]
    sb.jira.edit(renamed, summary="Renamed while the answer was lost")
    sb.faults.configure(hostile=[hostile], services=["confluence"], paths=r"/pages/\d+$|/content/\d+$", methods=["PUT"])
    bad = work.sync("jira-confluence")
    assert bad.returncode == 69 and "PUT" in bad.stderr and "Traceback" not in bad.stderr, explain(bad)
    sb.faults.configure()
    healed = work.sync("jira-confluence", "--json")
    assert healed.returncode == 0, explain(healed)
    assert json.loads(healed.stdout)["jobs"][0]["counts"]["conflicts"] == 0, explain(healed)
    assert sum("Renamed while the answer was lost" in p.body for p in generated(sb, parent)) == 1
    sb.clear_requests()
    assert work.sync("jira-confluence").returncode == 0 and sb.count(writes=True) == 0


def test_an_epic_description_of_a_strange_shape_is_text_never_a_crash(plan):
    work, sb, keys, parent = plan
    odd = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": 5}, {"type": "text", "text": "ok"}],
    }
    epic = sb.jira.add_issue(seed_atlassian.PROJECT, "Odd description", "Epic", description=odd)
    proc = work.sync("jira-confluence")
    assert proc.returncode == 0, explain(proc)
    page = next(p for p in generated(sb, parent) if p.title.startswith(epic.key + " "))
    assert "ok" in page.body

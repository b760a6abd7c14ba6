"""confluence-jira against hostile write answers, both deployments: a 2xx to an issue's create
or a page's update whose body is an HTML page or truncated JSON is never a crash (exit 1) and
never a second issue: an unreadable create answer is an unknown outcome (looked up by the origin
label), an unreadable page update stops the run with one line 69 naming the request."""

import pytest
from test_confluence_jira_e2e import atl, expected_origins, explain, per_origin  # noqa: F401

from common.confluence_storage import read_page


@pytest.mark.parametrize("hostile", ["malformed_json", "html_200"])  # performed + cut / never performed
def test_an_unreadable_create_answer_never_crashes_nor_duplicates(atl, hostile):
    work, sb, seed = atl
    work.set(JIRA_SEARCH_LAG="0")  # an issue still not found on the next run may be created then
    sb.faults.configure(hostile=[hostile], services=["jira"], paths="/issue$", methods=["POST"])
    proc = work.sync("confluence-jira")
    sb.faults.configure()
    assert proc.returncode in (0, 3), explain(proc)
    assert "Traceback" not in proc.stderr and "unexpected error" not in proc.stderr
    assert all(count == 1 for count in per_origin(sb).values())
    healed = work.sync("confluence-jira")
    assert healed.returncode == 0, explain(healed)
    assert per_origin(sb) == dict.fromkeys(expected_origins(seed), 1)
    for page_id, open_ids in seed.open_tasks.items():
        tasks = {t.task_id: t for t in read_page(sb.confluence.pages[page_id].body).tasks}
        assert all(len(tasks[t].jira_keys) == 1 for t in open_ids)


def test_an_unreadable_page_update_answer_is_69_naming_the_request_and_the_next_run_heals(atl):
    work, sb, seed = atl
    sb.faults.configure(
        hostile=["malformed_json"], services=["confluence"], paths=r"/pages/\d+$|/content/\d+$", methods=["PUT"]
    )
    proc = work.sync("confluence-jira")
    sb.faults.configure()
    assert proc.returncode == 69, explain(proc)
    (line,) = proc.stderr.strip().splitlines()
    assert "confluence" in line and "PUT /" in line and "Traceback" not in proc.stderr
    healed = work.sync("confluence-jira")
    assert healed.returncode == 0, explain(healed)
    assert per_origin(sb) == dict.fromkeys(expected_origins(seed), 1)
    for page_id, open_ids in seed.open_tasks.items():
        tasks = {t.task_id: t for t in read_page(sb.confluence.pages[page_id].body).tasks}
        assert all(len(tasks[t].jira_keys) == 1 for t in open_ids)

"""confluence-jira with awkward task text, both deployments: a long task full of emoji becomes one
issue whose summary fits Jira's 255 characters as Jira counts them (UTF-16 units: an emoji is
two), cut at a whole character; markup and quotes in a task stay text."""

from test_confluence_jira_e2e import atl, explain, per_origin  # noqa: F401

from common.confluence_storage import read_page
from sandbox import seed_atlassian

TASK = (
    "<ac:task-list><ac:task><ac:task-id>77</ac:task-id><ac:task-status>incomplete</ac:task-status>"
    "<ac:task-body>{text}</ac:task-body></ac:task></ac:task-list>"
)


def test_an_emoji_task_longer_than_jiras_summary_is_cut_as_jira_counts_and_filed_once(atl):
    work, sb, seed = atl
    page_id = seed.pages[seed_atlassian.TASK_PAGE]
    text = 'Ship 🚀 the &lt;b&gt;"release"&lt;/b&gt; ' + "🎉 party " * 60
    sb.confluence.edit_page(page_id, sb.confluence.pages[page_id].body + TASK.format(text=text))
    proc = work.sync("confluence-jira")
    assert proc.returncode == 0, explain(proc)
    (issue,) = [i for i in sb.jira.issues.values() if f"confluence-task-{page_id}-77" in i.labels]
    assert len(issue.summary.encode("utf-16-le")) // 2 <= 255
    assert issue.summary.startswith('Ship 🚀 the <b>"release"</b> 🎉 party') and "\ufffd" not in issue.summary
    tasks = {t.task_id: t for t in read_page(sb.confluence.pages[page_id].body).tasks}
    assert tasks["77"].jira_keys == (issue.key,)
    sb.clear_requests()
    again = work.sync("confluence-jira")
    assert again.returncode == 0 and sb.count(writes=True) == 0, explain(again)
    assert all(count == 1 for count in per_origin(sb).values())


def test_a_page_url_of_another_site_is_refused_before_any_request(atl):
    """A page URL of another Confluence names, by its id, an unrelated page on this one: refused by
    name (2 for --page, 78 for CONFLUENCE_PAGES) before any request; a URL of this site is fine."""
    work, sb, seed = atl
    foreign = f"https://wiki.other.example/wiki/spaces/ENG/pages/{seed.root_id}/Plan"
    sb.clear_requests()
    proc = work.sync("confluence-jira", "--page", foreign)
    assert proc.returncode == 2 and "not of CONFLUENCE_URL's site" in proc.stderr, explain(proc)
    work.set(CONFLUENCE_PAGES=foreign)
    proc = work.sync("confluence-jira", "--dry-run")
    assert proc.returncode == 78 and "CONFLUENCE_PAGES" in proc.stderr, explain(proc)
    assert sb.count() == 0

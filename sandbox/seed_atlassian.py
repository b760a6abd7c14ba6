"""Jira and Confluence seed data: a demo tree for the Confluence → Jira job's end-to-end tests and
a bulk tree for its bench.

Seed after choosing the deployment (``Sandbox(atlassian=...)`` or ``sb.set_atlassian``): mentions
in page bodies are written the deployment's way (Cloud ``ri:account-id``, Data Center
``ri:userkey``). ``demo`` and ``bulk`` return an ``AtlassianSeed`` naming what they made.

The demo tree (space ``ENG``, Jira projects ``ACME`` and ``OPS``)::

    Team space                         (root; 12 children: more than one page at max_limit <= 11)
    ├── Project Apollo                 (Jira issue macro of epic ACME-1: the project of its subtree)
    │   ├── Apollo kickoff             (TASK_PAGE: 4 tasks in one list — 1 and 2 open, 3 complete,
    │   │   │                           4 nested under 2 — mention and due date in 1; a second list
    │   │   │                           under another heading with open task 5; emoji, &nbsp;, a
    │   │   │                           CDATA code block holding "<ac:task>" as text)
    │   │   └── Apollo kickoff actions (TABLE_PAGE: tasks in table cells with a header row)
    │   └── Apollo notes               (no tasks)
    ├── Meeting notes 01 … 10          (a task or none each; level 2)
    └── Ops corner                     (Jira issue macro of OPS-1 inside an ``excerpt`` macro)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from sandbox.jira_base import User
from sandbox.seed import WORDS

if TYPE_CHECKING:
    from sandbox.hub import Sandbox

SPACE = "ENG"
PROJECT = "ACME"
OTHER_PROJECT = "OPS"
ROOT_TITLE = "Team space"
TASK_PAGE = "Apollo kickoff"
TABLE_PAGE = "Apollo kickoff actions"
MEETING_NOTES = 10


@dataclass
class AtlassianSeed:
    deployment: str
    space: str
    project: str
    root_id: str
    pages: dict[str, str] = field(default_factory=dict)  # title -> id
    issues: dict[str, str] = field(default_factory=dict)  # role -> key
    open_tasks: dict[str, list[str]] = field(default_factory=dict)  # page id -> ids of open top-level tasks


def mention(user: User, cloud: bool) -> str:
    """A user mention: Cloud by account id, Data Center by user key (the seed passes Confluence's)."""
    who = f'ri:account-id="{user.account_id}"' if cloud else f'ri:userkey="{user.key}"'
    return f"<ac:link><ri:user {who} /></ac:link>"


def jira_macro(key: str, macro_id: str) -> str:
    return (
        f'<ac:structured-macro ac:name="jira" ac:schema-version="1" ac:macro-id="{macro_id}">'
        '<ac:parameter ac:name="server">System Jira</ac:parameter>'
        '<ac:parameter ac:name="serverId">0c5e5a4b-7f3d-3d2e-9c1b-5a6f7e8d9c0b</ac:parameter>'
        f'<ac:parameter ac:name="key">{key}</ac:parameter></ac:structured-macro>'
    )


def task(task_id: int, body: str, complete: bool = False, nested: str = "") -> str:
    status = "complete" if complete else "incomplete"
    return (
        f"<ac:task>\n<ac:task-id>{task_id}</ac:task-id>\n"
        f"<ac:task-uuid>{task_id:08x}-6c2e-4f8a-9d61-2a9e5b1c7d40</ac:task-uuid>\n"
        f"<ac:task-status>{status}</ac:task-status>\n"
        f'<ac:task-body><span class="placeholder-inline-tasks">{body}</span></ac:task-body>\n</ac:task>\n{nested}'
    )


def task_list(*tasks: str, list_id: str = "5c1b2f0e9a7d") -> str:
    return f'<ac:task-list ac:task-list-id="{list_id}">\n' + "".join(tasks) + "</ac:task-list>"


def kickoff_body(alice: User, bob: User, cloud: bool) -> str:
    nested = task_list(task(4, "Ask legal about the cookie banner"), list_id="9e8d7c6b5a4f")
    return (
        "<h1>Apollo kickoff 🚀</h1>"
        f"<p>Attendees: {mention(alice, cloud)}&nbsp;and the team.</p>"
        + "<h2>Action items</h2>"
        + "<p>Agreed in the meeting &amp; to be tracked in Jira:</p>"
        + task_list(
            task(1, f'{mention(alice, cloud)} draft the release plan by <time datetime="2026-12-15" />'),
            task(2, "Order the &quot;staging&quot; servers", nested=nested),
            task(3, "Book the kickoff room", complete=True),
        )
        + "<h2>Follow-ups</h2>"
        + task_list(task(5, "Review the data-protection notes"), list_id="f011c0")
        + '<ac:structured-macro ac:name="code" ac:schema-version="1" ac:macro-id="c0de">'
        '<ac:parameter ac:name="language">python</ac:parameter>'
        "<ac:plain-text-body><![CDATA[if a < b and c > d: print('<ac:task>')]]></ac:plain-text-body>"
        "</ac:structured-macro>"
        '<p>Next meeting:&nbsp;<time datetime="2026-12-01" /> — bring ideas 💡</p>'
    )


def table_body(bob: User, cloud: bool) -> str:
    def row(owner: str, area: str, task_id: int, text: str) -> str:
        cell = task_list(task(task_id, text), list_id=f"tl{task_id}")
        return f"<tr><td><p>{owner}</p></td><td><p>{area}</p></td><td>{cell}</td></tr>"

    return (
        "<p>Actions by area:</p>"
        '<table data-layout="default"><colgroup><col /><col /><col /></colgroup><tbody>'
        "<tr><th><p>Owner</p></th><th><p>Area</p></th><th><p>Action</p></th></tr>"
        + row("Bob", "Backend", 1, f'{mention(bob, cloud)} migrate the user table by <time datetime="2026-12-20" />')
        + row("Carol", "Frontend", 2, "Fix the layout of the &lt;header&gt; on mobile")
        + "</tbody></table>"
    )


def demo(sandbox: Sandbox) -> AtlassianSeed:
    jira, confluence = sandbox.jira, sandbox.confluence  # type: ignore[attr-defined]
    cloud = jira.cloud
    users = sandbox.atlassian_credentials
    alice = users.user_by(name="alice")
    bob = users.user_by(name="bob")
    assert alice is not None and bob is not None
    alice = replace(alice, key=users.confluence_key(alice))  # mentions carry Confluence's key
    bob = replace(bob, key=users.confluence_key(bob))
    jira.add_project(PROJECT, "ACME Platform")
    jira.add_project(OTHER_PROJECT, "Operations")
    epic = jira.add_issue(PROJECT, "Apollo launch", "Epic")
    existing = jira.add_issue(PROJECT, "Set up continuous integration", "Task", parent=epic.key, labels=["infra"])
    ops_epic = jira.add_issue(OTHER_PROJECT, "Ops backlog", "Epic")
    confluence.add_space(SPACE, "Engineering")

    seed = AtlassianSeed(jira.deployment, SPACE, PROJECT, "")
    seed.issues = {"epic": epic.key, "task": existing.key, "ops_epic": ops_epic.key}

    def page(title: str, body: str, parent: str | None) -> str:
        made = confluence.add_page(SPACE, title, body, parent)
        seed.pages[title] = made.id
        return made.id

    root = page(ROOT_TITLE, "<p>Home of the engineering team.</p>", None)
    seed.root_id = root
    confluence.default_pages = [root]
    apollo = page(
        "Project Apollo",
        f"<p>Epic: {jira_macro(epic.key, 'a1')}</p><p>Everything about Apollo.</p>",
        root,
    )
    kickoff = page(TASK_PAGE, kickoff_body(alice, bob, cloud), apollo)
    table = page(TABLE_PAGE, table_body(bob, cloud), kickoff)
    page("Apollo notes", "<p>No actions here.</p>", apollo)
    seed.open_tasks[kickoff] = ["1", "2", "5"]
    seed.open_tasks[table] = ["1", "2"]
    for number in range(1, MEETING_NOTES + 1):
        tasks = task_list(task(1, f"Follow up on topic {number}")) if number % 3 == 0 else "<p>No actions.</p>"
        note = page(f"Meeting notes {number:02d}", f"<h2>Notes</h2>{tasks}", root)
        if number % 3 == 0:
            seed.open_tasks[note] = ["1"]
    page(
        "Ops corner",
        '<ac:structured-macro ac:name="excerpt" ac:schema-version="1" ac:macro-id="ex1"><ac:rich-text-body>'
        f"<p>{jira_macro(ops_epic.key, 'o1')}</p></ac:rich-text-body></ac:structured-macro>",
        root,
    )
    return seed


def bulk(sandbox: Sandbox, pages: int = 200, tasks: int = 10) -> AtlassianSeed:
    """A root with ``pages`` pages below it (20 per parent, so 3 levels from 21 pages on), each
    with ``tasks`` open tasks; the root names project ACME by a Jira issue macro of its epic."""
    jira, confluence = sandbox.jira, sandbox.confluence  # type: ignore[attr-defined]
    if PROJECT not in jira.projects:
        jira.add_project(PROJECT, "ACME Platform")
    epic = jira.add_issue(PROJECT, "Bulk epic", "Epic")
    if SPACE not in confluence.spaces:
        confluence.add_space(SPACE, "Engineering")
    seed = AtlassianSeed(jira.deployment, SPACE, PROJECT, "")
    seed.issues = {"epic": epic.key}
    root = confluence.add_page(SPACE, "Bulk root", f"<p>{jira_macro(epic.key, 'b0')}</p>")
    seed.root_id = root.id
    seed.pages[root.title] = root.id
    confluence.default_pages = [root.id]
    parents = [root.id]
    for number in range(pages):
        parent = parents[number // 20] if number // 20 < len(parents) else root.id
        body = "<h2>Actions</h2>" + task_list(
            *(task(t, f"Bulk task {t} of page {number}") for t in range(1, tasks + 1)), list_id=f"bulk{number}"
        )
        made = confluence.add_page(SPACE, f"Bulk page {number:04d}", body, parent)
        parents.append(made.id)
        seed.pages[made.title] = made.id
        seed.open_tasks[made.id] = [str(t) for t in range(1, tasks + 1)]
    return seed


def epics(
    sandbox: Sandbox, project: str = PROJECT, epics: int = 3, per_epic: int = 60, without_epic: int = 5
) -> dict[str, list[str]]:
    """A project plan for the Jira → Confluence direction: ``epics`` epics with ``per_epic``
    issues each (Cloud ``parent``, Data Center Epic Link) and ``without_epic`` issues without one;
    statuses, assignees and due dates vary. Returns {epic key: [issue keys]} ("" for none)."""
    jira = sandbox.jira  # type: ignore[attr-defined]
    if project not in jira.projects:
        jira.add_project(project, f"{project} project")
    users = [None, "alice", "bob", "carol"]
    statuses = ["To Do", "In Progress", "Done", "Backlog"]
    plan: dict[str, list[str]] = {}
    for number in range(epics):
        epic = jira.add_issue(project, f"Epic {number + 1}: {WORDS[number % len(WORDS)]}", "Epic")
        plan[epic.key] = []
        for child in range(per_epic):
            issue = jira.add_issue(
                project,
                f"{WORDS[(number + child) % len(WORDS)]} item {child + 1} of epic {number + 1}",
                "Story" if child % 3 else "Task",
                parent=epic.key,
                status=statuses[child % len(statuses)],
                assignee=users[child % len(users)],
                duedate=f"2026-12-{child % 28 + 1:02d}" if child % 2 else None,
            )
            plan[epic.key].append(issue.key)
    plan[""] = [jira.add_issue(project, f"Loose issue {n + 1}", "Task").key for n in range(without_epic)]
    return plan

"""Properties of the storage-format module on generated pages: tasks in lists, sub-lists, task
bodies, tables, bullet lists and macros (some that show other content), comments and CDATA with
task markup, entities and emoji. On every page: linking every task changes nothing but the
macros added; replacing some keeps the order of everything else and never turns a nested task
into a page task; statuses land where asked."""

import random

from common import confluence_storage as cs

PAGES = 250


def generate(rng, depth, counter):
    """A random storage-format fragment; task ids from `counter`, unique on the page."""
    if depth > 4:
        return rng.choice(["text", "a &nbsp; b", "😀", "&hellip;", "x<br/>y"])
    parts = []
    for _ in range(rng.randint(0, 4)):
        roll = rng.random()
        if roll < 0.2:
            parts.append(rng.choice(["plain", " &amp; ", "\n", "🎉 emoji", "&#58;", "  "]))
        elif roll < 0.4:
            counter[0] += 1
            inner = generate(rng, depth + 1, counter) if rng.random() < 0.3 else f"t{counter[0]}"
            status = rng.choice(
                [
                    "<ac:task-status>incomplete</ac:task-status>",
                    "<ac:task-status>complete</ac:task-status>",
                    "",
                    "<ac:task-status/>",
                ]
            )
            task_body = rng.choice([f"<ac:task-body>{inner}</ac:task-body>", "<ac:task-body/>", ""])
            tasks = f"<ac:task><ac:task-id>{counter[0]}</ac:task-id>{status}{task_body}</ac:task>"
            if rng.random() < 0.3:
                counter[0] += 1
                tasks += f"\n<ac:task-list><ac:task><ac:task-id>{counter[0]}</ac:task-id><ac:task-body>sub</ac:task-body></ac:task></ac:task-list>"
            parts.append(f"<ac:task-list>{tasks}</ac:task-list>" if rng.random() < 0.9 else tasks)
        elif roll < 0.5:
            cells = f"<td>{generate(rng, depth + 1, counter)}</td><td>{generate(rng, depth + 1, counter)}</td>"
            parts.append(f"<table><tr><th>H</th><th>I</th></tr><tr>{cells}</tr></table>")
        elif roll < 0.6:
            name = rng.choice(["expand", "jira", "include", "info", "tasks-report-macro", "code"])
            parts.append(
                f'<ac:structured-macro ac:name="{name}"><ac:parameter ac:name="key">AB-1</ac:parameter>'
                f"<ac:rich-text-body>{generate(rng, depth + 1, counter)}</ac:rich-text-body></ac:structured-macro>"
            )
        elif roll < 0.7:
            parts.append("<!-- <ac:task> --><![CDATA[<ac:task><ac:task-id>0</ac:task-id></ac:task>]]>")
        elif roll < 0.8:
            parts.append(f"<ul><li>{generate(rng, depth + 1, counter)}</li></ul>")
        elif roll < 0.9:
            parts.append(f"<h2>Head {rng.randint(1, 9)}</h2><p>para {generate(rng, depth + 1, counter)}</p>")
        else:
            parts.append(f"<p class='x' data-a=\"1\">{generate(rng, depth + 1, counter)}</p>")
    return "".join(parts)


def pages():
    rng = random.Random(20261127)
    return [(rng, generate(rng, 0, [0])) for _ in range(PAGES)]


def test_linking_every_task_adds_only_the_macros():
    for _, body in pages():
        page = cs.read_page(body)
        result = cs.apply_edits(body, {t.task_id: cs.TaskEdit("link", f"Q-{t.task_id}") for t in page.tasks})
        assert result.applied == tuple(t.task_id for t in page.tasks)
        restored = result.body
        for task in page.tasks:  # take the macros out again: appended to a body, or a body made for one
            added = cs.jira_macro(f"Q-{task.task_id}")
            restored = restored.replace(" " + added, "", 1).replace(f"<ac:task-body>{added}</ac:task-body>", "", 1)
        empty = "<ac:task-body/>"  # a self-closing body became a body holding the macro
        assert restored.replace(empty, "") == body.replace(empty, "")
        after = cs.read_page(result.body)
        assert [(t.task_id, t.jira_keys) for t in after.tasks] == [
            (t.task_id, (*t.jira_keys, f"Q-{t.task_id}")) for t in page.tasks
        ]


def test_replacing_some_tasks_keeps_everything_else_in_order():
    for rng, body in pages():
        page = cs.read_page(body)
        chosen = [t.task_id for t in page.tasks if rng.random() < 0.5]
        result = cs.apply_edits(body, {i: cs.TaskEdit("replace", f"Q-{i}") for i in chosen})
        gone = [i for i in chosen if i not in result.kept_as_tasks]
        after = cs.read_page(result.body)
        assert [t.task_id for t in after.tasks] == [t.task_id for t in page.tasks if t.task_id not in gone]
        assert [m.key for m in after.jira_macros if m.key.startswith("Q-")] == [f"Q-{i}" for i in chosen]
        for task in after.tasks:
            if task.task_id not in result.kept_as_tasks:
                before = page.task(task.task_id)
                assert (task.text, task.complete, task.jira_keys, task.due) == (
                    before.text,
                    before.complete,
                    before.jira_keys,
                    before.due,
                )
        for number in range(1, 300):  # no task id is lost, nested or not (only the replaced ones)
            tag = f"<ac:task-id>{number}</ac:task-id>"
            assert (tag in result.body) == (tag in body and str(number) not in gone), number


def test_statuses_land_where_asked():
    for rng, body in pages():
        page = cs.read_page(body)
        wanted = {t.task_id: rng.random() < 0.5 for t in page.tasks}
        result = cs.apply_edits(body, {i: cs.TaskEdit(complete=done) for i, done in wanted.items()})
        assert {t.task_id: t.complete for t in cs.read_page(result.body).tasks} == wanted
        again = cs.apply_edits(result.body, {i: cs.TaskEdit(complete=done) for i, done in wanted.items()})
        assert again.body == result.body and again.unchanged == tuple(wanted)  # a second time: nothing to do

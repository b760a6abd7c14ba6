"""The storage-format module finds a page's own tasks (not nested ones, not those a macro shows
from elsewhere) and rewrites them by splicing: every byte it does not edit comes back unchanged,
on the shipped task-list examples and on adversarial pages; malformed input is one clear error."""

import dataclasses
import json
import re
from datetime import date
from pathlib import Path

import pytest

from common import confluence_storage as cs
from common.errors import DATA_INVALID

CONTRACTS = Path(__file__).resolve().parents[1] / "sandbox" / "contracts" / "confluence"
EXAMPLES = json.loads((CONTRACTS / "storage-format-tasklist.examples.json").read_text("utf-8"))["examples"]
EXAMPLES_XML = (CONTRACTS / "storage-format-tasklist.examples.xml").read_text("utf-8")


def macro(key):
    return cs.jira_macro(key)


def without_links(body, keys):
    """The body with the link-style macros for these keys taken out again."""
    for key in keys:
        assert body.count(" " + macro(key)) == 1, key
        body = body.replace(" " + macro(key), "", 1)
    return body


# --------------------------------------------------------------------------- the shipped examples


def test_the_shipped_examples_are_read_as_confluence_shows_them():
    minimal = cs.read_page(EXAMPLES["atlassian-doc-minimal"]["storage"])
    assert minimal.tasks == () and minimal.untracked_tasks == 1  # no ac:task-id: Confluence adds one

    returned = cs.read_page(EXAMPLES["as-returned-by-confluence"]["storage"])
    assert [(t.task_id, t.complete, t.text) for t in returned.tasks] == [
        ("1", False, "Review the sync report"),
        ("2", True, "Close ticket #4711"),
    ]

    (task,) = cs.read_page(EXAMPLES["with-mention-and-due-date"]["storage"]).tasks
    assert task.task_id == "3" and not task.complete
    assert task.due == date(2026, 9, 30)
    assert task.mentions == (cs.Mention(account_id="557058:00000000-0000-0000-0000-000000000000"),)
    assert task.summary == "update the roadmap by 2026-09-30"

    nested = cs.read_page(EXAMPLES["nested"]["storage"])
    assert [t.task_id for t in nested.tasks] == ["4"]  # 5 is a sub-task of 4, not a task of the page
    assert nested.tasks[0].text == "Parent task"  # the sub-task's text is not the parent's


def test_the_xml_examples_file_is_read_whole_and_comes_back_byte_for_byte():
    page = cs.read_page(EXAMPLES_XML)  # XML declaration, a comment with markup in it, namespaces
    assert [t.task_id for t in page.tasks] == ["1", "2", "3", "4"] and page.untracked_tasks == 1
    edits = {"1": cs.TaskEdit("link", "PROJ-1"), "3": cs.TaskEdit("link", "PROJ-3"), "4": cs.TaskEdit("link", "PROJ-4")}
    result = cs.apply_edits(EXAMPLES_XML, edits)
    assert result.applied == ("1", "3", "4")
    assert without_links(result.body, ["PROJ-1", "PROJ-3", "PROJ-4"]) == EXAMPLES_XML
    assert [t.jira_keys for t in cs.read_page(result.body).tasks] == [("PROJ-1",), (), ("PROJ-3",), ("PROJ-4",)]


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_edit_of_every_example_touches_only_its_task(name):
    body = EXAMPLES[name]["storage"]
    for task in cs.read_page(body).tasks:
        linked = cs.link_task(body, task.task_id, "ABC-7")
        assert linked.changed and without_links(linked.body, ["ABC-7"]) == body
        assert cs.read_page(linked.body).task(task.task_id).jira_keys == ("ABC-7",)

        flipped = cs.set_task_status(body, task.task_id, not task.complete)
        assert cs.read_page(flipped.body).task(task.task_id).complete is not task.complete
        old, new = ("complete", "incomplete") if task.complete else ("incomplete", "complete")
        at = body.index(f"<ac:task-id>{task.task_id}<")  # only this task's status text differs
        assert flipped.body[:at] == body[:at]
        assert flipped.body[at:].replace(f"<ac:task-status>{new}", f"<ac:task-status>{old}", 1) == body[at:]
        assert cs.set_task_status(flipped.body, task.task_id, not task.complete).body == flipped.body

        replaced = cs.replace_task(body, task.task_id, "ABC-7")
        after = cs.read_page(replaced.body)
        assert [m.key for m in after.jira_macros] == ["ABC-7"]
        if name == "nested":  # a task with sub-tasks stays a task (linked), or they would become page tasks
            assert replaced.kept_as_tasks == (task.task_id,) and replaced.body == linked.body
            continue
        assert task.task_id not in [t.task_id for t in after.tasks] and replaced.kept_as_tasks == ()
        assert f"<p>{macro('ABC-7')} " in replaced.body
        for other in cs.read_page(body).tasks:  # the others unchanged (a paragraph may now precede them)
            if other.task_id != task.task_id:
                assert dataclasses.replace(after.task(other.task_id), paragraph=None) == other


# --------------------------------------------------------------------------- an adversarial page

PAGE = (
    '<h1 class="title">Sprint&nbsp;42 &hellip; review 🎉</h1>\r\n'
    "<!-- <ac:task><ac:task-id>90</ac:task-id></ac:task> a comment is not a task -->\r\n"
    "<p>Actions from the meeting&#58; <strong>owners</strong> below</p>\r\n"
    "<ac:task-list ac:task-list-id='a1'>\r\n"
    "<ac:task>\n<ac:task-id>1</ac:task-id>\n<ac:task-uuid>u-1</ac:task-uuid>\n"
    "<ac:task-status>incomplete</ac:task-status>\n"
    '<ac:task-body><span class="placeholder-inline-tasks"><ac:link><ri:user ri:userkey="8a7f808a5e"/></ac:link>'
    "  write\n the   release&nbsp;notes &amp; <em>check</em> them by <time datetime='2026-12-01'/></span></ac:task-body>\n"
    "</ac:task>\n"
    "<ac:task><ac:task-id>2</ac:task-id><ac:task-status>complete</ac:task-status>"
    '<ac:task-body>already done ✅ <ac:emoticon ac:name="tick" ac:emoji-fallback="✔"/></ac:task-body></ac:task>\n'
    "<ac:task><ac:task-id>3</ac:task-id><ac:task-status>incomplete</ac:task-status><ac:task-body>parent"
    "<ac:task-list><ac:task><ac:task-id>4</ac:task-id><ac:task-status>incomplete</ac:task-status>"
    "<ac:task-body>inside the parent's body</ac:task-body></ac:task></ac:task-list><ac:task><ac:task-id>11</ac:task-id>"
    "<ac:task-body>a bare task in the body</ac:task-body></ac:task></ac:task-body></ac:task>\n"
    "<ac:task-list><ac:task><ac:task-id>5</ac:task-id><ac:task-status>incomplete</ac:task-status>"
    "<ac:task-body>sub-task in a sub-list</ac:task-body></ac:task></ac:task-list>\n"
    "<ac:task><ac:task-id>6</ac:task-id><ac:task-status  >incomplete</ac:task-status ><ac:task-body>linked before "
    '<ac:structured-macro ac:schema-version="1" ac:name="jira"><ac:parameter ac:name="key">OPS-9</ac:parameter>'
    "</ac:structured-macro></ac:task-body></ac:task>\r\n"
    "</ac:task-list>\r\n"
    '<h2 id="x">Plan<br>ned</h2>\n'
    '<ac:structured-macro ac:name="code" ac:schema-version="1"><ac:parameter ac:name="language">xml</ac:parameter>'
    "<ac:plain-text-body><![CDATA[<ac:task-list><ac:task><ac:task-id>91</ac:task-id><ac:task-status>incomplete"
    "</ac:task-status><ac:task-body>code, not a task</ac:task-body></ac:task></ac:task-list> < & ]]>"
    "</ac:plain-text-body></ac:structured-macro>\n"
    "<table><colgroup><col/><col /></colgroup><tbody>"
    "<tr><th><p>Owner</p></th><th>Due</th><th>Action</th></tr>"
    "<tr><td>Ana</td><td>Friday</td><td><ac:task-list><ac:task><ac:task-id>7</ac:task-id>"
    "<ac:task-status>incomplete</ac:task-status><ac:task-body>book the room</ac:task-body></ac:task>"
    "</ac:task-list></td></tr>"
    '<tr><td colspan="2">Ben &amp; Cy</td><td><ac:task-list><ac:task><ac:task-id>8</ac:task-id>'
    "<ac:task-status>incomplete</ac:task-status><ac:task-body>order <b>snacks</b></ac:task-body></ac:task>"
    "</ac:task-list></td></tr></tbody></table>\n"
    "<ul><li>point<ul><li>deeper<ac:task-list><ac:task><ac:task-id>9</ac:task-id><ac:task-status>incomplete"
    "</ac:task-status><ac:task-body>in a bullet list</ac:task-body></ac:task></ac:task-list></li></ul></li></ul>\n"
    '<ac:structured-macro ac:name="excerpt-include"><ac:parameter ac:name="">'
    '<ac:link><ri:page ri:content-title="Other"/></ac:link></ac:parameter><ac:rich-text-body><ac:task-list><ac:task>'
    "<ac:task-id>92</ac:task-id><ac:task-status>incomplete</ac:task-status><ac:task-body>another page's</ac:task-body>"
    "</ac:task></ac:task-list></ac:rich-text-body></ac:structured-macro>\n"
    '<ac:structured-macro ac:name="tasks-report-macro"><ac:rich-text-body><ac:task-list><ac:task>'
    "<ac:task-id>93</ac:task-id><ac:task-status>incomplete</ac:task-status><ac:task-body>a report row</ac:task-body>"
    "</ac:task></ac:task-list></ac:rich-text-body></ac:structured-macro>\n"
    '<ac:adf-extension><ac:adf-node type="panel"><ac:adf-content><p>x</p></ac:adf-content></ac:adf-node>'
    "<ac:adf-fallback><ac:task-list><ac:task><ac:task-id>94</ac:task-id><ac:task-body>fallback copy</ac:task-body>"
    "</ac:task></ac:task-list></ac:adf-fallback></ac:adf-extension>\n"
    '<ac:structured-macro ac:name="expand"><ac:rich-text-body><p>Shown here</p><ac:task-list><ac:task>'
    "<ac:task-id>10</ac:task-id><ac:task-status>incomplete</ac:task-status><ac:task-body>in an expand</ac:task-body>"
    "</ac:task></ac:task-list></ac:rich-text-body></ac:structured-macro>\n"
    '<p><ac:structured-macro ac:name="jira"><ac:parameter ac:name="server">System JIRA</ac:parameter>'
    '<ac:parameter ac:name="serverId">1a2b</ac:parameter><ac:parameter ac:name="key">PLAT-100</ac:parameter>'
    "</ac:structured-macro></p>\n"
)
OWN = ["1", "2", "3", "6", "7", "8", "9", "10"]


def test_the_page_s_own_tasks_in_page_order():
    page = cs.read_page(PAGE)
    assert cs.find_tasks(PAGE) == page.tasks and cs.find_jira_macros(PAGE) == page.jira_macros
    assert [t.status for t in page.tasks[:2]] == ["incomplete", "complete"]
    assert [t.task_id for t in page.tasks] == OWN  # not 4, 5, 11 (nested), 90-94 (comment, code, macros)
    assert [t.task_id for t in page.tasks if not t.complete] == ["1", "3", "6", "7", "8", "9", "10"]
    assert page.untracked_tasks == 0


def test_text_due_date_mentions_and_jira_keys_of_a_task():
    page = cs.read_page(PAGE)
    first = page.task("1")
    assert first.text == "write the release notes & check them by 2026-12-01"  # &nbsp; and newlines collapsed
    assert first.due == date(2026, 12, 1)
    assert first.mentions == (cs.Mention(userkey="8a7f808a5e"),)  # Data Center
    assert page.task("2").complete and page.task("2").text == "already done ✅ ✔"
    assert page.task("3").text == "parent"
    assert page.task("6").jira_keys == ("OPS-9",) and page.task("6").text == "linked before"
    assert page.task("1").jira_keys == ()


def test_context_heading_paragraph_and_table_row():
    page = cs.read_page(PAGE)
    first = page.task("1")
    assert first.heading == "Sprint 42 … review 🎉"
    assert first.paragraph == "Actions from the meeting: owners below"
    assert first.row == ()
    assert first.context == "Sprint 42 … review 🎉 / Actions from the meeting: owners below"
    assert page.task("7").heading == "Plan ned"
    assert page.task("7").paragraph is None
    assert page.task("7").row == (("Owner", "Ana"), ("Due", "Friday"))
    assert page.task("8").row == (("Owner", "Ben & Cy"), ("Due", "Ben & Cy"))
    assert page.task("8").context == "Plan ned / Owner: Ben & Cy; Due: Ben & Cy"
    assert page.task("10").paragraph == "Shown here"


def test_jira_macros_on_the_page_name_their_project_and_task():
    macros = cs.read_page(PAGE).jira_macros
    assert [(m.key, m.project, m.task_id) for m in macros] == [("OPS-9", "OPS", "6"), ("PLAT-100", "PLAT", None)]
    assert (macros[1].server, macros[1].server_id) == ("System JIRA", "1a2b")


def test_link_every_open_task_and_nothing_else_changes():
    open_ids = [t.task_id for t in cs.read_page(PAGE).tasks if not t.complete and not t.jira_keys]
    edits = {task_id: cs.TaskEdit("link", f"NEW-{task_id}") for task_id in open_ids}
    result = cs.apply_edits(PAGE, edits)
    assert result.applied == tuple(open_ids) and result.missing == ()
    assert without_links(result.body, [f"NEW-{i}" for i in open_ids]) == PAGE
    after = cs.read_page(result.body)
    assert [t.task_id for t in after.tasks] == OWN
    assert [m.key for m in after.jira_macros] == [
        "NEW-1", "NEW-3", "OPS-9", "NEW-7", "NEW-8", "NEW-9", "NEW-10", "PLAT-100"
    ]  # fmt: skip
    # each macro inside its own task, after the text; the sub-task in 3's body is untouched
    assert after.task("3").jira_keys == ("NEW-3",) and after.task("3").text == "parent"
    assert "a bare task in the body</ac:task-body></ac:task> " + macro("NEW-3") in result.body

    again = cs.apply_edits(result.body, edits)
    assert again.body == result.body and again.applied == () and again.unchanged == tuple(open_ids)


def test_status_edits_change_only_the_status_text():
    result = cs.apply_edits(PAGE, {"1": cs.TaskEdit(complete=True), "2": cs.TaskEdit(complete=False)})
    assert result.applied == ("1", "2")
    assert len(result.body) == len(PAGE)  # incomplete <-> complete: same total length here
    diff = [i for i, (a, b) in enumerate(zip(result.body, PAGE, strict=True)) if a != b]
    first_status = PAGE.index("<ac:task-status>incomplete")
    assert first_status < diff[0] and diff[-1] < PAGE.index("</ac:task-status>", PAGE.index("<ac:task-id>2"))
    page = cs.read_page(result.body)
    assert page.task("1").complete and not page.task("2").complete
    assert cs.apply_edits(PAGE, {"2": cs.TaskEdit(complete=True)}).unchanged == ("2",)
    odd = cs.set_task_status(PAGE, "6", True)  # odd spacing in the status tags stays as written
    assert odd.body == PAGE.replace(
        "<ac:task-status  >incomplete</ac:task-status >", "<ac:task-status  >complete</ac:task-status >"
    )


def test_status_is_added_where_a_task_has_none():
    body = "<ac:task-list><ac:task><ac:task-id>1</ac:task-id><ac:task-body>x</ac:task-body></ac:task></ac:task-list>"
    assert not cs.read_page(body).task("1").complete
    done = cs.set_task_status(body, "1", True)
    assert done.body == body.replace("</ac:task-id>", "</ac:task-id><ac:task-status>complete</ac:task-status>")
    selfclosed = body.replace("<ac:task-body>x</ac:task-body>", "<ac:task-status/><ac:task-body/>")
    done = cs.apply_edits(selfclosed, {"1": cs.TaskEdit("link", "A-1", complete=True)})
    assert done.body == (
        "<ac:task-list><ac:task><ac:task-id>1</ac:task-id><ac:task-status>complete</ac:task-status>"
        f"<ac:task-body>{macro('A-1')}</ac:task-body></ac:task></ac:task-list>"
    )


def test_replace_turns_tasks_into_paragraphs_in_place_and_in_order():
    result = cs.apply_edits(PAGE, {"1": cs.TaskEdit("replace", "NEW-1"), "6": cs.TaskEdit("replace", "NEW-6")})
    assert result.applied == ("1", "6")
    head, tail = PAGE.index("<ac:task-list ac:task-list-id='a1'>"), PAGE.index("</ac:task-list>\r\n<h2")
    tail += len("</ac:task-list>")
    assert result.body.startswith(PAGE[:head]) and result.body.endswith(PAGE[tail:])
    middle = result.body[head : len(result.body) - (len(PAGE) - tail)]
    start_2, end_5 = PAGE.index("<ac:task><ac:task-id>2<"), PAGE.index("\n<ac:task><ac:task-id>6<")
    # the task's markup, without the editor's placeholder span
    assert middle == (
        f"<p>{macro('NEW-1')} "
        '<ac:link><ri:user ri:userkey="8a7f808a5e"/></ac:link>'
        "  write\n the   release&nbsp;notes &amp; <em>check</em> them by <time datetime='2026-12-01'/></p>"
        "<ac:task-list ac:task-list-id='a1'>\n" + PAGE[start_2:end_5] + "\n</ac:task-list>"
        f"<p>{macro('NEW-6')} linked before "
        '<ac:structured-macro ac:schema-version="1" ac:name="jira"><ac:parameter ac:name="key">OPS-9</ac:parameter>'
        "</ac:structured-macro></p>"
    )
    page = cs.read_page(result.body)
    assert [t.task_id for t in page.tasks] == ["2", "3", "7", "8", "9", "10"]
    assert [m.key for m in page.jira_macros][:3] == ["NEW-1", "NEW-6", "OPS-9"]


def test_replace_works_in_a_table_cell_and_keeps_a_task_with_sub_tasks():
    edits = {"3": cs.TaskEdit("replace", "NEW-3", complete=True), "7": cs.TaskEdit("replace", "NEW-7")}
    result = cs.apply_edits(PAGE, edits)
    # the list held only task 7: no empty list is left
    assert f"<td><p>{macro('NEW-7')} book the room</p></td>" in result.body
    # task 3 holds sub-tasks 4 and 11: it stays a task, linked (and its status set), so they stay nested
    assert result.applied == ("3", "7") and result.kept_as_tasks == ("3",)
    page = cs.read_page(result.body)
    assert [t.task_id for t in page.tasks] == ["1", "2", "3", "6", "8", "9", "10"]
    assert page.task("3").jira_keys == ("NEW-3",) and page.task("3").complete
    assert page.task("8").row == (("Owner", "Ben & Cy"), ("Due", "Ben & Cy"))
    sibling = EXAMPLES["nested"]["storage"]  # sub-tasks in a sub-list right after the task
    assert cs.replace_task(sibling, "4", "NEW-4").kept_as_tasks == ("4",)


def test_replace_keeps_block_content_of_the_task_after_the_paragraph():
    body = (
        "<ac:task-list><ac:task><ac:task-id>1</ac:task-id><ac:task-body><p>first</p><p>second <b>x</b></p>"
        "</ac:task-body></ac:task><ac:task><ac:task-id>2</ac:task-id><ac:task-body>two</ac:task-body></ac:task>"
        "</ac:task-list>"
    )
    result = cs.replace_task(body, "1", "NEW-1")
    assert result.body == (
        f"<p>{macro('NEW-1')}</p><p>first</p><p>second <b>x</b></p>"
        "<ac:task-list><ac:task><ac:task-id>2</ac:task-id><ac:task-body>two</ac:task-body></ac:task></ac:task-list>"
    )


def test_edits_reapplied_to_a_newer_body_keep_the_colleague_s_change():
    planned = cs.read_page(PAGE)
    edits = {t.task_id: cs.TaskEdit("link", f"NEW-{t.task_id}") for t in planned.tasks if t.task_id in ("1", "7", "9")}
    newer = PAGE.replace("<h1", "<p>Added by a colleague</p><h1", 1)
    start = newer.index("<tr><td>Ana</td>")
    newer = newer[:start] + newer[newer.index("</tr>", start) + 5 :]  # the colleague deleted task 7's row
    result = cs.apply_edits(newer, edits)
    assert result.applied == ("1", "9") and result.missing == ("7",)
    assert without_links(result.body, ["NEW-1", "NEW-9"]) == newer
    assert result.body.startswith("<p>Added by a colleague</p>")


def test_a_task_moved_under_another_is_missing_not_edited():
    body = EXAMPLES["nested"]["storage"]
    result = cs.apply_edits(body, {"5": cs.TaskEdit("link", "A-5"), "4": cs.TaskEdit(complete=True)})
    assert result.missing == ("5",) and result.applied == ("4",)
    assert "A-5" not in result.body


def test_summary_is_at_most_255_characters():
    long_text = "word " * 100
    body = f"<ac:task><ac:task-id>1</ac:task-id><ac:task-body>{long_text}</ac:task-body></ac:task>"
    task = cs.read_page(body).task("1")
    assert task.text == long_text.strip()
    assert len(task.summary) <= 255 and task.summary.endswith("…")
    assert task.summary[:-1].rstrip() == task.summary[:-1] and long_text.startswith(task.summary[:-1])
    blocks = cs.read_page(
        "<ac:task><ac:task-id>3</ac:task-id><ac:task-body><p>one</p>two<br/>three</ac:task-body></ac:task>"
    )
    assert blocks.task("3").summary == "one two three"
    empty = cs.read_page("<ac:task><ac:task-id>2</ac:task-id><ac:task-body> &nbsp; </ac:task-body></ac:task>")
    assert empty.task("2").summary == "Confluence task 2"  # Jira refuses an empty summary


def test_macro_values_are_escaped_and_keys_checked():
    assert 'name="server">A &amp; B &lt;x&gt;</ac:parameter>' in cs.jira_macro("AB-1", server="A & B <x>")
    for bad in ("ab-1", "AB-0", "AB 1", "AB-1<", ""):
        with pytest.raises(ValueError):
            cs.TaskEdit("link", bad)
    with pytest.raises(ValueError):
        cs.TaskEdit("link")


# --------------------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    "body, where",
    [
        ("<p>open <b>bold</p>", "line 1, column 16: </p> does not close <b>"),
        ("<p>\n<ac:task-list>\n", "line 2, column 1: <ac:task-list> is never closed"),
        ("text</p>", "</p> does not close no open element"),
        ("<p>x</p><!-- never closed", "<!-- is never closed"),
        ("<![CDATA[ <ac:task>", "<![CDATA[ is never closed"),
        ('<p class="x>y</p>', "the start tag <p> is malformed"),
        ("<p a=1 b='2'c>", "the start tag <p> is malformed"),
        ("</ p>", "malformed end tag"),
        ("<ac:task><ac:task-id>1</ac:task-id></ac:task><ac:task><ac:task-id>1</ac:task-id></ac:task>", "task id 1"),
    ],
)
def test_malformed_input_is_one_clear_line(body, where):
    with pytest.raises(cs.StorageFormatError) as caught:
        cs.read_page(body)
    message = str(caught.value)
    assert message.startswith("storage format: ") and where in message and "\n" not in message
    assert caught.value.exit_code == DATA_INVALID
    with pytest.raises(cs.StorageFormatError):
        cs.apply_edits(body, {"1": cs.TaskEdit(complete=True)})


def test_bounds_make_hostile_input_fail_fast():
    with pytest.raises(cs.StorageFormatError, match="nested deeper than 256"):
        cs.read_page("<div>" * 100_000)
    with pytest.raises(cs.StorageFormatError, match="more than"):
        cs.read_page("x" * (cs.MAX_BODY_CHARS + 1))
    with pytest.raises(cs.StorageFormatError, match="not text"):
        cs.read_page(b"<p/>")
    with pytest.raises(cs.StorageFormatError, match="more than 250000 nodes"):
        cs.read_page("<b/>" * 1_200_000)  # 4.8 MB of empty elements
    # each of these would be quadratic (or worse) for a naive scanner: must stay linear
    for hostile in (
        "<a" + " b" * 200_000,
        '<a b="' * 100_000,
        "<!--" * 200_000,
        "<" * 300_000,
        "<p>" + "&amp;" * 300_000 + "</p>",
        "<ac:task-list>" + "<ac:task><ac:task-id>1</ac:task-id></ac:task>" * 1 + "</ac:task-list>" * 2,
    ):
        try:
            cs.read_page(hostile)
        except cs.StorageFormatError as error:
            assert "\n" not in str(error)


def test_a_big_page_is_read_and_edited_quickly():
    rows = "".join(
        f"<tr><td>row {i}</td><td><ac:task-list><ac:task><ac:task-id>{i}</ac:task-id><ac:task-status>incomplete"
        f"</ac:task-status><ac:task-body>task {i} &nbsp;</ac:task-body></ac:task></ac:task-list></td></tr>"
        for i in range(1, 3001)
    )
    body = f"<table><tr><th>Name</th><th>Task</th></tr>{rows}</table>"
    page = cs.read_page(body)
    assert len(page.tasks) == 3000 and page.tasks[-1].row == (("Name", "row 3000"),)
    result = cs.apply_edits(body, {str(i): cs.TaskEdit("replace", f"A-{i}") for i in range(1, 3001, 2)})
    assert len(cs.read_page(result.body).tasks) == 1500


def test_random_damage_is_either_read_or_refused_and_links_stay_byte_exact():
    import random

    rng = random.Random(12)
    pieces = ["<", ">", "/", '"', "'", "&", "<!--", "]]>", "<ac:task>", "</ac:task>", "<ac:task-id>", "\n", "é"]
    outcomes = {"read": 0, "refused": 0}
    for _ in range(300):
        body = PAGE
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(body))
            if rng.random() < 0.5:
                body = body[:at] + body[at + rng.randint(1, 12) :]
            else:
                body = body[:at] + rng.choice(pieces) + body[at:]
        try:
            page = cs.read_page(body)
        except cs.StorageFormatError as error:
            assert "\n" not in str(error)
            outcomes["refused"] += 1
            continue
        outcomes["read"] += 1
        ids = [t.task_id for t in page.tasks if not t.jira_keys]
        result = cs.apply_edits(body, {i: cs.TaskEdit("link", f"Z-{n + 1}") for n, i in enumerate(ids)})
        assert without_links(result.body, [f"Z-{n + 1}" for n in range(len(ids))]) == body
    assert outcomes["read"] > 20 and outcomes["refused"] > 20, outcomes


def test_no_serializer_round_trip_quirks():
    """What an XML/HTML round trip would change (quotes, attribute order, self-closing spacing,
    entities, CDATA, CRLF, upper-case tags) stays exactly as written."""
    body = (
        "<P ALIGN='left' class=\"a\">x&nbsp;y&#x1F600;&copy;</P>\r\n<br><hr/><img src=a.png >"
        "<ac:task><ac:task-id>1</ac:task-id><ac:task-body>t</ac:task-body></ac:task>"
        "<ac:image ac:height=\"250\" ><ri:attachment ri:filename='a&amp;b.png' /></ac:image><![CDATA[ <x> ]]>"
        "<span title=\"a > b\" data-x='</span>'>&lt;ac:task&gt;</span><?pi x?><!DOCTYPE x>"
        "<ac:task><ac:task-id>2</ac:task-id><ac:task-body>t2</ac:task-body></ac:task>"
    )
    assert [t.task_id for t in cs.read_page(body).tasks] == ["1", "2"]
    result = cs.apply_edits(body, {"1": cs.TaskEdit("link", "Q-1"), "2": cs.TaskEdit("link", "Q-2")})
    assert without_links(result.body, ["Q-1", "Q-2"]) == body
    assert re.search(r"<ac:task-body>t <ac:structured-macro", result.body)


def test_mixed_edits_in_one_list_all_land():
    edits = {
        "6": cs.TaskEdit("replace", "NEW-6"),
        "3": cs.TaskEdit("link", "NEW-3"),
        "2": cs.TaskEdit(complete=False),
        "1": cs.TaskEdit("link", "NEW-1", complete=True),
        "7": cs.TaskEdit("link", "NEW-7"),
    }
    result = cs.apply_edits(PAGE, edits)
    assert result.applied == ("6", "3", "2", "1", "7")
    page = cs.read_page(result.body)
    assert [t.task_id for t in page.tasks] == ["1", "2", "3", "7", "8", "9", "10"]
    assert page.task("1").complete and page.task("1").jira_keys == ("NEW-1",)
    assert not page.task("2").complete and page.task("3").jira_keys == ("NEW-3",)
    assert page.task("7").jira_keys == ("NEW-7",)
    # the same as the edits one after another, each of which is checked byte for byte above
    others = cs.apply_edits(PAGE, {k: v for k, v in edits.items() if k != "6"})
    assert cs.apply_edits(others.body, {"6": edits["6"]}).body == result.body
    restored = without_links(others.body, ["NEW-1", "NEW-3", "NEW-7"])
    restored = restored.replace(
        "<ac:task-status>complete</ac:task-status>", "<ac:task-status>incomplete</ac:task-status>", 1
    )
    assert (
        restored.replace(
            "incomplete</ac:task-status><ac:task-body>already", "complete</ac:task-status><ac:task-body>already"
        )
        == PAGE
    )


def test_an_empty_page_and_a_page_without_tasks():
    assert cs.read_page("") == cs.StoragePage((), (), 0)
    assert cs.apply_edits("", {"1": cs.TaskEdit(complete=True)}) == cs.EditResult("", (), (), ("1",))
    plain = "<p>Hello &amp; welcome</p><table><tr><th>a</th></tr></table>"
    assert cs.read_page(plain).tasks == () and cs.apply_edits(plain, {}).body == plain


def test_a_bare_task_gets_status_then_body_in_confluence_s_order():
    body = "<ac:task-list><ac:task><ac:task-id>1</ac:task-id><ac:task-uuid>u</ac:task-uuid></ac:task></ac:task-list>"
    result = cs.apply_edits(body, {"1": cs.TaskEdit("link", "ZZ-1", complete=True)})
    assert result.body == (
        "<ac:task-list><ac:task><ac:task-id>1</ac:task-id><ac:task-uuid>u</ac:task-uuid>"
        f"<ac:task-status>complete</ac:task-status><ac:task-body>{macro('ZZ-1')}</ac:task-body></ac:task></ac:task-list>"
    )
    assert cs.read_page(result.body).task("1").jira_keys == ("ZZ-1",)

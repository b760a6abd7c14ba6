"""confluence-tree's pure parts: the tree's shape and bounds, page bodies the storage-format reader
parses, the deepest-first removal order and the marker check of unlabelled leftovers."""

from datetime import date

import pytest

from common.clients.confluence import Page
from common.confluence_storage import read_page
from common.errors import UsageError
from common.ops.confluence_tree_plan import (
    TreeSpec,
    check_spec,
    is_unlabelled_test_page,
    page_count,
    plan_tree,
    removal_order,
    tree_paths,
)


def test_paths_come_level_by_level_parents_first():
    paths = tree_paths(3, 2)
    assert len(paths) == page_count(3, 2) == 14
    seen = set()
    for path in paths:
        assert path[:-1] == () or path[:-1] in seen
        seen.add(path)
    assert [len(p) for p in paths] == sorted(len(p) for p in paths)


@pytest.mark.parametrize(
    "spec", [TreeSpec(0, 1, 1), TreeSpec(6, 1, 1), TreeSpec(1, 11, 1), TreeSpec(1, 1, 51), TreeSpec(3, 7, 1)]
)
def test_out_of_bounds_is_a_usage_error(spec):
    with pytest.raises(UsageError):
        check_spec(spec)


def test_the_largest_tree_allowed_passes():
    check_spec(TreeSpec(2, 10, 50))  # 110 pages
    check_spec(TreeSpec(5, 2, 0))  # 62 pages, no tasks


@pytest.mark.parametrize("cloud", [True, False])
def test_bodies_parse_with_ids_due_dates_mentions_and_the_macro(cloud):
    plan = plan_tree(TreeSpec(1, 2, 6), "a1b2c3", who="u-1", cloud=cloud, jira_key="ACME-1", today=date(2026, 1, 1))
    assert [p.title for p in plan] == ["tracksync-test a1b2c3 1", "tracksync-test a1b2c3 2"]
    body = plan[0].body
    tasks = read_page(body).tasks
    assert [t.task_id for t in tasks] == ["1", "2", "3", "4", "5", "6"]
    assert [t.complete for t in tasks] == [False, False, False, True, False, False]
    assert plan[0].open_tasks == 5
    assert '<time datetime="2026-01-09" />' in body
    assert ('ri:account-id="u-1"' if cloud else 'ri:userkey="u-1"') in body
    assert '<ac:parameter ac:name="key">ACME-1</ac:parameter>' in body


def test_removal_goes_deepest_first():
    def page(pid, parent):
        return Page(pid, f"t{pid}", 1, None, parent)

    pages = [page("10", "1"), page("11", "10"), page("12", "11"), page("13", "1"), page("14", "10")]
    order = [p.id for p in removal_order(pages, "1")]
    assert order.index("12") < order.index("11") < order.index("10")
    assert order.index("14") < order.index("10")


def test_an_unlabelled_page_counts_as_ours_only_with_its_title_and_marker_line():
    body = plan_tree(TreeSpec(1, 1, 1), "abcdef", who=None, cloud=True, jira_key=None, today=date(2026, 1, 1))[0].body
    assert is_unlabelled_test_page(Page("5", "tracksync-test abcdef 1", 1, body))
    assert not is_unlabelled_test_page(Page("5", "tracksync-test abcdef 1", 1, "<p>mine</p>"))
    assert not is_unlabelled_test_page(Page("5", "My page", 1, body))
    assert not is_unlabelled_test_page(Page("5", "tracksync-test 000000 1", 1, body))  # another tree's marker

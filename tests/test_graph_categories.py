"""Outlook categories -> Kimai project/activity (common/graph_categories.py)."""

import pytest

from common.config import Settings
from common.errors import ConfigError
from common.graph_categories import CategoryMap


def test_map_lines_name_projects_and_activities_case_insensitively():
    cmap = CategoryMap.from_lines(
        {"Website relaunch": "Web site", "Support": "project:Support retainer", "Calls": "Activity: Meeting"}
    )
    assert cmap.resolve(["website RELAUNCH"]).project == "Web site"
    resolution = cmap.resolve(["support", "calls", "Blue category"])
    assert (resolution.project, resolution.activity, resolution.is_ambiguous) == ("Support retainer", "Meeting", False)
    assert cmap.resolve(["Blue category"]).project is None
    assert cmap.resolve([]).project is None


def test_the_tag_convention_needs_no_map():
    cmap = CategoryMap()
    resolution = cmap.resolve(["[PROJECT] Support retainer", "[activity]  Design "])
    assert (resolution.project, resolution.activity) == ("Support retainer", "Design")
    assert cmap.resolve(["[project]"]).project is None  # a tag without a name names nothing
    assert cmap.resolve(["project Support"]).project is None


def test_two_projects_are_ambiguous_never_guessed():
    cmap = CategoryMap.from_lines({"Website relaunch": "Web site"})
    resolution = cmap.resolve(["Website relaunch", "[PROJECT] Support"])
    assert resolution.is_ambiguous and resolution.project is None
    assert resolution.ambiguous == ("Support", "Web site")
    assert "2 projects" in (resolution.problem() or "")
    # the same project named twice (map and convention, any case) is not ambiguous
    same = cmap.resolve(["Website relaunch", "[project] web SITE"])
    assert not same.is_ambiguous and same.project in ("Web site", "web SITE")
    assert cmap.resolve(["[ACTIVITY] A", "[ACTIVITY] B"]).is_ambiguous


def test_settings_inline_and_file(tmp_path):
    inline = CategoryMap.from_settings(Settings({"GRAPH_CATEGORY_MAP": "Web=project:Web site;Calls=activity:Meeting"}))
    assert inline.resolve(["web", "calls"]).activity == "Meeting"
    path = tmp_path / "categories.map"
    path.write_text("# Outlook category = Kimai project\nWebsite relaunch=Web site\n\n[x] odd=activity:Odd\n")
    from_file = CategoryMap.from_settings(Settings({"GRAPH_CATEGORY_MAP": str(path)}))
    assert from_file.resolve(["WEBSITE relaunch"]).project == "Web site"
    assert from_file.resolve(["[X] Odd"]).activity == "Odd"
    assert CategoryMap.from_settings(Settings({"GRAPH_CATEGORY_MAP": None})).entries == {}


@pytest.mark.parametrize(
    "lines",
    [{"Web": "project:"}, {"Web": "activity:  "}, {"Web": "A", "web": "B"}],
)
def test_malformed_maps_are_refused_naming_the_key(lines):
    with pytest.raises(ConfigError, match="GRAPH_CATEGORY_MAP"):
        CategoryMap.from_lines(lines)

"""common.windows_zones: Windows zone names to IANA ids from the shipped CLDR 48 table."""

from zoneinfo import ZoneInfo

from common import windows_zones
from common.windows_zones import windows_to_iana


def test_default_rows():
    assert windows_to_iana("W. Europe Standard Time") == "Europe/Berlin"
    assert windows_to_iana("Pacific Standard Time") == "America/Los_Angeles"
    assert windows_to_iana("Eastern Standard Time") == "America/New_York"
    assert windows_to_iana("UTC") == "Etc/UTC"


def test_territory_rows_and_the_fallback_to_the_default():
    assert windows_to_iana("W. Europe Standard Time", "AT") == "Europe/Vienna"
    assert windows_to_iana("Pacific Standard Time", territory="ca") == "America/Vancouver"
    assert windows_to_iana("Eastern Standard Time", "US") == "America/New_York"  # first of seven
    assert windows_to_iana("Central Europe Standard Time", "CZ") == "Europe/Prague"
    assert windows_to_iana("W. Europe Standard Time", "JP") == "Europe/Berlin"  # no JP row: default
    assert windows_to_iana("W. Europe Standard Time", None) == "Europe/Berlin"


def test_unknown_names_give_none():
    assert windows_to_iana("Mars Standard Time") is None
    assert windows_to_iana("") is None
    assert windows_to_iana("w. europe standard time") is None  # Windows names are exact


def test_every_zone_in_the_table_is_a_real_iana_zone_and_the_table_is_read_once():
    table = windows_zones._table()
    assert len(table) > 130 and windows_zones._table() is table
    for name, rows in table.items():
        for zone in rows.values():
            ZoneInfo(zone)  # raises for an unknown zone
        assert "001" in rows, name

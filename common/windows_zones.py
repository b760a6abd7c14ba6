"""Windows time zone names (as Microsoft Graph and Outlook give them, e.g. "W. Europe Standard
Time") to IANA zone ids, from the Unicode CLDR 48 table shipped in common/data (licence and
source in common/data/README.md). The table is read once, on first use."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

TABLE = "windowsZones.cldr48.json"
DEFAULT_TERRITORY = "001"  # CLDR's "world" row: the zone to use when no territory is known


def windows_to_iana(name: str, territory: str | None = DEFAULT_TERRITORY) -> str | None:
    """The IANA zone for a Windows zone name, or None when the table does not know the name.

    `territory` is an ISO 3166 region code ("AT", "CA"); a territory without its own row for
    that zone falls back to the default ("001") row. Where CLDR lists several IANA ids for one
    territory, the first (CLDR's preferred one) is returned."""
    rows = _table().get(name)
    if not rows:
        return None
    return rows.get((territory or DEFAULT_TERRITORY).upper()) or rows.get(DEFAULT_TERRITORY)


@cache
def _table() -> dict[str, dict[str, str]]:
    """{windows name: {territory: first IANA id}} from the CLDR JSON."""
    document = json.loads(resources.files("common").joinpath("data", TABLE).read_text("utf-8"))
    table: dict[str, dict[str, str]] = {}
    for row in document["supplemental"]["windowsZones"]["mapTimezones"]:
        zone = row["mapZone"]
        table.setdefault(zone["_other"], {})[zone["_territory"]] = zone["_type"].split()[0]
    return table

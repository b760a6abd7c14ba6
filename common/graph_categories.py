"""Outlook categories -> Kimai project and activity, for the graph-kimai job and the hours report.

Two sources, category names compared case-insensitively:
- GRAPH_CATEGORY_MAP (a file path or inline `;`-separated, like the other maps): lines
  `Category=Kimai project`, or explicitly `Category=project:Name` / `Category=activity:Name`;
- the convention of a category named `[PROJECT] Name` or `[ACTIVITY] Name` (the tag removed,
  case-insensitive).
An event whose categories name two different projects is ambiguous: never guessed (the same for
two different activities).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .config import Settings, read_map
from .errors import ConfigError

KEY = "GRAPH_CATEGORY_MAP"
CONVENTION = re.compile(r"\s*\[(project|activity)\]\s*(.*?)\s*$", re.IGNORECASE)
EXPLICIT = re.compile(r"\s*(project|activity)\s*:\s*(.*?)\s*$", re.IGNORECASE)


def fold(name: str) -> str:
    """How category names compare: case-insensitive, surrounding and repeated spaces ignored."""
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class Resolution:
    """What an event's categories name. `ambiguous` lists the competing project names (or
    activity names, when only those compete); empty when the answer is clear."""

    project: str | None = None
    activity: str | None = None
    ambiguous: tuple[str, ...] = ()
    kind: str = ""  # "project" or "activity" when ambiguous

    @property
    def is_ambiguous(self) -> bool:
        return bool(self.ambiguous)

    def problem(self) -> str | None:
        """One line for an ambiguous resolution, else None."""
        if not self.ambiguous:
            return None
        return f"ambiguous: the categories name {len(self.ambiguous)} {self.kind}s ({', '.join(self.ambiguous)})"


@dataclass(frozen=True)
class CategoryMap:
    """Folded category name -> ("project" | "activity", Kimai name)."""

    entries: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> CategoryMap:
        return cls.from_lines(read_map(settings, KEY))

    @classmethod
    def from_lines(cls, mapping: Mapping[str, str]) -> CategoryMap:
        """From read_map's {category: target}; refuses an empty target and one category mapped
        two ways (names differing only in case), naming GRAPH_CATEGORY_MAP."""
        entries: dict[str, tuple[str, str]] = {}
        for category, target in mapping.items():
            explicit = EXPLICIT.fullmatch(target)
            kind, name = (explicit.group(1).lower(), explicit.group(2)) if explicit else ("project", target.strip())
            name = " ".join(name.split())
            if not name:
                raise ConfigError(KEY, f"{category}: the {kind} name is empty")
            key = fold(category)
            if key in entries and entries[key] != (kind, name):
                raise ConfigError(KEY, f"{category}: mapped twice ({entries[key][0]}:{entries[key][1]}, {kind}:{name})")
            entries[key] = (kind, name)
        return cls(entries)

    def classify(self, category: str) -> tuple[str, str] | None:
        """("project" | "activity", Kimai name) for one category, or None when it names neither."""
        mapped = self.entries.get(fold(category))
        if mapped:
            return mapped
        match = CONVENTION.fullmatch(category)
        if match and match.group(2).strip():
            return match.group(1).lower(), " ".join(match.group(2).split())
        return None

    def resolve(self, categories: Iterable[str]) -> Resolution:
        """The project and activity an event's categories name (Kimai names compared
        case-insensitively, so `[PROJECT] Web` and a map line to `web` agree)."""
        found: dict[str, dict[str, str]] = {"project": {}, "activity": {}}
        for category in categories:
            if not isinstance(category, str):
                continue
            named = self.classify(category)
            if named:
                found[named[0]].setdefault(named[1].casefold(), named[1])
        for kind in ("project", "activity"):
            if len(found[kind]) > 1:
                return Resolution(ambiguous=tuple(sorted(found[kind].values())), kind=kind)
        project = next(iter(found["project"].values()), None)
        activity = next(iter(found["activity"].values()), None)
        return Resolution(project=project, activity=activity)

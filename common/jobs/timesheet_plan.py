"""The action for one source item's Kimai timesheet in the jobs that keep a timesheet in step with
its source (zammad-kimai, graph-kimai), without I/O: create, link / unchanged, update, keep (a
person's edit in Kimai stands) or conflict, by the job's conflict policy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..store_queries import Row
from .base import Action, ActionKind, Target
from .kimai_targets import describe_changes

COMPARED = ("begin", "end", "project", "activity", "description", "user")


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    return [k for k in COMPARED if k in after and before.get(k) != after.get(k)]


def plan_synced_timesheet(
    item: tuple[str, str, str],
    desired: dict[str, Any],
    version: str,
    link: Row | None,
    target: Target | None,
    current: dict[str, Any] | None,
    policy: str,
    zone_name: str,
    source: str,
    needs: dict[str, Action] | None = None,
    create_detail: str = "",
) -> Action:
    """`item`: (key, label, scope) of the source item; `target` its Kimai timesheet (found by link
    or marker), `current` that timesheet as fields; `link` what the store remembers (the fields
    last written); `version` the item's hash as the source has it now (every action's
    source_hash); `policy` the conflict policy (`<source>-wins`, `kimai-wins`, `manual`), `source`
    the source's name in a conflict's detail; `needs` the planned containers whose ids `desired`
    takes once they are created."""
    key, label, scope = item

    def action(kind: ActionKind, fields: dict[str, Any], **extra: Any) -> Action:
        return Action(kind, key, "timesheet", label, scope, fields, source_hash=version, **extra)

    if target is None:
        return action(ActionKind.CREATE, desired, needs=needs, detail=create_detail)
    assert current is not None, "a target comes with its current fields"
    if current == desired and not needs:
        linked = link and link["state"] == "synced" and link["target_id"] == target["id"]
        linked = linked and link is not None and link["source_hash"] == version
        return action(ActionKind.UNCHANGED if linked else ActionKind.LINK, desired, target_id=target["id"])
    last = link["data"] if link and link.get("data") else None
    keep = {"billable": target.get("billable", True), "exported": target.get("exported", False)}
    if last is not None and current != last:  # a person edited the timesheet in Kimai
        if last == desired:
            return action(ActionKind.KEEP, current, target_id=target["id"], detail="edited in Kimai")
        if policy == "kimai-wins":
            return action(ActionKind.KEEP, current, target_id=target["id"], detail="changed on both sides; Kimai wins")
        if policy == "manual":
            return action(
                ActionKind.CONFLICT,
                desired,
                target_id=target["id"],
                before=current,
                last=last,
                detail=f"changed in {source} and in Kimai ({', '.join(changed_fields(current, desired))})",
            )
    changed = [k for k in changed_fields(current, desired) if k != "description"]
    return action(
        ActionKind.UPDATE,
        desired,
        target_id=target["id"],
        before=current,
        keep=keep,
        needs=needs,
        detail=describe_changes(current, desired, changed, zone_name, needs) or "description changed",
    )

"""Kimai customers, projects and activities as targets every job shares: read in bulk once per
run, found by origin marker or by name, and when missing planned as `create` actions that the
shared applier sends before the items that need them."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from ..errors import ApiError, NotFound, SyncError
from ..http import error_detail
from ..runlock import containers_lock
from ..store_queries import Row
from ..timeutil import KIMAI_LOCAL
from .base import Action, ActionKind, Applier, Reread, Target, Write

if TYPE_CHECKING:
    from ..clients.kimai import KimaiClient
    from ..config import Settings

log = logging.getLogger("tracksync.kimai")
ContainerRef = int | Action  # a Kimai container an item goes in: its id, or the planned create
NAME_LIMIT = 150
_UNSAFE = str.maketrans({"<": "‹", ">": "›", '"': "'", "=": "-"})


def kimai_safe_name(text: str, limit: int = NAME_LIMIT) -> str:
    """Kimai >= 2.54 refuses < > \" = in names and wants 2..150 characters; whitespace collapsed."""
    name = " ".join(text.translate(_UNSAFE).split())
    if len(name) < 2:
        name = f"{name} ·" if name else "(untitled)"
    return name if len(name) <= limit else name[: limit - 1].rstrip() + "…"


def marker_of(text: str | None) -> str:
    """The origin marker: the first line of a Kimai comment or description."""
    return (text or "").split("\n", 1)[0].strip()


def index_by_marker(objects: Iterable[Target], field: str = "comment") -> dict[str, Target]:
    """marker -> object, the lowest id winning when a marker is (wrongly) found twice."""
    index: dict[str, Target] = {}
    for obj in sorted(objects, key=lambda o: o["id"]):
        index.setdefault(marker_of(obj.get(field)), obj)
    return index


def customer_label(name: str) -> str:
    return f"customer {name!r}"


def project_label(name: str, customer: str) -> str:
    return f"project {name!r} (customer {customer!r})"


def activity_label(name: str, project: str) -> str:
    """`project` is the project's label."""
    return f"activity {name!r} in {project}"


def plan_project(
    key: str,
    name: str,
    comment: str,
    customer_id: int | None,
    projects: list[Target],
    link: Row | None,
    scope: str,
    label: str | None = None,
) -> Action:
    """Action for one project: `unchanged`/`link` to an existing one (by stored link, marker, or
    name under the customer), else `create`."""
    label = label or f"project {scope}"
    by_id = {p["id"]: p for p in projects}
    found = by_id.get(link["target_id"]) if link and link.get("target_id") else None
    found = found or index_by_marker(projects).get(key)
    if found is None and customer_id is not None:
        found = next((p for p in projects if p["customer"] == customer_id and p["name"] == name), None)
    if found is None:
        return Action(
            ActionKind.CREATE, key, "project", label, scope, {"name": name, "comment": comment}, parent=customer_id
        )
    fields = {"name": found["name"], "comment": found.get("comment") or ""}
    linked = link is not None and link["state"] == "synced" and link["target_id"] == found["id"]
    return Action(
        ActionKind.UNCHANGED if linked else ActionKind.LINK, key, "project", label, scope, fields, target_id=found["id"]
    )


def ref_id(ref: ContainerRef | None) -> int | None:
    """The id behind a container reference: an id, or a planned create (None until it is sent)."""
    return ref.target_id if isinstance(ref, Action) else ref


def _reference(action: Action) -> ContainerRef:
    """What a planned container action stands for: the create itself, else the id it found."""
    return action if action.kind == ActionKind.CREATE else cast(int, action.target_id)  # found: it has an id


def needs_of(**refs: ContainerRef | None) -> dict[str, Action] | None:
    """The `needs` of an action whose fields refer to these containers: the planned ones only."""
    return {name: ref for name, ref in refs.items() if isinstance(ref, Action)} or None


@dataclass
class KimaiState:
    """What planning needs of Kimai, read in bulk before planning. `customers` None: not read."""

    customers: list[Target] | None = None
    projects: list[Target] = field(default_factory=list)
    activities: list[Target] = field(default_factory=list)  # global ones and those of the projects read


def needs_customers(wanted: Iterable[tuple[str, str]], projects: list[Target], links: Mapping[str, Row]) -> bool:
    """Whether one of the marked projects wanted [(marker, name)] is found neither by its link
    nor by its marker, so the customers must be read (to find it by name or create it)."""
    return any(
        plan_project(key, kimai_safe_name(name), "", None, projects, links.get(key), "").kind == ActionKind.CREATE
        for key, name in wanted
    )


class Containers:
    """The Kimai customers, projects and activities a run's items need, planned without I/O from
    the state read in bulk. Each is found (its id) or planned once as a `create` action, which the
    items refer to (`Action.needs`) and which ContainerWriter sends before them.

    A container found by name whose store link is not synced (a create whose answer was lost)
    gets a `link` action, so the pending record it left is settled."""

    def __init__(self, state: KimaiState, links: Mapping[str, Row] | None = None, comment: str | None = None) -> None:
        self.links, self.comment = links or {}, comment
        self.customers = {c["name"]: c["id"] for c in state.customers or ()}
        self.customer_names = {c["id"]: c["name"] for c in state.customers or ()}
        self.read_customers = state.customers is not None
        self.projects = state.projects
        self.project_by_id = {p["id"]: p for p in state.projects}
        self.global_activities = {a["name"]: a["id"] for a in state.activities if a.get("project") is None}
        self.project_activities = {(a["project"], a["name"]): a["id"] for a in state.activities if a.get("project")}
        self.planned: dict[str, Action] = {}  # key -> Action, in the order planned

    @property
    def actions(self) -> list[Action]:
        return list(self.planned.values())

    def _plan(self, action: Action) -> Action:
        return self.planned.setdefault(action.key, action)

    def _found(self, key: str, target_type: str, label: str, target_id: int, name: str) -> int:
        link = self.links.get(key)
        if link and not (link["state"] == "synced" and link["target_id"] == target_id):
            self._plan(Action(ActionKind.LINK, key, target_type, label, "", {"name": name}, target_id=target_id))
        return target_id

    def customer(self, name: str, create: bool = True) -> ContainerRef | None:
        """The id of the customer with this name, or the action creating it; None when it is
        missing and not to be created."""
        assert self.read_customers, "the customers were not read"
        name = kimai_safe_name(name)
        key = f"kimai:customer/{name}"
        if name in self.customers:
            return self._found(key, "customer", customer_label(name), self.customers[name], name)
        if not create:
            return None
        return self._plan(
            Action(
                ActionKind.CREATE, key, "customer", customer_label(name), name, {"name": name, "comment": self.comment}
            )
        )

    def project(self, name: str, customer: str, any_customer: bool = False, create: bool = True) -> ContainerRef | None:
        """The project `name` of the customer named `customer` (with `any_customer`, also the one
        project of that name under another customer), or the action creating it (and its
        customer, when missing); None when missing and not to be created."""
        name, customer = kimai_safe_name(name), kimai_safe_name(customer)
        key = f"kimai:project/{customer} > {name}"
        label = project_label(name, customer)
        candidates = [p for p in self.projects if p["name"] == name]
        found = [p for p in candidates if p["customer"] == self.customers.get(customer)]
        found = found or (candidates if any_customer and len(candidates) == 1 else [])
        if found:
            return self._found(key, "project", label, found[0]["id"], name)
        if not create:
            return None
        if key not in self.planned:
            parent = self.customer(customer)
            self._plan(
                Action(
                    ActionKind.CREATE,
                    key,
                    "project",
                    label,
                    customer,
                    {"name": name, "comment": self.comment},
                    parent=ref_id(parent),
                    needs=needs_of(parent=parent),
                )
            )
        return self.planned[key]

    def marked_project(self, key: str, name: str, comment: str, customer: str, scope: str) -> ContainerRef:
        """The project carrying the marker `key`, found by its link, its marker or its name under
        the customer (then linked: a `link` action), or the action creating it."""
        name, customer = kimai_safe_name(name), kimai_safe_name(customer)
        label = project_label(name, customer)
        if key in self.planned:
            return _reference(self.planned[key])
        action = plan_project(key, name, comment, None, self.projects, self.links.get(key), scope, label)
        if action.kind == ActionKind.CREATE:
            parent = self.customer(customer)
            action = plan_project(key, name, comment, ref_id(parent), self.projects, self.links.get(key), scope, label)
            action.needs = needs_of(parent=parent)
        self._plan(action)
        return _reference(action)

    def activity(self, name: str, project: ContainerRef | None, create: bool = True) -> ContainerRef | None:
        """The global activity `name`, else the project's own (`project`: an id or a planned
        create), else the action creating it in the project; None when missing and not to be
        created."""
        name = kimai_safe_name(name)
        if name in self.global_activities:
            return self.global_activities[name]
        if not isinstance(project, Action) and (project, name) in self.project_activities:
            return self.project_activities[(project, name)]
        if not create:
            return None
        if isinstance(project, Action):
            where, path = project.label, project.key.partition("/")[2]
        else:
            assert project is not None, "an activity is created in a project"
            p = self.project_by_id[project]
            customer = self.customer_names.get(p["customer"], str(p["customer"]))
            where, path = project_label(p["name"], customer), f"{customer} > {p['name']}"
        return self._plan(
            Action(
                ActionKind.CREATE,
                f"kimai:activity/{path} > {name}",
                "activity",
                activity_label(name, where),
                path,
                {"name": name, "comment": self.comment},
                parent=ref_id(project),
                needs=needs_of(parent=project),
            )
        )


class ContainerWriter:
    """Sends a plan in order through the job's applier: customers, then projects, then
    activities, then the items. Each container create gets what an item gets (a pending record,
    an audit event, the dry-run listing, and a re-read by marker or name under its parent when its
    answer was lost). An action whose container was not created fails with one reason."""

    LEVELS = ("customer", "project", "activity")

    def __init__(self, kimai: KimaiClient, settings: Settings, applier: Applier) -> None:
        self.kimai, self.settings, self.applier = kimai, settings, applier

    def apply(
        self, containers: Sequence[Action], items: list[Action], write: Write, reread: Reread, fresh: bool = False
    ) -> None:
        """Creates run under the store-wide containers lock (never under --dry-run), each level's
        creates first looked up in a fresh read: one made meanwhile by another job (or host) is
        linked instead. Without creates: no lock, no read. With `fresh`, the items' creates are
        looked up the same way right before they are sent (`reread`: another host with its own
        store may have made them since the plan's read)."""
        database = getattr(self.settings, "database_path", None)  # None: a fake without a store
        creating = any(a.kind == ActionKind.CREATE for a in containers) and not self.applier.dry_run
        with containers_lock(database) if creating and database else nullcontext():
            for level in self.LEVELS:
                todo = self.ready([a for a in containers if a.target_type == level])
                if creating:
                    self.link_existing([a for a in todo if a.kind == ActionKind.CREATE])
                if todo:
                    self.applier.execute(todo, same_reason_for_all(self.write), self.reread)
        ready = self.ready(items)
        if fresh and not self.applier.dry_run:
            self.link_existing([a for a in ready if a.kind == ActionKind.CREATE], reread)
        self.applier.execute(ready, same_reason_for_all(write), reread)

    def link_existing(self, creates: list[Action], reread: Reread | None = None) -> None:
        """Turn each planned create (all of one level) whose object now exists in Kimai (a fresh
        read: one request, `reread` or the containers') into a link to it, which the applier records."""
        if not creates:
            return
        found = (reread or self.reread)(creates)
        for action in creates:
            match = found.get(action.key)
            if match is not None:
                log.info("%s was created meanwhile (id %s): linked", action.label, match["id"])
                action.kind, action.target_id = ActionKind.LINK, match["id"]

    def ready(self, actions: list[Action]) -> list[Action]:
        """The actions whose containers exist, their ids filled in; the others fail."""
        if self.applier.dry_run:
            return actions
        ready: list[Action] = []
        for action in actions:
            reason = action.take_ids()
            if reason:
                self.applier.fail(action, reason)
            else:
                ready.append(action)
        return ready

    def write(self, action: Action) -> Target:
        f, s = action.fields, self.settings
        if action.target_type == "customer":
            return self.kimai.create_customer(
                f["name"],
                s.kimai_customer_country,
                s.kimai_customer_currency,
                s.kimai_customer_timezone,
                comment=f.get("comment"),
            )
        if action.target_type == "project":
            assert action.parent is not None, "take_ids set the customer's id"
            return self.kimai.create_project(f["name"], action.parent, f.get("comment"))
        return self.kimai.create_activity(f["name"], action.parent, f.get("comment"))

    def reread(self, unknown: list[Action]) -> dict[str, Target]:
        """{key: object} for the creates whose answer was lost: a project by its marker, else (and
        a customer or activity always) by its name under its parent."""
        kind = unknown[0].target_type
        under: Callable[[Target, Action], bool]
        if kind == "customer":
            objects, under = self.kimai.list_customers(), lambda obj, action: True
        elif kind == "project":
            objects, under = self.kimai.list_projects(), lambda obj, action: obj["customer"] == action.parent
        else:
            objects = self.kimai.list_activities({a.parent for a in unknown if a.parent is not None})
            under = lambda obj, action: obj.get("project") == action.parent  # noqa: E731
        marked = index_by_marker(objects)
        found: dict[str, Target] = {}
        for action in unknown:
            match = marked.get(action.key) or next(
                (o for o in objects if o["name"] == action.fields["name"] and under(o, action)), None
            )
            if match is not None:
                found[action.key] = match
        return found


def same_reason_for_all(write: Write) -> Write:
    """A write(action) whose refusals read alike for every item (see without_path)."""

    def wrapped(action: Action) -> Target:
        try:
            return write(action)
        except NotFound as exc:
            raise NotFound(f"the {action.target_type} is gone", service=exc.service) from None
        except ApiError as exc:
            raise ApiError(
                without_path(exc, action.kind), service=exc.service, status=exc.status, body=exc.body
            ) from None

    return wrapped


def without_path(exc: SyncError, what: str) -> str:
    """A failed request as a reason that leaves out the request's path, which names the item
    (`PATCH timesheets/123`), so that equal causes group in the summary: '{what} refused (400):
    begin: invalid'. Other failures keep their own message. Without the service's name."""
    if isinstance(exc, NotFound) and str(exc.args[0]).startswith("not found: "):  # the HTTP layer's, naming the path
        return f"{what}: not found"
    if isinstance(exc, ApiError):
        return f"{what} refused ({exc.status}): {error_detail(exc.body) or 'no reason given'}"
    return str(exc.args[0]) if exc.args else str(exc)


def wall_clock(text: str | None) -> str:
    """A Kimai local time '2026-11-02T09:00:00' as people read it: '2026-11-02 09:00'."""
    if not text:
        return "(running)"
    text = text.replace("T", " ")[:19]
    return text[:16] if text.endswith(":00") else text


def time_span(begin: str, end: str | None, zone_name: str) -> str:
    """'2026-11-02 09:00 to 09:45 Europe/Berlin' (the end's date only when it differs)."""
    first, last = wall_clock(begin), wall_clock(end)
    if last[:10] == first[:10]:
        last = last[11:]
    return f"{first} to {last} {zone_name}"


def describe_changes(
    current: Mapping[str, Any],
    desired: Mapping[str, Any],
    keys: Iterable[str],
    zone_name: str,
    needs: Mapping[str, Action] | None = None,
) -> str:
    """'begin 2026-11-02 09:00 -> 2026-11-02 10:00 Europe/Berlin, project 3 -> 4'; a field taking
    the id of a container still to be created names that container."""
    parts: list[str] = []
    for k in keys:
        if needs and k in needs:
            parts.append(f"{k} {current.get(k)!r} -> new {needs[k].label}")
        elif k in ("begin", "end"):
            parts.append(f"{k} {wall_clock(current.get(k))} -> {wall_clock(desired[k])} {zone_name}")
        else:
            parts.append(f"{k} {current.get(k)!r} -> {desired[k]!r}")
    return ", ".join(parts)


def plan_source_deleted(
    link: Row, target: Target | None, delete_policy: str, label: str, deleted: str, reported: str
) -> Action:
    """A timesheet whose source item was deleted: settled once when it is gone from Kimai too (never
    looked up again), else deleted under the delete policy (detail `deleted`) or reported once
    (detail `reported`; the applier marks the link orphaned, keeping its hash and data)."""
    key, data = link["source_key"], link["data"] or {}
    if target is None:
        return Action(
            ActionKind.GONE,
            key,
            "timesheet",
            label,
            "",
            data,
            target_id=link["target_id"],
            source_hash=link["source_hash"],
        )
    if delete_policy == "delete":
        return Action(
            ActionKind.DELETE,
            key,
            "timesheet",
            label,
            "",
            data,
            target_id=target["id"],
            before=link["data"],
            detail=deleted,
        )
    return Action(
        ActionKind.REPORT,
        key,
        "timesheet",
        label,
        "",
        data,
        target_id=target["id"],
        source_hash=link["source_hash"],
        detail=reported,
    )


def write_timesheet(kimai: KimaiClient, action: Action, on_create: Mapping[str, Any]) -> Target:
    """Send one timesheet action of a timesheet job: a create with `on_create` added to its fields
    (its tag, billable, exported), a delete, or an update that repeats the values Kimai would reset
    (`keep`)."""
    if action.kind == ActionKind.CREATE:
        return kimai.create_timesheet({**action.fields, **on_create})
    assert action.target_id is not None, "updates and deletes act on a timesheet found"
    if action.kind == ActionKind.DELETE:
        kimai.delete_timesheet(action.target_id)
        return {"id": action.target_id}
    assert action.keep is not None, "an update repeats the values Kimai would reset"
    return kimai.update_timesheet(action.target_id, {**action.fields, **action.keep})


def timesheets_by_marker(
    kimai: KimaiClient,
    begins: Sequence[str],
    margin: timedelta,
    all_users: bool,
    links: Mapping[str, Row] | None = None,
    keys: Iterable[str] = (),
    warn: Callable[[str], None] | None = None,
) -> dict[str, Target]:
    """Kimai timesheets that began within `margin` of the given local begin times (pages of 500),
    by the marker on their description's first line. A linked timesheet (by `links`, for `keys`)
    moved out of that window is fetched by id rather than taken as missing. `warn(text)` hears
    of markers found on more than one timesheet."""
    if not begins:
        return {}
    low = datetime.fromisoformat(min(begins)) - margin
    high = datetime.fromisoformat(max(begins)) + margin
    sheets = kimai.list_timesheets(
        low.strftime(KIMAI_LOCAL), high.strftime(KIMAI_LOCAL), user="all" if all_users else None
    )
    if warn:
        counts = Counter(marker_of(s.get("description")) for s in sheets)
        for key, count in counts.items():
            if count > 1 and key and ":" in key:
                warn(f"{count} Kimai timesheets carry {key}; see report.py reconcile")
    existing = index_by_marker(sheets, field="description")
    for key in keys:
        link = links.get(key) if links else None
        if key not in existing and link and link.get("target_id"):
            try:
                existing[key] = kimai.get_timesheet(link["target_id"])
            except NotFound:
                pass  # deleted in Kimai: it is created again
    return existing

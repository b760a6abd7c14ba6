"""Kimai customers, projects and activities as targets every job shares: read once per run,
found by origin marker or by name, created when missing (under --dry-run only planned)."""
import logging
from collections import Counter
from datetime import datetime

from ..errors import NotFound
from ..timeutil import KIMAI_LOCAL
from .base import Action

log = logging.getLogger("tracksync.kimai")
NAME_LIMIT = 150
_UNSAFE = str.maketrans({"<": "‹", ">": "›", '"': "'", "=": "-"})


def kimai_safe_name(text, limit=NAME_LIMIT):
    """Kimai >= 2.54 refuses < > \" = in names and wants 2..150 characters; whitespace collapsed."""
    name = " ".join(text.translate(_UNSAFE).split())
    if len(name) < 2:
        name = f"{name} ·" if name else "(untitled)"
    return name if len(name) <= limit else name[:limit - 1].rstrip() + "…"


def marker_of(text):
    """The origin marker: the first line of a Kimai comment or description."""
    return (text or "").split("\n", 1)[0].strip()


def index_by_marker(objects, field="comment"):
    """marker -> object, the lowest id winning when a marker is (wrongly) found twice."""
    index = {}
    for obj in sorted(objects, key=lambda o: o["id"]):
        index.setdefault(marker_of(obj.get(field)), obj)
    return index


def plan_project(key, name, comment, customer_id, projects, link, scope):
    """Action for one project: `unchanged`/`link` to an existing one (by stored link, marker, or
    name under the customer), else `create`."""
    label = f"project {scope}"
    by_id = {p["id"]: p for p in projects}
    found = by_id.get(link["target_id"]) if link and link.get("target_id") else None
    found = found or index_by_marker(projects).get(key)
    if found is None and customer_id is not None:
        found = next((p for p in projects if p["customer"] == customer_id and p["name"] == name), None)
    if found is None:
        return Action("create", key, "project", label, scope, {"name": name, "comment": comment}, parent=customer_id)
    fields = {"name": found["name"], "comment": found.get("comment") or ""}
    linked = link is not None and link["state"] == "synced" and link["target_id"] == found["id"]
    return Action("unchanged" if linked else "link", key, "project", label, scope, fields, target_id=found["id"])


class KimaiTargets:
    """Customers and projects of one run. `applier` records links and creates in parallel."""

    def __init__(self, kimai, settings, result, applier, dry_run):
        self.kimai, self.settings, self.result, self.applier, self.dry_run = kimai, settings, result, applier, dry_run
        self._customers = None

    def customers(self):
        """name -> id of every customer, read once per run."""
        if self._customers is None:
            self._customers = {c["name"]: c["id"] for c in self.kimai.list_customers()}
        return self._customers

    def customer_id(self, name, comment=None):
        """Id of the customer with this name, created when missing (None when only planned)."""
        name = kimai_safe_name(name)
        if name in self.customers():
            return self._customers[name]
        if self.dry_run:
            action = Action("create", f"customer:{name}", "customer", f"customer {name}", "", {"name": name})
            self.result.actions.append(action)
            self.result.tally(action)
            self._customers[name] = None
            return None
        s = self.settings
        customer = self.kimai.create_customer(name, s.kimai_customer_country, s.kimai_customer_currency,
                                              s.kimai_customer_timezone, comment=comment)
        log.info("created Kimai customer %s (id %s)", name, customer["id"])
        self.result.counts["customers_created"] += 1
        self._customers[name] = customer["id"]
        return customer["id"]

    def project_ids(self, wanted, links):
        """wanted: [(marker, name, comment, customer_name, scope)]. Returns {marker: project id}
        (None for one only planned under --dry-run). The customer is looked up only for a project
        that is neither linked nor found by its marker."""
        projects = self.kimai.list_projects()
        actions = []
        for key, name, comment, customer_name, scope in wanted:
            action = plan_project(key, kimai_safe_name(name), comment, None, projects, links.get(key), scope)
            if action.kind == "create":
                customer = self.customer_id(customer_name)
                action = plan_project(key, kimai_safe_name(name), comment, customer, projects, links.get(key), scope)
            actions.append(action)
        self.applier.execute(actions, self._create_project, lambda _: index_by_marker(self.kimai.list_projects()))
        return {a.key: a.target_id for a in actions}

    def _create_project(self, action):
        return self.kimai.create_project(action.fields["name"], action.parent, action.fields["comment"])


def timesheets_by_marker(kimai, begins, margin, all_users, links=(), keys=(), warn=None):
    """Kimai timesheets that began within `margin` of the given local begin times (pages of 500),
    by the marker on their description's first line. A linked timesheet (by `links`, for `keys`)
    moved out of that window is fetched by id rather than taken as missing. `warn(text)` hears
    of markers found on more than one timesheet."""
    if not begins:
        return {}
    low = datetime.fromisoformat(min(begins)) - margin
    high = datetime.fromisoformat(max(begins)) + margin
    sheets = kimai.list_timesheets(low.strftime(KIMAI_LOCAL), high.strftime(KIMAI_LOCAL), user="all" if all_users else None)
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
                existing[key] = kimai.http.get_json(f"timesheets/{link['target_id']}")
            except NotFound:
                pass  # deleted in Kimai: it is created again
    return existing

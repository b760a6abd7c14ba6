"""Kimai's JSON views of its entities, with the exact key sets of Kimai's own API tests.

Each entity has several views: *embedded* (inside another object, parents as IDs), *expanded*
(parents as objects), *collection* (list endpoints) and *entity* (GET by id, POST, PATCH).
The token user is an admin, so the permission-dependent budget and rate keys are included.
Times are rendered ``Y-m-d\\TH:i:sO`` in the user's timezone (offset without a colon).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_COLOR = "#d2d6de"  # Kimai's Constants::DEFAULT_COLOR, used for "color-safe"


def local_time(moment: datetime | None, zone: ZoneInfo) -> str | None:
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S%z") if moment is not None else None


def _common(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": record["id"],
        "name": record["name"],
        "visible": record["visible"],
        "billable": record["billable"],
        "color": record["color"],
        "color-safe": record["color"] or DEFAULT_COLOR,
        "number": record["number"],
        "comment": record["comment"],
        "metaFields": [dict(meta) for meta in record["metaFields"]],
    }


def _budget(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "teams": [],
        "budget": record["budget"],
        "timeBudget": record["timeBudget"],
        "budgetType": record["budgetType"],
    }


# -- customers --------------------------------------------------------------------------------
def customer_embedded(customer: dict[str, Any]) -> dict[str, Any]:
    data = _common(customer)
    data.update(
        {
            key: customer[key]
            for key in ("language", "currency", "country", "company", "homepage", "timezone", "fax", "mobile", "phone")
        }
    )
    return data


def customer_collection(customer: dict[str, Any], full: bool = False) -> dict[str, Any]:
    data = customer_embedded(customer)
    data.update(_budget(customer))
    if full:
        data.update(
            {
                key: customer[key]
                for key in ("vatId", "addressLine1", "addressLine2", "addressLine3", "city", "postCode")
            }
        )
    return data


def customer_entity(customer: dict[str, Any]) -> dict[str, Any]:
    data = customer_collection(customer, full=True)
    data.update({key: customer[key] for key in ("contact", "email", "invoiceEmail", "buyerReference", "address")})
    return data


# -- projects ---------------------------------------------------------------------------------
def project_embedded(project: dict[str, Any]) -> dict[str, Any]:
    data = _common(project)
    data.update(
        {key: project[key] for key in ("customer", "orderNumber", "orderDate", "globalActivities", "start", "end")}
    )
    return data


def project_expanded(project: dict[str, Any], customer: dict[str, Any]) -> dict[str, Any]:
    data = project_embedded(project)
    data["customer"] = customer_embedded(customer)
    return data


def project_entity(project: dict[str, Any], customer: dict[str, Any]) -> dict[str, Any]:
    """Both the collection and the entity view (they have the same keys)."""
    data = project_embedded(project)
    data.update(_budget(project))
    data["parentTitle"] = customer["name"]
    return data


# -- activities -------------------------------------------------------------------------------
def activity_embedded(activity: dict[str, Any]) -> dict[str, Any]:
    data = _common(activity)
    data["project"] = activity["project"]
    return data


def activity_expanded(
    activity: dict[str, Any], project: dict[str, Any] | None, customer: dict[str, Any] | None
) -> dict[str, Any]:
    data = activity_embedded(activity)
    data["project"] = project_expanded(project, customer) if project is not None else None
    return data


def activity_entity(activity: dict[str, Any], project: dict[str, Any] | None) -> dict[str, Any]:
    """Both the collection and the entity view; parentTitle is the project name (null: global)."""
    data = activity_embedded(activity)
    data.update(_budget(activity))
    data["parentTitle"] = project["name"] if project is not None else None
    return data


# -- users ------------------------------------------------------------------------------------
def user_embedded(user: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "id",
        "username",
        "email",
        "enabled",
        "apiToken",
        "systemAccount",
        "color",
        "avatar",
        "alias",
        "accountNumber",
        "initials",
        "title",
        "language",
        "locale",
        "timezone",
    )
    data = {key: user[key] for key in keys}
    data["color-safe"] = user["color"] or DEFAULT_COLOR
    return data


def user_entity(user: dict[str, Any]) -> dict[str, Any]:
    data = user_embedded(user)
    data.update(
        {
            "supervisor": None,
            "teams": [],
            "roles": list(user["roles"]),
            "memberships": [],
            "preferences": [
                {"name": "timezone", "value": user["timezone"]},
                {"name": "language", "value": user["language"]},
            ],
        }
    )
    return data


# -- timesheets -------------------------------------------------------------------------------
def timesheet_rate(timesheet: dict[str, Any]) -> float:
    if timesheet["fixedRate"] is not None:
        return float(timesheet["fixedRate"])
    return round((timesheet["hourlyRate"] or 0.0) * duration_seconds(timesheet) / 3600.0, 2)


def duration_seconds(timesheet: dict[str, Any]) -> int:
    """end - begin - break in seconds; 0 while the record is running."""
    if timesheet["end"] is None:
        return 0
    return max(int((timesheet["end"] - timesheet["begin"]).total_seconds()) - timesheet["break"], 0)


def timesheet_collection(timesheet: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    rate = timesheet_rate(timesheet)
    return {
        "id": timesheet["id"],
        "begin": local_time(timesheet["begin"], zone),
        "end": local_time(timesheet["end"], zone),
        "duration": duration_seconds(timesheet),
        "description": timesheet["description"],
        "rate": rate,
        "internalRate": rate,
        "activity": timesheet["activity"],
        "project": timesheet["project"],
        "tags": list(timesheet["tags"]),
        "user": timesheet["user"],
        "metaFields": [],
        "exported": timesheet["exported"],
        "billable": timesheet["billable"],
        "break": timesheet["break"],
    }


def timesheet_entity(timesheet: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    data = timesheet_collection(timesheet, zone)
    data.update({"fixedRate": timesheet["fixedRate"], "hourlyRate": timesheet["hourlyRate"]})
    return data

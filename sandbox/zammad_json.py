"""Zammad's JSON shapes (Rails ``as_json`` of the models as Zammad 6.x renders them).

Three levels, as in Zammad's controllers:

* ``plain``  - the model's columns (``render json: ticket``: GET /tickets, GET /tickets/{id});
* ``ids``    - plus the has-many id lists (``attributes_with_association_ids``: search, users,
  time accountings, assets);
* ``names``  - plus the association names (``attributes_with_association_names``: ``expand=true``).

Times are ISO 8601 UTC with exactly three fraction digits and ``Z``; decimals (``time_unit``)
are JSON strings such as ``"15.0"``; the token's user and the system user ``-`` (id 1) exist.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Protocol

SYSTEM_USER_ID = 1
ROLES = {1: "Admin", 2: "Agent", 3: "Customer"}
ROLE_IDS = {name.lower(): role_id for role_id, name in ROLES.items()}
STATES = {1: "new", 2: "open", 3: "pending reminder", 4: "closed", 5: "merged", 6: "removed", 7: "pending close"}
STATE_IDS = {name: state_id for state_id, name in STATES.items()}
PRIORITIES = {1: "1 low", 2: "2 normal", 3: "3 high"}
ARTICLE_TYPES = {1: "email", 5: "phone", 10: "note"}
ARTICLE_SENDERS = {1: "Agent", 2: "Customer", 3: "System"}
GROUP = {"id": 1, "name": "Users", "note": "Standard Group/Pool for Tickets."}
EPOCH_2020 = datetime(2020, 1, 1, tzinfo=UTC)  # created_at of the built-in records


# -- scalars -----------------------------------------------------------------------------------
def format_time(moment: datetime | None) -> str | None:
    """Rails' ActiveSupport::TimeWithZone#as_json: UTC, always three fraction digits, ``Z``."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond // 1000:03d}Z"


def to_decimal(value: Any) -> Decimal | None:
    """Cast like ActiveModel::Type::Decimal on a ``decimal(10,2)`` column.

    Numbers are rounded to two places; strings are read like Ruby's ``String#to_d`` (the
    leading number, ``"abc"`` -> 0.0); blank strings and None are nil.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        match = re.match(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", value)
        value = Decimal(match.group(0).strip()) if match else Decimal(0)
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)
    return number.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def format_decimal(value: Decimal | None) -> str | None:
    """BigDecimal#to_s as Rails serialises it: ``"15.0"``, ``"0.25"``, ``"120.5"``."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return text if "." in text else text + ".0"


def image_hash(email: str) -> str:
    """The avatar hash Zammad stores in ``image`` (32 hex digits)."""
    return hashlib.md5(email.lower().encode("utf-8")).hexdigest()  # noqa: S324 - an avatar key, not security


# -- users -------------------------------------------------------------------------------------
def user_plain(user: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": user["id"],
        "organization_id": user["organization_id"],
        "login": user["login"],
        "firstname": user["firstname"],
        "lastname": user["lastname"],
        "email": user["email"],
        "image": user["image"],
        "image_source": None,
        "web": "",
        "phone": "",
        "fax": "",
        "mobile": "",
        "department": None,
        "street": "",
        "zip": "",
        "city": "",
        "country": "",
        "address": None,
        "vip": False,
        "verified": False,
        "active": user["active"],
        "note": "",
        "last_login": format_time(user["last_login"]),
        "source": None,
        "login_failed": 0,
        "out_of_office": False,
        "out_of_office_start_at": None,
        "out_of_office_end_at": None,
        "out_of_office_replacement_id": None,
        "preferences": dict(user["preferences"]),
        "updated_by_id": user["updated_by_id"],
        "created_by_id": user["created_by_id"],
        "created_at": format_time(user["created_at"]),
        "updated_at": format_time(user["updated_at"]),
    }


def user_ids(user: dict[str, Any]) -> dict[str, Any]:
    return dict(
        user_plain(user),
        role_ids=list(user["role_ids"]),
        two_factor_preference_ids=[],
        organization_ids=[],
        authorization_ids=[],
        overview_sorting_ids=[],
        group_ids={str(GROUP["id"]): ["full"]} if _is_agent(user) else {},
    )


def user_names(user: dict[str, Any], lookup: Lookup) -> dict[str, Any]:
    result = dict(
        user_ids(user),
        roles=[ROLES[role_id] for role_id in user["role_ids"]],
        two_factor_preferences=[],
        organizations=[],
        authorizations=[],
        overview_sortings=[],
    )
    organization = lookup.organization(user["organization_id"])
    if organization is not None:
        result["organization"] = organization["name"]
    result["groups"] = {GROUP["name"]: ["full"]} if _is_agent(user) else {}
    return with_author_names(result, user, lookup)


def _is_agent(user: dict[str, Any]) -> bool:
    return 2 in user["role_ids"]


# -- organisations, groups, priorities ---------------------------------------------------------
def organization_plain(organization: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": organization["id"],
        "name": organization["name"],
        "shared": True,
        "domain": "",
        "domain_assignment": False,
        "active": True,
        "vip": False,
        "note": organization["note"],
        "updated_by_id": organization["updated_by_id"],
        "created_by_id": organization["created_by_id"],
        "created_at": format_time(organization["created_at"]),
        "updated_at": format_time(organization["updated_at"]),
    }


def organization_ids(organization: dict[str, Any], lookup: Lookup) -> dict[str, Any]:
    return dict(
        organization_plain(organization), member_ids=lookup.member_ids(organization["id"]), secondary_member_ids=[]
    )


def organization_names(organization: dict[str, Any], lookup: Lookup) -> dict[str, Any]:
    result = organization_ids(organization, lookup)
    members = [lookup.user(user_id)["login"] for user_id in result["member_ids"]]
    if members:
        result["members"] = members
    return with_author_names(result, organization, lookup)


def group_names(lookup: Lookup) -> dict[str, Any]:
    agents = lookup.agent_ids()
    result = {
        "id": GROUP["id"],
        "signature_id": 1,
        "email_address_id": 1,
        "name": GROUP["name"],
        "name_last": GROUP["name"],
        "parent_id": None,
        "assignment_timeout": None,
        "follow_up_possible": "yes",
        "reopen_time_in_days": None,
        "follow_up_assignment": True,
        "active": True,
        "shared_drafts": True,
        "note": GROUP["note"],
        "updated_by_id": 1,
        "created_by_id": 1,
        "created_at": format_time(EPOCH_2020),
        "updated_at": format_time(EPOCH_2020),
        "user_ids": agents,
        "users": [lookup.user(user_id)["login"] for user_id in agents],
    }
    return dict(result, created_by="-", updated_by="-")


def priority_names(priority_id: int) -> dict[str, Any]:
    return {
        "id": priority_id,
        "name": PRIORITIES[priority_id],
        "default_create": priority_id == 2,
        "ui_icon": {1: "low-priority", 3: "important"}.get(priority_id),
        "ui_color": {1: "low-priority", 3: "high-priority"}.get(priority_id),
        "note": None,
        "active": True,
        "updated_by_id": 1,
        "created_by_id": 1,
        "created_at": format_time(EPOCH_2020),
        "updated_at": format_time(EPOCH_2020),
        "created_by": "-",
        "updated_by": "-",
    }


# -- tickets -----------------------------------------------------------------------------------
def ticket_plain(ticket: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": ticket["id"],
        "group_id": GROUP["id"],
        "priority_id": ticket["priority_id"],
        "state_id": ticket["state_id"],
        "organization_id": ticket["organization_id"],
        "number": ticket["number"],
        "title": ticket["title"],
        "owner_id": ticket["owner_id"],
        "customer_id": ticket["customer_id"],
        "note": ticket["note"],
        "first_response_at": None,
        "first_response_escalation_at": None,
        "first_response_in_min": None,
        "first_response_diff_in_min": None,
        "close_at": format_time(ticket["close_at"]),
        "close_escalation_at": None,
        "close_in_min": None,
        "close_diff_in_min": None,
        "update_escalation_at": None,
        "update_in_min": None,
        "update_diff_in_min": None,
        "last_close_at": format_time(ticket["last_close_at"]),
        "last_contact_at": format_time(ticket["last_contact_at"]),
        "last_contact_agent_at": format_time(ticket["last_contact_agent_at"]),
        "last_contact_customer_at": format_time(ticket["last_contact_customer_at"]),
        "last_owner_update_at": None,
        "create_article_type_id": ticket["create_article_type_id"],
        "create_article_sender_id": ticket["create_article_sender_id"],
        "article_count": len(ticket["article_ids"]),
        "escalation_at": None,
        "pending_time": format_time(ticket["pending_time"]),
        "type": None,
        "time_unit": format_decimal(ticket["time_unit"]),
        "preferences": dict(ticket["preferences"]),
        "updated_by_id": ticket["updated_by_id"],
        "created_by_id": ticket["created_by_id"],
        "created_at": format_time(ticket["created_at"]),
        "updated_at": format_time(ticket["updated_at"]),
        "checklist_id": None,
    }


def ticket_ids(ticket: dict[str, Any]) -> dict[str, Any]:
    return dict(
        ticket_plain(ticket),
        referencing_checklist_ids=[],
        article_ids=list(ticket["article_ids"]),
        ticket_time_accounting_ids=list(ticket["entry_ids"]),
        ai_stored_result_ids=[],
    )


def ticket_names(ticket: dict[str, Any], lookup: Lookup) -> dict[str, Any]:
    """``expand=true``. Like Zammad, ``ticket_time_accounting`` (the entries' "names") is ``[]``
    while there are no entries and missing once there are (entries have no name to list)."""
    result = dict(ticket_ids(ticket), referencing_checklists=[], group=GROUP["name"])
    organization = lookup.organization(ticket["organization_id"])
    if organization is not None:
        result["organization"] = organization["name"]
    if not ticket["entry_ids"]:
        result["ticket_time_accounting"] = []
    result.update(
        state=STATES[ticket["state_id"]],
        priority=PRIORITIES[ticket["priority_id"]],
        owner=lookup.user(ticket["owner_id"])["login"],
        customer=lookup.user(ticket["customer_id"])["login"],
    )
    with_author_names(result, ticket, lookup)
    result.update(
        create_article_type=ARTICLE_TYPES[ticket["create_article_type_id"]],
        create_article_sender=ARTICLE_SENDERS[ticket["create_article_sender_id"]],
        ai_stored_results=[],
    )
    return result


# -- time accounting ---------------------------------------------------------------------------
def time_accounting_json(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": entry["id"],
        "ticket_id": entry["ticket_id"],
        "ticket_article_id": entry["ticket_article_id"],
        "time_unit": format_decimal(entry["time_unit"]),
        "type_id": entry["type_id"],
        "created_by_id": entry["created_by_id"],
        "created_at": format_time(entry["created_at"]),
        "updated_at": format_time(entry["updated_at"]),
    }


def type_json(kind: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": kind["id"],
        "name": kind["name"],
        "note": kind["note"],
        "active": kind["active"],
        "created_by_id": kind["created_by_id"],
        "updated_by_id": kind["updated_by_id"],
        "created_at": format_time(kind["created_at"]),
        "updated_at": format_time(kind["updated_at"]),
    }


# -- search results ----------------------------------------------------------------------------
def ticket_assets(tickets: list[dict[str, Any]], lookup: Lookup) -> dict[str, Any]:
    """``assets`` of a ``full=true`` answer: the tickets plus the users and organisations they
    reference (keys are the ids as strings)."""
    assets: dict[str, dict[str, Any]] = {"Ticket": {}, "User": {}, "Organization": {}}
    for ticket in tickets:
        assets["Ticket"][str(ticket["id"])] = ticket_ids(ticket)
        for key in ("owner_id", "customer_id", "created_by_id", "updated_by_id"):
            _add_user_asset(assets, lookup, ticket[key])
        _add_organization_asset(assets, lookup, ticket["organization_id"])
    return {name: entries for name, entries in assets.items() if entries}


def user_assets(users: list[dict[str, Any]], lookup: Lookup) -> dict[str, Any]:
    assets: dict[str, dict[str, Any]] = {"User": {}, "Organization": {}}
    for user in users:
        _add_user_asset(assets, lookup, user["id"])
    return {name: entries for name, entries in assets.items() if entries}


def _add_user_asset(assets: dict[str, dict[str, Any]], lookup: Lookup, user_id: int) -> None:
    if str(user_id) in assets["User"]:
        return
    user = lookup.user(user_id)
    assets["User"][str(user_id)] = user_ids(user)
    _add_organization_asset(assets, lookup, user["organization_id"])


def _add_organization_asset(assets: dict[str, dict[str, Any]], lookup: Lookup, organization_id: int | None) -> None:
    organization = lookup.organization(organization_id)
    if organization is not None and str(organization_id) not in assets["Organization"]:
        assets["Organization"][str(organization_id)] = organization_ids(organization, lookup)


# -- shared by the shapes and the webhook payload ----------------------------------------------
def with_author_names(result: dict[str, Any], record: dict[str, Any], lookup: Lookup) -> dict[str, Any]:
    result["created_by"] = lookup.user(record["created_by_id"])["login"]
    result["updated_by"] = lookup.user(record["updated_by_id"])["login"]
    return result


class Lookup(Protocol):
    """What the shapes and the webhook payload need from the service's state (implemented by
    ZammadService)."""

    def user(self, user_id: int) -> dict[str, Any]: ...

    def organization(self, organization_id: int | None) -> dict[str, Any] | None: ...

    def member_ids(self, organization_id: int) -> list[int]: ...

    def agent_ids(self) -> list[int]: ...

    def article_entry(self, article_id: int) -> dict[str, Any] | None: ...

"""Zammad's trigger webhook: the default payload (TriggerWebhookJob), its Rails JSON encoding and
the delivery headers.

``webhook_body`` renders ``{"ticket": {...}, "article": {...}}`` (the records' attributes with
association names, the associated users/organisation/group/priority as objects, the article's
``accounted_time``); ``webhook_headers`` adds ``User-Agent: Zammad User Agent``,
``X-Zammad-Trigger``, ``X-Zammad-Delivery`` (a uuid) and, with a secret, ``X-Hub-Signature``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

from sandbox.zammad_json import (
    ARTICLE_SENDERS,
    ARTICLE_TYPES,
    Lookup,
    format_time,
    group_names,
    organization_names,
    priority_names,
    ticket_names,
    user_names,
    with_author_names,
)

WEBHOOK_TRIGGER = "tracksync time accounting"
USER_ATTRIBUTE_BLACKLIST = (
    "last_login",
    "login_failed",
    "password",
    "preferences",
    "group_ids",
    "groups",
    "authorization_ids",
    "authorizations",
)


def webhook_body(ticket: dict[str, Any], article: dict[str, Any], lookup: Lookup) -> bytes:
    """The request body Zammad posts for ``ticket`` and ``article``."""
    return ruby_json(webhook_payload(ticket, article, lookup))


def webhook_headers(body: bytes, secret: str | None = None, trigger: str = WEBHOOK_TRIGGER) -> dict[str, str]:
    """The delivery's headers; ``X-Hub-Signature: sha1=<hex HMAC-SHA1 of the body>`` with a ``secret``."""
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Zammad User Agent",
        "X-Zammad-Trigger": trigger,
        "X-Zammad-Delivery": str(uuid.uuid4()),
    }
    if secret:
        headers["X-Hub-Signature"] = "sha1=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()
    return headers


def webhook_payload(ticket: dict[str, Any], article: dict[str, Any], lookup: Lookup) -> dict[str, Any]:
    """TriggerWebhookJob's default body: ``{ticket, article}``, each record's attributes with
    association names, sorted by key, with owner/customer/created_by/updated_by/organization/
    priority/group (article: created_by/updated_by) replaced by the associated records
    (``{}`` when there is none)."""
    ticket_part = dict(sorted(ticket_names(ticket, lookup).items()))
    associations = {
        "owner": _webhook_user(lookup, ticket["owner_id"]),
        "customer": _webhook_user(lookup, ticket["customer_id"]),
        "created_by": _webhook_user(lookup, ticket["created_by_id"]),
        "updated_by": _webhook_user(lookup, ticket["updated_by_id"]),
        "organization": (
            organization_names(lookup.organization(ticket["organization_id"]), lookup)
            if lookup.organization(ticket["organization_id"]) is not None
            else {}
        ),
        "priority": priority_names(ticket["priority_id"]),
        "group": group_names(lookup),
    }
    for key, value in associations.items():
        ticket_part[key] = dict(sorted(value.items()))
    article_part = dict(sorted(article_names(article, lookup).items()))
    article_part["created_by"] = _webhook_user(lookup, article["created_by_id"])
    article_part["updated_by"] = _webhook_user(lookup, article["updated_by_id"])
    entry = lookup.article_entry(article["id"])
    article_part["accounted_time"] = int(entry["time_unit"]) if entry is not None else 0
    return {"ticket": ticket_part, "article": article_part}


def article_names(article: dict[str, Any], lookup: Lookup) -> dict[str, Any]:
    result = {
        "id": article["id"],
        "ticket_id": article["ticket_id"],
        "type_id": article["type_id"],
        "sender_id": article["sender_id"],
        "from": article["from"],
        "to": article["to"],
        "cc": None,
        "subject": article["subject"],
        "reply_to": None,
        "message_id": None,
        "message_id_md5": None,
        "in_reply_to": None,
        "content_type": "text/html",
        "references": None,
        "body": article["body"],
        "internal": article["internal"],
        "preferences": {},
        "updated_by_id": article["updated_by_id"],
        "created_by_id": article["created_by_id"],
        "origin_by_id": article["origin_by_id"],
        "created_at": format_time(article["created_at"]),
        "updated_at": format_time(article["updated_at"]),
        "detected_language": None,
        "attachments": [],
        "type": ARTICLE_TYPES[article["type_id"]],
        "sender": ARTICLE_SENDERS[article["sender_id"]],
    }
    if article["origin_by_id"] is not None:
        result["origin_by"] = lookup.user(article["origin_by_id"])["login"]
    return with_author_names(result, article, lookup)


def _webhook_user(lookup: Lookup, user_id: int | None) -> dict[str, Any]:
    if user_id is None:
        return {}
    attributes = user_names(lookup.user(user_id), lookup)
    return {key: value for key, value in attributes.items() if key not in USER_ATTRIBUTE_BLACKLIST}


def ruby_json(payload: Any) -> bytes:
    """``payload.to_json`` as Rails emits it: compact, UTF-8, HTML-safe escapes for ``< > &``
    and U+2028/U+2029 (ActiveSupport.escape_html_entities_in_json)."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    for character, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(character, escaped)
    return text.encode("utf-8")

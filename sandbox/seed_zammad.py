"""Zammad seed data: a small believable demo set and a fast bulk set for benchmarks."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import TYPE_CHECKING

from sandbox.seed import LONG_TITLE, WORDS

if TYPE_CHECKING:
    from sandbox.hub import Sandbox

ORGANIZATIONS = ("ACME Corp", "Globex", "Initech")
AGENTS = (
    ("alice@example.com", "Alice", "Archer"),
    ("bob@example.com", "Bob", "Baker"),
    ("carol@example.com", "Carol", "Clark"),
)
TYPES = (
    ("Support", "First and second level"),
    ("Development", "Bug fixes and features"),
    ("Consulting", "Workshops and advice"),
    ("Legacy", "Old activity, no longer used"),
)
# (title, organisation index, customer, state, [(minutes, type index or None, agent index, days ago)])
DEMO_TICKETS = (
    (
        "Login page shows a blank screen on Safari",
        0,
        "dana.dunn@acme.example",
        "open",
        [(15, 0, 0, 6), (30, 1, 1, 5), (45, 1, 1, 2)],
    ),
    ("Invoice #4711 has the wrong VAT rate", 0, "dana.dunn@acme.example", "closed", [(20, 0, 0, 9), (7.5, 2, 2, 8)]),
    (
        'Export breaks on <b>bold</b> & "quoted" values like key=value',
        0,
        "eli.east@acme.example",
        "open",
        [(60, 1, 1, 4), (0.25, None, 0, 3), (90, 1, 2, 1)],
    ),
    (
        "VPN drops every 10 minutes",
        1,
        "fay.ford@globex.example",
        "pending reminder",
        [(25, 0, 2, 7), (35, 0, 2, 6), (10, 2, 0, 2), (5, 0, 1, 0)],
    ),
    ("Ошибка при экспорте CSV с кириллицей", 1, "fay.ford@globex.example", "open", [(40, 1, 0, 3), (20, 1, 1, 1)]),
    (
        "Onboarding workshop for the new team",
        1,
        "gus.gray@globex.example",
        "closed",
        [(120, 2, 2, 12), (180, 2, 2, 11), (30, 3, 0, 10)],
    ),
    ("ドキュメントの日本語訳を追加する", 2, "hal.hart@initech.example", "new", [(15, 1, 1, 2), (15, 1, 1, 1)]),
    (LONG_TITLE, 2, "hal.hart@initech.example", "open", [(50, 1, 0, 5), (70, 1, 2, 4), (1, None, 1, 0)]),
    ("TPS report cover sheet missing", 2, "ivy.irwin@initech.example", "open", [(10, 0, 0, 1), (12.5, 0, 1, 0)]),
    ("Password reset e-mail is not sent", None, None, "open", [(20, 0, 2, 3), (40, 1, 2, 2), (15, 0, 0, 1)]),
)
STATES = ("new", "open", "open", "open", "pending reminder", "closed", "closed")


def demo(sb: Sandbox) -> None:
    """Organisations ACME Corp, Globex and Initech; agents alice, bob and carol (@example.com);
    activity types Support, Development, Consulting and an inactive Legacy; ten tickets (one
    without organisation, awkward titles: HTML characters, Cyrillic, Japanese, 200 characters;
    new/open/pending/closed) with 2-4 time entries each, backdated over the last two weeks
    (fractional minutes, two entries without a type, one booked on an internal note)."""
    zammad = sb.zammad
    organizations = [zammad.add_organization(name)["id"] for name in ORGANIZATIONS]
    agents = [zammad.add_user(email, first, last)["login"] for email, first, last in AGENTS]
    types = [zammad.add_type(name, note, active=name != "Legacy")["id"] for name, note in TYPES]
    now = zammad.clock.now()
    for title, organization, customer, state, entries in DEMO_TICKETS:
        ticket = zammad.add_ticket(
            title,
            organization_id=organizations[organization] if organization is not None else None,
            customer_email=customer,
            state=state,
        )
        for index, (minutes, kind, agent, days_ago) in enumerate(entries):
            zammad.add_time_accounting(
                ticket["id"],
                minutes,
                type_id=types[kind] if kind is not None else None,
                created_by_email=agents[agent],
                created_at=now - timedelta(days=days_ago, hours=index),
                with_article=(title.startswith("VPN") and index == len(entries) - 1),
            )


def bulk(
    sb: Sandbox,
    tickets: int = 2000,
    entries: int = 5,
    seed: int = 1,
    organizations: int = 10,
    agents: int = 8,
    customers: int = 100,
) -> None:
    """``tickets`` tickets with ``entries`` time entries each, inserted directly into the state.

    Tickets are created over the past year in id order; entries follow their ticket's creation
    and bump its ``updated_at``; types Support/Development/Consulting; about a third of the
    tickets are closed.
    """
    rng = random.Random(seed)
    zammad = sb.zammad
    organization_ids = [
        zammad.add_organization(f"Bulk Customer {number:02d}")["id"] for number in range(1, organizations + 1)
    ]
    agent_ids = [
        zammad.add_user(f"agent{number:02d}@example.com", "Agent", f"{number:02d}")["id"]
        for number in range(1, agents + 1)
    ]
    type_ids = [zammad.add_type(name, note)["id"] for name, note in TYPES[:3]]
    customer_emails = [f"customer{number:03d}@bulk.example" for number in range(1, customers + 1)]
    customer_orgs = {
        email: organization_ids[index % len(organization_ids)] for index, email in enumerate(customer_emails)
    }
    now = zammad.clock.now()
    start = now - timedelta(days=365)
    step = timedelta(days=330) / max(tickets, 1)
    latest = now - timedelta(seconds=1)
    with zammad.lock:
        _insert_bulk(
            zammad, rng, tickets, entries, start, step, latest, customer_emails, customer_orgs, type_ids, agent_ids
        )


def _insert_bulk(
    zammad, rng, tickets, entries, start, step, latest, customer_emails, customer_orgs, type_ids, agent_ids
) -> None:  # noqa: ANN001 - internal loop of bulk()
    for index in range(tickets):
        created = start + step * index + timedelta(seconds=rng.randrange(60), milliseconds=rng.randrange(1000))
        email = rng.choice(customer_emails)
        title = f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} issue #{index + 1}"
        ticket = zammad.insert_ticket(
            title,
            organization_id=customer_orgs[email],
            customer_email=email,
            state=rng.choice(STATES),
            created_at=created,
            updated_at=created,
        )
        moment = created
        for _ in range(entries):
            moment = min(
                moment + timedelta(minutes=rng.randrange(5, 3 * 24 * 60), milliseconds=rng.randrange(1000)), latest
            )
            zammad.insert_time_accounting(
                ticket["id"],
                rng.choice((5, 10, 15, 20, 30, 45, 60, 90, 7.5)),
                rng.choice(type_ids),
                rng.choice(agent_ids),
                moment,
            )
        ticket["updated_at"] = moment
        if ticket["close_at"] is not None:
            ticket["close_at"] = ticket["last_close_at"] = moment

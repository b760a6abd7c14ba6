"""Microsoft Graph seed data: three mailboxes in different zones with every kind of event the
graph-kimai job must tell apart, and a bulk set for the benchmark.

Times are relative to today (in each mailbox's zone), so the default window (90 days back, 30
ahead) always holds them. ``DEMO_MAILBOXES`` names the mailboxes; ``demo()`` returns what it made
(``{mailbox: {label: event id}}`` plus each series' ids) so tests can move, delete and check them.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sandbox.graph_json import zone_of

if TYPE_CHECKING:
    from sandbox.hub import Sandbox

RELAUNCH = "Website relaunch"
RETAINER = "[PROJECT] Support retainer"
MEETING = "[ACTIVITY] Meeting"
OTHER_ORGANIZER = "pat.partner@partner.example"
# (mail, display name, mailboxSettings.timeZone: Windows names and an IANA one)
DEMO_MAILBOXES = (
    ("ann@acme.example", "Ann Archer", "W. Europe Standard Time"),
    ("bob@acme.example", "Bob Baker", "Pacific Standard Time"),
    ("chandra@acme.example", "Chandra Chopra", "Asia/Kolkata"),
)
SERVICE_ACCOUNT = "Meeting Room Service"  # a user without a mail address: never a mailbox to read


def local(mail_zone: str, days: int, hour: int, minute: int = 0, today: date | None = None) -> datetime:
    """An aware UTC instant: `days` from today at hour:minute wall time in the mailbox's zone."""
    zone = zone_of(mail_zone) or UTC
    day = (today or datetime.now(zone).date()) + timedelta(days=days)
    return datetime.combine(day, time(hour, minute), zone).astimezone(UTC)


def demo(sb: Sandbox) -> dict[str, Any]:
    """Three mailboxes (W. Europe, Pacific, Asia/Kolkata) with 66 events each (two delta pages
    at 50), plus a user without mail. Per mailbox (label: what):

    kickoff, design: single events in "Website relaunch"; call: "[PROJECT] Support retainer";
    weekly: 8 occurrences of a weekly series ("Website relaunch") whose 3rd occurrence is moved a
    day later (``moved``, an exception); standup: 45 daily occurrences ("[PROJECT] Support
    retainer"); declined (an invitation the owner declined); cancelled (the organizer cancelled
    it); free (shown as free); allday (an all-day event); private (sensitivity private, a project
    category); ambiguous (two project categories); unmapped (no category); tentative; activity
    ("[ACTIVITY] Meeting" plus a project); future (starts in 3 days)."""
    made = {mail: _demo_mailbox(sb, mail, name, zone_name) for mail, name, zone_name in DEMO_MAILBOXES}
    sb.graph.add_user(None, SERVICE_ACCOUNT, "UTC", mailbox=False)
    return made


def _demo_mailbox(sb: Sandbox, mail: str, name: str, zone_name: str) -> dict[str, Any]:
    graph = sb.graph
    graph.add_user(mail, name, zone_name)
    ids: dict[str, Any] = {}

    def at(days: int, hour: int, minute: int = 0, zone_name: str = zone_name) -> datetime:
        return local(zone_name, days, hour, minute)

    def single(label: str, subject: str, days: int, start: tuple[int, int], end: tuple[int, int], **kw: Any) -> None:
        event = graph.add_event(mail, subject, at(days, *start), at(days, *end), **kw)
        ids[label] = event["id"]

    single("kickoff", "Website relaunch kickoff", -10, (9, 0), (10, 30), categories=[RELAUNCH])
    single("design", "Design review", -8, (14, 0), (15, 0), categories=[RELAUNCH])
    single("call", "Customer call: ticket backlog", -5, (10, 0), (11, 0), categories=[RETAINER])
    single(
        "declined",
        "Partner sync",
        -6,
        (16, 0),
        (17, 0),
        categories=[RELAUNCH],
        response="declined",
        organizer=OTHER_ORGANIZER,
    )
    single(
        "cancelled",
        "Quarterly planning",
        -4,
        (9, 0),
        (10, 0),
        categories=[RETAINER],
        is_cancelled=True,
        organizer=OTHER_ORGANIZER,
    )
    single("free", "Focus time (optional)", -3, (12, 0), (13, 0), categories=[RELAUNCH], show_as="free")
    single(
        "private",
        "Salary talk with HR",
        -2,
        (15, 0),
        (16, 0),
        categories=[RETAINER],
        sensitivity="private",
        body="Confidential: salary figures",
    )
    single("ambiguous", "Relaunch or retainer?", -1, (9, 0), (9, 30), categories=[RELAUNCH, RETAINER])
    single("unmapped", "Lunch with the team", -9, (12, 0), (13, 0))
    single(
        "tentative",
        "Content migration check",
        -11,
        (13, 0),
        (14, 0),
        categories=[RELAUNCH],
        show_as="tentative",
        response="tentativelyAccepted",
        organizer=OTHER_ORGANIZER,
    )
    single("activity", "Retainer status meeting", -12, (15, 0), (16, 0), categories=[RETAINER, MEETING])
    single("future", "Go-live rehearsal", 3, (10, 0), (11, 0), categories=[RELAUNCH])
    zone = zone_of(zone_name) or UTC
    today = datetime.now(zone).date()
    allday = graph.add_event(
        mail,
        "Relaunch workshop day",
        today - timedelta(days=7),
        today - timedelta(days=6),
        is_all_day=True,
        categories=[RELAUNCH],
        show_as="busy",
    )
    ids["allday"] = allday["id"]
    weekly = graph.add_series(mail, "Relaunch sync", at(-42, 11), at(-42, 11, 30), 8, categories=[RELAUNCH])
    ids["weekly"] = [e["id"] for e in weekly["occurrences"]]
    ids["weekly_master"] = weekly["master_id"]
    moved = weekly["occurrences"][2]
    graph.move_event(mail, moved["id"], at(-27, 13), at(-27, 13, 30))
    ids["moved"] = moved["id"]
    standup = graph.add_series(
        mail, "Daily stand-up", at(-40, 9, 15), at(-40, 9, 30), 45, interval_days=1, categories=[RETAINER]
    )
    ids["standup"] = [e["id"] for e in standup["occurrences"]]
    ids["standup_master"] = standup["master_id"]
    return ids


def bulk(
    sb: Sandbox,
    mailboxes: int = 50,
    events: int = 2000,
    past_days: int = 90,
    future_days: int = 30,
    seed: int = 1,
) -> list[str]:
    """`mailboxes` mailboxes (zones rotating) with `events` events each spread over the window
    (about three quarters in the past), half of them in a mapped category. Returns the mails."""
    rng = random.Random(seed)
    zones = ("W. Europe Standard Time", "Pacific Standard Time", "Asia/Kolkata", "Eastern Standard Time")
    categories = ([RELAUNCH], [RETAINER], ["Internal"], [])
    graph = sb.graph
    mails = []
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    span_hours = (past_days + future_days - 2) * 24
    for number in range(mailboxes):
        mail = f"user{number:03d}@bulk.example"
        graph.add_user(mail, f"Bulk User{number:03d}", zones[number % len(zones)])
        for index in range(events):
            start = now - timedelta(days=past_days - 1) + timedelta(minutes=30 * rng.randrange(span_hours * 2))
            graph.add_event(
                mail,
                f"Bulk event {index}",
                start,
                start + timedelta(minutes=rng.choice((15, 30, 60, 90))),
                categories=categories[index % len(categories)],
            )
        mails.append(mail)
    return mails

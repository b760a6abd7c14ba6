"""Seed data for the import sources (Toggl Track, Harvest): small demo sets with the awkward
cases, and fast bulk sets (direct insertion) for paging tests and benchmarks.

Times are relative to now, so "the last days" always hold data.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

from sandbox.seed import LONG_TITLE, WORDS

if TYPE_CHECKING:
    from sandbox.hub import Sandbox


def toggl_demo(sb: Sandbox) -> None:
    """Clients ACME Corp / Internal, four projects (one without client), a task, tags, and entries
    over the last days: with and without project, ``description: null``, tags, non-ASCII text, a
    200-character description, one crossing local midnight, one deleted and one running."""
    toggl = sb.toggl
    website = toggl.add_project("Website", client_name="ACME Corp", billable=True)
    api = toggl.add_project("API", client_name="ACME Corp", billable=True)
    admin = toggl.add_project("Administration", client_name="Internal")
    toggl.add_project("Side project")
    design = toggl.add_task(website["id"], "Design")
    today = datetime.now(toggl.zone).replace(hour=0, minute=0, second=0, microsecond=0)

    def at(days_ago: int, hour: int, minute: int = 0) -> datetime:
        day = (today - timedelta(days=days_ago)).date()
        return datetime.combine(day, time(hour, minute), tzinfo=toggl.zone)

    rows = [
        (3, 9, 0, 120, "Landing page layout", website["id"], ["billed"], design["id"]),
        (3, 11, 30, 45, "Stand-up", admin["id"], ["meeting"], None),
        (3, 14, 0, 90, "Rate limit the /search endpoint", api["id"], [], None),
        (2, 8, 15, 30, None, None, [], None),
        (2, 10, 0, 150, "Ошибка при экспорте CSV с кириллицей", api["id"], ["billed"], None),
        (2, 23, 30, 75, "Deploy after midnight", website["id"], [], None),
        (1, 9, 0, 60, LONG_TITLE, website["id"], [], None),
        (1, 13, 0, 50, 'Review "quoted" <b>markup</b> & key=value', api["id"], ["meeting", "billed"], None),
    ]
    for days_ago, hour, minute, minutes, description, project_id, tags, task_id in rows:
        start = at(days_ago, hour, minute)
        toggl.add_entry(
            start,
            start + timedelta(minutes=minutes),
            description,
            project_id,
            tags=tags,
            billable=project_id in (website["id"], api["id"]),
            task_id=task_id,
        )
    gone = toggl.add_entry(at(1, 16), at(1, 17), "Entered by mistake", admin["id"])
    toggl.delete_entry(gone["id"])
    toggl.add_entry(datetime.now(UTC) - timedelta(minutes=25), None, "Writing the import", website["id"])


def harvest_demo(sb: Sandbox) -> None:
    """Clients ACME Corp / Globex, three projects, four tasks, a second user, and entries over the
    last days: with start/end times or only hours, null notes, non-ASCII notes, another user's
    entry, a billed one and a running one."""
    harvest = sb.harvest
    acme = harvest.add_client("ACME Corp")
    globex = harvest.add_client("Globex", currency="USD")
    website = harvest.add_project("Website", acme["id"], code="WEB")
    api = harvest.add_project("API", acme["id"], code="API")
    support = harvest.add_project("Support", globex["id"], code="SUP", is_billable=False, hourly_rate=None)
    programming = harvest.add_task("Programming")
    design = harvest.add_task("Design")
    meetings = harvest.add_task("Meetings", billable_by_default=False)
    harvest.add_task("Research")
    alice = harvest.add_user("alice@example.com", "Alice", "Example")
    today = datetime.now(UTC).date()
    rows = [
        (3, 2.0, website, design, None, "Landing page layout", "9:00am", "11:00am"),
        (3, 0.75, website, meetings, None, "Stand-up", "11:30am", "12:15pm"),
        (2, 1.5, api, programming, None, "Ошибка при экспорте CSV", None, None),
        (2, 0.25, support, meetings, None, None, None, None),
        (2, 3.0, api, programming, alice["id"], "Paginate the /users list", "1:00pm", "4:00pm"),
        (1, 1.0, website, programming, None, LONG_TITLE, None, None),
        (1, 0.5, support, programming, None, 'Fix "quoted" <b>markup</b> & key=value', None, None),
    ]
    for days_ago, hours, project, task, user_id, notes, started, ended in rows:
        harvest.add_entry(
            today - timedelta(days=days_ago),
            hours,
            project["id"],
            task["id"],
            user_id=user_id,
            notes=notes,
            started_time=started,
            ended_time=ended,
        )
    billed = harvest.add_entry(today - timedelta(days=4), 4.0, website["id"], programming["id"], notes="Invoiced work")
    harvest.edit_entry(billed["id"], is_billed=True, is_locked=True)
    harvest.add_entry(today, 0.5, api["id"], programming["id"], notes="Writing the import", is_running=True)


def harvest_bulk(sb: Sandbox, entries: int = 20000, seed: int = 1, days: int = 365) -> None:
    """``entries`` time entries (3 users, 5 clients, 10 projects, 5 tasks) over the last ``days``
    days, inserted directly; creation and update times follow the spent date."""
    rng = random.Random(seed)
    harvest = sb.harvest
    users = [harvest.add_user(f"user{n}@example.com", f"User{n}", "Bulk")["id"] for n in (1, 2)] + [harvest.me]
    clients = [harvest.add_client(f"Client {n:02d}")["id"] for n in range(1, 6)]
    projects = [
        harvest.add_project(f"Project {n:02d}", clients[n % len(clients)], code=f"P{n:02d}")["id"] for n in range(1, 11)
    ]
    tasks = [harvest.add_task(name)["id"] for name in ("Programming", "Design", "Meetings", "Research", "Support")]
    now = harvest.clock.now()
    first_day = now - timedelta(days=days)
    step = timedelta(days=days) / max(entries, 1)
    for index in range(entries):
        moment = first_day + step * index
        created = moment + timedelta(hours=18, seconds=rng.randrange(3600))
        created = min(created, now - timedelta(seconds=1))
        updated = min(created + timedelta(seconds=rng.randrange(7 * 86400)), now - timedelta(seconds=1))
        notes = f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} #{index + 1}" if rng.random() > 0.1 else None
        harvest.insert_entry(
            moment.date().isoformat(),
            rng.randrange(1, 33) / 4,
            rng.choice(projects),
            rng.choice(tasks),
            rng.choice(users),
            notes,
            None,
            None,
            None,
            created,
            updated,
        )


def toggl_bulk(sb: Sandbox, entries: int = 5000, seed: int = 1, days: int = 90) -> None:
    """``entries`` stopped time entries (10 projects, 3 clients, 4 tags) back to back over the last
    ``days`` days, inserted directly; ``at`` follows each entry's stop."""
    rng = random.Random(seed)
    toggl = sb.toggl
    projects = [toggl.add_project(f"Project {n:02d}", client_name=f"Client {n % 3 + 1}")["id"] for n in range(1, 11)]
    projects.append(None)
    tags = ["billed", "meeting", "remote", "review"]
    now = toggl.clock.now().replace(microsecond=0)
    cursor = now - timedelta(days=days)
    slot = timedelta(days=days) / max(entries, 1)
    for index in range(entries):
        start = cursor + slot * index
        length = timedelta(seconds=rng.randrange(60, max(int(slot.total_seconds() * 0.9), 120)))
        stop = min(start + length, now - timedelta(seconds=1))
        at = min(stop + timedelta(seconds=rng.randrange(1, 600)), now)
        description = (
            f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} #{index + 1}" if rng.random() > 0.05 else None
        )
        chosen = [tag for tag in tags if rng.random() < 0.15]
        toggl.insert_entry(start, stop, description, rng.choice(projects), chosen, rng.random() < 0.5, None, at)

"""Toggl Track API v9 client (https://api.track.toggl.com/api/v9).

HTTP Basic with `<token>:api_token`. Time entries are not paginated. Quota exhaustion answers 402
and throttling 429: both stop the run with exit 75 (RateLimited) once retries are spent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import SERVICE_KEYS
from ..http import RequestCounter, ServiceSession
from . import FirstAnswer, Record
from .shapes import get_many, get_one, many, shape

if TYPE_CHECKING:
    from ..config import Settings


# what the jobs rely on in Toggl's answers (common/clients/shapes.py)
ME = shape(id="id", email="str")
ENTRY = shape(
    id="id",
    start="time",
    stop="time?",
    duration="int",
    at="time",
    description="str?",
    project_id="id?",
    task_id="id?",
    billable="bool?",
    tags="list?",
    server_deleted_at="time?",
)
PROJECT = shape(id="id", name="str", client_id="id?", cid="id?")
NAMED = shape(id="id", name="str")  # a client, a task


class TogglClient:
    def __init__(self, settings: Settings, counter: RequestCounter, dry_run: bool = False) -> None:
        settings.require(*SERVICE_KEYS["toggl"])
        self.workspace = settings.toggl_workspace
        self.http = ServiceSession(
            "toggl",
            f"{settings.toggl_url}/api/v9",
            {},
            settings,
            counter=counter,
            dry_run=dry_run,
            auth=(settings.toggl_token, "api_token"),
            cacheable=("me",),
        )
        self.api = FirstAnswer(self.http, "TOGGL_URL", "Toggl Track")

    def me(self) -> Record:
        return self.api.get_json("me", shape=ME)

    def time_entries(
        self, start_date: str | None = None, end_date: str | None = None, since: float | None = None
    ) -> list[Record]:
        """Entries that started in [start_date, end_date), or (since: unix seconds) every entry
        changed since then, deleted ones included (server_deleted_at set)."""
        params: dict[str, Any] = (
            {"since": int(since)} if since is not None else {"start_date": start_date, "end_date": end_date}
        )
        return self.api.get_json("me/time_entries", params, shape=ENTRY, listed=True)

    def projects(self) -> list[Record]:
        return get_many(self.http, f"workspaces/{self.workspace}/projects", None, PROJECT)

    def clients(self) -> list[Record]:
        return get_many(self.http, f"workspaces/{self.workspace}/clients", None, NAMED)

    def tasks(self) -> list[Record]:
        """Tasks come with the user's related data (there is no workspace tasks list in v9)."""
        me = get_one(self.http, "me", {"with_related_data": "true"}, shape(tasks="list?"))
        return many(self.http, f"GET {self.http.path_of('me')} (tasks)", me.get("tasks") or [], NAMED)

"""The Zammad side of a zammad-kimai read: which tickets to look at (the search since the cursor,
the webhook's tickets by id, --from/--to), which of the tickets with synced time are deleted
outright (asked for by id when a complete listing leaves them out: only Zammad's 404 is proof),
and the time accounting of each ticket to read. ZammadKimaiJob (zammad_kimai.py) plans and writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING

from ..clients import Record
from ..clients.zammad import ZammadClient
from ..errors import STOPS_RUN, ApiError, NotFound, ServiceUnavailable, SyncError
from ..timeutil import parse_instant
from .kimai_targets import without_path
from .zammad_plan import TicketRead, Window, ZammadRead

if TYPE_CHECKING:
    from ..store import Store
    from .zammad_kimai import ZammadOptions

OVERLAP = timedelta(minutes=5)


class ZammadTickets:
    """Reads a run's tickets and their entries from Zammad for job `job` of the store."""

    def __init__(self, zammad: ZammadClient, store: Store, job: str, opts: ZammadOptions) -> None:
        self.zammad, self.store, self.job, self.opts = zammad, store, job, opts

    def listed(self, window: Window | None) -> tuple[list[Record], bool, list[int], list[str]]:
        """(tickets, every search page read, the webhook's ticket ids Zammad answers 404 for,
        warnings about the webhook's tickets it refuses to show)."""
        if self.opts.ticket_ids:
            tickets: list[Record] = []
            missing: list[int] = []
            warnings: list[str] = []
            for ticket_id in self.opts.ticket_ids:
                state, ticket = self.zammad.find_ticket(ticket_id)
                if ticket is not None:
                    tickets.append(ticket)
                elif state == "deleted":
                    missing.append(ticket_id)
                else:
                    warnings.append(unreadable(ticket_id))
            return tickets, True, missing, warnings
        since = window[0] if window else None
        cursor = None if (self.opts.full or window) else self.store.cursor(self.job, "tickets")
        if cursor:
            since = parse_instant(cursor) - OVERLAP
        # Elasticsearch query syntax: the colons inside the value must be escaped
        query = f"updated_at:>={since.strftime('%Y-%m-%dT%H:%M:%SZ').replace(':', chr(92) + ':')}" if since else "*"
        tickets, complete = self.zammad.search_tickets(query)
        return tickets, complete, [], []

    def find_deleted(self, absent: set[int], read: ZammadRead) -> list[Record]:
        """Each linked ticket a complete listing of every ticket (--full) left out, asked for by id:
        a 404 is proof it was deleted (into read.deleted); one still there (a lagging search
        index) is returned to be read like the others; a 403 (moved where the token cannot read)
        or a failed read proves nothing and leaves its timesheets as they are."""

        def find(ticket_id: int) -> tuple[int, str, Record | None]:
            try:
                return (ticket_id, *self.zammad.find_ticket(ticket_id))
            except (ServiceUnavailable, ApiError) as exc:
                return ticket_id, f"not in the search and not readable ({exc}); checked again next --full", None

        with ThreadPoolExecutor(max_workers=self.opts.workers) as pool:
            found = list(pool.map(find, sorted(absent)))
        present: list[Record] = []
        for ticket_id, state, ticket in found:
            if ticket is not None:
                present.append(ticket)
            elif state == "deleted":
                read.deleted.add(ticket_id)
            else:
                read.warnings.append(unreadable(ticket_id) if state == "hidden" else f"ticket {ticket_id}: {state}")
        return present

    def unchanged(self, ticket: Record) -> bool:
        """The ticket's updated_at is the one all its entries were synced at (adding, changing or
        deleting time touches the ticket): no need to read its entries again."""
        if self.opts.full or self.opts.date_from or self.opts.date_to:
            return False
        return bool(self.store.cursor(self.job, f"ticket/{ticket['id']}") == ticket["updated_at"])

    def entries(self, tickets: Iterable[Record]) -> list[TicketRead]:
        """Each ticket's time accounting (in parallel); a ticket whose list answers 404 and
        which itself answers 404 was deleted since the search."""

        def read(ticket: Record) -> TicketRead:
            try:
                return TicketRead(ticket, self.zammad.time_accountings(ticket["id"]))
            except SyncError as exc:
                if isinstance(exc, STOPS_RUN):
                    raise
                if isinstance(exc, NotFound) and self.zammad.find_ticket(ticket["id"])[0] == "deleted":
                    return TicketRead(ticket, deleted=True)
                return TicketRead(ticket, error=f"zammad: {without_path(exc, 'reading its time accounting')}")

        with ThreadPoolExecutor(max_workers=self.opts.workers) as pool:
            return list(pool.map(read, tickets))


def unreadable(ticket_id: int) -> str:
    return (
        f"ticket {ticket_id}: Zammad refuses to show it (403: moved to a group the token cannot read?); "
        "its timesheets are left as they are"
    )

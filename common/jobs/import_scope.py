"""What an import run reads of its source (ReadScope): a window of days (--from/--to), or the
changes since its cursor, or everything from the floor a first window left; from the store's
cursors and the options, without I/O beyond the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:
    from ..store import Store

CURSOR = "entries"  # cursor scope: the source's change cursor, from the server's clock
FLOOR = "from"  # cursor scope: the first day a window read while no change cursor existed


@dataclass(frozen=True)
class ReadScope:
    """What a run reads of the source: the days first..last (last None: open at the end), or
    (first None) the changes since `cursor`."""

    first: date | None = None
    last: date | None = None
    cursor: str | None = None  # the change cursor saved by an earlier run
    moves_cursor: bool = False  # a plain run: it may save a new change cursor
    floor: str | None = None  # a window while no change cursor exists: its first day, saved as the floor


def parse_day(value: str | None, flag: str) -> date:
    try:
        return date.fromisoformat(value or "")  # None (only the other flag given) is refused like any non-date
    except (TypeError, ValueError):
        raise UsageError(f"{flag} takes a date like 2026-03-31, got {value!r}") from None


def read_scope(store: Store, job: str, date_from: str | None, date_to: str | None) -> ReadScope:
    """What a run of the import `job` reads. --from/--to: that window of days; it never creates
    or moves the since-cursor (it did not read what changed outside it), but while no since-cursor
    exists it leaves its first day as the floor. A plain run: the changes since the cursor;
    without one, every entry from the floor on (open at the end), which then creates the cursor
    from the server's clock. The first run of a source needs --from."""
    cursor = store.cursor(job, CURSOR)
    floor = store.cursor(job, FLOOR)
    if not (date_from or date_to):
        if cursor:
            return ReadScope(cursor=cursor, moves_cursor=True)
        if floor:
            return ReadScope(first=date.fromisoformat(floor), moves_cursor=True)
        raise UsageError(f"the first {job} import needs --from DATE (and --to DATE); later runs use the cursor")
    first = parse_day(date_from, "--from")
    last = parse_day(date_to, "--to") if date_to else None  # None: open at the end
    if last and last < first:
        raise UsageError("--to is before --from")
    new_floor = None if cursor or (floor and floor <= first.isoformat()) else first.isoformat()
    return ReadScope(first=first, last=last, cursor=cursor, floor=new_floor)

"""A progress line on stderr for reads and writes that take longer than a second.

    with progress.task("writing kimai", total=len(actions)) as bar:
        ...
        bar.advance()

Shown only when stderr is a terminal and the script has not switched it off (`--quiet`, `--json`:
`progress.enable(False)`); never on stdout. Tasks with the same label (threads reading several
repositories at once) share one line: items done / total (when known), rate and ETA. Redrawn at
most a few times a second and erased when the last task ends, so nothing of it stays in a log.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

DELAY = 1.0  # seconds before a task is worth a line
INTERVAL = 0.25  # seconds between redraws at most
WIDTH = 24  # characters of the bar itself

_enabled = True
_lock = threading.Lock()
_tasks: list[Task] = []  # active tasks, oldest first
_drawn = 0  # characters of the line currently on the terminal (0: nothing drawn)
_last_draw = 0.0


def enable(flag: bool = True) -> None:
    """Allow (the default) or forbid the progress line; it still needs stderr to be a terminal."""
    global _enabled
    _enabled = bool(flag)


def shown() -> bool:
    """True when a progress line may be drawn now."""
    stream = sys.stderr
    return _enabled and hasattr(stream, "isatty") and stream.isatty()


class Task:
    def __init__(self, label: str, total: int | None = None) -> None:
        self.label, self.total, self.done = label, total, 0
        self.started = time.monotonic()

    def advance(self, n: int = 1, total: int | None = None) -> None:
        """n more items done; `total` updates the expected number when it becomes known."""
        with _lock:
            self.done += n
            if total is not None:
                self.total = total
            _draw()


@contextmanager
def task(label: str, total: int | None = None) -> Iterator[Task]:
    """A unit of work whose progress is shown (when wanted) while the block runs."""
    job = Task(label, total)
    with _lock:
        _tasks.append(job)
    try:
        yield job
    finally:
        with _lock:
            _tasks.remove(job)
            if _tasks:
                _draw(force=True)
            else:
                _erase()


def line(label: str, done: int, total: int | None, elapsed: float, width: int = 80) -> str:
    """The text of one progress line, e.g. `writing kimai [######----] 120/300 40.0/s ETA 0:05`."""
    rate = done / elapsed if elapsed > 0 else 0.0
    if total:
        filled = min(WIDTH, int(WIDTH * done / total))
        parts = [label, f"[{'#' * filled}{'-' * (WIDTH - filled)}]", f"{done}/{total}", f"{rate:.1f}/s"]
        if rate > 0 and done < total:
            left = int((total - done) / rate)
            parts.append(f"ETA {left // 60}:{left % 60:02d}")
    else:
        parts = [label, f"{done} items", f"{rate:.1f}/s"]
    return "  ".join(parts)[: max(width - 1, 10)]


def _draw(force: bool = False) -> None:
    """Redraw the line of the oldest label (caller holds _lock)."""
    global _drawn, _last_draw
    if not _tasks or not shown():
        return
    now = time.monotonic()
    label = _tasks[0].label
    group = [t for t in _tasks if t.label == label]
    started = min(t.started for t in group)
    if now - started < DELAY or (not force and now - _last_draw < INTERVAL):
        return
    totals = [t.total for t in group if t.total is not None]
    total = sum(totals) if len(totals) == len(group) else None
    text = line(label, sum(t.done for t in group), total, now - started, shutil.get_terminal_size().columns)
    _write("\r" + text.ljust(_drawn))
    _drawn, _last_draw = len(text), now


def _erase() -> None:
    global _drawn
    if _drawn:
        _write("\r" + " " * _drawn + "\r")
        _drawn = 0


def _write(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed terminal must not stop the run
        pass


def clear() -> None:
    """Erase the line (before printing a message on stderr while tasks still run)."""
    with _lock:
        _erase()

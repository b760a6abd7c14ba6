#!/usr/bin/env python3
"""Figures for the graph-kimai job: requests, writes, seconds and peak memory per run, next to
the lower bound of requests each run needs.

  python bench/graph_kimai.py            # 50 mailboxes x 2,000 events at 10 ms, as the issue asks
  python bench/graph_kimai.py --mailboxes 8 --events 300 --latency-ms 2   # a quick look

The sandbox runs in this process; each sync runs as a real subprocess (python sync.py).
Lower bounds (the issue's): a first run needs the token, the users pages, and per mailbox its
settings and its delta pages, plus on the Kimai side its projects, activities, one (empty) page
of the window's timesheets and one write per timesheet; an unchanged re-run needs the token,
the users pages and one delta request per mailbox; a 1%-changed re-run as much, plus projects,
activities, the timesheet pages around the changed events and one write per changed event.
The first run is measured twice on fresh sandboxes, with SYNC_WORKERS=1 and with --workers.
Kimai runs in UTC here: the
bulk data has events in the hour repeated in autumn, which fail (by design) in a DST zone.
"""

import argparse
import math
import random
import tempfile
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import measure, print_table, write_env

from sandbox import Sandbox
from sandbox.seed_graph import RELAUNCH, RETAINER, bulk

USERS_PAGE = 999  # $top the client asks for
DELTA_PAGE = 1000  # odata.maxpagesize asked for (PAGE_SIZE)
TIMESHEET_PAGE = 500


def prepare(args):
    sb = Sandbox(strict=False, kimai_timezone="UTC").start()  # no repeated autumn hour in the bulk data
    bulk(sb, mailboxes=args.mailboxes, events=args.events, seed=1)
    customer = sb.kimai.add_customer("Acme")
    sb.kimai.add_project("Website relaunch", customer["id"])
    sb.kimai.add_project("Support retainer", customer["id"])
    sb.kimai.add_activity("Meeting", None)
    return sb


def env(sb, workdir):
    return write_env(
        sb,
        workdir,
        GRAPH_DEFAULT_ACTIVITY="Meeting",
        GRAPH_CATEGORY_MAP="Website relaunch=Website relaunch",
        KIMAI_TIMEZONE="UTC",
        PAGE_SIZE=str(DELTA_PAGE),
    )


def mapped_past(sb, mails):
    """(mailbox, event) of every ended event in a mapped category."""
    now = datetime.now(UTC)
    return [
        (mail, e)
        for mail in mails
        for e in sb.graph.events(mail)
        if e["end"] <= now and set(e["categories"]) & {RELAUNCH, RETAINER}
    ]


def first_bound(args, timesheets):
    per_mailbox = 1 + math.ceil(args.events / DELTA_PAGE)
    kimai = 2 + 1 + timesheets  # projects, activities, the (empty) timesheet list of the window, the creates
    return 1 + math.ceil(args.mailboxes / USERS_PAGE) + args.mailboxes * per_mailbox + kimai


@contextmanager
def bench_sandbox(args):
    """A freshly seeded sandbox at the run's latency and a work folder with its env file: (sandbox,
    folder, env file); the sandbox is stopped afterwards."""
    sb = prepare(args)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            env_file = env(sb, workdir)
            sb.faults.configure(latency_ms=args.latency_ms)
            yield sb, workdir, env_file
    finally:
        sb.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mailboxes", type=int, default=50)
    parser.add_argument("--events", type=int, default=2000, help="events per mailbox in the window")
    parser.add_argument("--latency-ms", type=float, default=10)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    rows = []
    mails = [f"user{n:03d}@bulk.example" for n in range(args.mailboxes)]

    # SYNC_WORKERS=1 first, on a sandbox of its own
    with bench_sandbox(args) as (sb, workdir, env_file):
        bound = first_bound(args, len(mapped_past(sb, mails)))
        rows.append(measure(sb, workdir, env_file, "first run", bound, "graph-kimai", workers=1))

    with bench_sandbox(args) as (sb, workdir, env_file):
        past = mapped_past(sb, mails)
        rows.append(
            measure(
                sb,
                workdir,
                env_file,
                "first run",
                first_bound(args, len(past)),
                "graph-kimai",
                workers=args.workers,
            )
        )
        unchanged = 1 + math.ceil(args.mailboxes / USERS_PAGE) + args.mailboxes
        rows.append(measure(sb, workdir, env_file, "unchanged re-run", unchanged, "graph-kimai", workers=args.workers))

        changed = random.Random(5).sample(past, max(1, len(past) // 100))
        for mail, event in changed:
            sb.graph.move_event(mail, event["id"], event["start"] - timedelta(minutes=30), event["end"])
        starts = [e["start"] for _, e in changed]
        low, high = min(starts) - timedelta(days=7), max(starts) + timedelta(days=7)
        around = sum(1 for _, e in past if low <= e["start"] <= high)
        bound = unchanged + 2 + math.ceil(around / TIMESHEET_PAGE) + len(changed)
        rows.append(measure(sb, workdir, env_file, "1% changed re-run", bound, "graph-kimai", workers=args.workers))

    print_table(
        f"graph-kimai: {args.mailboxes} mailboxes x {args.events} events, {args.latency_ms:g} ms latency per request; "
        f"first run with SYNC_WORKERS=1, then SYNC_WORKERS={args.workers}",
        rows,
    )
    one, many = rows[0]["seconds"], rows[1]["seconds"]
    print(f"first run SYNC_WORKERS={args.workers} / SYNC_WORKERS=1: {many / one:.0%} of the seconds" if one else "")


if __name__ == "__main__":
    main()

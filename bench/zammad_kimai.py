#!/usr/bin/env python3
"""Figures for the zammad-kimai job: requests, writes, seconds and peak memory per run, next to
the lower bound of requests each run needs.

  python bench/zammad_kimai.py                        # 2,000 tickets x 5 entries at 10 ms, as the issue asks
  python bench/zammad_kimai.py --tickets 200 --latency-ms 2   # a quick look

The sandbox runs in this process; each sync runs as a real subprocess (python sync.py).
Lower bounds: a first run reads the search pages (200 tickets each), one entry list per ticket,
the activity types, the global activities, customers and projects, one page of timesheets per
500 in the window, and writes one customer per organisation, one project per ticket and one
timesheet per entry. The issue's lower bound for re-runs is the search pages plus the timesheet
pages of the window; a re-run after changes also needs one entry list per changed ticket and
one write per changed entry. A --full run reads every ticket's entries and the timesheets of the
whole span; with tickets deleted outright it also asks for each of them by id (the 404 that
proves it) and deletes their timesheets (ZAMMAD_DELETE_POLICY=delete). The incremental run after
the deletions cannot see them and costs one search request.
"""

import argparse
import math
import random
import tempfile
from pathlib import Path

from harness import measure, print_table, write_env

from sandbox import Sandbox
from sandbox.seed_zammad import bulk

SEARCH_PAGE = 200
TIMESHEET_PAGE = 500


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--entries", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=10)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    rows = []
    with Sandbox(strict=False) as sb, tempfile.TemporaryDirectory() as tmp:
        bulk(sb, tickets=args.tickets, entries=args.entries, seed=1)
        sb.kimai.add_activity("Support", None)
        workdir = Path(tmp)
        env_file = write_env(sb, workdir, ZAMMAD_DEFAULT_ACTIVITY="Support")
        sb.faults.configure(latency_ms=args.latency_ms)
        entries = args.tickets * args.entries
        organizations = len(sb.zammad.organizations)
        search_pages = args.tickets // SEARCH_PAGE + 1
        first = search_pages + args.tickets + 5 + 1 + organizations + args.tickets + entries
        rows.append(measure(sb, workdir, env_file, "first run", first, "zammad-kimai", workers=args.workers))
        rows.append(measure(sb, workdir, env_file, "unchanged re-run", 1, "zammad-kimai", workers=args.workers))

        changed = random.Random(5).sample(sb.zammad.time_accountings, max(1, entries // 100))
        for entry in changed:
            sb.zammad.edit_time_accounting(
                entry["ticket_id"], entry["id"], time_unit=str(float(entry["time_unit"]) + 5)
            )
        tickets = len({e["ticket_id"] for e in changed})
        window = [e["created_at"] for e in changed]
        in_window = sum(1 for e in sb.zammad.time_accountings if min(window) <= e["created_at"] <= max(window))
        bound = 1 + tickets + math.ceil(in_window / TIMESHEET_PAGE) + len(changed)
        rows.append(measure(sb, workdir, env_file, "1% changed re-run", bound, "zammad-kimai", workers=args.workers))

        # --full: every ticket listed and its entries read, the activity types, the global
        # activities, Kimai's projects, the timesheets of the whole span
        full = search_pages + args.tickets + 2 + 1 + math.ceil(entries / TIMESHEET_PAGE)
        rows.append(
            measure(sb, workdir, env_file, "unchanged --full", full, "zammad-kimai", "--full", workers=args.workers)
        )

        # 1% of the tickets deleted outright, ZAMMAD_DELETE_POLICY=delete: a --full run asks for
        # each by id (404) and deletes its timesheets; an incremental run cannot see them
        deleted = random.Random(7).sample([t["id"] for t in sb.zammad.tickets], max(1, args.tickets // 100))
        gone = sum(1 for e in sb.zammad.time_accountings if e["ticket_id"] in set(deleted))
        for ticket_id in deleted:
            sb.zammad.delete_ticket(ticket_id)
        with env_file.open("a") as env:
            env.write("ZAMMAD_DELETE_POLICY=delete\n")
        rows.append(measure(sb, workdir, env_file, "1% deleted re-run", 1, "zammad-kimai", workers=args.workers))
        left = args.tickets - len(deleted)
        full = left // SEARCH_PAGE + 1 + left + 2 + 1 + math.ceil(entries / TIMESHEET_PAGE)
        bound = full + len(deleted) + gone
        label = "1% deleted --full"
        rows.append(measure(sb, workdir, env_file, label, bound, "zammad-kimai", "--full", workers=args.workers))
    print_table(
        f"zammad-kimai: {args.tickets} tickets x {args.entries} entries, {args.latency_ms:g} ms latency per request, "
        f"SYNC_WORKERS={args.workers}",
        rows,
    )


if __name__ == "__main__":
    main()

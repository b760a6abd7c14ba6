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
one write per changed entry.
"""

import argparse
import math
import random
import tempfile
from pathlib import Path

from harness import measure, write_env

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
    from tabulate import tabulate

    print(
        f"zammad-kimai: {args.tickets} tickets x {args.entries} entries, {args.latency_ms:g} ms latency per request, "
        f"SYNC_WORKERS={args.workers}"
    )
    print(tabulate(rows, headers="keys"))


if __name__ == "__main__":
    main()

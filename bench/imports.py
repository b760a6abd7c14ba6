#!/usr/bin/env python3
"""Figures for the imports: harvest-kimai over 20,000 Harvest entries, toggl-kimai over 20,000
Toggl entries and csv-kimai over a 50,000-row CSV, at 10 ms latency per request: requests,
writes, seconds, rows validated per second, peak memory (the sync process's own), for a first
import and a re-import of the same range / file.

  python bench/imports.py                                   # as the issue asks
  python bench/imports.py --entries 2000 --rows 2000 --latency-ms 2   # a quick look

Lower bound of Harvest reads: one page per 2,000 entries (the issue's target allows 5 more).
A re-import must make zero writes.
"""

import argparse
import math
import tempfile
from datetime import date, timedelta
from pathlib import Path

from harness import measure, print_table, write_env

from sandbox import Sandbox
from sandbox.seed_imports import harvest_bulk, toggl_bulk

HARVEST_PAGE = 2000


def harvest_rows(args, tmp):
    rows = []
    with Sandbox(strict=False) as sb:
        # entries spread so a person's day holds a working day's worth, not 70 hours
        harvest_bulk(sb, entries=args.entries, seed=1, days=max(1, args.entries * 3 // 20))
        sb.harvest.rate_limit = None
        days = sorted({e["spent_date"] for e in sb.harvest.entries})
        workdir = Path(tmp) / "harvest"
        workdir.mkdir()
        env_file = write_env(sb, workdir)
        sb.faults.configure(latency_ms=args.latency_ms)
        window = ("harvest-kimai", "--from", days[0], "--to", days[-1], "--create-missing")
        reads = math.ceil(args.entries / HARVEST_PAGE)
        for label in ("first import", "re-import"):
            row = measure(sb, workdir, env_file, f"harvest {label}", None, *window, workers=args.workers)
            row["harvest reads"] = sb.count(service="harvest")
            row["read target"] = reads + 5
            rows.append(row)
    return rows


def toggl_rows(args, tmp):
    """toggl-kimai over `--toggl-entries` entries of the last 90 days: one window, read twice."""
    rows = []
    with Sandbox(strict=False) as sb:
        toggl_bulk(sb, entries=args.toggl_entries, seed=1, days=90)
        sb.toggl.rate_limit = None
        days = sorted({e["start"][:10] for e in sb.toggl.entries})  # a day more at each end: the user's zone
        days = [
            (date.fromisoformat(days[0]) - timedelta(days=1)).isoformat(),
            (date.fromisoformat(days[-1]) + timedelta(days=1)).isoformat(),
        ]
        workdir = Path(tmp) / "toggl"
        workdir.mkdir()
        # Kimai in UTC: an entry across Berlin's autumn hour ends "before" it begins on the wall clock
        env_file = write_env(sb, workdir, KIMAI_TIMEZONE="UTC")
        sb.faults.configure(latency_ms=args.latency_ms)
        window = ("toggl-kimai", "--from", days[0], "--to", days[-1], "--create-missing")
        for label in ("first import", "re-import"):
            row = measure(sb, workdir, env_file, f"toggl {label}", None, *window, workers=args.workers)
            row["toggl reads"] = sb.count(service="toggl")
            rows.append(row)
    return rows


def drop_internal(rows):
    """Drop the columns of the measured rows that this table does not print."""
    for row in rows:
        for key in ("lower bound", "ratio", "hidden"):
            row.pop(key, None)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=20000, help="Harvest entries")
    parser.add_argument("--toggl-entries", type=int, default=20000, help="Toggl entries (0: no Toggl run)")
    parser.add_argument("--rows", type=int, default=50000, help="CSV rows")
    parser.add_argument("--latency-ms", type=float, default=10)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = harvest_rows(args, tmp)
    drop_internal(rows)
    print_table(
        f"harvest-kimai: {args.entries} entries, {args.latency_ms:g} ms latency, SYNC_WORKERS={args.workers}", rows
    )
    if args.toggl_entries:
        with tempfile.TemporaryDirectory() as tmp:
            toggl = toggl_rows(args, tmp)
        drop_internal(toggl)
        print_table(f"\ntoggl-kimai: {args.toggl_entries} entries (one answer: Toggl does not page them)", toggl)
    try:
        from csv_import import run as csv_run
    except ImportError:
        print("\ncsv-kimai: bench/csv_import.py is missing")
        return
    print()
    csv_run(rows=args.rows, latency_ms=args.latency_ms, workers=args.workers)


if __name__ == "__main__":
    main()

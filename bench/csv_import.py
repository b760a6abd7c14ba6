#!/usr/bin/env python3
"""Figures for csv-kimai: a generated timesheet CSV (default 50,000 rows) is validated alone
(csv-kimai's first pass: rows checked per second and memory allocated, in this process), then
imported into the sandbox's Kimai at 10 ms latency per request and imported again: requests,
writes, seconds, peak memory of the sync process (its own high-water mark, VmHWM).

  python bench/csv_import.py                              # 50,000 rows at 10 ms, as the issue asks
  python bench/csv_import.py --rows 2000 --latency-ms 2   # a quick look
  python bench/csv_import.py --shuffle                    # the rows in no date order

The file: 20 people (a `user` column mapped through IMPORT_MAP) x 8 one-hour rows a working day,
half with `end`, half with `duration` (H:MM and decimal), over as many weekdays as it takes,
12 projects under 3 customers (created by --create-missing), 4 global activities.
Lower bounds: a first import reads the Kimai user, customers, projects, global activities and
one page of (existing) timesheets, and writes one customer, project and timesheet each (the
import reads the timesheets around each batch of 1,000 rows: a few reads more); a
re-import of the same file needs the Kimai user only (every row is linked, unchanged), and not
even that while the HTTP cache holds it.
"""

import argparse
import csv
import io
import random
import sys
import tempfile
import time
import tracemalloc
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from harness import measure, write_env

from common.jobs.csv_file import check_file, file_digest
from common.jobs.csv_rows import COLUMNS
from sandbox import Sandbox

PEOPLE = 20
SLOTS = ("08:00", "09:00", "10:00", "11:00", "13:00", "14:00", "15:00", "16:00")
CUSTOMERS = ("Acme Corp", "Globex", "Initech")
PROJECTS = [(customer, f"{customer.split()[0]} project {n}") for customer in CUSTOMERS for n in range(1, 5)]
ACTIVITIES = ("Development", "Meetings", "Support", "Design")
STATIC_READS = 5  # me, customers, projects, global activities, one page of timesheets


def generate(rows, first_day=date(2026, 1, 5)):
    """CSV text with `rows` rows, plus the e-mails of the people in it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    day, n = first_day, 0
    while n < rows:
        if day.weekday() < 5:
            for person in range(PEOPLE):
                for slot, begin in enumerate(SLOTS):
                    if n == rows:
                        break
                    customer, project = PROJECTS[(n // 3) % len(PROJECTS)]
                    hour = int(begin[:2])
                    end, duration = (f"{hour + 1:02d}:00", "") if n % 2 else ("", "1:00" if n % 4 else "1.0")
                    writer.writerow(
                        [
                            day.isoformat(),
                            begin,
                            end,
                            duration,
                            project,
                            ACTIVITIES[slot % len(ACTIVITIES)],
                            customer,
                            f"Work item {n}",
                            "bench;csv" if n % 5 == 0 else "",
                            "no" if n % 7 == 0 else "yes",
                            f"person{person}@example.com",
                        ]
                    )
                    n += 1
        day += timedelta(days=1)
    return out.getvalue()


def validate(data, tz):
    """Rows, seconds to check every row as csv-kimai does before importing (the first pass over
    the file: its digest, then every row checked, only markers and lines kept; no Kimai), and the
    peak MiB Python allocated doing so (a second, traced pass: tracing slows it down)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.csv"
        path.write_bytes(data)
        started = time.perf_counter()
        file_digest(path)
        checked = check_file(path, tz, None)
        seconds = time.perf_counter() - started
        if checked.errors:
            sys.exit(f"the generated file has invalid rows: {checked.errors[:3]}")
        valid = len(checked.first_line_of)
        del checked
        tracemalloc.start()
        file_digest(path)
        check_file(path, tz, None)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return valid, seconds, peak


def shuffled(text, seed=1):
    """The same CSV with its rows in no date order (the header first)."""
    header, *lines = text.splitlines(keepends=True)
    random.Random(seed).shuffle(lines)
    return header + "".join(lines)


def run(rows=50000, latency_ms=10.0, workers=4, shuffle=False):
    text = shuffled(generate(rows)) if shuffle else generate(rows)
    data = text.encode()
    valid, seconds, peak = validate(data, ZoneInfo("Europe/Berlin"))
    order = ", rows shuffled" if shuffle else ""
    print(
        f"csv-kimai: {rows} rows ({len(data) / 2**20:.1f} MiB{order}), {latency_ms:g} ms latency, "
        f"SYNC_WORKERS={workers}"
    )
    print(
        f"validation alone: {valid} rows in {seconds:.2f} s = {valid / seconds:,.0f} rows/s, "
        f"peak {peak:.1f} MiB allocated"
    )
    results = []
    with Sandbox(strict=False) as sb, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for activity in ACTIVITIES:
            sb.kimai.add_activity(activity, None)
        users = [sb.kimai.add_user(f"person{p}")["id"] for p in range(PEOPLE)]
        (workdir / "import.map").write_text(
            "".join(f"user:person{p}@example.com={uid}\n" for p, uid in enumerate(users))
        )
        (workdir / "hours.csv").write_bytes(data)
        env_file = write_env(sb, workdir, IMPORT_MAP=str(workdir / "import.map"))
        sb.faults.configure(latency_ms=latency_ms)
        projects = len({p for _, p in PROJECTS[: max(1, min(len(PROJECTS), rows // 3 + 1))]})
        customers = len({c for c, _ in PROJECTS[:projects]})
        first = STATIC_READS + customers + projects + rows
        for label, bound in (("first import", first), ("re-import", 1)):
            results.append(
                measure(
                    sb, workdir, env_file, label, bound, "csv-kimai", "hours.csv", "--create-missing", workers=workers
                )
            )
        if len(sb.kimai.timesheets) != rows:
            sys.exit(f"expected {rows} timesheets in Kimai, found {len(sb.kimai.timesheets)}")
    from tabulate import tabulate

    for row in results:
        row["rows/s"] = round(rows / row["seconds"]) if row["created"] else None
        row.pop("hidden", None)
    print(tabulate(results, headers="keys"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50000, help="CSV rows to generate")
    parser.add_argument("--latency-ms", type=float, default=10)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--shuffle", action="store_true", help="rows in no date order")
    args = parser.parse_args()
    run(rows=args.rows, latency_ms=args.latency_ms, workers=args.workers, shuffle=args.shuffle)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Figures for the confluence-jira job: requests, writes, seconds and peak memory per run, next to
the lower bound of requests each run needs.

  python bench/confluence_jira.py                      # 200 pages x 10 tasks at 10 ms, as the issue asks
  python bench/confluence_jira.py --pages 30 --tasks 5 --latency-ms 2   # a quick look
  python bench/confluence_jira.py --deployment datacenter

The sandbox (Jira and Confluence stand-ins) runs in this process; each sync runs as a real
subprocess (python sync.py confluence-jira). Runs, in order, on one tree:

* first run: every task becomes an issue. Lower bound: serverInfo, myself, current user, the
  root, the tree's pages with bodies (50 a page), one search of the tracksync issues, the
  project and the parent issue, then per task a create and a remote link, per page one PUT;
* settling re-run: Jira's search by ``updated`` lists the issues the first run created (they
  changed after its cursor): their statuses are recorded, nothing is written. Bound: the four
  reads of every run, the tree's versions (200 a page), the search pages (100 issues a page);
* unchanged re-run: the same four reads, the versions listing, one (empty) issue search;
* 10 pages changed (a person edits 10 pages, one new open task each): as unchanged, plus per
  changed page its body, one label search, the project and the parent issue, and per new task a
  create and a remote link, per page one PUT;
* unchanged, back to back: right after the 10-pages run, so the search's overlap (30 s, plus
  JQL's minutes) lists again the issues that run made (compared, nothing written).

Each re-run but the last starts "2 minutes after" the one before, as from cron: the stand-ins'
clocks (their stamps and Date headers) are moved forward (SandboxClock.skew); nothing else
changes. A cursor is the server's time at the start of a run's read, so without the gap a
re-run also lists what the run before it wrote in its last minute.
"""

import argparse
import math
import tempfile
from pathlib import Path

from harness import measure, print_table, write_env

from common.confluence_storage import read_page
from sandbox import Sandbox, seed_atlassian

PAGE_WITH_BODIES = 50
PAGE_OF_VERSIONS = 200
ISSUE_PAGE = 100
EVERY_RUN = 4  # serverInfo (ATLASSIAN_DEPLOYMENT=auto), myself, Confluence's current user, the root page


def later(sb, seconds):
    """The stand-ins' clocks (their stamps and Date headers) `seconds` ahead of real time."""
    sb.jira.clock.skew(seconds)
    sb.confluence.clock.skew(seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--tasks", type=int, default=10, help="open tasks per page")
    parser.add_argument("--latency-ms", type=float, default=10)
    parser.add_argument("--deployment", choices=("cloud", "datacenter"), default="cloud")
    parser.add_argument("--workers", type=int, default=4, help="SYNC_WORKERS (creates in parallel)")
    args = parser.parse_args()
    sb = Sandbox(strict=False, atlassian=args.deployment, services=["jira", "confluence"]).start()
    rows = []
    try:
        seed = seed_atlassian.bulk(sb, pages=args.pages, tasks=args.tasks)
        tasks = args.pages * args.tasks
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            env_file = write_env(sb, workdir)
            sb.faults.configure(latency_ms=args.latency_ms)
            tree = args.pages  # pages below the root
            first = EVERY_RUN + math.ceil(tree / PAGE_WITH_BODIES) + 1 + 2 + 2 * tasks + (tree + 1 - 1)
            w = args.workers
            rows.append(measure(sb, workdir, env_file, "first run", first, "confluence-jira", workers=w))
            listing = math.ceil(tree / PAGE_OF_VERSIONS)
            settle = EVERY_RUN + listing + math.ceil(tasks / ISSUE_PAGE)
            later(sb, 120)  # every re-run starts 2 minutes after the one before, as from cron
            rows.append(measure(sb, workdir, env_file, "settling re-run", settle, "confluence-jira", workers=w))
            unchanged = EVERY_RUN + listing + 1
            later(sb, 240)
            rows.append(measure(sb, workdir, env_file, "unchanged re-run", unchanged, "confluence-jira", workers=w))
            later(sb, 360)
            changed = [pid for title, pid in sorted(seed.pages.items()) if title != "Bulk root"][:10]
            for number, page_id in enumerate(changed):
                body = sb.confluence.pages[page_id].body
                new_task = seed_atlassian.task(900 + number, f"New action {number}")
                sb.confluence.edit_page(page_id, body.replace("</ac:task-list>", new_task + "</ac:task-list>", 1))
                assert read_page(sb.confluence.pages[page_id].body).task(str(900 + number)) is not None
            ten = unchanged + len(changed) + 1 + 2 + 2 * len(changed) + len(changed)  # bodies, labels, project + parent
            rows.append(measure(sb, workdir, env_file, "10 pages changed", ten, "confluence-jira", workers=w))
            rows.append(
                measure(sb, workdir, env_file, "unchanged, back to back", unchanged, "confluence-jira", workers=w)
            )
    finally:
        sb.stop()
    print_table(
        f"confluence-jira ({args.deployment}): {args.pages} pages x {args.tasks} tasks, "
        f"{args.latency_ms:g} ms latency per request, SYNC_WORKERS={args.workers}",
        rows,
    )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Figures for the jira-confluence job: requests, writes, seconds and peak memory per run, next to
the lower bound of requests each run needs.

  python bench/jira_confluence.py                       # 20 epics x 500 issues at 10 ms, as the issue asks
  python bench/jira_confluence.py --epics 5 --issues 50 --latency-ms 2   # a quick look
  python bench/jira_confluence.py --deployment datacenter

The sandbox (Jira and Confluence stand-ins) runs in this process; each sync runs as a real
subprocess (python sync.py jira-confluence). Runs, in order, on one project:

* first run: one page per epic and "Without epic". Lower bound: the reads of every run
  (serverInfo, myself, Confluence's current user, the parent page; Data Center also GET /field),
  the project's issues (100 a search page), the parent's children once, then per page a create and
  its marker label;
* unchanged re-run: the reads of every run, one search page (the issues updated since the cursor
  and the epics), the parent's children once; no write;
* 1% changed: 1% of the issues renamed in Jira: as unchanged (the changed issues fit the search
  pages counted), plus one PUT per page whose table changed.

Each re-run starts "2 minutes after" the one before, as from cron: the stand-ins' clocks are moved
forward (SandboxClock.skew), so the cursor's overlap does not list again what the run before saw.
"""

import argparse
import math
import tempfile
from pathlib import Path

from harness import measure, write_env

from sandbox import Sandbox, seed_atlassian

ISSUE_PAGE = 100


def later(sb, seconds):
    sb.jira.clock.skew(seconds)
    sb.confluence.clock.skew(seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epics", type=int, default=20)
    parser.add_argument("--issues", type=int, default=500, help="issues per epic")
    parser.add_argument("--latency-ms", type=float, default=10)
    parser.add_argument("--deployment", choices=("cloud", "datacenter"), default="cloud")
    parser.add_argument("--show", action="store_true", help="print the unchanged re-run's requests")
    args = parser.parse_args()
    sb = Sandbox(strict=False, atlassian=args.deployment, services=["jira", "confluence"]).start()
    rows = []
    try:
        plan = seed_atlassian.epics(sb, epics=args.epics, per_epic=args.issues, without_epic=5)
        conf = sb.confluence
        if seed_atlassian.SPACE not in conf.spaces:
            conf.add_space(seed_atlassian.SPACE)
        parent = conf.add_page(seed_atlassian.SPACE, "Plan", "<p>The plan.</p>")
        every_run = 4 + (args.deployment == "datacenter")
        total = sum(len(keys) for keys in plan.values()) + args.epics
        pages = args.epics + 1
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            env_file = write_env(sb, workdir, CONFLUENCE_PARENT_PAGE=parent.id, JIRA_PROJECT=seed_atlassian.PROJECT)
            sb.faults.configure(latency_ms=args.latency_ms)
            later(sb, 180)  # the project was planned a while before the first run
            first = every_run + math.ceil(total / ISSUE_PAGE) + 1 + 2 * pages
            rows.append(measure(sb, workdir, env_file, "first run", first, "jira-confluence"))
            later(sb, 360)
            unchanged = every_run + 1 + 1
            rows.append(measure(sb, workdir, env_file, "unchanged re-run", unchanged, "jira-confluence"))
            if args.show:
                print("\n".join(f"{r.method} {r.path}" for r in sb.requests))
            later(sb, 540)
            issues = [key for keys in plan.values() for key in keys]
            changed = issues[:: max(1, len(issues) // max(1, total // 100))][: max(1, total // 100)]
            touched = {next(e for e, keys in plan.items() if key in keys) for key in changed}
            for key in changed:
                sb.jira.edit(key, summary=f"{sb.jira.issue_by_key(key).summary} (renamed)")
            later(sb, 720)
            one = every_run + math.ceil((len(changed) + args.epics) / ISSUE_PAGE) + 1 + len(touched)
            rows.append(measure(sb, workdir, env_file, "1% changed", one, "jira-confluence"))
    finally:
        sb.stop()
    from tabulate import tabulate

    print(
        f"jira-confluence ({args.deployment}): {args.epics} epics x {args.issues} issues, "
        f"{args.latency_ms:g} ms latency per request"
    )
    print(tabulate(rows, headers="keys"))


if __name__ == "__main__":
    main()

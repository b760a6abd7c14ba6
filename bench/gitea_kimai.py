#!/usr/bin/env python3
"""Figures for the gitea-kimai job: requests, writes, seconds and peak memory per run, next to the
lower bound of requests that run needs.

  python bench/gitea_kimai.py                      # 20 repos x 500 issues at 10 ms, as the issue asks
  python bench/gitea_kimai.py --repos 4 --issues 100 --latency-ms 5   # a quick look

The sandbox runs in this process; each sync runs as a real subprocess (python sync.py).
Lower bound = repository list pages + one issues page per 50 changed-or-new issues (at least one
per repository) + one activities list per 50 projects touched + one write per change; for a first
run also one customers list, one projects list, the customer and project creates.
"""

import argparse
import math
import random
import tempfile
from pathlib import Path

from harness import measure, print_table, write_env

from sandbox import Sandbox
from sandbox.seed import bulk

PAGE = 50


def scenario(args, workers, reruns, tmp):
    """A fresh sandbox and store: a first run, then (when asked) the two re-runs."""
    rows = []
    with Sandbox(strict=False) as sb:
        bulk(sb, owner="acme", repos=args.repos, issues=args.issues, pr_ratio=0.1, closed_ratio=0.3, seed=1)
        issues = [
            (repo["name"], i) for repo in sb.gitea.state()["repos"] for i in repo["issues"] if i["pull_request"] is None
        ]
        sb.faults.configure(latency_ms=args.latency_ms)
        workdir = Path(tmp) / f"workers{workers}"
        workdir.mkdir()
        env_file = write_env(sb, workdir)
        repo_pages = math.ceil(args.repos / PAGE)
        per_repo_pages = sum(
            max(1, math.ceil(sum(1 for r, _ in issues if r == name) / PAGE)) for name in {r for r, _ in issues}
        )
        first_bound = repo_pages + per_repo_pages + 2 + repo_pages + 1 + args.repos + len(issues)
        rows.append(measure(sb, workdir, env_file, "first run", first_bound, workers=workers))
        if reruns:
            rows.append(measure(sb, workdir, env_file, "unchanged re-run", repo_pages + args.repos, workers=workers))
            changed = random.Random(5).sample(issues, max(1, len(issues) // 100))
            for repo, issue in changed:
                sb.gitea.edit_issue("acme", repo, issue["number"], title=issue["title"] + " (edited)")
            touched = len({repo for repo, _ in changed})
            bound = repo_pages + args.repos + math.ceil(touched / PAGE) + len(changed)
            rows.append(measure(sb, workdir, env_file, "1% changed re-run", bound, workers=workers))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument("--issues", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=10)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--skip-serial", action="store_true", help="skip the SYNC_WORKERS=1 first run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = scenario(args, args.workers, True, tmp)
        if not args.skip_serial:
            rows += scenario(args, 1, False, tmp)
    print_table(
        f"gitea-kimai: {args.repos} repositories x {args.issues} issues (10% pull requests, 30% closed), "
        f"{args.latency_ms:g} ms latency per request",
        rows,
    )
    if not args.skip_serial:
        print(
            f"\nfirst run with SYNC_WORKERS={args.workers} took {rows[0]['seconds'] / rows[-1]['seconds']:.0%} "
            f"of the seconds of SYNC_WORKERS=1"
        )


if __name__ == "__main__":
    main()

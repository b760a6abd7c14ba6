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
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox import Sandbox  # noqa: E402
from sandbox.seed import bulk  # noqa: E402

PAGE = 50
PEAK_WRAPPER = ("import atexit, resource, runpy, sys\n"
                "atexit.register(lambda: sys.stderr.write("
                "'\\nPEAK_RSS_KB=%d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
                "sys.argv = sys.argv[1:]\n"
                "runpy.run_path(sys.argv[0], run_name='__main__')\n")


def run_sync(workdir, env_file, workers):
    """Run one sync as a subprocess; returns (summary, seconds, peak RSS in MiB)."""
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, str(ROOT / "sync.py"), "--json", "--env-file", str(env_file)],
                          cwd=workdir, capture_output=True, text=True,
                          env={**os.environ, "SYNC_WORKERS": str(workers), "PYTHONPATH": str(ROOT)})
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"sync exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    peak_kb = int(proc.stderr.rsplit("PEAK_RSS_KB=", 1)[1].split()[0])
    return json.loads(proc.stdout), seconds, peak_kb / 1024


def measure(sb, workdir, env_file, label, bound, workers):
    sb.clear_requests()
    summary, seconds, peak = run_sync(workdir, env_file, workers)
    requests = sb.count()
    return {"run": label, "workers": workers, "requests": requests, "lower bound": bound,
            "ratio": round(requests / bound, 3), "writes": sb.count(writes=True), "seconds": round(seconds, 2),
            "peak MiB": round(peak, 1), "created": summary["created"], "updated": summary["updated"],
            "hidden": summary["hidden"], "unchanged": summary["unchanged"], "failed": summary["failed"]}


def scenario(args, workers, reruns, tmp):
    """A fresh sandbox and store: a first run, then (when asked) the two re-runs."""
    rows = []
    with Sandbox(strict=False) as sb:
        bulk(sb, owner="acme", repos=args.repos, issues=args.issues, pr_ratio=0.1, closed_ratio=0.3, seed=1)
        issues = [(repo["name"], i) for repo in sb.gitea.state()["repos"] for i in repo["issues"]
                  if i["pull_request"] is None]
        sb.faults.configure(latency_ms=args.latency_ms)
        workdir = Path(tmp) / f"workers{workers}"
        workdir.mkdir()
        env = sb.env(owner="acme")
        env.update(DATABASE_PATH=str(workdir / "sync.db"), LOG_FILE="", CACHE_DIR=str(workdir / "cache"))
        env_file = workdir / "bench.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        repo_pages = math.ceil(args.repos / PAGE)
        per_repo_pages = sum(max(1, math.ceil(sum(1 for r, _ in issues if r == name) / PAGE))
                             for name in {r for r, _ in issues})
        first_bound = repo_pages + per_repo_pages + 2 + repo_pages + 1 + args.repos + len(issues)
        rows.append(measure(sb, workdir, env_file, "first run", first_bound, workers))
        if reruns:
            rows.append(measure(sb, workdir, env_file, "unchanged re-run", repo_pages + args.repos, workers))
            changed = random.Random(5).sample(issues, max(1, len(issues) // 100))
            for repo, issue in changed:
                sb.gitea.edit_issue("acme", repo, issue["number"], title=issue["title"] + " (edited)")
            touched = len({repo for repo, _ in changed})
            bound = repo_pages + args.repos + math.ceil(touched / PAGE) + len(changed)
            rows.append(measure(sb, workdir, env_file, "1% changed re-run", bound, workers))
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
    from tabulate import tabulate
    print(f"gitea-kimai: {args.repos} repositories x {args.issues} issues (10% pull requests, 30% closed), "
          f"{args.latency_ms:g} ms latency per request")
    print(tabulate(rows, headers="keys"))
    if not args.skip_serial:
        print(f"\nfirst run with SYNC_WORKERS={args.workers} took {rows[0]['seconds'] / rows[-1]['seconds']:.0%} "
              f"of the seconds of SYNC_WORKERS=1")


if __name__ == "__main__":
    main()

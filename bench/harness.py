"""What the benchmark scripts share: running sync.py as a real subprocess against a sandbox and
measuring requests, writes, seconds and peak memory of each run."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# runs sync.py and reports its own peak resident memory on stderr when it exits: VmHWM of
# /proc/self/status, the high-water mark of this process's own memory. Not ru_maxrss: on Linux a
# child started by fork/vfork + exec inherits the parent's maximum there, so it reported the
# benchmark process's own size (the sandbox holding every entry), not the sync's.
PEAK_WRAPPER = (
    "import atexit, resource, runpy, sys\n"
    "def peak():\n"
    "    try:\n"
    "        with open('/proc/self/status') as status:\n"
    "            return next(int(l.split()[1]) for l in status if l.startswith('VmHWM:'))\n"
    "    except (OSError, StopIteration, ValueError):\n"
    "        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "atexit.register(lambda: sys.stderr.write('\\nPEAK_RSS_KB=%d\\n' % peak()))\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


def write_env(sb, workdir, **extra):
    """An env file pointing at the sandbox, with a store and cache in `workdir`."""
    from common.config import KEYS

    env = {k: v for k, v in sb.env(owner="acme").items() if k in KEYS}
    env.update(DATABASE_PATH=str(workdir / "sync.db"), LOG_FILE="", CACHE_DIR=str(workdir / "cache"), **extra)
    path = workdir / "bench.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    return path


def run_sync(workdir, env_file, *args, workers=4):
    """Run one sync of one job as a subprocess; returns (its counts, seconds, peak RSS in MiB)."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", PEAK_WRAPPER, str(ROOT / "sync.py"), *args, "--json", "--env-file", str(env_file)],
        cwd=workdir,
        capture_output=True,
        text=True,
        env={**os.environ, "SYNC_WORKERS": str(workers), "PYTHONPATH": str(ROOT)},
    )
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"sync exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    peak_kb = int(proc.stderr.rsplit("PEAK_RSS_KB=", 1)[1].split()[0])
    jobs = json.loads(proc.stdout)["jobs"]  # docs/json.md: {"version": 1, "jobs": [...]}
    return jobs[0]["counts"], seconds, peak_kb / 1024


def measure(sb, workdir, env_file, label, bound, *args, workers=4):
    """One row of figures for one run, next to the lower bound of requests it needs."""
    sb.clear_requests()
    counts, seconds, peak = run_sync(workdir, env_file, *args, workers=workers)
    requests = sb.count()
    return {
        "run": label,
        "workers": workers,
        "requests": requests,
        "lower bound": bound,
        "ratio": round(requests / bound, 3) if bound else None,
        "writes": sb.count(writes=True),
        "seconds": round(seconds, 2),
        "peak MiB": round(peak, 1),
        "created": counts["created"],
        "updated": counts["updated"],
        "unchanged": counts["unchanged"],
        "failed": counts["failed"],
    }


def print_table(title, rows):
    """A benchmark's figures: its title line, then one row a measured run."""
    from tabulate import tabulate

    print(title)
    print(tabulate(rows, headers="keys"))

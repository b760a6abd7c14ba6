"""``python -m sandbox``: run the stand-in servers until SIGINT/SIGTERM.

Prints the environment (``KEY=value`` lines) for tracksync on stdout and, with ``--env-out``,
writes it atomically to a file (temp file + rename) so a poller never reads half of it.

Problems go to stderr, one line each as they happen, so a log of stderr says what broke:
``sandbox: FAILED <service>: <request>: <reason>`` (a stand-in broke while serving and answered
500; the traceback follows, indented) and ``sandbox: VIOLATION <service>: <request>: <problem>``
(strict mode: a request or response off the contract). A strict sandbox whose contract files
cannot be read does not start: ``sandbox: the <service> stand-in cannot start: <why>``, exit 78;
a port that cannot be bound: exit 69.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from sandbox import Sandbox, seed, seed_atlassian, seed_graph, seed_imports, seed_zammad
from sandbox.contract import ContractError
from sandbox.hub import SERVICES


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", choices=("demo", "bulk", "none"), default="demo", help="initial data (default demo)")
    parser.add_argument("--repos", type=int, default=20, help="bulk: repositories (default 20)")
    parser.add_argument("--issues", type=int, default=500, help="bulk: issues per repository (default 500)")
    parser.add_argument("--latency-ms", type=float, default=0, help="sleep per API request")
    parser.add_argument("--error-rate", type=float, default=0.0, help="fraction answered 500/502/503")
    parser.add_argument("--rate-429", type=float, default=0.0, help="fraction answered 429 + Retry-After")
    parser.add_argument("--drop-rate", type=float, default=0.0, help="fraction of connections dropped unanswered")
    parser.add_argument(
        "--commit-drop-rate", type=float, default=0.0, help="fraction of writes performed, then dropped unanswered"
    )
    parser.add_argument("--gitea-port", type=int, default=0, help="fixed Gitea port (default: a free one)")
    parser.add_argument("--kimai-port", type=int, default=0, help="fixed Kimai port (default: a free one)")
    parser.add_argument("--toggl-port", type=int, default=0, help="fixed Toggl Track port (default: a free one)")
    parser.add_argument("--harvest-port", type=int, default=0, help="fixed Harvest port (default: a free one)")
    parser.add_argument(
        "--import-entries", type=int, default=5000, help="bulk: Toggl and Harvest time entries each (default 5000)"
    )
    parser.add_argument("--zammad-port", type=int, default=0, help="fixed Zammad port (default: a free one)")
    parser.add_argument("--zammad-tickets", type=int, default=2000, help="bulk: Zammad tickets (default 2000)")
    parser.add_argument("--zammad-entries", type=int, default=5, help="bulk: entries per Zammad ticket (default 5)")
    parser.add_argument("--graph-port", type=int, default=0, help="fixed Microsoft Graph port (default: a free one)")
    parser.add_argument("--graph-mailboxes", type=int, default=50, help="bulk: Graph mailboxes (default 50)")
    parser.add_argument("--graph-events", type=int, default=2000, help="bulk: events per mailbox (default 2000)")
    parser.add_argument(
        "--atlassian",
        choices=("off", "cloud", "datacenter"),
        default="off",
        help="also run the Jira and Confluence stand-ins as Cloud or Data Center (default off)",
    )
    parser.add_argument("--jira-port", type=int, default=0, help="fixed Jira port (default: a free one)")
    parser.add_argument("--confluence-port", type=int, default=0, help="fixed Confluence port (default: a free one)")
    parser.add_argument("--confluence-pages", type=int, default=200, help="bulk: Confluence pages (default 200)")
    parser.add_argument("--tasks-per-page", type=int, default=10, help="bulk: tasks per Confluence page (default 10)")
    parser.add_argument("--kimai-timezone", default="Europe/Berlin", help="timezone of the Kimai user")
    parser.add_argument("--no-strict", action="store_true", help="skip contract validation (faster)")
    parser.add_argument("--env-out", type=Path, help="also write the environment lines to this file")
    return parser.parse_args(argv)


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as temp:
        temp.write(text)
    os.replace(temp_name, path)


class ProblemPrinter:
    """The RequestLog listener: one stderr line per problem (plus an indented traceback)."""

    def __init__(self, stream=None) -> None:
        self._stream = stream or sys.stderr
        self._lock = threading.Lock()

    def __call__(self, kind: str, service: str, message: str, detail: str) -> None:
        if service and message.startswith(service + " "):
            message = message[len(service) + 1 :]
        text = f"sandbox: {'FAILED' if kind == 'failure' else 'VIOLATION'} {service or '?'}: {message}\n"
        text += "".join(f"    {line}\n" for line in detail.rstrip().splitlines())
        with self._lock:
            self._stream.write(text)
            self._stream.flush()


def graph_demo_targets(sandbox: Sandbox) -> dict[str, str]:
    """What graph-kimai needs in Kimai to place the demo's Outlook events, and the keys that map
    them: the projects their categories name and a global activity "Meeting"."""
    customer = sandbox.kimai.add_customer("Outlook calendars")
    for project in ("Website relaunch", "Support retainer"):
        sandbox.kimai.add_project(project, customer["id"])
    sandbox.kimai.add_activity("Meeting", None)
    return {"GRAPH_CATEGORY_MAP": "Website relaunch=Website relaunch", "GRAPH_DEFAULT_ACTIVITY": "Meeting"}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    atlassian = ("jira", "confluence")
    sandbox = Sandbox(
        services=[name for name in SERVICES if args.atlassian != "off" or name not in atlassian],
        atlassian="cloud" if args.atlassian == "off" else args.atlassian,
        latency_ms=args.latency_ms,
        strict=not args.no_strict,
        kimai_timezone=args.kimai_timezone,
        ports={
            "gitea": args.gitea_port,
            "kimai": args.kimai_port,
            "toggl": args.toggl_port,
            "harvest": args.harvest_port,
            "zammad": args.zammad_port,
            "graph": args.graph_port,
            "jira": args.jira_port,
            "confluence": args.confluence_port,
        },
    )
    extra_env: dict[str, str] = {}
    if args.seed == "demo":
        seed.demo(sandbox)
        seed_imports.toggl_demo(sandbox)
        seed_imports.harvest_demo(sandbox)
        seed_zammad.demo(sandbox)
        seed_graph.demo(sandbox)
        sandbox.kimai.add_activity("Support", None)  # the global activity the demo maps Zammad time to
        extra_env.update(graph_demo_targets(sandbox))
        if args.atlassian != "off":
            seed_atlassian.demo(sandbox)
    elif args.seed == "bulk":
        seed.bulk(sandbox, repos=args.repos, issues=args.issues)
        seed_imports.toggl_bulk(sandbox, entries=args.import_entries)
        seed_imports.harvest_bulk(sandbox, entries=args.import_entries)
        seed_zammad.bulk(sandbox, tickets=args.zammad_tickets, entries=args.zammad_entries)
        seed_graph.bulk(sandbox, mailboxes=args.graph_mailboxes, events=args.graph_events)
        if args.atlassian != "off":
            seed_atlassian.bulk(sandbox, pages=args.confluence_pages, tasks=args.tasks_per_page)
    sandbox.faults.configure(
        error_rate=args.error_rate,
        rate_429=args.rate_429,
        drop_rate=args.drop_rate,
        commit_drop_rate=args.commit_drop_rate,
    )
    sandbox.log.listener = ProblemPrinter()
    try:
        sandbox.start()
    except ContractError as error:
        print(f"sandbox: the {error.service} stand-in cannot start: {error}", file=sys.stderr)
        return 78
    except OSError as error:
        print(f"sandbox: cannot start: cannot listen on 127.0.0.1: {error.strerror or error}", file=sys.stderr)
        return 69
    try:
        env_text = "".join(f"{key}={value}\n" for key, value in {**sandbox.env(), **extra_env}.items())
        sys.stdout.write(env_text)
        sys.stdout.flush()
        if args.env_out:
            write_atomically(args.env_out, env_text)
        stop.wait()
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

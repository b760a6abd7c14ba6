#!/usr/bin/env python3
"""Check the services the jobs use by reading only: reachability, TLS, authentication, server
version and the permissions the jobs need. One row per service.

  python test_connection.py [--env-file PATH] [--json] [--job JOB] [--service NAME]

The services of SYNC_JOBS (or of --job) are checked; another service that is configured is
checked too, but its failures only warn; the rest show `SKIP  skipped (not configured)`.
Exit 0 when every checked service passes (a WARN passes), otherwise the most serious code:
77 authentication or permission, 78 configuration, 69 unreachable.
"""

import click

from common.cli import command, emit_json, emit_table, paint
from common.ops.connection import JOB_SERVICES, SERVICES, exit_code, first_error, probe_all


@command(
    examples=[
        "python test_connection.py",
        "python test_connection.py --job zammad-kimai --json",
        "python test_connection.py --service kimai --env-file /etc/tracksync/tracksync.env",
    ],
    verbose=True,
)
@click.option(
    "--job",
    "jobs",
    multiple=True,
    type=click.Choice(list(JOB_SERVICES)),
    help="check the services this job uses (repeatable; default: the jobs of SYNC_JOBS)",
)
@click.option(
    "--service",
    "services",
    multiple=True,
    type=click.Choice([s.name for s in SERVICES]),
    help="only this service (repeatable)",
)
def cli(settings, as_json, jobs, services):
    """Test the connection to the services the jobs use (never writes anything)."""
    probes = probe_all(settings, jobs, services)
    code = exit_code(probes)
    if as_json:
        emit_json({"exit_code": code, "error": first_error(probes), "services": [p.as_dict() for p in probes]})
        return code
    rows = [
        [
            p.service,
            p.url,
            paint(p.status),
            p.version or "",
            p.user or "",
            p.tls or "",
            "" if p.latency_ms is None else p.latency_ms,
            p.detail,
        ]
        for p in probes
    ]
    emit_table(rows, headers=["service", "url", "status", "version", "user", "tls", "ms", "detail"])
    for probe in probes:
        if probe.status == "FAIL":
            click.echo(f"{paint('error', 'FAIL', err=True)}: {probe.service}: {probe.detail}", err=True)
    return code


if __name__ == "__main__":
    cli()

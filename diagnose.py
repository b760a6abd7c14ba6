#!/usr/bin/env python3
"""Find what is wrong with a tracksync installation: configuration, network, service APIs and
the store. Every check prints OK, WARN or FAIL with a one-line hint; nothing is changed.

  python diagnose.py                 every check (same as --all)
  python diagnose.py --config --database
  python diagnose.py --network --json

The network and API checks cover the services SYNC_JOBS (or --job) uses; another configured
service is checked too but only warns; the others show `SKIP  skipped (not configured)`.
Exit 0 when no check FAILs (WARNs included), otherwise the most serious code of the FAILs.
"""

import click

from common.cli import command, emit_json, emit_table, paint
from common.jobs import JOBS
from common.logs import setup_logging
from common.ops.diagnose_checks import config_checks, database_checks, exit_code, first_error, redact
from common.ops.service_checks import api_checks, network_checks


@command(
    examples=[
        "python diagnose.py",
        "python diagnose.py --config --database",
        "python diagnose.py --network --api --job zammad-kimai --json",
    ],
    verbose=True,
    settings=False,
)
@click.option(
    "--config", "config", is_flag=True, help="the env file: unknown or malformed keys, missing keys, file mode"
)
@click.option("--network", is_flag=True, help="DNS, TCP, TLS and clock skew for each service address")
@click.option("--api", is_flag=True, help="authentication, version and permissions for each service")
@click.option("--database", is_flag=True, help="the store: integrity, schema, WAL, size, pending items, locks")
@click.option("--all", "everything", is_flag=True, help="every group (the default)")
@click.option(
    "--job",
    "jobs",
    multiple=True,
    type=click.Choice(list(JOBS)),
    help="check the services this job uses (repeatable; default: the jobs of SYNC_JOBS)",
)
def cli(env_file, as_json, verbose, config, network, api, database, everything, jobs):
    """Check the configuration, the network, the services and the store (read only)."""
    chosen = {
        name for name, on in (("config", config), ("network", network), ("api", api), ("database", database)) if on
    }
    groups = chosen if chosen and not everything else {"config", "network", "api", "database"}
    setup_logging(None, verbose)  # diagnose never fails on the configuration: it reports it
    found, settings = config_checks(env_file)
    setup_logging(settings, verbose)
    checks = list(found) if "config" in groups else []
    if "network" in groups:
        checks += network_checks(settings, jobs)
    if "api" in groups:
        checks += api_checks(settings, jobs)
    if "database" in groups:
        checks += database_checks(settings, JOBS)
    redact(checks, settings.secrets())
    code = exit_code(checks)
    if as_json:
        counts = {s: sum(c.status == s for c in checks) for s in ("OK", "WARN", "FAIL", "SKIP")}
        emit_json(
            {
                "exit_code": code,
                "error": first_error(checks),
                "checks": [c.as_dict() for c in checks],
                "summary": counts,
            }
        )
        return code
    rows = [
        [paint(c.status), c.group, c.name, c.detail, c.hint if c.status in ("WARN", "FAIL") else ""] for c in checks
    ]
    emit_table(rows, headers=["status", "group", "check", "detail", "hint"])
    fails, warns = sum(c.status == "FAIL" for c in checks), sum(c.status == "WARN" for c in checks)
    click.echo(
        f"{len(checks)} checks: {paint(f'{fails} FAIL', 'FAIL' if fails else None, err=True)}, "
        f"{paint(f'{warns} WARN', 'WARN' if warns else None, err=True)}",
        err=True,
    )
    if code:  # the last line names what decided the exit code, as every script's failure does
        click.echo(f"{paint('error:', 'FAIL', err=True)} {first_error(checks)}", err=True)
    return code


if __name__ == "__main__":
    cli()

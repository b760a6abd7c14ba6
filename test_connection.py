#!/usr/bin/env python3
"""Check every configured service by reading only: reachability, TLS, authentication, server
version and the permissions the jobs need. One row per service.

  python test_connection.py [--env-file PATH] [--json] [--service NAME]

Exit 0 when every service passes (a WARN passes), otherwise the most serious code:
77 authentication or permission, 78 configuration, 69 unreachable.
"""
import click

from common.cli import (CONTEXT, EPILOG, emit_json, emit_table,
                        env_file_option, json_option, load, script, verbose_option)
from common.connection import SERVICES, exit_code, probe_all



@click.command(epilog=EPILOG, context_settings=CONTEXT)
@click.option("--service", "services", multiple=True, type=click.Choice([s.name for s in SERVICES]),
              help="only this service (repeatable; default: every configured one)")
@json_option
@verbose_option
@env_file_option
def cli(services, as_json, verbose, env_file):
    """Test the connection to each configured service (never writes anything)."""
    run(services, as_json, verbose, env_file)


@script
def run(services, as_json, verbose, env_file):
    settings = load(env_file, verbose=verbose)
    probes = [p for p in probe_all(settings) if not services or p.service in services]
    code = exit_code(probes)
    if as_json:
        emit_json({"services": [p.as_dict() for p in probes], "exit_code": code})
        return code
    rows = [[p.service, p.url, p.status, p.version or "", p.user or "", p.tls or "",
             "" if p.latency_ms is None else p.latency_ms, p.detail] for p in probes]
    emit_table(rows, headers=["service", "url", "status", "version", "user", "tls", "ms", "detail"])
    for probe in probes:
        if probe.status == "FAIL":
            click.echo(f"error: {probe.service}: {probe.detail}", err=True)
    return code


if __name__ == "__main__":
    cli()

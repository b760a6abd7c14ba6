#!/usr/bin/env python3
"""tracksync: keep Kimai in step with Gitea (and, as their jobs land, the other services).

  python sync.py                 run the jobs named in SYNC_JOBS (default gitea-kimai)
  python sync.py gitea-kimai     run one job
  python sync.py csv-kimai FILE  import a timesheet CSV (--template prints one)
"""
import re
from pathlib import Path

import click

from common.cli import (CONTEXT, EPILOG, emit_json, emit_table,
                        env_file_option, json_option, load, script, verbose_option)
from common.errors import UsageError, most_serious
from common.export import export_store
from common.http import clear_http_cache
from common.jobs import JOBS, run_job
from common.store import Store


def sync_options(f):
    options = [
        click.option("--dry-run", is_flag=True, default=None, help="print the plan; write nothing anywhere"),
        click.option("--full", is_flag=True, default=None, help="ignore cursors and re-read everything"),
        click.option("--from", "date_from", default=None, metavar="DATE", help="zammad-kimai, imports: entries from this day (YYYY-MM-DD)"),
        click.option("--to", "date_to", default=None, metavar="DATE", help="zammad-kimai, imports: entries up to this day, included"),
        click.option("--create-missing", is_flag=True, default=None, help="imports: create missing customers, projects, activities"),
        click.option("--repos", default=None, help="gitea-kimai: comma list of repositories (overrides REPOS_TO_SYNC)"),
        click.option("--include-prs", is_flag=True, default=None, help="gitea-kimai: also sync pull requests"),
        click.option("--stats", is_flag=True, default=None, help="after the run, print the store's statistics"),
        click.option("--export", is_flag=True, default=None, help="after the run, write CSV exports to EXPORT_DIR"),
        click.option("--clear-cache", is_flag=True, default=None, help="empty the HTTP cache first"),
        click.option("--cache/--no-cache", default=None, help="use the reference-data cache (CACHE_ENABLED)"),
        click.option("--rate-limit/--no-rate-limit", default=None, help="client-side rate limit (RATE_LIMIT_ENABLED)"),
        click.option("--page-size", type=click.IntRange(1), default=None, help="items per page (PAGE_SIZE)"),
        click.option("--max-pages", type=click.IntRange(0), default=None, help="pages per list at most, 0 = all (MAX_PAGES)"),
        json_option, verbose_option, env_file_option,
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _merge(parent, own):
    """Options given after the job name win over those given before it."""
    parent = parent or {}
    given = {k: v for k, v in own.items() if v is not None and v is not False and not (k == "verbose" and v == 0)}
    return {**own, **{k: v for k, v in parent.items() if k not in given}, **given}


@click.group(invoke_without_command=True, epilog=EPILOG, context_settings=CONTEXT)
@sync_options
@click.pass_context
def cli(ctx, **options):
    """Run the jobs in SYNC_JOBS, or the one named."""
    ctx.obj = options
    if ctx.invoked_subcommand is None:
        run(None, options)


def _job_command(name):
    @cli.command(name, epilog=EPILOG, help=f"Run the {name} job.")
    @sync_options
    @click.pass_context
    def command(ctx, **options):
        run(name, _merge(ctx.obj, options))
    return command


@cli.command("csv-kimai", epilog=EPILOG)
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, readable=False))
@click.option("--template", is_flag=True, help="print the CSV template (header and one example row) and exit")
@click.option("--date-format", default=None, metavar="FMT",
              help="strftime codes of the date column, e.g. %d/%m/%Y (default ISO 8601: 2026-03-31)")
@click.option("--skip-invalid", is_flag=True, default=None,
              help="import the valid rows and list the invalid ones (exit 3); default: any invalid row stops all (exit 65)")
@sync_options
@click.pass_context
def csv_command(ctx, file, template, date_format, skip_invalid, **options):
    """Import a timesheet CSV (see docs/csv.md): every row is checked first; a row never lands twice."""
    if template:
        from common.csv_rows import TEMPLATE
        click.echo(TEMPLATE, nl=False)
        return
    if file is None:
        raise click.UsageError("missing FILE (or --template to print one)")
    run("csv-kimai", _merge(ctx.obj, {**options, "file": file, "date_format": date_format, "skip_invalid": skip_invalid}))


for _name in JOBS:
    if _name not in cli.commands:  # csv-kimai has its own command above
        _job_command(_name)


@cli.command("conflicts", epilog=EPILOG)
@click.option("--job", default=None, help="only this job's conflicts")
@json_option
@env_file_option
def conflicts_command(job, as_json, env_file):
    """List open conflicts: items changed at the source and, by a person, in Kimai."""
    _conflicts(job, as_json, env_file)


@script
def _conflicts(job, as_json, env_file):
    from common.jobs.conflicts import list_conflicts
    rows = list_conflicts(load(env_file), job)
    if as_json:
        emit_json(rows)
        return
    table = []
    for c in rows:
        fields = sorted(k for k in c["source_data"] if c["source_data"].get(k) != (c["target_data"] or {}).get(k))
        diff = "; ".join(f"{k}: kimai {c['target_data'].get(k)!r} / source {c['source_data'].get(k)!r}"
                         for k in fields if k != "description") or "description"
        table.append([c["id"], c["job"], c["source_key"], c["target_id"], c["detected_at"], diff])
    emit_table(table, headers=["id", "job", "item", "timesheet", "detected", "differences"], empty="no open conflicts")
    if rows:
        click.echo("settle one with: python sync.py resolve ID --keep zammad|kimai|skip", err=True)


@cli.command("resolve", epilog=EPILOG)
@click.argument("conflict_id", type=int)
@click.option("--keep", type=click.Choice(["zammad", "kimai", "skip"]), required=True,
              help="zammad: write the source's values to Kimai; kimai: keep the Kimai edit; skip: leave both")
@env_file_option
def resolve_command(conflict_id, keep, env_file):
    """Settle one conflict (see `python sync.py conflicts`)."""
    _resolve(conflict_id, keep, env_file)


@script
def _resolve(conflict_id, keep, env_file):
    from common.jobs.conflicts import resolve
    click.echo(resolve(load(env_file), conflict_id, keep))


@cli.command("webhook", epilog=EPILOG)
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="port to listen on")
@verbose_option
@env_file_option
def webhook_command(host, port, verbose, env_file):
    """Serve Zammad trigger webhooks: each delivery syncs its ticket within seconds."""
    _webhook(host, port, verbose, env_file)


@script
def _webhook(host, port, verbose, env_file):
    from common.webhook import WebhookServer
    settings = load(env_file, verbose=max(verbose, 1))
    settings.require("ZAMMAD_URL", "ZAMMAD_TOKEN", "KIMAI_URL", "KIMAI_TOKEN")

    def sync_tickets(ticket_ids):
        return run_job("zammad-kimai", settings, {"dry_run": False, "full": False, "ticket_ids": ticket_ids})
    try:
        server = WebhookServer(settings, host, port, sync_tickets)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return server.serve()


@cli.command("cache", epilog=EPILOG)
@click.argument("action", type=click.Choice(["status", "clear"]), default="status")
@env_file_option
def cache_command(action, env_file):
    """Describe or empty the HTTP cache of reference data."""
    _cache(action, env_file)


@script
def _cache(action, env_file):
    settings = load(env_file)
    if action == "clear":
        click.echo(f"removed {clear_http_cache(settings)} cache file(s) from {settings.cache_dir}")
        return
    state = "enabled" if settings.cache_enabled else "disabled"
    click.echo(f"cache {state}, TTL {settings.cache_ttl}s, folder {settings.cache_dir}")
    files = sorted(Path(settings.cache_dir).glob("http_cache*"))
    emit_table([[f.name, f.stat().st_size] for f in files], headers=["file", "bytes"], empty="(empty)")


@script
def run(job, options):
    overrides = {
        "CACHE_ENABLED": options.get("cache"),
        "RATE_LIMIT_ENABLED": options.get("rate_limit"),
        "PAGE_SIZE": options.get("page_size"),
        "MAX_PAGES": options.get("max_pages"),
        "SYNC_PULL_REQUESTS": True if options.get("include_prs") else None,
    }
    settings = load(options.get("env_file"), overrides, options.get("verbose") or 0)
    dry_run = bool(options.get("dry_run") or settings.read_only_mode)
    if options.get("clear_cache"):
        removed = clear_http_cache(settings)
        click.echo(f"cleared the HTTP cache ({removed} file{'s' if removed != 1 else ''})", err=True)
    job_options = {"dry_run": dry_run, "full": bool(options.get("full")),
                   "repos": tuple(r.strip() for r in (options.get("repos") or "").split(",") if r.strip()),
                   "date_from": options.get("date_from"), "date_to": options.get("date_to"),
                   "create_missing": bool(options.get("create_missing")), "file": options.get("file"),
                   "date_format": options.get("date_format"), "skip_invalid": bool(options.get("skip_invalid"))}
    results = [run_job(name, settings, job_options) for name in ([job] if job else settings.sync_jobs)]
    report(results, options, settings)
    return most_serious(r.exit_code for r in results)


def plan_order(action):
    """Customers, then projects, then items by scope and number."""
    rank = {"customer": 0, "project": 1}.get(action.target_type, 2)
    number = re.search(r"#(\d+)", action.label)
    return rank, action.scope, int(number.group(1)) if number else 0, action.label


def report(results, options, settings):
    summaries = [r.summary() for r in results]
    for result in results:
        for label, reason in result.failures:
            click.echo(f"failed: {label}: {reason}", err=True)
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
        if result.error:
            click.echo(f"error: {result.error}", err=True)
    extra = {}
    if options.get("stats") or options.get("export") or settings.export_enabled:
        with Store(settings.database_path, readonly=True) as store:
            if options.get("stats"):
                extra["stats"] = store.stats()
            if options.get("export") or settings.export_enabled:
                extra["exported"] = [str(p) for p in export_store(store, settings.export_dir)]
    if options.get("as_json"):
        data = dict(summaries[0]) if len(summaries) == 1 else {"jobs": summaries}
        data.update(extra)
        emit_json(data)
        return
    for result in results:
        if result.dry_run:
            click.echo(f"Plan for {result.job} (dry run, nothing written):")
            for action in sorted(result.actions, key=plan_order):
                click.echo(f"  {action.line()}")
            if not result.actions:
                click.echo("  nothing to change")
    columns = ("job", "created", "updated", "hidden", "deleted", "unchanged", "conflicts", "failed", "requests", "seconds")
    emit_table([[s[c] for c in columns] for s in summaries], headers=columns)
    if "stats" in extra:
        click.echo()
        emit_table(extra["stats"]["links"], empty="store: no links yet")
        click.echo()
        emit_table(extra["stats"]["runs"], empty="store: no runs yet")
    for path in extra.get("exported", []):
        click.echo(f"exported {path}", err=True)


if __name__ == "__main__":
    cli()

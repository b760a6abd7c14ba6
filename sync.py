#!/usr/bin/env python3
"""tracksync: keep Kimai in step with Gitea, Zammad, Toggl, Harvest and CSV files.

python sync.py                 run the jobs named in SYNC_JOBS (default gitea-kimai)
python sync.py gitea-kimai     run one job (each job has its own options: --help)
python sync.py csv-kimai FILE  import a timesheet CSV (--template prints one)
"""

import logging
from pathlib import Path

import click

from common import shutdown
from common.cli import (
    CONTEXT,
    command,
    emit_json,
    emit_table,
    env_file_option,
    epilog,
    json_option,
    load,
    paint,
    script,
    verbose_option,
    version_option,
)
from common.errors import PARTIAL, ConfigError, LockHeld, UsageError, most_serious
from common.http import clear_http_cache
from common.jobs import check_scheduled_jobs, run_job
from common.jobs.base import Result
from common.jobs.options import RunOptions
from common.jobs.registry import JOBS
from common.jobs.zammad_kimai import ZammadKimaiJob
from common.logs import run_summary
from common.reports.store_export import export_store
from common.run_output import (
    human_time,
    json_document,
    leaves_summary,
    message_lines,
    plan_lines,
    summary_line,
    table_headers,
    table_row,
)
from common.store import Store

log = logging.getLogger("tracksync.sync")

# Options every job takes, on the group (`sync.py --dry-run`) and on each job's command.
COMMON_OPTIONS = [
    click.option("--dry-run", is_flag=True, default=None, help="print the plan; write nothing anywhere"),
    click.option("--full", is_flag=True, default=None, help="ignore cursors and re-read everything"),
    click.option(
        "-q",
        "--quiet",
        is_flag=True,
        default=None,
        help="print nothing unless something changed, failed or conflicts (for cron); errors still on stderr",
    ),
    click.option(
        "--fail-on-conflicts", is_flag=True, default=None, help="exit 3 when the jobs run have open conflicts"
    ),
    click.option("--stats", is_flag=True, default=None, help="after the run, print the store's statistics"),
    click.option("--export", is_flag=True, default=None, help="after the run, write CSV exports to EXPORT_DIR"),
    click.option("--clear-cache", is_flag=True, default=None, help="empty the HTTP cache first"),
    click.option("--cache/--no-cache", default=None, help="use the reference-data cache (CACHE_ENABLED)"),
    click.option("--rate-limit/--no-rate-limit", default=None, help="client-side rate limit (RATE_LIMIT_ENABLED)"),
    click.option("--page-size", type=click.IntRange(1), default=None, help="items per page (PAGE_SIZE)"),
    click.option(
        "--max-pages", type=click.IntRange(0), default=None, help="pages per list at most, 0 = all (MAX_PAGES)"
    ),
    json_option,
    verbose_option,
    env_file_option,
]


def with_options(f, options):
    for option in reversed(options):
        f = option(f)
    return f


class NamesTheJob:
    """A flag of another job is refused naming the job that has it."""

    def parse_args(self, ctx, args):
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            owners = [
                n for n in JOBS if n in cli.commands and any(exc.option_name in p.opts for p in cli.commands[n].params)
            ]
            if not owners:
                raise
            raise click.NoSuchOption(
                exc.option_name,
                f"No such option {exc.option_name!r} here: it is an option of "
                f"{', '.join(owners)} (python sync.py {owners[0]} {exc.option_name} ...)",
                ctx=ctx,
            ) from None


class JobGroup(NamesTheJob, click.Group):
    pass


class JobCommand(NamesTheJob, click.Command):
    pass


def _merge(parent, own):
    """Options given after the job name win over those given before it."""
    parent = parent or {}
    given = {k: v for k, v in own.items() if v is not None and v is not False and not (k == "verbose" and v == 0)}
    return {**own, **{k: v for k, v in parent.items() if k not in given}, **given}


@click.pass_context
def _group(ctx, **options):
    """Run the jobs in SYNC_JOBS, or the one named (each job's own options: JOB --help)."""
    ctx.obj = options
    if ctx.invoked_subcommand is None:
        run(None, options)


cli = click.group(
    "sync.py",
    cls=JobGroup,
    invoke_without_command=True,
    context_settings=CONTEXT,
    epilog=epilog(
        "python sync.py --dry-run",
        "python sync.py --quiet --fail-on-conflicts   # from cron",
        "python sync.py gitea-kimai --repos web --json",
    ),
)(version_option(with_options(_group, COMMON_OPTIONS)))


COMMON_NAMES = {p.name for p in cli.params}


def _job_command(job):
    """The subcommand of a job, from what its class declares: its own options first, then those
    every job takes (also accepted before the job name)."""

    @click.pass_context
    def command(ctx, **values):
        own = {k: values.pop(k) for k in list(values) if k not in COMMON_NAMES}
        run(job.name, _merge(ctx.obj, values), job.from_cli(own))

    return cli.command(job.name, cls=JobCommand, help=job.summary, epilog=epilog(*job.examples))(
        with_options(command, [*job.options, *COMMON_OPTIONS])
    )


for _job in JOBS.values():
    _job_command(_job)


CONFLICT_FIELDS = (
    "id",
    "job",
    "source_key",
    "target_type",
    "target_id",
    "source_data",
    "target_data",
    "last_data",
    "run_id",
    "detected_at",
)


WALL_CLOCK_FIELDS = ("begin", "end")  # timesheet times as Kimai holds them: local, without an offset


@command(cli, "conflicts", examples=["python sync.py conflicts", "python sync.py conflicts --job zammad-kimai --json"])
@click.option("--job", default=None, help="only this job's conflicts")
def conflicts_command(settings, as_json, job):
    """List open conflicts: items changed at the source and, by a person, in Kimai."""
    from common.jobs.conflicts import list_conflicts

    rows = list_conflicts(settings, job)
    if as_json:
        emit_json([{k: c.get(k) for k in CONFLICT_FIELDS} for c in rows])
        return
    table = []
    zone = settings.kimai_timezone or "the Kimai user's zone"  # Kimai takes and gives wall-clock times

    def shown(key, value):
        return f"{value!r} ({zone})" if key in WALL_CLOCK_FIELDS and value else repr(value)

    for c in rows:
        if c["job"] == "jira-confluence":  # a generated page a person edited
            was, now = (c["last_data"] or {}).get("version"), (c["target_data"] or {}).get("version")
            diff = f"page edited in Confluence: version {now}, tracksync wrote {was}"
            table.append([c["id"], c["job"], c["source_key"], c["target_id"], human_time(c["detected_at"]), diff])
            continue
        if c["job"] == "confluence-jira":  # a task's checkbox against its issue's status
            target = c["target_data"] or {}
            diff = f"task: confluence {c['source_data'].get('task')!r} / jira {target.get('issue_status')!r}"
            table.append([c["id"], c["job"], c["source_key"], c["target_id"], human_time(c["detected_at"]), diff])
            continue
        fields = sorted(k for k in c["source_data"] if c["source_data"].get(k) != (c["target_data"] or {}).get(k))
        diff = (
            "; ".join(
                f"{k}: kimai {shown(k, c['target_data'].get(k))} / source {shown(k, c['source_data'].get(k))}"
                for k in fields
                if k != "description"
            )
            or "description"
        )
        table.append([c["id"], c["job"], c["source_key"], c["target_id"], human_time(c["detected_at"]), diff])
    emit_table(table, headers=["id", "job", "item", "timesheet", "detected", "differences"], empty="no open conflicts")
    if rows:
        click.echo("settle one with: python sync.py resolve ID --keep source|kimai|skip", err=True)
        if any(c["job"] == "confluence-jira" for c in rows):
            click.echo("(confluence-jira: python sync.py resolve ID --keep confluence|jira|skip)", err=True)
        if any(c["job"] == "jira-confluence" for c in rows):
            click.echo("(jira-confluence: python sync.py resolve ID --keep jira|confluence|skip)", err=True)


@command(
    cli,
    "resolve",
    examples=[
        "python sync.py resolve 3 --keep kimai",
        "python sync.py resolve 4 --keep zammad",
        "python sync.py resolve 5 --keep graph",
    ],
    json=False,
)
@click.argument("conflict_id", type=int)
@click.option(
    "--keep",
    type=click.Choice(["source", "zammad", "graph", "kimai", "confluence", "jira", "skip"]),
    required=True,
    help="source (zammad, graph: the source by name): write the source's values to Kimai; kimai: keep the Kimai edit; "
    "confluence / jira (confluence-jira, jira-confluence): the side whose state wins, written by the next run; "
    "skip: leave both",
)
def resolve_command(settings, conflict_id, keep):
    """Settle one conflict (see `python sync.py conflicts`)."""
    from common.jobs.conflicts import conflict_job, resolve
    from common.jobs.confluence_jira_conflicts import resolve_task_conflict
    from common.jobs.jira_confluence_conflicts import resolve_page_conflict

    resolver = {"jira-confluence": resolve_page_conflict, "confluence-jira": resolve_task_conflict}.get(
        conflict_job(settings, conflict_id) or "", resolve
    )
    click.echo(resolver(settings, conflict_id, keep))


@command(
    cli,
    "undo",
    examples=["python sync.py undo 42 --dry-run", "python sync.py undo 42", "python sync.py undo 42 --delete-issues"],
)
@click.argument("run_id", type=click.IntRange(1))
@click.option("--delete-issues", is_flag=True, help="delete the run's issues (default: move them to JIRA_UNDO_STATUS)")
@click.option("--dry-run", is_flag=True, help="list what undo would do; write nothing")
def undo_command(settings, as_json, run_id, delete_issues, dry_run):
    """Undo a confluence-jira run: restore the pages it changed (only those not edited since),
    move its issues to JIRA_UNDO_STATUS (or delete them), remove their links."""
    from common.jobs.confluence_jira_undo import undo_run

    result = undo_run(settings, run_id, delete_issues, dry_run or settings.read_only_mode)
    run_summary(result.summary_line())
    if as_json:
        emit_json(result.summary())
        return result.exit_code
    for line in result.lines:
        click.echo(line)
    for line in result.left_alone:
        click.echo(f"left alone: {line}", err=True)
    for line in result.failures:
        click.echo(f"failed: {line}", err=True)
    if not (result.lines or result.left_alone or result.failures):
        click.echo(f"run {run_id}: nothing to undo (already undone, or it changed nothing)", err=True)
    return result.exit_code


@command(
    cli,
    "webhook",
    examples=[
        "python sync.py webhook --port 8765",
        "python sync.py webhook --host 0.0.0.0 --env-file /etc/tracksync/tracksync.env",
    ],
    json=False,
    verbose=True,
    settings=False,
)
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="port to listen on")
@click.option(
    "--insecure",
    is_flag=True,
    help="serve without ZAMMAD_WEBHOOK_SECRET: anyone who reaches the port can trigger syncs",
)
def webhook_command(env_file, verbose, host, port, insecure):
    """Serve Zammad trigger webhooks: each delivery syncs its ticket within seconds."""
    from common.jobs.zammad_webhook import WebhookServer

    settings = load(env_file, verbose=max(verbose, 1))
    settings.require("ZAMMAD_URL", "ZAMMAD_TOKEN", "KIMAI_URL", "KIMAI_TOKEN")
    if not settings.zammad_webhook_secret and not insecure:
        raise ConfigError(
            "ZAMMAD_WEBHOOK_SECRET",
            "not set: deliveries could not be checked, so the webhook does not "
            "start; set it to the token of the Zammad trigger, or pass --insecure to serve unsigned",
        )

    def sync_tickets(ticket_ids):
        options = RunOptions(job_options=ZammadKimaiJob.Options(ticket_ids=tuple(ticket_ids)))
        result = run_job(ZammadKimaiJob.name, settings, options)
        run_summary(summary_line(result))
        return result

    try:
        server = WebhookServer(settings, host, port, sync_tickets)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return server.serve()


@command(
    cli,
    "confluence-tree",
    examples=[
        "python sync.py confluence-tree --parent-page 65538 --depth 2 --children 3 --tasks-per-page 5 --dry-run",
        "python sync.py confluence-tree --parent-page 65538 --depth 3 --children 2 --jira-project ACME",
        "python sync.py confluence-tree --parent-page 65538 --remove",
    ],
    settings=False,
)
@click.option("--parent-page", required=True, help="the page (id or URL) to build the test tree under")
@click.option("--depth", type=int, default=2, show_default=True, help="levels of pages below the parent (1-5)")
@click.option("--children", type=int, default=3, show_default=True, help="child pages of each page (1-10)")
@click.option("--tasks-per-page", type=int, default=5, show_default=True, help="tasks on each page (0-50)")
@click.option("--jira-project", default=None, help="put a Jira issue macro of an issue of this project on each page")
@click.option("--assignee", default=None, help="whom tasks mention (Cloud: account id; DC: login); default: you")
@click.option("--remove", is_flag=True, help="delete every test page below the parent (label tracksync-test)")
@click.option("--dry-run", is_flag=True, help="print what would be made or removed; write nothing")
def confluence_tree_command(
    env_file, as_json, parent_page, depth, children, tasks_per_page, jira_project, assignee, remove, dry_run
):
    """Build a tree of test pages with tasks under a Confluence page (each build a new tree,
    titled `tracksync-test TAG N.N`, labelled tracksync-test), or --remove them all (and nothing
    else). At most 200 pages per tree."""
    from common.ops.confluence_tree import TreeCommand
    from common.ops.confluence_tree_plan import TreeSpec

    if jira_project is not None and not jira_project.strip():
        raise UsageError("--jira-project: empty; leave it out for pages without a Jira issue macro")
    settings = load(env_file, dry_run=dry_run)  # a dry run creates no file (no log, no store)
    tree = TreeCommand(settings, parent_page, dry_run or bool(settings.read_only_mode))
    if remove:
        result = tree.remove()
    else:
        spec = TreeSpec(depth, children, tasks_per_page, jira_project, assignee)
        result = tree.build(spec)
    if as_json:
        emit_json(result.summary())
        return result.exit_code
    rows = [
        [
            r["status"],
            r["id"] or "",
            r["title"],
            *([r["parent_id"] or "", r["tasks"], r["open_tasks"]] if not remove else []),
        ]
        for r in result.rows
    ]
    headers = ["status", "page", "title", *(["parent", "tasks", "open"] if not remove else [])]
    emit_table(rows, headers=headers, empty="no test pages below the parent" if remove else "(nothing)")
    done = sum(1 for r in result.rows if r["status"] in ("created", "removed"))
    verb = "removed" if remove else "created"
    prefix = "dry run: would have " if result.dry_run else ""
    count = len(result.rows) if result.dry_run else done
    tag = f" (tree {result.tag})" if result.tag else ""
    click.echo(f"{prefix}{verb} {count} page(s) below page {result.parent_id}{tag}", err=True)
    for line in result.failures:
        click.echo(f"failed: {line}", err=True)
    return result.exit_code


@command(
    cli, "cache", examples=["python sync.py cache", "python sync.py cache status --json", "python sync.py cache clear"]
)
@click.argument("action", type=click.Choice(["status", "clear"]), default="status")
def cache_command(settings, as_json, action):
    """Describe or empty the HTTP cache of reference data."""
    if action == "clear":
        removed = clear_http_cache(settings)
        if as_json:
            emit_json({"removed": removed, "folder": str(settings.cache_dir)})
        else:
            click.echo(f"removed {removed} cache file(s) from {settings.cache_dir}")
        return
    files = sorted(Path(settings.cache_dir).glob("http_cache*"))
    if as_json:
        emit_json(
            {
                "enabled": settings.cache_enabled,
                "ttl_seconds": settings.cache_ttl,
                "folder": str(settings.cache_dir),
                "files": [{"file": f.name, "bytes": f.stat().st_size} for f in files],
            }
        )
        return
    state = "enabled" if settings.cache_enabled else "disabled"
    click.echo(f"cache {state}, TTL {settings.cache_ttl}s, folder {settings.cache_dir}")
    emit_table([[f.name, f.stat().st_size] for f in files], headers=["file", "bytes"], empty="(empty)")


@script
def run(job, options, job_options=None):
    """Run `job` (None: the jobs of SYNC_JOBS). `options`: the flags every job takes, as click
    parsed them; `job_options`: the named job's own (its from_cli)."""
    overrides = {
        "CACHE_ENABLED": options.get("cache"),
        "RATE_LIMIT_ENABLED": options.get("rate_limit"),
        "PAGE_SIZE": options.get("page_size"),
        "MAX_PAGES": options.get("max_pages"),
    }
    quiet = bool(options.get("quiet"))
    settings = load(
        options.get("env_file"), overrides, -1 if quiet else options.get("verbose") or 0, bool(options.get("dry_run"))
    )
    run_options = RunOptions(
        dry_run=bool(options.get("dry_run") or settings.read_only_mode),
        full=bool(options.get("full")),
        quiet=quiet,
        fail_on_conflicts=bool(options.get("fail_on_conflicts")),
        stats=bool(options.get("stats")),
        export=bool(options.get("export")),
        as_json=bool(options.get("as_json")),
        job_options=job_options,
    )
    if options.get("clear_cache"):
        removed = clear_http_cache(settings)
        if not quiet:
            click.echo(f"cleared the HTTP cache ({removed} file{'s' if removed != 1 else ''})", err=True)
    if job is None:
        check_scheduled_jobs(settings.sync_jobs)
    results = []
    for name in [job] if job else settings.sync_jobs:
        if shutdown.requested():
            break  # stopped by a signal: no other job starts
        try:
            result = run_job(name, settings, run_options)
        except LockHeld as exc:  # another run of this job is going: its error (75); the other jobs still run
            result = Result(job=name, dry_run=run_options.dry_run, exit_code=exc.exit_code, error=str(exc))
        result.open_conflicts = count_open_conflicts(settings, result.job)
        results.append(result)
        if leaves_summary(result, settings.env_file):
            run_summary(summary_line(result))
    code = most_serious(r.exit_code for r in results)
    notes = []
    open_conflicts = sum(r.open_conflicts for r in results)
    if run_options.fail_on_conflicts:
        if open_conflicts:
            code = most_serious([code, PARTIAL])
            notes.append(
                f"{open_conflicts} open conflict{'s' if open_conflicts != 1 else ''} "
                "(--fail-on-conflicts; python sync.py conflicts lists them)"
            )
    report(results, run_options, settings, code, notes)
    return code


def count_open_conflicts(settings, job):
    """Conflicts of `job` still open in the store, this run's and earlier ones' (they need a person)."""
    if not Path(settings.database_path).exists():
        return 0
    with Store(settings.database_path, readonly=True) as store:
        return len(store.conflicts(job=job))


def report(results, options: RunOptions, settings, code, notes):
    """stderr: the files exported, then each stopped job's error, else its failures and warnings,
    grouped by reason (so a failed run's last stderr line is its error); stdout: the plans of dry
    runs and a table of the jobs that completed (or the JSON document). With --quiet, nothing
    unless something changed, failed or conflicts."""
    loud = not options.quiet or code != 0 or any(r.changed for r in results)
    completed = [r for r in results if r.error is None or r.outcome == "interrupted"]  # an interrupted run did write
    extra = {}
    exporting = (options.export or settings.export_enabled) and not options.dry_run  # a dry run writes nothing
    if options.stats or exporting:
        with Store(settings.database_path, readonly=True) as store:
            if options.stats:
                extra["stats"] = store.stats()
            if exporting:
                extra["exported"] = [str(p) for p in export_store(store, settings.export_dir)]
    if not options.as_json and loud and completed:
        for path in extra.get("exported", []):
            click.echo(f"exported {path}", err=True)
    said, errors = set(), []
    for result in results:
        for word, line in message_lines(result):
            if (word, line) in said:
                continue  # one error for several jobs (a missing Kimai key, Kimai down): said once
            said.add((word, line))
            text = f"{paint(word + ':', {'error': 'ERROR', 'warning': 'WARN'}.get(word, word), err=True)} {line}"
            if word == "error":
                errors.append(text)  # said last: a stopped run's last stderr line is its error
            elif loud or word != "warning":
                click.echo(text, err=True)
            else:  # --quiet on a run where nothing happened: the warning goes to the log file only
                log.warning("%s: warning: %s", result.job, line)
    for note in notes:
        click.echo(f"{paint('conflicts:', 'conflicts', err=True)} {note}", err=True)
    for text in errors:
        click.echo(text, err=True)
    if options.as_json:  # asked for a document: always one, --quiet or not
        emit_json(json_document(results, code, extra))
        return
    if not (loud and completed):
        return  # --quiet and nothing happened, or every job stopped by an error (its line is above)
    for result in results:
        if result.dry_run and result.error is None:
            click.echo("\n".join(plan_lines(result)))
    emit_table([table_row(r) for r in results], headers=table_headers(results))  # a stopped job: its row says failed
    if "stats" in extra:
        click.echo()
        emit_table(extra["stats"]["links"], empty="store: no links yet")
        click.echo()
        emit_table(extra["stats"]["runs"], empty="store: no runs yet")


if __name__ == "__main__":
    cli()

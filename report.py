#!/usr/bin/env python3
"""What tracksync did and what Kimai holds: reports read the store and the services and change
nothing, except `gdpr --purge --yes`, which removes one person's rows from the store.

  python report.py                          status: the last run of each job
  python report.py history [--job J] [--since DATE] [--limit N]
  python report.py items [--job J] [--state S] [--search TEXT]
  python report.py errors [--run ID]
  python report.py export --format csv|json [--out DIR]
  python report.py audit [--job J] [--item KEY]
  python report.py reconcile --job zammad-kimai --from DATE --to DATE [--json|--csv]
  python report.py imports [--job J] [--errors]
  python report.py export-timesheets --from DATE --to DATE [--customer C] [--project P] [--activity A]
                   [--user U] [--billable-only] [--format csv|json] [--out FILE] [--bom]
  python report.py gdpr --user EMAIL [--kimai-user ID] [--out FILE] [--purge --yes]
  python report.py hours --from DATE --to DATE [--source kimai|calendar] [--by KEY] [--per day|week|month]
                   [--format table|csv|json] [--include-planned]

Tables show times in this machine's zone and name it (2026-11-27 15:03:12 CET); --json keeps ISO
8601 with the offset. The JSON shapes are documented in docs/json-report.md.
"""

import click

from common.cli import command, emit_json, emit_table, group
from common.jobs import JOBS
from common.reports import runs as reports
from common.reports.store_export import export_store
from common.timeutil import for_people

SINCE_HELP = (
    "runs started at or after this time: ISO 8601 with its zone (2026-11-27T08:00+01:00, "
    "2026-11-27T07:00Z), or a bare date / date-time read in this machine's local zone"
)
DAY_HELP = "a day YYYY-MM-DD, read in Kimai's time zone (KIMAI_TIMEZONE, else the token user's)"


@group(
    examples=[
        "python report.py",
        "python report.py history --since 2026-11-01 --limit 5",
        "python report.py --json errors --run 42",
    ],
    default="status",
)
def cli():
    """Report on runs, items, failures and writes; bare `report.py` shows the status."""


# columns holding an instant: shown to people in the local zone, with the zone's name
TIME_COLUMNS = {"started", "finished", "changed", "at", "started_at", "finished_at"}


def _show(rows, columns, as_json, empty):
    if as_json:
        emit_json(rows)
    else:
        emit_table([[_cell(row.get(c), c) for c in columns] for row in rows], headers=columns, empty=empty)


def _cell(value, column=None):
    if value is None:
        return ""
    return for_people(value) if column in TIME_COLUMNS else value


@command(cli, "status", examples=["python report.py status", "python report.py status --json"])
def status(settings, as_json):
    """The last run of each job: when, how long, outcome and counts, and its items by state."""
    with reports.reading_store(settings) as store:
        rows = reports.status(store, settings, JOBS)
    if not as_json:
        for row in rows:
            row["items"] = ", ".join(f"{n} {state}" for state, n in row["links"].items())
    _show(
        rows,
        [
            "job",
            "last_run",
            "started",
            "seconds",
            "outcome",
            "exit_code",
            "created",
            "updated",
            "hidden",
            "unchanged",
            "failed",
            "items",
        ],
        as_json,
        "no jobs",
    )


@command(
    cli,
    "history",
    examples=[
        "python report.py history --job gitea-kimai --limit 10",
        "python report.py history --since 2026-11-27T06:00Z --json",
    ],
)
@click.option("--job", default=None, help="only this job")
@click.option("--since", default=None, metavar="TIME", help=SINCE_HELP)
@click.option("--limit", type=click.IntRange(0), default=20, show_default=True, help="at most N runs (0 = all)")
def history(settings, as_json, job, since, limit):
    """Runs, newest first, with their counts and exit codes."""
    since_utc = reports.parse_since(since) if since else None
    with reports.reading_store(settings) as store:
        rows = reports.history(store, job, since_utc, limit, settings)
    _show(
        rows,
        [
            "run",
            "job",
            "started",
            "seconds",
            "outcome",
            "exit_code",
            "created",
            "updated",
            "hidden",
            "unchanged",
            "failed",
            "requests",
            "writes",
            "message",
        ],
        as_json,
        "no runs",
    )


@command(
    cli,
    "items",
    examples=["python report.py items --state failed", 'python report.py items --job zammad-kimai --search "#42"'],
)
@click.option("--job", default=None, help="only this job")
@click.option("--state", default=None, help="only items in this state: pending, synced, failed (and job-specific ones)")
@click.option("--search", default=None, help="text in the item key, name or error, or a target id")
@click.option("--limit", type=click.IntRange(0), default=0, help="at most N items (0 = all)")
def items(settings, as_json, job, state, search, limit):
    """The store's links: source item, target id, state and last change."""
    with reports.reading_store(settings) as store:
        rows = reports.items(store, job, state, search, limit)
    _show(rows, ["job", "item", "name", "target_type", "target_id", "state", "changed", "error"], as_json, "no items")


@command(cli, "errors", examples=["python report.py errors", "python report.py errors --run 42 --json"])
@click.option("--run", "run_id", type=int, default=None, help="the failures of this run (default: items failed now)")
def errors(settings, as_json, run_id):
    """Items that failed, with the reason."""
    with reports.reading_store(settings) as store:
        run, rows = reports.errors(store, run_id)
    if as_json:
        emit_json({"run": run, "errors": rows})
        return
    if run and run.get("message"):
        click.echo(f"run {run['run']} stopped: {run['message']}", err=True)
    _show(rows, ["job", "item", "reason", "run", "at"], False, "no failed items")


@command(
    cli,
    "export",
    examples=[
        "python report.py export --format csv",
        "python report.py export --format json --out /tmp/tracksync-export",
    ],
)
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default=None, help="folder (default EXPORT_DIR)")
def export(settings, as_json, fmt, out):
    """Write links, runs and audit events to one file each."""
    with reports.reading_store(settings) as store:
        paths = export_store(store, reports.export_folder(settings, out), fmt, key="--out" if out else "EXPORT_DIR")
    if as_json:
        emit_json({"files": [str(p) for p in paths]})
        return
    for path in paths:
        click.echo(str(path))


@command(
    cli,
    "audit",
    examples=[
        "python report.py audit --item acme/web#42",
        "python report.py audit --job gitea-kimai --limit 20 --json",
    ],
)
@click.option("--job", default=None, help="only this job")
@click.option("--item", default=None, help="only this item (origin marker, e.g. gitea:acme/web#42 or acme/web#42)")
@click.option("--limit", type=click.IntRange(0), default=0, help="only the last N events (0 = all)")
def audit(settings, as_json, job, item, limit):
    """Every write the toolkit made, with the values before and after."""
    zone = reports.wall_clock_zone(settings)
    with reports.reading_store(settings) as store:
        rows = reports.audit(store, job, item, limit, settings.kimai_timezone or None)
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        row["target"] = f"{row['target_type']} {row['target_id']}"
        row["changes"] = reports.describe_changes(row["before"], row["after"], zone=zone)
    _show(rows, ["id", "at", "run", "job", "item", "action", "target", "changes"], False, "no writes recorded")


@command(cli, "imports", examples=["python report.py imports", "python report.py imports --job csv-kimai --errors"])
@click.option("--job", default=None, help="only this import job (toggl-kimai, harvest-kimai, csv-kimai)")
@click.option("--limit", type=click.IntRange(0), default=20, show_default=True, help="at most N imports (0 = all)")
@click.option("--errors", "with_errors", is_flag=True, help="also list each import's per-row errors")
def imports(settings, as_json, job, limit, with_errors):
    """Import history: source, parameters, file checksum, counts, status and per-row errors."""
    with reports.reading_store(settings) as store:
        rows = reports.imports(store, settings, job, limit)
    if as_json:
        emit_json(rows)
        return
    table = [
        {
            **row,
            "parameters": ", ".join(f"{k}={v}" for k, v in row["parameters"].items()),
            "sha256": (row["file_sha256"] or "")[:12],
            "errors": len(row["errors"]),
        }
        for row in rows
    ]
    _show(
        table,
        [
            "id",
            "started_at",
            "job",
            "status",
            "parameters",
            "sha256",
            "read",
            "created",
            "updated",
            "skipped",
            "failed",
            "errors",
        ],
        False,
        "no imports yet",
    )
    if with_errors:
        errors = [{"import": row["id"], **error} for row in rows for error in row["errors"]]
        click.echo()
        _show(errors, ["import", "line", "item", "message"], False, "no row errors")


@command(
    cli,
    "reconcile",
    examples=[
        "python report.py reconcile --from 2026-11-01 --to 2026-11-30",
        "python report.py reconcile --from 2026-11-01 --to 2026-11-30 --json",
    ],
)
@click.option("--job", type=click.Choice(["zammad-kimai"]), default="zammad-kimai", show_default=True)
@click.option("--from", "date_from", required=True, metavar="DATE", help=f"first day: {DAY_HELP}")
@click.option("--to", "date_to", required=True, metavar="DATE", help="last day, included")
@click.option("--csv", "as_csv", is_flag=True, help="one CSV row per item on stdout")
def reconcile(settings, as_json, job, date_from, date_to, as_csv):
    """Classify every entry and timesheet of a window: matched, mismatched, missing, duplicated."""
    from common.reports.reconcile import CLASSES
    from common.reports.reconcile import reconcile as classify_window

    report = classify_window(settings, date_from, date_to)
    if as_json:
        emit_json(report)
        return
    columns = ["class", "ticket", "entry", "timesheet", "detail"]
    if as_csv:
        import csv
        import sys

        from common.reports.store_export import safe_cell

        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows([safe_cell(row.get(c)) for c in columns] for row in report["items"])
        return
    click.echo(f"{report['from']} to {report['to']}, times in {report['timezone']} (Kimai's zone)")
    problems = [row for row in report["items"] if row["class"] != "matched"]
    _show(problems, columns, False, "every entry and timesheet matches")
    click.echo()
    emit_table([[c, report["totals"][c]] for c in CLASSES], headers=["class", "items"])
    click.echo()
    emit_table(
        [[t, *[counts.get(c, 0) for c in CLASSES]] for t, counts in report["per_ticket"].items()],
        headers=["ticket", *CLASSES],
        empty="no items in the window",
    )


@command(
    cli,
    "export-timesheets",
    examples=[
        "python report.py export-timesheets --from 2026-11-01 --to 2026-11-30 --out november.csv --bom",
        "python report.py export-timesheets --from 2026-11-01 --to 2026-11-07 --project Website --format json",
    ],
)
@click.option("--from", "date_from", required=True, metavar="DATE", help=f"first day: {DAY_HELP}")
@click.option("--to", "date_to", required=True, metavar="DATE", help="last day, included")
@click.option("--customer", default=None, help="only this customer (name or id)")
@click.option("--project", default=None, help="only this project (name or id)")
@click.option("--activity", default=None, help="only this activity (name or id)")
@click.option("--user", default=None, help="only this Kimai user: an id, 'me' or a mapped e-mail (default: all users)")
@click.option("--billable-only", is_flag=True, help="only billable timesheets")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="file to write (default: stdout)")
@click.option("--bom", is_flag=True, help="start the CSV with a UTF-8 byte order mark (for Excel)")
def export_timesheets(
    settings, as_json, date_from, date_to, customer, project, activity, user, billable_only, fmt, out, bom
):
    """Kimai timesheets of a window of days as CSV or JSON, with names and totals (reads only)."""
    from common.errors import UsageError
    from common.reports import timesheets as timesheet_export

    if as_json and not out and fmt != "json":
        raise UsageError(
            "--json describes the file written with --out; for the data itself on stdout use --format json"
        )
    filters = timesheet_export.Filters(customer, project, activity, user, billable_only)
    report, data = timesheet_export.export_timesheets(settings, date_from, date_to, filters, fmt, bom)
    path = timesheet_export.write(data, out)
    if path and as_json:
        emit_json(
            {
                "file": str(path),
                "format": fmt,
                "from": report["from"],
                "to": report["to"],
                "timezone": report["timezone"],
                "filters": report["filters"],
                "totals": report["totals"],
            }
        )
    elif path:
        click.echo(str(path))
    click.echo(timesheet_export.summary_line(report, path), err=True)


@command(
    cli,
    "gdpr",
    examples=[
        "python report.py gdpr --user ann@example.com",
        "python report.py gdpr --user ann@example.com --purge --yes",
    ],
)
@click.option("--user", "email", required=True, metavar="EMAIL", help="the person's e-mail address")
@click.option(
    "--kimai-user",
    type=click.IntRange(1),
    default=None,
    metavar="ID",
    help="their Kimai user id (default: the token's user if the e-mail matches, else the user maps)",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="the ZIP to write (default: EXPORT_DIR/gdpr-<hash>-<time>.zip)",
)
@click.option("--purge", is_flag=True, help="then remove this person's rows from the local store (never from Kimai)")
@click.option("--yes", is_flag=True, help="confirm --purge")
def gdpr(settings, as_json, email, kimai_user, out, purge, yes):
    """A ZIP with everything Kimai and the store hold about one person; --purge --yes then erases
    their rows from the store."""
    from common.errors import UsageError
    from common.reports.gdpr import person_archive

    if purge and not yes:
        raise UsageError("--purge deletes this person's rows from the store: add --yes to confirm")
    path, manifest, purged = person_archive(settings, email, kimai_user, out, purge)
    if as_json:
        emit_json({"file": str(path), "subject": manifest["subject"], "counts": manifest["counts"], "purged": purged})
        return
    click.echo(str(path))
    counts = ", ".join(f"{n} {kind}" for kind, n in manifest["counts"].items() if n)
    click.echo(f"Kimai user {manifest['subject']['kimai_user_id']}: {counts or 'nothing found'}", err=True)
    if purged is not None:
        removed = ", ".join(f"{n} {table}" for table, n in purged.items() if n)
        click.echo(f"removed from the store: {removed or 'nothing'}; recorded as an audit event (purge)", err=True)


HOURS_FROM_HELP = (
    "first day YYYY-MM-DD (or today, yesterday) or a wall-clock time (2026-11-01T08:00), read in the zone "
    "the days are cut in (Kimai's, or each mailbox's); or a time with its offset (2026-11-01T08:00+01:00), "
    "read in the zone it states"
)


@command(
    cli,
    "hours",
    examples=[
        "python report.py hours --from 2026-11-01 --to 2026-11-30 --by project --per week",
        "python report.py hours --from 2026-11-01 --to today --source calendar --by category --format csv",
    ],
)
@click.option("--from", "date_from", required=True, metavar="DATE", help=HOURS_FROM_HELP)
@click.option("--to", "date_to", required=True, metavar="DATE", help="last day, included (or an instant, excluded)")
@click.option(
    "--source",
    type=click.Choice(["kimai", "calendar"]),
    default="kimai",
    show_default=True,
    help="Kimai's timesheets, or the calendar events graph-kimai stored",
)
@click.option(
    "--by",
    type=click.Choice(["project", "activity", "customer", "user", "tag", "category", "mailbox"]),
    default="project",
    show_default=True,
    help="kimai: project, activity, customer, user, tag; calendar: project, activity, category, mailbox",
)
@click.option("--per", type=click.Choice(["day", "week", "month"]), default=None, help="one row per period and key")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--include-planned", is_flag=True, help="calendar: also count events (or parts) after now")
def hours(settings, as_json, date_from, date_to, source, by, per, fmt, include_planned):
    """Hours per project, activity, customer, user, tag, category or mailbox over a window of days,
    from Kimai's timesheets or the stored calendar events (reads only)."""
    from common.reports import hours as hours_report

    report = hours_report.hours_report(settings, date_from, date_to, source, by, per, include_planned)
    if as_json or fmt == "json":
        click.echo(hours_report.json_report(report))
    elif fmt == "csv":
        click.echo(hours_report.csv_report(report), nl=False)
    else:
        click.echo(hours_report.table_text(report))


if __name__ == "__main__":
    cli()

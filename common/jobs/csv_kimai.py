"""CSV file -> Kimai: every row of a timesheet spreadsheet becomes one Kimai timesheet.

The file is read and every row checked (common/jobs/csv_rows.py) before anything is written: with
one invalid row nothing is imported and the run exits 65 naming each bad line, unless
--skip-invalid imports the valid rows and lists the others (exit 3). A row's marker is
`csv:{hash of its normalised values}`, so importing a file again, reordered or re-exported,
makes no write. Mapping to Kimai, time zones and history are the shared pipeline's (imports.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from ..errors import DataError, UsageError
from .csv_rows import TEMPLATE, check_date_format, decode, parse_file
from .import_plan import TAG, SourceRead
from .imports import ImportJob, Options
from .options import CREATE_MISSING, JobOptions

SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


def print_template(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """--template: print the CSV template (header and one example row) and exit 0."""
    if value and not ctx.resilient_parsing:
        click.echo(TEMPLATE, nl=False)
        ctx.exit()


class CsvKimaiJob(ImportJob):
    name = JOB = "csv-kimai"
    services = ("kimai",)
    scheduled = False  # imports the file named on its command line
    summary = "Import a timesheet CSV (see docs/csv.md): every row is checked first; a row never lands twice."
    examples = (
        "python sync.py csv-kimai --template > hours.csv",
        "python sync.py csv-kimai hours.csv --dry-run",
        "python sync.py csv-kimai export.csv --date-format %d/%m/%Y --skip-invalid --create-missing",
    )
    options = (
        click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, readable=False)),
        click.option(
            "--template",
            is_flag=True,
            expose_value=False,
            callback=print_template,
            help="print the CSV template (header and one example row) and exit",
        ),
        click.option(
            "--date-format",
            default=None,
            metavar="FMT",
            help="strftime codes of the date column, e.g. %d/%m/%Y (default ISO 8601: 2026-03-31)",
        ),
        click.option(
            "--skip-invalid",
            is_flag=True,
            help="import the valid rows and list the invalid ones (exit 3); "
            "default: any invalid row stops all (exit 65)",
        ),
        CREATE_MISSING,
    )

    @classmethod
    def from_cli(cls, values: dict[str, Any]) -> JobOptions:
        if values["file"] is None:
            raise click.UsageError("missing FILE (or --template to print one)")
        return Options(**values)

    SOURCE = "csv"

    def read_source(self) -> SourceRead:
        if not self.opts.file:
            raise UsageError("csv-kimai needs a file: python sync.py csv-kimai FILE (--template prints one)")
        if self.opts.date_from or self.opts.date_to:
            raise UsageError("--from/--to do not apply to csv-kimai: it imports the whole file")
        if self.opts.date_format:
            check_date_format(self.opts.date_format)
        path = Path(self.opts.file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
        assert self.tz is not None, "Kimai's time zone is read before the source (read_zone)"
        parsed = parse_file(decode(data, path.name), self.tz, self.opts.date_format, path.name)
        parameters: dict[str, Any] = {
            "file": path.name,
            "date_format": self.opts.date_format or "ISO 8601",
            "separator": SEPARATOR_NAMES[parsed.separator],
        }
        if self.opts.skip_invalid:
            parameters["skip_invalid"] = True
        read = SourceRead(parameters=parameters, file_sha256=hashlib.sha256(data).hexdigest())
        read.invalid = [(line, f"line {line}", message) for line, message in parsed.errors]
        # the pipeline tags every timesheet `import`: a row's own `import` tag is dropped (not from its marker)
        read.entries = [
            replace(row, tags=tuple(t for t in row.tags if t != TAG)) if TAG in row.tags else row for row in parsed.rows
        ]
        if not parsed.rows and not parsed.errors:
            self.result.warnings.append(f"{path.name}: no rows below the header; nothing to import")
        return read

"""CSV file -> Kimai: every row of a timesheet spreadsheet becomes one Kimai timesheet.

The file is streamed twice, never held whole (csv_file.py): a first pass checks every row
(csv_rows.py) before anything is written, keeping only each valid row's marker and line; a second
pass hands the valid rows over in batches while they are imported. With one invalid row nothing
is imported and the run exits 65 naming each bad line, unless --skip-invalid imports the valid
rows and lists the others (exit 3). A row's marker is `csv:{hash of its normalised values}`, so
importing a file again, reordered or re-exported, makes no write. Mapping to Kimai, time zones
and history are the shared pipeline's (imports.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from ..errors import UsageError
from .csv_file import CheckedFile, check_file, file_digest, valid_rows
from .csv_rows import TEMPLATE, check_date_format
from .import_plan import ImportEntry, SourceRead
from .imports import BATCH, ImportJob, Options
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
        """The first pass over the file: its SHA-256 and encoding (file_digest), then every row
        checked (check_file), keeping only each valid row's marker and line and the problems.
        The rows are handed over by a second pass (valid_rows) while they are imported."""
        if not self.opts.file:
            raise UsageError("csv-kimai needs a file: python sync.py csv-kimai FILE (--template prints one)")
        if self.opts.date_from or self.opts.date_to:
            raise UsageError("--from/--to do not apply to csv-kimai: it imports the whole file")
        if self.opts.date_format:
            check_date_format(self.opts.date_format)
        path = Path(self.opts.file)
        assert self.tz is not None, "Kimai's time zone is read before the source (read_zone)"
        sha256 = file_digest(path)
        checked = check_file(path, self.tz, self.opts.date_format)
        parameters: dict[str, Any] = {
            "file": path.name,
            "date_format": self.opts.date_format or "ISO 8601",
            "separator": SEPARATOR_NAMES[checked.separator],
        }
        if self.opts.skip_invalid:
            parameters["skip_invalid"] = True
        read = SourceRead(parameters=parameters, file_sha256=sha256, rows=len(checked.first_line_of))
        read.invalid = [(line, f"line {line}", message) for line, message in checked.errors]
        read.batches = self.rows_to_import(path, checked)
        if not checked.first_line_of and not checked.errors:
            self.result.warnings.append(f"{path.name}: no rows below the header; nothing to import")
        return read

    def rows_to_import(self, path: Path, checked: CheckedFile) -> Iterator[list[ImportEntry]]:
        """The second pass, passing over the rows whose link says they are imported as they are
        (unless --full): a re-import reads the file twice but checks each row once."""
        assert self.tz is not None, "Kimai's time zone is read before the source (read_zone)"
        current = set() if self.opts.full else self.imported_lines(checked)
        self.result.counts["unchanged"] += len(current)
        yield from valid_rows(path, self.tz, self.opts.date_format, checked, current)

    def imported_lines(self, checked: CheckedFile) -> set[int]:
        """The lines of the valid rows whose link holds their version (read a slice at a time)."""
        lines: set[int] = set()
        items = list(checked.first_line_of.items())
        for start in range(0, len(items), BATCH):
            part = dict(items[start : start + BATCH])
            for key, link in self.store.links_of(self.JOB, part).items():
                if link["state"] == "synced" and link["source_hash"] == key.partition(":")[2]:
                    lines.add(part[key])
        return lines

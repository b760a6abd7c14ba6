"""CSV file -> Kimai: every row of a timesheet spreadsheet becomes one Kimai timesheet.

The file is streamed twice, never held whole: a first pass checks every row (common/jobs/csv_rows.py)
before anything is written, keeping only each valid row's marker and line; a second pass hands the
valid rows over in batches while they are imported. With one invalid row nothing is imported and
the run exits 65 naming each bad line, unless --skip-invalid imports the valid rows and lists the
others (exit 3). A row's marker is
`csv:{hash of its normalised values}`, so importing a file again, reordered or re-exported,
makes no write. Mapping to Kimai, time zones and history are the shared pipeline's (imports.py).
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Container, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import click

from ..errors import DataError, UsageError
from .csv_rows import TEMPLATE, CsvReader, check_date_format, without_duplicates
from .import_plan import TAG, ImportEntry, SourceRead
from .imports import BATCH, ImportJob, Options
from .options import CREATE_MISSING, JobOptions

SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
CHUNK = 1 << 20  # bytes read at a time for the digest


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


@dataclass
class CheckedFile:
    """What the first pass keeps of a file: its separator, each valid row's marker and line,
    and the invalid rows' problems."""

    separator: str
    first_line_of: dict[str, int] = field(default_factory=dict)
    errors: list[tuple[int, str]] = field(default_factory=list)


def opened(path: Path) -> TextIO:
    """The file as text (UTF-8, a leading BOM dropped); a file that cannot be read is exit 65."""
    try:
        return path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None


def file_digest(path: Path) -> str:
    """The SHA-256 of the file's bytes, read in chunks, which must be UTF-8 (a leading BOM
    allowed) and hold more than white space: else exit 65 naming the byte (counted after a BOM)."""
    digest, decoder = hashlib.sha256(), codecs.getincrementaldecoder("utf-8")()
    offset, blank, first = 0, True, True
    try:
        with path.open("rb") as stream:
            while True:
                chunk = stream.read(CHUNK)
                digest.update(chunk)
                if first and chunk.startswith(codecs.BOM_UTF8):
                    chunk = chunk[len(codecs.BOM_UTF8) :]
                first, pending = False, len(decoder.getstate()[0])
                try:
                    text = decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    raise DataError(
                        f"{path.name}: not UTF-8 (byte {offset - pending + exc.start + 1}); save it as 'CSV UTF-8'"
                    ) from None
                blank = blank and not text.strip()
                offset += len(chunk)
                if not chunk:
                    break
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    if blank:
        raise DataError(f"{path.name}: the file is empty; expected a header line like {TEMPLATE.splitlines()[0]}")
    return digest.hexdigest()


def check_file(path: Path, tz: ZoneInfo, date_format: str | None) -> CheckedFile:
    """The first pass: every row checked, none kept (only its marker and line, or its problem)."""
    with opened(path) as stream:
        reader = CsvReader(stream, tz, date_format, path.name)
        checked = CheckedFile(reader.separator)
        for line, row, problem in without_duplicates(reader, checked.first_line_of):
            if row is None:
                checked.errors.append((line, problem))
    return checked


def valid_rows(
    path: Path, tz: ZoneInfo, date_format: str | None, checked: CheckedFile, passed_over: Container[int] = ()
) -> Iterator[list[ImportEntry]]:
    """The second pass: the valid rows, BATCH at a time, but those on the lines `passed_over`. A
    row the first pass did not find as it is now (the file changed in between) stops the import
    (exit 65) rather than import a row never checked: what was imported before it is linked, and
    a run on the final file completes."""
    invalid = {line for line, _ in checked.errors}
    batch: list[ImportEntry] = []
    with opened(path) as stream:
        reader = CsvReader(stream, tz, date_format, path.name)
        reader.passed_over = passed_over
        for line, row, _problem in reader:
            if row is not None and checked.first_line_of.get(row.key) == line:
                # the pipeline tags every timesheet `import`: a row's own `import` tag is dropped (not from its marker)
                batch.append(replace(row, tags=tuple(t for t in row.tags if t != TAG)) if TAG in row.tags else row)
                if len(batch) == BATCH:
                    yield batch
                    batch = []
            elif line not in invalid:
                raise DataError(f"{path.name}: line {line} changed while the file was imported; import it again")
    if batch:
        yield batch

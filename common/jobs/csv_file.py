"""A timesheet CSV file read as a stream, never held whole (csv-kimai): CsvReader hands over
one checked row at a time (the rules of a row are csv_rows.py's); a first pass (file_digest,
check_file) keeps only each valid row's marker and line and the problems, a second (valid_rows)
hands the valid rows over in batches while they are imported. parse_file reads a text whole
(tests, small inputs).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from ..errors import DataError
from .csv_rows import LINE_BREAK, TEMPLATE, RowParser, check_header, pick_separator
from .import_plan import TAG, ImportEntry
from .imports import BATCH

CHUNK = 1 << 20  # bytes read at a time for the digest
HEADER_LIMIT = 1 << 16  # characters of the first line looked at to pick the separator


@dataclass
class ParsedFile:
    rows: list[ImportEntry] = field(default_factory=list)  # aware UTC instants, normalised values
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, message)
    separator: str = ","
    columns: tuple[str, ...] = ()


def parse_file(text: str, tz: ZoneInfo, date_format: str | None = None, name: str = "file") -> ParsedFile:
    """Text of a CSV file -> ParsedFile. A header problem raises DataError; row problems are
    collected in `errors`, one entry per invalid row. (csv-kimai streams the file instead:
    CsvReader over the open file, twice.)"""
    reader = CsvReader(io.StringIO(text, newline=""), tz, date_format, name)
    parsed = ParsedFile(separator=reader.separator, columns=reader.columns)
    for line, row, problem in without_duplicates(reader, {}):
        if row is None:
            parsed.errors.append((line, problem))
        else:
            parsed.rows.append(row)
    return parsed


class CsvReader:
    """The rows of a CSV text stream, one at a time: (line, ImportEntry, "") for a valid row,
    (line, None, problem) for an invalid one; blank lines are passed over. The header is read
    and checked when it is made (DataError naming what is wrong). Nothing is kept but caches."""

    def __init__(self, stream: TextIO, tz: ZoneInfo, date_format: str | None = None, name: str = "file") -> None:
        header_line = LINE_BREAK.split(stream.readline(HEADER_LIMIT), 1)[0]
        if not header_line.strip():
            raise DataError(f"{name}: line 1 is empty; expected the header, like {TEMPLATE.splitlines()[0]}")
        stream.seek(0)
        self.name, self.separator = name, pick_separator(header_line)
        self.reader = csv.reader(stream, delimiter=self.separator, skipinitialspace=True, strict=True)
        try:
            self.positions = check_header(next(self.reader), name)
        except csv.Error as exc:
            raise DataError(f"{name}: line 1: not readable as CSV ({exc}); check its quotes") from None
        self.columns = tuple(self.positions)
        self.parser = RowParser(tz, date_format)
        self.passed_over: Container[int] = ()  # lines not to check again (rows known to be imported)

    def __iter__(self) -> Iterator[tuple[int, ImportEntry | None, str]]:
        reader, positions = self.reader, self.positions
        line = reader.line_num + 1  # where the record being read starts
        try:
            for cells in reader:
                start, line = line, reader.line_num + 1
                if start in self.passed_over or not any(c.strip() for c in cells):
                    continue  # blank line, or a row not to look at again
                if len(cells) > len(positions):
                    yield (
                        start,
                        None,
                        f"{len(cells)} fields but the header has {len(positions)} "
                        '(a separator inside a value needs "quotes")',
                    )
                    continue
                values = {column: cells[i] if i < len(cells) else "" for column, i in positions.items()}
                row, problems = self.parser.row(values, start)
                yield start, row, "; ".join(problems)
        except csv.Error as exc:
            raise DataError(f"{self.name}: line {line}: not readable as CSV ({exc}); check its quotes") from None


def without_duplicates(
    rows: Iterable[tuple[int, ImportEntry | None, str]], first_line_of: dict[str, int]
) -> Iterator[tuple[int, ImportEntry | None, str]]:
    """The rows, a second row with the marker of an earlier one turned into a problem;
    `first_line_of` (marker -> line) is filled in: all a pass over a file keeps of its rows."""
    for line, row, problem in rows:
        if row is not None and row.key in first_line_of:
            yield (
                line,
                None,
                f"duplicate of line {first_line_of[row.key]} (same date, times, project, "
                "activity, customer, description, tags, billable and user)",
            )
            continue
        if row is not None:
            first_line_of[row.key] = line
        yield line, row, problem


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

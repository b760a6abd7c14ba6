"""CSV file -> Kimai: every row of a timesheet spreadsheet becomes one Kimai timesheet.

The file is read and every row checked (common/jobs/csv_rows.py) before anything is written: with
one invalid row nothing is imported and the run exits 65 naming each bad line, unless
--skip-invalid imports the valid rows and lists the others (exit 3). A row's marker is
`csv:{hash of its normalised values}`, so importing a file again, reordered or re-exported,
makes no write. Mapping to Kimai, time zones and history are the shared pipeline's (imports.py).
"""
import hashlib
from dataclasses import replace
from pathlib import Path

from .csv_rows import check_date_format, decode, parse_file
from ..errors import DataError, UsageError
from .imports import TAG, ImportJob, SourceRead

SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


class CsvKimaiJob(ImportJob):
    JOB = "csv-kimai"
    SOURCE = "csv"

    def read(self):
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
        parsed = parse_file(decode(data, path.name), self.tz, self.opts.date_format, path.name)
        parameters = {"file": path.name, "date_format": self.opts.date_format or "ISO 8601",
                      "separator": SEPARATOR_NAMES[parsed.separator]}
        if self.opts.skip_invalid:
            parameters["skip_invalid"] = True
        read = SourceRead(parameters=parameters, file_sha256=hashlib.sha256(data).hexdigest())
        read.invalid = [(line, f"line {line}", message) for line, message in parsed.errors]
        # the pipeline tags every timesheet `import`: a row's own `import` tag is dropped (not from its marker)
        read.entries = [replace(row, tags=tuple(t for t in row.tags if t != TAG)) if TAG in row.tags else row
                        for row in parsed.rows]
        if not parsed.rows and not parsed.errors:
            self.result.warnings.append(f"{path.name}: no rows below the header; nothing to import")
        return read

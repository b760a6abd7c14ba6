"""Logging: messages on stderr, a rotating log file, and no secret in either.

Every run also appends one summary line to the log file (`run_summary`), whatever LOG_LEVEL and
the verbosity say, so cron and systemd runs leave a trace even at LOG_LEVEL=ERROR."""

from __future__ import annotations

import base64
import errno
import logging
import logging.handlers
import os
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import quote, quote_plus

from . import progress
from .errors import ConfigError

if TYPE_CHECKING:
    from .config import Settings

LOGGER = "tracksync"
SUMMARY = f"{LOGGER}.summary"  # the run summary lines: log file only, never filtered by level


_secrets: list[str] = []  # the configured secret values, set by setup_logging


def secret_forms(secret: str) -> set[str]:
    """Every form a secret may take on its way out: as set, lower- and upper-cased, URL-encoded,
    and base64-encoded alone or as the user:password pair of a Basic header (Toggl sends
    `token:api_token`)."""
    forms = {secret, secret.lower(), secret.upper(), quote(secret, safe=""), quote_plus(secret)}
    for plain in (secret, f"{secret}:api_token"):
        encoded = base64.b64encode(plain.encode()).decode()
        forms.update({encoded, encoded.rstrip("=")})
    return {form for form in forms if len(form) >= 4}


def redact(text: str) -> str:
    """`text` with every configured secret, in any of its forms, replaced by ***: for anything the
    process prints or writes outside the logger (error lines, JSON error objects)."""
    for secret in _secrets:
        text = text.replace(secret, "***")
    return text


class RedactingStream:
    """stdout or stderr with every configured secret replaced by *** in what is written: tables,
    JSON, error lines and messages alike, whichever code printed them."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(redact(text) if isinstance(text, str) else text)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, flush, encoding, buffer, ...
        return getattr(self._stream, name)


def redact_standard_streams() -> None:
    """Route sys.stdout and sys.stderr through RedactingStream (once per stream)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingStream):
            setattr(sys, name, RedactingStream(stream))


class RedactSecrets(logging.Filter):
    """Replaces every configured secret value in a record's message with ***."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            for secret in self.secrets:
                text = text.replace(secret, "***")
            record.msg, record.args = text, None
        return True


class ZonedFormatter(logging.Formatter):
    """Times as ISO 8601 with the local offset (2026-11-27T15:03:12.345+01:00): a log line names
    its zone. The whole formatted record is redacted, the traceback included (an exception's
    text or a local in its frames may hold a token)."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


DEVICE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS)  # the disk, not the setting


class LogFile(logging.handlers.RotatingFileHandler):
    """The rotating log file. A write that fails (a full disk, a failing or read-only device)
    costs one warning line on stderr, never a traceback, and the run goes on without its log
    file: the log is a record of the run, not a reason to stop it."""

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            _drop_log_file(self, exc.strerror or str(exc))
        else:  # a log call whose message cannot be formatted (a bug): that line is lost, not the file
            _say(f"warning: a log line was lost ({type(exc).__name__}: {exc})")

    def shouldRollover(self, record: logging.LogRecord) -> int:
        try:
            return super().shouldRollover(record)
        except OSError as exc:
            _drop_log_file(self, exc.strerror or str(exc))
            return 0


def _drop_log_file(handler: logging.Handler, reason: str) -> None:
    """Detach a log file that cannot be written, with one warning line on stderr."""
    logger = logging.getLogger(LOGGER)
    if handler not in logger.handlers:
        return
    logger.removeHandler(handler)
    try:
        handler.close()
    except OSError:
        pass
    _warn_log_file(getattr(handler, "baseFilename", "the log file"), reason)


def _warn_log_file(name: str, reason: str) -> None:
    _say(f"warning: LOG_FILE {name} cannot be written ({reason}); carrying on without it")


def _say(line: str) -> None:
    """One line on stderr, redacted, outside the logger (which is what failed)."""
    try:
        progress.clear()
        sys.stderr.write(redact(" ".join(line.split())) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def stderr_level(verbose: int) -> int:
    """-1 (--quiet): errors only; 0: warnings; -v: info; -vv: debug."""
    return (
        logging.ERROR
        if verbose < 0
        else logging.WARNING
        if verbose == 0
        else logging.INFO
        if verbose == 1
        else logging.DEBUG
    )


def setup_logging(settings: Settings | None = None, verbose: int = 0, errors_only: bool = False) -> logging.Logger:
    """stderr by verbosity, and the log file by LOG_LEVEL (with every run's summary line).
    `errors_only` (a dry run whose log file does not exist yet): the file is made only if an
    error must be written, a crash's traceback say, and it gets no summary line."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.DEBUG)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    _secrets[:] = sorted(
        {form for s in (settings.secrets() if settings else []) if s and len(s) >= 4 for form in secret_forms(s)},
        key=len,
        reverse=True,
    )
    redact_filter = RedactSecrets(_secrets)
    if _secrets:
        redact_standard_streams()
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(stderr_level(verbose))
    stderr.setFormatter(logging.Formatter("%(message)s"))
    stderr.addFilter(redact_filter)
    stderr.addFilter(lambda record: record.exc_info is None)  # tracebacks go to the log file only
    stderr.addFilter(lambda record: record.name != SUMMARY)  # summaries go to the log file only
    stderr.addFilter(_clear_progress_line)
    logger.addHandler(stderr)
    if settings is not None and settings.log_file and errors_only:
        handler = LogFile(settings.log_file, maxBytes=1_000_000, backupCount=5, encoding="utf-8", delay=True)
        handler.setLevel(logging.ERROR)
        handler.addFilter(lambda record: record.name != SUMMARY)
        handler.setFormatter(ZonedFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        handler.addFilter(redact_filter)
        logger.addHandler(handler)
    elif settings is not None and settings.log_file:
        try:
            _check_writable(Path(settings.log_file))
            # made at its first line (a run's summary, a warning, an error), so a command with
            # nothing to record (a report, --help, a refused configuration) leaves no file behind
            handler = LogFile(settings.log_file, maxBytes=1_000_000, backupCount=5, encoding="utf-8", delay=True)
        except OSError as exc:
            if exc.errno not in DEVICE_ERRORS:  # a wrong path: a cron run would lose its summary line without a word
                raise ConfigError("LOG_FILE", f"cannot write {settings.log_file}: {exc.strerror or exc}") from None
            _warn_log_file(str(settings.log_file), exc.strerror or str(exc))
        else:
            level = (
                logging.getLevelName(settings.log_level) if isinstance(settings.log_level, str) else settings.log_level
            )
            handler.addFilter(lambda record: record.levelno >= level or record.name == SUMMARY)
            handler.setFormatter(ZonedFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
            handler.addFilter(redact_filter)
            logger.addHandler(handler)
    return logger


def _check_writable(path: Path) -> None:
    """Raise the OSError that writing the log file at `path` would meet, without creating it:
    its folder is made (a configured folder), an existing file is opened for appending."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        with path.open("a", encoding="utf-8"):
            pass
    elif os.statvfs(path.parent).f_flag & os.ST_RDONLY:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path.parent))
    elif not os.access(path.parent, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path.parent))


def _clear_progress_line(record: logging.LogRecord) -> bool:
    """A stderr filter that lets every record through: a message never lands on the progress line."""
    progress.clear()
    return True


def run_summary(text: str) -> None:
    """Append one summary line to the log file (whatever LOG_LEVEL says); never on stderr."""
    logging.getLogger(SUMMARY).info(text)

"""Logging: messages on stderr, a rotating log file, and no secret in either.

Every run also appends one summary line to the log file (`run_summary`), whatever LOG_LEVEL and
the verbosity say, so cron and systemd runs leave a trace even at LOG_LEVEL=ERROR."""

from __future__ import annotations

import base64
import logging
import logging.handlers
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


def add_secret(secret: str) -> None:
    """Redact one more secret from here on: a value the process obtained while running (an
    access token), not one of the configuration's. The standard streams are already redacting
    when a secret was configured (the one this value was obtained with)."""
    if secret and len(secret) >= 4:
        _secrets[:] = sorted(set(_secrets) | secret_forms(secret), key=len, reverse=True)


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
        handler = logging.handlers.RotatingFileHandler(
            settings.log_file, maxBytes=1_000_000, backupCount=5, encoding="utf-8", delay=True
        )
        handler.setLevel(logging.ERROR)
        handler.addFilter(lambda record: record.name != SUMMARY)
        handler.setFormatter(ZonedFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        handler.addFilter(redact_filter)
        logger.addHandler(handler)
    elif settings is not None and settings.log_file:
        try:
            Path(settings.log_file).parent.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(
                settings.log_file, maxBytes=1_000_000, backupCount=5, encoding="utf-8"
            )
        except OSError as exc:  # a cron run would lose its summary line without a word: refuse instead
            raise ConfigError("LOG_FILE", f"cannot write {settings.log_file}: {exc.strerror or exc}") from None
        else:
            level = (
                logging.getLevelName(settings.log_level) if isinstance(settings.log_level, str) else settings.log_level
            )
            handler.addFilter(lambda record: record.levelno >= level or record.name == SUMMARY)
            handler.setFormatter(ZonedFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
            handler.addFilter(redact_filter)
            logger.addHandler(handler)
    return logger


def _clear_progress_line(record: logging.LogRecord) -> bool:
    """A stderr filter that lets every record through: a message never lands on the progress line."""
    progress.clear()
    return True


def run_summary(text: str) -> None:
    """Append one summary line to the log file (whatever LOG_LEVEL says); never on stderr."""
    logging.getLogger(SUMMARY).info(text)

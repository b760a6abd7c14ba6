"""Logging: messages on stderr, a rotating log file, and no secret in either.

Every run also appends one summary line to the log file (`run_summary`), whatever LOG_LEVEL and
the verbosity say, so cron and systemd runs leave a trace even at LOG_LEVEL=ERROR."""

from __future__ import annotations

import base64
import errno
import html
import logging
import logging.handlers
import os
import re
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


_secrets: list[str] = []  # the secret values to redact: the configured ones (setup_logging) and add_secret's


B64_CORE_MIN = 8  # base64 characters: a shorter run could match ordinary text
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")


def secret_forms(secret: str) -> set[str]:
    """Every form a secret may take on its way out: as set, lower- and upper-cased, URL-encoded
    (once or twice, hex digits in either case), JSON- and HTML-escaped, and base64-encoded (also
    URL-safe), alone or anywhere inside encoded text: a Basic header's `user:token` (Toggl sends
    `token:api_token`), a whole `Bearer token` header encoded by a server that echoes it. Matching
    is case-insensitive besides (`redact`), so any mix of cases is caught too."""
    forms = set()
    for variant in (secret, secret.lower(), secret.upper()):
        forms.update({variant, variant.replace("/", "\\/"), html.escape(variant)})
        for encoded in (quote(variant, safe=""), quote_plus(variant), quote(variant)):
            forms.update({encoded, encoded.lower(), encoded.upper(), quote(encoded, safe="")})
    for plain in (secret, f"{secret}:api_token"):
        encoded = base64.b64encode(plain.encode()).decode()
        forms.update({encoded, encoded.rstrip("="), base64.urlsafe_b64encode(plain.encode()).decode().rstrip("=")})
    forms.update(_base64_cores(secret))
    return {form for form in forms if len(form) >= 4}


def _base64_cores(secret: str) -> set[str]:
    """The characters that encode `secret` in any base64 text holding it, whatever comes before
    or after it: for each of the three alignments of its first byte in a 3-byte group, the run of
    whole groups made of its bytes only (standard and URL-safe alphabets)."""
    data = secret.encode()
    cores = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode()
        core = encoded[4 if offset else 0 : (offset + len(data)) // 3 * 4]
        if len(core) >= B64_CORE_MIN:
            cores.update({core, core.replace("+", "-").replace("/", "_")})
    return cores


class Redactor:
    """Masks every form (`secret_forms`) of some secrets in a text, in any case, with ***: one
    pass of str.find per form over the lower-cased text (linear, however long the text), and a
    base64 form masked with the whole base64 word around it, so not even its edge bits survive."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        kept = [s for s in secrets if s and len(s) >= 4]
        self.cores = {core.lower() for s in kept for core in _base64_cores(s)}
        self.forms = sorted({form.lower() for s in kept for form in secret_forms(s)}, key=len, reverse=True)
        alternatives = "|".join(re.escape(form) for form in self.forms)
        self._fallback = re.compile(alternatives, re.IGNORECASE) if self.forms else None

    def __bool__(self) -> bool:
        return bool(self.forms)

    def sub(self, text: str) -> str:
        if not self.forms or not text:
            return text
        low = text.lower()
        if len(low) != len(text):  # a character whose lower case is longer: positions differ
            return self._fallback.sub("***", text) if self._fallback else text
        spans = []
        for form in self.forms:
            at = low.find(form)
            while at != -1:
                start, end = at, at + len(form)
                if form in self.cores:
                    while start and text[start - 1] in _BASE64_CHARS:
                        start -= 1
                    while end < len(text) and (text[end] in _BASE64_CHARS or text[end] == "="):
                        end += 1
                spans.append((start, end))
                at = low.find(form, at + len(form))
        if not spans:
            return text
        spans.sort()
        out, last = [], -1
        for start, end in spans:
            if start <= last:  # overlaps or touches the span before: one mask for both
                last = max(last, end)
                continue
            out.append(text[max(last, 0) : start] + "***")
            last = end
        out.append(text[last:])
        return "".join(out)


_redactor = Redactor(())  # the configured secrets' (setup_logging)


def redact_secrets(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every form of the given secrets replaced by *** (for code that holds its
    secrets itself: backups, GDPR archives, diagnose)."""
    return Redactor(secrets).sub(text)


def add_secret(secret: str) -> None:
    """Redact one more secret from here on: a value the process obtained while running (an
    access token), not one of the configuration's. The standard streams are already redacting
    when a secret was configured (the one this value was obtained with)."""
    global _redactor
    if secret and len(secret) >= 4 and secret not in _secrets:
        _secrets.append(secret)
        _redactor = Redactor(_secrets)


def redact(text: str) -> str:
    """`text` with every configured secret, in any of its forms, replaced by ***: for anything the
    process prints or writes outside the logger (error lines, JSON error objects, the store)."""
    return _redactor.sub(text)


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
    """Replaces every secret value in a record's message with ***: the given ones, or (None) the
    process's, as `redact` masks them (the configured secrets and those added while running)."""

    def __init__(self, secrets: Iterable[str | None] | None) -> None:
        super().__init__()
        self.redactor = None if secrets is None else Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = _redactor if self.redactor is None else self.redactor
        if redactor:
            record.msg, record.args = redactor.sub(record.getMessage()), None
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
    global _redactor
    configured = [s for s in (settings.secrets() if settings else []) if s and len(s) >= 4]
    _secrets[:] = configured
    _redactor = Redactor(configured)
    redact_filter = RedactSecrets(None)
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

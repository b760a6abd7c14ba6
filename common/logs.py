"""Logging: messages on stderr, a rotating log file, and no secret in either."""
import logging
import logging.handlers
import sys
from pathlib import Path

LOGGER = "tracksync"


class RedactSecrets(logging.Filter):
    """Replaces every configured secret value in a record's final text with ***."""

    def __init__(self, secrets):
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def filter(self, record):
        if self.secrets:
            text = record.getMessage()
            for secret in self.secrets:
                text = text.replace(secret, "***")
            record.msg, record.args = text, None
        return True


def setup_logging(settings=None, verbose=0):
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.DEBUG)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    redact = RedactSecrets(settings.secrets() if settings else [])
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    stderr.setFormatter(logging.Formatter("%(message)s"))
    stderr.addFilter(redact)
    stderr.addFilter(lambda record: record.exc_info is None)  # tracebacks go to the log file only
    logger.addHandler(stderr)
    if settings is not None and settings.log_file:
        try:
            Path(settings.log_file).parent.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(settings.log_file, maxBytes=1_000_000, backupCount=5, encoding="utf-8")
        except OSError as exc:
            logger.warning("cannot write log file %s: %s", settings.log_file, exc.strerror)
        else:
            handler.setLevel(settings.log_level)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
            handler.addFilter(redact)
            logger.addHandler(handler)
    return logger

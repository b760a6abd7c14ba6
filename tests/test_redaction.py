"""Every redaction of what leaves the process, tested directly: the log filter (stderr and the log
file), the diagnose checks (`checks.redact`), addresses with a password (`mask_url_credentials`),
the env file in a backup (`backup.redact_env`) and the GDPR archive's members
(`gdpr.build_members`). Making any of them a no-op fails a test here."""

import json
import logging
from pathlib import Path

import pytest

from common.config import KEYS, SECRET_KEYS, Settings
from common.logs import LOGGER, RedactSecrets, setup_logging
from common.ops.backup import redact_env
from common.ops.connection import mask_url_credentials
from common.ops.diagnose_checks import Check, redact
from common.reports.gdpr import build_members

KIMAI = "kimai-SECRET-7f3a9c"
ZAMMAD = "zammad-SECRET-0b1d2e"
SHORT = "abc"  # too short to be masked without mangling ordinary words


def settings(tmp_path, **values):
    base = {name: key.default for name, key in KEYS.items()}
    base.update(
        KIMAI_URL="https://kimai.example.com",
        KIMAI_TOKEN=KIMAI,
        ZAMMAD_TOKEN=ZAMMAD,
        LOG_FILE=str(tmp_path / "tracksync.log"),
        LOG_LEVEL="DEBUG",
    )
    base.update(values)
    return Settings(base)


def record(msg, *args, exc_info=None):
    return logging.LogRecord("tracksync.test", logging.WARNING, __file__, 1, msg, args, exc_info)


# --- the log filter ---------------------------------------------------------------------------


def test_the_filter_masks_every_secret_in_the_message_and_its_arguments():
    entry = record("token %s refused, also %s; again " + KIMAI, KIMAI, ZAMMAD)
    assert RedactSecrets([KIMAI, ZAMMAD]).filter(entry) is True  # masked, never dropped
    assert entry.getMessage() == "token *** refused, also ***; again ***"


def test_the_filter_leaves_messages_alone_without_secrets_and_ignores_short_values():
    entry = record("a %s b", "abc")
    RedactSecrets([SHORT, "", None]).filter(entry)
    assert entry.getMessage() == "a abc b"


def test_the_settings_name_every_configured_secret():
    found = settings(Path("/tmp"), HARVEST_TOKEN="harvest-SECRET-1").secrets()
    assert sorted(found) == sorted([KIMAI, ZAMMAD, "harvest-SECRET-1"])
    assert {"KIMAI_TOKEN", "ZAMMAD_TOKEN", "ZAMMAD_WEBHOOK_SECRET", "HARVEST_TOKEN", "TOGGL_TOKEN"} <= set(SECRET_KEYS)


@pytest.fixture
def logged(tmp_path, capsys):
    """Log through the real set-up (made in the test itself, where stderr is captured); returns
    (logger, a function giving stderr and the log file's text)."""
    logger = logging.getLogger(LOGGER)

    def start(verbose=2):
        setup_logging(settings(tmp_path), verbose=verbose)

        def read():
            for handler in logger.handlers:
                handler.flush()
            return capsys.readouterr().err, (tmp_path / "tracksync.log").read_text("utf-8")

        return logging.getLogger(f"{LOGGER}.test"), read

    yield start
    for handler in list(logger.handlers):  # close the file handler, leave no handler on a captured stream
        logger.removeHandler(handler)
        handler.close()


def test_stderr_and_the_log_file_never_show_a_secret(logged):
    log, read = logged()
    log.warning("calling https://kimai.example.com with Bearer %s", KIMAI)
    log.debug("zammad header: Token token=%s", ZAMMAD)
    err, text = read()
    for output in (err, text):
        assert KIMAI not in output and ZAMMAD not in output
        assert "Bearer ***" in output and "Token token=***" in output


def test_the_log_file_alone_never_shows_a_secret(logged):
    """A debug message is for the log file only (stderr shows warnings): the file's own filter masks it."""
    log, read = logged(verbose=0)
    log.debug("kimai header: Bearer %s", KIMAI)
    err, text = read()
    assert err == ""
    assert "kimai header: Bearer ***" in text and KIMAI not in text


def test_a_traceback_in_the_log_file_shows_no_secret(logged):
    log, read = logged()
    try:
        raise RuntimeError(f"refused token {KIMAI}")
    except RuntimeError:
        log.error("unexpected error", exc_info=True)
    err, text = read()
    assert "RuntimeError" in text and "Traceback" in text
    assert KIMAI not in text


# --- diagnose: the checks -------------------------------------------------------------------


def test_diagnose_checks_lose_every_secret_and_address_password():
    checks = [
        Check(
            "api",
            "kimai",
            "FAIL",
            f"token {KIMAI} refused by https://bob:pa55word@kimai.example.com/api",
            f"check KIMAI_TOKEN ({KIMAI}) and ZAMMAD_TOKEN ({ZAMMAD})",
        ),
        Check("config", "short", "OK", "value abc kept", ""),
    ]
    assert redact(checks, [KIMAI, ZAMMAD, SHORT]) is checks
    assert checks[0].detail == "token *** refused by https://***@kimai.example.com/api"
    assert checks[0].hint == "check KIMAI_TOKEN (***) and ZAMMAD_TOKEN (***)"
    assert checks[1].detail == "value abc kept"
    assert KIMAI not in json.dumps([c.as_dict() for c in checks])


def test_an_address_with_user_and_password_is_masked_wherever_it_appears():
    assert (
        mask_url_credentials("see https://bob:pa55word@git.example.com/api and http://tok@h")
        == "see https://***@git.example.com/api and http://***@h"
    )
    assert (
        mask_url_credentials("https://git.example.com/user@host is a path")
        == "https://git.example.com/user@host is a path"
    )


# --- backup --include-config: the env file -----------------------------------------------------

ENV_TEXT = f"""# tracksync
KIMAI_URL=https://kimai.example.com
KIMAI_TOKEN={KIMAI}
ZAMMAD_TOKEN="{ZAMMAD}"
GITEA_URL=https://bot:pa55word@git.example.com
# KIMAI_TOKEN=old-SECRET-value
MY_API_KEY=custom-SECRET-42
LOG_LEVEL=DEBUG
ZAMMAD_PROJECT=uses {KIMAI} by mistake
"""


def test_the_env_file_in_a_backup_keeps_its_keys_and_loses_every_secret():
    text = redact_env(ENV_TEXT, [KIMAI, ZAMMAD])
    for secret in (KIMAI, ZAMMAD, "pa55word", "old-SECRET-value", "custom-SECRET-42"):
        assert secret not in text, secret
    lines = text.splitlines()
    assert "KIMAI_TOKEN=  # removed from the backup" in lines
    assert "ZAMMAD_TOKEN=  # removed from the backup" in lines
    assert "MY_API_KEY=  # removed from the backup" in lines
    assert "# a commented-out secret was removed" in lines
    assert "GITEA_URL=https://bot:***@git.example.com" in lines
    assert "ZAMMAD_PROJECT=uses *** by mistake" in lines
    assert {"# tracksync", "KIMAI_URL=https://kimai.example.com", "LOG_LEVEL=DEBUG"} <= set(lines)


# --- report gdpr: the archive's members --------------------------------------------------------


def test_the_gdpr_archive_members_lose_every_secret():
    kinds = {
        "timesheets": [{"id": 1, "description": f"pasted {KIMAI} here", "user": 4}],
        "store_links": [{"source_key": "zammad:ticket/1/time/2", "data": f"token={ZAMMAD}"}],
    }
    members, manifest = build_members(kinds, {}, "person@example.com", True, [KIMAI, ZAMMAD])
    everything = b"\n".join(members.values()).decode("utf-8")
    assert KIMAI not in everything and ZAMMAD not in everything
    assert (
        "pasted *** here" in members["timesheets.json"].decode() and "token=***" in members["store_links.csv"].decode()
    )
    assert set(members) >= {"timesheets.json", "timesheets.csv", "store_links.json", "store_links.csv"}


@pytest.mark.parametrize("args", [("cache", "status"), ("cache", "status", "--json")])
def test_whatever_a_script_prints_carries_no_secret(tmp_path, args):
    """stdout and stderr themselves are redacted: a table or JSON document quoting a value that
    happens to hold a token (here a folder named after it) shows *** instead."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env_file = tmp_path / "t.env"
    env_file.write_text(f"KIMAI_URL=http://127.0.0.1:9\nKIMAI_TOKEN={KIMAI}\nCACHE_DIR={tmp_path / KIMAI}\n")
    proc = subprocess.run(
        [sys.executable, str(root / "sync.py"), *args, "--env-file", str(env_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert KIMAI not in proc.stdout + proc.stderr
    assert "***" in proc.stdout


def test_every_form_of_a_secret_is_redacted(tmp_path):
    """A server may echo the token lower-cased, URL-encoded, or inside a Basic header."""
    import base64
    from urllib.parse import quote

    from common.logs import redact

    token = "Tok/en+Secret=42"
    setup_logging(settings(tmp_path, TOGGL_TOKEN=token))
    basic = base64.b64encode(f"{token}:api_token".encode()).decode()
    for form in (
        token,
        token.lower(),
        token.upper(),
        quote(token, safe=""),
        basic,
        base64.b64encode(token.encode()).decode(),
    ):
        assert redact(f"server said: {form}!") == "server said: ***!", form

"""The exit-1 path: an exception nobody expected inside a command (a bug) ends it with exit 1, one
line on stderr naming the exception and pointing to the log file, no traceback on stderr, the
traceback in LOG_FILE, and no configured secret in either. Run in-process with click's CliRunner;
the failure is injected by replacing the one method every request of every service goes through
(`ServiceSession.request`), or the report's store query."""

import json

import pytest
from click.testing import CliRunner

import report
import sync
from common.config import KEYS
from common.http import ServiceSession
from common.reports import runs as reports
from common.store import Store

GITEA, KIMAI = "gitea-SECRET-5e6f7a", "kimai-SECRET-1a2b3c"
LINE = "unexpected error: RuntimeError: {} (traceback in the log file)"


@pytest.fixture
def env_file(tmp_path, monkeypatch):
    for name in [*KEYS, "SYNC_ENV_FILE"]:
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "test.env"
    path.write_text(
        f"GITEA_URL=http://127.0.0.1:9\nGITEA_TOKEN={GITEA}\nGITEA_ORGANIZATION=acme\n"
        f"KIMAI_URL=http://127.0.0.1:9\nKIMAI_TOKEN={KIMAI}\nSYNC_JOBS=gitea-kimai\n"
        f"DATABASE_PATH={tmp_path / 'sync.db'}\nLOG_FILE={tmp_path / 'tracksync.log'}\nLOG_LEVEL=INFO\n"
        f"CACHE_ENABLED=false\nHTTP_TIMEOUT=2\n"
    )
    path.chmod(0o600)
    yield path
    import logging

    logger = logging.getLogger("tracksync")
    for handler in list(logger.handlers):  # close the log file, leave no handler on CliRunner's streams
        logger.removeHandler(handler)
        handler.close()


def fail_with(monkeypatch, message):
    def broken(self, *args, **kwargs):
        raise RuntimeError(message)

    monkeypatch.setattr(ServiceSession, "request", broken)


def invoke(command, *args):
    return CliRunner().invoke(command, list(args), catch_exceptions=False)


def log_text(env_file):
    return (env_file.parent / "tracksync.log").read_text("utf-8")


def assert_exit_1(result, env_file, message):
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert result.stderr.splitlines() == [LINE.format(message)]
    assert "Traceback" not in result.stderr
    log = log_text(env_file)
    assert "unexpected error" in log and "Traceback (most recent call last)" in log
    assert f"RuntimeError: {message}" in log and "in broken" in log  # the frame that raised
    return log


@pytest.mark.parametrize("args", [(), ("gitea-kimai",), ("gitea-kimai", "--dry-run")])
def test_a_bug_inside_a_sync_job_is_exit_1_with_one_line_and_the_traceback_in_the_log(monkeypatch, env_file, args):
    fail_with(monkeypatch, "boom")
    result = invoke(sync.cli, *args, "--env-file", str(env_file))
    log = assert_exit_1(result, env_file, "boom")
    assert result.stdout == ""
    for secret in (GITEA, KIMAI):
        assert secret not in result.stdout + result.stderr and secret not in log


def test_a_bug_inside_a_sync_job_is_recorded_on_its_run(monkeypatch, env_file):
    fail_with(monkeypatch, "boom")
    invoke(sync.cli, "--env-file", str(env_file))
    with Store(str(env_file.parent / "sync.db")) as store:
        [run] = store.runs()
    assert (run["job"], run["status"], run["exit_code"]) == ("gitea-kimai", "failed", 1)
    assert "unexpected error (traceback in the log file)" in run.values()


def test_under_json_the_bug_is_also_a_json_error_on_stdout(monkeypatch, env_file):
    fail_with(monkeypatch, "boom")
    result = invoke(sync.cli, "--json", "--env-file", str(env_file))
    assert_exit_1(result, env_file, "boom")
    assert json.loads(result.stdout) == {"error": LINE.format("boom").removeprefix("error: "), "exit_code": 1}


def test_a_bug_inside_a_report_is_exit_1_with_one_line_and_the_traceback_in_the_log(monkeypatch, env_file):
    with Store(str(env_file.parent / "sync.db")):
        pass

    def broken(*args, **kwargs):
        raise RuntimeError("no such column")

    monkeypatch.setattr(reports, "status", broken)
    result = invoke(report.cli, "--env-file", str(env_file))
    assert_exit_1(result, env_file, "no such column")
    assert result.stdout == ""


def test_a_secret_in_the_exception_never_reaches_stderr(monkeypatch, env_file):
    fail_with(monkeypatch, f"refused Bearer {KIMAI}")
    result = invoke(sync.cli, "--env-file", str(env_file))
    assert result.exit_code == 1
    assert KIMAI not in result.stderr
    assert result.stderr.splitlines() == [LINE.format("refused Bearer ***")]


def test_a_secret_in_the_exception_never_reaches_the_log_file(monkeypatch, env_file):
    fail_with(monkeypatch, f"refused Bearer {KIMAI}")
    result = invoke(sync.cli, "--env-file", str(env_file))
    assert result.exit_code == 1
    log = log_text(env_file)
    assert "Traceback (most recent call last)" in log
    assert KIMAI not in log

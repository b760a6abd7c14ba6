"""common.cli.command and common.cli.group, in-process with click's CliRunner: one function per
command gets --env-file/--json, the settings, the examples and exit codes in its help, and the
error handling every script shares (one line, its exit code, the JSON error object under --json)."""

import json
import logging

import click
import pytest
from click.testing import CliRunner

from common import cli as common_cli
from common.cli import command, group
from common.config import KEYS
from common.errors import DataError, TemporaryError

TOKEN = "kimai-SECRET-4d5e6f"


@pytest.fixture
def env_file(tmp_path, monkeypatch):
    for name in [*KEYS, "SYNC_ENV_FILE"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no ./.env of the checkout is read
    path = tmp_path / "test.env"
    path.write_text(
        f"KIMAI_URL=http://127.0.0.1:9\nKIMAI_TOKEN={TOKEN}\nDATABASE_PATH={tmp_path / 'sync.db'}\n"
        f"LOG_FILE={tmp_path / 'tracksync.log'}\n"
    )
    path.chmod(0o600)
    yield path
    logger = logging.getLogger("tracksync")
    for handler in list(logger.handlers):  # close the log file, leave no handler on CliRunner's streams
        logger.removeHandler(handler)
        handler.close()


def make_script():
    """A script shaped like report.py: a group whose bare call runs `show`, and a few commands."""
    seen = {}

    @group(examples=["python demo.py", "python demo.py --json show"], default="show")
    def cli():
        """A demo script."""

    @command(cli, "show", examples=["python demo.py show", "python demo.py show --json --limit 3"])
    @click.option("--limit", type=int, default=5, help="at most N")
    def show(settings, as_json, limit):
        """Show the store's path."""
        seen.update(settings=settings, as_json=as_json, limit=limit)
        click.echo(json.dumps({"db": settings.database_path}) if as_json else settings.database_path)

    @command(cli, "fail", examples=["python demo.py fail"])
    @click.option("--code", type=click.Choice(["65", "75", "1", "141"]), default="65")
    def fail(settings, as_json, code):
        """Fail as told."""
        if code == "141":
            raise BrokenPipeError
        raise {
            "65": DataError(f"row 3 unreadable (token {TOKEN})"),
            "75": TemporaryError("lock held"),
            "1": RuntimeError("bug"),
        }[code]

    @command(cli, "count", json=False)
    @click.argument("n", type=int)
    def count(settings, n):
        """Exit with N."""
        return n

    @command(cli, "path", settings=False)
    def path(env_file, as_json):
        """The env file given, not loaded."""
        seen.update(env_file=env_file)

    return cli, seen


def invoke(cli, *args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_the_body_gets_its_options_and_the_settings_of_the_env_file(env_file):
    cli, seen = make_script()
    result = invoke(cli, "show", "--limit", "2", "--env-file", str(env_file))
    assert result.exit_code == 0, result.output
    assert seen["limit"] == 2 and seen["as_json"] is False
    assert result.stdout.strip() == str(env_file.parent / "sync.db")


@pytest.mark.parametrize(
    "args",
    [
        ("--json", "--env-file", "{env}", "show"),
        ("--env-file", "{env}", "show", "--json"),
        ("--json", "show", "--env-file", "{env}"),
    ],
)
def test_env_file_and_json_work_before_or_after_the_subcommand(env_file, args):
    cli, seen = make_script()
    result = invoke(cli, *[a.format(env=env_file) for a in args])
    assert result.exit_code == 0, result.output
    assert seen["as_json"] is True and json.loads(result.stdout) == {"db": str(env_file.parent / "sync.db")}


def test_the_bare_group_runs_its_default_command_with_the_groups_options(env_file):
    cli, seen = make_script()
    result = invoke(cli, "--json", "--env-file", str(env_file))
    assert result.exit_code == 0, result.output
    assert seen == {"settings": seen["settings"], "as_json": True, "limit": 5}


@pytest.mark.parametrize("code", [65, 75, 1])
def test_an_error_is_one_line_on_stderr_and_its_exit_code(env_file, code):
    cli, _ = make_script()
    result = invoke(cli, "fail", "--code", str(code), "--env-file", str(env_file))
    assert result.exit_code == code and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr and TOKEN not in result.stderr


def test_under_json_an_error_is_also_a_json_object_on_stdout_with_the_secret_redacted(env_file):
    cli, _ = make_script()
    result = invoke(cli, "--json", "fail", "--env-file", str(env_file))
    assert result.exit_code == 65
    assert json.loads(result.stdout) == {"error": "row 3 unreadable (token ***)", "exit_code": 65}
    assert result.stderr.splitlines() == ["error: row 3 unreadable (token ***)"]


def test_a_bad_env_file_is_a_configuration_error_of_the_command(env_file):
    env_file.write_text(env_file.read_text() + "HTTP_TIMEOUT=soon\n")
    cli, _ = make_script()
    result = invoke(cli, "show", "--json", "--env-file", str(env_file))
    assert result.exit_code == 78 and json.loads(result.stdout)["exit_code"] == 78
    assert "HTTP_TIMEOUT" in result.stderr and len(result.stderr.splitlines()) == 1


def test_a_closed_stdout_ends_the_command_with_141(env_file):
    cli, _ = make_script()
    result = invoke(cli, "fail", "--code", "141", "--env-file", str(env_file))
    assert result.exit_code == 141 and result.stderr == ""


def test_the_return_value_is_the_exit_code_and_a_command_without_json_has_no_json_option(env_file):
    cli, _ = make_script()
    assert invoke(cli, "count", "3", "--env-file", str(env_file)).exit_code == 3
    assert invoke(cli, "count", "3", "--json").exit_code == 2  # a usage error: count has no --json


def test_settings_false_hands_over_the_env_file_without_loading_it(tmp_path, monkeypatch):
    monkeypatch.delenv("SYNC_ENV_FILE", raising=False)
    missing = tmp_path / "nowhere.env"
    cli, seen = make_script()
    result = invoke(cli, "--env-file", str(missing), "path")
    assert result.exit_code == 0, result.output
    assert seen["env_file"] == str(missing)


def test_help_lists_own_options_first_then_the_shared_ones_then_examples_and_exit_codes():
    cli, _ = make_script()
    text = invoke(cli, "show", "--help").stdout
    assert "Show the store's path." in text
    assert text.index("--limit") < text.index("--env-file") < text.index("--json") < text.index("Examples:")
    assert "python demo.py show --json --limit 3" in text
    assert text.rstrip().splitlines()[-1].strip().startswith("78")
    group_text = invoke(cli, "-h").stdout
    assert "--version" in group_text and "python demo.py --json show" in group_text


def test_a_top_level_command_has_version_and_verbose(env_file, monkeypatch):
    levels = []
    monkeypatch.setattr(common_cli, "load", lambda env, verbose=0: levels.append((env, verbose)))

    @command(examples=["python one.py -v"], verbose=True)
    def one(settings, as_json):
        """One command."""

    assert invoke(one, "-vv", "--env-file", "x.env").exit_code == 0
    assert levels == [("x.env", 2)]
    result = invoke(one, "--version")
    assert result.exit_code == 0 and "version" in result.stdout

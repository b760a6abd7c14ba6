"""--version and --help of report.py, backup.py, diagnose.py and test_connection.py: every help
(group and each subcommand) ends its text with two or three examples that the command line really
accepts, each naming the command whose help shows it. The helps are read in-process (CliRunner);
--version runs the real scripts."""

import importlib
import re
import shlex
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner
from ops_helpers import ROOT, clean_environ

from common import __version__

SCRIPTS = ("report.py", "backup.py", "diagnose.py", "test_connection.py")


def script_cli(script):
    return importlib.import_module(script.removesuffix(".py")).cli


def script_help(*args):
    result = CliRunner().invoke(script_cli(args[0]), [*args[1:], "--help"], prog_name=args[0])
    assert result.exit_code == 0, result.output
    return result.stdout


def commands():
    """Each script, and each visible subcommand of a script that has them."""
    found = []
    for script in SCRIPTS:
        subcommands = getattr(script_cli(script), "commands", {})
        found += [(script,)] + [(script, name) for name, command in subcommands.items() if not command.hidden]
    return found


def examples(text):
    block = re.search(r"Examples:\n((?:  +\S.*\n)+)", text)
    assert block, text
    return [line.strip() for line in block.group(1).splitlines()]


def parses(line):
    """The example's arguments pass the script's own click parser (options, choices, types);
    returns (script, the subcommand it runs or None)."""
    words = shlex.split(line)
    assert words[0] == "python" and words[1] in SCRIPTS, line
    cli = script_cli(words[1])
    ctx = cli.make_context(words[1], words[2:])
    rest = [*getattr(ctx, "_protected_args", []), *ctx.args]  # what the group left for its subcommand
    if isinstance(cli, click.Group) and rest:
        name, command, rest = cli.resolve_command(ctx, rest)
        command.make_context(name, rest, parent=ctx)
        return words[1], name
    return words[1], None


@pytest.mark.parametrize("args", commands(), ids=" ".join)
def test_every_help_ends_with_real_examples(args):
    text = script_help(*args)
    found = examples(text)
    assert 2 <= len(found) <= 3, found
    assert text.index("Examples:") > text.index("Options:")  # after everything else but the exit codes
    assert text.rstrip().splitlines()[-1].strip().startswith("78")  # then the exit code table closes it
    for line in found:
        script, name = parses(line)
        assert script == args[0], f"{line}: an example of another script"
        if len(args) > 1:
            assert name == args[1], f"{line}: an example of another command"


@pytest.mark.parametrize("script", SCRIPTS)
def test_version(script):
    proc = subprocess.run(
        [sys.executable, str(ROOT / script), "--version"],
        capture_output=True,
        text=True,
        env=clean_environ(),
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == f"{script}, version {__version__}", proc.stdout + proc.stderr

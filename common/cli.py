"""What every script shares: loading settings and logging, one-line errors with exit codes,
tables for people and JSON for machines."""

import atexit
import functools
import inspect
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any, NoReturn, TypeVar

import click
from tabulate import tabulate

from . import __version__, progress
from .config import Settings, load_settings
from .errors import IO_ERROR, UNEXPECTED, Interrupted, SyncError, exit_codes_help
from .logs import DEVICE_ERRORS, LOGGER, redact, setup_logging

log = logging.getLogger(LOGGER)

F = TypeVar("F", bound=Callable[..., Any])


def env_file_option(f: F) -> F:
    return click.option(
        "--env-file",
        type=click.Path(dir_okay=False),
        default=None,
        help="env file to read (default: $SYNC_ENV_FILE or ./.env)",
    )(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, default=False, help="machine-readable JSON on stdout")(f)


def verbose_option(f: F) -> F:
    return click.option("-v", "--verbose", count=True, help="more messages on stderr (-vv for debug)")(f)


CLOSED_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `cat`, `git log` or `yes` cut off by `| head`


def script(f: Callable[..., int | None]) -> Callable[..., NoReturn]:
    """Run a click command body, turning every SyncError into one line on stderr and its exit
    code, and any other exception into exit 1 with the traceback in the log file only.

    Under --json (a parameter `as_json`, or an `options` dict holding it) the error is also a
    JSON object on stdout: {"error": "<one line>", "exit_code": N}, and no progress line is drawn
    (nor with `quiet`). A closed stdout (`| head`) ends the command quietly with exit 141."""
    signature = inspect.signature(f)

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> NoReturn:
        as_json, quiet = _flags(signature, args, kwargs)
        run_body(lambda: f(*args, **kwargs), as_json, quiet)

    return wrapper


class Terminated(BaseException):
    """SIGTERM outside a job run (a report, a backup, a restore): raised where the command is, so
    its clean-ups run (temporary files and folders removed, transactions rolled back). A job
    run replaces this with its polite stop (jobs.install_stop_handlers) while it runs."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def _stop_on_sigterm() -> None:
    """SIGTERM becomes Terminated (main thread only, and only over the default action)."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)


def run_body(body: Callable[[], int | None], as_json: bool = False, quiet: bool = False) -> NoReturn:
    """Call `body()` and exit with its return value (0 for None), as `script` describes.
    Every file the command creates (store, log, cache, exports, backups) is owner-only. SIGTERM
    ends the command with its clean-ups done and exit 75; a file that cannot be written because
    its disk is full or failing is one line naming it and exit 74, whichever code met it."""
    os.umask(0o077)
    _stop_on_sigterm()
    if as_json or quiet:
        progress.enable(False)
    try:
        code = body()
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
    except BrokenPipeError:
        _stdout_to_devnull()
        sys.exit(CLOSED_PIPE)
    except SyncError as exc:
        log.debug("stopped", exc_info=True)
        _fail(f"error: {exc}", exc.exit_code, as_json)
    except Terminated:
        _fail("error: stopped by a signal (SIGTERM); nothing was left half-written", Interrupted.exit_code, as_json)
    except KeyboardInterrupt:
        _fail("interrupted", 130, as_json)
    except (click.exceptions.Exit, click.ClickException, SystemExit):
        raise
    except OSError as exc:
        if exc.errno not in DEVICE_ERRORS:
            _unexpected(exc, as_json)
        log.error("cannot write", exc_info=True)
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(f"error: {where}cannot be written ({exc.strerror or exc}); free space on its disk", IO_ERROR, as_json)
    except Exception as exc:  # a bug: keep the traceback out of the user's face
        _unexpected(exc, as_json)
    sys.exit(code or 0)


def _unexpected(exc: Exception, as_json: bool) -> NoReturn:
    """A bug: exit 1, one line on stderr, the traceback in the log file only."""
    log.error("unexpected error", exc_info=True)
    _fail(f"unexpected error: {exc.__class__.__name__}: {exc} (traceback in the log file)", UNEXPECTED, as_json)


def _flags(signature: inspect.Signature, args: tuple, kwargs: dict) -> tuple[bool, bool]:
    """(as_json, quiet) of one call of a wrapped command body."""
    try:
        values = signature.bind_partial(*args, **kwargs).arguments
    except TypeError:
        return False, False
    given = values.get("options")
    options = given if isinstance(given, dict) else {}
    as_json, quiet = (bool(values.get(name) or options.get(name)) for name in ("as_json", "quiet"))
    return as_json, quiet


def _fail(line: str, code: int, as_json: bool) -> NoReturn:
    """One line on stderr (and the JSON error object on stdout under --json), then exit `code`.
    The line is redacted: an exception's text may quote a token (a server echoing credentials)."""
    line = redact(line)
    try:
        click.echo(line, err=True)
        if as_json:
            text = " ".join(line.removeprefix("error: ").split())
            emit_json({"error": text, "exit_code": code})
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_to_devnull()
    sys.exit(code)


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null so the interpreter's last flush has nowhere to fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


@atexit.register
def _quiet_closed_stdout() -> None:
    """Output written outside `script` (click's --help, a usage error) meets a closed pipe at the
    interpreter's final flush: end quietly there too instead of 'Exception ignored ...'."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_to_devnull()
    except (OSError, ValueError):
        pass


def _json_usage_errors(show: Callable[..., None]) -> Callable[..., None]:
    """click's usual message for a usage error (exit 2), plus the JSON error object on stdout
    when --json was given on the command line."""

    @functools.wraps(show)
    def wrapper(self: click.exceptions.UsageError, file: IO[Any] | None = None) -> None:
        show(self, file)
        args = sys.argv[1:]
        if "--json" in (args[: args.index("--")] if "--" in args else args):
            try:
                emit_json({"error": " ".join(self.format_message().split()), "exit_code": self.exit_code})
            except BrokenPipeError:
                _stdout_to_devnull()

    return wrapper


click.exceptions.UsageError.show = _json_usage_errors(click.exceptions.UsageError.show)  # type: ignore[method-assign]


def load(
    env_file: str | None = None, overrides: dict[str, Any] | None = None, verbose: int = 0, dry_run: bool = False
) -> Settings:
    """Settings (flags > environment > env file > defaults) and logging set up from them. A dry
    run (`dry_run`, or READ_ONLY_MODE) creates no file: a log file or a cache folder that does not
    exist yet is not made (one that exists is used as usual), unless a crash must leave its traceback."""
    setup_logging(None, verbose)
    settings = load_settings(env_file, overrides)
    dry = dry_run or bool(settings.read_only_mode)
    if dry and settings.cache_enabled and not Path(settings.cache_dir).exists():
        settings = settings.with_overrides(CACHE_ENABLED=False)
    setup_logging(
        settings, verbose, errors_only=dry and bool(settings.log_file) and not Path(settings.log_file).exists()
    )
    return settings


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str, ensure_ascii=False))


def emit_table(rows: Sequence[Any], headers: Any = "keys", empty: str = "(nothing)") -> None:
    if not rows:
        click.echo(empty)
        return
    click.echo(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))


EPILOG = exit_codes_help()
CONTEXT = {"help_option_names": ["-h", "--help"]}


def epilog(*examples: str) -> str:
    """A --help epilog: two or three example command lines, then the exit codes."""
    lines = "\n".join(f"  {e}" for e in examples)
    return f"\b\nExamples:\n{lines}\n\n{EPILOG}" if examples else EPILOG


def version_option(f: F) -> F:
    """--version on a script's top-level command: prints `NAME, version X` and exits 0."""
    return click.version_option(__version__, "--version", message="%(prog)s, version %(version)s")(f)


# Words that get a colour in tables on a terminal: failures red, warnings yellow, successes green.
COLOURS = {
    "FAIL": "red",
    "failed": "red",
    "ERROR": "red",
    "WARN": "yellow",
    "partial": "yellow",
    "conflicts": "yellow",
    "conflict": "yellow",
    "interrupted": "yellow",
    "OK": "green",
    "ok": "green",
}


def colour_wanted(err: bool = False) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set to a non-empty value
    (https://no-color.org: an empty NO_COLOR does not count)."""
    stream = sys.stderr if err else sys.stdout
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


def paint(text: Any, word: str | None = None, err: bool = False) -> str:
    """`text` coloured after `word` (default: the text itself) when colour is wanted."""
    colour = COLOURS.get(word if word is not None else str(text))
    return click.style(str(text), fg=colour) if colour and colour_wanted(err) else str(text)


def group_options(ctx: click.Context, env_file: str | None, as_json: bool) -> tuple[str | None, bool]:
    """--env-file and --json given on the subcommand, else on the group (`script.py --json sub`)."""
    given = ctx.obj if isinstance(ctx.obj, dict) else {}
    return env_file or given.get("env_file"), bool(as_json or given.get("as_json"))


def _params(decorators: list[Callable]) -> list[click.Parameter]:
    """The click parameters that option decorators (env_file_option, ...) add, in their order."""

    def holder() -> None:
        pass

    params: Any = holder
    for decorate in reversed(decorators):
        params = decorate(params)
    return list(reversed(params.__click_params__))


def group(examples: Sequence[str] = (), default: str | None = None, **attrs: Any) -> Callable[[Callable], click.Group]:
    """A script's command group with --env-file, --json and --version; options given before the
    subcommand apply to it (`report.py --json history`, read by `command`). With `default`, the bare
    script runs that subcommand. The decorated function only gives the help text."""

    def decorate(f: Callable) -> click.Group:
        @click.pass_context
        def callback(ctx: click.Context, env_file: str | None, as_json: bool) -> None:
            ctx.obj = {"env_file": env_file, "as_json": as_json}
            if default and ctx.invoked_subcommand is None and isinstance(ctx.command, click.Group):
                ctx.invoke(ctx.command.commands[default])

        return click.Group(
            f.__name__,
            callback=callback,
            params=_params([env_file_option, json_option, version_option]),
            help=f.__doc__,
            epilog=epilog(*examples),
            invoke_without_command=bool(default),
            context_settings=CONTEXT,
            **attrs,
        )

    return decorate


def command(
    parent: click.Group | None = None,
    name: str | None = None,
    examples: Sequence[str] = (),
    json: bool = True,
    env_file: bool = True,
    verbose: bool = False,
    settings: bool = True,
    **attrs: Any,
) -> Callable[[Callable], click.Command]:
    """A click command from one function: `parent` is the group to add it to (None: a script's
    top-level command, with --version). The body's own click options come first, then --env-file,
    --json (`json`) and -v (`verbose`); the help ends with `examples` and the exit codes.

    The body is called with its own options by keyword, plus `as_json` when `json`, plus
    `settings` loaded from the env file (with -v's level), or when `settings=False` (a body that
    loads nothing, or loads in its own way) `env_file` and, with `verbose`, `verbose`. It runs as
    `script` describes: each error one line and its exit code (and a JSON object under --json),
    a closed stdout 141, the body's return value the exit code."""

    def decorate(body: Callable[..., int | None]) -> click.Command:
        own = list(reversed(getattr(body, "__click_params__", [])))  # as click.command orders them

        def callback(**params: Any) -> NoReturn:
            given_env, given_json = group_options(
                click.get_current_context(), params.pop("env_file", None), params.pop("as_json", False)
            )
            level = params.pop("verbose", 0)
            given_json = given_json and json  # a command without --json answers errors in plain text
            if json:
                params["as_json"] = given_json

            def call() -> int | None:
                if settings:
                    params["settings"] = load(given_env, verbose=level)
                else:
                    params["env_file"] = given_env
                    if verbose:
                        params["verbose"] = level
                return body(**params)

            run_body(call, given_json)

        shared = [
            option
            for option, wanted in (
                (env_file_option, env_file),
                (json_option, json),
                (verbose_option, verbose),
                (version_option, parent is None),
            )
            if wanted
        ]
        made = click.Command(
            name or body.__name__,
            callback=callback,
            params=own + _params(shared),
            help=body.__doc__,
            epilog=epilog(*examples),
            context_settings=CONTEXT,
            **attrs,
        )
        if parent is not None:
            parent.add_command(made)
        return made

    return decorate

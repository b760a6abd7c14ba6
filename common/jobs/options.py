"""The options of a run and of each job, and what a job class declares to the command line.

`sync.py` (or a webhook delivery) builds one RunOptions per run; `run_job` turns it into the typed
options of the job it runs (`Job.options_for`). A job class declares its name, its --help line,
examples and its own click options (`Job`); the options several jobs share (--from, --to,
--create-missing) are defined here once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, ClassVar

import click

from ..config import SERVICE_KEYS, Settings

if TYPE_CHECKING:
    from ..http import RequestCounter
    from ..store import Store
    from .base import Result


@dataclass(frozen=True)
class JobOptions:
    """What every job reads; each job's `Options` adds its own fields (all with defaults)."""

    dry_run: bool = False
    full: bool = False
    workers: int = 4  # SYNC_WORKERS


@dataclass(frozen=True)
class RunOptions:
    """One run as given on the command line, parsed once: the flags every job takes and, when one
    job was named, that job's own options (its `from_cli`; None: each job's defaults). Flags that
    override settings (--cache, --page-size, -v, ...) live in the settings instead."""

    dry_run: bool = False  # --dry-run or READ_ONLY_MODE
    full: bool = False
    quiet: bool = False
    fail_on_conflicts: bool = False
    stats: bool = False
    export: bool = False
    as_json: bool = False
    job_options: JobOptions | None = None

    def params(self) -> dict[str, Any]:
        """The run's flags as its row records them: --full and the job's own values given."""
        values: dict[str, Any] = {"full": self.full}
        if self.job_options is not None:
            shared = {f.name for f in fields(JobOptions)}
            values.update(
                {f.name: getattr(self.job_options, f.name) for f in fields(self.job_options) if f.name not in shared}
            )
        return {k: v for k, v in values.items() if v not in (None, False, ())}


# Options several jobs take: each job lists the ones it has in its `options`.
DATE_FROM = click.option("--from", "date_from", default=None, metavar="DATE", help="entries from this day (YYYY-MM-DD)")
DATE_TO = click.option("--to", "date_to", default=None, metavar="DATE", help="entries up to this day, included")
CREATE_MISSING = click.option(
    "--create-missing", is_flag=True, help="create missing projects and activities (else such entries fail)"
)


class Job(ABC):
    """A job: its read / plan / apply steps (`run` chains them), and what `sync.py` builds its
    subcommand from. A new job declares the class attributes below, makes its clients in
    `prepare`, implements the three steps, and gets one line in registry.py."""

    name: ClassVar[str]  # `python sync.py NAME`, SYNC_JOBS
    summary: ClassVar[str]  # its --help line
    examples: ClassVar[tuple[str, ...]]  # 2-3 command lines closing its --help
    options: ClassVar[tuple[Callable, ...]] = ()  # its own click options and arguments
    Options: ClassVar[type[JobOptions]] = JobOptions  # its typed options
    services: ClassVar[tuple[str, ...]]  # the services it talks to (config.SERVICE_KEYS)
    keys: ClassVar[tuple[str, ...]] = ()  # keys it needs besides its services' own
    scheduled: ClassVar[bool] = True  # may stand in SYNC_JOBS (False: needs a file argument)
    opts: Any  # its `Options`; each job narrows the type (`opts: GraphOptions`)

    @classmethod
    def required_keys(cls) -> tuple[str, ...]:
        """Every key the job needs, checked before it takes its lock or opens the store."""
        return tuple(k for service in cls.services for k in SERVICE_KEYS[service]) + cls.keys

    @classmethod
    def from_cli(cls, values: dict[str, Any]) -> JobOptions:
        """Its own options as click parsed them (name -> value) -> its typed options. By default the
        click names are the `Options` field names; a job whose values need converting overrides this."""
        return cls.Options(**values)

    @classmethod
    def options_for(cls, run: RunOptions, settings: Settings) -> JobOptions:
        """The options this job runs with: its own (or its defaults) and the run's --dry-run, --full
        and SYNC_WORKERS."""
        own = run.job_options if run.job_options is not None else cls.Options()
        return replace(own, dry_run=run.dry_run, full=run.full, workers=settings.sync_workers)

    def __init__(
        self,
        settings: Settings,
        options: JobOptions,
        store: Store,
        counter: RequestCounter,
        result: Result,
        run_id: int | None = None,
    ) -> None:
        """How run_job makes every job: `options` is its `Options`, from `options_for`; under
        --dry-run the store is read-only and `run_id` None. A job makes its clients in `prepare`."""
        self.settings, self.opts, self.store, self.result, self.run_id = settings, options, store, result, run_id
        self.counter = counter
        self.prepare()

    def prepare(self) -> None:  # noqa: B027 - a job without clients of its own has nothing to prepare
        """The job's own clients, applier and checked settings, from what __init__ keeps (settings,
        opts, store, counter, result, run_id); a malformed setting raises ConfigError here."""

    def run(self) -> None:
        """Read, plan and apply once; counts, failures and warnings go to the job's Result. A job
        overrides this only to wrap the three steps (the import history of the import jobs)."""
        self.apply(self.plan(self.read()))

    @abstractmethod
    def read(self) -> Any:
        """Every request the run needs before it decides anything: the source (incrementally, from
        its cursor) and the target state, in bulk. No write."""

    @abstractmethod
    def plan(self, read: Any) -> Any:
        """What to do, from what was read: pure (no request, no store write), so --dry-run shows
        exactly what apply() will do and planners are unit-tested on payloads."""

    @abstractmethod
    def apply(self, plan: Any) -> None:
        """Do the plan through the Applier (pending record, audit, marker lookup, dry-run listing)
        and move the cursors."""

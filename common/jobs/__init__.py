"""The frame every job run shares: lock, run record, summary. The jobs are in registry.py."""

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from .. import shutdown
from ..config import Settings
from ..errors import UNEXPECTED, ConfigError, Interrupted, SyncError
from ..http import RequestCounter
from ..runlock import JobLock
from ..store import Store
from .base import Result
from .options import Job, JobOptions, RunOptions
from .registry import JOBS

log = logging.getLogger("tracksync.job")


def check_scheduled_jobs(names: tuple[str, ...]) -> None:
    """SYNC_JOBS names jobs that exist and can run unattended; else 78 naming it."""
    for name in names:
        if name not in JOBS:
            raise ConfigError("SYNC_JOBS", f"unknown job {name!r}; known: {', '.join(JOBS)}")
        if not JOBS[name].scheduled:
            raise ConfigError(
                "SYNC_JOBS",
                f"{name} imports a file named on its command line and cannot run "
                f"from SYNC_JOBS: run python sync.py {name} FILE",
            )


def run_job(name: str, settings: Settings, options: RunOptions) -> Result:
    """Run one job under its lock and return its Result. A SyncError that stops the whole job is
    recorded on the run and in the result (exit code), not raised."""
    if name not in JOBS:
        raise ConfigError("SYNC_JOBS", f"unknown job {name!r}; known: {', '.join(JOBS)}")
    try:
        settings.require(*JOBS[name].required_keys())  # before a lock file or a store is made
    except ConfigError as exc:  # this job's error (78): the other jobs of SYNC_JOBS still run
        return Result(job=name, dry_run=options.dry_run, exit_code=exc.exit_code, error=str(exc))
    previous = install_stop_handlers()
    try:
        shutdown.check()  # a stop asked for during an earlier job: start no other
        return _locked_run(JOBS[name], settings, options)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _locked_run(job: type[Job], settings: Settings, options: RunOptions) -> Result:
    result = Result(job=job.name, dry_run=options.dry_run)
    counter = RequestCounter()
    started = time.monotonic()
    job_options = job.options_for(options, settings)
    if options.dry_run:  # no lock, no run record: the store is opened read-only and never changes
        with Store(settings.database_path, readonly=True) as store:
            _run(job, settings, job_options, store, counter, result, None)
            _finish(result, counter, started)
        return result
    with JobLock(settings.database_path, job.name), Store(settings.database_path) as store:
        result.run_id = store.start_run(job.name, options.params())
        interrupted = False
        try:
            interrupted = _run(job, settings, job_options, store, counter, result, result.run_id)
        except KeyboardInterrupt:  # a second Ctrl-C: stop at once, recorded as interrupted
            interrupted, result.exit_code, result.error = True, 130, "interrupted by Ctrl-C"
            raise
        except Exception:  # a bug: recorded as failed, the traceback goes to the log file
            result.exit_code, result.error = UNEXPECTED, "unexpected error (traceback in the log file)"
            raise
        finally:
            _finish(result, counter, started)
            status = run_status(result, interrupted)
            counts = dict(result.counts, requests=result.requests["requests"], writes=result.requests["writes"])
            store.finish_run(result.run_id, status, result.exit_code, counts, result.error)
    return result


def run_status(result: Result, interrupted: bool = False) -> str:
    """How the run is recorded: ok, partial, failed, or interrupted (a stop signal, exit 75)."""
    if interrupted:
        return "interrupted"
    return "ok" if result.exit_code == 0 else "partial" if result.exit_code == 3 else "failed"


def install_stop_handlers() -> dict[int, Callable[[int, FrameType | None], Any] | int]:
    """SIGTERM (systemd stop, `kill`) and a first Ctrl-C ask the run to stop after the item in
    flight (exit 75); a second Ctrl-C interrupts at once. Main thread only: the webhook server,
    which runs jobs in a worker thread, keeps its own handlers. Returns the handlers replaced."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {signal.SIGTERM: signal.getsignal(signal.SIGTERM), signal.SIGINT: signal.getsignal(signal.SIGINT)}
    shutdown.install()
    if previous[signal.SIGINT] is signal.default_int_handler:

        def first_ctrl_c(signum: int, frame: FrameType | None) -> None:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            shutdown.request()

        signal.signal(signal.SIGINT, first_ctrl_c)
    return {k: v for k, v in previous.items() if v is not None}


def _run(
    job: type[Job],
    settings: Settings,
    options: JobOptions,
    store: Store,
    counter: RequestCounter,
    result: Result,
    run_id: int | None,
) -> bool:
    """Run the job; True when a stop signal ended it."""
    try:
        job(settings, options, store, counter, result, run_id).run()
    except SyncError as exc:
        result.exit_code = exc.exit_code
        result.error = str(exc)
        return isinstance(exc, Interrupted)
    return False


def _finish(result: Result, counter: RequestCounter, started: float) -> None:
    result.requests = counter.totals()
    result.seconds = time.monotonic() - started

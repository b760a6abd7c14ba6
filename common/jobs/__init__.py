"""The jobs `sync.py` can run, and the frame every run shares: lock, run record, summary."""
import importlib
import logging
import signal
import threading
import time

from .. import shutdown
from ..errors import UNEXPECTED, ConfigError, Interrupted, SyncError, UsageError
from ..http import RequestCounter
from ..runlock import JobLock
from ..store import Store
from .base import Result

log = logging.getLogger("tracksync.job")


def _gitea_kimai(settings, options, store, counter, result, run_id):
    from .gitea_kimai import GiteaKimaiJob, Options
    if options.get("date_from") or options.get("date_to"):
        raise UsageError("--from/--to do not apply to gitea-kimai (it follows issue updates)")
    opts = Options(dry_run=options["dry_run"], full=options["full"], repos=tuple(options.get("repos") or ()),
                   include_pulls=settings.sync_pull_requests, workers=settings.sync_workers)
    GiteaKimaiJob(settings, opts, store, counter, result, run_id).run()


def _zammad_kimai(settings, options, store, counter, result, run_id):
    from .zammad_kimai import Options, ZammadKimaiJob
    opts = Options(dry_run=options["dry_run"], full=options["full"], date_from=options.get("date_from"),
                   date_to=options.get("date_to"), ticket_ids=tuple(options.get("ticket_ids") or ()),
                   workers=settings.sync_workers)
    ZammadKimaiJob(settings, opts, store, counter, result, run_id).run()


def _import(module, name):
    """An import job (toggl-kimai, harvest-kimai, csv-kimai), loaded when it runs."""
    def run(settings, options, store, counter, result, run_id):
        from .imports import Options
        job_class = getattr(importlib.import_module(f".{module}", __package__), name)
        opts = Options(dry_run=options["dry_run"], full=options["full"], date_from=options.get("date_from"),
                       date_to=options.get("date_to"), create_missing=bool(options.get("create_missing")),
                       workers=settings.sync_workers, file=options.get("file"), date_format=options.get("date_format"),
                       skip_invalid=bool(options.get("skip_invalid")))
        job_class(settings, opts, store, counter, result, run_id).run()
    return run


JOBS = {"gitea-kimai": _gitea_kimai, "zammad-kimai": _zammad_kimai,
        "toggl-kimai": _import("toggl_kimai", "TogglKimaiJob"),
        "harvest-kimai": _import("harvest_kimai", "HarvestKimaiJob"),
        "csv-kimai": _import("csv_kimai", "CsvKimaiJob")}


def run_job(name, settings, options):
    """Run one job under its lock and return its Result. A SyncError that stops the whole job is
    recorded on the run and in the result (exit code), not raised."""
    if name not in JOBS:
        raise ConfigError("SYNC_JOBS", f"unknown job {name!r}; known: {', '.join(JOBS)}")
    previous = install_stop_handlers()
    try:
        shutdown.check()  # a stop asked for during an earlier job: start no other
        return _locked_run(name, settings, options)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _locked_run(name, settings, options):
    dry_run = options["dry_run"]
    result = Result(job=name, dry_run=dry_run)
    counter = RequestCounter()
    started = time.monotonic()
    if dry_run:  # no lock, no run record: the store is opened read-only and never changes
        with Store(settings.database_path, readonly=True) as store:
            _run(name, settings, options, store, counter, result, None)
            _finish(result, counter, started)
        return result
    params = {k: v for k, v in options.items() if v not in (None, False, ())}
    with JobLock(settings.database_path, name), Store(settings.database_path) as store:
        result.run_id = store.start_run(name, params)
        interrupted = False
        try:
            interrupted = _run(name, settings, options, store, counter, result, result.run_id)
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


def run_status(result, interrupted=False):
    """How the run is recorded: ok, partial, failed, or interrupted (a stop signal, exit 75)."""
    if interrupted:
        return "interrupted"
    return "ok" if result.exit_code == 0 else "partial" if result.exit_code == 3 else "failed"


def install_stop_handlers():
    """SIGTERM (systemd stop, `kill`) and a first Ctrl-C ask the run to stop after the item in
    flight (exit 75); a second Ctrl-C interrupts at once. Main thread only: the webhook server,
    which runs jobs in a worker thread, keeps its own handlers. Returns the handlers replaced."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {signal.SIGTERM: signal.getsignal(signal.SIGTERM), signal.SIGINT: signal.getsignal(signal.SIGINT)}
    shutdown.install()
    if previous[signal.SIGINT] is signal.default_int_handler:
        def first_ctrl_c(signum, frame):
            signal.signal(signal.SIGINT, signal.default_int_handler)
            shutdown.request()
        signal.signal(signal.SIGINT, first_ctrl_c)
    return {k: v for k, v in previous.items() if v is not None}


def _run(name, settings, options, store, counter, result, run_id):
    try:
        JOBS[name](settings, options, store, counter, result, run_id)
    except SyncError as exc:
        result.exit_code = exc.exit_code
        result.error = str(exc)
        return isinstance(exc, Interrupted)
    return False


def _finish(result, counter, started):
    result.requests = counter.totals()
    result.seconds = time.monotonic() - started

"""The jobs `sync.py` can run, and the frame every run shares: lock, run record, summary."""
import importlib
import logging
import time

from ..errors import ConfigError, SyncError, UsageError
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
        try:
            _run(name, settings, options, store, counter, result, result.run_id)
        finally:
            _finish(result, counter, started)
            status = "ok" if result.exit_code == 0 else "partial" if result.exit_code == 3 else "failed"
            counts = dict(result.counts, requests=result.requests["requests"], writes=result.requests["writes"])
            store.finish_run(result.run_id, status, result.exit_code, counts, result.error)
    return result


def _run(name, settings, options, store, counter, result, run_id):
    try:
        JOBS[name](settings, options, store, counter, result, run_id)
    except SyncError as exc:
        result.exit_code = exc.exit_code
        result.error = str(exc)


def _finish(result, counter, started):
    result.requests = counter.totals()
    result.seconds = time.monotonic() - started

"""Reading `sync.py --json` (docs/json.md): {"version": 1, "exit_code", "error", "jobs": [...]}."""

import json


def sync_document(proc):
    data = json.loads(proc.stdout)
    assert data["version"] == 1 and isinstance(data["jobs"], list), data
    return data


def job_summary(proc, job=None):
    """The object of one job (the only one, or the one named) from a sync's --json output."""
    jobs = sync_document(proc)["jobs"]
    if job is None:
        assert len(jobs) == 1, jobs
        return jobs[0]
    return next(j for j in jobs if j["job"] == job)


def counts(proc, job=None):
    return job_summary(proc, job)["counts"]


def flat_summary(proc, job=None):
    """One job's object with its counts at the top level too (summary["created"]), for tests
    written against the flat summary of a single job."""
    summary = job_summary(proc, job)
    return {**summary["counts"], **summary}

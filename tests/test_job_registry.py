"""The job registry and the subcommands sync.py builds from it, in-process with click's CliRunner:
each job class declares its name, --help line, examples and own options; each subcommand shows
and accepts only its own options; the parsed values reach the job as its typed options."""

import re
from types import SimpleNamespace

import click
import pytest
from click.testing import CliRunner

import sync
from common.jobs.csv_rows import TEMPLATE
from common.jobs.gitea_kimai import GiteaKimaiJob
from common.jobs.imports import Options as ImportOptions
from common.jobs.options import Job, JobOptions, RunOptions
from common.jobs.registry import JOBS
from common.jobs.zammad_kimai import ZammadKimaiJob

NAMES = [
    "gitea-kimai",
    "zammad-kimai",
    "toggl-kimai",
    "harvest-kimai",
    "csv-kimai",
    "graph-kimai",
    "confluence-jira",
    "jira-confluence",
]
COMMON = {
    "--dry-run",
    "--full",
    "--quiet",
    "--fail-on-conflicts",
    "--stats",
    "--export",
    "--clear-cache",
    "--cache",
    "--rate-limit",
    "--page-size",
    "--max-pages",
    "--json",
    "--verbose",
    "--env-file",
}


def own_flags(job):
    """The flags a job's declared options make (its FILE argument has none)."""

    def holder():
        pass

    for option in job.options:
        holder = option(holder)
    return {o for p in holder.__click_params__ for o in p.opts if o.startswith("--")}


def invoke(*args):
    return CliRunner().invoke(sync.cli, list(args))


@pytest.fixture
def runs(monkeypatch):
    """sync.run replaced by a recorder: (job, common options, the job's own typed options)."""
    calls = []
    monkeypatch.setattr(sync, "run", lambda job, options, job_options=None: calls.append((job, options, job_options)))
    return calls


def test_the_registry_lists_every_job_and_each_declares_what_sync_py_needs():
    assert list(JOBS) == NAMES
    for name, job in JOBS.items():
        assert issubclass(job, Job) and job.name == name
        assert job.summary and 2 <= len(job.examples) <= 3
        assert all(e.startswith(f"python sync.py {name}") for e in job.examples), job.examples
        assert issubclass(job.Options, JobOptions)
        command = sync.cli.commands[name]
        assert command.help == job.summary and all(e in command.epilog for e in job.examples)


@pytest.mark.parametrize("name", NAMES)
def test_each_subcommand_shows_only_its_own_options(name):
    result = invoke(name, "--help")
    assert result.exit_code == 0, result.output
    shown = set(re.findall(r"^\s+(?:-\w, )?(--[\w-]+)", result.output, re.M))
    own = own_flags(JOBS[name])
    others = set().union(*(own_flags(j) for n, j in JOBS.items() if n != name)) - own
    assert own and own | COMMON <= shown, result.output
    assert not shown & others, result.output


@pytest.mark.parametrize(
    "args, flag, owners",
    [
        (("toggl-kimai", "--repos", "web"), "--repos", "gitea-kimai"),
        (("gitea-kimai", "--skip-invalid"), "--skip-invalid", "csv-kimai"),
        (("zammad-kimai", "--create-missing"), "--create-missing", "toggl-kimai, harvest-kimai, csv-kimai"),
        (
            ("--include-prs", "gitea-kimai"),
            "--include-prs",
            "gitea-kimai",
        ),  # before the name: the group has no job's own
    ],
)
def test_a_flag_of_another_job_exits_2_naming_the_jobs_that_have_it(runs, args, flag, owners):
    result = invoke(*args)
    assert result.exit_code == 2 and not runs
    assert f"No such option '{flag}' here: it is an option of {owners} (python sync.py" in result.output, result.output


def test_the_parsed_values_reach_the_job_as_its_typed_options(runs):
    assert invoke("--dry-run", "gitea-kimai", "--repos", " web, api,", "--include-prs", "-q").exit_code == 0
    [(job, options, own)] = runs
    assert job == "gitea-kimai" and options["dry_run"] and options["quiet"]  # before and after the name, merged
    assert own == GiteaKimaiJob.Options(repos=("web", "api"), include_pulls=True)
    assert invoke("csv-kimai", __file__, "--date-format", "%d/%m/%Y", "--skip-invalid").exit_code == 0
    assert runs[-1][2] == ImportOptions(file=__file__, date_format="%d/%m/%Y", skip_invalid=True)
    assert invoke("zammad-kimai", "--from", "2026-11-01").exit_code == 0
    assert runs[-1][2] == ZammadKimaiJob.Options(date_from="2026-11-01")
    assert invoke("--full").exit_code == 0 and runs[-1][0] is None and runs[-1][2] is None  # SYNC_JOBS, no own options


def test_csv_kimai_template_and_missing_file(runs):
    result = invoke("csv-kimai", "--template")
    assert result.exit_code == 0 and result.stdout == TEMPLATE
    result = invoke("csv-kimai", "--dry-run")
    assert result.exit_code == 2 and "missing FILE (or --template to print one)" in result.output
    assert not runs


def test_a_job_runs_with_its_own_options_and_the_runs_flags():
    settings = SimpleNamespace(sync_workers=7, sync_pull_requests=False)
    run = RunOptions(dry_run=True, full=True, job_options=GiteaKimaiJob.Options(repos=("web",)))
    assert GiteaKimaiJob.options_for(run, settings) == GiteaKimaiJob.Options(
        dry_run=True, full=True, workers=7, repos=("web",)
    )
    assert GiteaKimaiJob.options_for(
        RunOptions(), SimpleNamespace(sync_workers=2, sync_pull_requests=True)
    ).include_pulls
    assert JOBS["toggl-kimai"].options_for(RunOptions(full=True), settings) == ImportOptions(full=True, workers=7)
    assert run.params() == {"full": True, "repos": ("web",)}  # what the run's row records
    assert RunOptions(job_options=ZammadKimaiJob.Options(ticket_ids=(4,))).params() == {"ticket_ids": (4,)}


def test_a_new_job_needs_only_its_class(monkeypatch):
    """A job declared like the others gets a subcommand with its help, examples and options."""

    class EchoJob(Job):
        name, summary, examples = (
            "echo-kimai",
            "Echo -> Kimai.",
            ("python sync.py echo-kimai --loud", "python sync.py echo-kimai"),
        )
        options = (click.option("--loud", is_flag=True, help="louder"),)

        @classmethod
        def from_cli(cls, values):
            return JobOptions(full=values["loud"])

        def __init__(self, *args):
            pass

        def run(self):
            pass

    group = click.Group("sync.py", params=list(sync.cli.params))
    monkeypatch.setattr(sync, "cli", group)
    calls = []
    monkeypatch.setattr(sync, "run", lambda job, options, job_options=None: calls.append((job, job_options)))
    sync._job_command(EchoJob)
    result = CliRunner().invoke(group, ["echo-kimai", "--help"])
    assert (
        "Echo -> Kimai." in result.output
        and "--loud" in result.output
        and "python sync.py echo-kimai --loud" in result.output
    )
    assert CliRunner().invoke(group, ["echo-kimai", "--loud"]).exit_code == 0
    assert calls == [("echo-kimai", JobOptions(full=True))]

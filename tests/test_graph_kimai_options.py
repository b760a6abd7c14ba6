"""graph-kimai's command line: its own options (--users, --from, --to) reach the job typed; a
malformed one is a usage error (2) naming it; the job is in the registry and may stand in SYNC_JOBS."""

import pytest
from click.testing import CliRunner

import sync
from common.jobs.__init__ import check_scheduled_jobs
from common.jobs.graph_kimai import GraphKimaiJob, parse_mailboxes
from common.jobs.registry import JOBS


@pytest.fixture
def runs(monkeypatch):
    calls = []
    monkeypatch.setattr(sync, "run", lambda job, options, job_options=None: calls.append((job, options, job_options)))
    return calls


def test_registered_and_schedulable():
    assert JOBS["graph-kimai"] is GraphKimaiJob and GraphKimaiJob.scheduled
    assert set(GraphKimaiJob.services) == {"graph", "kimai"}
    check_scheduled_jobs(("graph-kimai", "zammad-kimai"))  # no ConfigError


def test_users_from_and_to_reach_the_job(runs):
    args = ["graph-kimai", "--users", " Ann@Acme.example, bob@acme.example,,ann@acme.example", "--from", "2026-11-01"]
    result = CliRunner().invoke(sync.cli, [*args, "--to", "2026-11-30", "--dry-run"])
    assert result.exit_code == 0, result.output
    [(job, options, own)] = runs
    assert job == "graph-kimai" and options["dry_run"]
    assert own == GraphKimaiJob.Options(
        users=("ann@acme.example", "bob@acme.example"), date_from="2026-11-01", date_to="2026-11-30"
    )


@pytest.mark.parametrize("users", ["ann", "ann@", "a b@acme.example", "ann@acme.example/../x", "@acme.example"])
def test_a_malformed_mailbox_is_a_usage_error(runs, users):
    result = CliRunner().invoke(sync.cli, ["graph-kimai", "--users", users])
    assert result.exit_code == 2 and "--users" in result.output and "Traceback" not in result.output
    assert not runs


def test_parse_mailboxes():
    assert parse_mailboxes("", "x") == ()
    assert parse_mailboxes("A@B.example", "x") == ("a@b.example",)


def test_rules_from_settings():
    from common.config import KEYS, Settings, parse_value
    from common.errors import ConfigError
    from common.jobs.graph_kimai import rules_of

    def settings(**raw):
        return Settings({k: parse_value(KEYS[k], v) for k, v in raw.items()})

    rules = rules_of(settings(GRAPH_USER_MAP="Ann@Acme.example=3", GRAPH_SKIP="none", GRAPH_PRIVATE="skip"))
    assert rules.user_map == {"ann@acme.example": 3} and rules.skip == frozenset() and rules.private == "skip"
    assert rules_of(settings(GRAPH_SKIP="declined,tentative")).skip == {"declined", "tentative"}
    with pytest.raises(ConfigError, match="GRAPH_USER_MAP"):
        rules_of(settings(GRAPH_USER_MAP="ann@acme.example=ann"))

"""graph-kimai's values at their edges, run as a user would: dates Python or Graph cannot take and
malformed GRAPH_USER_MAP keys are one line naming the flag or key (2 / 78), never a traceback or
exit 1, and nothing is read from Graph or written to Kimai."""

import json

import pytest
from test_graph_kimai_e2e import ANN, JOB, at, gwork  # noqa: F401 (the fixture)


@pytest.mark.parametrize(
    "args, named",
    [
        (["--to", "9999-12-31"], "--to"),
        (["--from", "9999-12-31"], "--from"),
        (["--from", "0001-01-01", "--to", "2026-01-01"], "--from"),
        (["--from", "1990-01-01", "--to", "2026-01-01"], "--from/--to"),
    ],
)
def test_a_date_out_of_range_is_a_usage_error(gwork, args, named):
    gwork.set(GRAPH_USERS=ANN)
    gwork.sandbox.graph.add_event(ANN, "E", at(-2, 9), at(-2, 10), categories=["Website relaunch"])
    proc = gwork.sync(*JOB, *args, "--json", check_code=2)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and named in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)["exit_code"] == 2
    assert gwork.sandbox.count("graph") == 0 and gwork.sandbox.count("kimai", writes=True) == 0


@pytest.mark.parametrize(
    "line",
    [
        "ann=3",
        "x@y=3",
        "ann@acme.example=0",
        "ann@acme.example=99999999999999",
        "ann@acme.example=1;ANN@acme.example=2",
    ],
)
def test_a_malformed_graph_user_map_line_is_a_configuration_error(gwork, line):
    gwork.set(GRAPH_USERS=ANN, GRAPH_USER_MAP=line)
    gwork.sandbox.graph.add_event(ANN, "E", at(-2, 9), at(-2, 10), categories=["Website relaunch"])
    proc = gwork.sync(*JOB, check_code=78)
    lines = [text for text in proc.stderr.splitlines() if text.strip()]
    assert len(lines) == 1 and "GRAPH_USER_MAP" in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert gwork.sandbox.count("kimai", writes=True) == 0


def test_a_huge_mailbox_is_named_shortly(gwork):
    proc = gwork.sync(*JOB, "--users", "a" * 5000 + "@acme.example", check_code=2)
    assert "--users" in proc.stderr and len(proc.stderr) < 600 and "Traceback" not in proc.stderr


def test_from_after_today_without_to_says_that_to_defaults_to_today(gwork):
    proc = gwork.sync(*JOB, "--from", "2999-01-01", check_code=2)
    assert "--from 2999-01-01 is after today" in proc.stderr and "Traceback" not in proc.stderr
    proc = gwork.sync(*JOB, "--from", "2026-03-31", "--to", "2026-03-01", check_code=2)
    assert "--from 2026-03-31 is after --to 2026-03-01" in proc.stderr

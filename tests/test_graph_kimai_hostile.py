"""graph-kimai against a Graph that misbehaves on one mailbox's delta pages (a next link that
loops, one to another host, a page with no link or no value list): one line naming Microsoft Graph
and the request with 69 (78 for an answer of another shape), the run stops and Kimai gets no
write, not even for the mailboxes that read well."""

import json

import pytest
from test_graph_kimai_e2e import ANN, BOB, JOB, at, gwork  # noqa: F401 (the fixture)


@pytest.mark.parametrize(
    "mode, code, words",
    [
        ("loop_next", 69, ["calendarView/delta", "repeats"]),
        ("no_links", 69, ["calendarView/delta", "neither"]),
        ("no_value", 78, ["GRAPH_URL", "calendarView/delta"]),
        ("foreign_next", 69, ["GRAPH_URL"]),
    ],
)
def test_a_hostile_delta_page_stops_the_run_before_any_write(gwork, mode, code, words):
    sb = gwork.sandbox
    gwork.set(GRAPH_USERS=f"{ANN},{BOB}", SYNC_WORKERS="1")
    for box in (ANN, BOB):
        for n in range(4):
            sb.graph.add_event(box, f"E{n}", at(-n - 1, 9), at(-n - 1, 10), categories=["Website relaunch"])
    sb.graph.misbehave(mode, ANN)
    proc = gwork.sync(*JOB, "--json", timeout=60, check_code=code)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and all(w in lines[0] for w in words) and "Traceback" not in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)["exit_code"] == code
    assert sb.count("kimai", writes=True) == 0
    assert sum("skiptoken=loop" in r.path + str(getattr(r, "query", "")) for r in sb.requests) <= 1
    if mode == "no_value":  # the stand-in broke its contract, as asked
        with sb.log._lock:
            sb.log._violations[:] = [v for v in sb.log._violations if "$.value: None" not in v]
    sb.graph.misbehave(None, ANN)  # healed: the next run syncs everything, once
    gwork.sync(*JOB, check_code=0)
    assert len([t for t in sb.kimai.timesheets if (t.get("description") or "").startswith("graph:")]) == 8

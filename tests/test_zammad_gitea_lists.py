"""The Zammad ticket search and the Gitea issue lists are cut to the fields the jobs use as they
arrive, and a listed item the jobs cannot use (no id or number, an id out of range, a missing
title or time) stops the run with one line and 69, before anything is written (end to end
against the sandbox, the answers tampered with)."""

import pytest
from gitea_helpers import seed

from common.clients.zammad import TICKET_FIELDS, listed_tickets
from common.errors import ServiceUnavailable
from common.jobs.gitea_kimai import ISSUE_FIELDS, mapped_issue


def swap_handler(service, old, new):
    service._routes = [(m, p, n, new if h == old else h) for m, p, n, h in service._routes]


def tamper(service, handler, change):
    """Answer `handler`'s route with its answer passed through change(list of records)."""

    def tampered(request):
        response = handler(request)
        if isinstance(response.body, list) and response.body:
            response.body = change([dict(record) for record in response.body])
        return response

    swap_handler(service, handler, tampered)


def kimai_writes(sb):
    return [r for r in sb.requests if r.service == "kimai" and r.method in ("POST", "PATCH", "DELETE")]


@pytest.mark.parametrize(
    "change",
    [
        {"id": "7"},
        {"id": 2**63},
        {"id": True},
        {"updated_at": None},
        {"title": None},
    ],
    ids=["id-text", "id-too-big", "id-bool", "no-updated_at", "no-title"],
)
def test_a_listed_ticket_the_job_cannot_use_stops_the_run_with_69(zwork, change):
    workdir, sb = zwork, zwork.sandbox
    for n in range(3):
        ticket = sb.zammad.add_ticket(f"Ticket {n}")
        sb.zammad.add_time_accounting(ticket["id"], 15)
    sb.strict = False  # the tampered answer is off the contract on purpose
    tamper(sb.zammad, sb.zammad._search_tickets, lambda tickets: [*tickets[:-1], {**tickets[-1], **change}])
    proc = workdir.sync("zammad-kimai", check_code=69)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: zammad: GET /api/v1/tickets/search"), proc.stderr
    assert "Traceback" not in proc.stderr and kimai_writes(sb) == []


@pytest.mark.parametrize(
    "change", [{"number": None}, {"number": "3"}, {"title": None}, {"updated_at": 5}, {"body": ["x"]}]
)
def test_a_listed_issue_the_job_cannot_use_stops_the_run_with_69(workdir, change):
    sb = workdir.sandbox
    seed(sb, repos=("web",), issues=3)
    sb.strict = False
    tamper(sb.gitea, sb.gitea._list_issues, lambda issues: [*issues[:-1], {**issues[-1], **change}])
    proc = workdir.sync("gitea-kimai", check_code=69)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "gitea" in lines[0] and "acme/web" in lines[0], proc.stderr
    assert kimai_writes(sb) == []


def test_listed_items_keep_only_what_the_jobs_use():
    ticket = {"id": 3, "number": "31003", "title": "T", "updated_at": "2026-11-02T08:00:00Z", "organization": "Acme"}
    ticket.update(preferences={"x": "y" * 1000}, article_ids=list(range(100)), state="open")
    [listed] = listed_tickets([ticket])
    assert sorted(listed) == sorted(TICKET_FIELDS) and listed["organization"] == "Acme"
    assert listed_tickets(["not a ticket"]) == ["not a ticket"]  # left for the shape check to name
    issue = {"number": 4, "title": "T", "state": "open", "body": None, "html_url": "u", "updated_at": "2026-11-02"}
    issue.update(user={"login": "x" * 1000}, labels=[{"name": "bug"}], repository={"full_name": "acme/web"})
    assert sorted(mapped_issue("acme", "web", issue)) == sorted(ISSUE_FIELDS)
    with pytest.raises(ServiceUnavailable, match="acme/web"):
        mapped_issue("acme", "web", [issue])


def test_test_connection_names_a_ticket_list_it_cannot_use_and_does_not_crash(workdir):
    """The connection check reads one ticket of the search to try its time accountings: a ticket
    without an id is the server's bad answer in one line (69), not a traceback."""
    sb = workdir.sandbox
    workdir.set(ZAMMAD_URL=sb.url("zammad"), ZAMMAD_TOKEN=sb.tokens["zammad"])
    sb.zammad.add_time_accounting(sb.zammad.add_ticket("Ticket")["id"], 15)
    sb.strict = False
    tamper(sb.zammad, sb.zammad._search_tickets, lambda tickets: [{"title": t["title"]} for t in tickets])
    proc = workdir.run("test_connection.py", "--job", "zammad-kimai")
    assert proc.returncode == 69 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    assert "id is missing" in proc.stdout + proc.stderr

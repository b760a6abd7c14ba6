"""A Zammad ticket deleted outright (its time accounting with it) is seen on `--full`: the full
listing leaves it out, a GET of it answers 404 (the proof), and ZAMMAD_DELETE_POLICY applies to
every timesheet synced from it, whatever its link's state. A ticket merely missing from the
listing is no proof: one that still answers (search index lag), one moved where the token cannot
read it (403), a failed read (5xx), a merged ticket (it keeps its time) change nothing. An
unchanged run costs no more requests than before (end to end against the sandbox)."""

import pytest
import requests

from common.store import Store

ZAMMAD = "zammad-kimai"


def seed(sb, tickets=2, entries=2):
    org = sb.zammad.add_organization("Acme Corp")
    made = []
    for n in range(tickets):
        ticket = sb.zammad.add_ticket(f"Printer {n} broken", organization_id=org["id"])
        for _ in range(entries):
            sb.zammad.add_time_accounting(ticket["id"], 15)
        made.append(ticket)
    return made


def kimai_writes(sb):
    return [(r.method, r.path) for r in sb.requests if r.service == "kimai" and r.method in ("POST", "PATCH", "DELETE")]


def ticket_gets(sb, ticket_id):
    return [r for r in sb.requests if r.service == "zammad" and r.path == f"/api/v1/tickets/{ticket_id}"]


def links_of(workdir, ticket_id):
    with Store(workdir.db) as store:
        prefix = f"zammad:ticket/{ticket_id}/time/"
        return {k: link for k, link in store.links(ZAMMAD).items() if k.startswith(prefix)}


def sheets_of(sb, ticket_id):
    return [s for s in sb.kimai.timesheets if s["description"].startswith(f"zammad:ticket/{ticket_id}/time/")]


def swap_handler(service, old, new):
    """Answer the route `old` serves with `new` (which may call `old`)."""
    service._routes = [(m, p, n, new if h == old else h) for m, p, n, h in service._routes]


def set_state(workdir, key, state):
    with Store(workdir.db) as store:
        store.conn.execute("UPDATE links SET state = ? WHERE source_key = ?", (state, key))
        store.conn.commit()


@pytest.mark.parametrize("state", ["synced", "kept", "failed", "pending"])
@pytest.mark.parametrize("policy", ["report", "delete"])
def test_a_deleted_ticket_follows_the_policy_on_full_whatever_the_link_state(zwork, policy, state):
    sb = zwork.sandbox
    gone, stays = seed(sb)
    zwork.set(ZAMMAD_DELETE_POLICY=policy)
    zwork.sync(ZAMMAD, check_code=0)
    first = min(links_of(zwork, gone["id"]))
    set_state(zwork, first, state)
    doomed = {s["id"] for s in sheets_of(sb, gone["id"])}
    assert len(doomed) == 2
    sb.zammad.delete_ticket(gone["id"])

    sb.clear_requests()
    zwork.sync(ZAMMAD, check_code=0)  # incremental: nothing changed that a search can see
    assert kimai_writes(sb) == [] and not ticket_gets(sb, gone["id"])

    sb.clear_requests()
    proc = zwork.sync(ZAMMAD, "--full", check_code=0)
    assert len(ticket_gets(sb, gone["id"])) == 1  # the proof: 404
    assert not ticket_gets(sb, stays["id"])  # listed: not asked for
    states = {link["state"] for link in links_of(zwork, gone["id"]).values()}
    if policy == "delete":
        assert sorted(kimai_writes(sb)) == sorted(("DELETE", f"/api/timesheets/{i}") for i in doomed)
        assert sheets_of(sb, gone["id"]) == [] and states == {"deleted"}
    else:
        assert "2 entries: ticket deleted in Zammad; timesheet kept" in proc.stderr, proc.stderr
        assert kimai_writes(sb) == [] and states == {"orphaned"}
        assert {s["id"] for s in sheets_of(sb, gone["id"])} == doomed
    assert len(sheets_of(sb, stays["id"])) == 2

    sb.clear_requests()
    again = zwork.sync(ZAMMAD, "--full", check_code=0)  # settled: never asked for again
    assert not ticket_gets(sb, gone["id"]) and kimai_writes(sb) == []
    assert "deleted in Zammad" not in again.stderr


def test_a_deleted_ticket_reported_is_deleted_once_the_policy_is_delete(zwork):
    sb = zwork.sandbox
    gone, _ = seed(sb)
    zwork.sync(ZAMMAD, check_code=0)
    sb.zammad.delete_ticket(gone["id"])
    zwork.sync(ZAMMAD, "--full", check_code=0)
    assert len(sheets_of(sb, gone["id"])) == 2
    zwork.set(ZAMMAD_DELETE_POLICY="delete")
    sb.clear_requests()
    zwork.sync(ZAMMAD, check_code=0)  # a plain run: the orphaned links alone say what is gone
    assert [m for m, _ in kimai_writes(sb)] == ["DELETE", "DELETE"] and sheets_of(sb, gone["id"]) == []


def test_a_ticket_missing_from_the_listing_but_readable_or_refused_is_no_proof(zwork):
    """Three linked tickets left out of the listing: one still there (index lag: read and synced
    as usual), one moved to a group the token cannot read (403), one whose read fails (503):
    nothing is deleted or reported, the refused and failed ones are named in a warning."""
    sb = zwork.sandbox
    lagging, hidden, failing = seed(sb, tickets=3, entries=1)
    zwork.set(ZAMMAD_DELETE_POLICY="delete")
    zwork.sync(ZAMMAD, check_code=0)
    before = {s["id"] for s in sb.kimai.timesheets}
    sb.zammad.restrict_ticket(hidden["id"])
    sb.zammad.ticket_read_faults[failing["id"]] = 503
    sb.zammad.delete_ticket(failing["id"])  # deleted, but the read that would prove it fails
    search = sb.zammad._search_tickets

    def lagging_index(request):  # the search index does not list `lagging` yet
        response = search(request)
        if isinstance(response.body, list):
            response.body = [t for t in response.body if t["id"] != lagging["id"]]
        return response

    swap_handler(sb.zammad, search, lagging_index)
    sb.zammad.add_time_accounting(lagging["id"], 30)
    sb.clear_requests()
    proc = zwork.sync(ZAMMAD, "--full", check_code=0)
    assert kimai_writes(sb) == [("POST", "/api/timesheets")]  # lagging's new entry, read by id
    assert before <= {s["id"] for s in sb.kimai.timesheets}
    assert f"ticket {hidden['id']}: Zammad refuses to show it (403" in proc.stderr, proc.stderr
    assert f"ticket {failing['id']}: not in the search and not readable" in proc.stderr
    assert "deleted in Zammad" not in proc.stderr
    for ticket in (hidden, failing):
        assert {link["state"] for link in links_of(zwork, ticket["id"]).values()} == {"synced"}


def test_a_merged_ticket_keeps_its_timesheets(zwork):
    sb = zwork.sandbox
    merged, target = seed(sb)
    zwork.set(ZAMMAD_DELETE_POLICY="delete")
    zwork.sync(ZAMMAD, check_code=0)
    sb.zammad.merge_ticket(merged["id"], target["id"])
    for args in ((), ("--full",)):
        sb.clear_requests()
        proc = zwork.sync(ZAMMAD, *args, check_code=0)
        assert kimai_writes(sb) == [] and "deleted in Zammad" not in proc.stderr
    assert len(sheets_of(sb, merged["id"])) == 2


def test_a_ticket_deleted_while_the_run_reads_it_is_seen_by_its_404(zwork):
    """The search lists the ticket, then its time accounting answers 404: the ticket's own 404
    confirms the deletion and the policy applies in the same run."""
    sb = zwork.sandbox
    gone, _ = seed(sb)
    zwork.set(ZAMMAD_DELETE_POLICY="delete")
    zwork.sync(ZAMMAD, check_code=0)
    sb.zammad.add_time_accounting(gone["id"], 5)  # changed: the next run reads its entries
    entries = sb.zammad._list_entries

    def deleting(request):  # deleted between the search and the read of its entries
        if request.params["ticket_id"] == str(gone["id"]):
            sb.zammad.delete_ticket(gone["id"])
        return entries(request)

    swap_handler(sb.zammad, entries, deleting)
    sb.clear_requests()
    zwork.sync(ZAMMAD, check_code=0)
    assert [m for m, _ in kimai_writes(sb)] == ["DELETE", "DELETE"] and sheets_of(sb, gone["id"]) == []


def test_an_unchanged_run_costs_what_it_did(zwork):
    sb = zwork.sandbox
    seed(sb)
    zwork.sync(ZAMMAD, check_code=0)
    for args in ((), ("--full",)):
        zwork.sync(ZAMMAD, *args, check_code=0)
        sb.clear_requests()
        zwork.sync(ZAMMAD, *args, check_code=0)
        gets = [r.path for r in sb.requests if r.service == "zammad" and r.path.startswith("/api/v1/tickets/")]
        assert not any(p.count("/") == 4 and p.rsplit("/", 1)[1].isdigit() for p in gets), gets


def test_a_webhook_for_a_deleted_ticket_applies_the_policy(zwork):
    """The webhook's ticket answers 404: with time synced from it, its timesheets follow the
    policy (here: deleted), and nothing fails."""
    import signal

    from test_zammad_kimai_webhook import free_port, start_webhook, wait_for

    from sandbox.zammad import webhook_request

    sb = zwork.sandbox
    gone, stays = seed(sb)
    zwork.set(ZAMMAD_DELETE_POLICY="delete", ZAMMAD_WEBHOOK_SECRET="s3cret-webhook-key")
    zwork.sync(ZAMMAD, check_code=0)
    body, headers = webhook_request(sb, gone["id"], secret="s3cret-webhook-key")
    sb.zammad.delete_ticket(gone["id"])
    port = free_port()
    proc = start_webhook(zwork, port)
    try:
        answer = requests.post(f"http://127.0.0.1:{port}/webhooks/zammad", data=body, headers=headers, timeout=5)
        assert answer.status_code == 202
        assert wait_for(lambda: sheets_of(sb, gone["id"]) == [])
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0
    assert len(sheets_of(sb, stays["id"])) == 2
    assert {link["state"] for link in links_of(zwork, gone["id"]).values()} == {"deleted"}


def test_a_listing_cut_by_max_pages_proves_nothing(zwork):
    sb = zwork.sandbox
    gone, _ = seed(sb, entries=1)
    zwork.set(ZAMMAD_DELETE_POLICY="delete")
    zwork.sync(ZAMMAD, check_code=0)
    sb.zammad.delete_ticket(gone["id"])
    for n in range(200):  # a full first page: MAX_PAGES=1 leaves the rest unread
        sb.zammad.add_ticket(f"Question {n}")
    zwork.set(MAX_PAGES="1")
    sb.clear_requests()
    proc = zwork.sync(ZAMMAD, "--full", check_code=0)
    assert "MAX_PAGES" in proc.stderr and not ticket_gets(sb, gone["id"]) and kimai_writes(sb) == []
    zwork.set(MAX_PAGES="0")
    zwork.sync(ZAMMAD, "--full", check_code=0)  # the whole listing: now it is proof
    assert sheets_of(sb, gone["id"]) == []

"""The Zammad webhook receiver (python sync.py webhook) and the reconciliation report."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import requests
from conftest import ROOT
from test_zammad_kimai_e2e import kimai_api, marked, seed_tickets, zwork  # noqa: F401 (zwork: fixture)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_webhook(workdir, port):
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "sync.py"), "webhook", "--port", str(port), "--env-file", str(workdir.env_file)],
        cwd=workdir.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=1)
            return proc
        except requests.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError(proc.stderr.read())


def wait_for(condition, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_webhook_signature_delivery_ids_and_drain(zwork):
    from sandbox.zammad import webhook_request

    sb = zwork.sandbox
    zwork.set(ZAMMAD_WEBHOOK_SECRET="s3cret-webhook-key")
    [first, second] = seed_tickets(sb, tickets=2, entries=2)
    port = free_port()
    proc = start_webhook(zwork, port)
    url = f"http://127.0.0.1:{port}/webhooks/zammad"
    try:
        body, headers = webhook_request(sb, first["id"], secret="wrong-secret")
        assert requests.post(url, data=body, headers=headers, timeout=5).status_code == 401
        body, headers = webhook_request(sb, first["id"])  # unsigned
        assert requests.post(url, data=body, headers=headers, timeout=5).status_code == 401
        assert (
            requests.post(url, data=b"{not json", headers={"X-Hub-Signature": "sha1=00"}, timeout=5).status_code == 401
        )
        time.sleep(0.5)
        assert sb.kimai.timesheets == []

        body, headers = webhook_request(sb, first["id"], secret="s3cret-webhook-key")
        answer = requests.post(url, data=body, headers=headers, timeout=5)
        assert answer.status_code == 202
        assert wait_for(lambda: len(sb.kimai.timesheets) == 2)
        assert all(f"ticket/{first['id']}/" in key for key in marked(sb))  # only that ticket
        syncs = sb.count(service="zammad")
        again = requests.post(url, data=body, headers=headers, timeout=5)  # the same delivery id
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
        time.sleep(0.5)
        assert sb.count(service="zammad") == syncs

        big = b"{" + b" " * 1_100_000 + b"}"
        assert requests.post(url, data=big, timeout=5).status_code == 413
        body, headers = webhook_request(sb, second["id"], secret="s3cret-webhook-key")
        assert requests.post(url, data=body, headers=headers, timeout=5).status_code == 202
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, proc.stderr.read()
    assert len(sb.kimai.timesheets) == 4  # the second delivery was drained before exit


def test_reconcile_finds_hand_made_duplicate_and_deleted_entry(zwork):
    sb = zwork.sandbox
    [ticket] = seed_tickets(sb, tickets=1, entries=3)
    zwork.sync("zammad-kimai", check_code=0)
    entries = sb.zammad.time_accountings
    by_entry = {key.rsplit("/", 1)[1]: sheets[0] for key, sheets in marked(sb).items()}
    session, base = kimai_api(sb)
    # a person types the first entry in again by hand (same project, day and duration, no marker)
    first = by_entry[str(entries[0]["id"])]
    session.post(
        f"{base}/timesheets",
        json={
            "begin": first["begin"][:19],
            "end": first["end"][:19],
            "project": first["project"],
            "activity": first["activity"],
            "description": "printer again",
            "billable": True,
            "exported": False,
        },
    ).raise_for_status()
    # an entry is deleted in Zammad (its timesheet stays)
    sb.zammad.delete_time_accounting(ticket["id"], entries[1]["id"])
    # and one timesheet's duration is changed in Kimai
    third = by_entry[str(entries[2]["id"])]
    end = third["end"][:11] + "23:59:00"
    session.patch(
        f"{base}/timesheets/{third['id']}", json={"end": end, "billable": True, "exported": False}
    ).raise_for_status()
    day = first["begin"][:10]
    proc = zwork.run(
        "report.py", "reconcile", "--job", "zammad-kimai", "--from", day, "--to", day, "--json", check_code=0
    )
    report = json.loads(proc.stdout)
    assert report["totals"] == {
        "matched": 1,
        "mismatched": 1,
        "missing_in_kimai": 0,
        "missing_in_zammad": 1,
        "duplicated": 1,
    }
    classes = {row["class"]: row for row in report["items"]}
    assert classes["missing_in_zammad"]["detail"] == "entry deleted in Zammad"
    assert classes["mismatched"]["detail"].startswith("duration")
    table = zwork.run("report.py", "reconcile", "--from", day, "--to", day, check_code=0).stdout
    assert "duplicated" in table and "missing_in_zammad" in table
    csv_out = zwork.run("report.py", "reconcile", "--from", day, "--to", day, "--csv", check_code=0).stdout
    assert csv_out.splitlines()[0] == "class,ticket,entry,timesheet,detail" and len(csv_out.splitlines()) == 5

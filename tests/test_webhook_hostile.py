"""`python sync.py webhook` faces the network: raw-socket clients that are slow, half-open, lying
about their length, sending signed garbage or hanging up must never lock a delivery out, crash a
handler or print a traceback."""

import hashlib
import hmac
import json
import select
import signal
import socket
import time

import pytest
import requests
from test_zammad_kimai_e2e import seed_tickets, zwork  # noqa: F401 (zwork: fixture)
from test_zammad_kimai_webhook import free_port, start_webhook

SECRET = "s3cret-webhook-key"
PATH = "/webhooks/zammad"


@pytest.fixture
def hook(zwork):
    """A running `sync.py webhook` with a secret: (workdir, port, process)."""
    zwork.set(ZAMMAD_WEBHOOK_SECRET=SECRET)
    port = free_port()
    proc = start_webhook(zwork, port)
    yield zwork, port, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def stop(proc):
    """SIGTERM the receiver; its exit code and stderr lines."""
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    return code, proc.stderr.read().splitlines()


def quiet(lines):
    """The lines about clients or exceptions (socketserver prints "Exception occurred ..." and a
    traceback between dashes): none is expected."""
    words = ("Traceback", "Error", "Exception", "-----", "webhook request", "went away", "refused")
    return [ln for ln in lines if any(word in ln for word in words)]


def signed(body, delivery=None):
    headers = {"X-Hub-Signature": "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()}
    if delivery:
        headers["X-Zammad-Delivery"] = delivery
    return headers


def raw(port, request, timeout=3):
    """Send raw bytes, return the status code of the answer (None when the server just closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]) if data else None


def post(body, headers):
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"POST {PATH} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode() + body


def test_flood_of_slow_and_half_open_connections_never_locks_a_delivery_out(hook):
    workdir, port, proc = hook
    [ticket] = seed_tickets(workdir.sandbox, tickets=1, entries=1)
    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]  # past MAX_CONNECTIONS
    trickle = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    for n, sock in enumerate(trickle):  # half of them never end their headers, half their body
        headers_end = b"" if n % 2 else b"\r\n"
        sock.sendall(f"POST {PATH} HTTP/1.1\r\nContent-Length: 400\r\n".encode() + headers_end)
    try:
        body, headers = workdir.sandbox.zammad.webhook_request(ticket["id"], secret=SECRET)
        started = time.monotonic()
        answer = requests.post(f"http://127.0.0.1:{port}{PATH}", data=body, headers=headers, timeout=2)
        assert answer.status_code == 202 and time.monotonic() - started < 2
        # the slow ones are dropped within a few seconds, even those sending a header byte a second
        waiting = set(silent + trickle)
        deadline = time.monotonic() + 9
        while waiting and time.monotonic() < deadline:
            for sock in trickle:
                if sock in waiting:
                    try:
                        sock.send(b"X")
                    except OSError:
                        waiting.discard(sock)
            readable, _, _ = select.select(list(waiting), [], [], 0.5)
            for sock in readable:
                try:
                    if sock.recv(4096) == b"":
                        waiting.discard(sock)
                except OSError:
                    waiting.discard(sock)
        assert not waiting, f"{len(waiting)} slow connections still open after 9 s"
    finally:
        for sock in silent + trickle:
            sock.close()
    code, lines = stop(proc)
    assert code == 0 and quiet(lines) == []


def test_content_length_is_checked_before_any_body_is_read(hook):
    workdir, port, proc = hook
    ok = json.dumps({"ticket": {"id": 1}}).encode()
    cases = [
        (b"POST / HTTP/1.1\r\nHost: x\r\n\r\n", 411),  # missing
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 411),
        (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n", 413),  # answered without the body
        (b"POST / HTTP/1.1\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n", 413),
    ]
    for request, status in cases:
        started = time.monotonic()
        assert raw(port, request) == status, request[:80]
        assert time.monotonic() - started < 2, request[:80]
    assert raw(port, post(ok, {"Content-Length": len(ok), **signed(ok)})) == 202
    code, lines = stop(proc)
    assert code == 0 and quiet(lines) == []


def test_malformed_signed_bodies_get_400(hook):
    workdir, port, proc = hook
    bodies = [
        b"",
        b"{not json",
        b"\xff\xfe\x00",
        b"null",
        b"[1]",
        b'"ticket"',
        b'{"ticket": 5}',
        b'{"ticket": [1]}',
        b'{"ticket": {}}',
        b'{"ticket": {"id": null}}',
        b'{"ticket": {"id": "12"}}',
        b'{"ticket": {"id": true}}',
        b'{"ticket": {"id": 1.5}}',
        b'{"ticket": {"id": 12.0}}',
        b'{"ticket": {"id": 1e400}}',
        b'{"ticket": {"id": NaN}}',
        b'{"ticket": {"id": -Infinity}}',
        b'{"ticket": {"id": 0}}',
        b'{"ticket": {"id": -3}}',
        b'{"ticket": {"id": 9223372036854775808}}',  # 2^63: past SQLite's integer
        b'{"ticket": {"id": 18446744073709551616}}',
        b'{"ticket": {"id": ' + b"9" * 5000 + b"}}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"ticket": {"id": 1}, "article": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_000 + b"}",
    ]
    url = f"http://127.0.0.1:{port}{PATH}"
    for body in bodies:
        answer = requests.post(url, data=body, headers=signed(body), timeout=5)
        assert answer.status_code == 400, body[:60]
        assert "ticket" in answer.json()["error"]
    body = b'{"ticket": {"id": 9223372036854775807}}'  # the largest id SQLite holds is taken
    assert requests.post(url, data=body, headers=signed(body, "d-max"), timeout=5).status_code == 202
    body = b'{"ticket": {"id": 1}}'
    assert requests.post(url, data=body, headers=signed(body, "x" * 5000), timeout=5).status_code == 400
    code, lines = stop(proc)
    assert code == 0
    assert quiet(lines) == [], lines


def test_clients_that_hang_up_are_forgotten_silently(hook):
    workdir, port, proc = hook
    [ticket] = seed_tickets(workdir.sandbox, tickets=1, entries=1)
    body, headers = workdir.sandbox.zammad.webhook_request(ticket["id"], secret=SECRET)
    head = post(b"", {**headers, "Content-Length": len(body)})
    for cut in (0, 10, len(body) // 2):  # gone mid-body, with a FIN
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(head + body[:cut])
    for cut in (10, len(body)):  # gone with a reset, mid-body and before reading the answer
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(head + body[:cut])
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
    with socket.create_connection(("127.0.0.1", port)) as sock:  # half a request line
        sock.sendall(b"POST /webh")
    time.sleep(0.5)
    answer = requests.post(f"http://127.0.0.1:{port}{PATH}", data=body, headers=headers, timeout=2)
    assert answer.status_code in (200, 202)  # 200: the reset delivery above had its id recorded
    code, lines = stop(proc)
    assert code == 0 and quiet(lines) == [], lines


@pytest.mark.parametrize("kind", ["directory", "text file"])
def test_unusable_store_stops_it_before_it_listens(zwork, kind):
    zwork.set(ZAMMAD_WEBHOOK_SECRET=SECRET)
    path = zwork.path / "store"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_text("not a database\n" * 10)
    zwork.set(DATABASE_PATH=str(path))
    port = free_port()
    proc = zwork.run("sync.py", "webhook", "--port", str(port), timeout=10)
    assert proc.returncode in ((78,) if kind == "directory" else (65, 78)), proc.stderr  # store's own code
    assert "DATABASE_PATH" in proc.stderr and "listening" not in proc.stderr
    assert "Traceback" not in proc.stderr
    if kind == "text file":
        assert path.read_text() == "not a database\n" * 10


def test_listens_on_loopback_unless_host_says_otherwise(hook):
    workdir, port, proc = hook
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: only picks the outward address
        outward = probe.getsockname()[0]
    if outward.startswith("127."):
        pytest.skip("this host has no address besides loopback")
    with pytest.raises(OSError):
        socket.create_connection((outward, port), timeout=2).close()
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200
    code, lines = stop(proc)
    assert code == 0 and any(f"on http://127.0.0.1:{port}/" in ln for ln in lines), lines

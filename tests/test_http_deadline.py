"""Every HTTP exchange has one total deadline (common/http_deadline.py): a server that trickles its
status line, its headers or its body one byte at a time, each byte well inside the per-read
timeout, is cut off after DEADLINE_TIMEOUTS x HTTP_TIMEOUT and the run stops with 69 in one line;
and retries never stretch a request past REQUEST_TIMEOUTS x HTTP_TIMEOUT, the waits included."""

import socket
import threading
import time

import pytest
import responses
from ops_helpers import run

from common import http as http_module
from common import shutdown
from common.config import load_settings
from common.errors import Interrupted, RateLimited, ServiceUnavailable, UnknownOutcome
from common.http import RequestCounter, ServiceSession

STEP = 0.1  # seconds between two trickled bytes: far inside any per-read timeout

STATUS = b"HTTP/1.1 200 OK\r\n"
HEADERS = b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"


def _trickle(conn, data):
    for byte in data:
        conn.sendall(bytes([byte]))
        time.sleep(STEP)


def _serve(conn, mode):
    """One connection of the hostile server: read the request, then answer as `mode` says."""
    with conn:
        conn.settimeout(30)
        request = b""
        while b"\r\n\r\n" not in request:
            data = conn.recv(65536)
            if not data:
                return
            request += data
        try:
            if mode == "status":  # the status line never ends
                _trickle(conn, b"HTTP/1.1 200 " + b"O" * 100_000)
            elif mode == "headers":  # the status line at once, then one header without end
                conn.sendall(STATUS)
                _trickle(conn, b"X-Padding: " + b"a" * 100_000)
            elif mode == "body":  # status and headers at once, the body a byte at a time
                conn.sendall(STATUS + HEADERS)
                _trickle(conn, b"[" + b" " * 100_000)
            elif mode == "stall":  # reads the request, never answers
                time.sleep(30)
            elif mode == "busy":  # 503 with a Retry-After longer than the budget left
                conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n")
            elif mode == "rate":  # 429 asking to wait longer than the budget left
                conn.sendall(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 30\r\nContent-Length: 0\r\n\r\n")
        except OSError:  # the client hung up: what it should do
            pass


class TrickleServer:
    """A raw-socket server: the path's first segment picks the behaviour; counts connections."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._route, args=(conn,), daemon=True).start()

    def _route(self, conn):
        head = conn.recv(65536, socket.MSG_PEEK)
        path = head.split(b" ", 2)[1].decode() if head.count(b" ") >= 2 else "/"
        _serve(conn, path.strip("/").split("/", 1)[0])

    def close(self):
        self.sock.close()


@pytest.fixture
def server():
    srv = TrickleServer()
    yield srv
    srv.close()


def session(url, timeout="1"):
    settings = load_settings(None, environ={"HTTP_TIMEOUT": timeout, "CACHE_ENABLED": "false"})
    return ServiceSession("kimai", url, {"Authorization": "Bearer secret-token-1"}, settings, counter=RequestCounter())


@pytest.mark.parametrize("mode", ["status", "headers", "body"])
def test_a_trickled_answer_is_cut_at_the_attempt_deadline(server, monkeypatch, mode):
    monkeypatch.setattr(http_module, "DEADLINE_TIMEOUTS", 1.5)  # 1.5 x HTTP_TIMEOUT (1 s)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match=r"GET /\w+/x: the answer was still arriving after 1.5 x HTTP_TIMEOUT"):
        session(f"{server.url}/{mode}").get_json("x")
    assert time.monotonic() - started < 3
    assert server.connections == 1  # a trickling server is not asked again


def test_a_trickled_answer_to_a_write_is_an_unknown_outcome(server, monkeypatch):
    monkeypatch.setattr(http_module, "DEADLINE_TIMEOUTS", 1.5)
    started = time.monotonic()
    with pytest.raises(UnknownOutcome, match="still arriving"):
        session(f"{server.url}/headers").request("POST", "x", json={"a": 1})
    assert time.monotonic() - started < 3


def test_retries_of_a_silent_server_stop_at_the_request_budget(server, monkeypatch):
    """Each attempt times out after HTTP_TIMEOUT (1 s) and is retried (6 read retries: 7 s in
    all without a budget); the budget of 2.5 x HTTP_TIMEOUT ends it after the third."""
    monkeypatch.setattr(http_module, "REQUEST_TIMEOUTS", 2.5)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match=r"GET /\w+/x: no answer after 3 attempts in 2.5 x HTTP_TIMEOUT"):
        session(f"{server.url}/stall").get_json("x")
    assert time.monotonic() - started < 3.5
    assert server.connections == 3


def test_a_retry_wait_past_the_budget_is_not_slept(server, monkeypatch):
    """503 with Retry-After: 1 s, and a budget of 2.5 x HTTP_TIMEOUT (1 s): two waits fit, the
    third would overrun the budget and is not slept."""
    monkeypatch.setattr(http_module, "REQUEST_TIMEOUTS", 2.5)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match=r"no answer after 3 attempts in 2.5 x HTTP_TIMEOUT \(2.5 s"):
        session(f"{server.url}/busy").get_json("x")
    assert 1.8 < time.monotonic() - started < 2.5


def test_a_rate_limit_wait_past_the_budget_is_temporary(server):
    started = time.monotonic()
    with pytest.raises(RateLimited):
        session(f"{server.url}/rate").get_json("x")
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("mode", ["status", "headers", "body"])
def test_the_sync_exits_69_in_one_line_against_a_trickling_server(server, tmp_path, mode):
    env_file = tmp_path / "t.env"
    env_file.write_text(
        f"KIMAI_URL={server.url}/{mode}\nKIMAI_TOKEN=kimai-token-1\nGITEA_URL={server.url}/{mode}\n"
        f"GITEA_TOKEN=gitea-token-1\nGITEA_ORGANIZATION=acme\nHTTP_TIMEOUT=1\nDATABASE_PATH={tmp_path}/s.db\n"
        f"LOG_FILE={tmp_path}/t.log\nCACHE_DIR={tmp_path}/cache\n"
    )
    started = time.monotonic()
    proc = run("sync.py", cwd=tmp_path, env_file=env_file, timeout=60)
    elapsed = time.monotonic() - started
    assert proc.returncode == 69, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "still arriving after 4 x HTTP_TIMEOUT (4 s)" in lines[0]
    assert lines[0].startswith(("error: kimai: GET /", "error: gitea: GET /")), lines[0]
    assert elapsed < 10


@responses.activate
def test_waiting_on_our_own_rate_limit_does_not_spend_the_budget(monkeypatch):
    """RATE_LIMIT_* throttles on our side: that wait is not the server's slowness."""
    monkeypatch.setattr(http_module, "REQUEST_TIMEOUTS", 1.5)  # 1.5 s per request, retries included
    responses.get("https://kimai.example.com/api/x", json={"ok": 1})
    settings = load_settings(
        None,
        environ={
            "HTTP_TIMEOUT": "1",
            "CACHE_ENABLED": "false",
            "RATE_LIMIT_ENABLED": "true",
            "RATE_LIMIT_REQUESTS": "1",
            "RATE_LIMIT_PERIOD": "2",
        },
    )
    http = ServiceSession("kimai", "https://kimai.example.com/api", {}, settings, counter=RequestCounter())
    started = time.monotonic()
    assert [http.get_json("x"), http.get_json("x")] == [{"ok": 1}, {"ok": 1}]
    assert time.monotonic() - started >= 1.9  # the second waited 2 s for the limiter, past its budget


@pytest.mark.parametrize("mode", ["status", "headers", "body", "stall"])
def test_a_stop_request_cuts_a_slow_read_at_once(server, mode):
    """SIGTERM while a GET waits on a trickling or silent server: Interrupted (75) within a
    moment, not at the deadline (4 s here) nor after retries."""
    timer = threading.Timer(0.5, shutdown.request)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(Interrupted):
            session(f"{server.url}/{mode}").get_json("x")
    finally:
        shutdown._requested.clear()
    assert time.monotonic() - started < 1.5

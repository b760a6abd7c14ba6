"""A server's answer is bounded in size and in time (common/http.py): a huge body, a gzip bomb or
a body trickled byte by byte stops the read with one error (69) instead of eating memory or
hanging, and a stop request (SIGTERM) ends a trickled read at once."""

import gzip
import http.server
import threading
import time

import pytest
from ops_helpers import run

from common import http as http_module
from common import shutdown
from common.config import load_settings
from common.errors import Interrupted, ServiceUnavailable
from common.http import RequestCounter, ServiceSession

MIB = 1024 * 1024


class Hostile(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        mode = next((m for m in ("huge", "bomb") if f"/{m}" in self.path), "trickle")
        if mode == "huge":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            block = b" " * MIB
            try:
                for _ in range(80):
                    self.wfile.write(block)
            except OSError:
                pass
        elif mode == "bomb":
            body = gzip.compress(b"[" + b" " * (3 * MIB) + b"]")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:  # trickle: a byte every 0.2 s, never finishing within any deadline
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            try:
                for _ in range(600):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def session(url):
    settings = load_settings(None, environ={"HTTP_TIMEOUT": "1", "CACHE_ENABLED": "false"})
    return ServiceSession("kimai", url, {"Authorization": "Bearer secret-token-1"}, settings, counter=RequestCounter())


@pytest.mark.parametrize("mode", ["huge", "bomb"])
def test_a_body_past_the_limit_is_refused(server, monkeypatch, mode):
    monkeypatch.setattr(http_module, "MAX_BODY_BYTES", 2 * MIB)
    with pytest.raises(ServiceUnavailable, match="larger than 2 MiB"):
        session(server).get_json(mode)


def test_a_trickled_body_is_stopped_at_the_deadline(server, monkeypatch):
    monkeypatch.setattr(http_module, "DEADLINE_TIMEOUTS", 2)  # 2 x HTTP_TIMEOUT (1 s)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match="still arriving"):
        session(server).get_json("trickle")
    assert time.monotonic() - started < 6


def test_a_stop_request_ends_a_trickled_read_at_once(server):
    timer = threading.Timer(0.5, shutdown.request)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(Interrupted):
            session(server).get_json("trickle")
    finally:
        shutdown._requested.clear()
    assert time.monotonic() - started < 2


def test_the_sync_exits_69_in_one_line_against_a_huge_answer(server, tmp_path):
    env_file = tmp_path / "t.env"
    env_file.write_text(
        f"KIMAI_URL={server}/huge\nKIMAI_TOKEN=kimai-token-1\nGITEA_URL={server}/huge\n"
        "GITEA_TOKEN=gitea-token-1\nGITEA_ORGANIZATION=acme\nHTTP_TIMEOUT=5\n"
    )
    proc = run("sync.py", cwd=tmp_path, env_file=env_file, timeout=120)
    assert proc.returncode == 69, proc.stderr
    assert "larger than 64 MiB" in proc.stderr and "Traceback" not in proc.stderr

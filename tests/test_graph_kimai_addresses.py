"""graph-kimai against addresses that are not Graph: GRAPH_URL or GRAPH_LOGIN_URL naming another
service, or answers of another shape on a mailbox's requests, stop the whole run with one line
naming the key (78): not a failed mailbox each (3), and nothing is written."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_graph_kimai_e2e import ANN, BOB, JOB, at, gwork  # noqa: F401 (the fixture)


class WebSite(BaseHTTPRequestHandler):
    """An ordinary web server (not an API): a 404 page for every request."""

    def answer(self):
        body = b"<html><body><h1>Not Found</h1></body></html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = answer

    def log_message(self, *args):
        pass


@pytest.fixture
def website():
    server = ThreadingHTTPServer(("127.0.0.1", 0), WebSite)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("key", ["GRAPH_URL", "GRAPH_LOGIN_URL"])
def test_an_address_that_is_not_graph_is_a_configuration_error(gwork, website, key):
    gwork.sandbox.graph.add_event(ANN, "E", at(-2, 9), at(-2, 10), categories=["Website relaunch"])
    gwork.set(**{key: website})
    proc = gwork.sync(*JOB, "--json", check_code=78)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and key in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)["exit_code"] == 78
    assert gwork.sandbox.count("kimai", writes=True) == 0


@pytest.mark.parametrize("path", [r"/oauth2/", r"/mailboxSettings", r"/calendarView/delta"])
def test_an_html_answer_on_a_mailbox_request_stops_the_run(gwork, path):
    sb = gwork.sandbox
    gwork.set(GRAPH_USERS=f"{ANN},{BOB}")
    for box in (ANN, BOB):
        sb.graph.add_event(box, "E", at(-2, 9), at(-2, 10), categories=["Website relaunch"])
    sb.faults.configure(hostile=["html_200"], paths=path, services=["graph"])
    proc = gwork.sync(*JOB, check_code=78)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "does not point at" in lines[0] and "failed" not in lines[0], proc.stderr
    assert sb.count("kimai", writes=True) == 0


@pytest.mark.parametrize("users", ["", ANN])
def test_graph_url_with_a_path_too_many_is_a_configuration_error(gwork, users):
    """Graph answers a path it has no resource for with 400 BadRequest "Resource not found for the
    segment": the job's paths are fixed, so GRAPH_URL carries a path it should not (78, not a
    failed mailbox (3) or an unavailable service (69))."""
    url = next(
        line.split("=", 1)[1] for line in gwork.env_file.read_text().splitlines() if line.startswith("GRAPH_URL=")
    )
    gwork.sandbox.graph.add_event(ANN, "E", at(-2, 9), at(-2, 10), categories=["Website relaunch"])
    gwork.set(GRAPH_USERS=users, GRAPH_URL=url.rstrip("/") + "/graph")
    proc = gwork.sync(*JOB, check_code=78)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "GRAPH_URL" in lines[0] and "failed" not in lines[0], proc.stderr
    assert gwork.sandbox.count("kimai", writes=True) == 0
    log = gwork.sandbox.log  # the wrong paths are off the contract, as this test means them to be
    with log._lock:
        log._violations[:] = [v for v in log._violations if "GET /graph/v1.0/" not in v]

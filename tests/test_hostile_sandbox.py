"""The stand-ins' hostile behaviours themselves (sandbox/faults.py, sandbox/hostile.py), switched
on in-process or through the control endpoint, as the e2e tests and the demo use them."""

import base64
import json
import socket
import time
from urllib.parse import quote

import pytest
import requests

PREFIX = {"kimai": "/api", "gitea": "/api/v1", "toggl": "/api/v9"}


def get(sb, service, path, **kw):
    return requests.get(sb.url(service) + PREFIX[service] + path, timeout=10, **kw)


def test_configured_through_the_control_endpoint_and_unknown_names_refused(sandbox):
    control = sandbox.url("kimai") + "/_sandbox/faults"
    answer = requests.post(control, json={"hostile": ["html_200"], "paths": "/version$"}, timeout=10)
    assert answer.status_code == 200 and answer.json()["hostile"] == ["html_200"]
    token = sandbox.tokens["kimai"]
    page = get(sandbox, "kimai", "/version", headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200 and page.text.startswith("<!DOCTYPE html>")
    assert get(sandbox, "kimai", "/ping", headers={"Authorization": f"Bearer {token}"}).json()  # other paths: honest
    refused = requests.post(control, json={"hostile": ["nonsense"]}, timeout=10)
    assert refused.status_code == 400 and "unknown hostile behaviour" in refused.json()["error"]


def test_echoed_credentials_quote_the_header_in_every_form(sandbox):
    sandbox.faults.configure(hostile=["echo_credentials"], services=["toggl"], echo_status=403)
    token = sandbox.tokens["toggl"]
    answer = get(sandbox, "toggl", "/me", auth=(token, "api_token"))
    assert answer.status_code == 403
    text = answer.json()["message"]
    header = "Basic " + base64.b64encode(f"{token}:api_token".encode()).decode()
    for form in (header, header.lower(), quote(header, safe=""), f"{token}:api_token", quote(f"{token}:api_token")):
        assert form in text, form
    assert [r.fault for r in sandbox.requests] == ["echo_credentials"]
    assert sandbox.toggl.state() is not None  # the service never saw the request


def test_paging_headers_removed_and_next_links_rewritten(sandbox):
    from gitea_helpers import seed

    seed(sandbox, issues=12)
    headers = {"Authorization": f"token {sandbox.tokens['gitea']}"}
    path = "/repos/acme/web/issues?limit=5&page=1"
    honest = get(sandbox, "gitea", path, headers=headers)
    assert 'rel="next"' in honest.headers["Link"] and "X-Total-Count" in honest.headers
    sandbox.faults.configure(hostile=["no_paging_headers"], services=["gitea"])
    bare = get(sandbox, "gitea", path, headers=headers)
    assert "Link" not in bare.headers and "X-Total-Count" not in bare.headers and len(bare.json()) == 5
    sandbox.faults.configure(hostile=["loop_next"], services=["gitea"])
    assert get(sandbox, "gitea", path, headers=headers).links["next"]["url"].endswith(path)
    sandbox.faults.configure(hostile=["foreign_next"], services=["gitea"])
    assert get(sandbox, "gitea", path, headers=headers).links["next"]["url"].startswith("http://localhost:")
    sandbox.faults.configure(hostile=["repeat_page"], services=["gitea"])
    second = get(sandbox, "gitea", path.replace("page=1", "page=2"), headers=headers)
    assert second.json() == honest.json()


def test_malformed_json_keeps_the_status_and_cuts_the_body(sandbox):
    sandbox.faults.configure(hostile=["malformed_json"], services=["kimai"], paths="/customers$")
    answer = get(sandbox, "kimai", "/customers", headers={"Authorization": f"Bearer {sandbox.tokens['kimai']}"})
    assert answer.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.text)


def test_a_trickled_answer_arrives_a_byte_at_a_time(sandbox):
    sandbox.faults.configure(hostile=["trickle"], services=["kimai"], trickle_ms=50)
    host, port = sandbox.url("kimai").split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(
            f"GET /api/ping HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {sandbox.tokens['kimai']}\r\n\r\n".encode()
        )
        started = time.monotonic()
        first = conn.recv(100)
        second = conn.recv(100)
    assert len(first) == 1 and len(second) == 1 and first + second == b"HT"
    assert time.monotonic() - started >= 0.04


def test_an_oversized_answer_is_valid_json_past_the_limit(sandbox):
    sandbox.faults.configure(hostile=["oversized"], services=["kimai"], oversized_mib=2, paths="/ping$")
    answer = get(sandbox, "kimai", "/ping", headers={"Authorization": f"Bearer {sandbox.tokens['kimai']}"})
    assert len(answer.content) > 2 * 2**20 and answer.json()

"""Injected faults: 5xx and 429 before anything happens, dropped connections, commit-then-drop."""

from __future__ import annotations

import time

import pytest
import requests
from sandbox_testkit import gitea, kimai, sb  # noqa: F401 (pytest fixtures)

CUSTOMER = {"name": "Faulty", "country": "DE", "currency": "EUR", "timezone": "Europe/Berlin", "visible": True}


def test_error_rate_answers_5xx_before_doing_anything(sb, kimai):
    sb.faults.configure(error_rate=1.0, seed=7)
    statuses = {kimai.post("/customers", json=CUSTOMER).status_code for _ in range(20)}
    assert statuses <= {500, 502, 503} and len(statuses) > 1
    assert sb.kimai.customers == []
    assert {record.fault for record in sb.requests} == {"error"}


def test_429_carries_retry_after(sb, gitea):
    sb.faults.configure(rate_429=1.0, retry_after=3)
    response = gitea.get("/version")
    assert response.status_code == 429 and response.headers["Retry-After"] == "3"


def test_drop_closes_the_connection_without_a_response(sb, kimai):
    sb.faults.configure(drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        kimai.post("/customers", json=CUSTOMER)
    assert sb.kimai.customers == []
    assert [(r.status, r.fault) for r in sb.requests] == [(None, "drop")]


def test_commit_drop_performs_the_write_then_drops(sb, kimai):
    sb.faults.configure(commit_drop_rate=1.0)
    assert kimai.get("/customers").status_code == 200  # reads are never commit-dropped
    with pytest.raises(requests.ConnectionError):
        kimai.post("/customers", json=CUSTOMER)
    assert [c["name"] for c in sb.kimai.customers] == ["Faulty"]
    assert sb.requests[-1].fault == "commit_drop" and sb.requests[-1].status is None
    assert sb.count(service="kimai", writes=True) == 1 and sb.count(method="GET") == 1


def test_faults_can_target_one_service_and_reset(sb, gitea, kimai):
    sb.faults.configure(error_rate=1.0, services=["kimai"])
    assert gitea.get("/version").status_code == 200
    assert kimai.get("/ping").status_code >= 500
    sb.faults.reset()
    assert kimai.get("/ping").status_code == 200


def test_seeded_faults_are_deterministic(sb, gitea):
    def run() -> list[int]:
        sb.faults.configure(error_rate=0.5, seed=42)
        return [gitea.get("/version").status_code for _ in range(30)]

    assert run() == run()


def test_latency_is_applied_per_request(sb, gitea):
    sb.faults.configure(latency_ms=100)
    started = time.monotonic()
    gitea.get("/version")
    assert time.monotonic() - started >= 0.1


def test_bad_settings_are_refused(sb):
    with pytest.raises(ValueError):
        sb.faults.configure(error_rate=2)


def test_a_client_killed_mid_body_is_dropped_not_served(sb):
    """A client killed after sending the headers of a write must not become a request (nor a
    contract violation): the server sees the connection close before the body is complete."""
    import socket
    import time
    from urllib.parse import urlsplit

    before = len(sb.kimai.projects)
    host, port = urlsplit(sb.url("kimai")).hostname, urlsplit(sb.url("kimai")).port
    with socket.create_connection((host, port)) as conn:
        conn.sendall(
            b"POST /api/projects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + sb.tokens["kimai"].encode() + b'\r\nContent-Length: 100\r\n\r\n{"name"'
        )
    time.sleep(0.3)
    assert len(sb.kimai.projects) == before and sb.violations == [] and sb.count(service="kimai") == 0

"""The HTTP layer: error mapping, dry-run guard, POST never resent blindly, counting.
(Retries on the wire are exercised against the sandbox in the chaos tests.)"""

import socket

import pytest
import responses

from common import http as http_module
from common.config import KEYS, load_settings
from common.errors import ApiError, AuthError, DryRunWrite, NotFound, RateLimited, ServiceUnavailable, UnknownOutcome
from common.http import RequestCounter, ServiceSession, error_detail

BASE = "https://kimai.example.com/api"


def session(dry_run=False, **env):
    settings = load_settings(None, environ={"KIMAI_TOKEN": "secret-token-1234", "CACHE_ENABLED": "false", **env})
    counter = RequestCounter()
    return ServiceSession(
        "kimai", BASE, {"Authorization": "Bearer secret-token-1234"}, settings, counter=counter, dry_run=dry_run
    ), counter


@responses.activate
def test_401_is_an_auth_error_naming_the_token_key_but_not_the_token():
    responses.get(f"{BASE}/users/me", status=401, json={"message": "Invalid credentials"})
    http, _ = session()
    with pytest.raises(AuthError) as err:
        http.get_json("users/me")
    assert str(err.value) == "kimai: authentication refused (401): check KIMAI_TOKEN"
    assert err.value.exit_code == 77


@responses.activate
def test_403_and_404_and_validation_errors():
    responses.get(f"{BASE}/customers", status=403, json={"code": 403, "message": "Forbidden"})
    responses.get(f"{BASE}/projects/9", status=404, json={"code": 404, "message": "Not Found"})
    responses.post(
        f"{BASE}/activities",
        status=400,
        json={
            "code": 400,
            "message": "Validation Failed",
            "errors": {"children": {"name": {"errors": ["This value is not valid."]}}},
        },
    )
    http, _ = session()
    with pytest.raises(AuthError, match="permission refused"):
        http.get_json("customers")
    with pytest.raises(NotFound):
        http.get_json("projects/9")
    with pytest.raises(ApiError, match="name: This value is not valid."):
        http.request("POST", "activities", json={"name": "<x>"})


@responses.activate
def test_post_with_server_error_is_unknown_outcome_and_sent_once():
    responses.post(f"{BASE}/activities", status=502)
    http, counter = session()
    with pytest.raises(UnknownOutcome):
        http.request("POST", "activities", json={"name": "x"})
    assert len(responses.calls) == 1 and counter.totals()["writes"] == 1


@responses.activate
def test_post_refused_with_429_is_resent_after_retry_after():
    responses.post(f"{BASE}/activities", status=429, headers={"Retry-After": "0"})
    responses.post(f"{BASE}/activities", status=200, json={"id": 1})
    http, _ = session()
    assert http.request("POST", "activities", json={"name": "x"}).json() == {"id": 1}
    assert len(responses.calls) == 2


@responses.activate
def test_long_retry_after_stops_with_rate_limited():
    responses.post(f"{BASE}/activities", status=429, headers={"Retry-After": "3600"})
    http, _ = session()
    with pytest.raises(RateLimited) as err:
        http.request("POST", "activities", json={"name": "x"})
    assert err.value.exit_code == 75


@responses.activate
def test_dry_run_refuses_every_write_before_it_leaves():
    http, counter = session(dry_run=True)
    for method in ("POST", "PATCH", "PUT", "DELETE"):
        with pytest.raises(DryRunWrite):
            http.request(method, "activities/1", json={})
    assert len(responses.calls) == 0 and counter.totals()["requests"] == 0


def test_unreachable_server_is_service_unavailable(monkeypatch):
    import urllib3.util.retry

    waits = []  # urllib3's back-off between connection attempts, recorded instead of slept
    monkeypatch.setattr(urllib3.util.retry.time, "sleep", waits.append)
    backoff = [
        min(KEYS["HTTP_RETRY_BACKOFF"].default * 2**n, http_module.RETRY_BACKOFF_MAX)
        for n in range(1, http_module.RETRY_CONNECT)
    ]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    settings = load_settings(None, environ={"CACHE_ENABLED": "false", "HTTP_TIMEOUT": "2"})
    http = ServiceSession("gitea", f"http://127.0.0.1:{port}/api/v1", {}, settings, counter=RequestCounter())
    with pytest.raises(ServiceUnavailable, match="connection refused") as err:
        http.get_json("version")
    assert err.value.exit_code == 69
    assert waits == backoff  # every connection attempt was retried, waiting longer each time
    waits.clear()
    with pytest.raises(ServiceUnavailable):  # a POST that never left is not an unknown outcome
        http.request("POST", "x", json={})
    assert waits == backoff


def test_error_detail_reads_each_services_error_shape():
    assert error_detail({"message": "not found", "url": "u"}) == "not found"
    assert error_detail({"errorMessages": ["bad jql"], "errors": {}}) == "bad jql"
    assert error_detail({"error": {"code": "ErrorAccessDenied", "message": "Access is denied."}}) == "Access is denied."
    assert error_detail("'since' and 'before' can not be present simultaneously").startswith("'since'")


def test_cache_holds_exactly_the_reference_urls(tmp_path):
    from requests_cache.policy.expiration import DO_NOT_CACHE, get_url_expiration

    settings = load_settings(None, environ={"CACHE_DIR": str(tmp_path), "CACHE_TTL": "60"})
    http = ServiceSession(
        "gitea", "https://git.example.com/api/v1", {}, settings, counter=RequestCounter(), cacheable=("version", "user")
    )
    patterns = http.session.settings.urls_expire_after
    base = "https://git.example.com/api/v1"
    assert get_url_expiration(f"{base}/user", patterns) == 60
    assert get_url_expiration(f"{base}/version", patterns) == 60
    for changing in ("users/acme/repos", "user/repos", "repos/acme/web/issues?since=x", "user?x=1"):
        assert get_url_expiration(f"{base}/{changing}", patterns) == DO_NOT_CACHE, changing


def test_long_retry_after_on_a_real_get_stops_at_once(sandbox):
    """urllib3's retries run below `responses`; here against the sandbox's real 429."""
    import time

    sandbox.faults.configure(rate_429=1.0, retry_after=3600, services=["kimai"])
    settings = load_settings(None, environ={"CACHE_ENABLED": "false"})
    http = ServiceSession(
        "kimai",
        f"{sandbox.url('kimai')}/api",
        {"Authorization": f"Bearer {sandbox.tokens['kimai']}"},
        settings,
        counter=RequestCounter(),
    )
    started = time.monotonic()
    with pytest.raises(RateLimited):
        http.get_json("users/me")
    assert time.monotonic() - started < 5


def test_short_retry_after_is_waited_out_and_retried(sandbox):
    sandbox.faults.configure(rate_429=0.5, retry_after=0, seed=2, services=["kimai"])
    settings = load_settings(None, environ={"CACHE_ENABLED": "false"})
    counter = RequestCounter()
    http = ServiceSession(
        "kimai",
        f"{sandbox.url('kimai')}/api",
        {"Authorization": f"Bearer {sandbox.tokens['kimai']}"},
        settings,
        counter=counter,
    )
    for _ in range(5):
        assert http.get_json("users/me")["username"]
    assert counter.totals()["requests"] == sandbox.count(service="kimai") > 5

"""A URL taken from a response is followed only on the configured origin: a redirect elsewhere
(another host, port or scheme) stops the run (69) and nothing is sent there; a Retry-After that
is not a finite number is never slept on."""

import pytest
import responses

from common.config import load_settings
from common.errors import ApiError, RateLimited, ServiceUnavailable
from common.http import RequestCounter, ServiceSession

BASE = "https://kimai.example.com/api"


def session():
    settings = load_settings(None, environ={"HTTP_TIMEOUT": "5", "CACHE_ENABLED": "false"})
    return ServiceSession("kimai", BASE, {"Authorization": "Bearer tok-1234"}, settings, counter=RequestCounter())


@responses.activate
@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example.com/api/users/me",
        "http://kimai.example.com/api/users/me",
        "https://kimai.example.com:8443/x",
    ],
)
def test_a_redirect_to_another_origin_is_refused(target):
    responses.get(f"{BASE}/users/me", status=302, headers={"Location": target})
    elsewhere = responses.get(target, json={"id": 1})
    with pytest.raises(
        ServiceUnavailable, match=r"kimai: GET /api/users/me: redirected to .*not the configured KIMAI_URL"
    ):
        session().get_json("users/me")
    assert elsewhere.call_count == 0


@responses.activate
def test_a_redirect_on_the_same_origin_is_followed_with_the_credentials():
    responses.get(f"{BASE}/users/me", status=301, headers={"Location": "/api/v2/users/me"})
    moved = responses.get("https://kimai.example.com/api/v2/users/me", json={"id": 1})
    assert session().get_json("users/me") == {"id": 1}
    assert moved.calls[0].request.headers["Authorization"] == "Bearer tok-1234"


@responses.activate
def test_a_redirect_loop_ends():
    responses.get(f"{BASE}/a", status=302, headers={"Location": f"{BASE}/b"})
    responses.get(f"{BASE}/b", status=302, headers={"Location": f"{BASE}/a"})
    with pytest.raises(ServiceUnavailable, match="more than 5 redirects"):
        session().get_json("a")


@responses.activate
def test_a_write_is_never_redirected():
    responses.post(f"{BASE}/timesheets", status=307, headers={"Location": "https://evil.example.com/t"})
    elsewhere = responses.post("https://evil.example.com/t", json={"id": 1})
    with pytest.raises(ApiError, match=r"POST timesheets refused \(307\)"):
        session().request("POST", "timesheets", json={"a": 1})
    assert elsewhere.call_count == 0


@responses.activate
@pytest.mark.parametrize("value", ["nan", "inf", "-1e999", "soon"])
def test_a_retry_after_that_is_no_number_is_not_slept_on(value):
    responses.post(f"{BASE}/timesheets", status=429, headers={"Retry-After": value})
    with pytest.raises(RateLimited):
        session().request("POST", "timesheets", json={"a": 1})
    assert len(responses.calls) == 1

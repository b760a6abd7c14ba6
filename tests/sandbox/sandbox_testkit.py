"""Fixtures for the sandbox's own tests: a started Sandbox per test and small API clients.

Test modules import the fixtures they use from here (this directory has no conftest.py, so it
never shadows the ``conftest`` module that tests/conftest.py provides). Every test fails if the
sandbox recorded a contract violation, unless it also requests the ``allow_violations`` fixture
(tests that send bad requests on purpose).
"""

from __future__ import annotations

import threading

import pytest
import requests

from sandbox import Sandbox


class Api:
    """A requests session bound to one service's API base URL and token."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers.update(headers)

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 5)
        return self.session.request(method, self.base + path, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def allow_violations() -> None:
    """Request this fixture in a test that provokes contract violations on purpose."""


@pytest.fixture
def sb(request: pytest.FixtureRequest):
    sandbox = Sandbox().start()
    yield sandbox
    # stopping waits up to a poll interval per server: it runs beside the next test instead
    threading.Thread(target=sandbox.stop, name="sandbox-stop", daemon=True).start()
    if "allow_violations" not in request.fixturenames:
        assert sandbox.violations == []


@pytest.fixture
def gitea(sb: Sandbox) -> Api:
    return Api(sb.url("gitea") + "/api/v1", {"Authorization": f"token {sb.tokens['gitea']}"})


@pytest.fixture
def kimai(sb: Sandbox) -> Api:
    return Api(sb.url("kimai") + "/api", {"Authorization": f"Bearer {sb.tokens['kimai']}"})


@pytest.fixture
def kimai_project(sb: Sandbox) -> dict:
    """A visible customer and project (no dates) to hang activities and timesheets on."""
    customer = sb.kimai.add_customer("ACME Corp")
    return sb.kimai.add_project("Website", customer["id"])

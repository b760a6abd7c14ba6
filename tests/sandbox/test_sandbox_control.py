"""The /_sandbox control endpoints and the ``python -m sandbox`` command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
from sandbox_testkit import gitea, sb  # noqa: F401 (pytest fixtures)

from sandbox import Sandbox

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_state_requests_violations_faults_and_reset(sb, gitea):
    control = sb.url("gitea") + "/_sandbox"
    sb.gitea.add_org("acme")
    sb.gitea.add_repo("acme", "web")
    sb.gitea.add_issue("acme", "web", "First")
    state = requests.get(control + "/state").json()
    assert state["repos"][0]["full_name"] == "acme/web" and state["repos"][0]["issues"][0]["title"] == "First"

    gitea.get("/repos/acme/web/issues")
    logged = requests.get(control + "/requests").json()
    assert [(r["method"], r["path"], r["status"]) for r in logged] == [("GET", "/api/v1/repos/acme/web/issues", 200)]
    assert requests.get(sb.url("kimai") + "/_sandbox/requests").json() == []
    assert len(requests.get(sb.url("kimai") + "/_sandbox/requests", params={"all": 1}).json()) == 1
    assert requests.get(control + "/violations").json() == []

    settings = requests.post(control + "/faults", json={"error_rate": 1.0, "services": ["gitea"]}).json()
    assert settings["error_rate"] == 1.0 and settings["services"] == ["gitea"]
    assert gitea.get("/version").status_code >= 500
    assert requests.get(control + "/state").status_code == 200  # control endpoints have no faults
    assert requests.post(control + "/faults", json={"bogus": 1}).status_code == 400
    requests.post(control + "/faults", json={})

    assert requests.post(control + "/reset").json() == {"ok": True}
    assert sb.requests == []  # control calls are never logged


def test_sandbox_can_use_fixed_ports_and_env():
    with Sandbox(ports={"gitea": 0}) as first:
        port = int(first.url("gitea").rsplit(":", 1)[1])
    with Sandbox(ports={"gitea": port}) as second:
        assert second.url("gitea") == f"http://127.0.0.1:{port}"
        env = second.env(owner="umbrella")
        assert env["GITEA_ORGANIZATION"] == "umbrella" and env["KIMAI_TOKEN"] == second.tokens["kimai"]
        assert {"GITEA_URL", "GITEA_TOKEN", "GITEA_ORGANIZATION", "KIMAI_URL", "KIMAI_TOKEN"} <= set(env)


def test_command_line_prints_env_writes_file_and_stops_on_sigterm(tmp_path):
    env_file = tmp_path / "sandbox.env"
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--seed", "demo", "--env-out", str(env_file)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not env_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        written = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        lines = [process.stdout.readline().strip() for _ in written]  # one line per variable, printed first
        printed = dict(line.split("=", 1) for line in lines)
        assert written == printed
        issues = requests.get(
            printed["GITEA_URL"] + "/api/v1/repos/acme/web/issues",
            headers={"Authorization": f"token {printed['GITEA_TOKEN']}"},
            timeout=5,
        ).json()
        assert len(issues) == 3  # the open ones of the demo's web repo
        assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0

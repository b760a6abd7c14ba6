"""A strict sandbox whose contracts cannot be read refuses to start with one line; a stand-in
that breaks while serving answers 500 naming itself and is listed in ``failures``."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from sandbox import Sandbox, contract
from sandbox.__main__ import ProblemPrinter

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def specs(tmp_path, monkeypatch):
    """A copy of the shipped contracts that TRACKSYNC_SPECS points at."""
    folder = tmp_path / "specs"
    shutil.copytree(ROOT / "sandbox" / "contracts", folder)
    monkeypatch.setenv("TRACKSYNC_SPECS", str(folder))
    return folder


def refusal(**options) -> contract.ContractError:
    sandbox = Sandbox(**options)
    with pytest.raises(contract.ContractError) as caught:
        sandbox.start()
    assert sandbox._servers == {}  # nothing left listening
    return caught.value


def test_a_missing_contract_stops_a_strict_start_and_names_the_service(specs):
    (specs / contract.SPEC_FILES["kimai"]).unlink()
    error = refusal()
    assert error.service == "kimai"
    assert str(error) == (
        f"the contract file {specs / contract.SPEC_FILES['kimai']} does not exist (TRACKSYNC_SPECS is set)"
    )
    with Sandbox(strict=False) as sandbox:  # without contract checks it does not need them
        assert requests.get(sandbox.url("kimai") + "/api/version", timeout=5).status_code == 401


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda path: (path.unlink(), path.mkdir()), "cannot be read: Is a directory"),
        (lambda path: path.write_text("{not json"), "is not valid JSON"),
        (lambda path: path.write_text('{"openapi": "3.0.3"}'), "is not an OpenAPI document (no 'paths')"),
    ],
)
def test_an_unusable_contract_stops_a_strict_start(specs, damage, words):
    damage(specs / contract.SPEC_FILES["zammad"])
    error = refusal(services=["zammad"])
    assert error.service == "zammad" and words in str(error)


def test_python_m_sandbox_says_which_stand_in_cannot_start_in_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "sandbox", "--seed", "none", "--env-out", str(tmp_path / "env")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "TRACKSYNC_SPECS": str(tmp_path)},
    )
    assert proc.returncode == 78 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"sandbox: the gitea stand-in cannot start: the contract file "
        f"{tmp_path}/gitea/openapi3.subset.json does not exist (TRACKSYNC_SPECS is set)"
    ]
    assert not (tmp_path / "env").exists()


def test_a_broken_stand_in_answers_500_naming_itself_and_is_recorded():
    heard = io.StringIO()
    with Sandbox(strict=False) as sandbox:  # /boom is in no spec; failures are recorded in any mode
        sandbox.log.listener = ProblemPrinter(heard)
        sandbox.gitea.route("GET", "/boom", lambda request: {}["missing"])
        answer = requests.get(
            sandbox.url("gitea") + "/api/v1/boom",
            timeout=5,
            headers={"Authorization": f"token {sandbox.tokens['gitea']}"},
        )
        assert answer.status_code == 500
        assert answer.text == "sandbox failure in the gitea stand-in: KeyError: 'missing'\n"
        assert sandbox.failures == ["gitea GET /api/v1/boom: sandbox error: KeyError: 'missing'"]
        assert requests.get(sandbox.url("kimai") + "/_sandbox/failures", timeout=5).json() == sandbox.failures
        assert sandbox.requests[-1].fault == "sandbox_failure"
    lines = heard.getvalue().splitlines()
    assert lines[0] == "sandbox: FAILED gitea: GET /api/v1/boom: sandbox error: KeyError: 'missing'"
    assert lines[1].startswith("    Traceback") and "KeyError" in lines[-1]


def test_a_contract_that_breaks_during_a_check_is_a_failure_not_a_dropped_connection(specs):
    spec = specs / contract.SPEC_FILES["gitea"]
    spec.write_text(spec.read_text().replace('"#/components/schemas/ServerVersion"', '"#/components/schemas/Nope"'))
    with Sandbox(services=["gitea"]) as sandbox:
        answer = requests.get(sandbox.url("gitea") + "/api/v1/version", timeout=5)
        assert answer.status_code == 500 and answer.text.startswith("sandbox failure in the gitea stand-in: ")
        (failure,) = sandbox.failures
        assert failure.startswith("gitea GET /api/v1/version: sandbox error: ") and "Nope" in failure


def test_python_m_sandbox_demo_env_lets_graph_kimai_be_tried_by_hand(tmp_path):
    """`python -m sandbox --env-out FILE` (the README's way to try the other jobs): its demo seed
    has the Kimai projects and activity the Outlook events map to, and the keys that map them, so a
    hand run of graph-kimai creates timesheets; only the seed's ambiguous events fail (exit 3)."""
    env_file = tmp_path / "sandbox.env"
    server = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--env-out", str(env_file)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not env_file.exists():
            assert server.poll() is None and time.monotonic() < deadline, "the sandbox did not start"
            time.sleep(0.05)
        env_file.write_text(env_file.read_text() + f"DATABASE_PATH={tmp_path / 'sync.db'}\n")
        proc = subprocess.run(
            [sys.executable, str(ROOT / "sync.py"), "graph-kimai", "--json", "--env-file", str(env_file)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = json.loads(proc.stdout)
    job = result["jobs"][0]
    assert proc.returncode == 3 and job["counts"]["created"] > 100, proc.stdout + proc.stderr
    assert {f["reason"].split(":")[0] for f in job["failures"]} == {"ambiguous"}

"""diagnose.py: configuration, database and lock checks offline; network and API against the
sandbox."""

import json
import os
import sqlite3

import pytest
from ops_helpers import explain, offline_env, run, seed_store, store_state

from common.runlock import JobLock
from common.store import Store


def diagnose(folder, env_file, *flags):
    proc = run("diagnose.py", *flags, "--json", cwd=folder, env_file=env_file)
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(explain(proc)) from None
    assert data["exit_code"] == proc.returncode
    return proc.returncode, {c["name"]: c for c in data["checks"]}


def test_env_file_readable_by_others_warns_with_the_chmod_fix(tmp_path):
    env_file = offline_env(tmp_path)
    env_file.chmod(0o644)
    code, checks = diagnose(tmp_path, env_file, "--config")
    assert code == 0
    mode = checks["env file mode"]
    assert mode["status"] == "WARN" and mode["hint"] == f"chmod 600 {env_file}"
    env_file.chmod(0o600)
    assert diagnose(tmp_path, env_file, "--config")[1]["env file mode"]["status"] == "OK"
    table = run("diagnose.py", "--config", cwd=tmp_path, env_file=env_file).stdout
    assert table.splitlines()[0].split()[:3] == ["status", "group", "check"]


def test_unknown_malformed_and_missing_keys_fail_with_78_naming_them(tmp_path):
    env_file = offline_env(tmp_path, GITEA_ORGANIZATION=None, SYNC_WORKERS="many")
    env_file.write_text(env_file.read_text() + "KIMAI_TOKN=x\nthis line is broken\n")
    code, checks = diagnose(tmp_path, env_file, "--config")
    assert code == 78
    assert checks["KIMAI_TOKN"]["status"] == "FAIL" and "KIMAI_TOKEN" in checks["KIMAI_TOKN"]["hint"]
    assert checks["SYNC_WORKERS"]["status"] == "FAIL" and "many" in checks["SYNC_WORKERS"]["detail"]
    assert checks["job gitea-kimai"]["status"] == "FAIL" and "GITEA_ORGANIZATION" in checks["job gitea-kimai"]["detail"]
    broken = [c for name, c in checks.items() if name.startswith("line ")]
    assert len(broken) == 1 and "broken" not in broken[0]["detail"]  # the line itself may hold a secret


def test_missing_env_file_fails_with_78(tmp_path):
    proc = run("diagnose.py", "--config", cwd=tmp_path, env_file=tmp_path / "nope.env")
    assert proc.returncode == 78 and "env file not found" in proc.stdout, explain(proc)


def test_healthy_store(tmp_path):
    env_file = offline_env(tmp_path)
    seed_store(tmp_path / "sync.db")
    before = store_state(tmp_path / "sync.db")
    code, checks = diagnose(tmp_path, env_file, "--database")
    assert code == 0
    for name in ("integrity", "schema", "journal", "size"):
        assert checks[name]["status"] == "OK", checks[name]
    assert checks["pending gitea-kimai"]["status"] == "WARN"  # left by an "interrupted" run
    assert checks["failed items"]["status"] == "WARN"
    assert store_state(tmp_path / "sync.db") == before


def corrupt_pages(db):
    """Overwrite the middle of a multi-page store: the header survives, the b-trees do not."""
    with Store(db) as store:
        for n in range(400):
            store.mark_synced("gitea-kimai", f"gitea:acme/web#{n}", "activity", n, "h", {"name": "x" * 200}, None)
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db.read_bytes())
    for offset in range(4096 * 3, len(data) - 4096, 4096 * 2):
        data[offset + 8 : offset + 200] = b"\xa5" * 192
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["garbage", "pages"])
def test_corrupted_store_fails(tmp_path, how):
    env_file = offline_env(tmp_path)
    db = tmp_path / "sync.db"
    if how == "garbage":
        db.write_bytes(b"not a database at all" * 300)
    else:
        corrupt_pages(db)
    code, checks = diagnose(tmp_path, env_file, "--database")
    assert code == 65
    assert checks["integrity"]["status"] == "FAIL" and "backup.py" in checks["integrity"]["hint"]


def test_newer_schema_fails_and_missing_store_warns_without_creating_it(tmp_path):
    env_file = offline_env(tmp_path)
    code, checks = diagnose(tmp_path, env_file, "--database")
    assert code == 0 and checks["store"]["status"] == "WARN"
    assert not (tmp_path / "sync.db").exists()
    db = sqlite3.connect(tmp_path / "sync.db")
    db.execute("PRAGMA user_version = 42")
    db.commit()
    db.close()
    code, checks = diagnose(tmp_path, env_file, "--database")
    assert code == 78 and checks["schema"]["status"] == "FAIL"


def test_locks_held_and_left_by_a_dead_process(tmp_path):
    env_file = offline_env(tmp_path)
    db = tmp_path / "sync.db"
    seed_store(db)
    with JobLock(str(db), "gitea-kimai"):
        code, checks = diagnose(tmp_path, env_file, "--database")
        assert checks["lock gitea-kimai"]["status"] == "OK" and str(os.getpid()) in checks["lock gitea-kimai"]["detail"]
        assert checks["pending gitea-kimai"]["status"] == "OK"  # a run is in progress
    # a run killed mid-way leaves its pid file; the OS lock itself is gone
    (tmp_path / "sync.db.gitea-kimai.lock.pid").write_text(json.dumps({"pid": 999_999_999, "job": "gitea-kimai"}))
    code, checks = diagnose(tmp_path, env_file, "--database")
    lock = checks["lock gitea-kimai"]
    assert code == 0 and lock["status"] == "WARN" and "no longer exists" in lock["detail"]


def test_network_failure_is_69(tmp_path):
    env_file = offline_env(tmp_path)
    code, checks = diagnose(tmp_path, env_file, "--network")
    assert code == 69 and checks["gitea tcp"]["status"] == "FAIL" and checks["gitea dns"]["status"] == "OK"


def test_everything_passes_against_the_sandbox(workdir):
    sb = workdir.sandbox
    sb.gitea.add_org("acme")
    sb.gitea.add_repo("acme", "web")
    sb.gitea.add_issue("acme", "web", "first")
    seed_store(workdir.db)
    sb.clear_requests()
    code, checks = diagnose(workdir.path, workdir.env_file)  # --all is the default
    assert code == 0, checks
    for name in (
        "gitea dns",
        "gitea tcp",
        "gitea tls",
        "gitea clock",
        "kimai clock",
        "gitea authentication",
        "kimai version",
        "kimai permissions",
        "integrity",
        "journal",
    ):
        assert checks[name]["status"] == "OK", checks[name]
    assert checks["kimai dns"]["latency_ms"] is not None
    assert sb.count() > 0 and sb.count(writes=True) == 0


def test_wrong_token_fails_the_api_check_with_77(workdir):
    workdir.set(GITEA_TOKEN="wrong-token-1234")
    code, checks = diagnose(workdir.path, workdir.env_file, "--api")
    assert code == 77 and checks["gitea authentication"]["status"] == "FAIL"
    assert checks["kimai permissions"]["status"] == "OK"


@pytest.fixture
def https_server(tmp_path):
    """A tiny https server with a self-signed certificate valid for two days."""
    import http.server
    import shutil
    import ssl
    import subprocess
    import threading

    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"version": "1.0"}')

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert
    server.shutdown()


def test_tls_untrusted_certificate_fails_and_a_trusted_one_near_expiry_warns(tmp_path, https_server):
    url, cert = https_server
    env_file = offline_env(tmp_path, GITEA_URL=url, KIMAI_URL=None, KIMAI_TOKEN=None)
    code, checks = diagnose(tmp_path, env_file, "--network")
    assert code == 69 and checks["gitea tls"]["status"] == "FAIL" and "certificate" in checks["gitea tls"]["detail"]
    proc = run("test_connection.py", "--service", "gitea", cwd=tmp_path, env_file=env_file)  # Kimai is not set up
    assert proc.returncode == 69 and "gitea: tls: certificate refused" in proc.stderr, explain(proc)
    proc = run(
        "diagnose.py", "--network", "--json", cwd=tmp_path, env_file=env_file, env={"REQUESTS_CA_BUNDLE": str(cert)}
    )
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert checks["gitea tls"]["status"] == "WARN" and "expires in" in checks["gitea tls"]["detail"], checks
    assert checks["gitea clock"]["status"] == "OK"


@pytest.mark.parametrize("skew,status,code", [(0, "OK", 0), (90, "WARN", 0), (-900, "FAIL", 78)])
def test_clock_skew_against_the_servers_date_header(tmp_path, skew, status, code):
    import email.utils
    import http.server
    import threading
    import time

    class Handler(http.server.BaseHTTPRequestHandler):
        def date_time_string(self, timestamp=None):
            return email.utils.formatdate(time.time() + skew, usegmt=True)

        def do_GET(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env_file = offline_env(
            tmp_path, GITEA_URL=f"http://127.0.0.1:{server.server_address[1]}", KIMAI_URL=None, KIMAI_TOKEN=None
        )
        got, checks = diagnose(tmp_path, env_file, "--network")
    finally:
        server.shutdown()
    assert got == code and checks["gitea clock"]["status"] == status, checks["gitea clock"]

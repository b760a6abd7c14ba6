"""Relative paths of the configuration are read against the env file's folder, and a service
address that answers but is not that service's API stops with exit 78 naming the key."""

import json
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from gitea_helpers import assert_converged, seed
from ops_helpers import explain, run, write_env

from common.config import KEYS, load_settings
from common.runlock import JobLock

# --- relative paths -------------------------------------------------------------------------


def test_relative_paths_are_read_against_the_env_files_folder(tmp_path, monkeypatch):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "users.map").write_text("a@example.com=3\n")
    env_file = write_env(
        conf / "tracksync.env",
        DATABASE_PATH="data/sync.db",
        LOG_FILE="logs/ts.log",
        BACKUP_DIR="../backups",
        ZAMMAD_USER_MAP="users.map",
        ZAMMAD_ACTIVITY_MAP="Billable=Support",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_settings("../conf/tracksync.env", environ={})  # a relative env file path too
    assert settings.database_path == str(conf / "data" / "sync.db")
    assert settings.log_file == str(conf / "logs" / "ts.log")
    assert settings.backup_dir == str(tmp_path / "backups")
    assert settings.cache_dir == str(conf / ".cache")  # a default, beside the env file too
    assert settings.zammad_user_map == str(conf / "users.map")
    assert settings.zammad_activity_map == "Billable=Support"  # inline: not a path
    # the environment and flags are read as a shell would: against the current folder
    settings = load_settings(str(env_file), environ={"EXPORT_DIR": "out"}, overrides={"BACKUP_DIR": "b"})
    assert settings.export_dir == str(elsewhere / "out") and settings.backup_dir == str(elsewhere / "b")
    # without an env file, everything is relative to the current folder
    settings = load_settings(None, environ={})
    assert settings.database_path == str(elsewhere / "sync.db")


def test_a_map_file_that_does_not_exist_is_a_configuration_error(tmp_path):
    from common.config import read_map
    from common.errors import ConfigError

    env_file = write_env(tmp_path / "t.env", ZAMMAD_USER_MAP="missing.map")
    with pytest.raises(ConfigError, match="ZAMMAD_USER_MAP: no map file at .*missing.map"):
        read_map(load_settings(str(env_file), environ={}), "ZAMMAD_USER_MAP")


def test_sync_from_two_folders_with_one_env_file_shares_store_lock_and_log(workdir, tmp_path):
    sb = workdir.sandbox
    seed(sb, repos=("web",), issues=3)
    conf = tmp_path / "conf"
    conf.mkdir()
    services = {k: v for k, v in sb.env(owner="acme").items() if k in KEYS}
    env_file = write_env(conf / "tracksync.env", **services, HTTP_TIMEOUT="5", LOG_FILE="logs/tracksync.log")
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    proc = run("sync.py", "gitea-kimai", cwd=first, env_file=Path("..") / "conf" / "tracksync.env")
    assert proc.returncode == 0, explain(proc)
    store = conf / "sync.db"
    assert store.exists() and not (first / "sync.db").exists()
    # a run holding the lock of that store keeps out a run started from another folder
    with JobLock(str(store), "gitea-kimai"):
        proc = run("sync.py", "gitea-kimai", cwd=second, env_file=env_file)
        assert proc.returncode == 75 and "another gitea-kimai run is in progress" in proc.stderr, explain(proc)
    proc = run("sync.py", "gitea-kimai", cwd=second, env_file=env_file)
    assert proc.returncode == 0, explain(proc)
    assert not (second / "sync.db").exists() and not list(second.iterdir()) and not list(first.iterdir())
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*) FROM runs WHERE status = 'ok'").fetchone()[0] == 2
    assert (conf / "logs" / "tracksync.log").is_file()
    assert_converged(sb)  # one activity per issue: the second run used the first one's store


# --- a service address that is not the service's API ----------------------------------------


class NotAnApi(BaseHTTPRequestHandler):
    """Answers every GET as a web site or another service would: 404, an HTML page, other JSON."""

    mode = "404"

    def do_GET(self):  # noqa: N802
        if self.mode == "404":
            status, kind, body = 404, "text/html", b"<html><body>Not Found</body></html>"
        elif self.mode == "html":
            status, kind, body = 200, "text/html; charset=utf-8", b"<!DOCTYPE html><html><title>Welcome</title></html>"
        else:
            status, kind, body = 200, "application/json", json.dumps({"status": "ok", "service": "wiki"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def not_an_api():
    """Start a server; returns a function mode -> its address."""
    servers = []

    def start(mode):
        handler = type("Handler", (NotAnApi,), {"mode": mode})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


WHAT = {"404": "answered 404", "html": "answered 200 with an HTML page", "json": "answered JSON of another shape"}
# (job, key, product, the first request the job makes of that service, how the fake answers)
JOB_CASES = [
    ("gitea-kimai", "GITEA_URL", "Gitea", "/api/v1/user", "404"),
    ("gitea-kimai", "KIMAI_URL", "Kimai", "/api/users/me", "html"),
    ("zammad-kimai", "ZAMMAD_URL", "Zammad", "/api/v1/users/me", "json"),
    ("toggl-kimai", "TOGGL_URL", "Toggl Track", "/api/v9/me/time_entries", "html"),
    ("harvest-kimai", "HARVEST_URL", "Harvest", "/v2/users/me", "404"),
]


@pytest.mark.parametrize("job, key, product, path, mode", JOB_CASES)
def test_a_job_stops_with_78_when_an_address_is_not_the_api(workdir, not_an_api, job, key, product, path, mode):
    seed(workdir.sandbox, repos=("web",), issues=1)
    workdir.set(**{key: not_an_api(mode)})
    window = ("--from", "2026-11-01", "--to", "2026-11-02") if job in ("toggl-kimai", "harvest-kimai") else ()
    proc = workdir.sync(job, *window)
    assert proc.returncode == 78, explain(proc)
    assert f"{key} does not point at a {product} API (GET {path} {WHAT[mode]})" in proc.stderr, explain(proc)
    assert "Traceback" not in proc.stderr and workdir.sandbox.count(writes=True) == 0


CONNECTION_CASES = [
    ("gitea", "GITEA_URL", "Gitea", "/api/v1/version"),
    ("kimai", "KIMAI_URL", "Kimai", "/api/version"),
    ("zammad", "ZAMMAD_URL", "Zammad", "/api/v1/users/me"),
    ("toggl", "TOGGL_URL", "Toggl Track", "/api/v9/me"),
    ("harvest", "HARVEST_URL", "Harvest", "/v2/users/me"),
]


@pytest.mark.parametrize("service, key, product, path", CONNECTION_CASES)
def test_test_connection_names_the_address_that_is_not_the_api(workdir, not_an_api, service, key, product, path):
    for mode in ("404", "html", "json"):
        workdir.set(**{key: not_an_api(mode)})
        proc = workdir.run("test_connection.py", "--service", service, "--json")
        assert proc.returncode == 78, explain(proc)
        row = json.loads(proc.stdout)["services"][0]
        assert row["status"] == "FAIL" and row["exit_code"] == 78
        assert row["detail"].endswith(f"{key} does not point at a {product} API (GET {path} {WHAT[mode]})"), row

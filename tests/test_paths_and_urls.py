"""Relative paths of the configuration are read against the env file's folder, and a service
address that answers but is not that service's API stops with exit 78 naming the key."""
import json
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from common.config import KEYS, load_settings
from common.runlock import JobLock
from gitea_helpers import assert_converged, seed
from ops_helpers import clean_environ, explain, run, write_env


# --- relative paths -------------------------------------------------------------------------

def test_relative_paths_are_read_against_the_env_files_folder(tmp_path, monkeypatch):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "users.map").write_text("a@example.com=3\n")
    env_file = write_env(conf / "tracksync.env", DATABASE_PATH="data/sync.db", LOG_FILE="logs/ts.log",
                         BACKUP_DIR="../backups", ZAMMAD_USER_MAP="users.map", ZAMMAD_ACTIVITY_MAP="Billable=Support")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_settings("../conf/tracksync.env", environ={})  # a relative env file path too
    assert settings.database_path == str(conf / "data" / "sync.db")
    assert settings.log_file == str(conf / "logs" / "ts.log")
    assert settings.backup_dir == str(tmp_path / "backups")
    assert settings.cache_dir == str(conf / ".cache")       # a default, beside the env file too
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
    with pytest.raises(ConfigError, match="ZAMMAD_USER_MAP.*missing.map"):
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

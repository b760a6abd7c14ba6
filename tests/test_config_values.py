"""Odd or careless configuration values are refused with exit 78 naming the key, never taken as
something else and never a crash (exit 1): non-finite and out-of-range numbers, addresses with
credentials or a query, name lists that are empty or repeat, a key set twice in one file."""

import subprocess
import sys
from pathlib import Path

import pytest
from ops_helpers import run

from common.config import load_settings
from common.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "key, value, says",
    [
        ("HTTP_TIMEOUT", "nan", "finite"),
        ("HTTP_TIMEOUT", "1e309", "finite"),
        ("HTTP_TIMEOUT", "inf", "finite"),
        ("RATE_LIMIT_PERIOD", "nan", "finite"),
        ("HTTP_TIMEOUT", "99999999", "at most"),
        ("SYNC_WORKERS", "100000", "at most"),
        ("KIMAI_URL", "https://bob:pw@kimai.example.com", "user name or password"),
        ("KIMAI_URL", "https://kimai.example.com/?api_key=x", "without ?query"),
        ("KIMAI_URL", "https://kimai.example.com/#top", "without ?query"),
        ("KIMAI_URL", "https://kimai.example.com:99999", "invalid port"),
        ("KIMAI_URL", "https://", "not an http(s) address"),
        ("SYNC_JOBS", ",", "comma list"),
        ("SYNC_JOBS", "gitea-kimai,gitea-kimai", "more than once"),
    ],
)
def test_odd_values_are_refused_naming_the_key(key, value, says):
    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ={key: value})
    assert caught.value.key == key and says in str(caught.value)
    assert "pw" not in str(caught.value)  # a password in a refused address is not repeated


def test_a_key_set_twice_in_the_env_file_is_refused_with_both_lines(tmp_path):
    env_file = tmp_path / "t.env"
    env_file.write_text("KIMAI_URL=https://a.example.com\n# note\nexport KIMAI_URL=https://b.example.com\n")
    with pytest.raises(ConfigError, match=r"set twice in .* \(lines 1 and 3\)"):
        load_settings(env_file, environ={})


def test_the_script_exits_78_naming_the_key_not_1(tmp_path):
    env_file = tmp_path / "t.env"
    env_file.write_text("HTTP_TIMEOUT=nan\n")
    proc = run("sync.py", cwd=tmp_path, env_file=env_file, timeout=60)
    assert proc.returncode == 78 and "HTTP_TIMEOUT" in proc.stderr and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == [env_file]  # nothing created for a run that cannot start


def test_without_an_env_file_the_missing_key_says_none_was_read(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "sync.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 78
    assert "no env file was read" in proc.stderr and "--env-file" in proc.stderr


@pytest.mark.parametrize("log_file", ["{tmp}", "/proc/nope/x.log"])
def test_a_log_file_that_cannot_be_written_is_refused_not_skipped(tmp_path, log_file):
    env_file = tmp_path / "t.env"
    env_file.write_text(f"LOG_FILE={log_file.format(tmp=tmp_path)}\nDATABASE_PATH={tmp_path}/s.db\n")
    proc = run("report.py", "status", cwd=tmp_path, env_file=env_file, timeout=60)
    assert proc.returncode == 78, proc.stderr
    assert proc.stderr.startswith("error: configuration key LOG_FILE: cannot write")

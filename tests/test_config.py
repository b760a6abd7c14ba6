"""Settings: precedence, parsing, refusals naming the key, and the template kept complete."""

import re
from pathlib import Path

import pytest

from common.config import KEYS, load_settings
from common.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path, text):
    path = tmp_path / "test.env"
    path.write_text(text)
    return str(path)


def test_precedence_flags_environment_file_default(tmp_path):
    env_file = write(tmp_path, "PAGE_SIZE=20\nSYNC_WORKERS=3\nCACHE_TTL=5\n")
    settings = load_settings(env_file, overrides={"PAGE_SIZE": 10}, environ={"PAGE_SIZE": "30", "SYNC_WORKERS": "2"})
    assert settings.page_size == 10
    assert settings.sync_workers == 2
    assert settings.cache_ttl == 5
    assert settings.max_pages == 0
    assert settings.sources["PAGE_SIZE"] == "flag" and settings.sources["MAX_PAGES"] == "default"


@pytest.mark.parametrize(
    "line, key",
    [
        ("SYNC_WORKERS=many", "SYNC_WORKERS"),
        ("SYNC_WORKERS=0", "SYNC_WORKERS"),
        ("CACHE_ENABLED=perhaps", "CACHE_ENABLED"),
        ("GITEA_URL=git.example.com", "GITEA_URL"),
        ("CLOSED_ISSUES=delete", "CLOSED_ISSUES"),
        ("KIMAI_CUSTOMER_TIMEZONE=Mars/Olympus", "KIMAI_CUSTOMER_TIMEZONE"),
        ("GITEA_TOKN=abc", "GITEA_TOKN"),
    ],
)
def test_malformed_or_unknown_key_is_refused_by_name(tmp_path, line, key):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, line + "\n"), environ={})
    assert err.value.key == key
    assert key in str(err.value)


def test_unknown_key_suggests_the_close_one(tmp_path):
    with pytest.raises(ConfigError, match="did you mean GITEA_TOKEN"):
        load_settings(write(tmp_path, "GITEA_TOKN=abc\n"), environ={})


def test_missing_explicit_env_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(str(tmp_path / "absent.env"), environ={})


def test_urls_tolerate_api_suffix_and_trailing_slash(tmp_path):
    settings = load_settings(
        write(tmp_path, "GITEA_URL=https://git.example.com/api/v1/\nKIMAI_URL=https://k.example.com/api\n"), environ={}
    )
    assert settings.gitea_url == "https://git.example.com"
    assert settings.kimai_url == "https://k.example.com"


def test_require_names_the_missing_key(tmp_path):
    settings = load_settings(write(tmp_path, "GITEA_URL=https://g.example.com\n"), environ={})
    with pytest.raises(ConfigError, match="GITEA_TOKEN"):
        settings.require("GITEA_URL", "GITEA_TOKEN")


def test_env_template_lists_every_key_once():
    template = (ROOT / ".env.template").read_text()
    names = re.findall(r"^([A-Z][A-Z0-9_]+)=", template, re.M)
    assert sorted(names) == sorted(KEYS)
    # and the template itself loads (only placeholders, nothing malformed)
    load_settings(str(ROOT / ".env.template"), environ={})


def test_a_blank_value_means_the_default_except_where_blank_means_off(tmp_path):
    settings = load_settings(
        write(tmp_path, "SYNC_WORKERS=\nKIMAI_CUSTOMER_COUNTRY=\nTOGGL_WORKSPACE=\nLOG_FILE=\n"), environ={}
    )
    assert settings.sync_workers == 4 and settings.kimai_customer_country == "DE"
    assert settings.toggl_workspace is None and settings.log_file is None


def test_env_template_comments_every_key_and_configures_no_service():
    from common.ops.connection import configured_services

    lines = (ROOT / ".env.template").read_text().splitlines()
    for number, line in enumerate(lines):
        if re.match(r"^[A-Z][A-Z0-9_]+=", line):
            assert lines[number - 1].startswith("# ") and len(lines[number - 1]) > 10, f"no comment above {line}"
    settings = load_settings(str(ROOT / ".env.template"), environ={})
    assert configured_services(settings) == []  # a copied template makes no unused service look configured
    assert settings.toggl_url == "https://api.track.toggl.com"  # the defaults stay in the code
    assert settings.sources["TOGGL_URL"] == "default" and settings.sources["GITEA_URL"] == "default"

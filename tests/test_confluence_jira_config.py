"""confluence-jira configuration: the keys parse and refuse by name, and the Jira and Confluence
tokens never leave the process in any form (as set, or inside the Basic header's base64)."""

import base64

import pytest
from test_confluence_jira_e2e import atl, explain  # noqa: F401

from common.config import load_settings
from common.errors import ConfigError
from common.logs import secret_forms


def write(tmp_path, text):
    path = tmp_path / "t.env"
    path.write_text(text)
    return str(path)


def test_keys_defaults_and_site_roots(tmp_path):
    settings = load_settings(
        write(
            tmp_path,
            "JIRA_URL=https://acme.atlassian.net/rest/api/3/\nCONFLUENCE_URL=https://acme.atlassian.net/wiki/api/v2\n",
        ),
        environ={},
    )
    assert settings.jira_url == "https://acme.atlassian.net"
    assert settings.confluence_url == "https://acme.atlassian.net/wiki"
    assert settings.atlassian_deployment == "auto" and settings.jira_issue_type == "Task"
    assert settings.jira_done_status == "Done" and settings.jira_undo_status == "Backlog"
    assert settings.confluence_task_style == "link" and settings.confluence_completed_tasks == "skip"
    assert settings.jira_search_lag == 60


@pytest.mark.parametrize(
    "line, key",
    [
        ("ATLASSIAN_DEPLOYMENT=server", "ATLASSIAN_DEPLOYMENT"),
        ("CONFLUENCE_TASK_STYLE=inline", "CONFLUENCE_TASK_STYLE"),
        ("CONFLUENCE_COMPLETED_TASKS=all", "CONFLUENCE_COMPLETED_TASKS"),
        ("JIRA_SEARCH_LAG=-1", "JIRA_SEARCH_LAG"),
        ("JIRA_PROJECT=acme web", "JIRA_PROJECT"),
        ("JIRA_URL=jira.acme.example", "JIRA_URL"),
    ],
)
def test_malformed_values_are_refused_naming_the_key(tmp_path, line, key):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, line + "\n"), environ={})
    assert err.value.key == key


def test_the_basic_pair_is_a_secret_so_its_base64_is_redacted(tmp_path):
    settings = load_settings(write(tmp_path, "JIRA_EMAIL=bot@acme.example\nJIRA_TOKEN=tok-123456789\n"), environ={})
    assert "tok-123456789" in settings.secrets()
    pair = "bot@acme.example:tok-123456789"
    assert pair in settings.secrets()  # Confluence's token and e-mail default to Jira's
    encoded = base64.b64encode(pair.encode()).decode()
    assert encoded in secret_forms(pair)


def test_no_token_in_any_form_in_output_log_or_store(atl):
    work, sb, _seed = atl
    token = sb.jira.token
    forms = {token, base64.b64encode(token.encode()).decode()}
    email = sb.jira.credentials.email if sb.jira.cloud else None
    if email:
        forms.add(base64.b64encode(f"{email}:{token}".encode()).decode())
    proc = work.sync("confluence-jira", "-vv")
    assert proc.returncode == 0, explain(proc)
    bad = work.sync("confluence-jira", "--page", "not a page")
    assert bad.returncode == 2
    texts = [proc.stdout, proc.stderr, bad.stderr, (work.path / "tracksync.log").read_text()]
    for store_file in work.path.glob("sync.db*"):  # the store and its write-ahead log
        texts.append(store_file.read_bytes().decode("latin-1"))
    for text in texts:
        assert not any(form in text for form in forms)


def test_the_basic_header_echoed_encoded_once_more_is_redacted(tmp_path):
    """A server echoing the Authorization header URL-encoded or base64-encoded again: the e-mail:token
    pair's base64 is itself masked in those forms, so no decoding gives the token back."""
    from urllib.parse import quote

    from common.logs import Redactor

    settings = load_settings(
        write(tmp_path, "JIRA_EMAIL=bot@acme.example\nJIRA_TOKEN=ATATT3xtok-123456789abc\n"), environ={}
    )
    header = "Basic " + base64.b64encode(b"bot@acme.example:ATATT3xtok-123456789abc").decode()
    redactor = Redactor(settings.secrets())
    for echoed in (quote(header), quote(header, safe=""), base64.b64encode(header.encode()).decode()):
        masked = redactor.sub(f"invalid credentials: {echoed} |")
        for word in masked.replace("%20", " ").split():
            for text in (word, _b64(word), _b64(_b64(word).split(" ")[-1])):
                assert "ATATT3xtok" not in text, masked


def _b64(text):
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4)).decode("latin-1")
    except ValueError:
        return ""

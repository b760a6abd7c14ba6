"""A Jira or Confluence that echoes the request's Authorization header in a 400 (as sent,
URL-encoded, base64-encoded once more): the error line never gives any part of the token back,
however the message is cut to one line (the body is redacted before it is cut)."""

import base64
import re

import pytest
from test_confluence_jira_e2e import atl, explain  # noqa: F401


def token_parts(text, token):
    """Any 8 characters of the token in the text, as written or after up to three base64 decodings."""
    for word in re.findall(r"[A-Za-z0-9+/=_%-]{8,}", text):
        candidate, seen = word.replace("%20", " ").split(" ")[-1], []
        for _ in range(4):
            seen.append(candidate)
            try:
                candidate = base64.b64decode(candidate + "=" * (-len(candidate) % 4)).decode("latin-1").split(" ")[-1]
            except ValueError:
                break
        if any(token[i : i + 8] in c for c in seen for i in range(len(token) - 7)):
            return word
    return None


@pytest.mark.parametrize("service, path", [("jira", "/search"), ("confluence", r"/pages/|/content/")])
def test_an_echoed_authorization_header_leaks_no_part_of_the_token(atl, service, path):
    work, sb, _seed = atl
    sb.faults.configure(hostile=["echo_credentials"], services=[service], paths=path)
    proc = work.sync("confluence-jira", "--json")
    sb.faults.configure()
    assert proc.returncode == 3, explain(proc)
    text = proc.stdout + proc.stderr + (work.path / "tracksync.log").read_text()
    assert token_parts(text, sb.jira.token) is None

"""Every form of a secret a hostile server might echo is masked (common/logs.py secret_forms,
Redactor): any case, URL-encoded (hex digits either case, or twice), JSON- and HTML-escaped,
and base64 anywhere inside encoded text, whatever precedes it (a Basic header's user:token, a
whole `Bearer token` header), with the whole base64 word masked."""

import base64
import html
from urllib.parse import quote, quote_plus

import pytest

from common.logs import Redactor, redact_secrets

TOKENS = ["Tok/en+Secret=42abcdef", "plainlowercasetoken123", "UPPER-and_mixed.Token~9", "ünïcode-Tökén-4242"]


def b64_wrapped(token):
    """The token base64-encoded inside texts a server may echo, at every alignment."""
    for prefix in ("", "a", "ab", "abc", "admin:", "Bearer ", "token ", "Token token=", "user@example.com:"):
        for suffix in ("", ":api_token", "x", "xy"):
            yield prefix + token + suffix, base64.b64encode((prefix + token + suffix).encode()).decode()


@pytest.mark.parametrize("token", TOKENS)
def test_every_plain_form_is_masked(token):
    redactor = Redactor([token])
    forms = [
        token,
        token.lower(),
        token.upper(),
        token.swapcase(),
        quote(token, safe=""),
        quote(token, safe="").lower(),
        quote(token.lower(), safe=""),
        quote_plus(token),
        quote(quote(token, safe=""), safe=""),
        token.replace("/", "\\/"),
        html.escape(token),
    ]
    for form in forms:
        assert redactor.sub(f"server said: {form} (sic)") == "server said: *** (sic)", form


@pytest.mark.parametrize("token", TOKENS)
def test_base64_at_any_alignment_is_masked_whole(token):
    redactor = Redactor([token])
    for plain, encoded in b64_wrapped(token):
        for shown in (encoded, encoded.rstrip("="), encoded.replace("+", "-").replace("/", "_"), encoded.lower()):
            assert redactor.sub(f"auth: {shown}; retry") == "auth: ***; retry", (plain, shown)


def test_ordinary_text_is_left_alone():
    text = "GET /api/timesheets page 2: item 3: id is text of 2 characters; Basic realm=kimai"
    assert Redactor(TOKENS).sub(text) == text
    assert redact_secrets(text, [None, "", "abc"]) == text  # nothing, or too short to mask


def test_overlapping_forms_leave_no_piece():
    token = "Tok/en+Secret=42abcdef"
    text = f"{token}{token.lower()}{quote(token, safe='')}"
    assert Redactor([token]).sub(text) == "***"


@pytest.mark.parametrize("at", [150, 190, 198, 280, 295, 299])
def test_an_error_text_is_masked_before_it_is_cut_short(monkeypatch, at):
    """An error body that echoes the Authorization header URL-encoded, placed so that the one-line
    cut (200 / 300 characters) falls inside it: no part of the token reaches the error line."""
    from common import http, logs

    token = "jiraTOKENvalue456xyz"
    basic = base64.b64encode(f"ann@acme.example:{token}".encode()).decode()
    monkeypatch.setattr(logs, "_redactor", Redactor([token, f"ann@acme.example:{token}"]))
    echoed = "x" * at + quote(f"Basic {basic}")
    for body in (echoed, {"message": echoed}, {"errorMessages": [echoed]}):
        line = http.error_detail(body)
        assert basic[:12] not in line and basic[-12:] not in line and token[:8] not in line, line

"""A server that echoes the request's credentials in its error bodies (sandbox hostile behaviour
`echo_credentials`: the Authorization header as sent, lower-cased, URL-encoded, base64, a Basic
header's user:token decoded) never makes a token appear anywhere the toolkit writes: stdout,
stderr, the log file, the store's bytes, the HTTP cache or the exports, in any form."""

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, quote_plus

import pytest
from gitea_helpers import seed as seed_gitea

# mixed case and characters that URL encoding changes: every form differs from the others
TOKENS = {
    "kimai": "KimaiTok/En+Mixed=Case4242",
    "gitea": "GiteaTok/En+Mixed=Case4343",
    "zammad": "ZammadTok/En+Mixed=Case44",
    "toggl": "TogglTok/En+Mixed=Case4545",
    "harvest": "HarvestTok/En+Mixed=Case46",
}
DAY = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def b64(text):
    return base64.b64encode(text.encode()).decode()


def forms(token):
    """Every form the token may leak in, bytes to look for in files and output."""
    found = {
        token,
        token.lower(),
        token.upper(),
        quote(token, safe=""),
        quote(token, safe="").lower(),
        quote_plus(token),
        b64(token),
        b64(f"{token}:api_token"),
        b64(f"admin:{token}"),
        b64(f"Bearer {token}"),
        b64(f"Token token={token}"),
    }
    for offset in range(3):  # the token's bytes inside any base64 text, at each alignment
        encoded = base64.b64encode(b"\0" * offset + token.encode()).decode()
        found.add(encoded[4 if offset else 0 : (offset + len(token)) // 3 * 4])
    return found


STORED = ("sync.db", "exports")  # what the store keeps, and the exports made of it


def leaks(workdir, proc, stored):
    """(where, service, form) of every form of every token found in what the run printed and in
    the files it left behind: the store and its exports (`stored`), or every other file (the
    log file, the HTTP cache, ...)."""
    places = {"stdout": proc.stdout.encode(), "stderr": proc.stderr.encode()} if not stored else {}
    for path in workdir.path.rglob("*"):
        name = str(path.relative_to(workdir.path))
        if path.is_file() and path.name != workdir.env_file.name and name.startswith(STORED) == stored:
            places[name] = path.read_bytes()
    return [
        (where, service, form)
        for service, token in TOKENS.items()
        for form in forms(token)
        for where, data in places.items()
        if form.encode() in data or form.lower().encode() in data.lower()
    ]


@pytest.fixture
def hostile(workdir):
    """The work folder with every service configured, each with a token of many forms."""
    sb = workdir.sandbox
    for name, token in TOKENS.items():
        getattr(sb, name).token = token
    sb.toggl.user["api_token"] = TOKENS["toggl"]
    env = sb.env(owner="acme")
    keys = ("TOGGL_URL", "TOGGL_WORKSPACE", "HARVEST_URL", "HARVEST_ACCOUNT_ID", "ZAMMAD_URL")
    workdir.set(
        **{k: env[k] for k in keys},
        **{f"{name.upper()}_TOKEN": token for name, token in TOKENS.items()},
        ZAMMAD_DEFAULT_ACTIVITY="Support",
        EXPORT_ENABLED="true",
        LOG_LEVEL="DEBUG",
    )
    sb.kimai.add_activity("Support", None)
    return workdir


def seed_all(sb):
    seed_gitea(sb, issues=3)
    org = sb.zammad.add_organization("Acme Corp")
    ticket = sb.zammad.add_ticket("Printer broken", organization_id=org["id"])
    sb.zammad.add_time_accounting(ticket["id"], 15)
    project = sb.toggl.add_project("Website", client_name="Acme Corp")
    sb.toggl.add_entry(DAY, DAY + timedelta(minutes=45), description="Task", project_id=project["id"])


RUNS = [
    # (job and flags, service that echoes, paths, methods, echo status, expected exit codes)
    (["gitea-kimai"], "kimai", r"/api/activities$", ["POST"], 400, {3}),
    (["gitea-kimai"], "gitea", r"/issues$", ["GET"], 403, {77}),
    (["zammad-kimai"], "zammad", r"/tickets/search$", ["GET"], 403, {77}),
    (["zammad-kimai"], "kimai", r"/api/timesheets$", ["POST"], 422, {3}),
    (
        ["toggl-kimai", "--from", "2026-11-01", "--to", "2026-11-03", "--create-missing"],
        "toggl",
        r"time_entries",
        None,
        403,
        {77},
    ),
    (
        ["toggl-kimai", "--from", "2026-11-01", "--to", "2026-11-03", "--create-missing"],
        "kimai",
        r"/api/timesheets$",
        ["POST"],
        400,
        {3},
    ),
    (["harvest-kimai", "--from", "2026-11-01", "--to", "2026-11-03"], "harvest", r"time_entries", None, 403, {77}),
]


def run_echoed(workdir, args, service, paths, methods, status, codes):
    sb = workdir.sandbox
    seed_all(sb)
    sb.faults.configure(
        hostile=["echo_credentials"], services=[service], paths=paths, methods=methods, echo_status=status
    )
    proc = workdir.sync(*args, "-v", "--export")
    assert proc.returncode in codes, proc.stderr
    assert [r for r in sb.requests if r.fault == "echo_credentials"], "the hostile behaviour was never triggered"
    report = workdir.run("report.py", "errors")  # what the store kept, printed back
    return proc, report


@pytest.mark.parametrize(("args", "service", "paths", "methods", "status", "codes"), RUNS)
def test_echoed_credentials_never_reach_output_or_log(hostile, args, service, paths, methods, status, codes):
    proc, report = run_echoed(hostile, args, service, paths, methods, status, codes)
    assert sorted({where for where, _, _ in leaks(hostile, proc, False) + leaks(hostile, report, False)}) == []
    assert "***" in proc.stderr  # the echo was there, and masked


@pytest.mark.parametrize(("args", "service", "paths", "methods", "status", "codes"), [RUNS[0], RUNS[2], RUNS[4]])
def test_echoed_credentials_never_reach_the_store_or_exports(hostile, args, service, paths, methods, status, codes):
    """The store redacts the texts it keeps with common.logs.redact (h10-records' side of the
    fix); every form of the token is known to it (this side)."""
    run_echoed(hostile, args, service, paths, methods, status, codes)
    assert sorted({where for where, _, _ in leaks(hostile, None, True)}) == []

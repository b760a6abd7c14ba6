"""test_connection.py and diagnose.py check the services the jobs use: the others are skipped
(not configured) or, when configured, only warn; FAIL and WARN are coloured on a terminal only."""

import json
import os
import pty
import subprocess
import sys

from ops_helpers import ROOT, clean_environ, explain, run

from common.config import KEYS


def template_env(tmp_path, sandbox, **values):
    """A copy of .env.template with only the given keys filled in."""
    lines = []
    for line in (ROOT / ".env.template").read_text().splitlines():
        name = line.split("=", 1)[0]
        lines.append(f"{name}={values[name]}" if name in values and "=" in line and not line.startswith("#") else line)
    path = tmp_path / "from-template.env"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def zammad_only(tmp_path, sandbox):
    env = {k: v for k, v in sandbox.env(owner="acme").items() if k in KEYS}
    keep = ("KIMAI_URL", "KIMAI_TOKEN", "ZAMMAD_URL", "ZAMMAD_TOKEN")
    return template_env(
        tmp_path,
        sandbox,
        SYNC_JOBS="zammad-kimai",
        DATABASE_PATH=str(tmp_path / "sync.db"),
        LOG_FILE="",
        HTTP_TIMEOUT="5",
        **{k: env[k] for k in keep},
    )


def test_a_filled_in_template_checks_only_the_services_its_jobs_use(tmp_path, sandbox):
    env_file = zammad_only(tmp_path, sandbox)
    proc = run("test_connection.py", "--json", cwd=tmp_path, env_file=env_file)
    assert proc.returncode == 0, explain(proc)
    rows = {r["service"]: r for r in json.loads(proc.stdout)["services"]}
    assert {n: r["status"] for n, r in rows.items()} == {
        "gitea": "SKIP",
        "kimai": "OK",
        "zammad": "OK",
        "toggl": "SKIP",
        "harvest": "SKIP",
        "graph": "SKIP",
        "jira": "SKIP",
        "confluence": "SKIP",
    }
    assert rows["gitea"]["detail"] == "skipped (not configured)" and rows["zammad"]["used_by"] == ["zammad-kimai"]
    assert rows["toggl"]["url"] == "" and rows["toggl"]["steps"] == []  # its default address is not probed
    table = run("test_connection.py", cwd=tmp_path, env_file=env_file).stdout
    assert "skipped (not configured)" in table and "FAIL" not in table
    proc = run("diagnose.py", "--network", "--api", "--json", cwd=tmp_path, env_file=env_file)
    assert proc.returncode == 0, explain(proc)
    checks = json.loads(proc.stdout)["checks"]
    skipped = {(c["group"], c["name"]) for c in checks if c["status"] == "SKIP"}
    assert skipped == {
        (g, s) for g in ("network", "api") for s in ("gitea", "toggl", "harvest", "graph", "jira", "confluence")
    }
    assert not [c for c in checks if c["status"] == "FAIL"] and any(c["name"] == "zammad permissions" for c in checks)
    # --job names the command to check for: gitea-kimai needs Gitea, which is not configured
    proc = run("test_connection.py", "--job", "gitea-kimai", cwd=tmp_path, env_file=env_file)
    assert (
        proc.returncode == 78 and "error: gitea: configuration: configuration key GITEA_URL: missing" in proc.stderr
    ), explain(proc)


def test_a_configured_service_no_job_uses_only_warns(workdir):
    workdir.set(SYNC_JOBS="gitea-kimai", ZAMMAD_TOKEN="not-the-zammad-token")
    workdir.sandbox.gitea.add_org("acme")
    proc = workdir.run("test_connection.py", "--json")
    assert proc.returncode == 0, explain(proc)
    zammad = {r["service"]: r for r in json.loads(proc.stdout)["services"]}["zammad"]
    assert zammad["status"] == "WARN" and zammad["exit_code"] == 0 and zammad["used_by"] == []
    assert "not used by SYNC_JOBS (gitea-kimai)" in zammad["steps"][-1]["hint"]
    proc = workdir.run("diagnose.py", "--api", "--json")
    zammad = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}["zammad authentication"]
    assert proc.returncode == 0 and zammad["status"] == "WARN", explain(proc)
    proc = workdir.run("test_connection.py", "--job", "zammad-kimai")  # a job that uses it: a real failure
    assert proc.returncode == 77 and "error: zammad: authentication" in proc.stderr, explain(proc)


def on_a_terminal(args, env_file, **env):
    """Run a script with stdout on a pseudo-terminal; returns (exit code, what it printed)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / args[0]), *args[1:], "--env-file", str(env_file)],
        stdout=slave,
        stderr=subprocess.DEVNULL,
        env=clean_environ(**env),
        cwd=env_file.parent,
    )
    os.close(slave)
    output = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    return proc.wait(timeout=60), output.decode()


def test_fail_and_warn_are_coloured_on_a_terminal_only(tmp_path):
    from ops_helpers import offline_env

    env_file = offline_env(tmp_path)
    code, text = on_a_terminal(["test_connection.py"], env_file)
    assert code == 69 and "\x1b[31mFAIL\x1b[0m" in text, text
    code, text = on_a_terminal(["diagnose.py", "--network"], env_file)
    assert code == 69 and "\x1b[31mFAIL\x1b[0m" in text, text
    code, text = on_a_terminal(["diagnose.py", "--network"], env_file, NO_COLOR="1")
    assert code == 69 and "FAIL" in text and "\x1b[" not in text, text
    proc = run("diagnose.py", "--network", cwd=tmp_path, env_file=env_file)  # piped
    assert "FAIL" in proc.stdout and "\x1b[" not in proc.stdout + proc.stderr

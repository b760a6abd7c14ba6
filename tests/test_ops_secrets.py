"""No output of any script contains a configured token: every script and subcommand runs against
the sandbox (right tokens, then wrong ones) and everything it printed, logged, exported or
archived is searched for the token values."""

import zipfile
from concurrent.futures import ThreadPoolExecutor

from ops_helpers import offline_env, run, seed_store

ARCHIVE = "{archive}"
COMMANDS = [
    ("sync.py",),
    ("sync.py", "-vv"),
    ("sync.py", "--dry-run", "--json", "--stats"),
    ("test_connection.py",),
    ("test_connection.py", "--json", "-vv"),
    ("diagnose.py",),
    ("diagnose.py", "--json"),
    ("report.py",),
    ("report.py", "history", "--json"),
    ("report.py", "items"),
    ("report.py", "errors"),
    ("report.py", "audit"),
    ("report.py", "audit", "--json"),
    ("report.py", "export", "--format", "json"),
    ("report.py", "export", "--format", "csv"),
    ("backup.py", "create", "--include-config"),
    ("backup.py", "list", "--detail"),
    ("backup.py", "verify", ARCHIVE),
    ("backup.py", "restore", ARCHIVE),
    ("backup.py", "prune", "--keep", "5"),
    ("run_sync.sh", "report", "--env-file", "{env_file}"),
    ("run_sync.sh", "diagnose", "--config", "--env-file", "{env_file}"),
]
FAILING = [
    ("sync.py",),
    ("sync.py", "-vv"),
    ("test_connection.py", "-vv"),
    ("diagnose.py", "--json"),
    ("report.py",),
    ("backup.py", "create", "--include-config"),
]


def archived_text(folder):
    """Every file the scripts left in the work folder, archives unpacked."""
    texts = []
    for path in folder.rglob("*"):
        if not path.is_file() or path.suffix == ".env":
            continue
        texts.append(path.read_bytes())
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                texts.extend(zf.read(name) for name in zf.namelist())
    return b"\n".join(texts).decode("utf-8", "replace")


def run_all(workdir, commands, archive=None):
    """Run each command; those that only read run four at a time, the rest one after another."""

    def one(command):
        args = [a.format(archive=archive, env_file=workdir.env_file) for a in command]
        proc = run(*args, cwd=workdir.path) if command[0] == "run_sync.sh" else workdir.run(*args)
        return " ".join(command), proc.returncode, proc.stdout + proc.stderr

    writes = [c for c in commands if c[0] == "sync.py" or c[1:2] in (("create",), ("restore",), ("prune",))]
    with ThreadPoolExecutor(max_workers=4) as pool:
        outputs = list(pool.map(one, [c for c in commands if c not in writes]))
    return outputs + [one(c) for c in writes]


def assert_clean(outputs, secrets):
    for command, _, text in outputs:
        for secret in secrets:
            assert secret not in text, f"{command} printed a token:\n{text}"


def test_no_script_output_contains_the_tokens(workdir):
    sb = workdir.sandbox
    sb.gitea.add_org("acme")
    sb.gitea.add_repo("acme", "web")
    for n in range(3):
        sb.gitea.add_issue("acme", "web", f"Issue {n}", body=f"body {n}")
    secrets = [t for t in sb.tokens.values() if t in workdir.env_file.read_text()]  # the configured ones
    assert len(secrets) >= 2 and all(s in workdir.env_file.read_text() for s in secrets)
    assert workdir.sync().returncode == 0
    workdir.run("backup.py", "create")
    archive = str(next((workdir.path / "backups").iterdir()))
    outputs = run_all(workdir, COMMANDS, archive)
    codes = {command: code for command, code, _ in outputs}
    assert codes["sync.py"] == 0 and codes["test_connection.py"] == 0 and codes["backup.py restore {archive}"] == 0
    assert_clean(outputs, secrets)

    wrong = ["wrong-gitea-token-4711", "wrong-kimai-token-4712"]
    workdir.set(GITEA_TOKEN=wrong[0], KIMAI_TOKEN=wrong[1])
    outputs = run_all(workdir, FAILING)
    assert dict((c, code) for c, code, _ in outputs)["test_connection.py -vv"] == 77
    assert_clean(outputs, secrets + wrong)
    files = archived_text(workdir.path)
    assert "tracksync" in files  # logs, exports and archives were searched
    for secret in secrets + wrong:
        assert secret not in files, f"a file left by the scripts contains {secret}"


def test_a_password_in_an_address_is_never_shown(tmp_path):
    env_file = offline_env(tmp_path, GITEA_URL="http://bob:url-password-555@127.0.0.1:9")
    seed_store(tmp_path / "sync.db")
    for command in (
        ("test_connection.py",),
        ("diagnose.py",),
        ("diagnose.py", "--json"),
        ("backup.py", "create", "--include-config"),
        ("sync.py",),
    ):
        proc = run(*command, cwd=tmp_path, env_file=env_file)
        assert "url-password-555" not in proc.stdout + proc.stderr, command
        assert "GITEA_URL" in proc.stdout + proc.stderr, command  # refused: credentials go in the token keys
    assert not (tmp_path / "backups").exists() or not list((tmp_path / "backups").iterdir())

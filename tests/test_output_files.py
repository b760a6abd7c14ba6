"""Files the reports write (exports, timesheet exports, GDPR archives): a destination that cannot
be written is one line naming the flag or key and its documented code, never exit 1, and a path
that is not a regular file (a folder, a pipe, a device) is never replaced; what they write is
redacted, on stdout too."""

import json
import os
import stat

import pytest
from ops_helpers import explain, offline_env, run, seed_store


def test_an_export_folder_under_a_file_is_2_naming_out(tmp_path):
    env_file = offline_env(tmp_path)
    seed_store(tmp_path / "sync.db")
    (tmp_path / "taken").write_text("x")
    out = tmp_path / "taken" / "exports"  # a folder under a file
    proc = run("report.py", "export", "--out", str(out), cwd=tmp_path, env_file=env_file)
    assert proc.returncode == 2, explain(proc)
    assert proc.stderr.startswith(f"error: --out {out}: cannot write there"), proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_timesheet_export_onto_a_pipe_is_refused_and_the_pipe_stays(workdir):
    fifo = workdir.path / "pipe"
    os.mkfifo(fifo)
    proc = workdir.run(
        "report.py", "export-timesheets", "--from", "2026-03-01", "--to", "2026-03-31", "--out", str(fifo)
    )
    assert proc.returncode == 2, explain(proc)
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: --out {fifo}: cannot write there"), proc.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert [p.name for p in workdir.path.iterdir() if p.name.startswith(".pipe")] == []


def test_a_gdpr_archive_under_a_file_is_2_naming_out(workdir):
    (workdir.path / "taken").write_text("x")
    out = workdir.path / "taken" / "ann.zip"
    proc = workdir.run(
        "report.py", "gdpr", "--user", "ann@example.com", "--kimai-user", "1", "--out", str(out), "--json"
    )
    assert proc.returncode == 2, explain(proc)
    assert json.loads(proc.stdout)["exit_code"] == 2
    assert "--out" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("out", [None, "march.csv"])
def test_a_timesheet_quoting_a_secret_is_exported_redacted(workdir, out):
    sb = workdir.sandbox.kimai
    token = workdir.sandbox.tokens["kimai"]
    project = sb.add_project("Web", sb.add_customer("Acme")["id"])["id"]
    activity = sb.add_activity("Dev", None)["id"]
    sb.add_timesheet(project, activity, "2026-03-02T09:00:00", "2026-03-02T10:00:00", description=f"pasted {token}")
    args = ["--out", str(workdir.path / out)] if out else []
    proc = workdir.run("report.py", "export-timesheets", "--from", "2026-03-01", "--to", "2026-03-31", *args)
    assert proc.returncode == 0, explain(proc)
    text = (workdir.path / out).read_text() if out else proc.stdout
    assert "pasted ***" in text and token not in text

"""--dry-run creates no file at all: no store, no log file, no HTTP cache (issue 10). A log file
or cache that already exists is used as usual."""

from gitea_helpers import seed


def test_a_dry_run_in_a_fresh_folder_leaves_only_the_env_file(workdir):
    seed(workdir.sandbox, issues=2)
    before = sorted(p.name for p in workdir.path.iterdir())
    workdir.set(CACHE_ENABLED="true")
    proc = workdir.sync("--dry-run", check_code=0)
    assert "would create" in proc.stdout
    assert sorted(p.name for p in workdir.path.iterdir()) == before


def test_an_existing_log_file_still_gets_the_dry_runs_summary_line(workdir):
    seed(workdir.sandbox, issues=2)
    log = workdir.path / "tracksync.log"
    log.write_text("")
    workdir.sync("--dry-run", check_code=0)
    assert "dry_run=yes" in log.read_text()

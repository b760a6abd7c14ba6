"""Every file a run leaves on disk is owner-only, whatever the caller's umask: the store and its
write-ahead log, the log file, the HTTP cache and the exports hold people's hours and names."""

import stat

from gitea_helpers import seed


def test_store_log_cache_and_exports_are_owner_only(workdir):
    seed(workdir.sandbox)
    workdir.set(LOG_FILE="logs/sync.log", CACHE_DIR="cache", EXPORT_DIR="exports", CACHE_ENABLED="true")
    workdir.sync("--export", check_code=0)  # the test process runs with umask 022
    made = [p for p in workdir.path.rglob("*") if p.name != workdir.env_file.name]
    assert any(p.name == "sync.db" for p in made) and any(p.suffix == ".log" for p in made)
    assert any(p.parent.name == "exports" for p in made)
    loose = {
        str(p.relative_to(workdir.path)): oct(stat.S_IMODE(p.stat().st_mode))
        for p in made
        if stat.S_IMODE(p.stat().st_mode) & 0o077
    }
    assert loose == {}

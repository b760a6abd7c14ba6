"""A service no job uses, configured only half-way (a token without its account id), is one
warning row in test_connection.py and diagnose.py --api: it never stops the check of the others."""

import json

from ops_helpers import explain, run
from test_ops_services_used import template_env

from common.config import KEYS


def test_a_half_configured_unused_service_warns_in_its_own_row(tmp_path, sandbox):
    env = {k: v for k, v in sandbox.env(owner="acme").items() if k in KEYS}
    keep = ("KIMAI_URL", "KIMAI_TOKEN", "ZAMMAD_URL", "ZAMMAD_TOKEN")
    env_file = template_env(
        tmp_path,
        sandbox,
        SYNC_JOBS="zammad-kimai",
        DATABASE_PATH=str(tmp_path / "sync.db"),
        LOG_FILE="",
        HTTP_TIMEOUT="5",
        HARVEST_TOKEN="harvest-token-123",
        **{k: env[k] for k in keep},
    )
    proc = run("test_connection.py", "--json", cwd=tmp_path, env_file=env_file)
    assert proc.returncode == 0, explain(proc)
    rows = {r["service"]: r for r in json.loads(proc.stdout)["services"]}
    assert rows["zammad"]["status"] == "OK" and rows["harvest"]["status"] == "WARN"
    assert "HARVEST_ACCOUNT_ID" in rows["harvest"]["detail"]
    proc = run("diagnose.py", "--api", "--json", cwd=tmp_path, env_file=env_file)
    assert proc.returncode == 0, explain(proc)
    harvest = [c for c in json.loads(proc.stdout)["checks"] if c["name"].startswith("harvest")]
    assert [c["status"] for c in harvest] == ["WARN"]

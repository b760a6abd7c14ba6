#!/usr/bin/env python3
"""Back up, verify and restore the tracksync store.

python backup.py create [--out DIR] [--include-config]   (also: python backup.py backup)
python backup.py list [--detail]
python backup.py verify FILE
python backup.py prune --keep N
python backup.py restore FILE
"""

import click

from common.cli import command, emit_json, emit_table, group
from common.jobs import JOBS
from common.ops.backup import (
    backup_dir,
    create_backup,
    list_backups,
    prune_backups,
    remove_leftovers,
    summary_line,
    verify_file,
)
from common.ops.restore import restore_backup


@group(
    examples=[
        "python backup.py create",
        "python backup.py list --detail",
        "python backup.py restore backups/tracksync-backup-20261127T140312Z.zip",
    ]
)
def cli():
    """Back up, verify and restore the store (DATABASE_PATH); archives go to BACKUP_DIR."""


def tidy(settings, *folders):
    """Every command first removes what a killed backup, verify or restore left behind."""
    for path in remove_leftovers(settings, *folders):
        click.echo(f"removed {path}: left behind by a backup or restore that was stopped", err=True)


CREATE_EXAMPLES = [
    "python backup.py create",
    "python backup.py create --out /mnt/backups --include-config",
    "python backup.py --json create",
]


@click.option(
    "--out", type=click.Path(file_okay=False), default=None, help="folder for the archive (default BACKUP_DIR)"
)
@click.option("--include-config", is_flag=True, help="add the env file, every secret value removed")
def create(settings, as_json, out, include_config):
    """Take a consistent snapshot of the store into a zip archive (safe while a sync runs)."""
    tidy(settings, *([out] if out else []))
    path, manifest = create_backup(settings, out, include_config)
    if as_json:
        emit_json({"archive": str(path), **manifest})
        return
    config = " and the env file (secrets removed)" if include_config else ""
    described = summary_line({**manifest["store"], "schema_version": manifest["schema_version"]})
    click.echo(f"backed up {settings.database_path}{config} ({described})")
    click.echo(str(path))


for _name, _hidden in (("create", False), ("backup", True)):  # `backup`: the old name, still accepted
    command(cli, _name, examples=CREATE_EXAMPLES, hidden=_hidden)(create)


@command(cli, "list", examples=["python backup.py list", "python backup.py list --detail --json"])
@click.option("--detail", is_flag=True, help="verify every archive and show its contents")
def list_archives(settings, as_json, detail):
    """List the archives in BACKUP_DIR, newest first."""
    tidy(settings)
    rows = list_backups(backup_dir(settings), detail)
    if as_json:
        emit_json(rows)
        return
    columns = ["file", "created", "kind", "schema", "size", "config"]
    if detail:
        columns += ["tool_version", "counts", "status"]
    table = []
    for row in rows:
        cells = dict(row)
        if cells.get("counts"):
            cells["counts"] = ", ".join(f"{k} {v}" for k, v in cells["counts"].items())
        if cells.get("status", "").startswith("unreadable"):
            cells["kind"] = cells["status"]
        table.append([cells.get(c, "") for c in columns])
    emit_table(table, headers=columns, empty=f"no backups in {backup_dir(settings)}")


@command(
    cli,
    "verify",
    examples=[
        "python backup.py verify backups/tracksync-backup-20261127T140312Z.zip",
        "python backup.py verify --json backups/tracksync-backup-20261127T140312Z.zip",
    ],
)
@click.argument("file", type=click.Path(dir_okay=False))
def verify(settings, as_json, file):
    """Check an archive: member names, manifest, SHA-256 of every member, integrity and schema."""
    # the settings are not needed to read a file, but loading them sets up the log file (and checks the env file)
    tidy(settings)
    manifest, info = verify_file(file, backup_dir(settings))
    if as_json:
        emit_json({"archive": file, "ok": True, "manifest": manifest, "store": info})
        return
    click.echo(
        f"OK {file}: created {manifest.get('created')} by tracksync {manifest.get('tool_version')}, "
        f"{summary_line(info)}; every checksum matches"
    )


@command(cli, "prune", examples=["python backup.py prune --keep 14", "python backup.py --json prune --keep 7"])
@click.option("--keep", type=click.IntRange(1), required=True, help="how many of the newest archives to keep")
def prune(settings, as_json, keep):
    """Delete all but the newest N archives in BACKUP_DIR."""
    tidy(settings)
    removed = prune_backups(backup_dir(settings), keep)
    if as_json:
        emit_json({"removed": [str(p) for p in removed], "kept": keep})
        return
    for path in removed:
        click.echo(f"removed {path}")
    click.echo(f"{len(removed)} archive(s) removed, the newest {keep} kept", err=True)


@command(
    cli,
    "restore",
    examples=[
        "python backup.py restore backups/tracksync-backup-20261127T140312Z.zip",
        "python backup.py --env-file /etc/tracksync/tracksync.env restore /var/backups/tracksync-backup-20261127T140312Z.zip",  # noqa: E501 (an example line)
    ],
)
@click.argument("file", type=click.Path(dir_okay=False))
def restore(settings, as_json, file):
    """Replace the store with an archive's snapshot, after verifying it. Refused while a sync
    runs; the current store is kept as a safety copy in BACKUP_DIR."""
    tidy(settings)
    done = restore_backup(settings, file, JOBS)
    if as_json:
        emit_json(done)
        return
    click.echo(f"restored {file} (created {done['created']}, {summary_line(done['restored'])})")
    replaced = done["replaced"]
    if replaced is None:
        click.echo(f"into {done['store']} (there was no store before)")
    elif "unreadable" in replaced:
        click.echo(f"replaced {done['store']} (it was unreadable: {replaced['unreadable']})")
    else:
        click.echo(f"replaced {done['store']} ({summary_line(replaced)})")
    if done["safety_copy"]:
        click.echo(f"safety copy of the replaced store: {done['safety_copy']}")


if __name__ == "__main__":
    cli()

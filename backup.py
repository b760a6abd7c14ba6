#!/usr/bin/env python3
"""Back up, verify and restore the tracksync store.

  python backup.py create [--out DIR] [--include-config]   (also: python backup.py backup)
  python backup.py list [--detail]
  python backup.py verify FILE
  python backup.py prune --keep N
  python backup.py restore FILE
"""
import click

from common.ops.backup import backup_dir, create_backup, list_backups, prune_backups, summary_line, verify_file
from common.cli import (CONTEXT, emit_json, emit_table, env_file_option, epilog,
                        group_options, json_option, load, script, version_option)
from common.jobs import JOBS
from common.ops.restore import restore_backup

@click.group(epilog=epilog("python backup.py create", "python backup.py list --detail",
                          "python backup.py restore backups/tracksync-backup-20261127T140312Z.zip"), context_settings=CONTEXT)
@version_option
@env_file_option
@json_option
@click.pass_context
def cli(ctx, env_file, as_json):
    """Back up, verify and restore the store (DATABASE_PATH); archives go to BACKUP_DIR."""
    ctx.obj = {"env_file": env_file, "as_json": as_json}


def _create_command(name, hidden=False):
    @cli.command(name, epilog=epilog("python backup.py create", "python backup.py create --out /mnt/backups --include-config",
                                     "python backup.py --json create"), hidden=hidden,
                 help="Take a consistent snapshot of the store into a zip archive (safe while a sync runs).")
    @click.option("--out", type=click.Path(file_okay=False), default=None, help="folder for the archive (default BACKUP_DIR)")
    @click.option("--include-config", is_flag=True, help="add the env file, every secret value removed")
    @env_file_option
    @json_option
    @click.pass_context
    def command(ctx, out, include_config, env_file, as_json):
        _create(out, include_config, *group_options(ctx, env_file, as_json))
    return command


_create_command("create")
_create_command("backup", hidden=True)


@script
def _create(out, include_config, env_file, as_json):
    settings = load(env_file)
    path, manifest = create_backup(settings, out, include_config)
    if as_json:
        emit_json({"archive": str(path), **manifest})
        return
    config = " and the env file (secrets removed)" if include_config else ""
    click.echo(f"backed up {settings.database_path}{config} ({summary_line({**manifest['store'], 'schema_version': manifest['schema_version']})})")
    click.echo(str(path))


@cli.command("list", epilog=epilog("python backup.py list", "python backup.py list --detail --json"))
@click.option("--detail", is_flag=True, help="verify every archive and show its contents")
@env_file_option
@json_option
@click.pass_context
def list_command(ctx, detail, env_file, as_json):
    """List the archives in BACKUP_DIR, newest first."""
    _list(detail, *group_options(ctx, env_file, as_json))


@script
def _list(detail, env_file, as_json):
    settings = load(env_file)
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


@cli.command("verify", epilog=epilog("python backup.py verify backups/tracksync-backup-20261127T140312Z.zip",
                                     "python backup.py verify --json backups/tracksync-backup-20261127T140312Z.zip"))
@click.argument("file", type=click.Path(dir_okay=False))
@env_file_option
@json_option
@click.pass_context
def verify_command(ctx, file, env_file, as_json):
    """Check an archive: member names, manifest, SHA-256 of every member, integrity and schema."""
    _verify(file, *group_options(ctx, env_file, as_json))


@script
def _verify(file, env_file, as_json):
    load(env_file)
    manifest, info = verify_file(file)
    if as_json:
        emit_json({"archive": file, "ok": True, "manifest": manifest, "store": info})
        return
    click.echo(f"OK {file}: created {manifest.get('created')} by tracksync {manifest.get('tool_version')}, "
               f"{summary_line(info)}; every checksum matches")


@cli.command("prune", epilog=epilog("python backup.py prune --keep 14", "python backup.py --json prune --keep 7"))
@click.option("--keep", type=click.IntRange(1), required=True, help="how many of the newest archives to keep")
@env_file_option
@json_option
@click.pass_context
def prune_command(ctx, keep, env_file, as_json):
    """Delete all but the newest N archives in BACKUP_DIR."""
    _prune(keep, *group_options(ctx, env_file, as_json))


@script
def _prune(keep, env_file, as_json):
    settings = load(env_file)
    removed = prune_backups(backup_dir(settings), keep)
    if as_json:
        emit_json({"removed": [str(p) for p in removed], "kept": keep})
        return
    for path in removed:
        click.echo(f"removed {path}")
    click.echo(f"{len(removed)} archive(s) removed, the newest {keep} kept", err=True)


@cli.command("restore", epilog=epilog("python backup.py restore backups/tracksync-backup-20261127T140312Z.zip",
                                      "python backup.py --env-file /etc/tracksync/tracksync.env restore /var/backups/tracksync-backup-20261127T140312Z.zip"))
@click.argument("file", type=click.Path(dir_okay=False))
@env_file_option
@json_option
@click.pass_context
def restore_command(ctx, file, env_file, as_json):
    """Replace the store with an archive's snapshot, after verifying it. Refused while a sync
    runs; the current store is kept as a safety copy in BACKUP_DIR."""
    _restore(file, *group_options(ctx, env_file, as_json))


@script
def _restore(file, env_file, as_json):
    settings = load(env_file)
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

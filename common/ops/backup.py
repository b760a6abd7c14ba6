"""Backups of the store: consistent snapshots zipped with a manifest, and their verification,
listing and pruning (restoring one: restore.py).

An archive holds `manifest.json`, `store.db` (a snapshot taken with SQLite's online backup API,
so it is consistent even while a sync writes) and, when asked, `config.env` (the env file with
every secret value removed). Nothing from an archive is ever extracted by its own name: members
are read into files this module chooses, after every name, checksum and the snapshot's
`integrity_check` have been verified.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..config import SECRET_KEYS
from ..errors import ConfigError, DataError, IOFailure, UsageError
from ..logs import DEVICE_ERRORS, redact, secret_forms
from ..reports.store_export import file_problem, process_alive
from ..store import SCHEMA_VERSION, store_problem
from ..store_files import StrPath, copy_store_file, describe_store_file, redact_store_file
from ..timeutil import for_people

if TYPE_CHECKING:
    from ..config import Settings

Manifest = dict[str, Any]  # manifest.json: format, tool, schema_version, created, kind, store, members

FORMAT = 1
PREFIX = "tracksync-backup-"
NAME_RE = re.compile(r"^tracksync-backup-(\d{8}T\d{6}Z)(-pre-restore)?(?:-(\d+))?\.zip$")
MANIFEST, STORE_MEMBER, CONFIG_MEMBER = "manifest.json", "store.db", "config.env"
MEMBERS = (MANIFEST, STORE_MEMBER, CONFIG_MEMBER)
MAX_MEMBER_BYTES = 4 * 1024**3
COUNTED_TABLES = ("runs", "links", "audit", "item_errors", "cursors")
SECRET_NAME = re.compile(r"TOKEN|PASSWORD|PASSWD|SECRET|API_?KEY|CREDENTIAL|PRIVATE", re.I)
COMMENTED_SECRET = re.compile(r"^\s*#.*(TOKEN|PASSWORD|PASSWD|SECRET|API_?KEY)\w*\s*[=:]\s*\S", re.I)
URL_PASSWORD = re.compile(r"(://[^/\s:@]+):[^@\s/]+@")


# --- snapshots ------------------------------------------------------------------------------


def snapshot_store(db_path: StrPath, dest: StrPath) -> dict[str, Any]:
    """Copy the store to `dest` with the online backup API, in one step (one read transaction,
    so writers keep writing and the copy is the state of one moment). The copy is a single
    self-contained file (rollback journal, no -wal). Returns its description."""
    store = Path(db_path)
    if not store.is_file():
        raise ConfigError("DATABASE_PATH", f"no store at {store}; nothing to back up")
    copy_store_file(store, dest)
    return describe_store(dest)


def describe_store(path: StrPath) -> dict[str, Any]:
    """Schema version, integrity and row counts of a store file (opened read-only)."""
    return describe_store_file(path, COUNTED_TABLES)


def summary_line(info: Mapping[str, Any]) -> str:
    counts = info.get("counts", {})
    parts = [
        f"{counts.get('runs', 0)} runs",
        f"{counts.get('links', 0)} links",
        f"{counts.get('audit', 0)} audit events",
    ]
    last = f", last run {for_people(info['last_run'])}" if info.get("last_run") else ""
    return f"schema {info.get('schema_version')}: {', '.join(parts)}{last}"


# --- the env file without secrets ---------------------------------------------------------


def is_secret_key(name: str) -> bool:
    return name in SECRET_KEYS or bool(SECRET_NAME.search(name))


def redact_env(text: str, secrets: Iterable[str] = ()) -> str:
    """The env file's text with every secret value removed: secret keys keep their name and lose
    their value, commented-out secrets and unparsable lines are dropped, passwords in URLs and
    any configured secret value that still appears are masked."""
    from dotenv.parser import parse_stream

    out = []
    for binding in parse_stream(io.StringIO(text)):
        original = binding.original.string
        if not original.endswith("\n"):
            original += "\n"
        if binding.error:
            out.append(f"# line {binding.original.line} removed: it could not be parsed\n")
        elif binding.key is None:
            out.append("# a commented-out secret was removed\n" if COMMENTED_SECRET.search(original) else original)
        elif is_secret_key(binding.key):
            out.append(f"{binding.key}=  # removed from the backup\n")
        else:
            out.append(original)
    result = redact(URL_PASSWORD.sub(r"\1:***@", "".join(out)))  # every form of a configured secret
    for secret in secrets:
        if secret:
            result = result.replace(secret, "***")
    return result


# --- scratch space -------------------------------------------------------------------------

SCRATCH = ".tracksync-tmp-"  # + the pid of the process that made it + a random part
LEGACY_NAME = re.compile(r"^\.(backup|restore)-[a-z0-9_]{8}$")  # what older versions made (no pid)
LEGACY_FILES = {"store.db", "archive.zip", "verified-store.db", "staged.db", "staged.db-journal", "staged.db-wal"}
LEGACY_AGE = 3600.0  # seconds after which such a folder is a leftover


@contextmanager
def scratch_dir(folder: Path) -> Iterator[str]:
    """A temporary folder in `folder` (BACKUP_DIR or an archive's folder; beside the store only
    for the one staged copy a restore must rename into place), named with this process's id so
    that remove_leftovers can tell a killed command's folder from a running one's. Removed at the
    end, also when SIGTERM stops the command (it is held off while the folder is being made, so it
    cannot land between the making and the clean-up)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        path = tempfile.mkdtemp(dir=folder, prefix=f"{SCRATCH}{os.getpid()}-")
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)  # a SIGTERM held off lands here, cleaned up below
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def remove_leftovers(settings: Settings, *folders: StrPath) -> list[Path]:
    """Remove what a killed backup, verify or restore left behind (its scratch folder, with a
    snapshot of the store in it) in BACKUP_DIR, beside the store and in `folders`: the scratch
    folders whose process is gone. Returns the paths removed."""
    removed = []
    places = {Path(p).expanduser().resolve() for p in (backup_dir(settings), settings.database_path, *folders)}
    for place in places:
        folder = place if place.is_dir() else place.parent
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if _is_leftover(entry):
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
                removed.append(entry)
    return removed


def _is_leftover(entry: Path) -> bool:
    name = entry.name
    if name.startswith(SCRATCH):
        pid = name[len(SCRATCH) :].split("-", 1)[0]
        return pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid))
    if LEGACY_NAME.match(name) and entry.is_dir() and not entry.is_symlink():
        try:
            old = time.time() - entry.stat().st_mtime > LEGACY_AGE
            return old and {p.name for p in entry.iterdir()} <= LEGACY_FILES
        except OSError:
            return False
    return False


# --- creating -------------------------------------------------------------------------------


def backup_dir(settings: Settings, out: StrPath | None = None) -> Path:
    return Path(out or settings.backup_dir)


def _archive_path(folder: Path, stamp: str, label: str) -> Path:
    base = f"{PREFIX}{stamp}{'-' + label if label else ''}"
    path, n = folder / f"{base}.zip", 1
    while path.exists():
        n += 1
        path = folder / f"{base}-{n}.zip"
    return path


def create_backup(
    settings: Settings, out: StrPath | None = None, include_config: bool = False, label: str = ""
) -> tuple[Path, Manifest]:
    """Snapshot the store into a new archive; returns (path, manifest). A folder that cannot be
    written is one error naming it: 74 for a full or failing disk, 78 for a path that is no
    folder of this user's; nothing is left behind in it."""
    folder = backup_dir(settings, out)
    env_text = None
    if include_config:
        if not settings.env_file:
            raise UsageError("--include-config: there is no env file to include")
        env_text = redact_env(Path(settings.env_file).read_text(encoding="utf-8"), settings.secrets())
    key = "--out" if out else "BACKUP_DIR"
    if not Path(settings.database_path).is_file():  # before any folder is made
        raise ConfigError("DATABASE_PATH", f"no store at {settings.database_path}; nothing to back up")
    try:
        return _write_archive(settings, folder, env_text, label)
    except OSError as exc:
        raise file_problem(exc, key, folder) from None
    except sqlite3.OperationalError as exc:  # the snapshot could not be written (the store read fine)
        text = str(exc)
        if "disk is full" in text or "disk I/O error" in text:
            raise IOFailure(
                f"{key} {folder}: cannot be written ({text}); free space on its disk, then run again"
            ) from None
        problem = store_problem(exc, settings.database_path, writable=False)
        if problem is None:
            raise
        raise problem from exc


def _write_archive(settings: Settings, folder: Path, env_text: str | None, label: str) -> tuple[Path, Manifest]:
    created = datetime.now(UTC)
    with scratch_dir(folder) as tmp:
        snapshot = Path(tmp) / STORE_MEMBER
        info = snapshot_store(settings.database_path, snapshot)
        if info["integrity"] != "ok":
            raise DataError(
                f"the store {settings.database_path} fails integrity_check ({info['integrity']}); not backed up"
            )
        # rows written before the store redacted its texts may quote a secret: not in the archive
        if redact_store_file(snapshot, [form for s in settings.secrets() if s for form in secret_forms(s)]):
            info = describe_store(snapshot)
        members = {STORE_MEMBER: _file_digest(snapshot)}
        if env_text is not None:
            members[CONFIG_MEMBER] = _bytes_digest(env_text.encode("utf-8"))
        manifest: Manifest = {
            "format": FORMAT,
            "tool": "tracksync",
            "tool_version": __version__,
            "schema_version": info["schema_version"],
            "created": created.isoformat(timespec="seconds"),
            "kind": label or "backup",
            "store": {"counts": info["counts"], "last_run": info.get("last_run")},
            "members": members,
        }
        partial = Path(tmp) / "archive.zip"
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(MANIFEST, json.dumps(manifest, indent=2))
            archive.write(snapshot, STORE_MEMBER)
            if env_text is not None:
                archive.writestr(CONFIG_MEMBER, env_text)
        partial.chmod(0o600)
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        path = _archive_path(folder, created.strftime("%Y%m%dT%H%M%SZ"), label)
        os.replace(partial, path)
    return path, manifest


def _file_digest(path: StrPath) -> dict[str, Any]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return {"sha256": digest.hexdigest(), "size": size}


def _bytes_digest(data: bytes) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


# --- verifying ------------------------------------------------------------------------------


def unsafe_member(name: str) -> str | None:
    """Why a member name is refused, or None. Absolute paths, drive letters, backslashes and
    `..` are refused before anything else is read."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "has an absolute path"
    if "\\" in name:
        return "contains a backslash"
    if ".." in PurePosixPath(name).parts:
        return "climbs out of the archive with '..'"
    return None


def require_archive(archive_path: StrPath) -> None:
    """DataError (65) when there is no archive file at `archive_path`: said before any scratch
    folder is made."""
    if not Path(archive_path).is_file():
        raise DataError(f"backup archive not found: {archive_path}")


def read_manifest(archive_path: StrPath) -> tuple[zipfile.ZipFile, Manifest]:
    """Open an archive and return (zipfile, manifest) after checking names and the manifest
    (not yet the checksums). Raises DataError naming the archive and the problem."""
    path = Path(archive_path)
    if not path.is_file():
        raise DataError(f"backup archive not found: {path}")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{path.name}: not a readable zip archive ({exc})") from None
    try:
        names = [info.filename for info in archive.infolist()]
        for info in archive.infolist():
            problem = unsafe_member(info.filename)
            if problem:
                raise DataError(f"{path.name}: member {info.filename!r} {problem}; refused")
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise DataError(f"{path.name}: member {info.filename!r} is a symbolic link; refused")
        if len(set(names)) != len(names):
            raise DataError(f"{path.name}: a member name appears twice; refused")
        unexpected = [n for n in names if n not in MEMBERS]
        if unexpected:
            raise DataError(f"{path.name}: unexpected member {unexpected[0]!r}; refused")
        if MANIFEST not in names:
            raise DataError(f"{path.name}: no {MANIFEST}; not a tracksync backup")
        try:
            manifest = json.loads(_read_member(archive, path, MANIFEST, 1 << 20))
        except ValueError:
            raise DataError(f"{path.name}: {MANIFEST} is not valid JSON") from None
        _check_manifest(path, manifest, names)
        return archive, manifest
    except BaseException:
        archive.close()
        raise


def _check_manifest(path: Path, manifest: Any, names: list[str]) -> None:
    if not isinstance(manifest, dict) or manifest.get("tool") != "tracksync":
        raise DataError(f"{path.name}: {MANIFEST} is not a tracksync manifest")
    if manifest.get("format") != FORMAT:
        raise DataError(f"{path.name}: archive format {manifest.get('format')!r} is not supported (expected {FORMAT})")
    schema = manifest.get("schema_version")
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        raise DataError(f"{path.name}: {MANIFEST} has no valid schema_version")
    if schema > SCHEMA_VERSION:
        raise DataError(
            f"{path.name}: store schema {schema} is newer than this tracksync ({SCHEMA_VERSION}); "
            "upgrade tracksync first"
        )
    members = manifest.get("members")
    if not isinstance(members, dict) or STORE_MEMBER not in members:
        raise DataError(f"{path.name}: {MANIFEST} lists no {STORE_MEMBER}")
    listed, present = set(members), set(names) - {MANIFEST}
    if listed != present:
        odd = sorted(listed ^ present)[0]
        where = "missing from the archive" if odd in listed else "not listed in the manifest"
        raise DataError(f"{path.name}: member {odd!r} is {where}")
    for name, entry in members.items():
        if not (
            isinstance(entry, dict) and isinstance(entry.get("sha256"), str) and isinstance(entry.get("size"), int)
        ):
            raise DataError(f"{path.name}: {MANIFEST} entry for {name!r} has no sha256 and size")


def _read_member(archive: zipfile.ZipFile, path: Path, name: str, limit: int) -> bytes:
    try:
        with archive.open(name) as handle:
            data = handle.read(limit + 1)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        raise DataError(f"{path.name}: member {name!r} is damaged ({exc})") from None
    if len(data) > limit:
        raise DataError(f"{path.name}: member {name!r} is larger than expected")
    return data


def verify_archive(archive_path: StrPath, workdir: StrPath) -> tuple[Manifest, Path, dict[str, Any]]:
    """Check everything about an archive: names, manifest, every checksum and size, and the
    snapshot's integrity and schema. The snapshot is written to `workdir`; returns
    (manifest, snapshot_path, snapshot_info). Raises DataError on the first problem."""
    path = Path(archive_path)
    archive, manifest = read_manifest(path)
    snapshot = Path(workdir) / "verified-store.db"
    with archive:
        for name, entry in manifest["members"].items():
            if archive.getinfo(name).file_size != entry["size"] or entry["size"] > MAX_MEMBER_BYTES:
                raise DataError(f"{path.name}: member {name!r} has the wrong size")
            digest = hashlib.sha256()
            try:
                with archive.open(name) as source, ExitStack() as stack:
                    sink = stack.enter_context(open(snapshot, "wb")) if name == STORE_MEMBER else None
                    for block in iter(lambda: source.read(1 << 20), b""):
                        digest.update(block)
                        if sink:
                            sink.write(block)
            except OSError as exc:
                if exc.errno in DEVICE_ERRORS:  # the scratch copy could not be written: not the archive's fault
                    raise file_problem(exc, "BACKUP_DIR", Path(workdir).parent) from None
                raise DataError(f"{path.name}: member {name!r} is damaged ({exc})") from None
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise DataError(f"{path.name}: member {name!r} is damaged ({exc})") from None
            if digest.hexdigest() != entry["sha256"]:
                raise DataError(f"{path.name}: checksum mismatch for {name!r}; the archive was changed or damaged")
    try:
        info = describe_store(snapshot)
    except sqlite3.DatabaseError as exc:
        raise DataError(f"{path.name}: {STORE_MEMBER} is not a readable SQLite store ({exc})") from None
    if info["integrity"] != "ok":
        raise DataError(f"{path.name}: {STORE_MEMBER} fails integrity_check ({info['integrity']})")
    if info["schema_version"] != manifest["schema_version"]:
        raise DataError(
            f"{path.name}: manifest says schema {manifest['schema_version']}, the store has {info['schema_version']}"
        )
    if info["schema_version"] > SCHEMA_VERSION:
        raise DataError(
            f"{path.name}: store schema {info['schema_version']} is newer than this tracksync ({SCHEMA_VERSION})"
        )
    return manifest, snapshot, info


def verify_file(path: StrPath, folder: StrPath) -> tuple[Manifest, dict[str, Any]]:
    """verify_archive in a scratch folder under `folder` (BACKUP_DIR); returns (manifest, snapshot_info)."""
    require_archive(path)
    with scratch_dir(Path(folder)) as tmp:
        manifest, _, info = verify_archive(path, tmp)
    return manifest, info


# --- listing and pruning -------------------------------------------------------------------


def archives(folder: StrPath) -> list[Path]:
    """Backup archives in a folder, newest first (by the time in their names)."""
    found: list[tuple[tuple[str, int], Path]] = []
    for path in Path(folder).glob(f"{PREFIX}*.zip"):
        match = NAME_RE.match(path.name)
        if match:
            found.append(((match.group(1), int(match.group(3) or 1)), path))
    return [path for _, path in sorted(found, reverse=True)]


def list_backups(folder: StrPath, detail: bool = False) -> list[dict[str, Any]]:
    rows = []
    for path in archives(folder):
        row: dict[str, Any] = {"file": path.name, "path": str(path), "size": path.stat().st_size}
        try:
            archive, manifest = read_manifest(path)
            archive.close()
        except DataError as exc:
            row.update(created=None, kind=None, schema=None, status=f"unreadable: {exc}")
            rows.append(row)
            continue
        row.update(
            created=manifest.get("created"),
            kind=manifest.get("kind"),
            schema=manifest["schema_version"],
            config=CONFIG_MEMBER in manifest["members"],
        )
        if detail:
            row.update(tool_version=manifest.get("tool_version"), counts=manifest.get("store", {}).get("counts"))
            try:
                verify_file(path, folder)
                row["status"] = "verified"
            except DataError as exc:
                row["status"] = f"FAILED: {exc}"
        rows.append(row)
    return rows


def prune_backups(folder: StrPath, keep: int) -> list[Path]:
    """Delete all but the newest `keep` archives; returns the removed paths."""
    if keep < 1:
        raise UsageError("--keep must be at least 1")
    removed = []
    for path in archives(folder)[keep:]:
        path.unlink()
        removed.append(path)
    return removed

"""Everything tracksync's store and Kimai hold about one person, as a ZIP (a GDPR access
request), and on request the removal of that person's rows from the store (erasure). Kimai is
only read: its client runs in dry-run mode.

A person is an e-mail address and the Kimai user id it maps to. A store row is theirs when it
names the e-mail anywhere (any column, any JSON value), carries their Kimai user id under a user
key (`user`, `user_id`, ...) in its JSON, points at one of their Kimai timesheets, or is an
audit event, conflict or failure of an item whose link is theirs (an import error: of an import
that is theirs). Stored calendar events (graph-kimai) are theirs when the event is in their
mailbox or they organised it.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sqlite3
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import config
from ..clients import Record
from ..clients.kimai import KimaiClient
from ..config import Settings, read_map
from ..errors import AuthError, ConfigError, DataError, NotFound, UsageError
from ..http import RequestCounter
from ..logs import redact
from ..ops.backup import _bytes_digest
from ..store import Store
from ..store_files import StrPath
from ..store_queries import Row
from .runs import reading_store
from .store_export import csv_text, write_atomic

FORMAT = "tracksync-gdpr-1"
JOB = "gdpr"
MANIFEST = "manifest.json"
TABLES = ("links", "audit", "conflicts", "item_errors", "imports", "import_errors", "graph_events")
JSON_COLUMNS = {
    "links": ("data",),
    "audit": ("before", "after"),
    "conflicts": ("source_data", "target_data", "last_data"),
    "imports": ("parameters",),
    "graph_events": ("categories",),
}
USER_KEYS = {"user", "users", "user_id", "userId", "kimai_user", "kimai_user_id"}
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def normalise_email(email: str | None) -> str:
    text = (email or "").strip()
    if not EMAIL.fullmatch(text):
        raise UsageError(f"--user: expected an e-mail address, got {email!r}")
    return text.casefold()


def email_hash(email: str) -> str:
    """How the store names a person after a purge: never the e-mail itself."""
    return hashlib.sha256(normalise_email(email).encode("utf-8")).hexdigest()


def kimai_user_of(
    email: str, settings: Settings, me: Record | None, kimai: KimaiClient | None = None
) -> tuple[int | None, str | None]:
    """(Kimai user id, where it was found) for an e-mail: the token's own user, ZAMMAD_USER_MAP,
    IMPORT_MAP `user:` lines (when this tracksync knows that key), then Kimai's user list when
    `kimai` is given and the token may list users; else (None, why Kimai could not tell)."""
    wanted = email.strip().casefold()
    if me and (me.get("email") or "").strip().casefold() == wanted:
        return int(me["id"]), "the token's user"
    keys = ["ZAMMAD_USER_MAP"] + (["IMPORT_MAP"] if "IMPORT_MAP" in config.KEYS else [])  # at run time
    for key in keys:
        for source, target in read_map(settings, key).items():
            if _mapped_email(key, source).strip().casefold() == wanted:
                if not target.isdigit():
                    raise ConfigError(key, f"{source}: expected a Kimai user id (a number), got {target!r}")
                return int(target), key
    if kimai is None:
        return None, None
    return kimai_user_by_email(kimai, wanted)


def kimai_user_by_email(kimai: KimaiClient, wanted: str) -> tuple[int | None, str]:
    """(id, "Kimai's user list") of the one Kimai user with that e-mail, or (None, the reason)."""
    try:
        users = kimai.find_users(wanted)
    except AuthError:
        return None, "this token may not list Kimai users (it needs the view_user permission)"
    except NotFound:
        return None, "this Kimai has no user list in its API"
    found = [u for u in users if isinstance(u, dict) and str(u.get("email") or "").strip().casefold() == wanted]
    if len(found) == 1 and isinstance(found[0].get("id"), int):
        return int(found[0]["id"]), "Kimai's user list"
    if len(found) > 1:
        return None, f"{len(found)} Kimai users have this e-mail"
    return None, "no Kimai user has this e-mail"


def _mapped_email(key: str, source: str) -> str:
    """The source user a map line names: the whole left side, or in IMPORT_MAP a `user:` line's."""
    if key != "IMPORT_MAP":
        return source
    kind, _, name = source.partition(":")
    return name if kind.strip() == "user" else ""


class Person:
    def __init__(self, email: str, kimai_user: int, timesheet_ids: Iterable[int]) -> None:
        self.email = email.strip()
        self.user = kimai_user
        self.timesheets = set(timesheet_ids)
        self.pattern = re.compile(r"(?<![\w.+-])" + re.escape(self.email) + r"(?![\w-]|\.\w)", re.IGNORECASE)

    def owns(self, row: Row) -> bool:
        if row.get("target_type") == "timesheet" and row.get("target_id") in self.timesheets:
            return True
        return any(self.named_in(value, column) for column, value in row.items() if column != "_rowid")

    def named_in(self, value: Any, key: str | None = None) -> bool:
        if isinstance(value, dict):
            return any(self.named_in(v, k) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return any(self.named_in(v, key) for v in value)
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return key in USER_KEYS and value == self.user
        if isinstance(value, str):
            return (key in USER_KEYS and value.strip() == str(self.user)) or bool(self.pattern.search(value))
        return False


def find_rows(store: Store, person: Person) -> dict[str, list[Row]]:
    """{table: the person's rows}, JSON columns decoded; `_rowid` kept for a purge."""
    rows = {table: [_decode(table, row) for row in store.table_rows(table)] for table in TABLES}
    found = {"links": [r for r in rows["links"] if person.owns(r)]}
    items = {(r["job"], r["source_key"]) for r in found["links"]}
    for table in ("audit", "conflicts", "item_errors"):
        found[table] = [r for r in rows[table] if (r["job"], r["source_key"]) in items or person.owns(r)]
    found["imports"] = [r for r in rows["imports"] if person.owns(r)]
    imports = {r["id"] for r in found["imports"]}
    found["import_errors"] = [r for r in rows["import_errors"] if r["import_id"] in imports or person.owns(r)]
    found["graph_events"] = [r for r in rows["graph_events"] if person.owns(r)]  # their mailbox, or organised by them
    return found


def _decode(table: str, row: Row) -> Row:
    for column in JSON_COLUMNS.get(table, ()):
        if row.get(column):
            try:
                row[column] = json.loads(row[column])
            except ValueError:
                pass  # not JSON: searched as text
    return row


def person_archive(
    settings: Settings, email: str, kimai_user: int | None = None, out: StrPath | None = None, purge: bool = False
) -> tuple[Path, dict[str, Any], dict[str, int] | None]:
    """Write the person's ZIP; with `purge`, then remove their rows from the store in the same
    transaction that found them. Returns (path, manifest, purged counts or None)."""
    wanted = normalise_email(email)
    kimai = KimaiClient(settings, RequestCounter(), dry_run=True)
    me = kimai.me()
    source: str | None = "--kimai-user"
    if kimai_user is None:
        kimai_user, source = kimai_user_of(wanted, settings, me, kimai)
        if kimai_user is None:
            raise UsageError(
                f"no Kimai user id known for {email.strip()}: {source}, and it is not the token's user "
                "nor in ZAMMAD_USER_MAP or IMPORT_MAP; pass --kimai-user ID (or map the e-mail there)"
            )
    sheets = kimai.list_timesheets(user=str(kimai_user))
    own = int(me["id"]) == int(kimai_user)
    strangers = {_user_id(s) for s in sheets} - {int(kimai_user)}
    if strangers:  # Kimai ignores ?user= for a token without view_other_timesheet and answers its own
        raise AuthError(
            f"Kimai answered timesheets of user(s) {', '.join(map(str, sorted(strangers, key=str)))} "
            f"when asked for user {kimai_user}'s: this token may not read other users' timesheets "
            "(it needs view_other_timesheet); use an administrator's token",
            service="kimai",
        )
    person = Person(email, int(kimai_user), [s["id"] for s in sheets])
    with _store(settings, write=purge) as store, store.exclusive() if purge else nullcontext():
        # with --purge, one transaction from finding the rows to deleting them: no writer slips in between
        found = find_rows(store, person)
        kinds = {"kimai_timesheets": sheets, **({"kimai_user": [me]} if own else {})}
        kinds.update({f"store_{table}": [_public(r) for r in found[table]] for table in TABLES})
        columns = {f"store_{table}": store.table_columns(table) for table in TABLES}
        subject = {
            "email": email.strip(),
            "email_sha256": email_hash(email),
            "kimai_user_id": int(kimai_user),
            "kimai_user_from": source,
        }
        members, manifest = build_members(kinds, columns, subject, own, settings.secrets())
        path = write_archive(out or default_path(settings, email), members, "--out" if out else "EXPORT_DIR")
        purged = remove_rows(store, found, email) if purge else None
    return path, manifest, purged


def _user_id(sheet: Record) -> int | str:
    """The user id of a timesheet, whether Kimai sent the id or the expanded user."""
    user: Any = sheet.get("user")
    user = user.get("id") if isinstance(user, dict) else user
    try:
        return int(user)
    except (TypeError, ValueError):
        return repr(user)


@contextmanager
def _store(settings: Settings, write: bool) -> Iterator[Store]:
    if not write:
        with reading_store(settings) as store:
            yield store
        return
    try:
        with Store(settings.database_path) as store:
            yield store
    except sqlite3.DatabaseError as exc:
        raise DataError(
            f"the store {settings.database_path} cannot be changed ({exc}); run `python diagnose.py --database`"
        ) from None


def _public(row: Row) -> Row:
    return {k: v for k, v in row.items() if k != "_rowid"}


def build_members(
    kinds: Mapping[str, list[Row]],
    columns: Mapping[str, list[str]],
    subject: Mapping[str, Any],
    own: bool,
    secrets: Iterable[str],
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """{member name: bytes} (JSON and CSV per kind, then manifest.json) and the manifest."""
    texts = {}
    for kind, rows in kinds.items():
        texts[f"{kind}.json"] = json.dumps(rows, indent=2, ensure_ascii=False, default=str) + "\n"
        texts[f"{kind}.csv"] = csv_text(rows, columns.get(kind) or _columns(rows))
    members = {name: _redact(text, secrets).encode("utf-8") for name, text in texts.items()}
    notes = [
        "Kimai timesheets: every timesheet of the Kimai user, all time, as Kimai returns them",
        "store_*: rows of tracksync's local store that name the person (e-mail, Kimai user id, their timesheets)",
    ]
    if not own:
        notes.append("kimai_user: not included; Kimai's API returns only the token's own user record")
    manifest = {
        "format": FORMAT,
        "tool": "tracksync",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "subject": subject,
        "counts": {kind: len(rows) for kind, rows in kinds.items()},
        "members": {name: _bytes_digest(data) for name, data in members.items()},
        "notes": notes,
    }
    members[MANIFEST] = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return members, manifest


def _columns(rows: Iterable[Row]) -> list[str]:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns) or ["id"]


def _redact(text: str, secrets: Iterable[str]) -> str:
    """Every form of every configured secret (logs.redact: cased, URL-encoded, base64), then the
    `secrets` given as they are."""
    text = redact(text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def default_path(settings: Settings, email: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path(settings.export_dir) / f"gdpr-{email_hash(email)[:12]}-{stamp}.zip"


def write_archive(path: StrPath, members: Mapping[str, bytes], key: str | None = None) -> Path:
    """The ZIP, written atomically with mode 600 (it holds personal data)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return write_atomic(path, buffer.getvalue(), mode=0o600, key=key)


def remove_rows(store: Store, found: dict[str, list[Row]], email: str) -> dict[str, int]:
    """Delete the found rows and record the purge as one audit event (counts only; the person is
    named by the SHA-256 of the e-mail), in the transaction already open. Returns the counts."""
    return store.purge_person(
        JOB, f"gdpr:{email_hash(email)}", {table: [r["_rowid"] for r in found[table]] for table in TABLES}
    )

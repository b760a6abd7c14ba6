"""Jira -> Confluence: a project's epics (Cloud ``parent``, Data Center Epic Link) mirrored as one
page per epic under a parent page, plus one page "Without epic"; generated storage format
(jira_confluence_body), kept current.

read():  the issues of the project updated since the cursor (server time) together with every
         epic (one JQL listing: an epic missing from it left the project), merged into the store's
         copy; the parent's children once (one CQL listing with versions and labels); the bodies of
         the pages whose version is not the one tracksync wrote, and (only when a page would be
         created) the bodies under the parent, to find the anchor of a create whose answer was lost;
plan():  jira_confluence_plan.plan_jira_confluence (pure);
apply(): the issues into the store, then per page: pending row -> POST -> linked row (each
         committed on its own); updates with the version listed + 1; conflicts recorded.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import click

from .. import shutdown
from ..clients.confluence import (
    ConfluenceClient,
    Page,
    PageConflict,
    TitleTaken,
    confluence_client,
    other_site,
    page_ref,
)
from ..clients.jira import JiraClient, atlassian_deployment, jira_client, jql_string
from ..errors import STOPS_RUN, ApiError, ConfigError, NotFound, SyncError, UnknownOutcome, UsageError
from .base import Action, ActionKind
from .confluence_jira_read import _since, _zone
from .jira_confluence_answers import page_write
from .jira_confluence_body import issue_row, marker_of, unique_title
from .jira_confluence_plan import (
    JOB,
    EpicPagesPlan,
    EpicPagesRead,
    PageAction,
    body_hash,
    plan_jira_confluence,
)
from .options import Job, JobOptions

if TYPE_CHECKING:
    pass

log = logging.getLogger("tracksync.jira_confluence")

FIELDS = ("summary", "status", "assignee", "duedate", "issuetype", "parent", "description", "updated")
TITLE_ATTEMPTS = 20  # "Title", "Title (2)", ... "Title (20)"
TRACKSYNC_LABEL = "tracksync"
KEYS_PER_SEARCH = 50
MAX_JQL = 4000  # characters of --jql: the search is a GET, its URL has a limit


@dataclass(frozen=True)
class JiraConfluenceOptions(JobOptions):
    project: str | None = None  # --project (else JIRA_PROJECT)
    parent_page: str | None = None  # --parent-page (else CONFLUENCE_PARENT_PAGE)
    jql: str | None = None  # --jql: only the epics of the matching issues


class JiraConfluenceJob(Job):
    name = JOB
    services = ("jira", "confluence")
    summary = "Jira project epics -> one Confluence page each under a parent page, kept current."
    examples = (
        "python sync.py jira-confluence --project ACME --parent-page 123456 --dry-run",
        "python sync.py jira-confluence --jql 'labels = roadmap'",
        "python sync.py jira-confluence --full --json",
    )
    options = (
        click.option("--project", default=None, metavar="KEY", help="Jira project key (default JIRA_PROJECT)"),
        click.option(
            "--parent-page",
            "parent_page",
            default=None,
            metavar="URL_OR_ID",
            help="the page the epics' pages live under (default CONFLUENCE_PARENT_PAGE)",
        ),
        click.option("--jql", default=None, metavar="JQL", help="only the pages of the epics of the matching issues"),
    )
    Options = JiraConfluenceOptions

    opts: JiraConfluenceOptions

    def prepare(self) -> None:
        self.jira: JiraClient
        self.confluence: ConfluenceClient
        self.project = ""
        self.cursor_value: str | None = None
        self.incoming: list[dict[str, Any]] = []
        self.full_read = False

    # -- read -----------------------------------------------------------------------------------
    def connect(self) -> None:
        deployment = atlassian_deployment(self.settings, self.counter)
        self.jira = jira_client(self.settings, self.counter, deployment, self.opts.dry_run)
        self.confluence = confluence_client(self.settings, self.counter, deployment, self.opts.dry_run)
        self.jira_zone = _zone(self.jira.myself().get("timeZone"))
        self.confluence.current_user()

    def parent(self) -> Page:
        given = self.opts.parent_page or self.settings.get("CONFLUENCE_PARENT_PAGE")
        if not given:
            raise ConfigError("CONFLUENCE_PARENT_PAGE", "no parent page: set it or pass --parent-page URL_OR_ID")
        try:
            ref = page_ref(str(given))
        except ValueError as exc:
            if self.opts.parent_page:
                raise UsageError(f"--parent-page: {exc}") from None
            raise ConfigError("CONFLUENCE_PARENT_PAGE", str(exc)) from None
        host = other_site(str(given), self.settings.confluence_url)
        if host is not None:
            message = f"a page URL of {host[:80]!r}, not of CONFLUENCE_URL's site"
            if self.opts.parent_page:
                raise UsageError(f"--parent-page: {message}")
            raise ConfigError("CONFLUENCE_PARENT_PAGE", message)
        page_id = ref.page_id
        if page_id is None and ref.space and ref.title:
            page_id = self.confluence.find_page(ref.space, ref.title)
        if page_id is None:
            if self.opts.parent_page:
                raise UsageError("--parent-page: no such page in Confluence (or not readable)")
            raise ConfigError("CONFLUENCE_PARENT_PAGE", "no such page in Confluence (or not readable)")
        try:
            return self.confluence.get_page(page_id)
        except NotFound:
            if self.opts.parent_page:
                raise UsageError(f"--parent-page: page {page_id} not found in Confluence (or not readable)") from None
            raise ConfigError(
                "CONFLUENCE_PARENT_PAGE", f"page {page_id} not found in Confluence (or not readable)"
            ) from None

    def epic_field(self) -> str | None:
        """Data Center: the Epic Link custom field's id, found by its name."""
        if self.jira.cloud:
            return None
        for found in self.jira.fields():
            if str(found.get("name") or "").lower() == "epic link" and isinstance(found.get("id"), str):
                return str(found["id"])
        self.result.warnings.append("Jira has no Epic Link field: every issue goes to the page Without epic")
        return None

    def read(self) -> EpicPagesRead:
        project = self.opts.project or self.settings.jira_project
        if not project:
            raise ConfigError("JIRA_PROJECT", "no project: set JIRA_PROJECT or pass --project KEY")
        if self.opts.jql is not None and not self.opts.jql.strip():
            raise UsageError("--jql: empty; leave it out to mirror every epic of the project")
        if self.opts.jql is not None and len(self.opts.jql) > MAX_JQL:
            raise UsageError(f"--jql: {len(self.opts.jql)} characters; at most {MAX_JQL}")
        if self.opts.project and not re.fullmatch(r"[A-Z][A-Z0-9_]{0,254}", self.opts.project):
            raise UsageError(f"--project: {self.opts.project[:40]!r} is not a Jira project key (ACME)")
        self.connect()
        self.project = project
        parent = self.parent()
        if not parent.space:
            raise ConfigError("CONFLUENCE_PARENT_PAGE", f"page {parent.id}: Confluence named no space for it")
        epic_field = self.epic_field()
        fields = FIELDS + ((epic_field,) if epic_field else ())
        scope = f"issues:{project}"
        base = f"project = {jql_string(project)}"
        present: set[str] | None
        if self.opts.jql:
            try:
                records = self.search(f"{base} AND ({self.opts.jql})", fields)
            except ApiError as exc:
                if exc.status == 414:
                    raise UsageError("--jql: Jira refused the query as too long (414)") from None
                if exc.status != 400:
                    raise
                raise UsageError(f"--jql: Jira refused the query ({exc})") from None
            epics = self.search(f"{base} AND issuetype = Epic", fields)
            # a --jql that closes the parenthesis (`x) OR (project = OTHER`) reaches past the
            # project: only the project's own issues count (its key, or the key its epics carry
            # now, should the project have been renamed)
            own = {project, *(str(x.get("key") or "").rpartition("-")[0] for x in epics if isinstance(x, dict))}
            records = [x for x in records if isinstance(x, dict) and str(x.get("key") or "").rpartition("-")[0] in own]
            matched = [r for r in (issue_row(x, epic_field) for x in records) if r]
            wanted_epics = {r["issue_key"] for r in matched if r["data"]["epic"]}
            by_id = {r["issue_id"]: r["issue_key"] for r in (issue_row(x, epic_field) for x in epics) if r}
            for r in matched:
                if r["epic"]:
                    wanted_epics.add(r["epic"][4:] if r["epic"].startswith("key:") else by_id.get(r["epic"], ""))
            wanted_epics.discard("")
            children: list[Any] = []
            for start in range(0, len(wanted_epics), KEYS_PER_SEARCH):
                keys = ", ".join(jql_string(k) for k in sorted(wanted_epics)[start : start + KEYS_PER_SEARCH])
                link = "parent" if self.jira.cloud else '"Epic Link"'
                children += self.search(f"{base} AND {link} in ({keys})", fields)
            records = [*records, *epics, *children]
            present = None
        else:
            cursor = None if self.opts.full else self.store.cursor(JOB, scope)
            since = _since(cursor, self.jira_zone)
            jql = base
            if since is not None:
                jql += f' AND (issuetype = Epic OR updated >= "{since.strftime("%Y-%m-%d %H:%M")}")'
            self.jira.http.watch_time()
            try:
                records = self.search(jql + " ORDER BY key", fields)
            except ApiError as exc:
                if exc.status != 400:
                    raise
                key = "--project" if self.opts.project else "JIRA_PROJECT"
                raise ConfigError(key, f"project {project}: Jira refused the search ({exc})") from None
            started = self.jira.http.server_time(first=True)
            if started is not None:
                self.cursor_value = started.strftime("%Y-%m-%dT%H:%M:%SZ")
            self.full_read = since is None
            present = set()
        stored = self.store.epic_issues(project)
        rows = [r for r in (issue_row(x, epic_field) for x in records if isinstance(x, dict)) if r]
        issues = {} if self.full_read else {i: dict(r) for i, r in stored.items()}
        if self.full_read:  # an epic's row stays: its page may need the note
            issues.update({i: dict(r) for i, r in stored.items() if r["data"].get("epic")})
        epic_ids = {r["issue_key"]: r["issue_id"] for r in rows if r["data"]["epic"]}
        epic_ids.update({r["issue_key"]: i for i, r in issues.items() if r["data"].get("epic")})
        self.incoming = []
        for r in rows:
            epic = r["epic"]
            if epic and epic.startswith("key:"):
                epic = epic_ids.get(epic[4:])
            entry = {"issue_id": r["issue_id"], "issue_key": r["issue_key"], "epic_id": epic, "data": r["data"]}
            issues[r["issue_id"]] = entry
            self.incoming.append(entry)
            if present is not None and r["data"]["epic"]:
                present.add(r["issue_id"])
        wanted = None
        if self.opts.jql:
            wanted = {marker_of(epic_ids[k], project) for k in wanted_epics if k in epic_ids}
            if any(not r["epic"] and not r["data"]["epic"] for r in matched):
                wanted.add(marker_of(None, project))
        if not issues:
            self.result.warnings.append(f"project {project}: Jira found no issue in it (is the key right?)")
        listed, complete = self.confluence.children_by_search(parent.id)
        if not complete:
            raise ConfigError("MAX_PAGES", f"page {parent.id}: its children were not all listed (MAX_PAGES)")
        read = EpicPagesRead(
            project,
            parent,
            issues,
            present,
            wanted,
            self.store.epic_pages(project, parent.id),
            {page.id: (page, labels) for page, labels in listed},
        )
        for row in read.rows.values():  # a version tracksync did not write: read its body
            child = read.children.get(str(row.get("page_id")))
            if child is not None and child[0].version != row.get("version"):
                read.bodies[child[0].id] = self.confluence.get_page(child[0].id).body or ""
        return read

    def search(self, jql: str, fields: tuple[str, ...]) -> list[Any]:
        found, complete = self.jira.search(jql, fields)
        if not complete:
            raise ConfigError("MAX_PAGES", f"Jira search {jql[:80]!r} was cut by MAX_PAGES")
        return found

    # -- plan -----------------------------------------------------------------------------------
    def plan(self, read: EpicPagesRead) -> EpicPagesPlan:
        plan = plan_jira_confluence(read)
        if plan.of("create") or plan.of("link"):  # the bodies under the parent: a lost create's anchor,
            # and whether a page found by its marker already says what it should
            listed, _ = self.confluence.children_by_search(read.parent.id, with_body=True)
            read.bodies.update({page.id: page.body or "" for page, _ in listed})
            plan = plan_jira_confluence(read)
        self.last_read = read
        return plan

    # -- apply ----------------------------------------------------------------------------------
    def apply(self, plan: EpicPagesPlan) -> None:
        read = self.last_read
        for action in plan.actions:
            if action.kind == "unchanged":
                self.result.counts["unchanged"] += 1
                continue
            self.result.actions.append(self.listed(action, read))
            if action.kind == "conflict":
                self.result.warnings.append(
                    f"page {action.title!r} ({action.label}): conflict, {action.detail}; see python sync.py conflicts"
                )
            if self.opts.dry_run:
                self.result.counts[{"create": "created", "update": "updated", "conflict": "conflicts"}.get(
                    action.kind, "unchanged")] += 1  # fmt: skip
        if self.opts.dry_run:
            return
        self.store.save_epic_issues(self.project, self.incoming, replace=self.full_read)
        for action in plan.actions:
            shutdown.check()
            try:
                self.apply_one(read, action)
            except STOPS_RUN:
                raise
            except SyncError as exc:
                self.result.fail(f"page {action.title!r} ({action.label})", str(exc))
        if self.cursor_value and not self.opts.jql:
            self.store.set_cursors(JOB, {f"issues:{self.project}": self.cursor_value})

    def listed(self, action: PageAction, read: EpicPagesRead) -> Action:
        kind = {"create": ActionKind.CREATE, "update": ActionKind.UPDATE, "conflict": ActionKind.CONFLICT}.get(
            action.kind, ActionKind.LINK
        )
        if action.kind == "link" and action.then_update:
            kind = ActionKind.UPDATE
        page_id = int(action.page.id) if action.page else None
        detail = action.detail or f"page under page {read.parent.id} ({read.parent.title})"
        return Action(
            kind, action.origin, "page", f"page {action.title!r}", read.parent.id,
            {"title": action.title, "gone": action.gone}, target_id=page_id, detail=detail,
        )  # fmt: skip

    def row(self, action: PageAction, state: str, **values: Any) -> dict[str, Any]:
        return {
            "project": self.project,
            "parent_id": self.last_read.parent.id,
            "epic_key": action.epic_key,
            "state": state,
            "run_id": self.run_id,
            **values,
        }

    def apply_one(self, read: EpicPagesRead, action: PageAction) -> None:
        if action.kind == "unchanged":
            if action.adopt and action.page is not None:  # its body is as written: that version is ours
                values: dict[str, Any] = {"version": action.page.version}
                if read.bodies.get(action.page.id) == action.body and action.page.title == action.title:
                    values.update(  # our own write whose answer was lost: recorded as written
                        title=action.title,
                        body_hash=body_hash(action.body),
                        content_hash=action.content_hash,
                        state="gone" if action.gone else "linked",
                    )
                self.store.save_epic_page(action.origin, {**read.rows[action.origin], **values})
            return
        if action.kind == "conflict":
            self.conflict(action)
            return
        if action.kind == "create":
            self.create(read, action)
            return
        assert action.page is not None
        if action.kind == "link":
            seen = read.bodies.get(action.page.id)
            self.store.save_epic_page(
                action.origin,
                self.row(action, "linked", page_id=action.page.id, title=action.page.title,
                         version=action.page.version, body_hash=body_hash(seen) if seen is not None else None,
                         content_hash=None if action.then_update else action.content_hash),
            )  # fmt: skip
            if action.origin not in read.children.get(action.page.id, (None, []))[1]:
                self.label(action.page.id, action.origin)
            if not action.then_update:
                self.result.counts["unchanged"] += 1
                return
        self.update(action)

    def conflict(self, action: PageAction, detail: str = "") -> None:
        assert action.page is not None
        row = self.last_read.rows.get(action.origin) or self.store.epic_page(action.origin) or {}
        self.store.add_conflict(
            JOB, action.origin, "page", int(action.page.id),
            {"title": action.title, "content_hash": action.content_hash},
            {"version": action.page.version, "title": action.page.title},
            {"version": row.get("version"), "title": row.get("title")},
            action.content_hash, self.run_id,
        )  # fmt: skip
        self.result.counts["conflicts"] += 1
        if detail:
            self.result.warnings.append(
                f"page {action.page.title!r} ({action.label}): conflict, {detail}; see python sync.py conflicts"
            )

    def create(self, read: EpicPagesRead, action: PageAction) -> None:
        self.store.save_epic_page(action.origin, self.row(action, "pending"))
        assert read.parent.space is not None
        for attempt in range(TITLE_ATTEMPTS):
            title = unique_title(action.title, attempt)
            try:
                page = page_write(
                    self.confluence,
                    "POST",
                    None,
                    self.confluence.create_page,
                    read.parent.space,
                    read.parent.id,
                    title,
                    action.body,
                )
            except TitleTaken:
                continue
            except UnknownOutcome as exc:
                self.result.fail(
                    f"page {title!r} ({action.label})", f"{exc}; the next run looks for the page before creating"
                )
                return
            self.store.save_epic_page(
                action.origin,
                self.row(action, "gone" if action.gone else "linked", page_id=page.id, title=page.title or title,
                         version=page.version, body_hash=body_hash(action.body), content_hash=action.content_hash),
            )  # fmt: skip
            self.store.record_audit(self.run_id, JOB, action.origin, "create", "page", page.id, None, page.title)
            self.result.counts["created"] += 1
            self.label(page.id, action.origin)
            return
        self.result.fail(f"page {action.title!r} ({action.label})", f"{TITLE_ATTEMPTS} titles tried, all taken")

    def label(self, page_id: str, origin: str) -> None:
        try:
            self.confluence.add_labels(page_id, [origin, TRACKSYNC_LABEL])
        except STOPS_RUN:
            raise
        except SyncError as exc:  # the anchor in the body still marks it
            self.result.warnings.append(f"page {page_id}: label {origin} not set ({exc}); set next run")

    def update(self, action: PageAction) -> None:
        assert action.page is not None
        page = action.page
        for attempt in range(TITLE_ATTEMPTS):
            title = unique_title(action.title, attempt)
            try:
                saved = page_write(
                    self.confluence,
                    "PUT",
                    page.id,
                    self.confluence.update_page,
                    replace(page, title=page.title),
                    action.body,
                    "tracksync: generated from Jira",
                    title=title,
                )
            except TitleTaken:
                continue
            except PageConflict:  # a person saved it since it was listed: their edit is not overwritten
                now = self.confluence.get_page(page.id)
                self.conflict(replace(action, page=now), "saved in Confluence while tracksync wrote it")
                return
            self.store.save_epic_page(
                action.origin,
                self.row(action, "gone" if action.gone else "linked", page_id=page.id, title=title,
                         version=saved.version, body_hash=body_hash(action.body), content_hash=action.content_hash),
            )  # fmt: skip
            self.store.record_audit(self.run_id, JOB, action.origin, "update", "page", page.id, page.title, title)
            self.result.counts["updated"] += 1
            if action.gone:
                self.result.counts["deleted_in_source"] += 1
                self.result.warnings.append(
                    f"page {title!r}: epic {action.label} is no longer in {self.project}; the page is kept with a note"
                )
            return
        self.result.fail(f"page {action.title!r} ({action.label})", f"{TITLE_ATTEMPTS} titles tried, all taken")

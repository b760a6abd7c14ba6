"""confluence-jira, the read: Jira's deployment and the token users (their time zones), the roots
and their descendants (CQL ``ancestor``; on re-runs only pages modified since the cursor, bodies
only of pages whose version changed), the tracksync issues updated since the Jira cursor, then
a search for the origin labels of every task not linked yet (and of pending creates) before
anything is created. A part of ConfluenceJiraJob."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..clients.confluence import ConfluenceClient, Page, PageRef, confluence_client, other_site, page_ref
from ..clients.jira import JiraClient, atlassian_deployment, jira_client, jql_string
from ..confluence_storage import StorageFormatError, read_page
from ..errors import AuthError, ConfigError, NotFound, UsageError
from .base import Result
from .confluence_jira_issues import ISSUE_FIELDS, LABELS_PER_SEARCH, chunks
from .confluence_jira_plan import (
    JOB,
    ORIGIN_PREFIX,
    TRACKSYNC_LABEL,
    ConfluenceJiraRead,
    PageRead,
    issue_state,
    origin_label,
)

if TYPE_CHECKING:
    from ..config import Settings
    from ..http import RequestCounter
    from ..store import Store
    from .confluence_jira import ConfluenceJiraOptions

WINDOW_MARGIN = timedelta(days=1)  # CQL and JQL dates are read in the token user's time zone: when unknown
OVERLAP = timedelta(seconds=30)  # Cloud search lags by seconds; query dates (minutes) floor it further
MAX_ANCESTORS = 10  # pages read above a root to find its Jira issue macro


class TreeReading:
    """The read step of ConfluenceJiraJob (a mixin: the job holds the clients and the store)."""

    settings: Settings
    opts: ConfluenceJiraOptions
    store: Store
    result: Result
    counter: RequestCounter
    jira: JiraClient
    confluence: ConfluenceClient
    cursors: dict[str, str]
    roots_failed: set[str]
    every_label_read: bool
    jira_zone: ZoneInfo | None
    confluence_zone: ZoneInfo | None
    ancestors: list[tuple[Page, str, tuple[str | None, str | None]]]  # read above the roots, saved by apply

    def connect(self) -> None:
        deployment = atlassian_deployment(self.settings, self.counter)
        self.jira = jira_client(self.settings, self.counter, deployment, self.opts.dry_run)
        self.confluence = confluence_client(self.settings, self.counter, deployment, self.opts.dry_run)
        me = self.jira.myself()  # wrong token: 77 naming Jira, before anything else
        self.jira_zone = _zone(me.get("timeZone"))
        self.confluence_zone = _zone(self.confluence.current_user().get("timeZone"))

    def page_refs(self) -> list[PageRef]:
        """The pages given (--page, else CONFLUENCE_PAGES), parsed: a malformed one is refused by
        name (2 / 78) before any request."""
        given = self.opts.pages or tuple(self.settings.confluence_pages or ())
        if not given:
            raise ConfigError("CONFLUENCE_PAGES", "no page to read: set CONFLUENCE_PAGES or pass --page URL_OR_ID")
        refs: list[PageRef] = []
        for text in given:
            try:
                refs.append(page_ref(text))
                host = other_site(text, self.settings.confluence_url)
                if host is not None:  # its page id would name another page here
                    raise ValueError(f"a page URL of {host[:80]!r}, not of CONFLUENCE_URL's site")
            except ValueError as exc:
                if self.opts.pages:
                    raise UsageError(f"--page: {exc}") from None
                raise ConfigError("CONFLUENCE_PAGES", str(exc)) from None
        return refs

    def roots(self) -> list[str]:
        ids: list[str] = []
        for ref in self.page_refs():
            page_id = ref.page_id
            if page_id is None and ref.space and ref.title:
                page_id = self.confluence.find_page(ref.space, ref.title)
                if page_id is None:
                    self.result.fail(f"page {ref.space}/{ref.title}", "not found in Confluence (or not readable)")
                    continue
            if page_id and page_id not in ids:
                ids.append(page_id)
        return ids

    def read(self) -> ConfluenceJiraRead:
        self.connect()
        now = datetime.now(UTC)
        stored_links = self.store.task_issues()
        conflicts = {c["source_key"] for c in self.store.conflicts(job=JOB)}
        read = ConfluenceJiraRead([], stored_links, {}, {}, conflicts, now)
        listed = self.read_pages(read)
        self.read_changed_issues(read)
        wanted_pages: set[str] = set()  # pages to parse whatever their version
        for origin, row in stored_links.items():
            issue = read.by_key.get(str(row.get("issue_key")))
            if row["state"] == "pending":
                wanted_pages.add(row["page_id"])
            elif issue is not None and row.get("issue_status") is None and issue.done == bool(row.get("issue_done")):
                read.first_looks[origin] = issue  # its first status, as created: recorded without its page
            elif issue is not None and issue.status != row.get("issue_status"):
                wanted_pages.add(row["page_id"])  # changed in Jira: its task may need its checkbox
        pages = self.read_bodies(listed, wanted_pages, read)
        self.read_lookups(pages, read)
        read.pages = pages
        return read

    def read_pages(self, read: ConfluenceJiraRead) -> list[tuple[Page, str, bool]]:
        """Every page of every tree: (page, root, body read). Bodies come along on a first or
        --full run; afterwards the search lists versions only and read_bodies fetches the pages
        whose version changed."""
        found: list[tuple[Page, str, bool]] = []
        seen: set[str] = set()
        for root in self.roots():
            try:
                top = self.confluence.get_page(root)
            except (NotFound, AuthError) as exc:
                if isinstance(exc, AuthError) and "401" in str(exc):
                    raise
                self.roots_failed.add(root)
                self.result.fail(f"page {root}", "does not exist or is not readable by the token's user")
                continue
            known = self.store.confluence_pages(root)
            cursor = None if self.opts.full else self.store.cursor(JOB, f"pages:{root}")
            since = _since(cursor, self.confluence_zone)
            with_body = since is None or not known
            self.confluence.http.watch_time()
            below, complete = self.confluence.descendants(root, modified_since=since, with_body=with_body)
            started = self.confluence.http.server_time(first=True)
            if complete and started is not None:
                self.cursors[f"pages:{root}"] = started.strftime("%Y-%m-%dT%H:%M:%SZ")
            elif not complete:
                read.warnings.append(f"page {root}: MAX_PAGES reached; the remaining pages are read next run")
            for page in [top, *below]:
                if page.id in seen:
                    continue
                seen.add(page.id)
                found.append((page, root, page.body is not None))
        return found

    def read_changed_issues(self, read: ConfluenceJiraRead) -> None:
        """The tracksync issues updated since the Jira cursor (every one on a first or --full run,
        which also finds every origin label), and those never looked at since their create."""
        cursor = None if self.opts.full else self.store.cursor(JOB, "issues")
        jql = f"labels = {jql_string(TRACKSYNC_LABEL)}"
        since = _since(cursor, self.jira_zone)
        if since is not None:
            jql += f' AND updated >= "{since.strftime("%Y-%m-%d %H:%M")}"'
        self.jira.http.watch_time()
        issues, complete = self.jira.search(jql + " ORDER BY key", ISSUE_FIELDS)
        started = self.jira.http.server_time(first=True)
        if complete and started is not None:
            self.cursors["issues"] = started.strftime("%Y-%m-%dT%H:%M:%SZ")
        self.every_label_read = complete and not cursor
        keys: set[str] = set()
        for record in issues:
            state = issue_state(record) if isinstance(record, dict) else None
            if state is not None:
                read.by_key[state.key] = state
                keys.add(state.key)
                for label in state.labels:
                    if label.startswith(ORIGIN_PREFIX):
                        read.by_label.setdefault(label, state)
        # issues whose status must be read again (a conflict settled for Jira's side): by key
        unknown = sorted(
            {str(r["issue_key"]) for r in read.links.values() if r.get("issue_key") and r.get("issue_status") == ""}
            - keys
        )
        for chunk in chunks(unknown, LABELS_PER_SEARCH):
            found, _ = self.jira.search(f"key in ({', '.join(jql_string(k) for k in chunk)})", ISSUE_FIELDS)
            for record in found:
                state = issue_state(record) if isinstance(record, dict) else None
                if state is not None:
                    read.by_key[state.key] = state

    def read_bodies(
        self, pages: list[tuple[Page, str, bool]], wanted: set[str], read: ConfluenceJiraRead
    ) -> list[PageRead]:
        """Parse the pages to sync: a body read, a version other than the one stored, or a page
        with a pending create or a changed issue."""
        known = self.store.confluence_pages()
        parents = {page.id: page.parent_id for page, _, _ in pages}
        macros: dict[str, tuple[str | None, str | None]] = {
            pid: (row.get("jira_project"), row.get("jira_issue")) for pid, row in known.items()
        }
        parsed: list[tuple[Page, str, Any]] = []
        for page, root, has_body in pages:
            stored = known.get(page.id)
            if not (self.opts.full or stored is None or stored["version"] != page.version or page.id in wanted):
                continue
            if not has_body:
                try:
                    page = self.confluence.get_page(page.id)
                except (NotFound, AuthError) as exc:
                    if isinstance(exc, AuthError) and "401" in str(exc):
                        raise
                    self.result.fail(f"page {page.id}", "is no longer readable")
                    continue
            try:
                storage = read_page(page.body or "")
            except StorageFormatError as exc:
                self.result.fail(f"page {page.id} ({page.title})", str(exc))
                continue
            macro = next((m for m in storage.jira_macros if m.project and m.task_id is None), None)
            macros[page.id] = (macro.project, macro.key) if macro else (None, None)
            parsed.append((page, root, storage))
        for root in dict.fromkeys(root for _, root, _ in parsed):
            if any(_nearest_macro(p.id, parents, macros, known)[0] is None for p, r, _ in parsed if r == root):
                self.read_ancestors(root, parents, macros, known)
        result: list[PageRead] = []
        for page, root, storage in parsed:
            project, parent = _nearest_macro(page.id, parents, macros, known)
            result.append(PageRead(page, root, storage, project, parent))
        return result

    def read_ancestors(
        self,
        root: str,
        parents: dict[str, str | None],
        macros: dict[str, tuple[str | None, str | None]],
        known: Mapping[str, Mapping[str, Any]],
    ) -> None:
        """The pages above a root (outside its tree), nearest first, until one holds a Jira issue
        macro: its project (and issue) is the tree's. Read once; the store keeps them."""
        current = parents.get(root) or (known.get(root) or {}).get("parent_id")
        for _ in range(MAX_ANCESTORS):
            if not current or current in parents or current in known:
                return  # the top, or a page already known (its macro, if any, is in `macros`)
            try:
                page = self.confluence.get_page(current)
                storage = read_page(page.body or "")
            except (NotFound, AuthError, StorageFormatError) as exc:
                if isinstance(exc, AuthError) and "401" in str(exc):
                    raise
                return  # an ancestor the token cannot read: the tree keeps JIRA_PROJECT
            macro = next((m for m in storage.jira_macros if m.project and m.task_id is None), None)
            parents[page.id] = page.parent_id
            macros[page.id] = (macro.project, macro.key) if macro else (None, None)
            self.ancestors.append((page, root, macros[page.id]))
            if macro is not None:
                return
            current = page.parent_id

    def read_lookups(self, pages: Sequence[PageRead], read: ConfluenceJiraRead) -> None:
        """Before any create: the issues of every task without a linked row, by origin label (a lost
        store, a pending create) or by the macro in the task."""
        labels: list[str] = []
        keys: list[str] = []
        for page_read in pages:
            for task in page_read.storage.tasks:
                origin = origin_label(page_read.page.id, task.task_id)
                row = read.links.get(origin)
                if row is not None and row["state"] == "linked":
                    continue
                labels.append(origin)
                keys += [k for k in task.jira_keys if k not in read.by_key]
        if self.every_label_read:  # every tracksync issue was just read, with its labels
            labels = []
        if not labels and not keys:
            return
        if not labels:
            queries: list[str] = []
        elif len(labels) > 4 * LABELS_PER_SEARCH:  # many new tasks: every tracksync issue in one paged read
            queries = [f"labels = {jql_string(TRACKSYNC_LABEL)}"]
        else:
            queries = [" OR ".join(f"labels = {jql_string(x)}" for x in c) for c in chunks(labels, LABELS_PER_SEARCH)]
        queries += [f"key in ({', '.join(jql_string(k) for k in c)})" for c in chunks(sorted(set(keys)), 40)]
        wanted = set(labels)
        for jql in queries:
            issues, _ = self.jira.search(jql, ISSUE_FIELDS)
            for record in issues:
                state = issue_state(record) if isinstance(record, dict) else None
                if state is None:
                    continue
                read.by_key.setdefault(state.key, state)
                for label in state.labels:
                    if label in wanted and label not in read.by_label:
                        read.by_label[label] = state


def _nearest_macro(
    page_id: str,
    parents: Mapping[str, str | None],
    macros: Mapping[str, tuple[str | None, str | None]],
    known: Mapping[str, Mapping[str, Any]],
) -> tuple[str | None, str | None]:
    """The project and issue of the Jira macro on the page or its nearest ancestor in the tree."""
    current: str | None = page_id
    seen: set[str] = set()
    while current is not None and current not in seen:
        seen.add(current)
        project, issue = macros.get(current, (None, None))
        if project:
            return project, issue
        parent = parents.get(current)
        if parent is None and current in known:
            parent = known[current].get("parent_id")
        current = parent
    return None, None


def _zone(name: Any) -> ZoneInfo | None:
    """The token user's time zone, in which Jira and Confluence read the dates of a query."""
    try:
        return ZoneInfo(name) if isinstance(name, str) and name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _since(cursor: str | None, zone: ZoneInfo | None) -> datetime | None:
    """The start of an incremental query from a cursor (server time, UTC), as the user's wall
    clock: a short overlap in the user's known zone, else a day (the zone is unknown)."""
    if not cursor:
        return None
    try:
        start = datetime.fromisoformat(cursor.replace("Z", "+00:00"))
    except ValueError:
        return None
    if zone is None:
        return start - WINDOW_MARGIN
    return (start - OVERLAP).astimezone(zone)

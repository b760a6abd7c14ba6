"""`sync.py confluence-tree`: build, and remove, a tree of test pages under a Confluence page, for
trying the confluence-jira job safely.

Build: ``depth`` levels of ``children`` pages each under the parent, every page titled
``tracksync-test {tag} {path}`` (``tag``: six hex digits new for each build, so a second build
makes a second, separately titled tree and titles stay unique in the space), labelled
``tracksync-test``, with one ``ac:task-list`` of ``tasks`` tasks (ids 1..N; every fourth one
complete, every third one due ``<time datetime>``, every other one mentioning the assignee:
Cloud ``ri:account-id``, Data Center ``ri:userkey``) and, with a Jira project, a Jira issue macro
of an existing issue of that project. Parents are created before their children.

Remove: every page below the parent labelled ``tracksync-test`` whose body holds a build's
marker line (one CQL search; a person's page that merely carries the label stays), plus a page
below it that was created but not labelled yet when a build was killed in between (its title
starts with ``tracksync-test `` and its body holds the build's marker line); deepest first, and
nothing else.

Both are recorded as runs of ``confluence-tree`` in the store (not under --dry-run)."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..cli import Terminated
from ..clients.confluence import ConfluenceClient, Page, confluence_client, other_site, page_ref
from ..clients.jira import atlassian_deployment, jira_client, jql_string
from ..errors import OK, PARTIAL, TEMPORARY, ApiError, NotFound, SyncError, UnknownOutcome, UsageError
from ..http import RequestCounter
from ..jobs.jira_confluence_answers import page_write
from ..runlock import JobLock
from ..store import Store
from .confluence_tree_plan import (
    TITLE_PREFIX,
    TREE_LABEL,
    PlannedPage,
    TreeSpec,
    check_spec,
    holds_marker,
    is_unlabelled_test_page,
    plan_tree,
    removal_order,
)

if TYPE_CHECKING:
    from ..config import Settings

JOB = "confluence-tree"
LABEL_ATTEMPTS = 5  # a label whose answer was lost is asked again (idempotent)


@dataclass
class TreeResult:
    parent_id: str
    dry_run: bool
    action: str  # build | remove
    tag: str | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    counter: RequestCounter = field(default_factory=RequestCounter)
    run_id: int | None = None

    @property
    def exit_code(self) -> int:
        return PARTIAL if self.failures else OK

    def summary(self) -> dict[str, Any]:
        totals = self.counter.totals()
        done = "created" if self.action == "build" else "removed"
        return {
            "action": self.action,
            "parent_page": self.parent_id,
            "tag": self.tag,
            "dry_run": self.dry_run,
            "run_id": self.run_id,
            "pages": self.rows,
            done: 0 if self.dry_run else sum(1 for r in self.rows if r["status"] == done),
            "failed": self.failures,
            "requests": totals["requests"],
            "writes": totals["writes"],
            "exit_code": self.exit_code,
            "error": f"{len(self.failures)} page(s) failed: {self.failures[0]}" if self.failures else None,
        }


# -- the command ------------------------------------------------------------------------------
class TreeCommand:
    def __init__(self, settings: Settings, parent: str, dry_run: bool) -> None:
        try:
            ref = page_ref(parent)
        except ValueError as exc:
            raise UsageError(f"--parent-page: {exc}") from None
        settings.require("CONFLUENCE_URL")
        host = other_site(parent, settings.confluence_url)
        if host is not None:
            raise UsageError(f"--parent-page: a page URL of {host[:80]!r}, not of CONFLUENCE_URL's site")
        self.settings = settings
        self.ref = ref
        self.dry_run = dry_run
        self.result = TreeResult(ref.page_id or f"{ref.space}/{ref.title}", dry_run, "build")
        self.cloud = False
        self.confluence: ConfluenceClient | None = None

    def connect(self, jira_needed: bool) -> ConfluenceClient:
        counter = self.result.counter
        if (self.settings.get("ATLASSIAN_DEPLOYMENT") or "auto") == "auto":
            self.settings.require("JIRA_URL", "JIRA_TOKEN")  # asked which deployment this is
        deployment = atlassian_deployment(self.settings, counter)
        self.cloud = deployment == "cloud"
        confluence = confluence_client(self.settings, counter, deployment, self.dry_run)
        self.me = confluence.current_user()  # a wrong token: 77 naming Confluence, before anything else
        if jira_needed:
            self.settings.require("JIRA_URL", "JIRA_TOKEN")
            self.jira = jira_client(self.settings, counter, deployment, self.dry_run)
            self.jira.myself()
        self.confluence = confluence
        return confluence

    def parent(self, confluence: ConfluenceClient) -> Page:
        """The parent page, or UsageError naming it (exit 2)."""
        page_id = self.ref.page_id
        if page_id is None and self.ref.space and self.ref.title:
            page_id = confluence.find_page(self.ref.space, self.ref.title)
        if page_id is not None:
            try:
                return confluence.get_page(page_id)
            except NotFound:
                pass
        raise UsageError(
            f"--parent-page {self.result.parent_id}: no such Confluence page (or the token's user cannot read it)"
        )

    def recorded(self, body: Callable[[Store | None], None], params: dict[str, Any]) -> TreeResult:
        """Run `body` as a run of confluence-tree in the store (none under --dry-run)."""
        if self.dry_run:
            body(None)
            return self.result
        with JobLock(self.settings.database_path, JOB), Store(self.settings.database_path) as store:
            self.result.run_id = store.start_run(JOB, params)
            status, code, error = "failed", 1, None
            try:
                body(store)
                code = self.result.exit_code
                status = "ok" if code == OK else "partial"
            except SyncError as exc:
                code, error = exc.exit_code, str(exc)
                raise
            except (KeyboardInterrupt, Terminated):  # stopped: what was made is listed by --remove
                status, code, error = "interrupted", TEMPORARY, "stopped by a signal"
                raise
            finally:
                done = sum(1 for r in self.result.rows if r["status"] in ("created", "removed"))
                totals = self.result.counter.totals()
                counts = {
                    "created" if self.result.action == "build" else "deleted": done,
                    "failed": len(self.result.failures),
                    "requests": totals["requests"],
                    "writes": totals["writes"],
                }
                store.finish_run(self.result.run_id, status, code, counts, error)
        return self.result

    # -- build ----------------------------------------------------------------------------
    def build(self, spec: TreeSpec) -> TreeResult:
        check_spec(spec)
        self.result.tag = secrets.token_hex(3)
        params = {"action": "build", "parent": self.result.parent_id, "tag": self.result.tag, **spec.__dict__}
        return self.recorded(lambda _store: self._build(spec), params)

    def _build(self, spec: TreeSpec) -> None:
        confluence = self.connect(bool(spec.jira_project))
        parent = self.parent(confluence)
        self.result.parent_id = parent.id
        if not parent.space:
            raise ApiError(f"page {parent.id}: the answer names no space", service="confluence")
        jira_key = self._jira_issue(spec.jira_project) if spec.jira_project else None
        who = self._assignee(confluence, spec.assignee)
        tag = self.result.tag or ""
        plan = plan_tree(spec, tag, who=who, cloud=self.cloud, jira_key=jira_key, today=datetime.now(UTC).date())
        made: dict[tuple[int, ...], str] = {(): parent.id}
        for page in plan:
            above = made.get(page.path[:-1])
            row: dict[str, Any] = {
                "status": "planned" if self.dry_run else "created",
                "id": None,
                "title": page.title,
                "parent_id": above,
                "depth": page.depth,
                "tasks": page.tasks,
                "open_tasks": page.open_tasks,
                "jira_issue": jira_key,
            }
            self.result.rows.append(row)
            if self.dry_run:
                made[page.path] = f"({'.'.join(map(str, page.path))})"
                row["parent_id"] = above
                continue
            if above is None:
                row["status"] = "skipped"
                self.result.failures.append(f"{page.title}: not created, its parent page was not")
                continue
            try:
                created = self._create(confluence, parent.space, above, page)
                row["id"] = created.id
                made[page.path] = created.id
                self._label(confluence, created.id)
            except (ApiError, UnknownOutcome, NotFound) as exc:
                row["status"] = "failed"
                self.result.failures.append(f"{page.title}: {exc}")

    @staticmethod
    def _label(confluence: ConfluenceClient, page_id: str) -> None:
        """Label a new page; a lost answer is asked again (adding a label a page has is a no-op)."""
        for attempt in range(LABEL_ATTEMPTS):
            try:
                confluence.add_labels(page_id, [TREE_LABEL])
                return
            except UnknownOutcome:
                if attempt == LABEL_ATTEMPTS - 1:
                    raise

    def _create(self, confluence: ConfluenceClient, space: str, parent_id: str, page: PlannedPage) -> Page:
        """Create one page; when the answer was lost, look for it by its (unique) title instead of
        posting it again."""
        try:
            return page_write(confluence, "POST", None, confluence.create_page, space, parent_id, page.title, page.body)
        except UnknownOutcome:
            for _ in range(3):
                found, _complete = confluence.search_pages(
                    f"ancestor = {parent_id} and type = page and title = {_cql_string(page.title)}"
                )
                match = [p for p in found if p.title == page.title]
                if match:
                    return match[0]
                time.sleep(0.2)
            raise

    def _jira_issue(self, project: str) -> str:
        """The key of an existing issue of the project (the first by key)."""
        project = project.strip().upper()
        if not re.fullmatch(r"[A-Z][A-Z0-9_]{0,49}", project):
            raise UsageError(f"--jira-project {project[:60]!r}: not a Jira project key")
        if self.jira.project(project) is None:
            raise UsageError(f"--jira-project {project}: no such Jira project (or the token's user cannot see it)")
        self.jira.max_pages = 1  # the first page of the answer is enough
        issues, _complete = self.jira.search(f"project = {jql_string(project)} ORDER BY key ASC", ("summary",))
        keys = [str(i["key"]) for i in issues if isinstance(i, dict) and isinstance(i.get("key"), str)]
        if not keys:
            raise UsageError(f"--jira-project {project}: the project has no issue to put in a Jira issue macro")
        return keys[0]

    def _assignee(self, confluence: ConfluenceClient, given: str | None) -> str | None:
        """Whom the tasks mention: Cloud an account id, Data Center a user key (from a login name
        or a key). Default: the token's user."""
        if given is None:
            value = self.me.get("accountId" if self.cloud else "userKey")
            return str(value) if isinstance(value, str) and value else None
        if self.cloud:
            if not re.fullmatch(r"[A-Za-z0-9:_-]{1,128}", given):
                raise UsageError(f"--assignee {given[:60]!r}: not an Atlassian account id")
            return given
        user = confluence.user_by_name(given) or confluence.user_by_key(given)
        key = user.get("userKey") if user else None
        if not isinstance(key, str) or not key:
            raise UsageError(f"--assignee {given[:60]!r}: no such Confluence user (login name or user key)")
        return key

    # -- remove ---------------------------------------------------------------------------
    def remove(self) -> TreeResult:
        self.result.action = "remove"
        return self.recorded(lambda _store: self._remove(), {"action": "remove", "parent": self.result.parent_id})

    def _remove(self) -> None:
        confluence = self.connect(False)
        parent = self.parent(confluence)
        self.result.parent_id = parent.id
        labelled, complete = confluence.search_pages(
            f'ancestor = {parent.id} and type = page and label = "{TREE_LABEL}"', with_body=True
        )
        titled, complete_titled = confluence.search_pages(
            f"ancestor = {parent.id} and type = page and title ~ {_cql_string(TITLE_PREFIX.strip())}",
            with_body=True,
        )
        if not (complete and complete_titled):
            self.result.failures.append(
                f"page {parent.id}: the search for test pages was cut by MAX_PAGES; run --remove again"
            )
        found = {p.id: p for p in labelled if holds_marker(p)}  # a person's page with the label stays
        for page in titled:
            if page.id not in found and is_unlabelled_test_page(page):
                found[page.id] = page
        for page in removal_order(list(found.values()), parent.id):
            row = {"status": "planned" if self.dry_run else "removed", "id": page.id, "title": page.title}
            self.result.rows.append(row)
            if self.dry_run:
                continue
            try:
                confluence.delete_page(page.id)  # False: gone already (a lost answer to our DELETE)
            except (ApiError, UnknownOutcome) as exc:
                row["status"] = "failed"
                self.result.failures.append(f"page {page.id} ({page.title}): {exc}")


def _cql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

"""Gitea -> Kimai: repository -> project (under a customer), issue / pull request -> activity.

read():  per repository, issues updated since its cursor (minus an overlap), in parallel; the
         store's links; the Kimai projects (customers) and activities the changed issues need;
plan():  no I/O: from that read (GiteaRead) to the actions (GiteaPlan), with the pure functions below;
apply(): creates and updates in parallel, a create with no answer resolved by its marker; cursors.
An issue whose mapped fields hash to what was last written costs no Kimai request at all.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from ..clients import Record
from ..clients.gitea import GiteaClient
from ..clients.kimai import KimaiClient
from ..errors import STOPS_RUN, ServiceUnavailable, SyncError
from ..store_queries import Row
from ..timeutil import parse_instant
from .base import Action, ActionKind, Applier, Target, content_hash
from .kimai_targets import (
    ContainerRef,
    Containers,
    ContainerWriter,
    KimaiState,
    index_by_marker,
    kimai_safe_name,
    needs_customers,
    needs_of,
    ref_id,
    without_path,
)
from .options import Job, JobOptions, RunOptions

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger("tracksync.gitea_kimai")

JOB = "gitea-kimai"
OVERLAP = timedelta(minutes=5)
BODY_LIMIT = 2000


@dataclass(frozen=True)
class Options(JobOptions):
    repos: tuple[str, ...] = ()  # --repos: only these repositories
    include_pulls: bool = False  # --include-prs or SYNC_PULL_REQUESTS


GiteaOptions = Options  # its name inside GiteaKimaiJob, where the class attribute `Options` hides it


@dataclass
class RepoRead:
    name: str
    issues: list[Record] = field(default_factory=list)
    complete: bool = True
    error: str | None = None


# --- mapping (pure) -------------------------------------------------------------------------

ISSUE_FIELDS = ("number", "title", "state", "body", "html_url", "updated_at")  # what the mapping uses


def mapped_issue(owner: str, repo: str, issue: Any) -> Record:
    """An issue as listed, cut down to ISSUE_FIELDS (a run holds these, not every page whole).
    One without a positive number, a title, a state or updated_at stops the run (69, naming it)."""
    number = issue.get("number") if isinstance(issue, dict) else None
    if isinstance(number, bool) or not isinstance(number, int) or not 0 < number < 2**63:
        raise ServiceUnavailable(f"{owner}/{repo}: an issue without a valid number in the list", service="gitea")
    if not all(isinstance(issue.get(name), str) for name in ("title", "state", "updated_at")):
        raise ServiceUnavailable(
            f"{owner}/{repo}#{number}: an issue without title, state or updated_at", service="gitea"
        )
    if not isinstance(issue.get("body") or "", str) or not isinstance(issue.get("html_url") or "", str):
        raise ServiceUnavailable(f"{owner}/{repo}#{number}: an issue whose body or URL is not text", service="gitea")
    return {name: issue.get(name) for name in ISSUE_FIELDS}


def repo_marker(owner: str, repo: str) -> str:
    return f"gitea:{owner}/{repo}"


def issue_marker(owner: str, repo: str, number: int) -> str:
    return f"gitea:{owner}/{repo}#{number}"


def activity_fields(owner: str, repo: str, issue: Record, closed_policy: str) -> dict[str, Any]:
    body = (issue.get("body") or "").strip()
    if len(body) > BODY_LIMIT:
        body = body[:BODY_LIMIT] + "…"
    comment = "\n".join(
        part for part in (issue_marker(owner, repo, issue["number"]), issue.get("html_url") or "", body) if part
    )
    visible = not (issue["state"] == "closed" and closed_policy == "hide")
    return {"name": kimai_safe_name(f"#{issue['number']} {issue['title']}"), "comment": comment, "visible": visible}


def current_fields(activity: Target) -> dict[str, Any]:
    return {"name": activity["name"], "comment": activity.get("comment") or "", "visible": bool(activity["visible"])}


def describe_change(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    if before["name"] != after["name"]:
        return f"name {before['name']!r} -> {after['name']!r}"
    if before["visible"] != after["visible"]:
        return "closed" if not after["visible"] else "reopened"
    return "description changed"


def plan_activities(
    owner: str,
    repo: str,
    issues: Iterable[Record],
    target_by_marker: Mapping[str, Target],
    links: Mapping[str, Row],
    closed_policy: str,
    where: str = "",
) -> list[Action]:
    """Actions for the issues of one repository, given the project's activities by marker.
    `where` names the project and customer a created activity goes under, for the plan."""
    actions: list[Action] = []
    for issue in issues:
        key = issue_marker(owner, repo, issue["number"])
        fields = activity_fields(owner, repo, issue, closed_policy)
        label = f"#{issue['number']} {owner}/{repo}"
        link = links.get(key)
        existing = target_by_marker.get(key)
        if existing is None:
            detail = f"activity {fields['name']!r} {where}".rstrip()
            actions.append(Action(ActionKind.CREATE, key, "activity", label, repo, fields, detail=detail))
            continue
        before = current_fields(existing)
        if before == fields:
            linked = (
                link
                and link["state"] == "synced"
                and link["target_id"] == existing["id"]
                and link["source_hash"] == content_hash(fields)
            )
            kind = ActionKind.UNCHANGED if linked else ActionKind.LINK
            actions.append(Action(kind, key, "activity", label, repo, fields, target_id=existing["id"]))
            continue
        only_visibility = {**before, "visible": fields["visible"]} == fields
        kind = (ActionKind.HIDE if not fields["visible"] else ActionKind.SHOW) if only_visibility else ActionKind.UPDATE
        actions.append(
            Action(
                kind,
                key,
                "activity",
                label,
                repo,
                fields,
                target_id=existing["id"],
                before=before,
                keep={"billable": existing.get("billable", True)},
                detail=describe_change(before, fields),
            )
        )
    return actions


def next_cursor(read: RepoRead, failed_versions: list[str], old: str | None) -> str | None:
    """The repository's new cursor: the newest updated_at seen, but never past an item that
    failed (it must be read again) and unchanged when the list was cut short."""
    if not read.complete:
        return old
    if failed_versions:
        return min(failed_versions)
    versions = [i["updated_at"] for i in read.issues if i.get("updated_at")]
    return max(versions, key=parse_instant) if versions else old


# --- the run --------------------------------------------------------------------------------


@dataclass
class GiteaRead:
    """What a run read: each repository's issues, the store's links, and the Kimai state planning
    needs (read only for the repositories whose issues or project need a look at Kimai)."""

    repos: dict[str, RepoRead]  # repository -> its read, in the order listed
    links: Mapping[str, Row]
    kimai: KimaiState = field(default_factory=KimaiState)  # projects; customers when one must be found by name
    activities: dict[str, Target] = field(default_factory=dict)  # the existing projects' activities, by marker


@dataclass
class GiteaPlan:
    """Everything a run does, computed without I/O: the repositories that could not be read, the
    containers and activities to write, and the reads the cursors move by once they were sent."""

    repos: dict[str, RepoRead]
    failures: list[tuple[str, str]] = field(default_factory=list)  # (repository, reason): not read
    warnings: list[str] = field(default_factory=list)
    unchanged: int = 0  # issues hashing as last written: no Kimai request at all
    containers: list[Action] = field(default_factory=list)  # customer and projects, in that order
    activities: list[Action] = field(default_factory=list)
    projects: dict[str, ContainerRef] = field(default_factory=dict)  # repository -> its project (id or create)


class GiteaKimaiJob(Job):
    name = JOB
    services = ("gitea", "kimai")
    keys = ("GITEA_ORGANIZATION",)
    summary = "Gitea issues -> Kimai activities, one project per repository."
    examples = (
        "python sync.py gitea-kimai --dry-run",
        "python sync.py gitea-kimai --repos web,api --include-prs",
        "python sync.py gitea-kimai --quiet --env-file /etc/tracksync/tracksync.env",
    )
    options = (
        click.option("--repos", default=None, help="comma list of repositories (overrides REPOS_TO_SYNC)"),
        click.option("--include-prs", is_flag=True, help="also sync pull requests"),
    )
    Options = Options

    @classmethod
    def from_cli(cls, values: dict[str, Any]) -> JobOptions:
        repos = tuple(r.strip() for r in (values["repos"] or "").split(",") if r.strip())
        return Options(repos=repos, include_pulls=values["include_prs"])

    @classmethod
    def options_for(cls, run: RunOptions, settings: Settings) -> JobOptions:
        options = super().options_for(run, settings)
        assert isinstance(options, Options)
        return replace(options, include_pulls=options.include_pulls or settings.sync_pull_requests)

    opts: GiteaOptions

    def prepare(self) -> None:
        self.settings.require("GITEA_ORGANIZATION")
        self.owner = self.settings.gitea_organization
        self.gitea = GiteaClient(self.settings, self.counter, self.opts.dry_run)
        self.kimai = KimaiClient(self.settings, self.counter, self.opts.dry_run)
        self.applier = Applier(JOB, self.store, self.run_id, self.opts.workers, self.result, self.opts.dry_run)

    # --- read: Gitea, the store, then only the Kimai state the issues to look at need

    def read(self) -> GiteaRead:
        self.gitea.me()  # fail fast (77 / 69) on either service, before reading anything
        self.kimai.me()
        repos = self.opts.repos or self.settings.repos_to_sync or [r["name"] for r in self.gitea.list_repos(self.owner)]
        read = GiteaRead(self.read_source(repos), self.store.links(JOB))
        todo = self.to_look_at(read)
        wanted = [(repo_marker(self.owner, repo), repo) for repo in todo if not self._project_linked(repo, read.links)]
        if wanted:
            read.kimai.projects = self.kimai.list_projects()
            if needs_customers(wanted, read.kimai.projects, read.links):
                read.kimai.customers = self.kimai.list_customers()
        existing = [ref for ref in self.plan_projects(todo, read)[1].values() if not isinstance(ref, Action)]
        if existing:
            read.activities = index_by_marker(self.kimai.list_activities(existing))
        return read

    def read_source(self, repos: Iterable[str]) -> dict[str, RepoRead]:
        cursors: dict[str, str | None] = (
            {} if self.opts.full else {repo: self.store.cursor(JOB, f"{self.owner}/{repo}") for repo in repos}
        )

        def read(repo: str) -> RepoRead:  # in a worker thread: no store access here
            since = cursors.get(repo)
            if since:
                since = (parse_instant(since) - OVERLAP).isoformat()
            try:
                issues, complete = self.gitea.list_issues(self.owner, repo, since, self.opts.include_pulls)
            except SyncError as exc:
                if isinstance(exc, STOPS_RUN):
                    raise
                return RepoRead(repo, error=f"gitea: {without_path(exc, 'reading its issues')}")
            return RepoRead(repo, [mapped_issue(self.owner, repo, issue) for issue in issues], complete)

        with ThreadPoolExecutor(max_workers=self.opts.workers) as pool:
            return {r.name: r for r in pool.map(read, repos)}

    # --- plan (no I/O: what was read, self.settings and self.opts only)

    def to_look_at(self, read: GiteaRead) -> dict[str, list[Record]]:
        """Repository -> its issues that need a look at Kimai; a repository with none is left out
        when its project is linked. Repositories not read are left out."""
        todo: dict[str, list[Record]] = {}
        for repo, repo_read in read.repos.items():
            if repo_read.error:
                continue
            issues = [i for i in repo_read.issues if not self._unchanged(repo, i, read.links)]
            if issues or not self._project_linked(repo, read.links):
                todo[repo] = issues
        return todo

    def _unchanged(self, repo: str, issue: Record, links: Mapping[str, Row]) -> bool:
        """Linked, synced and hashing the same as last written: no need to look at Kimai."""
        if self.opts.full:
            return False
        link = links.get(issue_marker(self.owner, repo, issue["number"]))
        fields = activity_fields(self.owner, repo, issue, self.settings.closed_issues)
        return bool(link and link["state"] == "synced" and link["source_hash"] == content_hash(fields))

    def _project_linked(self, repo: str, links: Mapping[str, Row]) -> bool:
        link = links.get(repo_marker(self.owner, repo))
        return not self.opts.full and link is not None and link["state"] == "synced"

    def plan_projects(self, repos: Iterable[str], read: GiteaRead) -> tuple[Containers, dict[str, ContainerRef]]:
        """Each repository's project: its linked id, one found in Kimai, or the planned create
        (and its customer's, under KIMAI_CUSTOMER or the organization)."""
        customer = self.settings.kimai_customer or self.owner
        containers = Containers(read.kimai, read.links)
        project: dict[str, ContainerRef] = {}
        for repo in repos:
            key = repo_marker(self.owner, repo)
            if self._project_linked(repo, read.links):
                project[repo] = read.links[key]["target_id"]
            else:
                comment = f"{key}\n{self.settings.gitea_url}/{self.owner}/{repo}"
                project[repo] = containers.marked_project(key, repo, comment, customer, f"{self.owner}/{repo}")
        return containers, project

    def plan(self, read: GiteaRead) -> GiteaPlan:
        plan = GiteaPlan(read.repos)
        for repo, repo_read in read.repos.items():
            if repo_read.error:
                plan.failures.append((f"{self.owner}/{repo}", repo_read.error))
            elif not repo_read.complete:
                plan.warnings.append(f"{self.owner}/{repo}: MAX_PAGES reached; the rest is read next run")
        todo = self.to_look_at(read)
        read_issues = sum(len(r.issues) for r in read.repos.values() if not r.error)
        plan.unchanged = read_issues - sum(len(issues) for issues in todo.values())
        containers, plan.projects = self.plan_projects(todo, read)
        plan.containers = containers.actions
        customer = kimai_safe_name(self.settings.kimai_customer or self.owner)
        for repo, issues in todo.items():
            where = f"in project {kimai_safe_name(repo)!r} (customer {customer!r})"
            planned = plan_activities(
                self.owner, repo, issues, read.activities, read.links, self.settings.closed_issues, where
            )
            project = plan.projects[repo]
            for action in planned:
                action.needs = needs_of(parent=project)
                action.parent = ref_id(project)  # None while the project is only planned: take_ids sets it
            plan.activities.extend(planned)
        return plan

    # --- apply: customer, projects, activities in that order; then the cursors

    def apply(self, plan: GiteaPlan) -> None:
        for label, reason in plan.failures:
            self.result.fail(label, reason)
        self.result.warnings.extend(plan.warnings)
        if plan.unchanged:
            self.result.counts["unchanged"] += plan.unchanged
        if plan.containers or plan.activities:
            ContainerWriter(self.kimai, self.settings, self.applier).apply(
                plan.containers,
                plan.activities,
                self._write_activity,
                lambda unknown: index_by_marker(
                    self.kimai.list_activities({a.parent for a in unknown if a.parent is not None})
                ),
                fresh=True,
            )
        if not self.opts.dry_run:
            unmade = {repo for repo, ref in plan.projects.items() if isinstance(ref, Action) and ref.target_id is None}
            self.save_cursors(plan.repos, unmade)

    def _write_activity(self, action: Action) -> Target:
        f = action.fields
        if action.kind == ActionKind.CREATE:
            return self.kimai.create_activity(f["name"], action.parent, f["comment"], f["visible"])
        assert action.target_id is not None and action.keep is not None, "an update of an activity found"
        return self.kimai.update_activity(action.target_id, f["name"], f["comment"], f["visible"], **action.keep)

    def save_cursors(self, reads: Mapping[str, RepoRead], unmade_projects: set[str]) -> None:
        """Move each repository's cursor past what was synced; not for a repository not read or
        whose project could not be created (its issues were not synced)."""
        failed = {label for label, _ in self.result.failures}
        for repo, read in reads.items():
            if read.error or repo in unmade_projects:
                continue
            old = self.store.cursor(JOB, f"{self.owner}/{repo}")
            failed_versions = [i["updated_at"] for i in read.issues if f"#{i['number']} {self.owner}/{repo}" in failed]
            value = next_cursor(read, failed_versions, old)
            if value and value != old:
                self.store.set_cursor(JOB, f"{self.owner}/{repo}", value)

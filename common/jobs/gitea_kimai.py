"""Gitea -> Kimai: repository -> project (under a customer), issue / pull request -> activity.

read:  per repository, issues updated since its cursor (minus an overlap), in parallel;
plan:  pure functions from (issues, Kimai state, store links) to actions;
apply: creates and updates in parallel; a create with no answer is resolved by its marker.
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
from ..errors import STOPS_RUN, SyncError
from ..store_queries import Row
from ..timeutil import parse_instant
from .base import Action, ActionKind, Applier, Result, Target, content_hash
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
    from ..http import RequestCounter
    from ..store import Store

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

    def __init__(
        self,
        settings: Settings,
        options: GiteaOptions,
        store: Store,
        counter: RequestCounter,
        result: Result,
        run_id: int | None = None,
    ) -> None:
        settings.require("GITEA_ORGANIZATION")
        self.settings, self.opts, self.store, self.result, self.run_id = settings, options, store, result, run_id
        self.owner = settings.gitea_organization
        self.gitea = GiteaClient(settings, counter, options.dry_run)
        self.kimai = KimaiClient(settings, counter, options.dry_run)
        self.applier = Applier(JOB, store, run_id, options.workers, result, options.dry_run)
        self.unmade_projects: set[str] = set()  # repositories whose project could not be created

    def run(self) -> None:
        self.gitea.me()  # fail fast (77 / 69) on either service, before reading anything
        self.kimai.me()
        repos = self.opts.repos or self.settings.repos_to_sync or [r["name"] for r in self.gitea.list_repos(self.owner)]
        reads = self.read_source(repos)
        links = self.store.links(JOB)
        todo: dict[str, list[Record]] = {}  # repository -> its issues that need a look at Kimai
        for repo in repos:
            read = reads[repo]
            if read.error:
                self.result.fail(f"{self.owner}/{repo}", read.error)
                continue
            if not read.complete:
                self.result.warnings.append(f"{self.owner}/{repo}: MAX_PAGES reached; the rest is read next run")
            todo[repo] = [i for i in read.issues if not self._unchanged(repo, i, links)]
            if not todo[repo] and self._project_linked(repo, links):
                del todo[repo]
        if todo:
            self.sync_repos(todo, links)
        if not self.opts.dry_run:
            self.save_cursors(reads)

    def _unchanged(self, repo: str, issue: Record, links: Mapping[str, Row]) -> bool:
        """Linked, synced and hashing the same as last written: no need to look at Kimai."""
        if self.opts.full:
            return False
        link = links.get(issue_marker(self.owner, repo, issue["number"]))
        fields = activity_fields(self.owner, repo, issue, self.settings.closed_issues)
        if link and link["state"] == "synced" and link["source_hash"] == content_hash(fields):
            self.result.counts["unchanged"] += 1
            return True
        return False

    def _project_linked(self, repo: str, links: Mapping[str, Row]) -> bool:
        link = links.get(repo_marker(self.owner, repo))
        return not self.opts.full and link is not None and link["state"] == "synced"

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
            return RepoRead(repo, issues, complete)

        with ThreadPoolExecutor(max_workers=self.opts.workers) as pool:
            return {r.name: r for r in pool.map(read, repos)}

    def sync_repos(self, todo: dict[str, list[Record]], links: Mapping[str, Row]) -> None:
        """Plan each repository's project (found, or created under KIMAI_CUSTOMER) and its
        issues' activities, then apply: customer, projects, activities in that order."""
        customer = self.settings.kimai_customer or self.owner
        project: dict[str, ContainerRef] = {
            repo: links[repo_marker(self.owner, repo)]["target_id"]
            for repo in todo
            if self._project_linked(repo, links)
        }
        wanted = {repo: repo_marker(self.owner, repo) for repo in todo if repo not in project}
        state = KimaiState()
        if wanted:
            state.projects = self.kimai.list_projects()
            if needs_customers([(key, repo) for repo, key in wanted.items()], state.projects, links):
                state.customers = self.kimai.list_customers()
        containers = Containers(state, links)
        for repo, key in wanted.items():
            comment = f"{key}\n{self.settings.gitea_url}/{self.owner}/{repo}"
            project[repo] = containers.marked_project(key, repo, comment, customer, f"{self.owner}/{repo}")
        existing = [ref for ref in project.values() if not isinstance(ref, Action)]
        target = index_by_marker(self.kimai.list_activities(existing)) if existing else {}
        actions: list[Action] = []
        for repo, issues in todo.items():
            where = f"in project {kimai_safe_name(repo)!r} (customer {kimai_safe_name(customer)!r})"
            planned = plan_activities(self.owner, repo, issues, target, links, self.settings.closed_issues, where)
            for action in planned:
                action.needs = needs_of(parent=project[repo])
                action.parent = ref_id(project[repo])  # None while the project is only planned: take_ids sets it
            actions.extend(planned)
        ContainerWriter(self.kimai, self.settings, self.applier).apply(
            containers.actions,
            actions,
            self._write_activity,
            lambda unknown: index_by_marker(
                self.kimai.list_activities({a.parent for a in unknown if a.parent is not None})
            ),
        )
        self.unmade_projects = {
            repo for repo, ref in project.items() if isinstance(ref, Action) and ref.target_id is None
        }

    def _write_activity(self, action: Action) -> Target:
        f = action.fields
        if action.kind == ActionKind.CREATE:
            return self.kimai.create_activity(f["name"], action.parent, f["comment"], f["visible"])
        assert action.target_id is not None and action.keep is not None, "an update of an activity found"
        return self.kimai.update_activity(action.target_id, f["name"], f["comment"], f["visible"], **action.keep)

    def save_cursors(self, reads: Mapping[str, RepoRead]) -> None:
        failed = {label for label, _ in self.result.failures}
        for repo, read in reads.items():
            if read.error:
                continue
            old = self.store.cursor(JOB, f"{self.owner}/{repo}")
            failed_versions = [i["updated_at"] for i in read.issues if f"#{i['number']} {self.owner}/{repo}" in failed]
            if repo in self.unmade_projects:  # its issues were not synced
                continue
            value = next_cursor(read, failed_versions, old)
            if value and value != old:
                self.store.set_cursor(JOB, f"{self.owner}/{repo}", value)

"""Jira stand-in, both deployments (``sandbox/jira_base.py`` switches them).

Cloud: REST v3 under ``/rest/api/3`` (descriptions in Atlassian Document Format, search by
``GET/POST /search/jql`` paged by ``nextPageToken``; the old ``/search`` answers 410 as on Cloud
since 2025), users by ``accountId``. Data Center: REST v2 under ``/rest/api/2`` (wiki-markup
descriptions, ``/search`` paged by ``startAt``/``total``; no ``/search/jql``), users by ``name`` or
``key``, the epic of an issue in the custom field ``EPIC_LINK_FIELD`` (JQL ``"Epic Link"``).
``/rest/api/2/serverInfo`` and ``/rest/api/2/myself`` answer on Cloud too (as the real Cloud does),
so a client can detect the deployment before it knows which version to use.

Workflow: every status can be reached from every other by one global transition whose name is
NOT the status name (``Close issue`` → ``Done``), so a client must pick transitions by target
status. Statuses: Backlog and To Do (category new), In Progress, Done and Won't Do (category done).

Hooks: ``search_lag(seconds)`` (Cloud's index lag: an issue created or changed less than that ago
is not found by search, as it was before), ``create_faults(error_rate, commit_drop_rate, seed)``
(issue creates only: answered 5xx without creating, or created and the connection dropped), plus
``throttle`` / ``fail_next`` from ``AtlassianService``.
"""

from __future__ import annotations

import base64
import binascii
import random
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox import jira_jql
from sandbox.jira_base import AtlassianService, Credentials, User
from sandbox.server import Request, Response

EPIC_LINK_FIELD = "customfield_10101"  # Data Center's "Epic Link" custom field
SUMMARY_MAX = 255
MAX_SNAPSHOTS = 32
MAX_RESULTS = 100  # Cloud search/jql with fields: at most 100 a page; Data Center's default cap is 1000
DC_MAX_RESULTS = 1000

CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category: str
    transition_id: str
    transition_name: str


STATUSES = (
    Status("10000", "Backlog", "new", "11", "Send to backlog"),
    Status("10001", "To Do", "new", "21", "Select for development"),
    Status("3", "In Progress", "indeterminate", "31", "Start progress"),
    Status("10002", "Done", "done", "41", "Close issue"),
    Status("10003", "Won't Do", "done", "51", "Decline"),
)
INITIAL_STATUS = "To Do"


@dataclass
class IssueType:
    id: str
    name: str
    hierarchy: int  # 1 epic, 0 standard, -1 sub-task

    @property
    def subtask(self) -> bool:
        return self.hierarchy < 0


DEFAULT_TYPES = (
    IssueType("10001", "Task", 0),
    IssueType("10002", "Story", 0),
    IssueType("10003", "Bug", 0),
    IssueType("10000", "Epic", 1),
    IssueType("10004", "Sub-task", -1),
)


@dataclass
class Project:
    id: str
    key: str
    name: str
    issue_types: list[IssueType]


@dataclass
class RemoteLink:
    id: int
    global_id: str | None
    object: dict[str, Any]
    relationship: str | None = None
    application: dict[str, Any] | None = None


@dataclass
class Issue:
    id: str
    key: str
    project: Project
    issue_type: IssueType
    summary: str
    description: Any
    status: Status
    labels: list[str]
    created: datetime
    updated: datetime
    reporter: User
    duedate: str | None = None
    assignee: User | None = None
    parent_key: str | None = None  # Cloud parent / sub-task parent
    epic_key: str | None = None  # Data Center Epic Link
    remote_links: list[RemoteLink] = field(default_factory=list)
    old_keys: list[str] = field(default_factory=list)  # keys before a move to another project
    indexed_at: float = 0.0  # monotonic time from which search sees the current state
    indexed_view: dict[str, Any] | None = None  # what search saw before the last change (lag)


class JiraService(AtlassianService):
    name = "jira"
    product = "jira"

    @property  # type: ignore[override]
    def api_prefix(self) -> str:
        return self.context + "/rest"

    def __init__(self, credentials: Credentials | None = None, deployment: str = "cloud") -> None:
        super().__init__(credentials or Credentials(), deployment)
        self.projects: dict[str, Project] = {}
        self.issues: dict[str, Issue] = {}  # by id
        self._next_issue_id = 10000
        self._next_link_id = 10000
        self._project_counters: dict[str, int] = {}
        self.search_lag_s = 0.0
        self._create_error_rate = 0.0
        self._create_drop_rate = 0.0
        self._create_rng = random.Random()
        self.page_size = MAX_RESULTS  # the most issues one search page returns (tests may lower it)
        self.dc_deployment_type: str | None = "Server"  # or "DataCenter", or None (field left out)
        self._keys: dict[str, str] = {}  # issue key -> id (a cache; _find checks it)
        # search results kept for the following pages of the same search (Cloud: the token names
        # one; Data Center: the last startAt=0 search of that JQL), so paging 10,000 issues does
        # not run the search 100 times; the issues' fields are read afresh on every page
        self._snapshots: OrderedDict[str, tuple[str, list[tuple[Issue, dict[str, Any] | None]]]] = OrderedDict()
        self._next_snapshot = 1
        self._route_all()

    # -- routes ----------------------------------------------------------------------------
    def _route_all(self) -> None:
        for version in ("2", "3"):
            base = f"/api/{version}"
            self.route("GET", base + "/serverInfo", self.get_server_info)
            self.route("GET", base + "/myself", self.get_myself)
            self.route("GET", base + "/user", self.get_user)
            self.route("GET", base + "/project/{key}", self.get_project)
            self.route("GET", base + "/field", self.get_fields)
            self.route("POST", base + "/issue", self.create_issue)
            self.route("GET", base + "/issue/{key}", self.get_issue)
            self.route("PUT", base + "/issue/{key}", self.edit_issue)
            self.route("DELETE", base + "/issue/{key}", self.delete_issue)
            self.route("GET", base + "/issue/{key}/transitions", self.get_transitions)
            self.route("POST", base + "/issue/{key}/transitions", self.do_transition)
            self.route("GET", base + "/issue/{key}/remotelink", self.get_remote_links)
            self.route("POST", base + "/issue/{key}/remotelink", self.post_remote_link)
            self.route("GET", base + "/issue/{key}/remotelink/{link:int}", self.get_remote_link)
            self.route("PUT", base + "/issue/{key}/remotelink/{link:int}", self.put_remote_link)
            self.route("DELETE", base + "/issue/{key}/remotelink/{link:int}", self.delete_remote_link)
            self.route("GET", base + "/search", self.search_get)
            self.route("POST", base + "/search", self.search_post)
            self.route("GET", base + "/search/jql", self.search_jql_get)
            self.route("POST", base + "/search/jql", self.search_jql_post)

    def handle(self, request: Request) -> Response:
        """Cloud answers v3 (and v2's serverInfo/myself/user/project); Data Center only v2."""
        match = re.match(re.escape(self.context) + r"/rest/api/(\d+)/(.*)$", request.path)
        if match is None:
            return self.not_found(request)
        version, rest = match.groups()
        if (
            self.cloud
            and version == "2"
            and rest.split("/")[0] not in ("serverInfo", "myself", "user", "project", "field")
        ):
            return self.not_found(request)
        if not self.cloud and version != "2":
            return self.not_found(request)
        return super().handle(request)

    # -- hooks -----------------------------------------------------------------------------
    def search_lag(self, seconds: float) -> None:
        """Search finds an issue only ``seconds`` after it was created or last changed (until then
        it finds what it found before: nothing for a new issue)."""
        with self.lock:
            self.search_lag_s = float(seconds)

    def create_faults(self, error_rate: float = 0.0, commit_drop_rate: float = 0.0, seed: int | None = None) -> None:
        """Issue creates only: ``error_rate`` answered 500/502/503 without creating; of the rest,
        ``commit_drop_rate`` created and then the connection dropped without an answer."""
        with self.lock:
            self._create_error_rate = float(error_rate)
            self._create_drop_rate = float(commit_drop_rate)
            self._create_rng = random.Random(seed)

    def control_actions(self) -> dict[str, Any]:
        return {
            **super().control_actions(),
            "search-lag": self.search_lag,
            "create-faults": self.create_faults,
            "set-status": self.set_status,
            "move-issue": self.move_issue,
            "remove-issue": self.remove_issue,
        }

    # -- seeding API -----------------------------------------------------------------------
    def add_project(self, key: str, name: str | None = None, types: tuple[str, ...] | None = None) -> Project:
        with self.lock:
            issue_types = [t for t in DEFAULT_TYPES if types is None or t.name in types]
            project = Project(str(10000 + len(self.projects)), key, name or key, issue_types)
            self.projects[key] = project
            return project

    def add_issue(
        self,
        project: str,
        summary: str,
        issue_type: str = "Task",
        *,
        status: str = INITIAL_STATUS,
        labels: list[str] | None = None,
        parent: str | None = None,
        description: Any = None,
        assignee: str | None = None,
        duedate: str | None = None,
    ) -> Issue:
        """Add an issue directly (indexed at once). ``parent`` is the epic (or sub-task parent)
        key: the ``parent`` field on Cloud; on Data Center the Epic Link for a standard issue."""
        with self.lock:
            proj = self.projects[project]
            kind = next(t for t in proj.issue_types if t.name == issue_type)
            issue = self._new_issue(proj, kind, summary, description, labels or [], duedate, self._user(assignee))
            issue.status = self._status(status)
            if parent:
                if self.cloud or kind.subtask:
                    issue.parent_key = parent
                else:
                    issue.epic_key = parent
            issue.indexed_at = 0.0
            return issue

    def issue_by_key(self, key: str) -> Issue | None:
        with self.lock:
            return self._find(key)

    def set_status(self, key: str, status: str) -> None:
        """A person moves the issue (no request logged)."""
        with self.lock:
            issue = self._find(key)
            assert issue is not None, key
            self._touch(issue)
            issue.status = self._status(status)

    def edit(self, key: str, **changes: Any) -> None:
        """A person edits fields of the issue (summary, labels, parent_key, epic_key, ...)."""
        with self.lock:
            issue = self._find(key)
            assert issue is not None, key
            self._touch(issue)
            for name, value in changes.items():
                setattr(issue, name, value)

    def move_issue(self, key: str, project: str) -> Issue:
        """A person moves the issue to another project: it gets that project's next key; the old
        key still finds it (as Jira redirects it), search by the old project does not."""
        with self.lock:
            issue = self._find(key)
            assert issue is not None, key
            target = self.projects[project]
            self._touch(issue)
            number = self._project_counters.get(target.key, 0) + 1
            self._project_counters[target.key] = number
            issue.old_keys.append(issue.key)
            issue.key, issue.project = f"{target.key}-{number}", target
            self._keys[issue.key] = issue.id
            return issue

    def remove_issue(self, key: str) -> None:
        with self.lock:
            issue = self._find(key)
            if issue is not None:
                del self.issues[issue.id]

    def issues_with_label(self, label: str) -> list[Issue]:
        with self.lock:
            return [issue for issue in self.issues.values() if label in issue.labels]

    # -- service hooks ---------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "projects": [
                {"key": p.key, "id": p.id, "issueTypes": [t.name for t in p.issue_types]}
                for p in self.projects.values()
            ],
            "issues": [self._issue_json(issue, None) for issue in self.issues.values()],
            "remote_links": {
                issue.key: [self._link_json(issue, link) for link in issue.remote_links]
                for issue in self.issues.values()
            },
        }

    def env(self, url: str, **options: Any) -> dict[str, str]:
        variables = {"JIRA_URL": url + self.context, "JIRA_TOKEN": self.token}
        if self.cloud:
            variables["JIRA_EMAIL"] = self.credentials.email
        if self.projects:
            variables["JIRA_PROJECT"] = next(iter(self.projects))
        return variables

    # -- helpers ---------------------------------------------------------------------------
    @property
    def version(self) -> str:
        return "3" if self.cloud else "2"

    def _api(self, path: str) -> str:
        return f"{self.site}/rest/api/{self.version}/{path}"

    def _status(self, name: str) -> Status:
        found = next((s for s in STATUSES if s.name.lower() == name.lower()), None)
        if found is None:
            raise ValueError(f"no status {name!r}")
        return found

    def _user(self, who: str | None) -> User | None:
        if who is None:
            return None
        for attribute in ("account_id", "name", "key", "email"):
            user = self.credentials.user_by(**{attribute: who})
            if user is not None:
                return user
        raise ValueError(f"no user {who!r}")

    def _find(self, key_or_id: str) -> Issue | None:
        if key_or_id in self.issues:
            return self.issues[key_or_id]
        upper = key_or_id.upper()
        cached = self.issues.get(self._keys.get(upper, ""))
        if cached is not None and cached.key == upper:
            return cached
        found = next((issue for issue in self.issues.values() if issue.key == upper), None)
        if found is None:
            found = next((issue for issue in self.issues.values() if upper in issue.old_keys), None)
        return found

    def _new_issue(
        self,
        project: Project,
        kind: IssueType,
        summary: str,
        description: Any,
        labels: list[str],
        duedate: str | None,
        assignee: User | None,
    ) -> Issue:
        number = self._project_counters.get(project.key, 0) + 1
        self._project_counters[project.key] = number
        issue_id = str(self._next_issue_id)
        self._next_issue_id += 1
        now = self.clock.now()
        issue = Issue(
            issue_id,
            f"{project.key}-{number}",
            project,
            kind,
            summary,
            description,
            self._status(INITIAL_STATUS),
            list(labels),
            now,
            now,
            self.credentials.bot,
            duedate,
            assignee,
        )
        issue.indexed_at = time.monotonic() + self.search_lag_s
        self.issues[issue_id] = issue
        self._keys[issue.key] = issue_id
        return issue

    def _touch(self, issue: Issue) -> None:
        """The issue changes now: search keeps seeing the old state for the lag."""
        if self.search_lag_s and time.monotonic() >= issue.indexed_at:
            issue.indexed_view = self._index_view(issue)
        issue.updated = self.clock.now()
        issue.indexed_at = time.monotonic() + self.search_lag_s

    def _index_view(self, issue: Issue) -> dict[str, Any]:
        return {
            "status": issue.status,
            "labels": list(issue.labels),
            "summary": issue.summary,
            "updated": issue.updated,
            "parent_key": issue.parent_key,
            "epic_key": issue.epic_key,
        }

    def _user_json(self, user: User) -> dict[str, Any]:
        if self.cloud:
            return {
                "self": self._api(f"user?accountId={user.account_id}"),
                "accountId": user.account_id,
                "accountType": "atlassian",
                "emailAddress": user.email,
                "displayName": user.display_name,
                "active": user.active,
                "timeZone": "UTC",
            }
        return {
            "self": self._api(f"user?username={user.name}"),
            "key": user.key,
            "name": user.name,
            "emailAddress": user.email,
            "displayName": user.display_name,
            "active": user.active,
            "timeZone": "UTC",
        }

    def _status_json(self, status: Status) -> dict[str, Any]:
        category = dict(CATEGORIES[status.category])
        category["self"] = self._api(f"statuscategory/{category['id']}")
        return {
            "self": self._api(f"status/{status.id}"),
            "description": "",
            "iconUrl": f"{self.site}/images/icons/statuses/generic.png",
            "name": status.name,
            "id": status.id,
            "statusCategory": category,
        }

    def _type_json(self, kind: IssueType) -> dict[str, Any]:
        data: dict[str, Any] = {
            "self": self._api(f"issuetype/{kind.id}"),
            "id": kind.id,
            "name": kind.name,
            "subtask": kind.subtask,
            "description": "",
        }
        if self.cloud:
            data["hierarchyLevel"] = kind.hierarchy
        return data

    def _issue_fields(self, issue: Issue) -> dict[str, Any]:
        parent = self._find(issue.parent_key) if issue.parent_key else None
        fields: dict[str, Any] = {
            "summary": issue.summary,
            "description": issue.description,
            "issuetype": self._type_json(issue.issue_type),
            "project": {
                "self": self._api(f"project/{issue.project.id}"),
                "id": issue.project.id,
                "key": issue.project.key,
                "name": issue.project.name,
            },
            "status": self._status_json(issue.status),
            "statuscategorychangedate": self.time_text(issue.updated),
            "resolution": {"name": "Done"} if issue.status.category == "done" else None,
            "labels": list(issue.labels),
            "created": self.time_text(issue.created),
            "updated": self.time_text(issue.updated),
            "duedate": issue.duedate,
            "assignee": self._user_json(issue.assignee) if issue.assignee else None,
            "reporter": self._user_json(issue.reporter),
        }
        if parent is not None:
            fields["parent"] = {
                "id": parent.id,
                "key": parent.key,
                "self": self._api(f"issue/{parent.id}"),
                "fields": {
                    "summary": parent.summary,
                    "status": self._status_json(parent.status),
                    "issuetype": self._type_json(parent.issue_type),
                },
            }
        if not self.cloud:
            fields[EPIC_LINK_FIELD] = issue.epic_key
        return fields

    def _issue_json(self, issue: Issue, wanted: set[str] | None, view: dict[str, Any] | None = None) -> dict[str, Any]:
        fields = self._issue_fields(issue)
        if view is not None:  # search still sees the state before the last change
            fields["status"] = self._status_json(view["status"])
            fields["labels"] = list(view["labels"])
            fields["summary"] = view["summary"]
            fields["updated"] = self.time_text(view["updated"])
        if wanted is not None and "*all" not in wanted and "*navigable" not in wanted:
            fields = {name: value for name, value in fields.items() if name in wanted}
        return {
            "expand": "",
            "id": issue.id,
            "self": self._api(f"issue/{issue.id}"),
            "key": issue.key,
            "fields": fields,
        }

    def _link_json(self, issue: Issue, link: RemoteLink) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": link.id,
            "self": self._api(f"issue/{issue.key}/remotelink/{link.id}"),
            "object": link.object,
        }
        if link.global_id is not None:
            data["globalId"] = link.global_id
        if link.relationship:
            data["relationship"] = link.relationship
        if link.application:
            data["application"] = link.application
        return data

    # -- handlers: server, users, projects -------------------------------------------------
    def get_server_info(self, request: Request) -> Response:
        now = self.clock.now()
        body: dict[str, Any] = {
            "baseUrl": self.site,
            "version": "1001.0.0-SNAPSHOT" if self.cloud else "9.12.15",
            "versionNumbers": [1001, 0, 0] if self.cloud else [9, 12, 15],
            "deploymentType": "Cloud" if self.cloud else "Server",
            "buildNumber": 100_281 if self.cloud else 9_120_015,
            "buildDate": "2026-11-20T00:00:00.000+0000",
            "serverTime": self.time_text(now),
            "scmInfo": "1f51473f5c7b75c1a69a0090f4832cdc5053702a",
            "serverTitle": "Jira",
            "defaultLocale": {"locale": "en_US"},
            "serverTimeZone": "UTC",
        }
        if not self.cloud:
            body["deploymentType"] = self.dc_deployment_type  # Data Center answers "Server" here too
            if self.dc_deployment_type is None:  # an old server: no such field
                del body["deploymentType"]
        return Response(200, body)

    def get_myself(self, request: Request) -> Response:
        user = self.current_user(request)
        assert user is not None
        return Response(200, self._user_json(user))

    def get_user(self, request: Request) -> Response:
        if self.cloud:
            account = request.arg("accountId")
            user = self.credentials.user_by(account_id=account) if account else None
        else:
            key, name = request.arg("key"), request.arg("username")
            user = self.credentials.user_by(key=key) if key else self.credentials.user_by(name=name) if name else None
        if user is None:
            return self.error(404, "The user does not exist or you do not have permission to view it.")
        return Response(200, self._user_json(user))

    def get_project(self, request: Request) -> Response:
        wanted = request.params["key"]
        project = next((p for p in self.projects.values() if wanted in (p.key, p.id) or wanted.upper() == p.key), None)
        if project is None:
            return self.error(404, f"No project could be found with key '{wanted}'.")
        return Response(
            200,
            {
                "self": self._api(f"project/{project.id}"),
                "id": project.id,
                "key": project.key,
                "name": project.name,
                "projectTypeKey": "software",
                "issueTypes": [self._type_json(t) for t in project.issue_types],
            },
        )

    def get_fields(self, request: Request) -> Response:
        """The fields a client may set; on Data Center the epic's custom field is found here by
        its name ``Epic Link`` (its id differs between installations)."""
        system = [
            ("summary", "Summary", "string"),
            ("description", "Description", "string"),
            ("labels", "Labels", "array"),
            ("duedate", "Due date", "date"),
            ("assignee", "Assignee", "user"),
            ("parent", "Parent", "issuelink"),
            ("status", "Status", "status"),
        ]
        fields: list[dict[str, Any]] = [
            {
                "id": fid,
                "key": fid,
                "name": name,
                "custom": False,
                "navigable": True,
                "searchable": True,
                "schema": {"type": kind, "system": fid},
            }
            for fid, name, kind in system
        ]
        if not self.cloud:
            fields.append(
                {
                    "id": EPIC_LINK_FIELD,
                    "key": EPIC_LINK_FIELD,
                    "name": "Epic Link",
                    "custom": True,
                    "navigable": True,
                    "searchable": True,
                    "clauseNames": ["cf[10101]", "Epic Link"],
                    "schema": {"type": "any", "custom": "com.pyxis.greenhopper.jira:gh-epic-link", "customId": 10101},
                }
            )
        return Response(200, fields)

    # -- handlers: issues ------------------------------------------------------------------
    def create_issue(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        fields = body.get("fields")
        if not isinstance(fields, dict):
            return self.error(400, "", {"fields": "Field 'fields' is required."})
        if self._create_error_rate and self._create_rng.random() < self._create_error_rate:
            return self.fault_response(self._create_rng.choice((500, 502, 503)))
        project_ref = fields.get("project") if isinstance(fields.get("project"), dict) else {}
        wanted = str(project_ref.get("key") or project_ref.get("id") or "")
        project = next((p for p in self.projects.values() if wanted in (p.key, p.id)), None)
        if project is None:
            return self.error(400, "", {"project": "valid project is required"})
        type_ref = fields.get("issuetype") if isinstance(fields.get("issuetype"), dict) else {}
        wanted_type = (type_ref.get("id"), type_ref.get("name"))
        kind = next(
            (t for t in project.issue_types if wanted_type in ((t.id, None), (None, t.name), (t.id, t.name))), None
        )
        if kind is None:
            return self.error(400, "", {"issuetype": "Specify a valid issue type"})
        problems = self._field_problems(fields, creating=True, kind=kind)
        if problems:
            return self.error(400, "", problems)
        issue = self._new_issue(
            project,
            kind,
            fields["summary"],
            fields.get("description"),
            list(fields.get("labels") or []),
            fields.get("duedate"),
            self._assignee(fields.get("assignee")),
        )
        self._apply_parent(issue, fields)
        answer = Response(201, {"id": issue.id, "key": issue.key, "self": self._api(f"issue/{issue.id}")})
        if self._create_drop_rate and self._create_rng.random() < self._create_drop_rate:
            answer.drop = True
        return answer

    def _assignee(self, ref: Any) -> User | None:
        if not isinstance(ref, dict):
            return None
        if self.cloud:
            return self.credentials.user_by(account_id=str(ref.get("accountId")))
        return self.credentials.user_by(name=str(ref.get("name")))

    def _apply_parent(self, issue: Issue, fields: dict[str, Any]) -> None:
        parent = fields.get("parent")
        if isinstance(parent, dict):
            target = self._find(str(parent.get("key") or parent.get("id") or ""))
            issue.parent_key = target.key if target else None
        if not self.cloud and EPIC_LINK_FIELD in fields:
            epic = self._find(str(fields[EPIC_LINK_FIELD] or ""))
            issue.epic_key = epic.key if epic else None

    def _field_problems(self, fields: dict[str, Any], *, creating: bool, kind: IssueType) -> dict[str, str]:
        """Jira's 400 ``errors`` for the fields of a create or edit (empty when they are fine)."""
        problems: dict[str, str] = {}
        known = {"project", "issuetype", "summary", "description", "labels", "duedate", "assignee", "parent"}
        if not self.cloud:
            known.add(EPIC_LINK_FIELD)
        for name in fields:
            if name not in known:
                problems[name] = f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
        summary = fields.get("summary")
        if creating or "summary" in fields:
            if not isinstance(summary, str) or not summary.strip():
                problems["summary"] = "You must specify a summary of the issue."
            elif len(summary.encode("utf-16-le")) // 2 > SUMMARY_MAX:  # Java's length: an emoji is 2
                problems["summary"] = "Summary must be less than 255 characters."
            elif "\n" in summary or "\r" in summary:
                problems["summary"] = "The summary is invalid because it contains newline characters."
        if "description" in fields and fields["description"] is not None:
            description = fields["description"]
            if self.cloud and not (isinstance(description, dict) and description.get("type") == "doc"):
                problems["description"] = (
                    "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
                )
            if not self.cloud and not isinstance(description, str):
                problems["description"] = "Operation value must be a string"
        labels = fields.get("labels")
        if labels is not None and (
            not isinstance(labels, list)
            or any(not isinstance(x, str) or not x or " " in x or len(x) > 255 for x in labels)
        ):
            problems["labels"] = "The label must not contain spaces and must be at most 255 characters."
        due = fields.get("duedate")
        if due is not None and not (isinstance(due, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", due)):
            problems["duedate"] = "Error parsing date string: " + str(due)[:40]
        assignee = fields.get("assignee")
        if assignee is not None and self._assignee(assignee) is None:
            who = assignee.get("accountId" if self.cloud else "name") if isinstance(assignee, dict) else assignee
            problems["assignee"] = f"User '{who}' does not exist."
        parent = fields.get("parent")
        if parent is not None:
            target = self._find(str(parent.get("key") or parent.get("id") or "")) if isinstance(parent, dict) else None
            if target is None:
                problems["parent"] = "Could not find issue by id or key."
            elif not (kind.subtask and target.issue_type.hierarchy == 0) and not (
                self.cloud and target.issue_type.hierarchy == kind.hierarchy + 1
            ):
                problems["parent"] = "Given parent work item does not belong to appropriate hierarchy."
        if not self.cloud and fields.get(EPIC_LINK_FIELD) is not None:
            epic = self._find(str(fields[EPIC_LINK_FIELD]))
            if epic is None or epic.issue_type.hierarchy != 1 or kind.hierarchy != 0:
                problems[EPIC_LINK_FIELD] = "The issue could not be linked to that epic."
        return problems

    def get_issue(self, request: Request) -> Response:
        issue = self._find(request.params["key"])
        if issue is None:
            return self.error(404, "Issue does not exist or you do not have permission to see it.")
        fields = request.arg("fields")
        wanted = {name.strip() for name in fields.split(",") if name.strip()} if fields else None
        return Response(200, self._issue_json(issue, wanted))

    def edit_issue(self, request: Request) -> Response:
        issue = self._find(request.params["key"])
        if issue is None:
            return self.error(404, "Issue does not exist or you do not have permission to see it.")
        body = request.body if isinstance(request.body, dict) else {}
        fields = body.get("fields") if isinstance(body.get("fields"), dict) else {}
        problems = self._field_problems(fields, creating=False, kind=issue.issue_type)
        update = body.get("update") if isinstance(body.get("update"), dict) else {}
        for name in update:
            if name != "labels":
                problems[name] = f"Field '{name}' cannot be set in the sandbox."
        if problems:
            return self.error(400, "", problems)
        self._touch(issue)
        for name in ("summary", "description", "duedate"):
            if name in fields:
                setattr(issue, name, fields[name])
        if "labels" in fields:
            issue.labels = list(fields["labels"] or [])
        if "assignee" in fields:
            issue.assignee = self._assignee(fields["assignee"])
        self._apply_parent(issue, fields)
        for operation in update.get("labels", []):
            if isinstance(operation, dict):
                if "add" in operation and operation["add"] not in issue.labels:
                    issue.labels.append(str(operation["add"]))
                if "remove" in operation and operation["remove"] in issue.labels:
                    issue.labels.remove(operation["remove"])
                if "set" in operation:
                    issue.labels = list(operation["set"])
        return Response(204)

    def delete_issue(self, request: Request) -> Response:
        issue = self._find(request.params["key"])
        if issue is None:
            return self.error(404, "Issue does not exist or you do not have permission to see it.")
        children = [i for i in self.issues.values() if i.parent_key == issue.key and i.issue_type.subtask]
        if children and request.arg("deleteSubtasks") != "true":
            return self.error(400, "The issue has subtasks; delete them or pass deleteSubtasks=true.")
        for child in children:
            del self.issues[child.id]
        del self.issues[issue.id]
        return Response(204)

    # -- handlers: transitions -------------------------------------------------------------
    def _transition_json(self, status: Status) -> dict[str, Any]:
        return {
            "id": status.transition_id,
            "name": status.transition_name,
            "to": self._status_json(status),
            "hasScreen": False,
            "isGlobal": True,
            "isInitial": False,
            "isAvailable": True,
            "isConditional": False,
            "isLooped": False,
        }

    def get_transitions(self, request: Request) -> Response:
        issue = self._find(request.params["key"])
        if issue is None:
            return self.error(404, "Issue does not exist or you do not have permission to see it.")
        open_ = [s for s in STATUSES if s is not issue.status]
        return Response(200, {"expand": "transitions", "transitions": [self._transition_json(s) for s in open_]})

    def do_transition(self, request: Request) -> Response:
        issue = self._find(request.params["key"])
        if issue is None:
            return self.error(404, "Issue does not exist or you do not have permission to see it.")
        body = request.body if isinstance(request.body, dict) else {}
        transition = body.get("transition") if isinstance(body.get("transition"), dict) else {}
        wanted = str(transition.get("id") or "")
        target = next((s for s in STATUSES if s.transition_id == wanted and s is not issue.status), None)
        if target is None:
            return self.error(400, f"Transition id '{wanted}' is not valid for this issue.")
        self._touch(issue)
        issue.status = target
        return Response(204)

    # -- handlers: remote links ------------------------------------------------------------
    def get_remote_links(self, request: Request) -> Response:
        issue = self._find(request.params["key"])
        if issue is None:
            return self.error(404, "Issue does not exist or you do not have permission to see it.")
        global_id = request.arg("globalId")
        if global_id is not None:
            link = next((li for li in issue.remote_links if li.global_id == global_id), None)
            if link is None:
                return self.error(404, "No remote link with the given globalId was found.")
            return Response(200, self._link_json(issue, link))
        return Response(200, [self._link_json(issue, link) for link in issue.remote_links])

    def _link_problems(self, body: Any) -> dict[str, str]:
        if not isinstance(body, dict) or not isinstance(body.get("object"), dict):
            return {"object": "Object is required."}
        obj = body["object"]
        problems = {}
        if not isinstance(obj.get("url"), str) or not obj["url"]:
            problems["url"] = "'url' is required."
        if not isinstance(obj.get("title"), str) or not obj["title"]:
            problems["title"] = "'title' is required."
        return problems

    def post_remote_link(self, request: Request) -> Response:
        """Create the link, or update the one with the same ``globalId`` in place (200)."""
        issue = self._find(request.params["key"])
        if issue is None:
            return self.error(404, "Issue does not exist or you do not have permission to see it.")
        problems = self._link_problems(request.body)
        if problems:
            return self.error(400, "", problems)
        body = request.body
        global_id = body.get("globalId")
        existing = next((li for li in issue.remote_links if global_id and li.global_id == global_id), None)
        if existing is not None:
            existing.object = body["object"]
            existing.relationship = body.get("relationship")
            existing.application = body.get("application")
            link, status = existing, 200
        else:
            link = RemoteLink(
                self._next_link_id, global_id, body["object"], body.get("relationship"), body.get("application")
            )
            self._next_link_id += 1
            issue.remote_links.append(link)
            status = 201
        return Response(status, {"id": link.id, "self": self._api(f"issue/{issue.key}/remotelink/{link.id}")})

    def _link(self, request: Request) -> tuple[Issue | None, RemoteLink | None]:
        issue = self._find(request.params["key"])
        if issue is None:
            return None, None
        link_id = int(request.params["link"])
        return issue, next((li for li in issue.remote_links if li.id == link_id), None)

    def get_remote_link(self, request: Request) -> Response:
        issue, link = self._link(request)
        if issue is None or link is None:
            return self.error(404, "The remote link does not exist.")
        return Response(200, self._link_json(issue, link))

    def put_remote_link(self, request: Request) -> Response:
        issue, link = self._link(request)
        if issue is None or link is None:
            return self.error(404, "The remote link does not exist.")
        problems = self._link_problems(request.body)
        if problems:
            return self.error(400, "", problems)
        link.object = request.body["object"]
        link.global_id = request.body.get("globalId", link.global_id)
        return Response(204)

    def delete_remote_link(self, request: Request) -> Response:
        issue, link = self._link(request)
        if issue is None or link is None:
            return self.error(404, "The remote link does not exist.")
        issue.remote_links.remove(link)
        return Response(204)

    # -- handlers: search ------------------------------------------------------------------
    def _resolve(self, entry: tuple[Issue, dict[str, Any] | None], name: str) -> Any:
        issue, view = entry
        view = view or self._index_view(issue)
        if name == "project":
            return (issue.project.key, issue.project.id)
        if name in ("key", "issuekey", "id"):
            return (issue.key, issue.id)
        if name == "labels":
            return view["labels"]
        if name in ("issuetype", "type"):
            return (issue.issue_type.name, issue.issue_type.id)
        if name == "status":
            return (view["status"].name, view["status"].id)
        if name == "statuscategory":
            category = CATEGORIES[view["status"].category]
            return (category["name"], category["key"], str(category["id"]))
        if name == "parent":
            parent = self._find(view["parent_key"]) if view["parent_key"] else None
            return (parent.key, parent.id) if parent else None
        if name == "epic link":
            return view["epic_key"]
        if name == "summary":
            return view["summary"]
        if name == "assignee":
            if issue.assignee is None:
                return None
            return (issue.assignee.account_id,) if self.cloud else (issue.assignee.name, issue.assignee.key)
        if name == "created":
            return issue.created
        if name == "updated":
            return view["updated"]
        raise jira_jql.JqlError(f"Field '{name}' does not exist")

    def _run_search(self, jql: str) -> list[tuple[Issue, dict[str, Any] | None]] | Response:
        """Issues the JQL finds, in order, each with the view search has of it (lag)."""
        try:
            query = jira_jql.parse(jql, cloud=self.cloud, resolve=self._resolve)
        except jira_jql.JqlError as error:
            return self.error(400, str(error))
        now = time.monotonic()
        entries: list[tuple[Issue, dict[str, Any] | None]] = []
        for issue in self.issues.values():
            if now < issue.indexed_at:
                if issue.indexed_view is None:
                    continue  # created within the lag: not in the index yet
                entries.append((issue, issue.indexed_view))
            else:
                issue.indexed_view = None
                entries.append((issue, None))
        found = [entry for entry in entries if query.predicate(entry)]
        for name, descending in reversed(query.order):
            found.sort(key=lambda entry, name=name: self._sort_key(entry, name), reverse=descending)
        return found

    def _keep(self, key: str, jql: str, found: list[tuple[Issue, dict[str, Any] | None]]) -> None:
        self._snapshots[key] = (jql, found)
        self._snapshots.move_to_end(key)
        while len(self._snapshots) > MAX_SNAPSHOTS:
            self._snapshots.popitem(last=False)

    def _alive(self, issue: Issue) -> bool:
        return self.issues.get(issue.id) is issue

    def _kept(self, key: str, jql: str) -> list[tuple[Issue, dict[str, Any] | None]] | None:
        kept = self._snapshots.get(key)
        if kept is None or kept[0] != jql:
            return None
        return kept[1]  # offsets stay put; an issue deleted since is left out of the page it is on

    def _sort_key(self, entry: tuple[Issue, dict[str, Any] | None], name: str) -> Any:
        issue, view = entry
        if name in ("key", "issuekey", "id"):
            return (issue.project.key, int(issue.key.rsplit("-", 1)[1]))
        if name == "created":
            return issue.created
        return (view or self._index_view(issue))["updated"]

    def _search_params(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            body = request.body if isinstance(request.body, dict) else {}
            fields = body.get("fields")
            return {
                "jql": body.get("jql") or "",
                "fields": ",".join(fields) if isinstance(fields, list) else None,
                "maxResults": body.get("maxResults"),
                "startAt": body.get("startAt"),
                "nextPageToken": body.get("nextPageToken"),
            }
        return {
            "jql": request.arg("jql") or "",
            "fields": request.arg("fields"),
            "maxResults": request.arg("maxResults"),
            "startAt": request.arg("startAt"),
            "nextPageToken": request.arg("nextPageToken"),
        }

    def _wanted(self, fields: str | None, default: set[str]) -> set[str] | None:
        if fields is None:
            return default
        return {name.strip() for name in fields.split(",") if name.strip()}

    def search_get(self, request: Request) -> Response:
        return self._search_start_at(request)

    def search_post(self, request: Request) -> Response:
        return self._search_start_at(request)

    def _search_start_at(self, request: Request) -> Response:
        if self.cloud:
            return self.error(
                410, "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."
            )
        params = self._search_params(request)
        try:
            start = int(params["startAt"] or 0)
        except ValueError:
            return self.error(400, "startAt and maxResults must be numbers.")
        found = self._kept("dc:" + params["jql"], params["jql"]) if start > 0 else None
        if found is None:
            found = self._run_search(params["jql"])
            if isinstance(found, Response):
                return found
            self._keep("dc:" + params["jql"], params["jql"], found)
        try:
            limit = min(int(params["maxResults"] or 50), DC_MAX_RESULTS, self.page_size)
        except ValueError:
            return self.error(400, "startAt and maxResults must be numbers.")
        wanted = self._wanted(params["fields"], {"*navigable"})
        page = found[start : start + max(limit, 0)]
        return Response(
            200,
            {
                "expand": "schema,names",
                "startAt": start,
                "maxResults": limit,
                "total": len(found),
                "issues": [self._issue_json(issue, wanted, view) for issue, view in page if self._alive(issue)],
            },
        )

    def search_jql_get(self, request: Request) -> Response:
        return self._search_token(request)

    def search_jql_post(self, request: Request) -> Response:
        return self._search_token(request)

    def _search_token(self, request: Request) -> Response:
        if not self.cloud:
            return self.not_found(request)  # Data Center has no search/jql
        params = self._search_params(request)
        if not params["jql"].strip():
            return self.error(400, "Unbounded JQL queries are not allowed here. Please add a search restriction.")
        token = params["nextPageToken"]
        try:
            snapshot, start = _token_offset(token) if token else ("", 0)
            limit = min(int(params["maxResults"] or 50), MAX_RESULTS, self.page_size)
        except ValueError:
            return self.error(400, "The nextPageToken is invalid.")
        found = self._kept(snapshot, params["jql"]) if snapshot else None
        if found is None:
            found = self._run_search(params["jql"])
            if isinstance(found, Response):
                return found
            snapshot = f"s{self._next_snapshot}"
            self._next_snapshot += 1
            self._keep(snapshot, params["jql"], found)
        wanted = self._wanted(params["fields"], {"id"})
        page = found[start : start + max(limit, 1)]
        body: dict[str, Any] = {
            "issues": [self._issue_json(issue, wanted, view) for issue, view in page if self._alive(issue)],
            "isLast": start + len(page) >= len(found),
        }
        if not body["isLast"]:
            body["nextPageToken"] = _page_token(snapshot, start + len(page))
        return Response(200, body)


def _page_token(snapshot: str, offset: int) -> str:
    """An opaque Cloud ``nextPageToken``: the search's snapshot and the offset of the next page."""
    return base64.urlsafe_b64encode(f"ts:{snapshot}:{offset}".encode()).decode().rstrip("=")


def _token_offset(token: str) -> tuple[str, int]:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError(token) from None
    match = re.fullmatch(r"ts:(s\d+):(\d+)", text)
    if match is None:
        raise ValueError(token)
    return match.group(1), int(match.group(2))

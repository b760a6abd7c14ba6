"""Jira client: Cloud REST v3 (https://<site>.atlassian.net/rest/api/3) and Data Center REST v2
(https://<jira>/rest/api/2). HTTP and the two deployments' formats only, no business rules.

What differs, and is hidden here so that a job has one set of rules:

* auth: with an e-mail, Basic ``email:token`` (a Cloud API token); without one, the token is a
  Data Center personal access token sent as ``Authorization: Bearer``;
* search: Cloud ``search/jql`` pages by ``nextPageToken`` (there is no total, and the index lags
  a create by seconds); Data Center ``search`` pages by ``startAt`` up to ``total``;
* descriptions: Atlassian Document Format on Cloud, wiki markup on Data Center (``issue_fields``);
* users: Cloud ``accountId``, Data Center ``name`` (found from a mention's ``userkey``).

Issue creation is a POST: the HTTP layer never resends it after a failure whose outcome is
unknown (UnknownOutcome); the caller looks for its origin label with ``search`` instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from ..errors import ApiError, NotFound, UnknownOutcome
from ..http import RequestCounter, ServiceSession
from . import FirstAnswer, Record
from .shapes import shape

if TYPE_CHECKING:
    from ..config import Settings

Deployment = Literal["cloud", "datacenter"]
DEPLOYMENTS: tuple[Deployment, ...] = ("cloud", "datacenter")
SEARCH_PAGE = 100  # Cloud search/jql returns at most 100 issues a page with fields (5000 ids only)
SUMMARY_MAX = 255
DESCRIPTION_MAX = 32_000  # Jira refuses a text field over 32 767 characters
Paragraph = str | tuple[str, str]  # a line of text, or (link text, URL)
_WIKI_SPECIAL = re.compile(r"([\\*_?^~+\-{}\[\]|!#])")


def deployment_of(server_info: Record) -> Deployment:
    """Cloud or Data Center from a ``serverInfo`` answer: its ``deploymentType`` (Cloud, Server or
    DataCenter); without one, Cloud's 1000+ version or an atlassian.net / jira.com base URL."""
    kind = server_info.get("deploymentType")
    if isinstance(kind, str) and kind:
        return "cloud" if kind.lower() == "cloud" else "datacenter"
    version = str(server_info.get("version") or "")
    host = urlsplit(str(server_info.get("baseUrl") or "")).hostname or ""
    cloud_host = host.endswith((".atlassian.net", ".jira.com"))
    return "cloud" if cloud_host or re.match(r"[1-9][0-9]{3,}\.", version) else "datacenter"


def auth_for(token: str, email: str | None) -> tuple[dict[str, str], tuple[str, str] | None]:
    """(headers, Basic auth): Basic email:token with an e-mail, else Bearer (a personal access token)."""
    return ({}, (email, token)) if email else ({"Authorization": f"Bearer {token}"}, None)


def detect_deployment(
    settings: Settings, counter: RequestCounter, *, url: str, token: str, email: str | None = None
) -> Deployment:
    """Ask Jira once (``/rest/api/2/serverInfo``, which both deployments answer)."""
    headers, basic = auth_for(token, email)
    http = ServiceSession(
        "jira", f"{url.rstrip('/')}/rest/api/2", headers, settings, counter=counter, auth=basic, token_key="JIRA_TOKEN"
    )
    return deployment_of(FirstAnswer(http, "JIRA_URL", "Jira").get_json("serverInfo", shape=shape(version="str")))


def atlassian_deployment(settings: Settings, counter: RequestCounter) -> Deployment:
    """ATLASSIAN_DEPLOYMENT, or with ``auto`` what Jira's serverInfo says (one request)."""
    chosen = settings.get("ATLASSIAN_DEPLOYMENT") or "auto"
    if chosen in DEPLOYMENTS:
        return chosen
    return detect_deployment(
        settings, counter, url=settings.jira_url, token=settings.jira_token, email=settings.jira_email
    )


def jira_client(
    settings: Settings, counter: RequestCounter, deployment: Deployment, dry_run: bool = False
) -> JiraClient:
    """The client of JIRA_URL with JIRA_TOKEN (and JIRA_EMAIL on Cloud)."""
    return JiraClient(
        settings,
        counter,
        url=settings.jira_url,
        token=settings.jira_token,
        email=settings.jira_email,
        deployment=deployment,
        dry_run=dry_run,
    )


class AtlassianClient:
    """What the Jira and the Confluence client share: the deployment, the site, the auth of each
    deployment (Basic e-mail:token, or a Bearer personal access token), the session and the
    first-answer check. A subclass names its service, keys and API root."""

    SERVICE = ""
    PRODUCT = ""
    URL_KEY = ""
    TOKEN_KEY = ""

    def __init__(
        self,
        settings: Settings,
        counter: RequestCounter,
        *,
        url: str,
        token: str,
        email: str | None = None,
        deployment: Deployment,
        dry_run: bool = False,
    ) -> None:
        if deployment not in DEPLOYMENTS:
            raise ValueError(f"deployment must be one of {DEPLOYMENTS}, not {deployment!r}")
        self.deployment = deployment
        self.cloud = deployment == "cloud"
        self.site = url.rstrip("/")
        headers, basic = auth_for(token, email)
        self.http = ServiceSession(
            self.SERVICE,
            self.api_root(),
            headers,
            settings,
            counter=counter,
            dry_run=dry_run,
            auth=basic,
            token_key=self.TOKEN_KEY,
        )
        self.api = FirstAnswer(self.http, self.URL_KEY, self.PRODUCT)
        self.max_pages = settings.max_pages

    def api_root(self) -> str:
        """The address every request path is relative to."""
        return self.site


class JiraClient(AtlassianClient):
    SERVICE, PRODUCT, URL_KEY, TOKEN_KEY = "jira", "Jira", "JIRA_URL", "JIRA_TOKEN"

    def api_root(self) -> str:
        return f"{self.site}/rest/api/{3 if self.cloud else 2}"

    # -- reads ------------------------------------------------------------------------------
    def server_info(self) -> Record:
        return self.api.get_json("serverInfo", shape=shape(version="str"))

    def myself(self) -> Record:
        return self.api.get_json("myself", shape=shape(**{"accountId" if self.cloud else "name": "str"}))

    def project(self, key: str) -> Record | None:
        """The project with its issue types (``issueTypes``), or None when there is none by that key
        (or it is hidden from the token's user)."""
        try:
            return self.api.get_json(f"project/{_segment(key)}", shape=shape(key="str"))
        except NotFound:
            return None

    def issue(self, key: str, fields: Sequence[str] = ("status", "labels", "summary")) -> Record | None:
        try:
            return self.api.get_json(f"issue/{_segment(key)}", {"fields": ",".join(fields)}, shape=ISSUE)
        except NotFound:
            return None

    def search(self, jql: str, fields: Sequence[str] = ("status", "labels", "updated")) -> tuple[list[Record], bool]:
        """Every issue the JQL finds: (issues, complete); complete is False when MAX_PAGES cut it.
        Cloud's index lags creates by seconds: an issue made a moment ago may be missing. (A job
        calls ``server_info`` or ``myself`` first, which proves JIRA_URL is Jira.)"""
        params = {"jql": jql, "fields": ",".join(fields), "maxResults": SEARCH_PAGE}
        if self.cloud:
            return self.http.pages(
                "search/jql",
                params,
                max_pages=self.max_pages,
                items=lambda body: body.get("issues"),
                next_params=_next_token,
                page_param=None,
            )
        return self.http.pages(
            "search",
            dict(params, startAt=0),
            max_pages=self.max_pages,
            items=lambda body: body.get("issues"),
            next_params=_next_start,
            page_param=None,
        )

    def fields(self) -> list[Record]:
        """Every field (``GET /field``): Data Center's Epic Link custom field is found here by name."""
        body = self.api.http.get_json("field")
        return [f for f in body if isinstance(f, dict)] if isinstance(body, list) else []

    def transitions(self, key: str) -> list[Record]:
        """The transitions open to the issue now, each with its target status (``to``)."""
        body = self.api.get_json(f"issue/{_segment(key)}/transitions", shape=shape(transitions="list"))
        transitions = body.get("transitions")
        return [t for t in transitions if _usable_transition(t)] if isinstance(transitions, list) else []

    def remote_links(self, key: str, global_id: str | None = None) -> list[Record]:
        params = {"globalId": global_id} if global_id else None
        try:
            # a list, or (asked by globalId) the one link: both shapes are read below
            body = self.api.http.get_json(f"issue/{_segment(key)}/remotelink", params)
        except NotFound:
            if global_id:  # no link with that globalId yet
                return []
            raise
        if isinstance(body, dict):  # asked by globalId: the one link
            return [body]
        return [link for link in body if isinstance(link, dict)] if isinstance(body, list) else []

    def user_by_key(self, userkey: str) -> Record | None:
        """A Data Center user by the ``userkey`` of a mention (its ``name`` assigns issues); on Cloud
        the mention's ``accountId`` is used as it is."""
        try:
            user = self.api.get_json("user", {"accountId" if self.cloud else "key": userkey}, shape=shape())
        except NotFound:
            return None
        return user if isinstance(user, dict) else None

    # -- writes -----------------------------------------------------------------------------
    def create_issue(self, fields: Record) -> Record:
        """POST the issue; returns {id, key, self}. Never resent after an unknown outcome: a 2xx
        answer that is not JSON (an HTML page, a truncated body) or names no issue means the issue
        may well exist, so it is an UnknownOutcome (the job looks for its origin label)."""
        response = self.http.request("POST", "issue", json={"fields": fields}, ok=(200, 201))
        try:
            body = response.json()
        except (ValueError, RecursionError):
            body = None
        key = body.get("key") if isinstance(body, dict) else None
        if not (isinstance(key, str) and ISSUE_KEY.fullmatch(key) and body.get("id") is not None):
            raise UnknownOutcome(
                f"POST {self.http.path_of('issue')} answered {response.status_code} without an issue id and a "
                "well-formed key; the issue may have been created",
                service="jira",
            )
        assert isinstance(body, dict)
        return body

    def transition(self, key: str, transition_id: str) -> None:
        self.http.request("POST", f"issue/{_segment(key)}/transitions", json={"transition": {"id": transition_id}})

    def upsert_remote_link(self, key: str, global_id: str, url: str, title: str, summary: str | None = None) -> Record:
        """Create, or update in place, the remote link with this ``globalId`` (never a second one)."""
        link: Record = {"url": url, "title": java_prefix(title, 255)}
        if summary:
            link["summary"] = java_prefix(summary, 255)
        response = self.http.request(
            "POST",
            f"issue/{_segment(key)}/remotelink",
            json={"globalId": global_id, "object": link},
            ok=(200, 201),
        )
        try:  # the link is set (2xx); its answer is only informative
            body = response.json() if response.content else {}
        except (ValueError, RecursionError):
            body = {}
        return body if isinstance(body, dict) else {}

    def set_labels(self, key: str, labels: Sequence[str]) -> None:
        """Set the issue's labels to exactly these (an edit: idempotent)."""
        self.http.request("PUT", f"issue/{_segment(key)}", json={"fields": {"labels": list(labels)}}, ok=(200, 204))

    def delete_issue(self, key: str) -> bool:
        """Delete the issue; False when it was already gone."""
        response = self.http.request("DELETE", f"issue/{_segment(key)}", not_found_ok=True)
        return response.status_code != 404

    # -- the deployment's formats -----------------------------------------------------------
    def issue_fields(
        self,
        *,
        project: str,
        issue_type: str,
        summary: str,
        description: Sequence[Paragraph] = (),
        labels: Sequence[str] = (),
        due: date | None = None,
        assignee: str | None = None,
        parent: str | None = None,
    ) -> Record:
        """The ``fields`` of a new issue: ``assignee`` is an account id on Cloud, a user name on Data
        Center; the description is ADF on Cloud and wiki markup on Data Center."""
        fields: Record = {
            "project": {"key": project},
            "issuetype": {"name": issue_type},
            "summary": java_prefix(" ".join(summary.split()), SUMMARY_MAX),
            "labels": list(labels),
        }
        if description:
            fields["description"] = adf_document(description) if self.cloud else wiki_markup(description)
        if due is not None:
            fields["duedate"] = due.isoformat()
        if assignee:
            fields["assignee"] = {"accountId": assignee} if self.cloud else {"name": assignee}
        if parent:
            fields["parent"] = {"key": parent}
        return fields


def java_prefix(text: str, limit: int) -> str:
    """The longest prefix of `text` that Jira counts as at most `limit` characters: Jira (Java)
    counts UTF-16 units, so a character beyond the BMP (an emoji) counts two; never half of one."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:index]
    return text


def adf_document(paragraphs: Sequence[Paragraph]) -> Record:
    """Atlassian Document Format (Cloud): one paragraph per line, a (text, URL) pair as a link."""
    content: list[Any] = []
    budget = DESCRIPTION_MAX
    for paragraph in paragraphs:
        text, href = paragraph if isinstance(paragraph, tuple) else (paragraph, None)
        text = text[: max(budget, 0)]
        budget -= len(text)
        if not text:
            continue
        node: Record = {"type": "text", "text": text}
        if href:
            node["marks"] = [{"type": "link", "attrs": {"href": href}}]
        content.append({"type": "paragraph", "content": [node]})
    return {"type": "doc", "version": 1, "content": content}


def wiki_markup(paragraphs: Sequence[Paragraph]) -> str:
    """Jira wiki markup (Data Center): text escaped so that nothing in it becomes markup."""
    lines = []
    for paragraph in paragraphs:
        if isinstance(paragraph, tuple):
            text, href = paragraph
            lines.append(f"[{_wiki_escape(text)}|{href.replace('|', '%7C').replace(']', '%5D')}]")
        else:
            lines.append(_wiki_escape(paragraph))
    return "\n\n".join(lines)[:DESCRIPTION_MAX]


# an issue as the jobs read it: the objects they open are objects (or absent), never text or lists
ISSUE = shape(
    key="str",
    fields="object?",
    **{
        "fields.status": "object?",
        "fields.status.statusCategory": "object?",
        "fields.labels": "list?",
        "fields.issuetype": "object?",
    },
)


def _usable_transition(item: Any) -> bool:
    """A transition a job can take: an id to send and a target status (``to``) with a name; a
    malformed one is left out (as if the workflow did not offer it)."""
    if not isinstance(item, dict) or isinstance(item.get("id"), bool) or not isinstance(item.get("id"), str | int):
        return False
    to = item.get("to")
    category = to.get("statusCategory") if isinstance(to, dict) else None
    return isinstance(to, dict) and isinstance(to.get("name"), str) and (category is None or isinstance(category, dict))


ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,254}-[1-9][0-9]{0,17}")  # PROJECT-123, nothing else


def jql_string(value: str) -> str:
    """A value as a quoted JQL string: a label, key or text from a page can never change the query."""
    cleaned = "".join(c if c.isprintable() else " " for c in value)
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _wiki_escape(text: str) -> str:
    return _WIKI_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _segment(value: str) -> str:
    """An issue key or id as one path segment (a value from a page must not change the path)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,255}", value):
        raise ApiError(f"not an issue or project key: {value[:40]!r}", service="jira")
    return value


def _next_token(_response: Any, body: Any) -> dict[str, Any] | None:
    token = body.get("nextPageToken") if isinstance(body, dict) else None
    if not token or body.get("isLast") is True:
        return None
    return {"nextPageToken": str(token)}


def _next_start(_response: Any, body: Any) -> dict[str, Any] | None:
    if not isinstance(body, dict):
        return None
    start, total, issues = body.get("startAt"), body.get("total"), body.get("issues") or []
    if not (isinstance(start, int) and isinstance(total, int)) or not issues:
        return None
    following = start + len(issues)
    return {"startAt": following} if following < total else None

"""Gitea's JSON shapes (``modules/structs`` as Gitea 1.26 fills them) and its paging headers.

``root`` is the server's ROOT_URL with a trailing slash, e.g. ``http://127.0.0.1:3000/``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from sandbox.time_formats import go_time as format_time  # a time.Time as Gitea's JSON renders it

ZERO_TIME = "0001-01-01T00:00:00Z"  # a Go zero time.Time
UNIX_ZERO_TIME = "1970-01-01T00:00:00Z"  # a zero timeutil.TimeStamp
DEFAULT_PAGING_NUM = 30  # [api] DEFAULT_PAGING_NUM
MAX_RESPONSE_ITEMS = 50  # [api] MAX_RESPONSE_ITEMS


def user_json(account: dict[str, Any], root: str) -> dict[str, Any]:
    """structs.User for a user or an organisation account."""
    login = account["login"]
    return {
        "id": account["id"],
        "login": login,
        "login_name": "",
        "source_id": 0,
        "full_name": account["full_name"],
        "email": account["email"],
        "avatar_url": f"{root}avatars/{account['id']:032x}",
        "html_url": f"{root}{login}",
        "language": "",
        "is_admin": account["is_admin"],
        "last_login": ZERO_TIME,
        "created": format_time(account["created"]),
        "restricted": False,
        "active": not account["is_org"],
        "prohibit_login": False,
        "location": "",
        "website": "",
        "description": "",
        "visibility": "public",
        "followers_count": 0,
        "following_count": 0,
        "starred_repos_count": 0,
    }


def repo_json(repo: dict[str, Any], root: str) -> dict[str, Any]:
    """structs.Repository as the token user (a site admin) sees it."""
    owner = repo["owner"]
    full_name = f"{owner['login']}/{repo['name']}"
    host = urlsplit(root).hostname or "localhost"
    open_issues = sum(1 for issue in repo["issues"] if not issue["is_pull"] and issue["closed"] is None)
    open_pulls = sum(1 for issue in repo["issues"] if issue["is_pull"] and issue["closed"] is None)
    return {
        "id": repo["id"],
        "owner": user_json(owner, root),
        "name": repo["name"],
        "full_name": full_name,
        "description": repo["description"],
        "empty": False,
        "private": False,
        "fork": False,
        "template": False,
        "parent": None,
        "mirror": False,
        "size": 0,
        "language": "",
        "languages_url": f"{root}api/v1/repos/{full_name}/languages",
        "html_url": f"{root}{full_name}",
        "url": f"{root}api/v1/repos/{full_name}",
        "link": "",
        "ssh_url": f"git@{host}:{full_name}.git",
        "clone_url": f"{root}{full_name}.git",
        "original_url": "",
        "website": "",
        "stars_count": 0,
        "forks_count": 0,
        "watchers_count": 1,
        "branch_count": 1,
        "open_issues_count": open_issues,
        "open_pr_counter": open_pulls,
        "release_counter": 0,
        "default_branch": "main",
        "archived": False,
        "created_at": format_time(repo["created"]),
        "updated_at": format_time(repo["updated"]),
        "archived_at": UNIX_ZERO_TIME,
        "permissions": {"admin": True, "push": True, "pull": True},
        "has_code": True,
        "has_issues": True,
        "internal_tracker": {
            "enable_time_tracker": True,
            "allow_only_contributors_to_track_time": True,
            "enable_issue_dependencies": True,
        },
        "has_wiki": True,
        "has_pull_requests": True,
        "has_projects": True,
        "projects_mode": "all",
        "has_releases": True,
        "has_packages": True,
        "has_actions": True,
        "ignore_whitespace_conflicts": False,
        "allow_merge_commits": True,
        "allow_rebase": True,
        "allow_rebase_explicit": True,
        "allow_squash_merge": True,
        "allow_fast_forward_only_merge": True,
        "allow_rebase_update": True,
        "allow_manual_merge": False,
        "autodetect_manual_merge": False,
        "default_delete_branch_after_merge": False,
        "default_merge_style": "merge",
        "default_allow_maintainer_edit": False,
        "default_target_branch": "main",
        "avatar_url": "",
        "internal": False,
        "mirror_interval": "",
        "object_format_name": "sha1",
        "mirror_updated": ZERO_TIME,
        "repo_transfer": None,
        "topics": [],
        "licenses": [],
    }


def issue_json(issue: dict[str, Any], repo: dict[str, Any], root: str) -> dict[str, Any]:
    """structs.Issue; plain issues carry ``"pull_request": null``."""
    owner_login = repo["owner"]["login"]
    full_name = f"{owner_login}/{repo['name']}"
    number = issue["number"]
    kind = "pulls" if issue["is_pull"] else "issues"
    closed = issue["closed"]
    pull_request = None
    if issue["is_pull"]:
        pull_request = {
            "merged": issue["merged"],
            "merged_at": format_time(closed) if issue["merged"] else None,
            "draft": False,
            "html_url": f"{root}{full_name}/pulls/{number}",
        }
    return {
        "id": issue["id"],
        "url": f"{root}api/v1/repos/{full_name}/issues/{number}",
        "html_url": f"{root}{full_name}/{kind}/{number}",
        "number": number,
        "user": user_json(issue["poster"], root),
        "original_author": "",
        "original_author_id": 0,
        "title": issue["title"],
        "body": issue["body"],
        "ref": "",
        "assets": [],
        "labels": [],
        "milestone": None,
        "assignee": None,
        "assignees": None,
        "state": "closed" if closed is not None else "open",
        "is_locked": False,
        "comments": 0,
        "created_at": format_time(issue["created"]),
        "updated_at": format_time(issue["updated"]),
        "closed_at": format_time(closed) if closed is not None else None,
        "due_date": None,
        "time_estimate": 0,
        "pull_request": pull_request,
        "repository": {"id": repo["id"], "name": repo["name"], "owner": owner_login, "full_name": full_name},
        "pin_order": 0,
        "content_version": issue["content_version"],
    }


def paging(query: dict[str, list[str]]) -> tuple[int, int]:
    """(page, page size) the way Gitea reads ``page`` and ``limit``: bad values fall back,
    sizes above MAX_RESPONSE_ITEMS are silently clamped."""
    page, limit = _form_int(query, "page"), _form_int(query, "limit")
    page = page if page > 0 else 1
    if limit <= 0:
        limit = DEFAULT_PAGING_NUM
    return page, min(limit, MAX_RESPONSE_ITEMS)


def paging_headers(root: str, path: str, query: dict[str, list[str]], total: int, page_size: int) -> dict[str, str]:
    """X-Total-Count and Link (next/last/first/prev, absolute URLs) like Gitea's SetLinkHeader."""
    headers = {"X-Total-Count": str(total)}
    current = max(_form_int(query, "page"), 1)
    total_pages = max((total + page_size - 1) // page_size, 1)
    current = min(current, total_pages)

    def link(page: int, rel: str) -> str:
        params = {name: values for name, values in query.items() if name != "page"}
        params["page"] = [str(page)]
        encoded = urlencode(sorted(params.items()), doseq=True)
        return f'<{root}{path.lstrip("/")}?{encoded}>; rel="{rel}"'

    links = []
    has_next = total > current * page_size
    if has_next:
        links.append(link(current + 1, "next"))
    if not (total == 0 or (total > (current - 1) * page_size and not has_next)):
        links.append(link(total_pages, "last"))
    if current != 1:
        links.append(link(1, "first"))
        links.append(link(current - 1, "prev"))
    if links:
        headers["Link"] = ",".join(links)
    return headers


def _form_int(query: dict[str, list[str]], name: str) -> int:
    """Go's ctx.FormInt: the first value as an integer, 0 when missing or malformed."""
    values = query.get(name)
    try:
        return int(values[0]) if values else 0
    except ValueError:
        return 0

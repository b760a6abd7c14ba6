"""Seed data for the sandbox: a small believable demo set and a fast bulk set for benchmarks."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.hub import Sandbox

LONG_TITLE = (
    "Refactor the report exporter so that very large CSV and JSON exports are streamed to disk in "
    "chunks instead of being built in memory, and add progress output plus a resumable mode for "
    "interrupted runs"
)  # exactly 200 characters: longer than Kimai's 150-character names

DEMO_ISSUES = {
    "web": [
        ("Login page shows a blank screen on Safari", "open", False, "alice"),
        ("Add a dark mode toggle to the settings page", "open", False, "bob"),
        ('Handle <b>bold</b> tags and "quoted" values like key=value in previews', "open", False, "alice"),
        ("Fix session timeout handling", "closed", True, "bob"),
        ("Password reset e-mail is not sent", "closed", False, "alice"),
    ],
    "api": [
        ("Rate limit the /search endpoint", "open", False, "bob"),
        ("Ошибка при экспорте CSV с кириллицей", "open", False, "alice"),
        ("Paginate the /users list", "closed", False, "bob"),
        ("Add an OpenAPI document for v2", "open", True, "alice"),
        (LONG_TITLE, "open", False, "bob"),
    ],
    "docs": [
        ("Document the backup procedure", "open", False, "alice"),
        ("Typo in the installation guide", "closed", False, "bob"),
        ("Explain the sync cursor and its overlap window", "open", False, "alice"),
        ("ドキュメントの日本語訳を追加する", "open", False, "bob"),
        ("Update the screenshots for 2.0", "open", False, "alice"),
    ],
}
WORDS = (
    "login",
    "export",
    "sync",
    "report",
    "timeout",
    "cache",
    "search",
    "invoice",
    "upload",
    "token",
    "layout",
    "filter",
    "backup",
    "import",
    "webhook",
    "calendar",
    "mobile",
    "button",
    "crash",
    "slow",
)


def demo(sb: Sandbox) -> None:
    """Org ``acme`` with repos web/api/docs and 15 issues (2 pull requests, some closed, awkward
    titles); Kimai holds only one unrelated customer."""
    _ensure_people(sb, "acme")
    for repo, issues in DEMO_ISSUES.items():
        sb.gitea.add_repo("acme", repo, description=f"The {repo} project")
        for title, state, pull, poster in issues:
            sb.gitea.add_issue(
                "acme", repo, title, body=f"Reported in the {repo} tracker.", state=state, pull=pull, poster=poster
            )
    sb.kimai.add_customer("Internal", comment="Unrelated to Gitea", visible=True, billable=False)


def bulk(
    sb: Sandbox,
    owner: str = "acme",
    repos: int = 20,
    issues: int = 500,
    pr_ratio: float = 0.1,
    closed_ratio: float = 0.3,
    seed: int = 1,
) -> None:
    """``repos`` repositories with ``issues`` issues each, inserted directly into the state.

    Creation times spread over the past year in number order; updates follow creation.
    """
    rng = random.Random(seed)
    _ensure_people(sb, owner)
    posters = ["alice", "bob", None]
    now = sb.gitea.clock.now()
    start = now - timedelta(days=365)
    step = timedelta(days=300) / max(issues, 1)
    for repo_number in range(1, repos + 1):
        name = f"repo-{repo_number:02d}"
        sb.gitea.add_repo(owner, name, description=f"Bulk repository {repo_number}")
        for index in range(issues):
            created = start + step * index + timedelta(seconds=rng.randrange(60))
            updated = min(created + timedelta(seconds=rng.randrange(60 * 86400)), now - timedelta(seconds=1))
            title = f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} problem #{index + 1}"
            sb.gitea.insert_issue(
                owner,
                name,
                title,
                "",
                "closed" if rng.random() < closed_ratio else "open",
                rng.random() < pr_ratio,
                rng.choice(posters),
                created,
                updated,
            )


def _ensure_people(sb: Sandbox, owner: str) -> None:
    """The organisation plus the demo users alice and bob (skipping ones that exist)."""
    for add, name in ((sb.gitea.add_org, owner), (sb.gitea.add_user, "alice"), (sb.gitea.add_user, "bob")):
        try:
            add(name)
        except ValueError:
            pass

"""Seeding and checks shared by the gitea-kimai end-to-end tests."""

from collections import Counter

from common.jobs.gitea_kimai import kimai_safe_name

LONG_TITLE = "Long " + "title " * 40  # > 200 characters
SPECIAL_TITLE = 'Fix <b> tags when "a" = b'
NON_LATIN = "Исправить ошибку 登录失败"


def seed(sb, repos=("web", "api"), issues=55):
    sb.gitea.add_org("acme")
    for repo in repos:
        sb.gitea.add_repo("acme", repo)
    for n in range(issues):
        sb.gitea.add_issue("acme", repos[0], f"Issue {n}", body=f"Body {n}", state="closed" if n % 5 == 0 else "open")
    last = repos[-1]  # awkward titles and a pull request go to the last repository
    sb.gitea.add_issue("acme", last, SPECIAL_TITLE)
    sb.gitea.add_issue("acme", last, LONG_TITLE[:200])
    sb.gitea.add_issue("acme", last, NON_LATIN)
    sb.gitea.add_issue("acme", last, "A pull request", pull=True)


def expected_issues(sb, include_pulls=False):
    """marker -> (name, visible) for every issue in the sandbox's Gitea."""
    expected = {}
    for repo in sb.gitea.state()["repos"]:
        for issue in repo["issues"]:
            if issue["pull_request"] is not None and not include_pulls:
                continue
            expected[f"gitea:{repo['full_name']}#{issue['number']}"] = (
                kimai_safe_name(f"#{issue['number']} {issue['title']}"),
                issue["state"] == "open",
            )
    return expected


def assert_converged(sb, include_pulls=False):
    """Exactly one activity per issue with the right name and visibility, one project per repo."""
    markers = Counter(a["comment"].split("\n")[0] for a in sb.kimai.activities)
    duplicates = {m: c for m, c in markers.items() if c > 1}
    assert not duplicates, f"duplicate activities: {duplicates}"
    actual = {a["comment"].split("\n")[0]: (a["name"], a["visible"]) for a in sb.kimai.activities}
    assert actual == expected_issues(sb, include_pulls)
    projects = Counter((p["comment"] or "").split("\n")[0] for p in sb.kimai.projects)
    assert all(c == 1 for c in projects.values()), f"duplicate projects: {projects}"


def kimai_writes(sb):
    return [r for r in sb.requests if r.service == "kimai" and r.method in ("POST", "PATCH", "PUT", "DELETE")]

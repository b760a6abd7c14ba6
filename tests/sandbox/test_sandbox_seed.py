"""Seed data: the demo set has the awkward cases, the bulk set is big and fast."""

from __future__ import annotations

import time

from sandbox import Sandbox, seed


def test_demo_data_set():
    sandbox = Sandbox()
    seed.demo(sandbox)
    issues = [issue for repo in ("web", "api", "docs") for issue in sandbox.gitea.issues("acme", repo)]
    titles = [issue["title"] for issue in issues]
    assert len(issues) == 15
    assert sum(issue["pull_request"] is not None for issue in issues) == 2
    assert 0 < sum(issue["state"] == "closed" for issue in issues) < 15
    assert any(all(character in title for character in '<>"=') for title in titles)
    assert any(not title.isascii() for title in titles)
    assert 200 in {len(title) for title in titles}
    assert [customer["name"] for customer in sandbox.kimai.customers] == ["Internal"]
    assert sandbox.kimai.activities == []


def test_bulk_inserts_ten_thousand_issues_fast():
    sandbox = Sandbox()
    started = time.monotonic()
    seed.bulk(sandbox, repos=20, issues=500, pr_ratio=0.1, closed_ratio=0.3, seed=1)
    assert time.monotonic() - started < 2
    issues = sandbox.gitea.issues("acme", "repo-07")
    assert len(issues) == 500 and [issue["number"] for issue in issues] == list(range(1, 501))
    assert 20 < sum(issue["pull_request"] is not None for issue in issues) < 80
    assert 100 < sum(issue["state"] == "closed" for issue in issues) < 200
    created = [issue["created_at"] for issue in issues]
    assert created == sorted(created)

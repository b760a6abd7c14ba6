"""A clone is enough: no tracked file of the product, sandbox, tests or benches builds a path to
../shared, and the sandbox reads the contracts shipped inside the repository."""

import re
import subprocess
from pathlib import Path

import pytest

from sandbox import contract

ROOT = Path(__file__).resolve().parents[1]
SHARED_PATH = re.compile(r"""shared/specs|\.\./shared|/\s*["']shared["']|join\([^)\n]*["']shared["']""")
DOCUMENTATION = ("README.md", "docs/")  # the lead's documentation, not code


def tracked_files():
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True)
    if listing.returncode != 0:
        pytest.skip("not a git checkout")
    return [
        ROOT / name
        for name in listing.stdout.split("\0")
        if name and not name.startswith(DOCUMENTATION) and (ROOT / name).is_file()
    ]


def test_the_pattern_catches_the_ways_a_path_to_shared_is_built():
    for line in (
        'Path(__file__).resolve().parents[1].parent / "shared" / "specs"',
        "os.path.join(root, '..', 'shared', 'specs')",
        'SPECS="$HERE/../shared/specs"',
        'ROOT.parent / "shared"',
    ):
        assert SHARED_PATH.search(line), line
    assert not SHARED_PATH.search('"shared": True, "domain": ""')  # a Zammad field, not a path


def test_no_tracked_file_builds_a_path_to_shared():
    me = Path(__file__).resolve()
    offenders = []
    for path in tracked_files():
        if path.resolve() == me:
            continue
        try:
            text = path.read_text("utf-8")
        except UnicodeDecodeError:
            continue
        offenders += [
            f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
            for number, line in enumerate(text.splitlines(), 1)
            if SHARED_PATH.search(line)
        ]
    assert offenders == []


def test_the_sandbox_reads_the_contracts_shipped_in_the_repository(monkeypatch, tmp_path):
    monkeypatch.delenv("TRACKSYNC_SPECS", raising=False)
    folder = contract.specs_dir().resolve()
    assert folder == ROOT / "sandbox" / "contracts"
    for relative in contract.SPEC_FILES.values():
        assert (folder / relative).is_file(), relative
        assert (folder / relative).resolve().is_relative_to(ROOT)
    contract.load(list(contract.SPEC_FILES))
    readme = (folder / "README.md").read_text("utf-8")
    assert all(f"`{relative}`" in readme for relative in contract.SPEC_FILES.values())

    monkeypatch.setenv("TRACKSYNC_SPECS", str(tmp_path))
    assert contract.specs_dir() == tmp_path

"""Static checks in the test run: mypy on common/, ruff (lint and format) on the tree, and type
hints on every public function and method of common/. Configuration: pyproject.toml."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMMON = ROOT / "common"

# Files still being rewritten when type hints came in: their hints follow, and each entry goes
# as soon as its file is annotated (test_the_pending_list_only_names_files_still_missing_hints
# says when); a mypy per-module override in pyproject.toml would name the same modules.
ANNOTATIONS_PENDING: set[str] = set()  # none left


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )


def test_mypy_finds_no_error_in_common():
    proc = run("mypy")  # files, cache and options: [tool.mypy] in pyproject.toml
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_finds_no_lint_error():
    proc = run("ruff", "check", "--no-fix", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format_leaves_every_formatted_file_as_it_is():
    proc = run("ruff", "format", "--check", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _pending(relative: str) -> bool:
    return any(relative == p or (p.endswith("/") and relative.startswith(p)) for p in ANNOTATIONS_PENDING)


def missing_hints(source: str) -> list[str]:
    """'line name: what is missing' for each public function or method (of a public class)
    without a return annotation or with an unannotated parameter (self and cls excepted)."""
    missing = []

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                visit(node.body, f"{prefix}{node.name}.")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if node.name.startswith("_") and not (node.name.startswith("__") and node.name.endswith("__")):
                    continue
                args = node.args
                params = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
                bare = [a.arg for a in params if a is not None and a.annotation is None]
                if prefix and bare and bare[0] in ("self", "cls"):
                    bare = bare[1:]
                gaps = ([f"parameters {', '.join(bare)}"] if bare else []) + (
                    ["return"] if node.returns is None else []
                )
                if gaps:
                    missing.append(f"{node.lineno} {prefix}{node.name}: {' and '.join(gaps)}")

    visit(ast.parse(source).body, "")
    return missing


def test_every_public_function_and_method_in_common_has_type_hints():
    gaps = []
    for path in sorted(COMMON.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if not _pending(relative):
            gaps += [f"{relative}:{gap}" for gap in missing_hints(path.read_text(encoding="utf-8"))]
    assert not gaps, "public functions without type hints:\n" + "\n".join(gaps)


def test_the_pending_list_only_names_files_still_missing_hints():
    for pending in sorted(ANNOTATIONS_PENDING):
        paths = sorted((ROOT / pending).rglob("*.py")) if pending.endswith("/") else [ROOT / pending]
        gaps = [gap for path in paths if path.exists() for gap in missing_hints(path.read_text(encoding="utf-8"))]
        assert gaps, f"{pending} is fully annotated: remove it from ANNOTATIONS_PENDING (and mypy's override)"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f(a: int) -> int: ...", []),
        ("def f(a) -> int: ...", ["1 f: parameters a"]),
        ("def f(a: int, *rest, **kw: str): ...", ["1 f: parameters rest and return"]),
        ("def _private(a): ...", []),
        ("class C:\n    def m(self, a: int) -> None: ...\n    def n(self): ...", ["3 C.n: return"]),
        ("class C:\n    def __init__(self, a): ...", ["2 C.__init__: parameters a and return"]),
        ("class _Hidden:\n    def m(self, a): ...", []),
    ],
)
def test_missing_hints_names_each_gap(source, expected):
    assert missing_hints(source) == expected

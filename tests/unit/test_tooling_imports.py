"""Development tooling imports in one direction: tests and bench use testkit, never each other.

``testkit/`` is shared by the tests and the benchmark; ``bench/`` must run
without ``tests/`` and the product (``layers/``, ``functions/``) without
either. This scan of import statements keeps it so.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Which top-level packages the code under each folder must not import.
FORBIDDEN = {
    "bench": {"tests"},
    "testkit": {"tests", "bench"},
    "layers/imagestreams/imagestreams": {"tests", "bench", "testkit"},
    "functions": {"tests", "bench", "testkit"},
}
SOURCES = sorted((path, folder) for folder in FORBIDDEN for path in (ROOT / folder).glob("**/*.py"))


def imported_packages(path: Path) -> set[str]:
    """Top-level packages ``path`` imports (absolute imports only)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize(
    ("path", "folder"), SOURCES, ids=[str(path.relative_to(ROOT)) for path, _ in SOURCES]
)
def test_no_import_against_the_direction(path: Path, folder: str) -> None:
    assert imported_packages(path) & FORBIDDEN[folder] == set()


def test_the_scan_sees_an_import_from_tests(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom tests.support.proxy import Fault\nfrom . import sibling\n")
    assert imported_packages(sample) == {"os", "tests"}

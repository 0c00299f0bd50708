"""Structured log calls must not use the field names ``logging.LogRecord`` reserves.

Passing one (``name=``, ``message=``, ...) makes the logging module raise at
run time, turning a log line into a 500; this scan finds them before that.
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    [*ROOT.glob("layers/imagestreams/imagestreams/**/*.py"), *ROOT.glob("functions/*/app.py")]
)
RESERVED = set(vars(logging.LogRecord("n", 0, "p", 0, "m", None, None))) | {"message", "asctime"}
LEVELS = {"debug", "info", "warning", "error", "exception", "critical"}


def log_calls(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in LEVELS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "logger"
        ):
            found.extend((node.lineno, kw.arg) for kw in node.keywords if kw.arg in RESERVED)
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_reserved_log_fields(path: Path) -> None:
    assert log_calls(path) == []


def test_the_scan_sees_a_reserved_field(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('logger.info("x", name="y", stream="z")\n')
    assert log_calls(sample) == [(1, "name")]

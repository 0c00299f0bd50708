"""bootstrap.settled: the heap is frozen once per process, before and after its first invocation."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from imagestreams import bootstrap


@pytest.fixture
def freezes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Each ``gc.freeze`` call, recorded instead of made, between the invocations."""
    made: list[str] = []
    monkeypatch.setattr(gc, "freeze", lambda: made.append("freeze"))
    bootstrap.reset()
    yield made
    bootstrap.reset()


def handling(made: list[str]) -> Any:
    def handler(event: dict[str, Any], context: Any) -> str:
        made.append("invoked")
        if event.get("fail"):
            raise RuntimeError("failed")
        return "answer"

    return handler


@pytest.mark.parametrize("first", [{}, {"fail": True}], ids=["answered", "failed"])
def test_the_first_invocation_of_a_process_is_framed_by_freezes(
    freezes: list[str], first: dict[str, Any]
) -> None:
    settled = bootstrap.settled(handling(freezes))

    if first:
        with pytest.raises(RuntimeError):
            settled(first, None)
    else:
        assert settled(first, None) == "answer"
    assert freezes == ["freeze", "invoked", "freeze"]
    assert settled({}, None) == "answer"
    assert freezes == ["freeze", "invoked", "freeze", "invoked"]

    # A new process (a new composition root) freezes again around its first invocation
    freezes.clear()
    bootstrap.reset()
    settled({}, None)
    assert freezes == ["freeze", "invoked", "freeze"]

"""bootstrap.settled: the start-up heap is frozen once per process, after its first invocation."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from imagestreams import bootstrap


@pytest.fixture
def freezes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Each ``gc.freeze`` call, recorded instead of made."""
    made: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: made.append(1))
    bootstrap.reset()
    yield made
    bootstrap.reset()


def handler(event: dict[str, Any], context: Any) -> str:
    if event.get("fail"):
        raise RuntimeError("failed")
    return "answer"


@pytest.mark.parametrize("first", [{}, {"fail": True}], ids=["answered", "failed"])
def test_the_first_invocation_of_a_process_freezes_its_heap_once(
    freezes: list[int], first: dict[str, Any]
) -> None:
    settled = bootstrap.settled(handler)

    if first:
        with pytest.raises(RuntimeError):
            settled(first, None)
    else:
        assert settled(first, None) == "answer"
    assert freezes == [1]
    assert settled({}, None) == "answer"
    assert freezes == [1]

    # A new process (a new composition root) freezes again after its first invocation
    bootstrap.reset()
    settled({}, None)
    assert freezes == [1, 1]

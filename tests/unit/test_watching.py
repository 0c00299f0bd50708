"""The watch conventions and the polling loop, with a scripted source and clock."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from imagestreams import listing, watching
from imagestreams.errors import BadRequestError
from imagestreams.usecases.watch import Watch


@pytest.mark.parametrize(
    ("timeout", "remaining", "expected"),
    [
        (None, 29.0, 25.0),
        (0, 29.0, 25.0),
        (5, 29.0, 5.0),
        (600, 29.0, 25.0),
        (600, 10.0, 7.0),
        (5, 1.0, 0.0),
    ],
    ids=["default", "zero", "asked", "capped", "time-left", "none-left"],
)
def test_a_watch_lasts_what_api_gateway_allows(
    timeout: int | None, remaining: float, expected: float
) -> None:
    assert watching.seconds(timeout, remaining) == expected


@pytest.mark.parametrize(
    ("timeout", "expected"), [("8s", 6.5), ("1m0s", 25.0), ("500ms", 0.0), ("soon", 25.0)]
)
def test_a_watch_ends_before_the_client_gives_up(timeout: str, expected: float) -> None:
    client = listing.list_options({"watch": "true", "timeout": timeout}).client_timeout

    assert watching.seconds(None, 29.0, client) == expected


@pytest.mark.parametrize(("text", "expected"), [("", None), ("0", None), ("42", 42)])
def test_start_version(text: str, expected: int | None) -> None:
    assert watching.start_version(text) == expected


def test_a_version_that_is_not_a_number_is_400() -> None:
    with pytest.raises(BadRequestError, match='invalid resource version "x1"'):
        watching.start_version("x1")


class ScriptedSource:
    """Objects at versions; ``settles`` is what ``settled`` answers, poll after poll."""

    def __init__(self, events: Sequence[watching.Event], settles: list[int]) -> None:
        self.events = list(events)
        self.settles = settles
        self.asked: list[tuple[int, int]] = []

    def settled(self) -> int:
        return self.settles.pop(0) if len(self.settles) > 1 else self.settles[0]

    def oldest(self) -> int:
        return 10

    def current(self) -> list[watching.Event]:
        return [watching.Event(watching.ADDED, 12, "a", {"name": "a"})]

    def changes(self, after: int, upto: int) -> list[watching.Event]:
        self.asked.append((after, upto))
        return [e for e in self.events if after < e.version <= upto]


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_loop_sends_each_change_once_in_order_until_the_time_is_up() -> None:
    # Given the current object a at 12, then changes that settle over three polls
    events = [
        watching.Event(watching.MODIFIED, 12, "a", {"name": "a"}),
        watching.Event(watching.MODIFIED, 13, "a", {"name": "a"}),
        watching.Event(watching.DELETED, 15, "b", {"name": "b"}),
    ]
    source = ScriptedSource(events, settles=[11, 12, 14, 16])
    fake = FakeTime()

    # When a 3-second watch from the start runs, with bookmarks
    sent = Watch(clock=fake.clock, sleep=fake.sleep, poll=1.0).run(
        source, "", 3.0, lambda v: watching.bookmark(v, "v1", "Thing")
    )

    # Then the change already sent (a at 12) is not sent again, and the rest follow
    assert [(e.type, e.version) for e in sent] == [
        ("ADDED", 12),
        ("MODIFIED", 13),
        ("DELETED", 15),
        ("BOOKMARK", 16),
    ]
    assert source.asked == [(11, 12), (12, 14), (14, 16)]
    assert fake.now == 3.0


def test_a_version_older_than_the_source_remembers_is_an_expired_error() -> None:
    source = ScriptedSource([], settles=[20])

    [event] = Watch(clock=lambda: 0.0, sleep=lambda _: None).run(source, "5", 3.0)

    assert event.type == "ERROR"
    assert event.object["code"] == 410
    assert event.object["message"] == "too old resource version: 5 (10)"
    assert source.asked == []


def test_the_body_is_one_watch_event_a_line() -> None:
    body = watching.body([watching.Event(watching.ADDED, 1, "a", {"kind": "X"})])

    assert body == '{"type":"ADDED","object":{"kind":"X"}}\n'

"""A finite watch of any resource: the current objects, then changes, until the time is up.

API Gateway buffers a function's answer, so a watch cannot stream: it polls
its :class:`WatchSource` until its time is up and answers every event at
once. Each poll asks for the changes between the last version seen and the
source's *settled* version (everything at or below it is visible to
readers), so a change is sent once, in version order, and a client resuming
from the last version it got misses nothing.

Any resource can be watched: a source says what its objects and changes are
(``usecases.queries`` has the one of ImageStreams).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol

from imagestreams import watching

POLL_SECONDS = 1.0
"""Pause between two polls of the store."""


class WatchSource(Protocol):
    """What a watch of one resource reads."""

    def settled(self) -> int:
        """The version up to which every change is visible to :meth:`changes`."""
        ...

    def oldest(self) -> int:
        """The oldest version a watch may resume from (older changes may be forgotten)."""
        ...

    def current(self) -> Sequence[watching.Event]:
        """The objects as they are now, as ``ADDED`` events."""
        ...

    def changes(self, after: int, upto: int) -> Sequence[watching.Event]:
        """The changes with a version in ``(after, upto]``, oldest first."""
        ...


@dataclass
class Watch:
    """Runs a watch on a source, with an injectable clock and sleeper."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    poll: float = POLL_SECONDS

    def run(
        self,
        source: WatchSource,
        resource_version: str,
        seconds: float,
        bookmark: Callable[[int], watching.Event] | None = None,
    ) -> list[watching.Event]:
        """The events of a watch from ``resource_version`` that lasts ``seconds``.

        ``bookmark`` makes the last event a ``BOOKMARK`` at the version the
        watch got to, for clients that asked for bookmarks.
        """
        deadline = self.clock() + seconds
        start = watching.start_version(resource_version)
        sent: dict[Hashable, int] = {}
        events: list[watching.Event] = []
        if start is None:
            cursor = source.settled()
            events.extend(_unsent(source.current(), sent))
        else:
            oldest = source.oldest()
            if start < oldest:
                return [watching.expired(start, oldest)]
            cursor = start
        while True:
            horizon = source.settled()
            if horizon > cursor:
                events.extend(_unsent(source.changes(cursor, horizon), sent))
                cursor = horizon
            left = deadline - self.clock()
            if left <= 0:
                break
            self.sleep(min(self.poll, left))
        if bookmark is not None:
            events.append(bookmark(cursor))
        return events


def _unsent(events: Sequence[watching.Event], sent: dict[Hashable, int]) -> list[watching.Event]:
    """``events`` but those of an object already sent at the same or a newer version."""
    fresh = []
    for event in events:
        if sent.get(event.key, -1) >= event.version:
            continue
        sent[event.key] = event.version
        fresh.append(event)
    return fresh

"""Deadlines: absolute points on a monotonic clock by which work must end (pure).

Shared by the use cases (time budgets), the importer (deferring to the
queue) and the registry transport (which cuts off exchanges still running
when their deadline passes).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass(frozen=True)
class Deadline:
    """An absolute point on a monotonic clock by which every exchange ends.

    No request starts past it, and one still running when it passes is cut
    off (see :class:`_Watchdog`).
    """

    at: float
    clock: Clock = time.monotonic

    @classmethod
    def after(cls, seconds: float, clock: Clock = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        return self.at - self.clock()

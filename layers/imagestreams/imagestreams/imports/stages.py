"""Scheduling many items through three stages: resolve, look up in batches, build.

This module owns the order of that work, nothing of what the work is. For
the importer an item is a target: *resolve* finds its digest (a registry
request), *look up* asks the image cache for many digests at once, *build*
fetches what the cache lacked and converts it (registry requests again).

- ``resolve`` and ``build`` run in ``workers`` threads; ``look_up`` runs in
  the calling thread, on the keys of up to ``batch`` resolved items at a
  time, while the workers go on. No worker waits for a lookup, and the
  lookups are few.
- Builds go before new resolutions, and only twice ``workers`` items are
  handed to the threads at a time. So an item resolved is built soon after:
  the items resolved but not yet built are never more than ``batch`` and
  four times ``workers`` (a batch filling up, the lookup's overshoot, and
  the items with the threads). When the caller stops resolving (its time
  is up), little is left half done.
- A batch is looked up when it is full, when no resolution is underway that
  could add to it, or when nothing is left to start and threads are idle.

Pure: threads, no I/O of its own.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from queue import Empty, SimpleQueue
from typing import Any, Generic, TypeVar

__all__ = ["run_stages"]

R = TypeVar("R")
K = TypeVar("K")
B = TypeVar("B")


def run_stages(
    count: int,
    resolve: Callable[[int], R],
    key: Callable[[int, R], K | None],
    look_up: Callable[[list[K]], object],
    build: Callable[[tuple[int, R]], B],
    *,
    workers: int,
    batch: int,
    thread_name: str = "stage",
) -> list[B]:
    """Every item ``0 .. count-1`` resolved, looked up and built; the builds in item order.

    ``key`` says what to look up for a resolved item (None: nothing, it is
    built at once). An exception of any stage is raised here, after the
    work not yet started is cancelled. A single item is done in this thread.
    """
    if workers < 1 or batch < 1:
        raise ValueError("workers and batch must be positive")
    if count <= 1:
        resolved = [resolve(index) for index in range(count)]
        keys = [k for index, r in enumerate(resolved) if (k := key(index, r)) is not None]
        if keys:
            look_up(keys)
        return [build((index, r)) for index, r in enumerate(resolved)]
    stages = _Stages(count, resolve, key, look_up, build, workers, batch)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=thread_name) as pool:
        try:
            return stages.run(pool)
        except BaseException:
            stages.cancel()
            raise


@dataclass
class _Stages(Generic[R, K, B]):
    count: int
    resolve: Callable[[int], R]
    key: Callable[[int, R], K | None]
    look_up: Callable[[list[K]], object]
    build: Callable[[tuple[int, R]], B]
    workers: int
    batch: int
    started: int = 0
    resolving: dict[Future[R], int] = field(default_factory=dict)
    building: dict[Future[B], int] = field(default_factory=dict)
    resolved: dict[int, R] = field(default_factory=dict)
    waiting: list[tuple[int, K]] = field(default_factory=list)
    ready: deque[int] = field(default_factory=deque)
    built: dict[int, B] = field(default_factory=dict)
    # Futures as they finish, in that order: a completion costs the loop one
    # get, where waiting on all the futures in flight costs a lock each.
    finished: SimpleQueue[Future[Any]] = field(default_factory=SimpleQueue)

    def run(self, pool: ThreadPoolExecutor) -> list[B]:
        while len(self.built) < self.count:
            self._hand_out(pool)
            if self._lookup_due():
                taken, self.waiting = self.waiting[: self.batch], self.waiting[self.batch :]
                self.look_up([k for _, k in taken])
                self.ready.extend(index for index, _ in taken)
                continue
            for future in self._finished():
                if future in self.resolving:
                    self._resolved_one(self.resolving.pop(future), future.result())
                else:
                    self.built[self.building.pop(future)] = future.result()
        return [self.built[index] for index in range(self.count)]

    def _finished(self) -> list[Future[Any]]:
        """The futures done since the last call, waiting for one if none is."""
        done = [self.finished.get()]
        while True:
            try:
                done.append(self.finished.get_nowait())
            except Empty:
                return done

    def cancel(self) -> None:
        flying: list[Future[Any]] = [*self.resolving, *self.building]
        for future in flying:
            future.cancel()

    def _in_flight(self) -> int:
        return len(self.resolving) + len(self.building)

    def _hand_out(self, pool: ThreadPoolExecutor) -> None:
        """Keep twice ``workers`` items with the threads, builds first."""
        while self._in_flight() < 2 * self.workers:
            if self.ready:
                index = self.ready.popleft()
                building = pool.submit(self.build, (index, self.resolved.pop(index)))
                self.building[building] = index
                building.add_done_callback(self.finished.put)
            elif self.started < self.count:
                resolving = pool.submit(self.resolve, self.started)
                self.resolving[resolving] = self.started
                self.started += 1
                resolving.add_done_callback(self.finished.put)
            else:
                return

    def _lookup_due(self) -> bool:
        if not self.waiting:
            return False
        idle = self.started == self.count and self._in_flight() < self.workers
        return len(self.waiting) >= self.batch or not self.resolving or idle

    def _resolved_one(self, index: int, resolved: R) -> None:
        self.resolved[index] = resolved
        found = self.key(index, resolved)
        if found is None:
            self.ready.append(index)
        else:
            self.waiting.append((index, found))

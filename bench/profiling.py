"""Profiles: pyinstrument's of each import kind (``--profile``), and a sampler of every thread.

This module owns the profilers only. :func:`profile_imports` writes
pyinstrument profiles (the main thread: where the handler waits) after the
timed measures; :class:`ThreadSampler` tells where all of a process's
threads spend an import, for the failing targets' diagnosis
(:mod:`bench.diagnosis`).
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from bench.fixtures import Repository, Stack, aws_stack, log
from bench.imports import FANOUT_OVERRIDES, import_repository


def profile_imports(repository: Repository, directory: Path) -> None:
    """pyinstrument profiles (main thread: where the handler waits) of each import kind.

    Run after the timed measurements, which the profiler would slow down.
    """
    from pyinstrument import Profiler  # a dev dependency, needed only here

    directory.mkdir(parents=True, exist_ok=True)

    def profiled(name: str, stack: Stack, overrides: Mapping[str, str] | None = None) -> None:
        log(f"profiling the {name} import")
        profiler = Profiler(interval=0.001)
        profiler.start()
        try:
            import_repository(stack, repository, overrides)
        finally:
            profiler.stop()
        (directory / f"{name}.txt").write_text(profiler.output_text(show_all=False))
        (directory / f"{name}.html").write_text(profiler.output_html())

    with aws_stack() as stack:
        profiled("cold", stack)
        profiled("warm", stack)
    with aws_stack() as stack:
        profiled("fanout", stack, FANOUT_OVERRIDES)


# Innermost functions of a thread blocked on a socket: waiting for a peer's answer.
_NETWORK_WAITS = ("socket.py:readinto", "ssl.py:read", "ssl.py:recv_into", "wait.py:do_poll")
# Of a thread blocked on a lock, an event, a queue or a future: waiting for another thread
# (or, in a pool, for work).
_THREAD_WAITS = ("threading.py:wait", "threading.py:acquire", "queue.py:get", "threading.py:join")
# Frames every thread has, which say nothing about what it does.
_PLUMBING = ("threading.py", "thread.py")


@dataclass(frozen=True)
class Hotspot:
    """A function and the share of running thread samples it was in."""

    name: str
    share: float


class ThreadSampler:
    """Samples every thread's stack every ``interval`` seconds while it runs.

    pyinstrument follows one thread; an import's time is spent in many (the
    importer's pool, the worker's environments). Each sample of a thread is
    one of: waiting on the network (blocked reading a socket), waiting on
    another thread (a lock, an event, a queue: idle pool threads too), or
    running Python; the functions are counted over the running samples.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.states: Counter[str] = Counter()
        self.leaves: Counter[str] = Counter()
        self.anywhere: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def __enter__(self) -> ThreadSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.wait(self.interval):
            for ident, frame in sys._current_frames().items():
                if ident != me:
                    self._sample(frame)

    def _sample(self, leaf: FrameType) -> None:
        names: list[str] = []
        frame: FrameType | None = leaf
        while frame is not None:
            names.append(f"{Path(frame.f_code.co_filename).name}:{frame.f_code.co_name}")
            frame = frame.f_back
        if names[0] in _NETWORK_WAITS:
            self.states["waiting on the network"] += 1
        elif names[0] in _THREAD_WAITS:
            self.states["waiting on another thread (or idle)"] += 1
        else:
            self.states["running Python"] += 1
            self.leaves[names[0]] += 1
            self.anywhere.update({n for n in names if n.split(":")[0] not in _PLUMBING})

    def shares(self) -> dict[str, float]:
        """Each state's share of all thread samples."""
        total = max(1, sum(self.states.values()))
        return {state: hits / total for state, hits in self.states.most_common()}

    def top(self, counter: Counter[str], count: int = 12) -> list[Hotspot]:
        """The ``count`` functions with the most running samples, as shares of them."""
        total = max(1, self.states["running Python"])
        return [Hotspot(name, hits / total) for name, hits in counter.most_common(count)]

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
import time
from collections import Counter, defaultdict
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
# Frames every thread has, which say nothing about what it does.
_PLUMBING = ("threading.py", "thread.py")
_NOT_CHARGED = (str(Path(__file__).resolve().parent), "<frozen runpy>")
# A thread whose CPU clock advanced this share of the time since the last sample was running.
_RUNNING_SHARE = 0.25
RUNNING = "running"
NETWORK = "waiting on the network"
OTHER = "waiting on a lock, a queue or another thread (idle pool threads too)"


@dataclass(frozen=True)
class Hotspot:
    """A function and its share of the CPU time the sampled threads used."""

    name: str
    share: float


class ThreadSampler:
    """Samples every thread's stack and CPU clock every ``interval`` seconds while it runs.

    pyinstrument follows one thread; an import's time is spent in many (the
    importer's pool, the worker's environments). The CPU a thread used since
    the last sample (its own CPU clock) is charged to the functions on its
    stack where the sample finds it. A thread that used a good share of that time was running; one
    that did not was waiting, on the network when it sits reading a socket,
    else on a lock, a queue or another thread.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.states: Counter[str] = Counter()
        self.leaves: defaultdict[str, float] = defaultdict(float)
        self.anywhere: defaultdict[str, float] = defaultdict(float)
        self.cpu_seconds = 0.0
        self._clocks: dict[int, float] = {}
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
        last = time.monotonic()
        while not self._stop.wait(self.interval):
            now = time.monotonic()
            elapsed, last = now - last, now
            for ident, frame in sys._current_frames().items():
                if ident != me:
                    self._sample(ident, frame, elapsed)

    def _sample(self, ident: int, leaf: FrameType, elapsed: float) -> None:
        try:
            clock = time.clock_gettime(time.pthread_getcpuclockid(ident))
        except (OSError, OverflowError):
            return  # the thread has ended
        used = clock - self._clocks.get(ident, clock)
        self._clocks[ident] = clock
        names: list[str] = []
        frame: FrameType | None = leaf
        while frame is not None:
            path = frame.f_code.co_filename
            # The benchmark's own frames (and the interpreter's start) hold every stack.
            if not path.startswith(_NOT_CHARGED):
                names.append(f"{Path(path).name}:{frame.f_code.co_name}")
            frame = frame.f_back
        if not names:
            return
        if used > 0:
            # Charged to where the thread is now: a sampling profile of the CPU.
            self.cpu_seconds += used
            self.leaves[names[0]] += used
            for name in {n for n in names if n.split(":")[0] not in _PLUMBING}:
                self.anywhere[name] += used
        if used >= _RUNNING_SHARE * elapsed:
            self.states[RUNNING] += 1
        elif names[0] in _NETWORK_WAITS:
            self.states[NETWORK] += 1
        else:
            self.states[OTHER] += 1

    def shares(self) -> dict[str, float]:
        """Each state's share of all thread samples."""
        total = max(1, sum(self.states.values()))
        return {state: hits / total for state, hits in self.states.most_common()}

    def top(self, used: Mapping[str, float], count: int = 12) -> list[Hotspot]:
        """The ``count`` functions that used the most CPU, as shares of all the CPU used."""
        total = self.cpu_seconds or 1.0
        ranked = sorted(used.items(), key=lambda item: -item[1])[:count]
        return [Hotspot(name, seconds / total) for name, seconds in ranked]

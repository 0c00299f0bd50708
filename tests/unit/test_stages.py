"""run_stages: resolve in threads, look up in batches, build, in item order."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pytest

from imagestreams.imports.stages import run_stages


class Recorder:
    """The three stages of a run, recording what each saw and when."""

    def __init__(self, *, jitter: float = 0.0, keyless: frozenset[int] = frozenset()) -> None:
        self.jitter = jitter
        self.keyless = keyless
        self.lock = threading.Lock()
        self.batches: list[list[str]] = []
        self.looked_up: set[str] = set()
        self.resolved: set[int] = set()
        self.built: set[int] = set()
        self.most_pending = 0
        self.threads: set[int] = set()
        self.built_before_lookup: list[int] = []

    def _pause(self) -> None:
        if self.jitter:
            time.sleep(random.uniform(0, self.jitter))

    def resolve(self, index: int) -> str:
        self._pause()
        with self.lock:
            self.threads.add(threading.get_ident())
            self.resolved.add(index)
            self.most_pending = max(self.most_pending, len(self.resolved - self.built))
        return f"digest-{index}"

    def key(self, index: int, resolved: str) -> str | None:
        return None if index in self.keyless else resolved

    def look_up(self, keys: list[str]) -> None:
        with self.lock:
            self.batches.append(keys)
            self.looked_up.update(keys)

    def build(self, item: tuple[int, str]) -> str:
        index, resolved = item
        self._pause()
        with self.lock:
            self.threads.add(threading.get_ident())
            if index not in self.keyless and resolved not in self.looked_up:
                self.built_before_lookup.append(index)
            self.built.add(index)
        return f"image-{index}"

    def run(self, count: int, *, workers: int, batch: int) -> list[str]:
        return run_stages(
            count,
            self.resolve,
            self.key,
            self.look_up,
            self.build,
            workers=workers,
            batch=batch,
        )


@pytest.mark.parametrize(
    ("count", "workers", "batch", "jitter"),
    [
        (0, 4, 10, 0.0),
        (1, 4, 10, 0.0),
        (2, 1, 1, 0.0),
        (37, 4, 10, 0.002),
        (250, 8, 100, 0.001),
        (250, 32, 100, 0.0),
    ],
    ids=["none", "one", "two-one-worker", "uneven-batches", "many-jittered", "many-instant"],
)
def test_every_item_is_resolved_looked_up_once_and_built_after_its_lookup_in_item_order(
    count: int, workers: int, batch: int, jitter: float
) -> None:
    # Given stages that finish in random order
    recorder = Recorder(jitter=jitter)

    # When the items are run through them
    built = recorder.run(count, workers=workers, batch=batch)

    # Then the builds come back in item order, each built after its key was looked up
    assert built == [f"image-{index}" for index in range(count)]
    assert recorder.built_before_lookup == []
    # And every key was looked up exactly once, in batches no larger than asked
    keys = [key for keys in recorder.batches for key in keys]
    assert sorted(keys) == sorted(f"digest-{index}" for index in range(count))
    assert all(0 < len(keys) <= batch for keys in recorder.batches)


def test_lookups_are_batched_and_few() -> None:
    # Given 250 items that resolve at once, 8 threads and batches of up to 100
    recorder = Recorder()

    # When they run
    recorder.run(250, workers=8, batch=100)

    # Then the lookups are far fewer than the items (not one per item)
    assert len(recorder.batches) <= 250 // 8


def test_items_without_a_key_are_built_without_a_lookup() -> None:
    # Given items 3 and 5 that have nothing to look up
    recorder = Recorder(keyless=frozenset({3, 5}))

    # When ten items run
    built = recorder.run(10, workers=3, batch=4)

    # Then all are built and only the others' keys were looked up
    assert built == [f"image-{index}" for index in range(10)]
    looked_up = {key for keys in recorder.batches for key in keys}
    assert looked_up == {f"digest-{index}" for index in range(10) if index not in {3, 5}}


def test_few_items_are_resolved_and_not_yet_built_at_any_time() -> None:
    # Given 400 items, 4 threads and batches of up to 10
    recorder = Recorder(jitter=0.001)

    # When they run
    recorder.run(400, workers=4, batch=10)

    # Then builds went before new resolutions: never more than a batch and four
    # times the threads were resolved and not yet built (of 400)
    assert recorder.most_pending <= 10 + 4 * 4


@pytest.mark.parametrize("count", [0, 1], ids=["none", "one"])
def test_zero_or_one_item_is_done_in_the_calling_thread(count: int) -> None:
    recorder = Recorder()

    recorder.run(count, workers=4, batch=10)

    assert recorder.threads <= {threading.get_ident()}
    assert len(recorder.batches) == count


def _fail(stage: str) -> Callable[..., object]:
    def fail(*_: object) -> object:
        raise RuntimeError(f"{stage} failed")

    return fail


@pytest.mark.parametrize("stage", ["resolve", "look_up", "build"])
def test_an_exception_of_any_stage_is_raised_to_the_caller(stage: str) -> None:
    # Given a stage that fails
    recorder = Recorder()
    stages: dict[str, Callable[..., object]] = {
        "resolve": recorder.resolve,
        "look_up": recorder.look_up,
        "build": recorder.build,
    }
    stages[stage] = _fail(stage)

    # When items run through the stages, the failure is raised here
    with pytest.raises(RuntimeError, match=f"^{stage} failed$"):
        run_stages(
            20,
            stages["resolve"],
            recorder.key,
            stages["look_up"],
            stages["build"],
            workers=3,
            batch=5,
        )


@pytest.mark.parametrize(("workers", "batch"), [(0, 1), (1, 0)], ids=["no-workers", "no-batch"])
def test_workers_and_batch_must_be_positive(workers: int, batch: int) -> None:
    recorder = Recorder()
    with pytest.raises(ValueError, match="must be positive"):
        recorder.run(3, workers=workers, batch=batch)

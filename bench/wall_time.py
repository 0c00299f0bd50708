"""Measure: the repository import's wall time against skopeo, cold, warm and forced fan-out.

This module owns the timed runs. Each run does, in this order, the skopeo
loop (:mod:`bench.skopeo`), a cold import and a warm re-import sharing one
moto stack (so the image cache is warm the second time), then a cold import
with a forced fan-out (every tag through the queue and the worker) in a
fresh stack; each with the CPU it cost (:mod:`bench.cpu`). The first run's
cold and warm imports also give the anonymous request counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.cpu import CpuUse, cpu_use
from bench.fixtures import Repository, aws_stack, log
from bench.imports import FANOUT_OVERRIDES, ImportRun, import_repository
from bench.request_counts import RequestCounts, counted_import
from bench.skopeo import skopeo_loop
from testkit.registry import Registry


@dataclass
class WallTimes:
    """Every timed run: skopeo's and the three imports', and the first run's request counts."""

    skopeo_seconds: list[float] = field(default_factory=list)
    skopeo_cpu: list[CpuUse] = field(default_factory=list)
    cold_runs: list[ImportRun] = field(default_factory=list)
    warm_runs: list[ImportRun] = field(default_factory=list)
    fanout_runs: list[ImportRun] = field(default_factory=list)
    anonymous_cold: RequestCounts | None = None
    anonymous_warm: RequestCounts | None = None


def measure_wall_time(
    registry: Registry, repository: Repository, runs: int, parallelism: int
) -> WallTimes:
    """Per run: the skopeo loop, a cold import, a warm re-import, a forced fan-out."""
    times = WallTimes()
    for number in range(runs):
        log(f"run {number + 1}/{runs}: skopeo inspect x {len(repository.tags)}")
        with cpu_use(registry) as skopeo_cpu:
            times.skopeo_seconds.append(skopeo_loop(repository, parallelism))
        times.skopeo_cpu.append(skopeo_cpu)
        with aws_stack() as stack:
            log(f"run {number + 1}/{runs}: cold import")
            with cpu_use(registry) as cold_cpu:
                cold, cold_counts = counted_import(stack, registry, repository)
            log(f"run {number + 1}/{runs}: warm re-import")
            with cpu_use(registry) as warm_cpu:
                warm, warm_counts = counted_import(stack, registry, repository)
        cold.cpu, warm.cpu = cold_cpu, warm_cpu
        times.cold_runs.append(cold)
        times.warm_runs.append(warm)
        if number == 0:
            times.anonymous_cold, times.anonymous_warm = cold_counts, warm_counts
        with aws_stack() as stack:
            log(f"run {number + 1}/{runs}: cold import, forced fan-out")
            with cpu_use(registry) as fanout_cpu:
                fanout = import_repository(stack, repository, FANOUT_OVERRIDES)
        fanout.cpu = fanout_cpu
        times.fanout_runs.append(fanout)
    return times

"""Measure: the repository import across a network, through a latency proxy.

On loopback the import is bound by the CPUs the handlers and the registry
share; users see registries 20-100 ms away. Here every request goes through
:class:`testkit.proxy.ProxyProcess` (a process of its own, so its CPU is
counted apart), which holds each request ``delay`` seconds before
forwarding it to the same loopback registry.

This module owns the runs through it: per timed run, ``skopeo inspect`` of
every tag, :data:`SKOPEO_PARALLELISM` at a time, then a cold import and a
warm re-import sharing one moto stack, then a cold import with a forced
fan-out (every tag through the queue and the worker, at the template's
``MaximumConcurrency``), all through the proxy at :data:`DEFAULT_DELAY`;
then the concurrency curve: a cold import at each delay of
:data:`CURVE_DELAYS` and each ``IMPORT_PARALLELISM`` of
:data:`CURVE_PARALLELISM`, everything else as deployed.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.cpu import CpuUse, cpu_use
from bench.fixtures import Repository, aws_stack, log, median
from bench.imports import FANOUT_OVERRIDES, ImportRun, import_repository
from bench.skopeo import skopeo_loop
from testkit.proxy import ProxyProcess
from testkit.registry import Registry

# Seconds the proxy holds each request: a registry 50 ms away.
DEFAULT_DELAY = 0.05
# How many times faster than the skopeo loop through the proxy the imports must be.
COLD_TARGET = 5.0
WARM_TARGET = 10.0
# The peer as a user runs it: eight `skopeo inspect` at a time.
SKOPEO_PARALLELISM = 8
CURVE_DELAYS = (0.0, 0.02, 0.05, 0.1)
CURVE_PARALLELISM = (8, 16, 32, 64)
QUICK_CURVE_DELAYS = (0.0, 0.05)
QUICK_CURVE_PARALLELISM = (8, 16)
# Parallelisms whose mean slowdown is within this share of the best count as as good.
CURVE_TOLERANCE = 0.10


@dataclass
class CurvePoint:
    """One cold import of the concurrency curve."""

    delay: float
    parallelism: int
    run: ImportRun


@dataclass
class Network:
    """Every run through the latency proxy."""

    delay: float
    skopeo_parallelism: int
    skopeo_seconds: list[float] = field(default_factory=list)
    skopeo_cpu: list[CpuUse] = field(default_factory=list)
    cold_runs: list[ImportRun] = field(default_factory=list)
    warm_runs: list[ImportRun] = field(default_factory=list)
    fanout_runs: list[ImportRun] = field(default_factory=list)
    curve: list[CurvePoint] = field(default_factory=list)

    def ratio(self, runs: Sequence[ImportRun]) -> float:
        """How many times faster than the skopeo loop through the proxy (medians)."""
        return median(self.skopeo_seconds) / median([run.seconds for run in runs])

    def point(self, delay: float, parallelism: int) -> CurvePoint | None:
        return next(
            (p for p in self.curve if p.delay == delay and p.parallelism == parallelism), None
        )


def slowdowns(curve: Sequence[CurvePoint]) -> dict[int, float]:
    """Per parallelism measured at every delay: its mean wall time over the fastest's."""
    fastest: dict[float, float] = {}
    for point in curve:
        fastest[point.delay] = min(fastest.get(point.delay, point.run.seconds), point.run.seconds)
    found: dict[int, float] = {}
    for parallelism in sorted({point.parallelism for point in curve}):
        points = [point for point in curve if point.parallelism == parallelism]
        if len(points) == len(fastest):
            found[parallelism] = statistics.fmean(
                point.run.seconds / fastest[point.delay] for point in points
            )
    return found


def supported_parallelism(curve: Sequence[CurvePoint]) -> int | None:
    """The parallelism with the smallest mean slowdown over the delays.

    Of values within :data:`CURVE_TOLERANCE` of that, the smallest: each
    unit of parallelism is one more connection a registry sees.
    """
    found = slowdowns(curve)
    if not found:
        return None
    best = min(found.values())
    return min(p for p, slowdown in found.items() if slowdown <= best * (1 + CURVE_TOLERANCE))


def measure_network(
    registry: Registry,
    repository: Repository,
    runs: int,
    *,
    delay: float = DEFAULT_DELAY,
    curve_delays: Sequence[float] = CURVE_DELAYS,
    curve_parallelism: Sequence[int] = CURVE_PARALLELISM,
) -> Network:
    """The timed runs through the proxy at ``delay``, then the concurrency curve."""
    network = Network(delay=delay, skopeo_parallelism=SKOPEO_PARALLELISM)
    with ProxyProcess(registry.host, delay=delay) as proxy:
        proxied = repository.via(proxy.host)
        for number in range(runs):
            step = f"{delay * 1000:.0f} ms proxy, run {number + 1}/{runs}"
            log(f"{step}: skopeo inspect x {len(proxied.tags)}, {SKOPEO_PARALLELISM} at a time")
            with cpu_use(registry, proxy.pid) as skopeo_cpu:
                network.skopeo_seconds.append(skopeo_loop(proxied, SKOPEO_PARALLELISM))
            network.skopeo_cpu.append(skopeo_cpu)
            with aws_stack() as stack:
                log(f"{step}: cold import")
                with cpu_use(registry, proxy.pid) as cold_cpu:
                    cold = import_repository(stack, proxied)
                log(f"{step}: warm re-import")
                with cpu_use(registry, proxy.pid) as warm_cpu:
                    warm = import_repository(stack, proxied)
            cold.cpu, warm.cpu = cold_cpu, warm_cpu
            network.cold_runs.append(cold)
            network.warm_runs.append(warm)
            with aws_stack() as stack:
                log(f"{step}: cold import, forced fan-out")
                with cpu_use(registry, proxy.pid) as fanout_cpu:
                    fanout = import_repository(stack, proxied, FANOUT_OVERRIDES)
            fanout.cpu = fanout_cpu
            network.fanout_runs.append(fanout)
    for curve_delay in curve_delays:
        with ProxyProcess(registry.host, delay=curve_delay) as proxy:
            proxied = repository.via(proxy.host)
            for parallelism in curve_parallelism:
                log(f"curve: {curve_delay * 1000:.0f} ms, IMPORT_PARALLELISM={parallelism}")
                with aws_stack() as stack, cpu_use(registry, proxy.pid) as used:
                    run = import_repository(
                        stack, proxied, {"IMPORT_PARALLELISM": str(parallelism)}
                    )
                run.cpu = used
                network.curve.append(CurvePoint(curve_delay, parallelism, run))
    return network

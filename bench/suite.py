"""The whole benchmark: every measure, in an order that keeps them from disturbing each other.

This module owns the run's inputs (:class:`Options`), its figures
(:class:`Results`, which the report and ``--json`` show as they are) and the
order: cold start first, on a quiet machine; then, against one anonymous
registry, the timed runs, peak memory, the local server's latency and the
profiles; last the token-auth request counts on a registry of their own.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.cold_start import ColdStart, measure_cold_start
from bench.cpu import CpuUse
from bench.fixtures import deployed_setting, log, median, push_repository, template_memory
from bench.imports import ImportRun
from bench.latency import Latency, measure_latency
from bench.machine import Machine, load_average
from bench.memory import Memory, measure_memory
from bench.profiling import profile_imports
from bench.request_counts import RequestCounts, measure_token_counts
from bench.wall_time import measure_wall_time
from testkit.registry import start_anonymous_registry


@dataclass
class Options:
    tags: int
    runs: int
    multiarch: int
    parallelism: int
    latency_samples: int
    cold_start_samples: int
    token_registry: bool
    output: Path
    json_path: Path | None
    quick: bool
    profile: Path | None = None


@dataclass
class Results:
    """Every figure of one benchmark run."""

    machine: Machine
    options: dict[str, Any]
    worker_memory_mb: int
    api_memory_mb: int
    anonymous_cold: RequestCounts | None = None
    anonymous_warm: RequestCounts | None = None
    token_cold: RequestCounts | None = None
    token_warm: RequestCounts | None = None
    cold_runs: list[ImportRun] = field(default_factory=list)
    warm_runs: list[ImportRun] = field(default_factory=list)
    fanout_runs: list[ImportRun] = field(default_factory=list)
    skopeo_seconds: list[float] = field(default_factory=list)
    skopeo_cpu: list[CpuUse] = field(default_factory=list)
    latency: Latency | None = None
    cold_start: ColdStart | None = None
    memory: Memory | None = None
    elapsed_seconds: float = 0.0
    load_after: str = ""
    settings: dict[str, str] = field(default_factory=dict)

    def ratio(self, runs: Sequence[ImportRun]) -> float:
        """How many times faster than the skopeo loop (medians)."""
        return median(self.skopeo_seconds) / median([run.seconds for run in runs])


def run_benchmark(options: Options) -> Results:
    """Every measurement, in an order that keeps them from disturbing each other."""
    started = time.perf_counter()
    worker_mb, api_mb = template_memory()
    results = Results(
        machine=Machine.describe(),
        options={
            "tags": options.tags,
            "runs": options.runs,
            "multiarch": options.multiarch,
            "parallelism": options.parallelism,
            "latency_samples": options.latency_samples,
            "cold_start_samples": options.cold_start_samples,
            "quick": options.quick,
        },
        worker_memory_mb=worker_mb,
        api_memory_mb=api_mb,
        settings={
            name: deployed_setting(name)
            for name in ("IMPORT_PARALLELISM", "IMPORT_TIME_BUDGET", "INLINE_FRACTION")
        },
    )
    log(f"cold start: {options.cold_start_samples} samples each")
    results.cold_start = measure_cold_start(options.cold_start_samples)
    registry = start_anonymous_registry()
    try:
        log(f"pushing {options.tags} tags ({options.multiarch} multi-arch)")
        repository = push_repository(registry, options.tags, options.multiarch)
        wall = measure_wall_time(registry, repository, options.runs, options.parallelism)
        results.skopeo_seconds, results.skopeo_cpu = wall.skopeo_seconds, wall.skopeo_cpu
        results.cold_runs, results.warm_runs = wall.cold_runs, wall.warm_runs
        results.fanout_runs = wall.fanout_runs
        results.anonymous_cold, results.anonymous_warm = wall.anonymous_cold, wall.anonymous_warm
        log("peak memory: a cold import in a fresh process")
        results.memory = measure_memory(repository)
        log(f"devserver latency: {options.latency_samples} samples each")
        results.latency = measure_latency(repository, options.latency_samples)
        if options.profile is not None:
            profile_imports(repository, options.profile)
    finally:
        registry.stop()
    if options.token_registry:
        results.token_cold, results.token_warm = measure_token_counts(
            options.tags, options.multiarch
        )
    results.elapsed_seconds = time.perf_counter() - started
    results.load_after = load_average()
    return results

"""The whole benchmark: every measure, in an order that keeps them from disturbing each other.

This module owns the run's inputs (:class:`Options`), its figures
(:class:`Results`, which the report and ``--json`` show as they are) and the
order: cold start first, on a quiet machine; then, against one anonymous
registry, the timed runs on loopback, peak memory, the local server's
latency, the runs through the latency proxy and its concurrency curve, the
answer size of a realistic repository and the profiles; then the
token-auth request counts on a registry of their own; last, as it installs
packages, a newcomer's first ``make run`` on a fresh clone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.answer_size import AnswerSize, measure_answer_size
from bench.cold_start import ColdStart, measure_cold_start
from bench.cpu import CpuUse
from bench.diagnosis import Diagnosis, diagnose_failures
from bench.fixtures import (
    deployed_setting,
    log,
    median,
    push_repository,
    template_memory,
    worker_max_concurrency,
)
from bench.fresh_clone import FreshClone, measure_fresh_clone
from bench.imports import ImportRun
from bench.latency import Latency, measure_latency
from bench.machine import Machine, load_average
from bench.memory import Memory, measure_memory
from bench.network import (
    CURVE_DELAYS,
    CURVE_PARALLELISM,
    DEFAULT_DELAY,
    Network,
    measure_network,
)
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
    network_delay: float = DEFAULT_DELAY
    curve_delays: tuple[float, ...] = CURVE_DELAYS
    curve_parallelism: tuple[int, ...] = CURVE_PARALLELISM
    answer_tags: int = 1000
    fresh_clone: bool = True
    pip_cache: bool = False


@dataclass
class Results:
    """Every figure of one benchmark run."""

    machine: Machine
    options: dict[str, Any]
    worker_memory_mb: int
    api_memory_mb: int
    worker_concurrency: int = 1
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
    network: Network | None = None
    answer_size: AnswerSize | None = None
    fresh_clone: FreshClone | None = None
    # Why each failing target failed: its CPU split and where the threads were.
    diagnoses: list[Diagnosis] = field(default_factory=list)
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
            "network_delay": options.network_delay,
            "answer_tags": options.answer_tags,
            "pip_cache": options.pip_cache,
        },
        worker_memory_mb=worker_mb,
        api_memory_mb=api_mb,
        worker_concurrency=worker_max_concurrency(),
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
        results.network = measure_network(
            registry,
            repository,
            options.runs,
            delay=options.network_delay,
            curve_delays=options.curve_delays,
            curve_parallelism=options.curve_parallelism,
        )
        results.answer_size = measure_answer_size(registry, options.answer_tags)
        results.diagnoses = diagnose_failures(registry, repository, results.network)
        if options.profile is not None:
            profile_imports(repository, options.profile)
    finally:
        registry.stop()
    if options.token_registry:
        results.token_cold, results.token_warm = measure_token_counts(
            options.tags, options.multiarch
        )
    if options.fresh_clone:
        log("fresh clone: git clone, then make run until the first answer")
        results.fresh_clone = measure_fresh_clone(pip_cache=options.pip_cache)
    results.elapsed_seconds = time.perf_counter() - started
    results.load_after = load_average()
    return results

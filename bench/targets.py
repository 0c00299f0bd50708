"""The targets (DESIGN section 11 and the performance issue's) and whether each run holds them.

This module owns each target's wording, what of the results it reads and
its verdict; it measures nothing. A figure with no number to hold it to is
listed with ``ok=None``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.fixtures import median
from bench.markdown import fmt_bytes, fmt_rate, fmt_seconds
from bench.network import COLD_TARGET, WARM_TARGET
from bench.suite import Results

#: The loopback targets: an import at least this many times faster than skopeo per tag.
LOOPBACK_TARGET = 5.0


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    ok: bool | None


def targets(results: Results) -> list[Target]:
    """Every target, with what was measured and whether it holds."""
    return [
        *request_targets(results),
        *speed_targets(results),
        *network_targets(results),
        *start_targets(results),
        *size_targets(results),
    ]


def request_targets(results: Results) -> list[Target]:
    found: list[Target] = []
    cold, warm = results.anonymous_cold, results.anonymous_warm
    if cold is not None:
        heads = cold.per_tag("manifest HEAD", "single")
        gets = cold.per_tag("manifest GET", "single") + cold.per_tag("blob GET", "single")
        auth = results.token_cold
        # Amortized: a token per execution environment (the api's, and each of at most
        # MaximumConcurrency workers'), never per tag.
        tokens = auth.total("token") if auth else 0
        environments = 1 + results.worker_concurrency
        found.append(
            Target(
                "Cold import: 2 requests per new tag (manifest GET + config GET, no HEAD) "
                "plus amortized auth (a token per execution environment)",
                f"{fmt_rate(heads)} HEAD + {fmt_rate(gets)} GETs per single-platform tag"
                + (
                    f"; {tokens} token request(s) for {sum(auth.tags.values())} tags "
                    f"(at most {environments} environments)"
                    if auth
                    else ""
                ),
                heads == 0 and gets == 2 and tokens <= environments,
            )
        )
    if warm is not None:
        heads = warm.per_tag("manifest HEAD", "all")
        gets = warm.per_tag("manifest GET", "all") + warm.per_tag("blob GET", "all")
        found.append(
            Target(
                "Warm re-import: exactly 1 HEAD and 0 GETs per tag",
                f"{fmt_rate(heads)} HEAD, {fmt_rate(gets)} GETs per tag",
                heads == 1 and gets == 0,
            )
        )
    return found


def speed_targets(results: Results) -> list[Target]:
    """On loopback: the import against skopeo with the importer's parallelism."""
    found: list[Target] = []
    if results.cold_runs and results.skopeo_seconds:
        for label, runs in (
            ("default settings", results.cold_runs),
            (f"forced fan-out, {results.worker_concurrency} workers at once", results.fanout_runs),
        ):
            if runs:
                ratio = results.ratio(runs)
                found.append(
                    Target(
                        f"Loopback: repository import ({label}) at least {LOOPBACK_TARGET:g}x "
                        "faster than "
                        "skopeo per tag",
                        f"{ratio:.2f}x",
                        ratio >= LOOPBACK_TARGET,
                    )
                )
    return found


def network_targets(results: Results) -> list[Target]:
    """Through the latency proxy: the import against skopeo x8 through the same proxy."""
    network = results.network
    if network is None or not network.skopeo_seconds:
        return []
    delay = f"{network.delay * 1000:.0f} ms"
    found: list[Target] = []
    for label, runs, target in (
        ("cold repository import, default settings", network.cold_runs, COLD_TARGET),
        ("warm re-import", network.warm_runs, WARM_TARGET),
    ):
        if runs:
            ratio = network.ratio(runs)
            found.append(
                Target(
                    f"Through a {delay} proxy: {label} at least {target:.0f}x faster than "
                    f"`skopeo inspect` per tag x{network.skopeo_parallelism}",
                    f"{ratio:.2f}x ({fmt_seconds(median([run.seconds for run in runs]))} against "
                    f"{fmt_seconds(median(network.skopeo_seconds))})",
                    ratio >= target,
                )
            )
    return found


def start_targets(results: Results) -> list[Target]:
    found: list[Target] = []
    if results.cold_start is not None:
        ratio, traced = results.cold_start.ratio, results.cold_start.traced_ratio
        found.append(
            Target(
                "Cold start: api module import at most 2x a bare `import boto3` (metrics on)",
                f"{ratio:.2f}x" + (f" (tracing on: {traced:.2f}x)" if traced is not None else ""),
                ratio <= 2,
            )
        )
    if results.latency is not None:
        found.append(
            Target(
                "First request after a cold start (lazy clients built), single-image import",
                f"{fmt_seconds(results.latency.first_seconds)} (then "
                f"{fmt_seconds(median(results.latency.cold_seconds))} cold cache)",
                None,
            )
        )
    clone = results.fresh_clone
    if clone is not None:
        tools = clone.development_tools
        measured = (
            f"{fmt_seconds(clone.first_answer_seconds)} to the first answer"
            if clone.first_answer_seconds is not None
            else f"no answer: {clone.failure[:200]}"
        )
        measured += f"; development tools installed: {', '.join(tools) or 'none'}"
        found.append(
            Target(
                "Fresh clone: `make run` installs only what running needs (no SAM CLI, mypy, "
                "ruff, cfn-lint, pytest), then answers",
                measured,
                clone.first_answer_seconds is not None and not tools,
            )
        )
    return found


def size_targets(results: Results) -> list[Target]:
    found: list[Target] = []
    if results.memory is not None:
        found.append(
            Target(
                f"Peak memory of the import under the worker's MemorySize "
                f"({results.worker_memory_mb} MB)",
                f"{results.memory.peak_mib:.0f} MiB",
                results.memory.peak_mib < results.worker_memory_mb,
            )
        )
    answer = results.answer_size
    if answer is not None:
        which, raw, gzipped, response = answer.full_answer
        found.append(
            Target(
                f"The {answer.tags}-tag answer (realistic images, gzip'd as clients accept it) "
                f"within Lambda's {answer.limit_bytes / 1024 / 1024:.0f} MB response limit",
                f"{which}: {fmt_bytes(raw)} raw, {fmt_bytes(gzipped)} gzip'd, "
                f"{fmt_bytes(response)} as the function's response",
                response <= answer.limit_bytes,
            )
        )
    return found

"""The report: ``bench/RESULTS.md`` in Markdown, and the raw figures as JSON.

This module owns the report's layout and the sections on loopback (request
counts, wall time, latency, cold start, memory); the targets are
:mod:`bench.targets`', the sections across a network and on a first run
:mod:`bench.report_network`'s. It measures nothing and reads only a
:class:`bench.suite.Results`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bench.comparison import comparison_rows, import_kinds
from bench.cpu import CpuUse
from bench.fixtures import median
from bench.markdown import fmt_rate, fmt_seconds, table, verdict
from bench.network import supported_parallelism
from bench.report_network import answer_section, fresh_clone_section, network_section
from bench.request_counts import KINDS, RequestCounts
from bench.suite import Results
from bench.targets import LOOPBACK_TARGET, targets


def request_rows(label: str, counts: RequestCounts | None) -> list[list[str]]:
    """Rows of per-tag request counts for one import: single, multi-arch, all tags."""
    if counts is None:
        return []
    rows = []
    for group, name in (
        ("single", f"single-platform tags ({counts.tags.get('single', 0)})"),
        ("multi", f"multi-arch tags ({counts.tags.get('multi', 0)})"),
    ):
        if counts.tags.get(group):
            rows.append(
                [label, name]
                + [fmt_rate(counts.per_tag(kind, group)) for kind in KINDS[:3]]
                + ["", "", "", ""]
            )
    tags = sum(counts.tags.values())
    rows.append(
        [label, f"all {tags} tags, per tag"]
        + [fmt_rate(counts.per_tag(kind, "all")) for kind in KINDS[:3]]
        + [f"{counts.total(kind)} ({fmt_rate(counts.per_tag(kind, 'all'))})" for kind in KINDS[3:]]
    )
    return rows


def render(results: Results, command: str) -> str:
    """The Markdown report."""
    machine, options = results.machine, results.options
    tags = options["tags"]
    lines = [
        "# Benchmark results",
        "",
        f"Reproduce with `{command}` ({results.elapsed_seconds / 60:.1f} minutes here).",
        "Everything runs on one machine: a real `docker-registry` on loopback (and behind",
        "a latency proxy, for a registry across a network), AWS from moto with the tables",
        "and queues of `template.yaml`, and the real handlers (`functions/api/app.py`;",
        "`functions/worker/app.py` fed from the import queue). Only the fresh-clone figure",
        "reaches out, to the package index. See `bench/` for what each figure measures.",
        "Timings are of a shared machine: the load average below says how busy it was.",
        "",
        "## Machine",
        "",
        *table(
            ["", ""],
            [
                ["CPUs", f"{machine.cpus} x {machine.cpu_model}"],
                ["Memory", f"{machine.memory_gib} GiB"],
                ["OS", machine.os],
                ["Python", machine.python],
                ["Load average at start / end", f"{machine.load} / {results.load_after}"],
                ["Registry", machine.registry],
                ["skopeo", machine.skopeo],
                ["Code measured (commit)", machine.code],
            ],
        ),
        "",
        f"Repository: {tags} tags, {options['multiarch']} of them multi-arch "
        "(amd64, arm64, ppc64le), all sharing the same two layers; every tag has its own "
        "manifest and config. Imports use the api function's settings as deployed ("
        + ", ".join(f"`{name}` {value}" for name, value in results.settings.items())
        + ") but `ALLOW_PRIVATE_REGISTRIES=true` for the loopback registry; "
        f"`spec.import: true`; median of {options['runs']} run(s).",
        "",
        "## Targets (DESIGN section 11 and the network targets)",
        "",
        *table(
            ["Target", "Measured", "Result"],
            [[t.name, t.measured, verdict(t.ok)] for t in targets(results)],
        ),
        "",
        "## Registry requests per imported tag",
        "",
        "Counted from the registry's access log (and the token service's record). "
        "`ping` is `GET /v2/`, `401` the auth challenges; the last four columns are "
        "totals for the import, per tag in parentheses. Multi-arch tags in `Legacy` "
        "mode need the list, the chosen child and its config.",
        "",
        *table(
            ["Import", "Tags", *KINDS],
            request_rows("anonymous, cold", results.anonymous_cold)
            + request_rows("anonymous, warm", results.anonymous_warm)
            + request_rows("token auth, cold", results.token_cold)
            + request_rows("token auth, warm", results.token_warm),
        ),
        "",
        "## Wall time against skopeo",
        "",
        f"The whole import of {tags} tags on loopback: the api handler's answer, then (on "
        "202) the queue drained by the worker handler one chunk per invocation, as the "
        "template's `BatchSize: 1` has it, up to its `MaximumConcurrency` "
        f"({results.worker_concurrency}, `WorkerMaxConcurrency`) invocations at once as "
        "deployed (locally in one process, sharing its interpreter lock and this "
        "machine's CPUs), until the job is complete. The peer is "
        "`skopeo inspect --tls-verify=false docker://HOST/REPO:TAG` once per tag, "
        f"{options['parallelism']} at a time. CPU (last run) is what the client used (this "
        "process: handlers, their threads and moto; or the skopeo processes) and what the "
        f"registry used: they share the machine's {machine.cpus} CPUs.",
        "",
        *table(
            [
                "What",
                "Median",
                "Runs",
                "Answer",
                "Tags inline / via worker",
                "CPU: client / registry",
                "Speed-up vs skopeo",
            ],
            wall_rows(results),
        ),
        "",
        *loopback_diagnosis(results, machine.cpus),
    ]
    lines += network_section(results)
    lines += answer_section(results)
    lines += latency_section(results)
    lines += cold_start_section(results)
    lines += memory_section(results)
    lines += fresh_clone_section(results)
    return "\n".join(lines) + "\n"


def loopback_diagnosis(results: Results, cpus: int) -> list[str]:
    """Why a loopback target fails, from the CPU each side and the registry used.

    On loopback nothing waits on a network: a run needs at least its CPU
    (the client's and the registry's) spread over the machine's CPUs. When
    both runs are that bound, the ratio cannot beat their floors' ratio.
    """
    if not (results.skopeo_seconds and results.skopeo_cpu and cpus):
        return []
    # The CPU shown is the last run's: set it against that run's wall time.
    skopeo = results.skopeo_cpu[-1]
    skopeo_seconds = median(results.skopeo_seconds)
    peer_cpu = skopeo.children + skopeo.registry
    lines: list[str] = []
    for label, runs in (
        ("the cold import", results.cold_runs),
        ("the forced fan-out", results.fanout_runs),
    ):
        used = runs[-1].cpu if runs else None
        if used is None or results.ratio(runs) >= LOOPBACK_TARGET:
            continue
        cpu = used.own + used.registry
        lines.append(
            f"- {label[0].upper()}{label[1:]}, {results.ratio(runs):.2f}x: in its last run "
            f"{used.own:.1f} s of CPU in this process and {used.registry:.1f} s in the "
            f"registry, {cpu:.1f} s on {cpus} CPUs, so at least {cpu / cpus:.2f} s with "
            f"every CPU busy; that run took {fmt_seconds(runs[-1].seconds)}."
        )
    if not lines:
        return []
    budget = skopeo_seconds / LOOPBACK_TARGET * cpus
    return [
        "### Why the loopback targets fail",
        "",
        "On loopback no request waits on a network: each run is bound by the CPU it needs, "
        "its own and the registry's, on this machine's "
        f"{cpus} CPUs. In its last run skopeo per tag used {skopeo.children:.1f} s of CPU "
        f"and the registry {skopeo.registry:.1f} s for it, {peer_cpu:.1f} s: at least "
        f"{peer_cpu / cpus:.2f} s; that run took {fmt_seconds(results.skopeo_seconds[-1])}.",
        "",
        *lines,
        "",
        f"{LOOPBACK_TARGET:g}x here needs an import whose CPU and its registry's together stay "
        f"under {budget:.1f} s ({fmt_seconds(skopeo_seconds)} / {LOOPBACK_TARGET:g} x "
        f"{cpus} CPUs), the registry's share included.",
        "",
    ]


def wall_rows(results: Results) -> list[list[str]]:
    skopeo_cpu = results.skopeo_cpu[-1] if results.skopeo_cpu else CpuUse()
    return comparison_rows(
        "skopeo inspect per tag",
        results.skopeo_seconds,
        f"{skopeo_cpu.children:.1f} s (skopeo) / {skopeo_cpu.registry:.1f} s",
        import_kinds(
            results.cold_runs,
            results.warm_runs,
            results.fanout_runs,
            f"{results.worker_concurrency} at once",
        ),
        lambda cpu: f"{cpu.own:.1f} s / {cpu.registry:.1f} s",
    )


def latency_section(results: Results) -> list[str]:
    latency = results.latency
    if latency is None:
        return []
    return [
        "## Single-image import latency (HTTP, `python -m devserver`)",
        "",
        "`POST .../imagestreamimports` of one tag with `spec.import: true`, timed by the "
        "client (urllib) on loopback. The first request after a cold start builds the "
        "lazy clients (the handler modules were loaded at start); cold cache: a tag never "
        "imported before; warm: the same tag again.",
        "",
        *table(
            ["What", "Median", "Samples"],
            [
                [
                    "first request after start (lazy clients)",
                    fmt_seconds(latency.first_seconds),
                    "1",
                ],
                [
                    "cold cache",
                    fmt_seconds(median(latency.cold_seconds)),
                    str(len(latency.cold_seconds)),
                ],
                [
                    "warm cache",
                    fmt_seconds(median(latency.warm_seconds)),
                    str(len(latency.warm_seconds)),
                ],
                [
                    "server start (until its banner is printed)",
                    fmt_seconds(latency.startup_seconds),
                    "1",
                ],
            ],
        ),
        "",
    ]


def cold_start_section(results: Results) -> list[str]:
    cold = results.cold_start
    if cold is None:
        return []
    return [
        "## Cold start",
        "",
        "Import time of `functions/api/app.py` in a fresh `python -I` process with the "
        "layer directory on `sys.path` (as Lambda does), against a bare `import boto3` in "
        f"another; alternated, median of {len(cold.app_seconds)} each. The handler is "
        "timed with the template's variables as deployed by default (metrics on, tracing "
        "off) and with `Tracing=Active`; each run includes what the first invocation "
        "builds for tracing (nothing when it is off; with it on, Powertools' Tracer: "
        "the X-Ray SDK, botocore patched).",
        "",
        *table(
            ["What", "Median", "Samples"],
            [
                [
                    "`import app` (api handler), metrics on",
                    fmt_seconds(median(cold.app_seconds)),
                    ", ".join(fmt_seconds(s) for s in cold.app_seconds),
                ],
                *(
                    [
                        [
                            "`import app` (api handler), tracing on too",
                            fmt_seconds(median(cold.traced_seconds)),
                            ", ".join(fmt_seconds(s) for s in cold.traced_seconds),
                        ]
                    ]
                    if cold.traced_seconds
                    else []
                ),
                [
                    "`import boto3`",
                    fmt_seconds(median(cold.boto3_seconds)),
                    ", ".join(fmt_seconds(s) for s in cold.boto3_seconds),
                ],
                ["ratio, metrics on", f"{cold.ratio:.2f}x", ""],
                *(
                    [["ratio, tracing on", f"{cold.traced_ratio:.2f}x", ""]]
                    if cold.traced_ratio is not None
                    else []
                ),
            ],
        ),
        "",
        f"Importing the handler {'imports' if cold.imports_boto3 else 'does not import'} "
        "boto3. Where the time goes, metrics on (`python -X importtime`, one run):",
        "",
        *table(
            ["Direct import of `app`", "Cumulative"],
            [[f"`{c.name}`", f"{c.cumulative_ms:.0f} ms"] for c in cold.direct_imports],
        ),
        "",
        *table(
            ["Package (own time of all its modules)", "Self"],
            [[f"`{c.name}`", f"{c.self_ms:.0f} ms"] for c in cold.packages],
        ),
        "",
    ]


def memory_section(results: Results) -> list[str]:
    memory = results.memory
    if memory is None:
        return []
    how = "VmHWM after resetting it" if memory.exact else "VmRSS sampled every 5 ms"
    return [
        "## Peak memory",
        "",
        f"A cold import of the {results.options['tags']}-tag repository (default settings) "
        "in a fresh Python process that also holds moto, the tables and both handlers: "
        "the figure is an upper bound for one Lambda process, which holds neither moto "
        "nor the other handler (nor, when the import fans out, the other worker "
        f"environments running at once here). Peak measured as {how}.",
        "",
        *table(
            ["What", "RSS"],
            [
                [
                    "before the import (moto, tables, handlers loaded)",
                    f"{memory.baseline_mib:.0f} MiB",
                ],
                ["peak during the import", f"{memory.peak_mib:.0f} MiB"],
                ["growth during the import", f"{memory.peak_mib - memory.baseline_mib:.0f} MiB"],
                ["worker MemorySize (template)", f"{results.worker_memory_mb} MB"],
                ["api MemorySize (template)", f"{results.api_memory_mb} MB"],
            ],
        ),
        "",
    ]


def to_json(results: Results) -> dict[str, Any]:
    """The raw figures, with the derived ones the report states."""
    document = asdict(results)
    document["targets"] = [asdict(target) for target in targets(results)]
    document["ratios"] = {
        "cold": results.ratio(results.cold_runs) if results.cold_runs else None,
        "warm": results.ratio(results.warm_runs) if results.warm_runs else None,
        "fanout": results.ratio(results.fanout_runs) if results.fanout_runs else None,
        "cold_start": results.cold_start.ratio if results.cold_start else None,
        "cold_start_traced": results.cold_start.traced_ratio if results.cold_start else None,
    }
    network = results.network
    if network is not None and network.skopeo_seconds:
        document["ratios"].update(
            network_cold=network.ratio(network.cold_runs) if network.cold_runs else None,
            network_warm=network.ratio(network.warm_runs) if network.warm_runs else None,
            network_fanout=network.ratio(network.fanout_runs) if network.fanout_runs else None,
        )
    document["supported_parallelism"] = (
        supported_parallelism(network.curve) if network is not None else None
    )
    return document

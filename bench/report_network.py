"""The report's sections on what a user sees across a network and on a first run.

This module owns the Markdown of the runs through the latency proxy and its
concurrency curve, the failing targets' diagnoses, the answer size and the
fresh clone; it measures nothing and reads only a :class:`bench.suite.Results`.
"""

from __future__ import annotations

from bench.comparison import comparison_rows, import_kinds
from bench.cpu import CpuUse
from bench.markdown import fmt_bytes, fmt_seconds, table
from bench.network import CURVE_TOLERANCE, slowdowns, supported_parallelism
from bench.suite import Results


def cpu_cell(cpu: CpuUse) -> str:
    return f"{cpu.own:.1f} s / {cpu.registry:.1f} s / {cpu.proxy:.2f} s"


def network_section(results: Results) -> list[str]:
    network = results.network
    if network is None:
        return []
    delay = f"{network.delay * 1000:.0f} ms"
    tags = results.options["tags"]
    skopeo_cpu = network.skopeo_cpu[-1] if network.skopeo_cpu else CpuUse()
    rows = comparison_rows(
        f"skopeo inspect per tag, {network.skopeo_parallelism} at a time",
        network.skopeo_seconds,
        f"{skopeo_cpu.children:.1f} s (skopeo) / {skopeo_cpu.registry:.1f} s"
        f" / {skopeo_cpu.proxy:.2f} s",
        import_kinds(
            network.cold_runs,
            network.warm_runs,
            network.fanout_runs,
            f"{results.worker_concurrency} worker invocations at once",
        ),
        cpu_cell,
    )
    return [
        f"## Across a network: through a {delay} latency proxy",
        "",
        f"The same {tags} tags, every request through a proxy (`testkit/proxy.py`, a "
        f"process of its own, kept-alive connections, a thread per connection) that holds "
        f"it {delay} before forwarding it to the loopback registry: a registry {delay} away. "
        "The peer is `skopeo inspect` per tag through the same proxy, "
        f"{network.skopeo_parallelism} at a time, in the same run. Imports use the "
        "settings as deployed; a 202 is drained by the worker at the template's "
        f"`MaximumConcurrency` ({results.worker_concurrency}), each invocation in an "
        "execution environment of its own; locally they share one Python process (one "
        "interpreter lock) and this machine's CPUs with everything else, where deployed "
        "each has a Lambda environment of its own, so the local fan-out time is an upper "
        "bound. CPU (last run): this process (handlers, "
        "their threads, moto; or the skopeo processes) / the registry / the proxy.",
        "",
        *table(
            [
                "What",
                "Median",
                "Runs",
                "Answer",
                "Tags inline / via worker",
                "CPU: client / registry / proxy",
                "Speed-up vs skopeo",
            ],
            rows,
        ),
        "",
        *curve_section(results),
        *diagnosis_section(results),
    ]


def curve_section(results: Results) -> list[str]:
    network = results.network
    if network is None or not network.curve:
        return []
    delays = sorted({point.delay for point in network.curve})
    values = sorted({point.parallelism for point in network.curve})
    found = slowdowns(network.curve)
    rows = []
    for parallelism in values:
        row = [f"`IMPORT_PARALLELISM={parallelism}`"]
        for delay in delays:
            point = network.point(delay, parallelism)
            if point is None:
                row.append("")
                continue
            cell = fmt_seconds(point.run.seconds)
            if point.run.status == 202:
                cell += f" (202, {point.run.worker_invocations} invocations)"
            cpu = point.run.cpu
            if cpu is not None:
                cell += f"; proxy CPU {cpu.proxy:.2f} s"
            row.append(cell)
        slowdown = found.get(parallelism)
        row.append(f"{slowdown:.2f}x" if slowdown is not None else "")
        rows.append(row)
    supported = supported_parallelism(network.curve)
    default = results.settings.get("IMPORT_PARALLELISM", "?")
    verdict = (
        f"The curve supports `IMPORT_PARALLELISM={supported}`: the smallest mean slowdown "
        f"over the delays, or the smallest value within {CURVE_TOLERANCE:.0%} of it (fewer "
        "connections per registry for the same time)."
        if supported is not None
        else "The curve is incomplete: no value was measured at every delay."
    )
    return [
        "### Concurrency curve",
        "",
        f"A cold import of the {results.options['tags']} tags, one run per cell, through "
        "the proxy at each delay, with each parallelism and every other setting as "
        "deployed. A 202 means the api handed the rest to the worker within its budget. "
        "The last column is each row's wall time over the fastest row's at the same "
        "delay, averaged over the delays. One run per cell on a shared machine: read the "
        "trend, not a single cell.",
        "",
        *table(
            ["", *[f"{delay * 1000:.0f} ms" for delay in delays], "Mean slowdown vs fastest"],
            rows,
        ),
        "",
        f"{verdict} The default is `IMPORT_PARALLELISM={default}` (`config.py`, `template.yaml`).",
        "",
    ]


def diagnosis_section(results: Results) -> list[str]:
    if not results.diagnoses:
        return []
    lines = ["### Why the failing targets fail", ""]
    for found in results.diagnoses:
        lines += [
            f"**{found.kind.capitalize()} import, {found.ratio:.2f}x of {found.target:.0f}x.** "
            f"Run again through the proxy with every thread sampled: {found.reason}",
            "",
            "Thread samples: "
            + "; ".join(f"{state} {share:.0%}" for state, share in found.states.items())
            + ". Where the CPU this process used went (each thread's own CPU clock, charged to "
            "the stack each sample found it in; the benchmark's own frames left out):",
            "",
            *table(
                [
                    "CPU: innermost function",
                    "Share",
                    "Anywhere on the stack",
                    "Share",
                ],
                [
                    [f"`{a.name}`", f"{a.share:.0%}", f"`{b.name}`", f"{b.share:.0%}"]
                    for a, b in zip(found.leaves, found.anywhere, strict=False)
                ],
            ),
            "",
        ]
    return lines


def answer_section(results: Results) -> list[str]:
    answer = results.answer_size
    if answer is None:
        return []
    limit = answer.limit_bytes
    rows = [
        [
            f"POST answer ({answer.post_status}, {answer.post_tags} images)",
            fmt_bytes(answer.post_bytes),
            fmt_bytes(answer.post_gzip_bytes),
            fmt_bytes(answer.post_response_bytes),
        ],
        [
            f"the completed import read back (GET, {answer.tags} images)",
            fmt_bytes(answer.read_bytes),
            fmt_bytes(answer.read_gzip_bytes),
            fmt_bytes(answer.read_response_bytes),
        ],
    ]
    plain = (
        f"A client that does not accept gzip gets a {answer.plain_status} for the same read "
        f"({fmt_bytes(answer.plain_response_bytes)} of function response)"
        + (
            ": the answer says how large it would be and to send `Accept-Encoding: gzip`."
            if answer.plain_status == 413
            else "."
        )
    )
    return [
        "## Answer size",
        "",
        f"A repository of {answer.tags} realistic images pushed beside the other: "
        f"{answer.layers} layers each, {answer.labels} labels and {answer.environment} "
        "environment variables in each config, every tag its own config. A cold import "
        "with default settings from a client that accepts gzip. Lambda counts the "
        "function's response (a gzip'd body in base64, in its JSON envelope) against "
        f"{limit / 1024 / 1024:.0f} MB ({limit:,} bytes).",
        "",
        *table(["Answer", "Raw JSON", "gzip'd", "Function response"], rows),
        "",
        plain,
        "",
    ]


def fresh_clone_section(results: Results) -> list[str]:
    clone = results.fresh_clone
    if clone is None:
        return []
    cache = "with the machine's pip cache" if clone.pip_cache else "without a pip cache"
    if clone.first_answer_seconds is None:
        outcome = [f"No figure: {clone.failure}"]
    else:
        outcome = table(
            ["What", "Time"],
            [
                ["`git clone` and checkout", fmt_seconds(clone.clone_seconds)],
                [
                    "`make run`: virtualenv and install",
                    fmt_seconds(clone.install_seconds) if clone.install_seconds else "?",
                ],
                [
                    f"`make run` until the first answer ({clone.answer_status})",
                    fmt_seconds(clone.first_answer_seconds),
                ],
            ],
        )
    tools = ", ".join(clone.development_tools) or "none"
    return [
        "## Fresh clone: time to the first answer",
        "",
        f"`git clone` of commit {clone.commit} into a scratch directory, then `make run` "
        f"there ({cache}, from the package index; no virtualenv or `PYTHONPATH` of the "
        "calling shell), timed until the local server answers an authenticated list of "
        "the `demo` namespace's image streams.",
        "",
        *outcome,
        "",
        f"`make run` installed {len(clone.packages)} distributions; development tools "
        f"among them: {tools}.",
        "",
    ]

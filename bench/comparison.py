"""The rows of a wall-time table against skopeo: the peer's row, then one per import kind.

This module owns how a comparison row reads (median, runs, answer, where the
tags were imported, CPU, speed-up); the loopback and the network sections
both write their tables with it. It measures nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bench.cpu import CpuUse
from bench.fixtures import median
from bench.imports import FANOUT_INLINE_FRACTION, ImportRun
from bench.markdown import fmt_seconds


def import_kinds(
    cold: Sequence[ImportRun],
    warm: Sequence[ImportRun],
    fanout: Sequence[ImportRun],
    at_once: str,
) -> list[tuple[str, Sequence[ImportRun]]]:
    """The three import kinds compared, labelled; ``at_once`` says how the fan-out ran."""
    return [
        ("cold import, default settings", cold),
        ("warm re-import, default settings", warm),
        (
            f"cold import, forced fan-out (`INLINE_FRACTION={FANOUT_INLINE_FRACTION}`, {at_once})",
            fanout,
        ),
    ]


def comparison_rows(
    skopeo_label: str,
    skopeo_seconds: Sequence[float],
    skopeo_cpu: str,
    kinds: Sequence[tuple[str, Sequence[ImportRun]]],
    cpu_cell: Callable[[CpuUse], str],
) -> list[list[str]]:
    """skopeo's row (when it ran), then a row per import kind that ran, its speed-up beside it."""
    rows: list[list[str]] = []
    if skopeo_seconds:
        rows.append(
            [
                skopeo_label,
                fmt_seconds(median(skopeo_seconds)),
                ", ".join(fmt_seconds(s) for s in skopeo_seconds),
                "",
                "",
                skopeo_cpu,
                "1x",
            ]
        )
    for label, runs in kinds:
        if not runs:
            continue
        last = runs[-1]
        via_worker = last.tags_done - min(last.inline_tags, last.tags_done)
        seconds = median([run.seconds for run in runs])
        rows.append(
            [
                label,
                fmt_seconds(seconds),
                ", ".join(fmt_seconds(run.seconds) for run in runs),
                str(last.status),
                f"{last.inline_tags} / {via_worker}"
                + (f" ({last.worker_invocations} invocations)" if last.worker_invocations else ""),
                cpu_cell(last.cpu) if last.cpu else "",
                f"{median(skopeo_seconds) / seconds:.2f}x" if skopeo_seconds else "",
            ]
        )
    return rows

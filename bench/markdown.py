"""How the report writes figures: durations, rates, sizes, verdicts, Markdown tables.

This module owns formatting only; it knows nothing of what was measured.
"""

from __future__ import annotations

from collections.abc import Sequence


def fmt_seconds(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


def fmt_rate(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") if value else "0"


def fmt_bytes(size: int) -> str:
    """Bytes in MB (10^6) or kB, with the exact count."""
    if size >= 1_000_000:
        return f"{size / 1_000_000:.2f} MB ({size:,} bytes)"
    return f"{size / 1000:.1f} kB ({size:,} bytes)"


def verdict(ok: bool | None) -> str:
    """pass, FAIL, or (None) a figure with no target to hold it to."""
    if ok is None:
        return "reported (no target)"
    return "**pass**" if ok else "**FAIL**"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines

"""Reading the metrics a handler printed: CloudWatch embedded metric format on stdout.

Tests capture stdout (``capsys``), and :func:`read_emf` keeps the lines that
are EMF documents, checks each against the format (namespace, dimensions
present, at most 100 values a metric) and answers totals by metric and
dimensions, so a test states what a path emits in a few lines.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from imagestreams.observability import emitted

UNITS = {"Count", "Milliseconds", "Seconds"}
# Powertools' own, emitted once per process: not what a path emits.
IGNORED = {"ColdStart"}


@dataclass
class Emitted:
    """Every metric of some EMF documents, by name and dimensions (``service`` left out)."""

    documents: list[dict[str, Any]]
    values: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def total(self, name: str, **dimensions: str) -> float:
        """The sum of ``name`` over every series whose dimensions include ``dimensions``."""
        wanted = set(dimensions.items())
        return sum(
            sum(values)
            for (metric, dims), values in self.values.items()
            if metric == name and wanted <= set(dims)
        )

    def samples(self, name: str, **dimensions: str) -> list[float]:
        wanted = set(dimensions.items())
        return [
            value
            for (metric, dims), values in self.values.items()
            if metric == name and wanted <= set(dims)
            for value in values
        ]

    def counts(self) -> dict[str, float]:
        """Count metrics summed, keyed ``Name`` or ``Name{dim=value,...}``."""
        totals: dict[str, float] = defaultdict(float)
        for (name, dims), values in self.values.items():
            key = name + ("{" + ",".join(f"{k}={v}" for k, v in dims) + "}" if dims else "")
            totals[key] += sum(values)
        return dict(totals)


def check_document(document: dict[str, Any]) -> None:
    """Fail unless ``document`` is a well-formed EMF document of this service."""
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == os.environ["POWERTOOLS_METRICS_NAMESPACE"]
    assert isinstance(document["_aws"]["Timestamp"], int)
    (dimensions,) = directive["Dimensions"]
    assert "service" in dimensions
    assert len(dimensions) <= 30
    for name in dimensions:
        assert isinstance(document[name], str), name
        assert document[name], name
    for metric in directive["Metrics"]:
        assert metric["Unit"] in UNITS, metric
        value = document[metric["Name"]]
        values = value if isinstance(value, list) else [value]
        assert 1 <= len(values) <= 100, metric


def read_emf(stdout: str) -> Emitted:
    """The EMF documents among the lines of ``stdout``, checked and indexed."""
    documents = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        check_document(document)
        documents.append(document)
    result = Emitted(documents)
    for name, dimensions, _unit, values in emitted(documents):
        if name in IGNORED:
            continue
        dims = tuple(sorted((k, v) for k, v in dimensions.items() if k != "service"))
        result.values[(name, dims)].extend(values)
    return result

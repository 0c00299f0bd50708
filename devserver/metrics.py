"""How the local server shows the metrics the functions emit.

Deployed, a handler's ``@metrics.log_metrics`` prints CloudWatch EMF
documents on stdout for CloudWatch to read. Locally they would be long JSON
lines among the logs, so by default each invocation's documents become one
line instead, named after the function::

    metrics ApiFunction: Imports{operation=import}=1 TagsImported{operation=import}=1
    CacheMisses=1 RegistryRequests{kind=manifest-get}=1 RegistryLatency{kind=manifest-get}=12ms ...

``DEVSERVER_METRICS`` chooses: ``summary`` (the default), ``emf`` (the
documents as emitted) or ``off``. The function's name comes from
:func:`invoked_as`, which the execution environment
(:mod:`devserver.environment`) wraps around each invocation; invocations of
several functions at once share the process's metrics, so a line may hold
what another function recorded meanwhile.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from imagestreams.observability import EmfDocument, emitted, invocation_metrics, print_documents

VARIABLE = "DEVSERVER_METRICS"
MODES = ("summary", "emf", "off")
UNITS = {"Milliseconds": "ms", "Seconds": "s"}

_function: contextvars.ContextVar[str] = contextvars.ContextVar("devserver_function", default="")


@contextmanager
def invoked_as(function_id: str) -> Iterator[None]:
    """Name the function whose invocation runs in the block, for its metrics line."""
    token = _function.set(function_id)
    try:
        yield
    finally:
        _function.reset(token)


def summary(documents: Sequence[EmfDocument]) -> str:
    """Every metric of ``documents`` on one line: counts summed, timings averaged."""
    parts = []
    for name, dimensions, unit, values in emitted(documents):
        shown = {k: v for k, v in dimensions.items() if k != "service"}
        key = name + ("{" + ",".join(f"{k}={v}" for k, v in shown.items()) + "}" if shown else "")
        if unit == "Count":
            parts.append(f"{key}={sum(values):g}")
            continue
        suffix = UNITS.get(unit, f" {unit}")
        average = sum(values) / len(values)
        many = f" (mean of {len(values)})" if len(values) > 1 else ""
        parts.append(f"{key}={average:.0f}{suffix}{many}")
    return " ".join(parts)


def output(mode: str, write: Callable[[str], None]) -> Callable[[Sequence[EmfDocument]], None]:
    """Where flushed documents go in ``mode``; ``write`` prints a line."""
    if mode == "emf":
        return print_documents

    def summarize(documents: Sequence[EmfDocument]) -> None:
        if mode == "off" or not documents:
            return
        function = _function.get() or "function"
        write(f"metrics {function}: {summary(documents)}")

    return summarize


def install(environ: Mapping[str, str], write: Callable[[str], None]) -> str:
    """Show metrics as ``DEVSERVER_METRICS`` says; the mode, for the banner."""
    mode = environ.get(VARIABLE, "summary").strip().lower() or "summary"
    if mode not in MODES:
        raise ValueError(f"{VARIABLE} must be one of {', '.join(MODES)}, not {mode!r}")
    invocation_metrics.output = output(mode, write)
    return mode

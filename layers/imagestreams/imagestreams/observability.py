"""Powertools Logger, Metrics and Tracer for the whole package, from one module.

Logs: a fixed message and structured fields; never a credential, token or
``Authorization`` header.

Metrics: one Powertools ``Metrics`` whose provider, :class:`InvocationMetrics`,
keeps what an invocation records (thread-safe: imports record from their
threads), aggregated by dimension set: counts summed, other units kept as
values. The handler's ``@metrics.log_metrics`` flushes them when the
invocation ends, as CloudWatch embedded metric format (EMF) documents on
stdout: one per dimension set, at most 100 values of a metric each. No API
call, no I/O before the flush, and emitting never fails an invocation: what
cannot be emitted is logged and dropped. The namespace is Powertools'
``POWERTOOLS_METRICS_NAMESPACE``, read at the flush rather than at import.
Which metrics there are, and their dimensions, is ``imagestreams.telemetry``'s.

Tracing: :data:`tracer` builds Powertools' ``Tracer`` on first use, and only
when tracing is on (``POWERTOOLS_TRACE_DISABLED`` false, inside Lambda), so
when it is off ``aws_xray_sdk`` is never imported and a subsegment costs a
flag check. When on, the handler is a subsegment, so is every registry
exchange (``registry.transport``) and every store call (the adapters are
:meth:`LazyTracer.trace_methods` classes), and AWS SDK calls are traced as
X-Ray's botocore patch does.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics.functions import (
    is_metrics_disabled,
    resolve_cold_start_function_name,
)
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.constants import MAX_METRICS
from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import strtobool

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

SERVICE = "imagestreams"
COUNT = "Count"
# AWS services and libraries X-Ray patches when tracing is on: the AWS SDK's
# calls (DynamoDB, SQS, Secrets Manager, ECR). Registry requests get
# subsegments of their own at the transport, one per exchange.
PATCHED_MODULES = ("botocore",)

T = TypeVar("T")
R = TypeVar("R")

logger = Logger(service=SERVICE)

EmfDocument = dict[str, Any]
Output = Callable[[Sequence[EmfDocument]], None]
Dimensions = tuple[tuple[str, str], ...]


def print_documents(documents: Sequence[EmfDocument]) -> None:
    """Powertools' way: one compact JSON document a line on stdout, for CloudWatch Logs."""
    for document in documents:
        print(json.dumps(document, separators=(",", ":")))


@dataclass
class _Series:
    """One metric of one dimension set: a running sum (counts) or its values."""

    unit: str
    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        if self.unit == COUNT and self.values:
            self.values[0] += value
        else:
            self.values.append(value)


class InvocationMetrics(AmazonCloudWatchEMFProvider):
    """Powertools' EMF provider, grouping one invocation's metrics by their dimensions.

    ``record`` adds a value under a dimension set of its own; Powertools'
    ``add_metric`` (no dimension but ``service``) lands in the same store.
    ``output`` is where flushed documents go (stdout unless replaced, as the
    local server does to summarize them).
    """

    def __init__(self, service: str = SERVICE, output: Output | None = None) -> None:
        # The namespace is read at each flush: the environment may be set after import.
        super().__init__(namespace=None, service=service)
        self.output: Output = output or print_documents
        self._lock = threading.Lock()
        self._series: dict[Dimensions, dict[str, _Series]] = {}
        self._named: dict[str, set[str]] = {}

    # --- recording ---------------------------------------------------------

    def record(self, name: str, unit: str, value: float, dimensions: Mapping[str, str]) -> None:
        """Add ``value`` to metric ``name`` of the dimension set ``dimensions``."""
        key = tuple(sorted(dimensions.items()))
        with self._lock:
            metrics = self._series.setdefault(key, {})
            series = metrics.get(name)
            if series is None:
                series = metrics[name] = _Series(unit)
            series.add(float(value))

    def bounded(self, dimension: str, value: str, limit: int) -> str:
        """``value`` if among the first ``limit`` of ``dimension`` this invocation, else "other"."""
        with self._lock:
            named = self._named.setdefault(dimension, set())
            if value in named:
                return value
            if len(named) < limit:
                named.add(value)
                return value
        return "other"

    def add_metric(self, name: str, unit: Any, value: float, resolution: Any = 60) -> None:
        """Powertools' ``Metrics.add_metric``: a metric of no dimension of its own."""
        self.record(name, str(getattr(unit, "value", unit)), value, {})

    def add_cold_start_metric(self, context: Any) -> None:
        """Powertools' ``ColdStart`` metric, by function name, flushed with the rest."""
        name = resolve_cold_start_function_name(function_name=self.function_name, context=context)
        self.record("ColdStart", COUNT, 1, {"function_name": name})

    def recorded(self) -> dict[Dimensions, dict[str, list[float]]]:
        """What was recorded since the last flush (for inspection; nothing is reset)."""
        with self._lock:
            return {
                dims: {name: list(series.values) for name, series in metrics.items()}
                for dims, metrics in self._series.items()
            }

    def clear_metrics(self) -> None:
        with self._lock:
            self._series = {}
            self._named = {}
        super().clear_metrics()

    # --- flushing ----------------------------------------------------------

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        """Emit the invocation's documents and start afresh; never raises."""
        with self._lock:
            series, self._series, self._named = self._series, {}, {}
        if not series:
            return
        try:
            if is_metrics_disabled():
                return
            namespace = os.getenv(constants.METRICS_NAMESPACE_ENV)
            if not namespace:
                logger.warning(
                    "metrics not emitted: no namespace", variable="POWERTOOLS_METRICS_NAMESPACE"
                )
                return
            self.output(self.documents(namespace, series))
        except Exception as error:
            logger.warning("metrics not emitted", error_type=type(error).__name__)

    def documents(
        self, namespace: str, series: Mapping[Dimensions, Mapping[str, _Series]]
    ) -> list[EmfDocument]:
        """The EMF documents of ``series``: one per dimension set and 100 values a metric."""
        self.namespace = namespace
        documents = []
        for dims, metrics in sorted(series.items()):
            dimensions = {"service": str(self.service or SERVICE), **dict(dims)}
            rounds = max(len(s.values) for s in metrics.values())
            for start in range(0, rounds, MAX_METRICS):
                chunk = {
                    name: {
                        "Unit": s.unit,
                        "StorageResolution": 60,
                        "Value": s.values[start : start + MAX_METRICS],
                    }
                    for name, s in sorted(metrics.items())
                    if s.values[start : start + MAX_METRICS]
                }
                documents.append(
                    dict(
                        self.serialize_metric_set(metrics=chunk, dimensions=dimensions, metadata={})
                    )
                )
        return documents


invocation_metrics = InvocationMetrics()
metrics = Metrics(provider=invocation_metrics)


# --- tracing ---------------------------------------------------------------


def tracing_requested() -> bool:
    """Powertools' rule: on unless ``POWERTOOLS_TRACE_DISABLED``, and only inside Lambda."""
    if strtobool(os.getenv(constants.TRACER_DISABLED_ENV, "false")):
        return False
    in_lambda = bool(os.getenv(constants.LAMBDA_TASK_ROOT_ENV))
    emulated = bool(os.getenv(constants.SAM_LOCAL_ENV) or os.getenv(constants.CHALICE_LOCAL_ENV))
    return in_lambda and not emulated


_NO_SUBSEGMENT: AbstractContextManager[Any] = nullcontext()
_UNDECIDED: Any = object()


class LazyTracer:
    """Powertools' ``Tracer``, built on first use and only when tracing is on."""

    def __init__(self, service: str = SERVICE) -> None:
        self._service = service
        self._lock = threading.Lock()
        self._tracer: Any = _UNDECIDED
        self._handlers: dict[int, tuple[Any, Callable[..., Any]]] = {}

    def tracer(self) -> Tracer | None:
        """The Tracer, or None when tracing is off (decided once, at the first call)."""
        current = self._tracer
        if current is not _UNDECIDED:
            return current  # type: ignore[no-any-return]
        with self._lock:
            if self._tracer is _UNDECIDED:
                self._tracer = self._build() if tracing_requested() else None
            return self._tracer  # type: ignore[no-any-return]

    def _build(self) -> Tracer | None:
        try:
            from aws_lambda_powertools import Tracer
        except ImportError:  # pragma: no cover - the layer ships aws-xray-sdk
            return None
        try:
            return Tracer(service=self._service, patch_modules=PATCHED_MODULES)
        except ImportError as error:
            logger.warning("tracing off: the X-Ray SDK is missing", error_type=type(error).__name__)
            return None

    def reset(self) -> None:
        """Decide again at the next use (tests, a changed environment)."""
        with self._lock:
            self._tracer = _UNDECIDED
            self._handlers = {}

    @property
    def enabled(self) -> bool:
        return self.tracer() is not None

    def capture_lambda_handler(self, handler: Callable[[Any, Any], R]) -> Callable[[Any, Any], R]:
        """Powertools' ``capture_lambda_handler`` when tracing is on; the handler as is when off.

        Responses are not captured as trace metadata: an api answer may be
        megabytes, far past what a segment carries.
        """

        @functools.wraps(handler)
        def run(event: Any, context: Any) -> R:
            tracer = self.tracer()
            if tracer is None:
                return handler(event, context)
            known = self._handlers.get(id(handler))
            if known is None or known[0] is not tracer:
                known = (tracer, tracer.capture_lambda_handler(handler, capture_response=False))
                self._handlers[id(handler)] = known
            result: R = known[1](event, context)
            return result

        return run

    def subsegment(self, name: str) -> AbstractContextManager[Any]:
        """A subsegment named ``name`` around a block; a no-op when tracing is off.

        The block gets the subsegment (None when off), for :func:`annotate`.
        """
        tracer = self.tracer()
        if tracer is None:
            return _NO_SUBSEGMENT
        return tracer.provider.in_subsegment(name)

    def carried(self, work: Callable[[T], R]) -> Callable[[T], R]:
        """``work`` for another thread: its subsegments join the caller's trace entity."""
        tracer = self.tracer()
        if tracer is None:
            return work
        provider: Any = tracer.provider
        entity = provider.get_trace_entity()

        def run(item: T) -> R:
            provider.set_trace_entity(entity)
            return work(item)

        return run

    def trace_methods(self, prefix: str) -> Callable[[type[T]], type[T]]:
        """A class decorator: each public method of the class is a subsegment ``prefix.method``."""

        def decorate(cls: type[T]) -> type[T]:
            for name, member in list(vars(cls).items()):
                if name.startswith("_") or not inspect.isfunction(member):
                    continue
                if inspect.isgeneratorfunction(member):
                    continue
                setattr(cls, name, self._traced(f"{prefix}.{name}", member))
            return cls

        return decorate

    def _traced(self, name: str, method: Callable[..., R]) -> Callable[..., R]:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> R:
            if self.tracer() is None:
                return method(*args, **kwargs)
            with self.subsegment(name):
                return method(*args, **kwargs)

        return call


def annotate(subsegment: Any, **values: str | int | float | bool) -> None:
    """Annotations on a subsegment from :meth:`LazyTracer.subsegment` (nothing when off)."""
    if subsegment is None:
        return
    for key, value in values.items():
        subsegment.put_annotation(key, value)


tracer = LazyTracer()


def emitted(
    documents: Sequence[EmfDocument],
) -> Iterator[tuple[str, dict[str, str], str, list[float]]]:
    """(metric, dimensions, unit, values) of each metric of EMF ``documents``."""
    for document in documents:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            names = [name for dims in directive["Dimensions"] for name in dims]
            dimensions = {name: str(document[name]) for name in names}
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                values = value if isinstance(value, list) else [value]
                yield metric["Name"], dimensions, metric["Unit"], [float(v) for v in values]

"""The service's metrics: what is measured, in the domain's words, and the recorder.

Owns the catalogue (:data:`CATALOGUE`: every metric's name, unit,
dimensions and when it is emitted; the README's "Operating it" section lists
the same) and :class:`Telemetry`, the recorder the composition root builds
once per execution environment and hands to what measures: the registry
transport, the import session, the use cases and the authorizer. It records
into a :class:`MetricsSink` (``observability.metrics.provider`` when
deployed; a test may pass its own), never raises and does no I/O: the
handler's ``@metrics.log_metrics`` emits what an invocation recorded when it
ends. The pure modules (the reference grammar, streams, image conversion,
credentials) know nothing of it.

Dimensions stay bounded: operations, request kinds, triggers and decisions
are closed sets of this code; a failure reason is the ``Status`` reason
OpenShift reports (anything unexpected is ``Other``); a registry host is
named only for the first :data:`MAX_NAMED_HOSTS` hosts an invocation meets,
the rest count as ``other``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    # Only a type: the authorizer records its decisions without importing the models.
    from imagestreams.models import ImageImportStatus

COUNT = "Count"
MILLISECONDS = "Milliseconds"
SECONDS = "Seconds"

# Registry hosts named per invocation; any further host is "other".
MAX_NAMED_HOSTS = 5
OTHER = "Other"

Operation = Literal["import", "job", "reimport", "write"]
"""What ran an import: a POST (``import``), a job's chunk (``job``), a
re-import message (``reimport``), an ImageStream or ImageStreamTag write (``write``)."""

RequestKind = Literal["ping", "token", "manifest-head", "manifest-get", "blob-get", "tag-list"]
Decision = Literal["allow", "deny", "error"]

# The reasons of the per-image failure statuses (``imports.statuses``).
REASONS = frozenset({"NotFound", "Unauthorized", "Forbidden", "TooManyRequests", "InternalError"})


@dataclass(frozen=True)
class Metric:
    """One metric as CloudWatch shows it (besides the ``service`` dimension of every one)."""

    name: str
    unit: str
    dimensions: tuple[str, ...]
    emitted: str


IMPORTS = Metric("Imports", COUNT, ("operation",), "each import run")
TAGS_IMPORTED = Metric(
    "TagsImported", COUNT, ("operation",), "each tag (or image) imported and recorded"
)
TAGS_FAILED = Metric(
    "TagsFailed", COUNT, ("operation", "reason"), "each tag whose import failed and was recorded"
)
CACHE_HITS = Metric("CacheHits", COUNT, (), "each image the image cache served")
CACHE_MISSES = Metric("CacheMisses", COUNT, (), "each image fetched and converted instead")
REGISTRY_REQUESTS = Metric(
    "RegistryRequests", COUNT, ("kind",), "each registry exchange (retries and redirects in it)"
)
REGISTRY_LATENCY = Metric(
    "RegistryLatency", MILLISECONDS, ("kind",), "each registry exchange, retries included"
)
REGISTRY_RETRIES = Metric("RegistryRetries", COUNT, ("host",), "each registry request retried")
REGISTRY_THROTTLES = Metric("RegistryThrottles", COUNT, ("host",), "each 429 a registry answered")
JOBS_STARTED = Metric("JobsStarted", COUNT, (), "a POST that left tags to an import job")
JOBS_COMPLETED = Metric("JobsCompleted", COUNT, (), "the worker that completes a job")
JOB_DURATION = Metric("JobDuration", SECONDS, (), "a job's completion, from its POST")
CHUNKS_DEAD_LETTERED = Metric(
    "ChunksDeadLettered", COUNT, ("operation",), "a message failing on its last delivery"
)
REIMPORTS_QUEUED = Metric("ReimportsQueued", COUNT, ("trigger",), "each stream tag queued")
REIMPORT_TAGS_CHANGED = Metric(
    "ReimportTagsChanged", COUNT, (), "each tag a re-import changed (a new image or condition)"
)
AUTHORIZATIONS = Metric("Authorizations", COUNT, ("decision",), "each authorizer invocation")

CATALOGUE: tuple[Metric, ...] = (
    IMPORTS,
    TAGS_IMPORTED,
    TAGS_FAILED,
    CACHE_HITS,
    CACHE_MISSES,
    REGISTRY_REQUESTS,
    REGISTRY_LATENCY,
    REGISTRY_RETRIES,
    REGISTRY_THROTTLES,
    JOBS_STARTED,
    JOBS_COMPLETED,
    JOB_DURATION,
    CHUNKS_DEAD_LETTERED,
    REIMPORTS_QUEUED,
    REIMPORT_TAGS_CHANGED,
    AUTHORIZATIONS,
)


class MetricsSink(Protocol):
    """Where metrics go: Powertools Metrics through ``observability`` when deployed."""

    def record(self, name: str, unit: str, value: float, dimensions: Mapping[str, str]) -> None:
        """Add ``value`` to metric ``name`` under ``dimensions``."""
        ...

    def bounded(self, dimension: str, value: str, limit: int) -> str:
        """``value`` if among the first ``limit`` of ``dimension`` this invocation, else "other"."""
        ...


def failure_reason(status: ImageImportStatus) -> str:
    """A failed status's reason, from the closed set of :data:`REASONS` (else ``Other``)."""
    reason = status.status.reason or ""
    return reason if reason in REASONS else OTHER


class Telemetry:
    """Records what the service does into a sink; without one, records nothing."""

    def __init__(self, sink: MetricsSink | None = None, *, max_hosts: int = MAX_NAMED_HOSTS):
        self._sink = sink
        self._max_hosts = max_hosts

    def _record(self, metric: Metric, value: float, **dimensions: str) -> None:
        if self._sink is None:
            return
        try:
            self._sink.record(metric.name, metric.unit, value, dimensions)
        except Exception:  # a metric is never worth a failed request
            return

    def _host(self, host: str) -> str:
        if self._sink is None:
            return host
        try:
            return self._sink.bounded("host", host, self._max_hosts)
        except Exception:
            return "other"

    # --- imports -----------------------------------------------------------

    def imported(self, operation: Operation, statuses: Iterable[ImageImportStatus]) -> None:
        """One import run and the tags it recorded: imported, or failed by reason."""
        self._record(IMPORTS, 1, operation=operation)
        self.recorded(operation, statuses)

    def recorded(self, operation: Operation, statuses: Iterable[ImageImportStatus]) -> None:
        """Tags recorded as imported, or failed by reason."""
        imported = 0
        failed: Counter[str] = Counter()
        for status in statuses:
            if status.status.is_success:
                imported += 1
            else:
                failed[failure_reason(status)] += 1
        if imported:
            self._record(TAGS_IMPORTED, imported, operation=operation)
        for reason, count in sorted(failed.items()):
            self._record(TAGS_FAILED, count, operation=operation, reason=reason)

    def cache_lookup(self, hit: bool) -> None:
        """An image looked up in the cache: served from it, or fetched instead."""
        self._record(CACHE_HITS if hit else CACHE_MISSES, 1)

    # --- registries --------------------------------------------------------

    def registry_request(self, kind: RequestKind, seconds: float) -> None:
        """One registry exchange of ``kind`` and how long it took, retries included."""
        self._record(REGISTRY_REQUESTS, 1, kind=kind)
        # Microseconds are plenty, and keep the log lines short.
        self._record(REGISTRY_LATENCY, round(seconds * 1000, 3), kind=kind)

    def registry_retry(self, host: str) -> None:
        self._record(REGISTRY_RETRIES, 1, host=self._host(host))

    def registry_throttled(self, host: str) -> None:
        self._record(REGISTRY_THROTTLES, 1, host=self._host(host))

    # --- jobs and queues ---------------------------------------------------

    def job_started(self) -> None:
        self._record(JOBS_STARTED, 1)

    def job_completed(self, seconds: float) -> None:
        self._record(JOBS_COMPLETED, 1)
        self._record(JOB_DURATION, round(max(0.0, seconds), 3))

    def dead_lettered(self, operation: Operation) -> None:
        """A queued message failed its last delivery: SQS moves it to the dead-letter queue."""
        self._record(CHUNKS_DEAD_LETTERED, 1, operation=operation)

    def reimports_queued(self, trigger: str, tags: int) -> None:
        """Stream tags queued for re-import: by schedule, ecr-push or distribution-push."""
        self._record(REIMPORTS_QUEUED, tags, trigger=trigger)

    def reimport_changed(self, tags: int) -> None:
        if tags:
            self._record(REIMPORT_TAGS_CHANGED, tags)

    # --- the authorizer ----------------------------------------------------

    def authorization(self, decision: Decision) -> None:
        self._record(AUTHORIZATIONS, 1, decision=decision)


NO_TELEMETRY = Telemetry()
"""Records nothing: the default of what may be built without the composition root."""

"""What several use cases share: options, time budgets, spec tag lookups and redelivery."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from imagestreams import streams
from imagestreams.deadline import Deadline
from imagestreams.imports.importer import Importer
from imagestreams.imports.outcomes import Outcome
from imagestreams.imports.plan import TagAnnotations
from imagestreams.imports.session import Fetcher
from imagestreams.imports.statuses import is_retryable
from imagestreams.usecases.ports import PullSecrets, StreamStore

# Time kept back from the Lambda deadline to store and write the response.
RESPONSE_RESERVE = 3.0


@dataclass(frozen=True)
class Options:
    """Deployment settings the use cases follow."""

    time_budget: float = 20.0
    default_import_mode: str = "Legacy"
    max_tag_history: int = streams.DEFAULT_MAX_HISTORY
    inline_fraction: float = 0.6
    worker_time_budget: float = 600.0
    chunk_max_receives: int = 3
    reimports_per_second: float = 1.0


def now() -> datetime:
    """The use cases' clock: the time now, in UTC."""
    return datetime.now(UTC)


def budget(limit: float, remaining_seconds: float) -> float:
    """Seconds of importing: at most ``limit``, and the invocation's time less a reserve."""
    return max(0.5, min(limit, remaining_seconds - RESPONSE_RESERVE))


def fetcher(
    importer: Importer, pull_secrets: PullSecrets, namespace: str, seconds: float
) -> Fetcher:
    """The registry session of one import in ``namespace``, bounded to ``seconds``."""
    return importer.fetcher(pull_secrets.for_namespace(namespace), Deadline.after(seconds))


def spec_tag_annotations(store: StreamStore, namespace: str, name: str) -> TagAnnotations:
    """The annotations of the stream's spec tags, each tag read once and only when asked for.

    The importer asks only when a manifest list leaves it a choice, so most
    imports read nothing.
    """

    @functools.cache
    def lookup(tag: str) -> Mapping[str, str]:
        state = store.get_tags(namespace, name, [tag]).get(tag)
        return dict(state.spec.annotations or {}) if state and state.spec else {}

    return lookup


@dataclass(frozen=True)
class Delivery:
    """One delivery of a queued message: on the last, retryable failures are final.

    Before the last delivery, an outcome that met a retryable error (throttling,
    an outage) is left out, and the message fails so the queue delivers it
    again; on the last it is kept as the failure it is.
    """

    receive_count: int
    max_receives: int

    @property
    def last(self) -> bool:
        return self.receive_count >= self.max_receives

    def kept(self, outcomes: Sequence[Outcome]) -> tuple[list[Outcome], int]:
        """The outcomes to record now, and how many met retryable errors."""
        retry = sum(1 for o in outcomes if is_retryable(o.error))
        return [o for o in outcomes if self.last or not is_retryable(o.error)], retry

"""Image streams in DynamoDB: the ``StreamStore`` port over the streams table.

This module owns :class:`DynamoStreamStore`, the one store callers build,
and how it is put together from parts that each own some items of the table
(laid out by ``stream_items``):

- ``stream_metas`` (mixed in): one meta item per stream; an import takes
  the stream's next generation from one atomic ``UpdateItem``; creation,
  update, listing and deletion (with every item of the stream);
- ``stream_tags`` (mixed in): one item per tag, written read-modify-write
  with a condition on ``version`` and retried, only when its JSON changed;
  the tracking and schedule indexes;
- ``stream_images`` (mixed in): the images tagged into a stream, once per
  digest, for ``ImageStreamTag`` and ``ImageStreamImage`` to show;
- ``stream_versions`` (an object the others share): the resource versions
  that order every change of every stream for watches, and the tombstones
  deletions leave for them.

The store takes and gives the domain's
:class:`~imagestreams.streams.StreamMeta` and
:class:`~imagestreams.streams.TagState`; what a state means is
``imagestreams.streams``'s business. Import documents live in
``imports_store``. Logs name streams and tags, never item contents.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from imagestreams.adapters.dynamo import Backoff, ClientFactory, Sleeper
from imagestreams.adapters.stream_images import StreamImages
from imagestreams.adapters.stream_metas import StreamMetas
from imagestreams.adapters.stream_tags import TAG_BACKOFF, StreamTags
from imagestreams.adapters.stream_versions import (
    RETENTION_SECONDS,
    SETTLE_SECONDS,
    StreamVersions,
)
from imagestreams.observability import tracer
from imagestreams.usecases.ports import StreamChange, TagDeletion

__all__ = ["DynamoStreamStore"]


@tracer.trace_methods("streams")
class DynamoStreamStore(StreamMetas, StreamTags, StreamImages):
    """Stream meta, tag states and images in the streams table.

    ``client_factory`` builds the DynamoDB client on first use; ``sleep`` is
    what retries wait with, and ``max_attempts`` bounds the optimistic
    retries of :meth:`update_tag`.
    """

    what = "stream store"

    def __init__(
        self,
        table_name: str,
        *,
        client_factory: ClientFactory | None = None,
        sleep: Sleeper = time.sleep,
        max_attempts: int = 20,
        backoff: Backoff = TAG_BACKOFF,
        clock: Callable[[], float] = time.time,
        settle: float = SETTLE_SECONDS,
        retention: int = RETENTION_SECONDS,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        super().__init__(table_name, client_factory, sleep)
        self._max_attempts = max_attempts
        self._backoff = backoff
        # The counter shares the store's client (and its check of the table name).
        self._versions = StreamVersions(
            table_name, self._db, sleep, clock=clock, settle=settle, retention=retention
        )

    # --- versions ------------------------------------------------------------

    def settled_version(self) -> int:
        return self._versions.settled_version()

    def oldest_version(self) -> int:
        return self._versions.oldest_version()

    def changes(self, namespace: str | None, after: int, upto: int) -> list[StreamChange]:
        return self._versions.changes(namespace, after, upto)

    def deleted_tags(self, namespace: str, after: int, upto: int) -> list[TagDeletion]:
        return self._versions.deleted_tags(namespace, after, upto)

"""The image cache: converted images by manifest digest, in DynamoDB.

This adapter owns the cache table's items: key ``digest`` (S), the cached
document as gzip'd JSON in ``doc`` (B), and ``expiresAt`` (N, epoch seconds),
the table's TTL attribute. Entries are content-addressed, so one entry
serves every repository and namespace; serving an entry only to callers
whose own registry request succeeded is the importer's business, not this
module's.

- Reads skip expired entries (DynamoDB deletes them only eventually) and
  extend the life of an entry only once half its TTL has passed, so warm
  reads stay reads.
- A document too large for an item loses its raw ``dockerImageManifest`` and
  ``dockerImageConfig`` strings; if it is still too large it is not cached.
- The cache is an optimization: DynamoDB failures are logged (digest counts
  and AWS error codes only) and read as misses or skipped writes, never
  raised.

It knows nothing of what a document means and never logs one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from imagestreams.adapters.dynamo import (
    MAX_BATCH_GET,
    MAX_BATCH_WRITE,
    Backoff,
    ClientFactory,
    DynamoDBClient,
    LazyClient,
    Sleeper,
    batch_get,
    batch_write,
    chunked,
    compress_json,
    decompress_json,
    default_client,
    error_code,
    is_condition_failure,
)
from imagestreams.errors import ServiceUnavailableError

__all__ = ["MAX_DOC_BYTES", "RAW_FIELDS", "ImageCache"]

logger = Logger(child=True)

# An item may hold 400 KB; the rest is room for the key and the TTL.
MAX_DOC_BYTES = 350 * 1024
# Raw manifest and config JSON, kept only when they fit (an import with
# includeManifest then fetches them from the registry again).
RAW_FIELDS = ("dockerImageManifest", "dockerImageConfig")

_FAILURES = (ClientError, BotoCoreError, ServiceUnavailableError)


class ImageCache:
    """Cached documents by manifest digest, with a time to live.

    An empty ``table_name`` is a cache that holds nothing (a deployment
    without the table still imports, only without the shortcut).
    ``client_factory`` builds the DynamoDB client on first use; ``clock``
    (epoch seconds) and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        table_name: str,
        *,
        ttl_seconds: int,
        client_factory: ClientFactory | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Sleeper = time.sleep,
        max_doc_bytes: int = MAX_DOC_BYTES,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._table = table_name
        self._ttl = int(ttl_seconds)
        self._client: LazyClient[DynamoDBClient] = LazyClient(client_factory or default_client)
        self._clock = clock
        self._sleep = sleep
        self._max_doc_bytes = max_doc_bytes
        self._backoff = Backoff()

    def get_many(self, digests: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The live cached documents of ``digests``; absent digests are misses."""
        wanted = list(dict.fromkeys(d for d in digests if d))
        if not wanted or not self._table:
            return {}
        now = self._clock()
        found: dict[str, dict[str, Any]] = {}
        stale: list[str] = []
        for chunk in chunked(wanted, MAX_BATCH_GET):
            try:
                items = batch_get(
                    self._client(),
                    self._table,
                    [{"digest": {"S": digest}} for digest in chunk],
                    projection="#digest, #doc, #expires",
                    names={"#digest": "digest", "#doc": "doc", "#expires": "expiresAt"},
                    sleep=self._sleep,
                    backoff=self._backoff,
                )
            except _FAILURES as exc:
                logger.warning(
                    "image cache read failed",
                    digests=len(chunk),
                    error_code=error_code(exc) or type(exc).__name__,
                )
                continue
            for item in items:
                digest = item["digest"]["S"]
                expires = int(item["expiresAt"]["N"]) if "expiresAt" in item else None
                if expires is not None and expires < now:
                    continue
                try:
                    document = decompress_json(item["doc"]["B"])
                except (KeyError, ValueError, OSError, EOFError):
                    logger.warning("image cache entry unreadable", digest=digest)
                    continue
                if not isinstance(document, dict):
                    logger.warning("image cache entry unreadable", digest=digest)
                    continue
                found[digest] = document
                if expires is None or expires - now < self._ttl / 2:
                    stale.append(digest)
        for digest in stale:
            self._refresh(digest, now)
        return found

    def put_many(self, entries: Mapping[str, Mapping[str, Any]]) -> None:
        """Cache ``entries`` (digest -> document) for the TTL from now."""
        if not entries or not self._table:
            return
        expires = str(int(self._clock()) + self._ttl)
        requests: list[dict[str, Any]] = []
        for digest, document in entries.items():
            blob = self._fitting_blob(digest, document)
            if blob is None:
                continue
            item = {"digest": {"S": digest}, "doc": {"B": blob}, "expiresAt": {"N": expires}}
            requests.append({"PutRequest": {"Item": item}})
        for chunk in chunked(requests, MAX_BATCH_WRITE):
            try:
                batch_write(
                    self._client(), self._table, chunk, sleep=self._sleep, backoff=self._backoff
                )
            except _FAILURES as exc:
                logger.warning(
                    "image cache write failed",
                    digests=len(chunk),
                    error_code=error_code(exc) or type(exc).__name__,
                )

    def _fitting_blob(self, digest: str, document: Mapping[str, Any]) -> bytes | None:
        blob = compress_json(document)
        if len(blob) <= self._max_doc_bytes:
            return blob
        blob = compress_json(_without_raw_fields(document))
        if len(blob) <= self._max_doc_bytes:
            return blob
        logger.warning("image too large to cache", digest=digest, compressed_bytes=len(blob))
        return None

    def _refresh(self, digest: str, now: float) -> None:
        """Extend an entry's life; the condition keeps a deleted entry deleted."""
        try:
            self._client().update_item(
                TableName=self._table,
                Key={"digest": {"S": digest}},
                UpdateExpression="SET #expires = :expires",
                ConditionExpression="attribute_exists(#digest)",
                ExpressionAttributeNames={"#expires": "expiresAt", "#digest": "digest"},
                ExpressionAttributeValues={":expires": {"N": str(int(now) + self._ttl)}},
            )
        except _FAILURES as exc:
            if not is_condition_failure(exc):
                logger.warning(
                    "image cache refresh failed",
                    digest=digest,
                    error_code=error_code(exc) or type(exc).__name__,
                )


def _without_raw_fields(value: Any) -> Any:
    """``value`` without :data:`RAW_FIELDS` in any object, at any depth (a copy)."""
    if isinstance(value, Mapping):
        return {k: _without_raw_fields(v) for k, v in value.items() if k not in RAW_FIELDS}
    if isinstance(value, list):
        return [_without_raw_fields(v) for v in value]
    return value

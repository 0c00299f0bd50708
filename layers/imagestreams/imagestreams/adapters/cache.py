"""The image cache: converted images by manifest digest and source, in DynamoDB.

This adapter owns the cache table's items: key ``digest`` (S, hash) and
``source`` (S, range: ``<registry host>/<repository>`` the image was verified
at), the cached document as gzip'd JSON in ``doc`` (B), and ``expiresAt``
(N, epoch seconds), the table's TTL attribute. An entry serves only the
repository it was fetched from; which caller may be served it is the
importer's business, not this module's.

- Reads skip expired entries (DynamoDB deletes them only eventually) and
  extend the life of an entry only once half its TTL has passed, so warm
  reads stay reads.
- An image is stored as its OpenShift JSON; one too large for an item loses
  its raw ``dockerImageManifest`` and ``dockerImageConfig`` strings, and if
  it is still too large it is not cached. An entry that no longer reads as an
  ``Image`` is a miss.
- The cache is an optimization: DynamoDB failures are logged (digest counts
  and AWS error codes only) and read as misses or skipped writes, never
  raised.

It never logs an image's content.
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
from imagestreams.imports.session import CacheKey
from imagestreams.models import Image
from imagestreams.observability import tracer

__all__ = ["MAX_DOC_BYTES", "DynamoImageCache"]

logger = Logger(child=True)

# An item may hold 400 KB; the rest is room for the key and the TTL.
MAX_DOC_BYTES = 350 * 1024
_FAILURES = (ClientError, BotoCoreError, ServiceUnavailableError)


@tracer.trace_methods("image-cache")
class DynamoImageCache:
    """Cached images by manifest digest and source repository, with a time to live.

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

    def get_many(self, keys: Sequence[CacheKey]) -> dict[CacheKey, Image]:
        """The live cached images of ``keys``; absent keys are misses."""
        wanted = list(dict.fromkeys(k for k in keys if k.digest and k.source))
        if not wanted or not self._table:
            return {}
        now = self._clock()
        found: dict[CacheKey, Image] = {}
        stale: list[CacheKey] = []
        for chunk in chunked(wanted, MAX_BATCH_GET):
            try:
                # Whole items: an entry has no attribute but these four, and a
                # projection of all of them reads (and costs) the same.
                items = batch_get(
                    self._client(),
                    self._table,
                    [_item_key(key) for key in chunk],
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
                key = CacheKey(item["source"]["S"], item["digest"]["S"])
                expires = int(item["expiresAt"]["N"]) if "expiresAt" in item else None
                if expires is not None and expires < now:
                    continue
                try:
                    # A pydantic ValidationError is a ValueError.
                    image = Image.model_validate(decompress_json(item["doc"]["B"]))
                except (KeyError, ValueError, OSError, EOFError):
                    logger.warning("image cache entry unreadable", digest=key.digest)
                    continue
                found[key] = image
                if expires is None or expires - now < self._ttl / 2:
                    stale.append(key)
        for key in stale:
            self._refresh(key, now)
        return found

    def put_many(self, entries: Mapping[CacheKey, Image]) -> None:
        """Cache ``entries`` for the TTL from now."""
        if not entries or not self._table:
            return
        expires = str(int(self._clock()) + self._ttl)
        requests: list[dict[str, Any]] = []
        for key, image in entries.items():
            blob = self._fitting_blob(key.digest, image)
            if blob is None:
                continue
            item = {**_item_key(key), "doc": {"B": blob}, "expiresAt": {"N": expires}}
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

    def _fitting_blob(self, digest: str, image: Image) -> bytes | None:
        blob = compress_json(image.to_json_dict())
        if len(blob) <= self._max_doc_bytes:
            return blob
        # Raw manifest and config are kept only when they fit: an import with
        # includeManifest then fetches them from the registry again.
        trimmed = image.model_copy(update={"docker_image_manifest": "", "docker_image_config": ""})
        blob = compress_json(trimmed.to_json_dict())
        if len(blob) <= self._max_doc_bytes:
            return blob
        logger.warning("image too large to cache", digest=digest, compressed_bytes=len(blob))
        return None

    def _refresh(self, key: CacheKey, now: float) -> None:
        """Extend an entry's life; the condition keeps a deleted entry deleted."""
        try:
            self._client().update_item(
                TableName=self._table,
                Key=_item_key(key),
                UpdateExpression="SET #expires = :expires",
                ConditionExpression="attribute_exists(#digest)",
                ExpressionAttributeNames={"#expires": "expiresAt", "#digest": "digest"},
                ExpressionAttributeValues={":expires": {"N": str(int(now) + self._ttl)}},
            )
        except _FAILURES as exc:
            if not is_condition_failure(exc):
                logger.warning(
                    "image cache refresh failed",
                    digest=key.digest,
                    error_code=error_code(exc) or type(exc).__name__,
                )


def _item_key(key: CacheKey) -> dict[str, Any]:
    return {"digest": {"S": key.digest}, "source": {"S": key.source}}

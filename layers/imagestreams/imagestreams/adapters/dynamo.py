"""DynamoDB plumbing shared by the stores: clients, batches, pages and compression.

This module owns how the adapters talk to DynamoDB in bulk and nothing about
what they store:

- one client per store, built on first use by a factory (no I/O at import or
  construction time) and shared by threads (boto3 clients are thread-safe);
- ``BatchGetItem`` in requests of at most 100 keys and ``BatchWriteItem`` in
  requests of at most 25 items, resubmitting what DynamoDB leaves unprocessed:
  at once while it makes progress, with jittered exponential backoff when it
  makes none, and :class:`~imagestreams.errors.ServiceUnavailableError` when
  the attempts run out;
- ``Query`` pagination; gzip'd JSON for large attributes; AWS error codes.

Items are low-level attribute maps (``{"S": ...}``, ``{"N": "12"}``), so
numbers stay exact strings and never pass through floats. Table layouts
belong to the stores; this module never logs item contents.
"""

from __future__ import annotations

import gzip
import json
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from botocore.config import Config
from botocore.exceptions import ClientError

from imagestreams.adapters import aws
from imagestreams.errors import ServiceUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
else:
    DynamoDBClient = Any

__all__ = [
    "CONDITION_FAILED",
    "MAX_BATCH_GET",
    "MAX_BATCH_WRITE",
    "Backoff",
    "ClientFactory",
    "DynamoDBClient",
    "Item",
    "LazyClient",
    "Sleeper",
    "TableStore",
    "batch_get",
    "batch_write",
    "chunked",
    "compress_json",
    "decompress_json",
    "default_client",
    "error_code",
    "is_condition_failure",
    "query_all",
]

MAX_BATCH_GET = 100
MAX_BATCH_WRITE = 25
CONDITION_FAILED = "ConditionalCheckFailedException"

Item = dict[str, Any]
ClientFactory = Callable[[], "DynamoDBClient"]
Sleeper = Callable[[float], None]

_T = TypeVar("_T")
_C = TypeVar("_C")


def default_client() -> DynamoDBClient:
    """A DynamoDB client with short timeouts and the SDK's standard retries.

    The SDK's own check of every request's parameters is off: the stores
    build them, DynamoDB checks them again, and on a batch of a hundred
    items the check is a good share of the request's CPU.
    """
    config = Config(
        connect_timeout=2,
        read_timeout=10,
        retries={"max_attempts": 5, "mode": "standard"},
        parameter_validation=False,
    )
    client: DynamoDBClient = aws.client("dynamodb", config=config)
    return client


class LazyClient(Generic[_C]):
    """Builds its client on the first call, once, and returns it ever after."""

    def __init__(self, factory: Callable[[], _C]) -> None:
        self._factory = factory
        self._client: _C | None = None
        self._lock = threading.Lock()

    def __call__(self) -> _C:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._factory()
                client = self._client
        return client


class TableStore:
    """Base of the stores kept in one table: its name, checked on use, and a lazy client.

    The name is checked when the store is used, not when it is built, so a
    deployment without the table still serves what does not need it.
    """

    #: How error messages name the store.
    what = "store"

    def __init__(
        self, table_name: str, client_factory: ClientFactory | None, sleep: Sleeper
    ) -> None:
        self._table = table_name
        self._client: LazyClient[DynamoDBClient] = LazyClient(client_factory or default_client)
        self._sleep = sleep

    def _db(self) -> DynamoDBClient:
        if not self._table:
            raise ValueError(f"the {self.what} has no table name")
        return self._client()


@dataclass(frozen=True)
class Backoff:
    """Full-jitter exponential backoff: attempt ``n`` waits up to ``base * 2**n``."""

    base: float = 0.05
    cap: float = 2.0
    attempts: int = 8

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2 ** min(attempt, 30)))


def chunked(values: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    """``values`` in consecutive slices of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError``, else None."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        return code if isinstance(code, str) else None
    return None


def is_condition_failure(exc: BaseException) -> bool:
    return error_code(exc) == CONDITION_FAILED


def batch_get(
    client: DynamoDBClient,
    table: str,
    keys: Sequence[Mapping[str, Any]],
    *,
    projection: str | None = None,
    names: Mapping[str, str] | None = None,
    consistent: bool = False,
    sleep: Sleeper = time.sleep,
    backoff: Backoff = Backoff(),
) -> list[Item]:
    """The items of ``keys`` that exist, in no particular order.

    ``keys`` must not repeat a key (DynamoDB rejects such a request).
    """
    found: list[Item] = []
    for chunk in chunked(keys, MAX_BATCH_GET):
        request: dict[str, Any] = {"Keys": list(chunk), "ConsistentRead": consistent}
        if projection:
            request["ProjectionExpression"] = projection
        if names:
            request["ExpressionAttributeNames"] = dict(names)
        pending: dict[str, Any] = {table: request}
        idle = 0
        while pending:
            response = client.batch_get_item(RequestItems=pending)
            returned = response.get("Responses", {}).get(table, [])
            found.extend(returned)
            left: dict[str, Any] = dict(response.get("UnprocessedKeys") or {})
            pending = left if left.get(table, {}).get("Keys") else {}
            if not pending:
                break
            # Partial answers (the 16 MB response cap) go on at once; no progress
            # at all is throttling, which needs time.
            idle = 0 if returned else idle + 1
            if idle >= backoff.attempts:
                raise ServiceUnavailableError(
                    "the store is too busy to read the requested items; try again later"
                )
            if idle:
                sleep(backoff.delay(idle))
    return found


def batch_write(
    client: DynamoDBClient,
    table: str,
    requests: Sequence[Mapping[str, Any]],
    *,
    sleep: Sleeper = time.sleep,
    backoff: Backoff = Backoff(),
) -> None:
    """Apply ``PutRequest``/``DeleteRequest`` entries, 25 per call, until all are done.

    Each entry is applied atomically; the whole is not. ``requests`` must not
    name an item twice.
    """
    for chunk in chunked(requests, MAX_BATCH_WRITE):
        pending: dict[str, Any] = {table: list(chunk)}
        attempt = 0
        while True:
            sent = len(pending[table])
            response = client.batch_write_item(RequestItems=pending)
            left = (response.get("UnprocessedItems") or {}).get(table) or []
            if not left:
                break
            attempt = 0 if len(left) < sent else attempt + 1
            if attempt >= backoff.attempts:
                raise ServiceUnavailableError(
                    "the store is too busy to write the requested items; try again later"
                )
            if attempt:
                sleep(backoff.delay(attempt))
            pending = {table: list(left)}


def query_all(client: DynamoDBClient, **params: Any) -> Iterator[Item]:
    """Every item a ``Query`` matches, following ``LastEvaluatedKey``."""
    while True:
        response = client.query(**params)
        yield from response.get("Items", [])
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        params["ExclusiveStartKey"] = last


def compress_json(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON, gzip'd (deterministic: no timestamp)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)


def decompress_json(blob: bytes) -> Any:
    """What :func:`compress_json` compressed."""
    return json.loads(gzip.decompress(blob).decode("utf-8"))

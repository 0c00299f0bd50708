"""The import queue in SQS: chunks of an import job, sent in batches.

This adapter owns how :class:`~imagestreams.imports.jobs.ChunkMessage` bodies reach
the queue: ``SendMessageBatch`` calls of at most
:data:`~imagestreams.imports.jobs.MAX_BATCH_ENTRIES` entries (entry id = the chunk
number), entries SQS fails for its own reasons sent again with jittered
backoff, and :class:`~imagestreams.errors.ServiceUnavailableError` when some
still fail. Entries SQS refuses as the sender's fault are never retried.

The client is built on first use, never at import or construction time.
What a message means, and who receives it, is the worker's business. Logs
name jobs and counts, never message bodies.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.config import Config

from imagestreams.adapters import aws
from imagestreams.adapters.dynamo import Backoff, LazyClient, Sleeper
from imagestreams.errors import ServiceUnavailableError
from imagestreams.imports.jobs import MAX_BATCH_ENTRIES, ChunkMessage
from imagestreams.observability import tracer
from imagestreams.reimports import Planned

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient
else:
    SQSClient = Any

__all__ = ["QueueClientFactory", "SqsImportQueue", "default_sqs_client"]

logger = Logger(child=True)

QueueClientFactory = Callable[[], "SQSClient"]
# A send happens while an API request waits: a few quick retries only.
_SEND_BACKOFF = Backoff(base=0.05, cap=1.0, attempts=4)


def default_sqs_client() -> SQSClient:
    """An SQS client with short timeouts and the SDK's standard retries."""
    config = Config(
        connect_timeout=2,
        read_timeout=5,
        retries={"max_attempts": 3, "mode": "standard"},
    )
    client: SQSClient = aws.client("sqs", config=config)
    return client


def _describe_chunk(job: str, entry_id: str) -> str:
    return f"chunk {entry_id} of job {job}"


def _batches(messages: Sequence[ChunkMessage]) -> Iterator[list[ChunkMessage]]:
    """At most ten messages per batch, no entry id twice in one batch."""
    batch: list[ChunkMessage] = []
    ids: set[int] = set()
    for message in messages:
        if len(batch) >= MAX_BATCH_ENTRIES or message.chunk in ids:
            yield batch
            batch, ids = [], set()
        batch.append(message)
        ids.add(message.chunk)
    if batch:
        yield batch


@tracer.trace_methods("import-queue")
class SqsImportQueue:
    """Sends chunks of import jobs to the queue at ``queue_url``.

    ``client_factory`` builds the SQS client on first use; ``sleep`` is what
    retries wait with.
    """

    def __init__(
        self,
        queue_url: str,
        *,
        client_factory: QueueClientFactory | None = None,
        sleep: Sleeper = time.sleep,
        backoff: Backoff = _SEND_BACKOFF,
    ) -> None:
        self._url = queue_url
        self._client: LazyClient[SQSClient] = LazyClient(client_factory or default_sqs_client)
        self._sleep = sleep
        self._backoff = backoff

    def _sqs(self) -> SQSClient:
        # Checked on use, not construction: a deployment without the queue
        # still serves imports that fit inline.
        if not self._url:
            raise ValueError("the import queue has no URL")
        return self._client()

    def send(self, messages: Sequence[ChunkMessage]) -> None:
        """Send every chunk, ten per call.

        Raises :class:`ServiceUnavailableError` when SQS keeps failing some
        entries, and ``ValueError`` when it refuses one as invalid (too
        large, say): neither is retried by the caller with any hope.
        """
        for batch in _batches(messages):
            self._send_batch(
                {str(m.chunk): (m.body(), 0) for m in batch},
                functools.partial(_describe_chunk, batch[0].job_id),
            )
        if messages:
            logger.debug("import chunks queued", job=messages[0].job_id, chunks=len(messages))

    def send_reimports(self, planned: Sequence[Planned]) -> None:
        """Send re-import messages, each held back by its planned delay; ten per call."""
        for start in range(0, len(planned), MAX_BATCH_ENTRIES):
            part = planned[start : start + MAX_BATCH_ENTRIES]
            self._send_batch(
                {str(i): (p.message.body(), p.delay) for i, p in enumerate(part)},
                lambda entry_id: f"re-import {entry_id}",
            )
        if planned:
            logger.info("re-imports queued", messages=len(planned))

    def _send_batch(
        self, pending: dict[str, tuple[str, int]], describe: Callable[[str], str]
    ) -> None:
        attempt = 0
        while True:
            response = self._sqs().send_message_batch(
                QueueUrl=self._url,
                Entries=[
                    {"Id": entry_id, "MessageBody": body, "DelaySeconds": delay}
                    for entry_id, (body, delay) in pending.items()
                ],
            )
            failed = response.get("Failed") or []
            if not failed:
                return
            refused = [entry for entry in failed if entry.get("SenderFault")]
            if refused:
                entry = refused[0]
                raise ValueError(
                    f"the import queue refused {describe(entry['Id'])}: {entry.get('Code')}"
                )
            progress = len(failed) < len(pending)
            pending = {entry["Id"]: pending[entry["Id"]] for entry in failed}
            attempt = 0 if progress else attempt + 1
            if attempt >= self._backoff.attempts:
                logger.warning(
                    "messages not queued", first=describe(next(iter(pending))), count=len(pending)
                )
                raise ServiceUnavailableError(
                    "the import queue is not accepting messages; try again later"
                )
            self._sleep(self._backoff.delay(attempt))

"""SQS entry point: import the chunks of tags an API request queued.

Thin by design: Powertools batch processing parses each record into a
:class:`ChunkMessage` and reports failed records back to SQS
(``ReportBatchItemFailures``), so only those are delivered again; the work
itself is ``ImportJobs.process_chunk``.
"""

# No ``from __future__ import annotations`` here: pydantic must see the
# record model's types when the class is created, and Lambda (like the local
# server) loads this file as a module that is not importable by name.
from typing import Annotated, Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field, Json

from imagestreams import bootstrap
from imagestreams.imports.jobs import ChunkMessage
from imagestreams.observability import logger, metrics, tracer
from imagestreams.reimports import ReimportMessage


class ChunkRecord(SqsRecordModel):
    """An SQS record: a chunk of an import job, or a re-import of some stream tags."""

    body: Json[Annotated[ChunkMessage | ReimportMessage, Field(discriminator="kind")]]


processor = BatchProcessor(event_type=EventType.SQS, model=ChunkRecord)


def record_handler(record: ChunkRecord, lambda_context: LambdaContext) -> None:
    """Import one chunk; raising marks the record failed so SQS delivers it again."""
    receive_count = int(record.attributes.ApproximateReceiveCount)
    remaining = lambda_context.get_remaining_time_in_millis() / 1000
    message = record.body
    if isinstance(message, ReimportMessage):
        logger.append_keys(namespace=message.namespace, stream=message.name)
        bootstrap.container().reimport().process(message, receive_count, remaining)
        return
    logger.append_keys(job=message.job_id, chunk=message.chunk)
    bootstrap.container().import_jobs().process_chunk(message, receive_count, remaining)


@bootstrap.settled
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Process a batch of import-queue records, reporting partial failures."""
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )

"""Lambda's SQS event source, emulated: events, one batch delivered and settled.

- :func:`sqs_event` turns received messages into the event a function gets
  from an SQS event source mapping.
- :func:`deliver` invokes a function with one batch and settles it the way
  the event source does: every record is deleted after a success, only the
  ones named in ``batchItemFailures`` stay when the function reports partial
  failures, and a function error (or a malformed response) keeps them all.
  Kept records become visible again after ``retry_after`` seconds (the
  deployed queue would wait out its visibility timeout; locally, retries
  should be quick). The queue's redrive policy applies on receive, so a
  record that keeps failing reaches the dead-letter queue.
- :func:`receive` and :func:`queue_depth` are the reads the pollers of
  :mod:`devserver.consumers` make, which run many such deliveries at once.

Receives never wait on the server (``WaitTimeSeconds=0``); an empty receive
waits on the client instead. The local AWS applies one request at a time, so
a server-side long poll would hold up every other request for its duration.
"""

from __future__ import annotations

import base64
import hashlib
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devserver.template import LOCAL_REGION

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient
else:
    SQSClient = Any

Invoke = Callable[[dict[str, Any]], Any]

# ReceiveMessage returns at most ten messages.
MAX_RECEIVE = 10
# The message counts that say whether anything is left on a queue.
_DEPTH_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


# --- Events ---------------------------------------------------------------


def sqs_event(
    messages: Sequence[Mapping[str, Any]], queue_arn: str, region: str = LOCAL_REGION
) -> dict[str, Any]:
    """The event an SQS event source mapping gives a function for ``messages``.

    ``messages`` are as ``ReceiveMessage`` returns them, received with every
    system attribute and message attribute.
    """
    return {"Records": [_record(message, queue_arn, region) for message in messages]}


def _record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    body = str(message.get("Body", ""))
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": {str(k): str(v) for k, v in (message.get("Attributes") or {}).items()},
        "messageAttributes": {
            str(name): _message_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record["md5OfBody"] = (
        message.get("MD5OfBody")
        or hashlib.md5(  # noqa: S324 - SQS's checksum
            body.encode("utf-8")
        ).hexdigest()
    )
    record["eventSource"] = "aws:sqs"
    record["eventSourceARN"] = queue_arn
    record["awsRegion"] = region
    return record


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """A message attribute as Lambda spells it: camelCase, binary values in base64."""
    attribute: dict[str, Any] = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = _base64(value["BinaryValue"])
    attribute["stringListValues"] = list(value.get("StringListValues") or [])
    attribute["binaryListValues"] = [_base64(v) for v in value.get("BinaryListValues") or []]
    attribute["dataType"] = value.get("DataType", "String")
    return attribute


def _base64(value: bytes | str) -> str:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return base64.b64encode(raw).decode("ascii")


class MalformedBatchResponseError(ValueError):
    """A function's response that Lambda reads as the failure of the whole batch."""


def failed_message_ids(
    result: Any, message_ids: Sequence[str], *, report_batch_item_failures: bool
) -> set[str]:
    """The records a function's ``result`` leaves on the queue, as Lambda reads it.

    Without ``ReportBatchItemFailures`` any result is a success. With it, no
    result, no list or an empty list is a success, and each
    ``batchItemFailures`` entry names one failed record. A result that is
    not an object, or an entry without a known, non-empty
    ``itemIdentifier``, raises :class:`MalformedBatchResponseError`: Lambda
    fails the whole batch then.
    """
    if not report_batch_item_failures or result is None:
        return set()
    if not isinstance(result, Mapping):
        raise MalformedBatchResponseError(f"the response is not an object: {result!r:.200}")
    failures = result.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        raise MalformedBatchResponseError(f"batchItemFailures is not a list: {failures!r:.200}")
    known = set(message_ids)
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not isinstance(identifier, str) or identifier not in known:
            raise MalformedBatchResponseError(
                f"batchItemFailures names no record of the batch: {failure!r:.200}"
            )
        failed.add(identifier)
    return failed


# --- Delivering a batch ---------------------------------------------------


@dataclass(frozen=True)
class QueueTarget:
    """Where records come from and how the function consumes them."""

    queue_url: str
    queue_arn: str
    region: str = LOCAL_REGION
    batch_size: int = MAX_RECEIVE
    report_batch_item_failures: bool = True
    # Seconds until a record left on the queue can be received again.
    retry_after: int = 1


@dataclass(frozen=True)
class BatchOutcome:
    """What became of one invocation's records."""

    deleted: tuple[str, ...]
    kept: tuple[str, ...]
    error: str | None = None


def deliver(
    client: SQSClient, target: QueueTarget, messages: Sequence[Mapping[str, Any]], invoke: Invoke
) -> BatchOutcome:
    """Invoke the function with ``messages`` (one batch), then settle them on the queue."""
    ids = [str(message["MessageId"]) for message in messages]
    event = sqs_event(messages, target.queue_arn, target.region)
    error: str | None = None
    try:
        result = invoke(event)
        failed = failed_message_ids(
            result, ids, report_batch_item_failures=target.report_batch_item_failures
        )
    except Exception as exc:
        error = "".join(traceback.format_exception(exc)).strip()
        failed = set(ids)
    handles = {str(m["MessageId"]): str(m["ReceiptHandle"]) for m in messages}
    deleted = [message_id for message_id in ids if message_id not in failed]
    kept = [message_id for message_id in ids if message_id in failed]
    if deleted:
        client.delete_message_batch(
            QueueUrl=target.queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": handles[m]} for i, m in enumerate(deleted)],
        )
    if kept:
        client.change_message_visibility_batch(
            QueueUrl=target.queue_url,
            Entries=[
                {
                    "Id": str(i),
                    "ReceiptHandle": handles[m],
                    "VisibilityTimeout": target.retry_after,
                }
                for i, m in enumerate(kept)
            ],
        )
    return BatchOutcome(tuple(deleted), tuple(kept), error)


def receive(client: SQSClient, queue_url: str, most: int = MAX_RECEIVE) -> list[Any]:
    """Up to ``most`` (at most ten) visible messages, with every attribute; no server wait."""
    response = client.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=max(1, min(most, MAX_RECEIVE)),
        WaitTimeSeconds=0,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    return list(response.get("Messages") or [])


def batches(messages: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``messages`` in batches of at most ``size``, in order."""
    for start in range(0, len(messages), max(1, size)):
        yield messages[start : start + max(1, size)]


def queue_depth(client: SQSClient, queue_url: str) -> int:
    """Messages visible, in flight or delayed (approximate, as SQS counts)."""
    response = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    attributes: Mapping[str, str] = {str(k): str(v) for k, v in response["Attributes"].items()}
    return sum(int(attributes.get(name, "0")) for name in _DEPTH_ATTRIBUTES)


def queue_arn(client: SQSClient, queue_url: str) -> str:
    attributes = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])

"""Lambda's SQS event source, emulated: receive, invoke, delete or leave for redelivery.

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
- :func:`drain` does that synchronously until the queue is empty, for tests.
- :class:`QueuePoller` does it in the background for ``python -m devserver``,
  one thread per queue event of the template's functions.

Receives never wait on the server (``WaitTimeSeconds=0``); an empty receive
waits on the client instead. The local AWS applies one request at a time, so
a server-side long poll would hold up every other request for its duration.
"""

from __future__ import annotations

import base64
import hashlib
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3

from devserver.gateway import LocalLambdaContext
from devserver.resources import QUEUE_TYPE, CreatedResources
from devserver.server import FunctionRuntime, Handler, load_handler
from devserver.template import (
    DEFAULT_STACK_NAME,
    LOCAL_REGION,
    FunctionSpec,
    Template,
    TemplateError,
)

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


def _receive(client: SQSClient, queue_url: str) -> list[Any]:
    response = client.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=MAX_RECEIVE,
        WaitTimeSeconds=0,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    return list(response.get("Messages") or [])


def _batches(messages: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
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


# --- Draining synchronously -----------------------------------------------


@dataclass
class DrainReport:
    """What :func:`drain` did; ``empty`` is whether it left nothing behind."""

    invocations: int = 0
    delivered: int = 0
    deleted: int = 0
    kept: int = 0
    receives: int = 0
    empty: bool = False
    errors: list[str] = field(default_factory=list)


def drain(
    queue_url: str,
    invoke: Invoke,
    *,
    client: SQSClient | None = None,
    region: str = LOCAL_REGION,
    batch_size: int = MAX_RECEIVE,
    report_batch_item_failures: bool = True,
    retry_after: int = 0,
    timeout: float = 30.0,
    max_receives: int = 1000,
    idle_wait: float = 0.05,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DrainReport:
    """Deliver the queue's messages to ``invoke`` until none is left, visible or in flight.

    ``invoke`` takes the event and returns the function's result (see
    :func:`invoker` to wrap a Lambda handler). Batches run one after
    another. Stops when the queue is empty (``report.empty``), after
    ``timeout`` seconds or after ``max_receives`` receives, whichever comes
    first. Records kept for redelivery are visible again after
    ``retry_after`` seconds (0: at once).
    """
    sqs = client or boto3.Session(region_name=region).client("sqs")
    target = QueueTarget(
        queue_url=queue_url,
        queue_arn=queue_arn(sqs, queue_url),
        region=region,
        batch_size=batch_size,
        report_batch_item_failures=report_batch_item_failures,
        retry_after=retry_after,
    )
    report = DrainReport()
    deadline = clock() + timeout
    while report.receives < max_receives and clock() < deadline:
        messages = _receive(sqs, queue_url)
        report.receives += 1
        if not messages:
            if queue_depth(sqs, queue_url) == 0:
                report.empty = True
                break
            sleep(idle_wait)  # in flight or delayed: wait until visible
            continue
        for batch in _batches(messages, target.batch_size):
            outcome = deliver(sqs, target, batch, invoke)
            report.invocations += 1
            report.delivered += len(batch)
            report.deleted += len(outcome.deleted)
            report.kept += len(outcome.kept)
            if outcome.error:
                report.errors.append(outcome.error)
    return report


def invoker(
    handler: Handler,
    *,
    function_name: str = "local-function",
    timeout_seconds: float = 120,
    memory_limit_in_mb: int = 1024,
) -> Invoke:
    """``handler`` as an :data:`Invoke`: each call gets a fresh Lambda context.

    No timeout is enforced (``FunctionRuntime.invoke`` does that); the
    context only counts down from ``timeout_seconds``.
    """

    def invoke(event: dict[str, Any]) -> Any:
        context = LocalLambdaContext(
            function_name=function_name,
            memory_limit_in_mb=memory_limit_in_mb,
            timeout_seconds=timeout_seconds,
        )
        return handler(event, context)

    return invoke


# --- Polling in the background --------------------------------------------


@dataclass(frozen=True)
class Subscription:
    """One queue event of one function, with the queue resolved."""

    function_id: str
    event_name: str
    queue_id: str
    target: QueueTarget
    max_concurrency: int


class QueuePoller:
    """Feeds every queue a template function has an SQS event for to that function.

    One thread per subscription receives up to ten messages, invokes the
    function with batches of its ``BatchSize`` (at most its
    ``MaximumConcurrency`` at once), settles them, and receives again;
    when the queue is empty it waits ``idle_wait`` seconds.
    """

    def __init__(
        self,
        subscriptions: Sequence[Subscription],
        runtimes: Mapping[str, FunctionRuntime],
        *,
        client_factory: Callable[[], SQSClient] | None = None,
        idle_wait: float = 0.25,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.subscriptions = list(subscriptions)
        self.runtimes = dict(runtimes)
        self._client_factory = client_factory or (
            lambda: boto3.Session(region_name=LOCAL_REGION).client("sqs")
        )
        self._idle_wait = idle_wait
        self._log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @classmethod
    def from_template(
        cls,
        template: Template,
        created: CreatedResources,
        *,
        concurrency: int = 4,
        stack_name: str = DEFAULT_STACK_NAME,
        loader: Callable[[FunctionSpec], Handler] = load_handler,
        retry_after: int = 2,
        **options: Any,
    ) -> QueuePoller:
        """Subscriptions for every enabled SQS event, on queues the template created.

        Each function runs at most ``concurrency`` copies, fewer if its
        event's ``MaximumConcurrency`` says so.
        """
        queues_by_arn = {
            created.attributes[(logical_id, "Arn")]: logical_id
            for logical_id in template.resources_of_type(QUEUE_TYPE)
            if (logical_id, "Arn") in created.attributes
        }
        values = created.intrinsics()
        subscriptions: list[Subscription] = []
        runtimes: dict[str, FunctionRuntime] = {}
        for spec in template.functions():
            events = [event for event in spec.queue_events if event.enabled]
            if not events:
                continue
            limits = [concurrency] + [
                e.maximum_concurrency for e in events if e.maximum_concurrency
            ]
            runtimes[spec.logical_id] = FunctionRuntime(
                spec, stack_name=stack_name, concurrency=min(limits), loader=loader
            )
            for event in events:
                arn = str(values.resolve(event.queue))
                queue_id = queues_by_arn.get(arn)
                if queue_id is None:
                    raise TemplateError(
                        f"{spec.logical_id}.{event.name}: {arn} is not a queue of the template"
                    )
                subscriptions.append(
                    Subscription(
                        function_id=spec.logical_id,
                        event_name=event.name,
                        queue_id=queue_id,
                        target=QueueTarget(
                            queue_url=str(created.refs[queue_id]),
                            queue_arn=arn,
                            batch_size=event.batch_size,
                            report_batch_item_failures=event.report_batch_item_failures,
                            retry_after=retry_after,
                        ),
                        max_concurrency=min(limits),
                    )
                )
        return cls(subscriptions, runtimes, **options)

    def warm(self) -> None:
        """Load each function once now, so import errors show at start."""
        for runtime in self.runtimes.values():
            runtime.warm()

    def start(self) -> None:
        for subscription in self.subscriptions:
            thread = threading.Thread(
                target=self._poll,
                args=(subscription,),
                name=f"poll-{subscription.queue_id}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop receiving; batches being processed finish first (up to ``timeout``)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def __enter__(self) -> QueuePoller:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _poll(self, subscription: Subscription) -> None:
        client = self._client_factory()
        runtime = self.runtimes[subscription.function_id]
        with ThreadPoolExecutor(
            max_workers=subscription.max_concurrency, thread_name_prefix=subscription.function_id
        ) as pool:
            while not self._stop.is_set():
                try:
                    messages = _receive(client, subscription.target.queue_url)
                except Exception as exc:
                    self._log(f"{subscription.queue_id}: receive failed: {exc}")
                    self._stop.wait(self._idle_wait * 4)
                    continue
                if not messages:
                    self._stop.wait(self._idle_wait)
                    continue
                batches = list(_batches(messages, subscription.target.batch_size))
                futures = [
                    pool.submit(deliver, client, subscription.target, batch, runtime.invoke)
                    for batch in batches
                ]
                for batch, future in zip(batches, futures, strict=True):
                    self._report(subscription, len(batch), future.result)

    def _report(
        self, subscription: Subscription, count: int, result: Callable[[], BatchOutcome]
    ) -> None:
        name = f"{subscription.function_id} <- {subscription.queue_id}"
        try:
            outcome = result()
        except Exception:
            self._log(f"{name}: settling {count} record(s) failed\n{traceback.format_exc()}")
            return
        line = f"{name}: {count} record(s), {len(outcome.deleted)} done"
        if outcome.kept:
            line += (
                f", {len(outcome.kept)} back on the queue in {subscription.target.retry_after} s"
            )
        if outcome.error:
            line += f"\n  {outcome.error}"
        self._log(line)

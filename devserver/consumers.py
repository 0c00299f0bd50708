"""Lambda's SQS pollers, emulated: up to a function's ``MaximumConcurrency`` invocations at once.

Deployed, an SQS event source receives batches and invokes the function
with up to ``ScalingConfig.MaximumConcurrency`` of them at once; a queue of
many chunks is worked through that many at a time. :class:`Consumer` is that
loop for one queue and one function: it receives only as many messages as
it has free invocations for (``batch size x free``, at most ten a receive),
hands each batch to :func:`devserver.queues.deliver` on a thread of its
own, and receives again as soon as one settles.

- :func:`drain` runs it until the queue is empty (nothing visible, in flight
  or delayed), for tests and the benchmark; one invocation at a time unless
  told ``concurrency``.
- :class:`QueuePoller` runs it in the background for ``python -m devserver``,
  one thread per queue event of the template's functions, each at its
  event's ``MaximumConcurrency`` (the server's ``--concurrency`` where the
  template sets none).
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3

from devserver.gateway import LocalLambdaContext
from devserver.queues import (
    MAX_RECEIVE,
    BatchOutcome,
    Invoke,
    QueueTarget,
    batches,
    deliver,
    queue_arn,
    queue_depth,
    receive,
)
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

# What becomes of one batch: its size, then its outcome (raises what settling raised).
Settled = Callable[[int, Callable[[], BatchOutcome]], None]


@dataclass
class ConsumeReport:
    """What one :meth:`Consumer.run` did."""

    receives: int = 0
    empty: bool = False


class Consumer:
    """Receives from one queue and invokes ``invoke`` with up to ``concurrency`` batches at once."""

    def __init__(
        self,
        client: SQSClient,
        target: QueueTarget,
        invoke: Invoke,
        *,
        concurrency: int = 1,
        settled: Settled | None = None,
        name: str = "consumer",
    ) -> None:
        self.client = client
        self.target = target
        self.invoke = invoke
        self.concurrency = max(1, concurrency)
        self._settled = settled or (lambda _size, result: None)
        self._name = name
        self._sizes: dict[Future[BatchOutcome], int] = {}

    def run(
        self,
        *,
        stop: Callable[[], bool],
        until_empty: bool,
        idle_wait: float,
        max_receives: int | None = None,
        receive_failed: Callable[[Exception], None] | None = None,
        sleep: Callable[[float], object] = time.sleep,
    ) -> ConsumeReport:
        """Receive and invoke until ``stop()``, ``max_receives`` receives or, ``until_empty``,
        the queue holds nothing. Batches still running when it ends are waited for.

        A receive that raises ends the run, unless ``receive_failed`` takes the
        error (then it waits four times ``idle_wait`` and goes on).
        """
        report = ConsumeReport()
        pending: set[Future[BatchOutcome]] = set()
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix=self._name) as pool:
            try:
                while not stop() and (max_receives is None or report.receives < max_receives):
                    free = self.concurrency - len(pending)
                    if free <= 0:
                        pending = self._settle(pending, timeout=None)
                        continue
                    try:
                        messages = receive(
                            self.client, self.target.queue_url, free * self.target.batch_size
                        )
                    except Exception as error:
                        if receive_failed is None:
                            raise
                        receive_failed(error)
                        sleep(idle_wait * 4)
                        continue
                    report.receives += 1
                    if messages:
                        for batch in batches(messages, self.target.batch_size):
                            future = pool.submit(
                                deliver, self.client, self.target, batch, self.invoke
                            )
                            self._sizes[future] = len(batch)
                            pending.add(future)
                    elif pending:
                        pending = self._settle(pending, timeout=idle_wait)
                    elif until_empty and queue_depth(self.client, self.target.queue_url) == 0:
                        report.empty = True
                        break
                    else:
                        sleep(idle_wait)  # in flight elsewhere or delayed: wait until visible
            finally:
                while pending:
                    pending = self._settle(pending, timeout=None)
        return report

    def _settle(
        self, pending: set[Future[BatchOutcome]], timeout: float | None
    ) -> set[Future[BatchOutcome]]:
        """Wait for one batch (or ``timeout``); report those done; the ones still running."""
        done, running = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
        for future in done:
            self._settled(self._sizes.pop(future), future.result)
        return running


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
    concurrency: int = 1,
    timeout: float = 30.0,
    max_receives: int = 1000,
    idle_wait: float = 0.05,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DrainReport:
    """Deliver the queue's messages to ``invoke`` until none is left, visible or in flight.

    ``invoke`` takes the event and returns the function's result (see
    :func:`invoker` to wrap a Lambda handler). Up to ``concurrency`` batches
    run at once (one after another by default). Stops when the queue is
    empty (``report.empty``), after ``timeout`` seconds or after
    ``max_receives`` receives, whichever comes first. Records kept for
    redelivery are visible again after ``retry_after`` seconds (0: at once).
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
    lock = threading.Lock()

    def settled(size: int, result: Callable[[], BatchOutcome]) -> None:
        outcome = result()
        with lock:
            report.invocations += 1
            report.delivered += size
            report.deleted += len(outcome.deleted)
            report.kept += len(outcome.kept)
            if outcome.error:
                report.errors.append(outcome.error)

    deadline = clock() + timeout
    consumer = Consumer(sqs, target, invoke, concurrency=concurrency, settled=settled, name="drain")
    ran = consumer.run(
        stop=lambda: clock() >= deadline,
        until_empty=True,
        idle_wait=idle_wait,
        max_receives=max_receives,
        sleep=sleep,
    )
    report.receives, report.empty = ran.receives, ran.empty
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


def event_concurrency(maximum: int | None, default: int) -> int:
    """Invocations an SQS event runs at once: its ``MaximumConcurrency``, else ``default``."""
    return maximum if maximum else default


class QueuePoller:
    """Feeds every queue a template function has an SQS event for to that function.

    One thread per subscription runs a :class:`Consumer`: up to its
    ``max_concurrency`` batches of the event's ``BatchSize`` at once, each
    settled as it ends; when the queue is empty it waits ``idle_wait``
    seconds.
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

        Each event runs at most its ``MaximumConcurrency`` invocations at once,
        as deployed, or ``concurrency`` where it sets none; a function has as
        many execution environments as its busiest event needs.
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
            limits = [event_concurrency(e.maximum_concurrency, concurrency) for e in events]
            runtimes[spec.logical_id] = FunctionRuntime(
                spec, stack_name=stack_name, concurrency=max(limits), loader=loader
            )
            for event, limit in zip(events, limits, strict=True):
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
                        max_concurrency=limit,
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
        name = f"{subscription.function_id} <- {subscription.queue_id}"

        def settled(count: int, result: Callable[[], BatchOutcome]) -> None:
            self._report(subscription, name, count, result)

        consumer = Consumer(
            self._client_factory(),
            subscription.target,
            self.runtimes[subscription.function_id].invoke,
            concurrency=subscription.max_concurrency,
            settled=settled,
            name=subscription.function_id,
        )
        consumer.run(
            stop=self._stop.is_set,
            until_empty=False,
            idle_wait=self._idle_wait,
            receive_failed=lambda error: self._log(
                f"{subscription.queue_id}: receive failed: {error}"
            ),
            sleep=self._stop.wait,
        )

    def _report(
        self,
        subscription: Subscription,
        name: str,
        count: int,
        result: Callable[[], BatchOutcome],
    ) -> None:
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

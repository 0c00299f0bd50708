"""The import queue adapter and the local SQS event source, on queues built from template.yaml.

The queue URL comes from the api function's environment and the redrive
policy from the template, so what is tested here is what is deployed: ten
entries per ``SendMessageBatch``, and a chunk that keeps failing reaches the
dead-letter queue after ``CHUNK_MAX_RECEIVES`` receives.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import boto3
import pytest

from devserver.consumers import DrainReport, drain, invoker
from devserver.queues import queue_depth
from devserver.resources import CreatedResources
from imagestreams.adapters.queue import SqsImportQueue
from imagestreams.config import load_settings
from imagestreams.errors import ServiceUnavailableError
from imagestreams.imports.jobs import ChunkMessage, Job, chunk_messages


@pytest.fixture
def queue_url(template_resources: CreatedResources) -> str:
    """The import queue, as the api function's settings name it."""
    url = load_settings(template_resources.environment("ApiFunction")).import_queue_url
    assert url == template_resources.refs["ImportQueue"]
    return url


@pytest.fixture
def dead_letters(template_resources: CreatedResources) -> str:
    return str(template_resources.refs["ImportDeadLetterQueue"])


@pytest.fixture
def max_receives(template_resources: CreatedResources) -> int:
    return load_settings(template_resources.environment("WorkerFunction")).chunk_max_receives


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class Recording:
    """An SQS client that records ``SendMessageBatch`` calls and can fail entries.

    ``fail`` maps an entry id to how many times SQS fails it (server side,
    unless ``sender_fault``).
    """

    def __init__(
        self, client: Any, fail: dict[str, int] | None = None, *, sender_fault: bool = False
    ) -> None:
        self._client = client
        self.fail = dict(fail or {})
        self.sender_fault = sender_fault
        self.batches: list[list[str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
        self.batches.append([entry["Id"] for entry in Entries])
        failing = [e for e in Entries if self.fail.get(e["Id"], 0) > 0]
        passing = [e for e in Entries if e not in failing]
        response: dict[str, Any] = {"Successful": [], "Failed": []}
        if passing:
            response = self._client.send_message_batch(QueueUrl=QueueUrl, Entries=passing)
            response.setdefault("Failed", [])
        for entry in failing:
            self.fail[entry["Id"]] -= 1
            response["Failed"].append(
                {
                    "Id": entry["Id"],
                    "SenderFault": self.sender_fault,
                    "Code": "InvalidParameterValue" if self.sender_fault else "InternalError",
                    "Message": "no",
                }
            )
        return response


def receive_all(session: boto3.Session, url: str) -> list[dict[str, Any]]:
    client = session.client("sqs")
    found: list[dict[str, Any]] = []
    while True:
        messages = client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return found
        found.extend(messages)


def job(job_id: str = "job-1", tags: int = 25 * 25) -> tuple[Job, list[str]]:
    names = [f"v{n}" for n in range(tags)]
    return Job(job_id=job_id, namespace="team-a", name="app", total=tags), names


# --- sending ----------------------------------------------------------------------


def test_queue_builds_no_client_until_used() -> None:
    def factory() -> Any:
        raise AssertionError("no client may be built")

    queue = SqsImportQueue("https://example.invalid/queue", client_factory=factory)
    queue.send([])
    with pytest.raises(ValueError, match="no URL"):
        SqsImportQueue("", client_factory=factory).send(chunk_messages(*job(tags=1)))


def test_send_25_chunks_in_three_batches_and_all_arrive(queue_url: str, aws: boto3.Session) -> None:
    # Given 25 chunks of one job
    client = Recording(aws.client("sqs"))
    messages = chunk_messages(*job())
    assert len(messages) == 25
    # When they are sent
    SqsImportQueue(queue_url, client_factory=lambda: client).send(messages)
    # Then ten per call, entry ids the chunk numbers, and every body arrives intact
    assert [len(batch) for batch in client.batches] == [10, 10, 5]
    assert client.batches[0] == [str(n) for n in range(10)]
    received = [ChunkMessage.model_validate_json(m["Body"]) for m in receive_all(aws, queue_url)]
    assert sorted(received, key=lambda m: m.chunk) == messages


def test_send_retries_the_entries_sqs_failed(queue_url: str, aws: boto3.Session) -> None:
    # Given SQS failing chunk 3 twice and chunk 7 once
    client = Recording(aws.client("sqs"), {"3": 2, "7": 1})
    sleeps = Sleeps()
    queue = SqsImportQueue(queue_url, client_factory=lambda: client, sleep=sleeps)
    # When
    queue.send(chunk_messages(*job(tags=250)))
    # Then only the failed entries went again, and each chunk arrived once
    assert client.batches == [[str(n) for n in range(10)], ["3", "7"], ["3"]]
    assert len(sleeps.waits) == 2
    chunks = Counter(json.loads(m["Body"])["chunk"] for m in receive_all(aws, queue_url))
    assert chunks == Counter(range(10))


def test_send_gives_up_with_service_unavailable(queue_url: str, aws: boto3.Session) -> None:
    client = Recording(aws.client("sqs"), {"0": 100})
    queue = SqsImportQueue(queue_url, client_factory=lambda: client, sleep=Sleeps())

    with pytest.raises(ServiceUnavailableError):
        queue.send(chunk_messages(*job(tags=25)))
    assert len(client.batches) == 4


def test_send_does_not_retry_what_sqs_refuses(queue_url: str, aws: boto3.Session) -> None:
    client = Recording(aws.client("sqs"), {"1": 100}, sender_fault=True)
    queue = SqsImportQueue(queue_url, client_factory=lambda: client, sleep=Sleeps())

    with pytest.raises(ValueError, match="refused chunk 1 of job job-1"):
        queue.send(chunk_messages(*job(tags=50)))
    assert len(client.batches) == 1


def test_chunks_of_two_jobs_never_share_an_entry_id(queue_url: str, aws: boto3.Session) -> None:
    client = Recording(aws.client("sqs"))
    messages = chunk_messages(*job("job-1", tags=75)) + chunk_messages(*job("job-2", tags=75))

    SqsImportQueue(queue_url, client_factory=lambda: client).send(messages)

    assert client.batches == [["0", "1", "2"], ["0", "1", "2"]]
    assert len(receive_all(aws, queue_url)) == 6


# --- draining with a fake worker ----------------------------------------------------------


class FlakyWorker:
    """A Lambda handler that fails chosen chunks on their first ``fails[chunk]`` receives."""

    def __init__(self, fails: dict[int, int]) -> None:
        self.fails = fails
        self.receives: list[tuple[int, int]] = []  # (chunk, ApproximateReceiveCount)
        self.remaining_ms: list[int] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.remaining_ms.append(context.get_remaining_time_in_millis())
        failures = []
        for record in event["Records"]:
            chunk = ChunkMessage.model_validate_json(record["body"]).chunk
            count = int(record["attributes"]["ApproximateReceiveCount"])
            self.receives.append((chunk, count))
            if count <= self.fails.get(chunk, 0):
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}


def drain_with(worker: FlakyWorker, url: str, **options: Any) -> DrainReport:
    return drain(url, invoker(worker, timeout_seconds=120), timeout=20, **options)


def test_drain_redelivers_a_failed_record_until_it_succeeds(
    queue_url: str, dead_letters: str, aws: boto3.Session
) -> None:
    # Given three chunks, the second of which fails on its first two receives
    SqsImportQueue(queue_url).send(chunk_messages(*job(tags=75)))
    worker = FlakyWorker({1: 2})
    # When the queue is drained
    report = drain_with(worker, queue_url)
    # Then chunk 1 came back twice and then succeeded; nothing is left anywhere
    assert sorted(worker.receives) == [(0, 1), (1, 1), (1, 2), (1, 3), (2, 1)]
    assert report.empty
    assert (report.delivered, report.deleted, report.kept) == (5, 3, 2)
    assert report.errors == []
    assert queue_depth(aws.client("sqs"), queue_url) == 0
    assert receive_all(aws, dead_letters) == []
    assert all(0 < ms <= 120_000 for ms in worker.remaining_ms)


def test_a_record_failing_on_every_receive_ends_in_the_dead_letter_queue(
    queue_url: str, dead_letters: str, max_receives: int, aws: boto3.Session
) -> None:
    # Given a chunk that always fails, next to one that does not
    messages = chunk_messages(*job(tags=50))
    SqsImportQueue(queue_url).send(messages)
    worker = FlakyWorker({0: 1000})
    # When the queue is drained
    report = drain_with(worker, queue_url, batch_size=10)
    # Then the worker saw it CHUNK_MAX_RECEIVES times, last with that count, and SQS moved it
    assert max_receives == 3
    assert [count for chunk, count in worker.receives if chunk == 0] == [1, 2, 3]
    assert report.empty
    dead = receive_all(aws, dead_letters)
    assert [ChunkMessage.model_validate_json(m["Body"]) for m in dead] == [messages[0]]


def test_drain_batches_records_as_the_event_source_would(queue_url: str) -> None:
    SqsImportQueue(queue_url).send(chunk_messages(*job(tags=25 * 7)))
    sizes: list[int] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        sizes.append(len(event["Records"]))

    report = drain(queue_url, invoker(handler), batch_size=3, timeout=20)

    assert report.empty
    assert sum(sizes) == 7
    assert max(sizes) <= 3
    assert report.invocations == len(sizes)


def test_a_handler_error_keeps_the_whole_batch(queue_url: str, aws: boto3.Session) -> None:
    # Given a handler that raises on the first delivery of anything
    SqsImportQueue(queue_url).send(chunk_messages(*job(tags=50)))
    seen: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        counts = {r["attributes"]["ApproximateReceiveCount"] for r in event["Records"]}
        seen.extend(counts)
        if "1" in counts:
            raise RuntimeError("boom")

    # When
    report = drain(queue_url, invoker(handler), batch_size=10, timeout=20)
    # Then both records came back and then succeeded; the error is reported
    assert report.empty
    assert report.kept == 2
    assert report.deleted == 2
    assert len(report.errors) == 1
    assert "RuntimeError: boom" in report.errors[0]


def test_drain_stops_at_its_receive_cap(queue_url: str) -> None:
    SqsImportQueue(queue_url).send(chunk_messages(*job(tags=25)))

    def always_fails(event: dict[str, Any], context: Any) -> Any:
        return {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}

    report = drain(queue_url, invoker(always_fails), max_receives=2, timeout=20)

    assert not report.empty
    assert report.receives == 2
    assert report.kept == 2


@pytest.mark.parametrize("concurrency", [1, 3], ids=["one-at-a-time", "three-at-once"])
def test_drain_runs_up_to_its_concurrency_at_once_and_never_more(
    queue_url: str, concurrency: int
) -> None:
    # Given twelve chunks and a handler whose first invocations wait for each other
    SqsImportQueue(queue_url).send(chunk_messages(*job(tags=25 * 12)))
    together = threading.Barrier(concurrency, timeout=10)
    lock = threading.Lock()
    running = [0]
    most: list[int] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        with lock:
            running[0] += 1
            most.append(running[0])
            first = len(most) <= concurrency
        if first:
            together.wait()  # breaks, failing the batch, unless `concurrency` run at once
        with lock:
            running[0] -= 1

    # When the queue is drained one chunk per invocation
    report = drain(queue_url, invoker(handler), batch_size=1, concurrency=concurrency, timeout=30)

    # Then the first `concurrency` invocations overlapped, and no more ever ran at once
    assert report.empty
    assert report.errors == []
    assert (report.invocations, report.deleted) == (12, 12)
    assert max(most) == concurrency

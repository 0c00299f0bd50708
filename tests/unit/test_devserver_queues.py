"""The local server's SQS side: events, batch responses, the poller.

Handlers here are fakes; ``tests/integration/test_queue.py`` drains the
template's own queues with them.
"""

from __future__ import annotations

import base64
import hashlib
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import SqsModel

from devserver.consumers import QueuePoller
from devserver.queues import (
    MalformedBatchResponseError,
    failed_message_ids,
    queue_depth,
    sqs_event,
)
from devserver.resources import create_resources
from devserver.template import FunctionSpec, QueueEvent, Template, load_template
from imagestreams.imports.jobs import ChunkMessage
from testkit.events import event_names, load_event

ROOT = Path(__file__).resolve().parents[2]
ARN = "arn:aws:sqs:us-east-1:123456789012:imports"
RECORD_KEYS = [
    "messageId",
    "receiptHandle",
    "body",
    "attributes",
    "messageAttributes",
    "md5OfBody",
    "eventSource",
    "eventSourceARN",
    "awsRegion",
]


def _template(text: str, tmp_path: Path) -> Template:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_template(path)


def received(body: str = '{"a":1}', **extra: Any) -> dict[str, Any]:
    """A message as ReceiveMessage returns it with every attribute."""
    return {
        "MessageId": "m-1",
        "ReceiptHandle": "handle-1",
        "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "Body": body,
        "Attributes": {
            "SenderId": "AIDAEXAMPLE",
            "SentTimestamp": "1748779200123",
            "ApproximateReceiveCount": "2",
            "ApproximateFirstReceiveTimestamp": "1748779200456",
        },
        **extra,
    }


# --- Events ---------------------------------------------------------------------


def test_sqs_event_has_the_shape_lambda_gives() -> None:
    event = sqs_event([received(), {**received(), "MessageId": "m-2"}], ARN, "eu-west-1")

    assert list(event) == ["Records"]
    first = event["Records"][0]
    assert list(first) == RECORD_KEYS
    assert first["messageId"] == "m-1"
    assert first["receiptHandle"] == "handle-1"
    assert first["body"] == '{"a":1}'
    assert first["attributes"]["ApproximateReceiveCount"] == "2"
    assert set(first["attributes"]) == {
        "SenderId",
        "SentTimestamp",
        "ApproximateReceiveCount",
        "ApproximateFirstReceiveTimestamp",
    }
    assert first["messageAttributes"] == {}
    assert first["md5OfBody"] == hashlib.md5(b'{"a":1}').hexdigest()
    assert (first["eventSource"], first["eventSourceARN"], first["awsRegion"]) == (
        "aws:sqs",
        ARN,
        "eu-west-1",
    )
    assert [record["messageId"] for record in event["Records"]] == ["m-1", "m-2"]
    SqsModel.model_validate(event)


def test_sqs_event_message_attributes_are_camel_case_with_base64_binaries() -> None:
    message = received(
        MessageAttributes={
            "kind": {"StringValue": "chunk", "DataType": "String"},
            "blob": {"BinaryValue": b"\x00\xff", "DataType": "Binary"},
        },
        MD5OfMessageAttributes="0123456789abcdef0123456789abcdef",
    )

    record = sqs_event([message], ARN)["Records"][0]

    assert record["messageAttributes"] == {
        "kind": {
            "stringValue": "chunk",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "blob": {
            "binaryValue": base64.b64encode(b"\x00\xff").decode(),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        },
    }
    assert record["md5OfMessageAttributes"] == "0123456789abcdef0123456789abcdef"
    SqsModel.model_validate({"Records": [record]})


def test_sqs_event_from_a_message_moto_delivered(aws: boto3.Session) -> None:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    (message,) = sqs.receive_message(
        QueueUrl=url, MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"]
    )["Messages"]

    record = sqs_event([message], ARN)["Records"][0]

    assert list(record) == RECORD_KEYS
    assert record["md5OfBody"] == hashlib.md5(b"hello").hexdigest()
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    SqsModel.model_validate({"Records": [record]})


SQS_EVENTS = [name for name in event_names() if name.startswith("sqs-")]


def test_there_are_sample_sqs_events() -> None:
    assert set(SQS_EVENTS) >= {"sqs-import-chunk", "sqs-import-chunk-redelivered"}


@pytest.mark.parametrize("name", SQS_EVENTS)
def test_sample_sqs_events_match_what_the_server_builds(name: str) -> None:
    sample = load_event(name)
    (record,) = sample["Records"]
    message = {
        "MessageId": record["messageId"],
        "ReceiptHandle": record["receiptHandle"],
        "Body": record["body"],
        "Attributes": record["attributes"],
        "MessageAttributes": {},
    }

    assert sqs_event([message], record["eventSourceARN"], record["awsRegion"]) == sample
    assert ChunkMessage.model_validate_json(record["body"]).tags
    SqsModel.model_validate(sample)


def test_redelivered_sample_is_the_same_chunk_on_its_last_receive() -> None:
    first = load_event("sqs-import-chunk")["Records"][0]
    again = load_event("sqs-import-chunk-redelivered")["Records"][0]

    assert first["attributes"]["ApproximateReceiveCount"] == "1"
    assert again["attributes"]["ApproximateReceiveCount"] == "3"
    assert (again["messageId"], again["body"]) == (first["messageId"], first["body"])
    assert again["receiptHandle"] != first["receiptHandle"]


# --- Batch responses ----------------------------------------------------------------

IDS = ["a", "b", "c"]
ALL = set(IDS)


@pytest.mark.parametrize(
    ("result", "report", "failed"),
    [
        (None, True, set()),
        ({}, True, set()),
        ({"batchItemFailures": None}, True, set()),
        ({"batchItemFailures": []}, True, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, True, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": i} for i in IDS]}, True, ALL),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, False, set()),
        ("anything", False, set()),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, True, None),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, True, None),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, True, None),
        ({"batchItemFailures": [{"id": "b"}]}, True, None),
        ({"batchItemFailures": "b"}, True, None),
        ("not an object", True, None),
    ],
    ids=[
        "none",
        "empty-object",
        "null-list",
        "empty-list",
        "one-failed",
        "all-failed",
        "not-reporting",
        "not-reporting-any-result",
        "unknown-id",
        "empty-id",
        "null-id",
        "bad-key",
        "not-a-list",
        "not-an-object",
    ],
)
def test_batch_responses_read_as_lambda_reads_them(
    result: Any, report: bool, failed: set[str] | None
) -> None:
    if failed is None:
        with pytest.raises(MalformedBatchResponseError):
            failed_message_ids(result, IDS, report_batch_item_failures=report)
    else:
        assert failed_message_ids(result, IDS, report_batch_item_failures=report) == failed


# --- Queue events in the template ----------------------------------------------------


def test_project_worker_consumes_the_import_queue() -> None:
    template = load_template(ROOT / "template.yaml")
    specs = {spec.logical_id: spec for spec in template.functions()}

    assert specs["ApiFunction"].queue_events == ()
    assert specs["WorkerFunction"].queue_events == (
        QueueEvent(
            name="ImportChunks",
            function_id="WorkerFunction",
            queue={"Fn::GetAtt": ["ImportQueue", "Arn"]},
            batch_size=1,
            report_batch_item_failures=True,
            maximum_concurrency=5,
        ),
    )


QUEUE_TEMPLATE = """
Parameters:
  Most: {Type: Number, Default: 3}
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
  Other:
    Type: AWS::SQS::Queue
  Consumer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.handler
      Timeout: 10
      Environment:
        Variables:
          SHARED: same
          ONLY_CONSUMER: consumer
          DIFFERS: consumer
      Events:
        FromJobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 2
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig: {MaximumConcurrency: !Ref Most}
        Disabled:
          Type: SQS
          Properties:
            Queue: !GetAtt Other.Arn
            Enabled: false
  Plain:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.handler
      Environment:
        Variables:
          SHARED: same
          DIFFERS: plain
      Events:
        Defaults:
          Type: SQS
          Properties:
            Queue: !GetAtt Other.Arn
"""


def test_queue_events_resolve_parameters_and_take_sams_defaults(tmp_path: Path) -> None:
    specs = {spec.logical_id: spec for spec in _template(QUEUE_TEMPLATE, tmp_path).functions()}

    from_jobs, disabled = specs["Consumer"].queue_events
    (defaults,) = specs["Plain"].queue_events
    assert (from_jobs.batch_size, from_jobs.report_batch_item_failures) == (2, True)
    assert from_jobs.maximum_concurrency == 3
    assert from_jobs.enabled
    assert not disabled.enabled
    assert (defaults.batch_size, defaults.report_batch_item_failures) == (10, False)
    assert defaults.maximum_concurrency is None


# --- The background poller -------------------------------------------------------------


@pytest.mark.parametrize(
    ("server_concurrency", "expected"),
    [(2, {"Consumer": 3, "Plain": 2}), (8, {"Consumer": 3, "Plain": 8})],
    ids=["maximum-above-the-server-default", "maximum-below-the-server-default"],
)
def test_poller_runs_each_event_at_its_maximum_concurrency(
    aws: boto3.Session, tmp_path: Path, server_concurrency: int, expected: dict[str, int]
) -> None:
    # Given an event with MaximumConcurrency 3 and one without
    template = _template(QUEUE_TEMPLATE, tmp_path)
    created = create_resources(template, session=aws)
    # When the server's poller is made with its own concurrency
    poller = QueuePoller.from_template(
        template, created, concurrency=server_concurrency, loader=lambda spec: None
    )
    # Then the template's MaximumConcurrency wins where it is set, as deployed
    assert {s.function_id: s.max_concurrency for s in poller.subscriptions} == expected


def test_poller_feeds_each_queue_to_its_function_and_retries_failures(
    aws: boto3.Session, tmp_path: Path
) -> None:
    # Given the consumer's queue and a handler failing one record on its first receive
    template = _template(QUEUE_TEMPLATE, tmp_path)
    created = create_resources(template, session=aws)
    seen: list[tuple[str, str, int]] = []
    lock = threading.Lock()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        failures = []
        with lock:
            for record in event["Records"]:
                count = record["attributes"]["ApproximateReceiveCount"]
                seen.append((record["body"], count, len(event["Records"])))
                if record["body"] == "flaky" and count == "1":
                    failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    def loader(spec: FunctionSpec) -> Any:
        return handler

    lines: list[str] = []
    poller = QueuePoller.from_template(
        template, created, loader=loader, retry_after=0, idle_wait=0.02, log=lines.append
    )
    sqs = aws.client("sqs")
    url = created.refs["Jobs"]
    for body in ("one", "flaky", "three"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    # When the poller runs until the queue is empty
    assert [(s.function_id, s.queue_id) for s in poller.subscriptions] == [
        ("Consumer", "Jobs"),
        ("Plain", "Other"),
    ]
    with poller:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
            queue_depth(sqs, url) or len([s for s in seen if s[0] == "flaky"]) < 2
        ):
            time.sleep(0.02)
    # Then every record was handled in batches of at most two, the flaky one twice
    assert sorted((body, count) for body, count, _ in seen) == [
        ("flaky", "1"),
        ("flaky", "2"),
        ("one", "1"),
        ("three", "1"),
    ]
    assert max(size for _, _, size in seen) <= 2
    assert queue_depth(sqs, url) == 0
    assert any("back on the queue" in line for line in lines)
    assert poller.runtimes["Consumer"].spec.timeout == 10

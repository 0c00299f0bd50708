"""``python -m ops.dead_letters``: what it says of each dead message, and the redrive it starts.

Messages and jobs are the real ones, in the template's queues and table
under moto. moto has no message move tasks, so the redrive and its status
are checked against botocore's own model of the SQS API (its ``Stubber``
validates every request's parameters) with the queues' real ARNs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from devserver.resources import CreatedResources
from imagestreams.adapters.jobs_store import DynamoJobStore
from imagestreams.imports.jobs import ChunkMessage, Job
from imagestreams.models import ImageImportStatus, Status
from imagestreams.reimports import ReimportMessage
from ops.dead_letters import Stack, describe, peek, redrive, show, status
from testkit.aws import project_template

SUCCESS = ImageImportStatus(status=Status.success(type_meta=False), tag="a")


@pytest.fixture
def stack(template_resources: CreatedResources) -> Stack:
    sqs = boto3.client("sqs")

    def url(logical_id: str) -> str:
        return str(sqs.get_queue_url(QueueName=template_resources.name(logical_id))["QueueUrl"])

    return Stack(
        url("ImportDeadLetterQueue"),
        url("ImportQueue"),
        template_resources.name("StreamsTable"),
    )


def job(store: DynamoJobStore, job_id: str, *, finished: bool) -> None:
    """A two-tag job with one tag done; ``finished`` records the other and completes it."""
    store.create(
        Job(job_id=job_id, namespace="demo", name="big", total=2, created=datetime.now(UTC)),
        {"a": SUCCESS},
    )
    if finished:
        failed = ImageImportStatus(
            status=Status.failure(500, "InternalError", "x", type_meta=False), tag="b"
        )
        store.record(job_id, {"b": failed})
        assert store.complete(job_id)


def chunk(job_id: str) -> str:
    return ChunkMessage(job_id=job_id, chunk=1, namespace="demo", name="big", tags=["b"]).body()


CASES = [
    ("complete-job", chunk("done"), "job Complete (2 of 2 tags, 1 failed) in demo/big; "
     "a redrive changes nothing, POST the import again"),
    ("running-job", chunk("running"), "job Running (1 of 2 tags); a redrive finishes it"),
    ("expired-job", chunk("gone"), "the job is gone (expired); a redrive drops it"),
    ("re-import", ReimportMessage(namespace="demo", name="web", tags=["v1", "v2"]).body(),
     "re-import of demo/web (2 tags: v1, v2)"),
    ("not-json", "{oops", "not JSON; a redrive fails it again"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "said"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_show_says_what_each_dead_message_is_and_what_a_redrive_does(
    stack: Stack, body: str, said: str
) -> None:
    # Given jobs in each state and a message in the dead-letter queue
    store = DynamoJobStore(stack.streams_table)
    job(store, "done", finished=True)
    job(store, "running", finished=False)
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=stack.dead_letter_queue_url, MessageBody=body)
    printed: list[str] = []

    # When the dead letters are shown, twice
    assert show(stack, sqs, store, printed.append) == 1
    assert show(stack, sqs, store, printed.append) == 1

    # Then each line says what the message is, and it is still there
    assert said in printed[1]
    assert printed[1] == printed[3]
    assert len(peek(sqs, stack.dead_letter_queue_url)) == 1


def test_describe_reads_the_job_of_a_chunk_consistently(stack: Stack) -> None:
    store = DynamoJobStore(stack.streams_table)
    job(store, "fresh", finished=True)
    message: dict[str, Any] = {"MessageId": "m", "Body": chunk("fresh"), "Attributes": {}}

    assert "job Complete" in describe(message, store)


def test_redrive_moves_the_dead_letters_back_to_the_import_queue(stack: Stack) -> None:
    real = boto3.client("sqs")
    arns = {
        url: real.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        for url in (stack.dead_letter_queue_url, stack.import_queue_url)
    }
    sqs = boto3.client("sqs")
    printed: list[str] = []
    with Stubber(sqs) as stub:
        for url, arn in arns.items():
            stub.add_response(
                "get_queue_attributes",
                {"Attributes": {"QueueArn": arn}},
                {"QueueUrl": url, "AttributeNames": ["QueueArn"]},
            )
        stub.add_response(
            "start_message_move_task",
            {"TaskHandle": "task-1"},
            {
                "SourceArn": arns[stack.dead_letter_queue_url],
                "DestinationArn": arns[stack.import_queue_url],
            },
        )
        stub.add_response(
            "get_queue_attributes",
            {"Attributes": {"QueueArn": arns[stack.dead_letter_queue_url]}},
            {"QueueUrl": stack.dead_letter_queue_url, "AttributeNames": ["QueueArn"]},
        )
        stub.add_response(
            "list_message_move_tasks",
            {
                "Results": [
                    {
                        "Status": "RUNNING",
                        "ApproximateNumberOfMessagesMoved": 3,
                        "ApproximateNumberOfMessagesToMove": 10,
                    }
                ]
            },
            {"SourceArn": arns[stack.dead_letter_queue_url], "MaxResults": 10},
        )

        assert redrive(stack, sqs, printed.append) == "task-1"
        (task,) = status(stack, sqs, printed.append)

    assert task["Status"] == "RUNNING"
    assert printed[-1] == "RUNNING: 3 of 10 moved"


def test_the_stack_is_found_by_its_outputs() -> None:
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    outputs = {
        "ImportDeadLetterQueueUrl": "https://sqs/dlq",
        "ImportQueueUrl": "https://sqs/q",
        "StreamsTableName": "streams",
        "ApiUrl": "https://api",
    }
    description = {
        "StackName": "prod",
        "CreationTime": datetime.now(UTC),
        "StackStatus": "CREATE_COMPLETE",
        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
    }
    with Stubber(cloudformation) as stub:
        stub.add_response("describe_stacks", {"Stacks": [description]}, {"StackName": "prod"})
        stack = Stack.named("prod", cloudformation)

    assert stack == Stack("https://sqs/dlq", "https://sqs/q", "streams")
    # And the template declares every output the tool reads
    assert set(outputs) - {"ApiUrl"} <= set(project_template().document["Outputs"])

"""``python -m ops.dead_letters``: inspect the import dead-letter queue of a stack, and redrive it.

A message lands in the dead-letter queue after failing every delivery
(``maxReceiveCount``, 3): a chunk of an import job, or a re-import of some
tags of a stream. Commands, each for ``--stack NAME`` (its outputs name the
queues and the table) in the region of the AWS CLI's usual settings:

- ``show``: each dead message: what it is (job and chunk, or stream), its
  tags, and for a chunk the state of its job, since that decides whether a
  redrive does anything. The messages are received (SQS counts that) but
  never deleted, and stay visible.
- ``redrive``: an SQS message move task back to the import queue
  (``StartMessageMoveTask``), which the worker then processes as usual.
- ``status``: the move tasks of the dead-letter queue, most recent first.

What a redrive does: a re-import message re-imports its tags (the tags show
the failure condition written on the last delivery until then). A job's
chunk is dropped by the worker when its job is already complete, and it
usually is: on the last delivery the chunk's tags were recorded as failed
and the job completed; import those tags again with a new POST of the
ImageStreamImport. Only a chunk whose job is still ``Running`` (its results
could not be recorded) is finished by a redrive.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import boto3

from imagestreams.adapters.jobs_store import DynamoJobStore
from imagestreams.imports.jobs import COMPLETE

# How many messages ``show`` reads at most.
DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class Stack:
    """Where a stack's dead letters, import queue and jobs are."""

    dead_letter_queue_url: str
    import_queue_url: str
    streams_table: str

    @classmethod
    def named(cls, name: str, cloudformation: Any) -> Stack:
        """From the stack's outputs ``ImportDeadLetterQueueUrl``, ``ImportQueueUrl``
        and ``StreamsTableName``."""
        (description,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])}
        return cls(
            outputs["ImportDeadLetterQueueUrl"],
            outputs["ImportQueueUrl"],
            outputs["StreamsTableName"],
        )


def queue_arn(sqs: Any, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def peek(sqs: Any, url: str, limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    """Up to ``limit`` messages of the queue, left on it (visible again at once)."""
    seen: dict[str, dict[str, Any]] = {}
    while len(seen) < limit:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, limit - len(seen)),
            VisibilityTimeout=0,
            AttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            break
        seen.update((m["MessageId"], m) for m in fresh)
    return list(seen.values())


def describe(message: dict[str, Any], jobs: DynamoJobStore) -> str:
    """One line on a dead message: what it is, and what a redrive would do."""
    try:
        body = json.loads(message["Body"])
    except ValueError:
        return f"{message['MessageId']}: not JSON; a redrive fails it again"
    tags = body.get("tags") or []
    sent = message.get("Attributes", {}).get("SentTimestamp", "?")
    if body.get("kind") == "reimport":
        return (
            f"re-import of {body.get('namespace')}/{body.get('name')} ({len(tags)} tags: "
            f"{', '.join(tags[:5])}{', ...' if len(tags) > 5 else ''}), sent {sent}: "
            "a redrive re-imports them"
        )
    job_id = str(body.get("jobId") or "")
    job = jobs.get(job_id) if job_id else None
    what = f"chunk {body.get('chunk')} of job {job_id} ({len(tags)} tags), sent {sent}"
    if job is None:
        return f"{what}: the job is gone (expired); a redrive drops it"
    if job.state == COMPLETE:
        return (
            f"{what}: job Complete ({job.done} of {job.total} tags, {job.failed} failed) in "
            f"{job.namespace}/{job.name}; a redrive changes nothing, POST the import again"
        )
    return f"{what}: job {job.state} ({job.done} of {job.total} tags); a redrive finishes it"


def show(stack: Stack, sqs: Any, jobs: DynamoJobStore, write: Callable[[str], None]) -> int:
    messages = peek(sqs, stack.dead_letter_queue_url)
    write(f"{len(messages)} message(s) in {stack.dead_letter_queue_url}")
    for message in messages:
        write(f"  {describe(message, jobs)}")
    return len(messages)


def redrive(stack: Stack, sqs: Any, write: Callable[[str], None]) -> str:
    """Move every dead message back to the import queue; the task's handle."""
    source = queue_arn(sqs, stack.dead_letter_queue_url)
    destination = queue_arn(sqs, stack.import_queue_url)
    handle = str(
        sqs.start_message_move_task(SourceArn=source, DestinationArn=destination)["TaskHandle"]
    )
    write(f"moving the messages of {source} to {destination} (task {handle})")
    return handle


def status(stack: Stack, sqs: Any, write: Callable[[str], None]) -> list[dict[str, Any]]:
    source = queue_arn(sqs, stack.dead_letter_queue_url)
    tasks: list[dict[str, Any]] = sqs.list_message_move_tasks(SourceArn=source, MaxResults=10)[
        "Results"
    ]
    for task in tasks:
        moved = task.get("ApproximateNumberOfMessagesMoved", 0)
        total = task.get("ApproximateNumberOfMessagesToMove", "?")
        failure = f" ({task['FailureReason']})" if task.get("FailureReason") else ""
        write(f"{task.get('Status')}: {moved} of {total} moved{failure}")
    if not tasks:
        write("no move task")
    return tasks


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.dead_letters", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("command", choices=["show", "redrive", "status"])
    parser.add_argument("--stack", required=True, help="the stack's name")
    args = parser.parse_args(argv)
    session = boto3.Session()
    stack = Stack.named(args.stack, session.client("cloudformation"))
    sqs = session.client("sqs")

    def write(line: str) -> None:
        print(line, flush=True)

    if args.command == "show":
        show(stack, sqs, DynamoJobStore(stack.streams_table), write)
    elif args.command == "redrive":
        redrive(stack, sqs, write)
    else:
        status(stack, sqs, write)
    return 0


if __name__ == "__main__":
    sys.exit(main())

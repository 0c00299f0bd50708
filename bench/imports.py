"""One repository import through the real handlers, fan-out included.

This module owns how the benchmark imports: the api handler answers the
POST, then (on 202) the queue is drained into the worker handler one chunk
per invocation, as the template's ``BatchSize: 1`` has it, until the job is
complete. Each handler starts as a new Lambda process would. It measures
only the wall time of that; what the measures make of it is theirs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.cpu import CpuUse
from bench.fixtures import (
    NAMESPACE,
    WORKER_FUNCTION,
    Repository,
    Stack,
    function_environment,
)
from devserver.queues import drain, invoker
from testkit.api import Api, load_function
from testkit.events import load_event, with_name, with_namespace

STREAM = "app"
# The forced fan-out: the api imports inline for this share of its 20 s budget
# only (2 ms, less than listing the tags takes), so every tag goes through the
# queue and the worker.
FANOUT_INLINE_FRACTION = "0.0001"
FANOUT_OVERRIDES = {"INLINE_FRACTION": FANOUT_INLINE_FRACTION}
DRAIN_TIMEOUT = 1800.0
JOB_STATE = "imagestreams.io/import-state"
TAGS_DONE = "imagestreams.io/import-tags-done"
TAGS_FAILED = "imagestreams.io/import-tags-failed"


def repository_body(reference: str, stream: str = STREAM) -> dict[str, Any]:
    """An ImageStreamImport of every tag of ``reference`` into ``stream``."""
    return {
        "kind": "ImageStreamImport",
        "apiVersion": "image.openshift.io/v1",
        "metadata": {"name": stream},
        "spec": {
            "import": True,
            "repository": {"from": {"kind": "DockerImage", "name": reference}},
        },
    }


@dataclass
class ImportRun:
    """One repository import through the handlers, fan-out included."""

    status: int
    seconds: float
    api_seconds: float
    inline_tags: int
    worker_invocations: int
    tags_done: int
    tags_failed: int
    state: str
    cpu: CpuUse | None = None


class BenchError(RuntimeError):
    """An import the benchmark ran did not complete as expected."""


def import_repository(
    stack: Stack,
    repository: Repository,
    overrides: Mapping[str, str] | None = None,
    *,
    stream: str = STREAM,
) -> ImportRun:
    """POST the repository import to the api handler; drain the queue into the worker.

    Timed from the POST until the queue is empty (the job complete). The api
    and the worker each start as a new process would (see
    :func:`function_environment`).
    """
    changes = dict(overrides or {})
    body = repository_body(repository.reference, stream)
    with function_environment({**stack.api, **changes}):
        api = Api(reset=False)
        started = time.perf_counter()
        reply = api.post_import(NAMESPACE, body)
        api_seconds = time.perf_counter() - started
    if reply.status not in (201, 202):
        raise BenchError(f"the import answered {reply.status}: {json.dumps(reply.body)[:2000]}")
    annotations = reply.body.get("metadata", {}).get("annotations") or {}
    inline = int(annotations.get(TAGS_DONE, len(repository.tags)))
    invocations = 0
    if reply.status == 202:
        with function_environment({**stack.worker, **changes}):
            worker = load_function("worker")
            report = drain(
                stack.queue_url,
                invoker(
                    worker.lambda_handler,
                    function_name=WORKER_FUNCTION,
                    timeout_seconds=stack.worker_timeout,
                    memory_limit_in_mb=stack.worker_memory_mb,
                ),
                batch_size=1,
                timeout=DRAIN_TIMEOUT,
                max_receives=1_000_000,
            )
        invocations = report.invocations
        if not report.empty or report.errors:
            raise BenchError(f"the queue was not drained: {report.errors[:1]}")
    seconds = time.perf_counter() - started
    final = read_import(stack, stream) if reply.status == 202 else reply.body
    done, failed, state = import_progress(final, len(repository.tags))
    if failed or done != len(repository.tags) or state != "Complete":
        raise BenchError(
            f"{state}: {failed} of {done} tags failed; {len(repository.tags)} expected"
        )
    return ImportRun(reply.status, seconds, api_seconds, inline, invocations, done, failed, state)


def read_import(stack: Stack, name: str) -> dict[str, Any]:
    """The latest ImageStreamImport document, read through the api handler."""
    with function_environment(stack.api):
        reply = Api(reset=False).invoke(
            with_name(with_namespace(load_event("api-get-import"), NAMESPACE), name)
        )
    body: dict[str, Any] = reply.body
    return body


def import_progress(document: Mapping[str, Any], expected: int) -> tuple[int, int, str]:
    """Tags done, tags failed and the job state of an import document."""
    annotations = document.get("metadata", {}).get("annotations") or {}
    if JOB_STATE in annotations:
        return (
            int(annotations.get(TAGS_DONE, 0)),
            int(annotations.get(TAGS_FAILED, 0)),
            str(annotations[JOB_STATE]),
        )
    images = (document.get("status", {}).get("repository") or {}).get("images") or []
    failed = sum(1 for image in images if image.get("status", {}).get("status") != "Success")
    return len(images), failed, "Complete" if len(images) == expected else "Incomplete"

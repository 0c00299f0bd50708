"""One repository import through the real handlers, fan-out included.

This module owns how the benchmark imports: the api handler answers the
POST, then (on 202) the queue is drained into the worker handler as the
template's event source runs it (``BatchSize: 1``: one chunk per
invocation; up to ``MaximumConcurrency`` invocations at once, each in an
execution environment of its own), until the job is complete. The draining
is the local server's own (:func:`devserver.consumers.drain` and its
function runtime). Each handler starts as a new Lambda process would. It
measures only the wall time of that; what the measures make of it is theirs.
"""

from __future__ import annotations

import base64
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
from devserver.consumers import drain
from devserver.environment import environment_loader
from devserver.server import FunctionRuntime
from imagestreams.config import load_settings
from testkit.api import Api, Reply
from testkit.events import load_event, with_body, with_header, with_name, with_namespace

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
    # The api's answer: its JSON as the client reads it, and the function's
    # response (what Lambda's 6 MB limit counts: a gzip'd body in base64).
    answer_bytes: int = 0
    answer_gzip_bytes: int = 0
    response_bytes: int = 0


class BenchError(RuntimeError):
    """An import the benchmark ran did not complete as expected."""


def import_repository(
    stack: Stack,
    repository: Repository,
    overrides: Mapping[str, str] | None = None,
    *,
    stream: str = STREAM,
    gzip: bool = False,
) -> ImportRun:
    """POST the repository import to the api handler; drain the queue into the worker.

    Timed from the POST until the queue is empty (the job complete). The api
    and the worker each start as a new process would (see
    :func:`function_environment`). ``gzip``: the client accepts a gzip'd answer.
    """
    changes = dict(overrides or {})
    body = repository_body(repository.reference, stream)
    with function_environment({**stack.api, **changes}):
        api = Api(reset=False)
        started = time.perf_counter()
        reply = api.invoke(import_event(body, gzip=gzip))
        api_seconds = time.perf_counter() - started
    if reply.status not in (201, 202):
        raise BenchError(f"the import answered {reply.status}: {json.dumps(reply.body)[:2000]}")
    annotations = reply.body.get("metadata", {}).get("annotations") or {}
    inline = int(annotations.get(TAGS_DONE, len(repository.tags)))
    invocations = 0
    if reply.status == 202:
        with function_environment({**stack.worker, **changes}):
            # Execution environments as the local server makes them: a handler
            # module and a composition root each, from the worker's settings.
            worker = FunctionRuntime(
                stack.worker_spec,
                concurrency=stack.worker_concurrency,
                loader=environment_loader({WORKER_FUNCTION: load_settings()}),
            )
            report = drain(
                stack.queue_url,
                worker.invoke,
                batch_size=stack.worker_event.batch_size,
                concurrency=stack.worker_concurrency,
                timeout=DRAIN_TIMEOUT,
                max_receives=1_000_000,
            )
        invocations = report.invocations
        if not report.empty or report.errors:
            raise BenchError(f"the queue was not drained: {report.errors[:1]}")
    seconds = time.perf_counter() - started
    final = read_import(stack, stream).body if reply.status == 202 else reply.body
    done, failed, state = import_progress(final, len(repository.tags))
    if failed or done != len(repository.tags) or state != "Complete":
        raise BenchError(
            f"{state}: {failed} of {done} tags failed; {len(repository.tags)} expected"
        )
    return ImportRun(
        reply.status,
        seconds,
        api_seconds,
        inline,
        invocations,
        done,
        failed,
        state,
        answer_bytes=len(reply.content),
        answer_gzip_bytes=gzip_size(reply),
        response_bytes=len(json.dumps(reply.raw)),
    )


def gzip_size(reply: Reply) -> int:
    """Bytes of the gzip'd body the client received; 0 for an uncompressed answer."""
    if reply.headers.get("Content-Encoding") != "gzip":
        return 0
    return len(base64.b64decode(reply.raw.get("body") or ""))


def import_event(body: Mapping[str, Any], *, gzip: bool = False) -> dict[str, Any]:
    """The api's event for POSTing ``body``, from a client that may accept gzip."""
    event = with_body(with_namespace(load_event("api-import-single.json"), NAMESPACE), body)
    return with_header(event, "Accept-Encoding", "gzip" if gzip else None)


def read_import(stack: Stack, name: str, *, gzip: bool = False) -> Reply:
    """The latest ImageStreamImport document, read through the api handler."""
    event = with_name(with_namespace(load_event("api-get-import"), NAMESPACE), name)
    with function_environment(stack.api):
        return Api(reset=False).invoke(
            with_header(event, "Accept-Encoding", "gzip" if gzip else None)
        )


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

"""ImportJobs: the worker's chunks of a repository import, against fakes."""

from __future__ import annotations

from typing import Any

import pytest

from imagestreams.errors import ChunkRetryError
from imagestreams.imports import jobs
from imagestreams.imports.jobs import ChunkMessage
from imagestreams.usecases.common import Options
from tests.unit.usecases.wiring import (
    REMAINING,
    REPOSITORY,
    Fakes,
    UseCases,
    deliver,
    push_tags,
    request,
    wire,
)

TAGS = [f"t{n:02d}" for n in range(30)]
LAST_DELIVERY = Options().chunk_max_receives


@pytest.fixture
def deferring(fakes: Fakes) -> UseCases:
    """The use cases with no inline time: every repository tag becomes a job's."""
    return wire(fakes, Options(inline_fraction=0.0))


def job_annotations(document: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = document["metadata"]["annotations"]
    return found


def progress(document: dict[str, Any]) -> tuple[str, str, str]:
    """A document's job state, tags done and tags failed."""
    shown = job_annotations(document)
    return (
        shown[jobs.STATE_ANNOTATION],
        shown[jobs.DONE_ANNOTATION],
        shown[jobs.FAILED_ANNOTATION],
    )


@pytest.mark.parametrize("imported", [False, True], ids=["dry-run", "import"])
def test_a_completed_job_answers_what_a_synchronous_import_does(
    fakes: Fakes, deferring: UseCases, imported: bool
) -> None:
    # Given a repository of 30 tags imported as a job
    push_tags(fakes.registry, TAGS)
    deferring.start.create(
        "demo", request(repository=REPOSITORY, name="fanned", imported=imported), REMAINING
    )

    # When the worker runs every chunk
    deliver(deferring, fakes.queue.chunks)

    # Then the final document is complete and says what an inline import answers
    fanned = deferring.queries.get_import("demo", "fanned")
    assert progress(fanned) == ("Complete", "30", "0")
    inline = wire(fakes).start.create(
        "demo", request(repository=REPOSITORY, name="inline", imported=False), REMAINING
    )
    assert not inline.accepted
    fanned_status = {k: v for k, v in fanned["status"].items() if k != "import"}
    assert fanned_status == inline.document["status"]
    assert fanned["spec"] | {"import": False} == inline.document["spec"]
    if imported:
        stream = deferring.queries.get_stream("demo", "fanned").to_json_dict()
        assert fanned["status"]["import"] == stream
        assert stream["metadata"]["generation"] == 1
        assert sorted(t["tag"] for t in stream["status"]["tags"]) == TAGS
        assert all([i["generation"] for i in t["items"]] == [1] for t in stream["status"]["tags"])


def test_a_duplicated_chunk_counts_each_tag_once(fakes: Fakes, deferring: UseCases) -> None:
    # Given a repository import queued as two chunks
    push_tags(fakes.registry, TAGS)
    deferring.start.create("demo", request(repository=REPOSITORY), REMAINING)
    assert len(fakes.queue.chunks) == 2

    # When every chunk is delivered twice
    deliver(deferring, fakes.queue.chunks, times=2)

    # Then every tag was counted and tagged once
    document = deferring.queries.get_import("demo", "app")
    assert progress(document) == ("Complete", "30", "0")
    assert [image["tag"] for image in document["status"]["repository"]["images"]] == [
        tag for chunk in fakes.queue.chunks for tag in chunk.tags
    ]
    stream = deferring.queries.get_stream("demo", "app").to_json_dict()
    assert stream["metadata"]["generation"] == 1
    assert all(len(t["items"]) == 1 for t in stream["status"]["tags"])


@pytest.mark.parametrize(
    ("status", "receive_count", "retried", "state", "reason"),
    [
        (404, 1, False, "Complete", "NotFound"),
        (429, 1, True, "Running", None),
        (503, 1, True, "Running", None),
        (429, LAST_DELIVERY, True, "Complete", "TooManyRequests"),
        (503, LAST_DELIVERY, True, "Complete", "InternalError"),
    ],
    ids=[
        "404-is-final-at-once",
        "429-retried",
        "503-retried",
        "429-failed-on-last-delivery",
        "503-failed-on-last-delivery",
    ],
)
def test_a_failing_tag_of_a_chunk(
    fakes: Fakes,
    deferring: UseCases,
    status: int,
    receive_count: int,
    retried: bool,
    state: str,
    reason: str | None,
) -> None:
    # Given a job of five tags, one of which the registry answers with an error
    push_tags(fakes.registry, ["a", "b", "bad", "c", "d"])
    fakes.registry.fail(REPOSITORY, "bad", status)
    deferring.start.create("demo", request(repository=REPOSITORY), REMAINING)
    [chunk] = fakes.queue.chunks

    # When its chunk is delivered
    if retried:
        with pytest.raises(ChunkRetryError):
            deliver(deferring, [chunk], receive_count)
    else:
        deliver(deferring, [chunk], receive_count)

    # Then the error is recorded when final (404, or the last delivery), else left to a retry
    document = deferring.queries.get_import("demo", "app")
    assert progress(document) == (state, "5" if reason else "4", "1" if reason else "0")
    job = fakes.job_store.get(job_annotations(document)[jobs.JOB_ANNOTATION])
    assert job is not None
    results = fakes.job_store.results(job.job_id)
    assert sorted(results) == (["a", "b", "bad", "c", "d"] if reason else ["a", "b", "c", "d"])
    if reason:
        assert results["bad"]["status"]["reason"] == reason
        assert document["status"]["repository"]["status"]["message"] == (
            "one of the images from this repository failed to import"
        )


def test_a_retried_chunk_completes_the_job_once_the_registry_recovers(
    fakes: Fakes, deferring: UseCases
) -> None:
    # Given a job whose chunk met an outage on its first delivery
    push_tags(fakes.registry, ["a", "b"])
    fakes.registry.fail(REPOSITORY, "b", 503)
    deferring.start.create("demo", request(repository=REPOSITORY), REMAINING)
    [chunk] = fakes.queue.chunks
    with pytest.raises(ChunkRetryError):
        deliver(deferring, [chunk], receive_count=1)

    # When the registry recovers and the chunk is delivered again
    fakes.registry.heal(REPOSITORY, "b")
    deliver(deferring, [chunk], receive_count=2)

    # Then the job completes without failures
    document = deferring.queries.get_import("demo", "app")
    assert progress(document) == ("Complete", "2", "0")
    assert document["status"]["repository"]["status"]["status"] == "Success"


def test_a_chunk_of_an_unknown_job_is_dropped(fakes: Fakes, app: UseCases) -> None:
    # Given a chunk whose job does not exist (expired, or never stored)
    chunk = ChunkMessage(job_id="gone", chunk=0, namespace="demo", name="app", tags=["v1"])

    # When it is delivered
    deliver(app, [chunk])

    # Then nothing is asked of the registry and nothing is written
    assert fakes.registry.requests == []
    assert fakes.store.writes == []
    assert fakes.records.load("demo", "app") is None


def test_a_chunk_of_a_completed_job_changes_nothing(fakes: Fakes, deferring: UseCases) -> None:
    # Given a completed job
    push_tags(fakes.registry, ["a", "b"])
    deferring.start.create("demo", request(repository=REPOSITORY), REMAINING)
    deliver(deferring, fakes.queue.chunks)
    before = deferring.queries.get_import("demo", "app")
    fakes.registry.requests.clear()

    # When one of its chunks is delivered once more
    deliver(deferring, fakes.queue.chunks)

    # Then the registry is not asked again and the document is unchanged
    assert fakes.registry.requests == []
    assert deferring.queries.get_import("demo", "app") == before

"""Import jobs: what a repository import that does not fit inline becomes (pure).

Owns the shapes that cross the queue and the job store: the :class:`Job`
(counters and the context a worker needs), the :class:`ChunkMessage` sent to
the import queue, how tags are cut into chunks, and the progress annotations
shown on the ImageStreamImport while the job runs. No I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

RUNNING = "Running"
COMPLETE = "Complete"

# Progress of an asynchronous import, on the ImageStreamImport's metadata.
JOB_ANNOTATION = "imagestreams.io/import-job"
STATE_ANNOTATION = "imagestreams.io/import-state"
TOTAL_ANNOTATION = "imagestreams.io/import-tags-total"
DONE_ANNOTATION = "imagestreams.io/import-tags-done"
FAILED_ANNOTATION = "imagestreams.io/import-tags-failed"

# Tags per queue message: small messages, and a chunk a worker finishes quickly.
CHUNK_TAGS = 25
# SendMessageBatch takes at most ten entries.
MAX_BATCH_ENTRIES = 10


@dataclass
class Job:
    """One asynchronous repository import.

    ``done`` counts finished tags, failed ones included; ``failed`` is the
    failed subset. The job is complete when ``done == total``. ``context``
    holds what workers and the finisher need: the request's spec and
    metadata, the stream generation reserved for it, and every tag in
    import order.
    """

    job_id: str
    namespace: str
    name: str
    total: int
    done: int = 0
    failed: int = 0
    state: str = RUNNING
    created: datetime | None = None
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.done >= self.total

    def annotations(self) -> dict[str, str]:
        """The progress annotations shown on the ImageStreamImport."""
        return {
            JOB_ANNOTATION: self.job_id,
            STATE_ANNOTATION: self.state,
            TOTAL_ANNOTATION: str(self.total),
            DONE_ANNOTATION: str(self.done),
            FAILED_ANNOTATION: str(self.failed),
        }


class ChunkMessage(BaseModel):
    """The body of one import-queue message: a few tags of one job."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    kind: Literal["chunk"] = "chunk"
    job_id: str = Field(
        validation_alias=AliasChoices("jobId", "job_id"),
        serialization_alias="jobId",
        min_length=1,
        max_length=64,
    )
    chunk: int = Field(ge=0)
    namespace: str = Field(min_length=1, max_length=63)
    name: str = Field(min_length=1, max_length=253)
    tags: list[str] = Field(min_length=1, max_length=100)

    def body(self) -> str:
        return self.model_dump_json(by_alias=True)


def chunk_messages(job: Job, tags: Sequence[str], size: int = CHUNK_TAGS) -> list[ChunkMessage]:
    """``tags`` cut into numbered messages of at most ``size`` tags."""
    return [
        ChunkMessage(
            job_id=job.job_id,
            chunk=index,
            namespace=job.namespace,
            name=job.name,
            tags=list(tags[start : start + size]),
        )
        for index, start in enumerate(range(0, len(tags), size))
    ]

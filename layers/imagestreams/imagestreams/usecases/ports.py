"""What the use cases need from the outside world, named by role.

Ports take and give domain objects (stream metas and tag states, jobs,
queue messages); the adapters that implement them (``imagestreams.adapters``,
named by technology) own every stored and sent form. Tests may pass fakes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from imagestreams import reimports, streams
from imagestreams.credentials import Keyring
from imagestreams.imports.jobs import ChunkMessage, Job
from imagestreams.models import Image, ImageImportStatus


class PullSecrets(Protocol):
    """Where a namespace's registry credentials come from."""

    def for_namespace(self, namespace: str) -> Keyring: ...


@dataclass(frozen=True)
class StreamChange:
    """A stream as a change left it: its fields at ``meta.resource_version``.

    ``created`` is the version the stream was created at (so a watch tells
    ``ADDED`` from ``MODIFIED``); a ``deleted`` stream's meta is its last one,
    at the version of its deletion.
    """

    meta: streams.StreamMeta
    created: int
    deleted: bool = False


@dataclass(frozen=True)
class TagDeletion:
    """A tag as its deletion left it: its last state, in its stream at the version of the delete."""

    meta: streams.StreamMeta
    state: streams.TagState


@dataclass(frozen=True)
class TagsWritten:
    """What :meth:`StreamStore.update_tags` left.

    ``states``: each changed tag's state as stored afterwards (a tag left
    without one is absent). ``version``: the stream's ``resourceVersion``
    after the update, when the update was given the version the stream was
    at (``since``) and nothing else changed the stream from that version
    until the update moved it on; None when that is not known, or when the
    update wrote nothing.
    """

    states: dict[str, streams.TagState]
    version: str | None = None


class StreamStore(Protocol):
    """ImageStreams: each stream's own fields, and a state per tag.

    Every write that changes a stream (an import beginning, tag states, a
    delete) gives it a new ``resourceVersion``, greater than every version
    given before in any namespace, so versions order all changes.
    """

    def begin_import(
        self,
        namespace: str,
        name: str,
        *,
        expected_resource_version: str | None,
        expected_uid: str | None,
        now: datetime,
        annotation: tuple[str, str] | None,
    ) -> streams.StreamMeta: ...

    def create_stream(self, meta: streams.StreamMeta) -> bool:
        """Store a new stream's meta as given; False when the stream exists."""
        ...

    def update_meta(
        self, meta: streams.StreamMeta, expected_resource_version: str
    ) -> streams.StreamMeta | None:
        """Set a stream's own fields and generation, bumping its resourceVersion.

        Only while the stream is at ``expected_resource_version``; None otherwise.
        """
        ...

    def get_meta(self, namespace: str, name: str) -> streams.StreamMeta | None: ...

    def list_meta(self, namespace: str) -> list[streams.StreamMeta]: ...

    def list_all_meta(self) -> list[streams.StreamMeta]:
        """Every stream of every namespace, in no particular order."""
        ...

    def changes(self, namespace: str | None, after: int, upto: int) -> list[StreamChange]:
        """The streams (of ``namespace``, or all) whose latest change has a version in
        ``(after, upto]``, and those deleted in it, oldest first."""
        ...

    def deleted_tags(self, namespace: str, after: int, upto: int) -> list[TagDeletion]:
        """The tags of ``namespace`` deleted (alone or with their stream) with a version in
        ``(after, upto]``, oldest first; deletions older than :meth:`oldest_version`
        may be forgotten."""
        ...

    def settled_version(self) -> int:
        """A version up to which every change is visible to :meth:`changes` and the lists."""
        ...

    def oldest_version(self) -> int:
        """The oldest version :meth:`changes` still knows every deletion after."""
        ...

    def get_tags(
        self, namespace: str, name: str, tags: Sequence[str] | None = None
    ) -> dict[str, streams.TagState]:
        """Tag states by tag, in tag order: all of the stream's, or the named ones that exist."""
        ...

    def update_tags(
        self,
        namespace: str,
        name: str,
        mutations: Mapping[str, streams.TagMutation],
        *,
        since: str | None = None,
    ) -> TagsWritten:
        """Change each tag's state by its mutation, losing no concurrent change.

        A mutation gets the stored state (None when the tag has none); one
        returning None or a state not :func:`~imagestreams.streams.changed`
        writes nothing. It may run more than once, so it has no side effects.
        ``since``: the version the caller last saw the stream at (see
        :class:`TagsWritten`).
        """
        ...

    def delete_stream(self, namespace: str, name: str) -> bool:
        """Delete the stream with its tags (each remembered as :meth:`deleted_tags` tells)."""
        ...

    def delete_tag(self, namespace: str, name: str, tag: str) -> streams.TagState | None:
        """Remove a tag's spec and history; the state it had, or None when it had none.

        The stream's ``resourceVersion`` moves on, and its ``generation`` when
        the tag had a spec; the deletion is remembered for :meth:`deleted_tags`.
        """
        ...

    def save_images(self, namespace: str, name: str, images: Sequence[Image]) -> None:
        """Keep the images tagged into the stream (without raw manifest and config)."""
        ...

    def get_image(self, namespace: str, name: str, digest: str) -> Image | None:
        """An image kept for the stream, or None."""
        ...

    def tracking(self, key: str) -> list[tuple[str, str, str]]: ...

    def scheduled(self, shard: str) -> list[tuple[str, str, str, str]]: ...


class ImportRecords(Protocol):
    """The latest ImageStreamImport document per name, as the OpenShift JSON answered.

    JSON, not a model: the API gives the document back verbatim, and a model
    read back would fill in defaults the importer left out.
    """

    def save(self, namespace: str, name: str, document: dict[str, Any]) -> None: ...

    def load(self, namespace: str, name: str) -> dict[str, Any] | None: ...


class JobStore(Protocol):
    """Asynchronous repository imports: counters and per-tag results."""

    def create(self, job: Job, results: Mapping[str, ImageImportStatus]) -> None:
        """A new job, with the tags that finished before it began (counted as done)."""
        ...

    def get(self, job_id: str) -> Job | None: ...

    def record(self, job_id: str, results: Mapping[str, ImageImportStatus]) -> Job:
        """Keep each tag's first result and count it once; the job as it is now."""
        ...

    def complete(self, job_id: str) -> bool:
        """Mark a job whose tags are all done complete: True for exactly one caller."""
        ...

    def results(self, job_id: str) -> dict[str, dict[str, Any]]:
        """Each tag's result as the OpenShift JSON it was recorded as.

        JSON, not models: the finished import document holds it verbatim, and
        a model read back would fill in defaults the importer left out (an
        image's ``kind``, say).
        """
        ...


class ImportQueue(Protocol):
    """Where the tags an import could not finish inline are sent."""

    def send(self, messages: Sequence[ChunkMessage]) -> None: ...

    def send_reimports(self, planned: Sequence[reimports.Planned]) -> None: ...

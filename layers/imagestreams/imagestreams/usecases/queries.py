"""Reading and deleting what imports stored: streams and the latest import documents."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from imagestreams import errors, listing, streams, watching
from imagestreams.imports import jobs
from imagestreams.models import API_GROUP, ImageStream, Status, StatusDetails
from imagestreams.usecases.ports import ImportRecords, JobStore, StreamChange, StreamStore
from imagestreams.usecases.watch import Watch

# Streams whose tags are read at once when listing a namespace.
READERS = 16


@dataclass
class Queries:
    """Answers the read and delete routes."""

    store: StreamStore
    records: ImportRecords
    job_store: JobStore
    watch: Watch = field(default_factory=Watch)

    def get_stream(self, namespace: str, name: str) -> ImageStream:
        meta = self.store.get_meta(namespace, name)
        if meta is None:
            raise errors.not_found(errors.IMAGESTREAMS, name)
        return streams.assemble(meta, self.store.get_tags(namespace, name).values())

    def list_streams(
        self, namespace: str | None, options: listing.ListOptions | None = None
    ) -> tuple[list[ImageStream], listing.Page]:
        """The streams ``options`` selects (of ``namespace``, or of all), one page, in order.

        A namespace's streams are in name order, every namespace's in
        ``namespace/name`` order. Selectors and paging apply to the streams'
        own fields first, so only the page's streams have their tags read.
        The page's ``resource_version`` is one a watch resumes from without
        missing a change the list does not show.
        """
        options = options or listing.ListOptions()
        version = self.store.settled_version()
        metas = listing.select(
            self.store.list_meta(namespace)
            if namespace is not None
            else self.store.list_all_meta(),
            options,
            lambda m: (m.name, m.namespace, m.labels),
        )
        key = _name if namespace is not None else _qualified_name
        page = listing.paginate([key(m) for m in metas], options)
        page = replace(page, resource_version=str(version))
        by_key = {key(m): m for m in metas}
        return self._assembled([by_key[k] for k in page.names]), page

    def _assembled(self, metas: Sequence[streams.StreamMeta]) -> list[ImageStream]:
        """The streams of ``metas`` with their tags, read at once."""
        if not metas:
            return []
        with ThreadPoolExecutor(max_workers=min(READERS, len(metas))) as pool:
            tag_sets = list(pool.map(lambda m: self.store.get_tags(m.namespace, m.name), metas))
        return [streams.assemble(m, t.values()) for m, t in zip(metas, tag_sets, strict=True)]

    def watch_streams(
        self, namespace: str | None, options: listing.ListOptions, seconds: float
    ) -> list[watching.Event]:
        """A finite watch of the streams ``options`` selects (of ``namespace``, or of all)."""
        source = _StreamSource(self, namespace, options)
        bookmark = watching.bookmarker(options.bookmarks, f"{API_GROUP}/v1", "ImageStream")
        return self.watch.run(source, options.resource_version, seconds, bookmark)

    def delete_stream(
        self,
        namespace: str,
        name: str,
        *,
        dry_run: bool = False,
        expected_uid: str | None = None,
        expected_rv: str | None = None,
    ) -> Status:
        """Delete a stream and its tags; a dry run checks the same and deletes nothing.

        ``expected_uid``/``expected_rv`` are DeleteOptions preconditions: a
        stream that no longer matches them is a Conflict, as in Kubernetes.
        """
        meta = self.store.get_meta(namespace, name)
        if meta is None:
            raise errors.not_found(errors.IMAGESTREAMS, name)
        if expected_uid and meta.uid != expected_uid:
            raise errors.precondition_failed(
                errors.IMAGESTREAMS, name, "UID", expected_uid, meta.uid
            )
        if expected_rv and meta.resource_version != expected_rv:
            raise errors.precondition_failed(
                errors.IMAGESTREAMS, name, "ResourceVersion", expected_rv, meta.resource_version
            )
        if not dry_run and not self.store.delete_stream(namespace, name):
            raise errors.not_found(errors.IMAGESTREAMS, name)
        return Status(
            kind="Status",
            api_version="v1",
            status="Success",
            details=StatusDetails(name=name, group=API_GROUP, kind="imagestreams", uid=meta.uid),
        )

    def get_import(self, namespace: str, name: str) -> dict[str, Any]:
        """The latest import document, with a running job's progress brought up to date."""
        document = self.records.load(namespace, name)
        if document is None:
            raise errors.not_found(errors.IMAGESTREAMIMPORTS, name)
        annotations = (document.get("metadata") or {}).get("annotations") or {}
        job_id = annotations.get(jobs.JOB_ANNOTATION)
        if job_id and annotations.get(jobs.STATE_ANNOTATION) == jobs.RUNNING:
            job = self.job_store.get(job_id)
            if job is not None and job.state == jobs.RUNNING:
                annotations.update(job.annotations())
        return document


def _name(meta: streams.StreamMeta) -> str:
    return meta.name


def _qualified_name(meta: streams.StreamMeta) -> str:
    return f"{meta.namespace}/{meta.name}"


@dataclass
class _StreamSource:
    """ImageStreams as a watch sees them: the selected streams and their changes."""

    queries: Queries
    namespace: str | None
    options: listing.ListOptions

    def settled(self) -> int:
        return self.queries.store.settled_version()

    def oldest(self) -> int:
        return self.queries.store.oldest_version()

    def current(self) -> list[watching.Event]:
        everything = replace(self.options, limit=0, after="")
        items, _ = self.queries.list_streams(self.namespace, everything)
        return [
            watching.Event(
                watching.ADDED,
                int(item.metadata.resource_version or 0),
                (item.metadata.namespace, item.metadata.name),
                item.to_json_dict(),
            )
            for item in items
        ]

    def changes(self, after: int, upto: int) -> list[watching.Event]:
        selected = [
            change
            for change in self.queries.store.changes(self.namespace, after, upto)
            if self.options.selects(change.meta.name, change.meta.namespace, change.meta.labels)
        ]
        live = [c.meta for c in selected if not c.deleted]
        assembled = {
            (s.metadata.namespace, s.metadata.name): s for s in self.queries._assembled(live)
        }
        events = []
        for change in selected:
            key = (change.meta.namespace, change.meta.name)
            stream = streams.assemble(change.meta, ()) if change.deleted else assembled[key]
            events.append(
                watching.Event(
                    _event_type(change, after),
                    int(change.meta.resource_version),
                    key,
                    stream.to_json_dict(),
                )
            )
        return events


def _event_type(change: StreamChange, after: int) -> str:
    if change.deleted:
        return watching.DELETED
    return watching.ADDED if change.created > after else watching.MODIFIED

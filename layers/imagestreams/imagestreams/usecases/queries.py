"""Reading and deleting what imports stored: streams and the latest import documents."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from imagestreams import errors, listing, streams
from imagestreams.imports import jobs
from imagestreams.models import API_GROUP, ImageStream, Status, StatusDetails
from imagestreams.usecases.ports import ImportRecords, JobStore, StreamStore

# Streams whose tags are read at once when listing a namespace.
READERS = 16


@dataclass
class Queries:
    """Answers the read and delete routes."""

    store: StreamStore
    records: ImportRecords
    job_store: JobStore

    def get_stream(self, namespace: str, name: str) -> ImageStream:
        meta = self.store.get_meta(namespace, name)
        if meta is None:
            raise errors.not_found(errors.IMAGESTREAMS, name)
        return streams.assemble(meta, self.store.get_tags(namespace, name).values())

    def list_streams(
        self, namespace: str, options: listing.ListOptions | None = None
    ) -> tuple[list[ImageStream], listing.Page]:
        """The streams ``options`` selects, one page of them, in name order.

        Selectors and paging apply to the streams' own fields first, so only
        the page's streams have their tags read.
        """
        options = options or listing.ListOptions()
        metas = listing.select(
            self.store.list_meta(namespace), options, lambda m: (m.name, m.namespace, m.labels)
        )
        page = listing.paginate([m.name for m in metas], options)
        by_name = {m.name: m for m in metas}
        shown = [by_name[n] for n in page.names]
        if not shown:
            return [], page
        with ThreadPoolExecutor(max_workers=min(READERS, len(shown))) as pool:
            tag_sets = list(pool.map(lambda m: self.store.get_tags(namespace, m.name), shown))
        items = [streams.assemble(m, t.values()) for m, t in zip(shown, tag_sets, strict=True)]
        return items, page

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

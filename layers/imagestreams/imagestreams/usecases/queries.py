"""Reading and deleting what imports stored: streams and the latest import documents."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from imagestreams import errors, streams
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

    def list_streams(self, namespace: str) -> list[ImageStream]:
        metas = self.store.list_meta(namespace)
        if not metas:
            return []
        with ThreadPoolExecutor(max_workers=min(READERS, len(metas))) as pool:
            tag_sets = list(pool.map(lambda m: self.store.get_tags(namespace, m.name), metas))
        return [streams.assemble(m, t.values()) for m, t in zip(metas, tag_sets, strict=True)]

    def delete_stream(self, namespace: str, name: str) -> Status:
        meta = self.store.get_meta(namespace, name)
        if meta is None or not self.store.delete_stream(namespace, name):
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

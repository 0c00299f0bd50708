"""Starting an import: ``POST imagestreamimports``.

Owns the order of work for one request: take the time budget from the
invocation, read the namespace's pull secret, run the importer, tag the
results into the ImageStream when ``spec.import`` is true (leaving it as it
was when nothing would change, as OpenShift does), keep the latest
import document, and queue what did not fit inline as an import job (the
answer is then 202 with the progress so far).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from imagestreams import errors, streams
from imagestreams.api.validation import apply_defaults
from imagestreams.deadline import Deadline
from imagestreams.imports import jobs
from imagestreams.imports.importer import Importer
from imagestreams.imports.jobs import Job
from imagestreams.imports.outcomes import SpecResult
from imagestreams.imports.plan import ValidImport
from imagestreams.models import ImageStream, ImageStreamImport, ImageStreamImportStatus, Status
from imagestreams.observability import logger
from imagestreams.telemetry import NO_TELEMETRY, Telemetry
from imagestreams.usecases.common import Options, budget, fetcher, now, spec_tag_annotations
from imagestreams.usecases.ports import (
    ImportQueue,
    ImportRecords,
    JobStore,
    PullSecrets,
    StreamStore,
)
from imagestreams.usecases.tagging import Snapshot, StreamTagger


@dataclass(frozen=True)
class Created:
    """A POST's answer: the document, and whether work goes on asynchronously (202)."""

    document: dict[str, Any]
    accepted: bool = False


@dataclass
class StartImport:
    """Runs one ImageStreamImport request."""

    importer: Importer
    pull_secrets: PullSecrets
    store: StreamStore
    tagger: StreamTagger
    records: ImportRecords
    job_store: JobStore
    queue: ImportQueue
    options: Options
    clock: Callable[[], datetime] = field(default=now)
    telemetry: Telemetry = NO_TELEMETRY

    def create(
        self,
        namespace: str,
        valid: ValidImport,
        remaining_seconds: float,
        *,
        dry_run: bool = False,
    ) -> Created:
        """Import what the ``valid`` request names.

        What fits in the time budget is imported inline; repository tags left
        over become an import job on the queue, and the answer is accepted
        (202) with the progress so far.

        A dry run (``dryRun=All``) imports the same way but stores nothing:
        the answer shows the stream as the import would leave it, no import
        document is kept, and repository tags that do not fit inline are
        left out (the repository status says how many) instead of queued.
        """
        request = apply_defaults(valid.request, valid.references, self.options.default_import_mode)
        name = request.metadata.name
        expected_rv = request.metadata.resource_version or None
        expected_uid = request.metadata.uid or None
        # Fail on a stale resourceVersion before any registry work, importing or not (rest.go).
        self._check_preconditions(namespace, name, expected_rv, expected_uid)
        seconds = budget(self.options.time_budget, remaining_seconds)
        defer_after = (
            Deadline.after(seconds * self.options.inline_fraction)
            if request.spec.repository is not None
            else None
        )
        session = fetcher(self.importer, self.pull_secrets, namespace, seconds)
        annotations = dict(request.metadata.annotations or {})
        found = self._snapshot(namespace, request) if request.spec.import_ else None
        result = self.importer.import_spec(
            request.spec,
            valid.references,
            session,
            annotations,
            defer_after,
            # Tags the stream has are likely unchanged: a HEAD may spare their GETs.
            found.tags if found is not None else frozenset(),
            tag_annotations=(
                found.annotations
                if found is not None and found.complete
                else spec_tag_annotations(self.store, namespace, name)
            ),
        )
        now = self.clock()
        request.metadata.namespace = namespace
        request.metadata.uid = str(uuid.uuid4())
        request.metadata.creation_timestamp = now
        request.status = ImageStreamImportStatus(
            images=result.images or None, repository=result.repository
        )
        if dry_run:
            return self._dry_run(namespace, valid, request, result, now, found)
        self.telemetry.imported("import", [*result.images, *result.finished.values()])
        meta, written, still_found = None, None, None
        if found is not None:
            unchanged = self._unchanged(valid, result, now, found)
            if unchanged is not None:
                request.status.import_ = unchanged
            else:
                meta, still_found = self.tagger.begin_found(
                    found, namespace, name, now, expected_rv, expected_uid
                )
                written = self.tagger.apply(
                    namespace,
                    name,
                    self.tagger.request_mutations(valid, meta.generation, now),
                    since=meta.resource_version,
                )
        job = self._start_job(namespace, request, result, meta, now) if result.deferred else None
        if meta is not None:
            # The stream as found and the tags as written make the stream as it
            # is now, unless another writer came in between: then it is read.
            request.status.import_ = self.tagger.stream(meta, still_found, written)
        document = request.to_json_dict()
        self.records.save(namespace, name, document)
        if job is not None:
            self.queue.send(jobs.chunk_messages(job, result.deferred))
        logger.info(
            "import answered",
            namespace=namespace,
            stream=name,
            images=len(result.images),
            repository_tags=len(result.ordered),
            deferred=len(result.deferred),
            tagged=meta is not None,
        )
        return Created(document, accepted=job is not None)

    def _snapshot(self, namespace: str, request: ImageStreamImport) -> Snapshot:
        """The stream before importing: every tag when a repository is imported (it
        names most of them), else the tags the images go to."""
        if request.spec.repository is not None:
            return self.tagger.snapshot(namespace, request.metadata.name, None)
        tags = [spec.to.name for spec in request.spec.images or [] if spec.to and spec.to.name]
        return self.tagger.snapshot(namespace, request.metadata.name, tags)

    def _unchanged(
        self, valid: ValidImport, result: SpecResult, now: datetime, found: Snapshot | None
    ) -> ImageStream | None:
        """The stream as found, when importing changes none of its tags (see
        :meth:`StreamTagger.unchanged`); tags left for the queue may change it."""
        if result.deferred or found is None:
            return None
        return self.tagger.unchanged(valid, now, found)

    def _dry_run(
        self,
        namespace: str,
        valid: ValidImport,
        request: ImageStreamImport,
        result: SpecResult,
        now: datetime,
        found: Snapshot | None,
    ) -> Created:
        """The answer of a dry run: what would be stored, computed, and nothing written."""
        assert request.status is not None
        if request.spec.import_:
            name = request.metadata.name
            unchanged = self._unchanged(valid, result, now, found)
            if unchanged is not None:
                request.status.import_ = unchanged
            else:
                meta = self.tagger.preview_import(namespace, name, now)
                mutations = self.tagger.request_mutations(valid, meta.generation, now)
                request.status.import_ = self.tagger.preview(meta, mutations)
        if result.deferred and request.status.repository is not None:
            request.status.repository.status = _progress(
                "DryRun",
                f"{len(result.deferred)} of {len(result.ordered)} tags were not imported: "
                "a dry run imports only what fits in one request",
            )
        logger.info("import dry run answered", namespace=namespace, stream=request.metadata.name)
        return Created(request.to_json_dict())

    def _start_job(
        self,
        namespace: str,
        request: ImageStreamImport,
        result: SpecResult,
        meta: streams.StreamMeta | None,
        now: datetime,
    ) -> Job:
        """Record the job for the deferred tags and show its progress on ``request``."""
        assert request.spec.repository is not None
        assert request.status is not None
        assert request.status.repository is not None
        job = Job(
            job_id=uuid.uuid4().hex,
            namespace=namespace,
            name=request.metadata.name,
            total=len(result.ordered),
            created=now,
            context={
                "spec": request.spec.repository.to_json_dict(),
                "import": bool(request.spec.import_),
                "generation": meta.generation if meta is not None else 0,
                "annotations": dict(request.metadata.annotations or {}),
                "order": result.ordered,
            },
        )
        self.job_store.create(job, result.finished)
        self.telemetry.job_started()
        job.done = len(result.finished)
        job.failed = sum(1 for s in result.finished.values() if not s.status.is_success)
        request.metadata.annotations = {**(request.metadata.annotations or {}), **job.annotations()}
        request.status.repository.status = _progress(
            "Importing",
            f"{len(result.deferred)} of {job.total} tags are being imported asynchronously",
        )
        logger.info(
            "import job started", job=job.job_id, total=job.total, deferred=len(result.deferred)
        )
        return job

    def _check_preconditions(
        self, namespace: str, name: str, expected_rv: str | None, expected_uid: str | None
    ) -> None:
        """OpenShift's checks of ``metadata.resourceVersion`` and ``uid`` on the stream."""
        if not (expected_rv or expected_uid):
            return
        meta = self.store.get_meta(namespace, name)
        if meta is None:
            raise errors.not_found(errors.IMAGESTREAMS, name)
        if expected_rv and meta.resource_version != expected_rv:
            raise errors.stream_updated(name, expected_rv, meta.resource_version)
        if expected_uid and meta.uid != expected_uid:
            # OpenShift's own NotFound here (rest.go) names the resource in the singular.
            raise errors.not_found(errors.IMAGESTREAM, name)


def _progress(reason: str, message: str) -> Status:
    """A repository status that is neither success nor failure: what became of its tags."""
    return Status(kind="", api_version="", reason=reason, message=message)

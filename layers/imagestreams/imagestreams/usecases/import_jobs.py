"""Import jobs: the worker's chunks of a repository import, progress and completion.

Every step is idempotent: a redelivered or duplicated chunk changes nothing
twice, each tag's result is counted once, and exactly one worker completes
a job, writing the document a synchronous import would have answered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from imagestreams import reference
from imagestreams.errors import ChunkRetryError
from imagestreams.imports import jobs, plan
from imagestreams.imports.importer import Importer
from imagestreams.imports.jobs import ChunkMessage, Job
from imagestreams.imports.statuses import repository_status_for
from imagestreams.models import ImageImportStatus, RepositoryImportSpec, Status
from imagestreams.observability import logger
from imagestreams.reference import Reference
from imagestreams.telemetry import NO_TELEMETRY, Telemetry
from imagestreams.usecases.common import Delivery, Options, budget, fetcher, now
from imagestreams.usecases.ports import ImportRecords, JobStore, PullSecrets, StreamStore
from imagestreams.usecases.tagging import StreamTagger


@dataclass
class ImportJobs:
    """Runs the chunks of import jobs (the worker's side of a fan-out)."""

    importer: Importer
    pull_secrets: PullSecrets
    store: StreamStore
    tagger: StreamTagger
    records: ImportRecords
    job_store: JobStore
    options: Options
    clock: Callable[[], datetime] = field(default=now)
    telemetry: Telemetry = NO_TELEMETRY

    def process_chunk(
        self, message: ChunkMessage, receive_count: int, remaining_seconds: float
    ) -> None:
        """Import one chunk of a job's tags, record and tag the results, finish the job.

        Retryable registry errors make the chunk fail (``ChunkRetryError``) so
        the queue delivers it again; on its last delivery those tags are
        recorded as failed instead, so the job still completes, and the chunk
        still fails so the queue moves it to the dead-letter queue (and
        counts as dead-lettered).
        """
        job = self.job_store.get(message.job_id)
        if job is None:
            logger.warning("chunk of an unknown job dropped", job=message.job_id)
            return
        if job.state == jobs.COMPLETE:
            return
        delivery = Delivery(receive_count, self.options.chunk_max_receives)
        try:
            retry = self._import_chunk(job, message, delivery, remaining_seconds)
        except Exception as error:
            if delivery.last and not isinstance(error, ChunkRetryError):
                self._record_chunk_failed(job, message, error)
            if delivery.last:
                self.telemetry.dead_lettered("job")
            raise
        if retry:
            # On the last delivery the tags are already recorded as failed; failing
            # the chunk once more moves it to the dead-letter queue for inspection.
            if delivery.last:
                self.telemetry.dead_lettered("job")
            raise ChunkRetryError(f"{retry} tags of chunk {message.chunk} met retryable errors")

    def _import_chunk(
        self, job: Job, message: ChunkMessage, delivery: Delivery, remaining_seconds: float
    ) -> int:
        repository = _repository(job)
        seconds = budget(self.options.worker_time_budget, remaining_seconds)
        session = fetcher(self.importer, self.pull_secrets, job.namespace, seconds)
        targets = plan.tag_targets(*repository, message.tags, self.importer.options)
        outcomes = self.importer.run(targets, session, job.context.get("annotations") or {})
        kept, retry = delivery.kept(outcomes)
        statuses = {o.target.tag: o.status() for o in kept}
        self.telemetry.imported("job", statuses.values())
        self._record(job, repository, statuses)
        return retry

    def _record_chunk_failed(self, job: Job, message: ChunkMessage, error: Exception) -> None:
        """On a chunk's last delivery, a failure that is not a registry's is every tag's."""
        statuses = {
            tag: ImageImportStatus(
                tag=tag,
                status=Status.failure(
                    500,
                    "InternalError",
                    f"Internal error occurred: the import of tag {tag} failed repeatedly "
                    f"({type(error).__name__})",
                    type_meta=False,
                ),
            )
            for tag in message.tags
        }
        self.telemetry.recorded("job", statuses.values())
        try:
            self._record(job, _repository(job), statuses)
        except Exception as second:  # the original error is re-raised by the caller
            logger.error(
                "chunk failure not recorded", job=job.job_id, error_type=type(second).__name__
            )

    def _record(
        self,
        job: Job,
        repository: tuple[RepositoryImportSpec, Reference],
        statuses: Mapping[str, ImageImportStatus],
    ) -> None:
        """Tag the results into the stream, then count them; the last one finishes the job."""
        if not statuses:
            return
        if job.context.get("import"):
            now = self.clock()
            generation = int(job.context.get("generation") or 0)
            mutations = {
                tag: [self.tagger.mutation(status, tag, generation, now, repository=repository)]
                for tag, status in statuses.items()
                if tag
            }
            self.tagger.apply(job.namespace, job.name, mutations)
        updated = self.job_store.record(job.job_id, statuses)
        if updated.finished and self.job_store.complete(job.job_id):
            if updated.created is not None:
                self.telemetry.job_completed((self.clock() - updated.created).total_seconds())
            self._finish(updated)

    def _finish(self, job: Job) -> None:
        """Write the final document: what a synchronous import would have answered."""
        document = self.records.load(job.namespace, job.name)
        metadata = (document or {}).get("metadata") or {}
        if (
            document is None
            or (metadata.get("annotations") or {}).get(jobs.JOB_ANNOTATION) != job.job_id
        ):
            logger.info("job finished after a newer import", job=job.job_id)
            return
        results = self.job_store.results(job.job_id)
        ordered = [results[tag] for tag in job.context.get("order", []) if tag in results]
        failures = sum(1 for s in ordered if (s.get("status") or {}).get("status") != "Success")
        status = document.setdefault("status", {})
        repository = status.setdefault("repository", {})
        repository["status"] = repository_status_for(failures).to_json_dict()
        repository["images"] = ordered
        if job.context.get("import"):
            meta = self.store.get_meta(job.namespace, job.name)
            if meta is not None:
                status["import"] = self.tagger.stream(meta).to_json_dict()
        job.state = jobs.COMPLETE
        job.done, job.failed = len(ordered), failures
        metadata["annotations"] = {**(metadata.get("annotations") or {}), **job.annotations()}
        self.records.save(job.namespace, job.name, document)
        logger.info("import job complete", job=job.job_id, total=job.total, failed=failures)


def _repository(job: Job) -> tuple[RepositoryImportSpec, Reference]:
    """The job's repository spec and its reference, parsed once per chunk.

    The spec was validated when the job began, so its reference parses.
    """
    spec = RepositoryImportSpec.model_validate(job.context["spec"])
    return spec, reference.parse(spec.from_.name)

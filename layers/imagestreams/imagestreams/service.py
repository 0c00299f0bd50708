"""The use cases behind the API: imports, and reading or deleting what they stored.

Owns the order of work for one request: take the time budget from the
invocation, read the namespace's pull secret, run the importer, tag the
results into the ImageStream when ``spec.import`` is true (one conditional
update per tag, so concurrent imports lose nothing), keep the latest import
document, and assemble answers. Adapters arrive through the constructor
(see ``bootstrap``); nothing here builds a client.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from imagestreams import jobs, reimports, streams
from imagestreams.credentials import Keyring
from imagestreams.errors import ChunkRetryError, ConflictError, NotFoundRequestError
from imagestreams.importer import Importer, SpecResult, is_retryable, repository_status_for
from imagestreams.jobs import ChunkMessage, Job
from imagestreams.models import (
    DOCKER_REPOSITORY_CHECK_ANNOTATION,
    ImageImportSpec,
    ImageImportStatus,
    ImageStream,
    ImageStreamImport,
    ImageStreamImportStatus,
    LocalObjectReference,
    ObjectReference,
    RepositoryImportSpec,
    Status,
    StatusDetails,
)
from imagestreams.models.base import format_time
from imagestreams.observability import logger
from imagestreams.registry.transport import Deadline
from imagestreams.validation import apply_defaults

# Time kept back from the Lambda deadline to store and write the response.
RESPONSE_RESERVE = 3.0
GROUP = "image.openshift.io"
TAG_WRITERS = 16

Mutation = Callable[[streams.TagState | None], streams.TagState]


class PullSecrets(Protocol):
    """Where a namespace's registry credentials come from."""

    def for_namespace(self, namespace: str) -> Keyring: ...


class StreamStore(Protocol):
    """ImageStreams: one meta record plus one record per tag."""

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

    def get_meta(self, namespace: str, name: str) -> streams.StreamMeta | None: ...

    def list_meta(self, namespace: str) -> list[streams.StreamMeta]: ...

    def get_tags(
        self, namespace: str, name: str, tags: Sequence[str] | None = None
    ) -> dict[str, dict[str, Any]]: ...

    def update_tag(
        self,
        namespace: str,
        name: str,
        tag: str,
        mutate: Callable[[dict[str, Any] | None], dict[str, Any] | None],
    ) -> dict[str, Any] | None: ...

    def update_tags(
        self,
        namespace: str,
        name: str,
        mutations: Mapping[str, Callable[[dict[str, Any] | None], dict[str, Any] | None]],
    ) -> None: ...

    def delete_stream(self, namespace: str, name: str) -> bool: ...

    def tracking(self, key: str) -> list[tuple[str, str, str]]: ...

    def scheduled(self, shard: str) -> list[tuple[str, str, str, str]]: ...


class ImportRecords(Protocol):
    """The latest ImageStreamImport document per name."""

    def save(self, namespace: str, name: str, document: dict[str, Any]) -> None: ...

    def load(self, namespace: str, name: str) -> dict[str, Any] | None: ...


class JobStore(Protocol):
    """Asynchronous repository imports: counters and per-tag results."""

    def create(self, job: Job, results: Mapping[str, dict[str, Any]]) -> None: ...

    def get(self, job_id: str) -> Job | None: ...

    def record(self, job_id: str, results: Mapping[str, dict[str, Any]]) -> Job: ...

    def complete(self, job_id: str) -> bool: ...

    def results(self, job_id: str) -> dict[str, dict[str, Any]]: ...


class ImportQueue(Protocol):
    """Where the tags an import could not finish inline are sent."""

    def send(self, messages: Sequence[ChunkMessage]) -> None: ...

    def send_reimports(self, planned: Sequence[reimports.Planned]) -> None: ...


@dataclass(frozen=True)
class ServiceOptions:
    time_budget: float = 20.0
    default_import_mode: str = "Legacy"
    max_tag_history: int = streams.DEFAULT_MAX_HISTORY
    inline_fraction: float = 0.6
    worker_time_budget: float = 600.0
    chunk_max_receives: int = 3
    reimports_per_second: float = 1.0


@dataclass(frozen=True)
class Created:
    """A POST's answer: the document, and whether work goes on asynchronously (202)."""

    document: dict[str, Any]
    accepted: bool = False


def not_found(resource: str, name: str) -> NotFoundRequestError:
    """Kubernetes' NotFound for ``resource`` (plural) named ``name``."""
    return NotFoundRequestError(f'{resource}.{GROUP} "{name}" not found')


class ImportService:
    """Runs ImageStreamImport requests and serves what they stored."""

    def __init__(
        self,
        importer: Importer,
        pull_secrets: PullSecrets,
        streams_store: StreamStore,
        records: ImportRecords,
        options: ServiceOptions,
        job_store: JobStore | None = None,
        queue: ImportQueue | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._importer = importer
        self._pull_secrets = pull_secrets
        self._streams = streams_store
        self._records = records
        self._options = options
        self._jobs = job_store
        self._queue = queue
        self._clock = clock

    # --- POST imagestreamimports ------------------------------------------

    def create(
        self, namespace: str, request: ImageStreamImport, remaining_seconds: float
    ) -> Created:
        """Import what ``request`` names.

        What fits in the time budget is imported inline; repository tags left
        over become an import job on the queue, and the answer is accepted
        (202) with the progress so far.
        """
        apply_defaults(request, self._options.default_import_mode)
        name = request.metadata.name
        expected_rv = request.metadata.resource_version or None
        expected_uid = request.metadata.uid or None
        if request.spec.import_:
            # Fail on a stale resourceVersion before any registry work.
            self._check_preconditions(namespace, name, expected_rv, expected_uid)
        budget = max(0.5, min(self._options.time_budget, remaining_seconds - RESPONSE_RESERVE))
        fans_out = (
            request.spec.repository is not None
            and self._jobs is not None
            and self._queue is not None
        )
        defer_after = Deadline.after(budget * self._options.inline_fraction) if fans_out else None
        fetcher = self._importer.fetcher(
            self._pull_secrets.for_namespace(namespace), Deadline.after(budget)
        )
        annotations = dict(request.metadata.annotations or {})
        result = self._importer.import_spec(request.spec, fetcher, annotations, defer_after)
        now = self._clock()
        request.metadata.namespace = namespace
        request.metadata.uid = str(uuid.uuid4())
        request.metadata.creation_timestamp = now
        request.status = ImageStreamImportStatus(
            images=result.images or None, repository=result.repository
        )
        meta = None
        if request.spec.import_:
            meta = self._begin_import(namespace, name, now, expected_rv, expected_uid)
            self.apply_mutations(namespace, name, self._mutations(request, meta.generation, now))
        job = self._start_job(namespace, request, result, meta, now) if result.deferred else None
        if meta is not None:
            request.status.import_ = self._assemble(meta, self._streams.get_tags(namespace, name))
        document = request.to_json_dict()
        self._records.save(namespace, name, document)
        if job is not None:
            assert self._queue is not None
            self._queue.send(jobs.chunk_messages(job, result.deferred))
        logger.info(
            "import answered",
            namespace=namespace,
            stream=name,
            images=len(result.images),
            repository_tags=len(result.ordered),
            deferred=len(result.deferred),
            tagged=bool(request.spec.import_),
        )
        return Created(document, accepted=job is not None)

    def _start_job(
        self,
        namespace: str,
        request: ImageStreamImport,
        result: SpecResult,
        meta: streams.StreamMeta | None,
        now: datetime,
    ) -> Job:
        """Record the job for the deferred tags and show its progress on ``request``."""
        assert self._jobs is not None
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
        finished = {tag: status.to_json_dict() for tag, status in result.finished.items()}
        self._jobs.create(job, finished)
        job.done = len(finished)
        job.failed = sum(1 for s in result.finished.values() if s.status.status != "Success")
        request.metadata.annotations = {**(request.metadata.annotations or {}), **job.annotations()}
        request.status.repository.status = Status(
            kind="",
            api_version="",
            reason="Importing",
            message=(
                f"{len(result.deferred)} of {job.total} tags are being imported asynchronously"
            ),
        )
        logger.info(
            "import job started", job=job.job_id, total=job.total, deferred=len(result.deferred)
        )
        return job

    # --- the worker's side -------------------------------------------------

    def process_chunk(
        self, message: ChunkMessage, receive_count: int, remaining_seconds: float
    ) -> None:
        """Import one chunk of a job's tags, record and tag the results, finish the job.

        Retryable registry errors make the chunk fail (``ChunkRetryError``) so
        the queue delivers it again; on its last delivery those tags are
        recorded as failed instead, so the job still completes, and the chunk
        still fails so the queue moves it to the dead-letter queue. Every step
        is idempotent: a redelivered or duplicated chunk changes nothing twice.
        """
        assert self._jobs is not None
        job = self._jobs.get(message.job_id)
        if job is None:
            logger.warning("chunk of an unknown job dropped", job=message.job_id)
            return
        if job.state == jobs.COMPLETE:
            return
        last = receive_count >= self._options.chunk_max_receives
        try:
            retry = self._import_chunk(job, message, last, remaining_seconds)
        except Exception as error:
            if last and not isinstance(error, ChunkRetryError):
                self._record_chunk_failed(job, message, error)
            raise
        if retry:
            # On the last delivery the tags are already recorded as failed; failing
            # the chunk once more moves it to the dead-letter queue for inspection.
            raise ChunkRetryError(f"{retry} tags of chunk {message.chunk} met retryable errors")

    def _import_chunk(
        self, job: Job, message: ChunkMessage, last: bool, remaining_seconds: float
    ) -> int:
        spec = RepositoryImportSpec.model_validate(job.context["spec"])
        budget = max(
            0.5, min(self._options.worker_time_budget, remaining_seconds - RESPONSE_RESERVE)
        )
        fetcher = self._importer.fetcher(
            self._pull_secrets.for_namespace(job.namespace), Deadline.after(budget)
        )
        targets = self._importer.tag_targets(spec, message.tags)
        outcomes = self._importer.run(targets, fetcher, job.context.get("annotations") or {})
        retry = sum(1 for o in outcomes if is_retryable(o.error))
        kept = [o for o in outcomes if last or not is_retryable(o.error)]
        statuses = {o.target.tag: o.status() for o in kept}
        self._record(job, spec, statuses)
        return retry

    def _record_chunk_failed(self, job: Job, message: ChunkMessage, error: Exception) -> None:
        """On a chunk's last delivery, a failure that is not a registry's is every tag's."""
        spec = RepositoryImportSpec.model_validate(job.context["spec"])
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
        try:
            self._record(job, spec, statuses)
        except Exception as second:  # the original error is re-raised below
            logger.error(
                "chunk failure not recorded", job=job.job_id, error_type=type(second).__name__
            )

    def _record(
        self, job: Job, spec: RepositoryImportSpec, statuses: Mapping[str, ImageImportStatus]
    ) -> None:
        """Tag the results into the stream, then count them; the last one finishes the job."""
        assert self._jobs is not None
        if not statuses:
            return
        if job.context.get("import"):
            now = self._clock()
            generation = int(job.context.get("generation") or 0)
            history = self._options.max_tag_history
            mutations = {
                tag: [_mutation(status, tag, spec, None, generation, now, history)]
                for tag, status in statuses.items()
                if tag
            }
            self.apply_mutations(job.namespace, job.name, mutations)
        updated = self._jobs.record(job.job_id, {t: s.to_json_dict() for t, s in statuses.items()})
        if updated.finished and self._jobs.complete(job.job_id):
            self._finish(updated)

    def _finish(self, job: Job) -> None:
        """Write the final document: what a synchronous import would have answered."""
        assert self._jobs is not None
        document = self._records.load(job.namespace, job.name)
        metadata = (document or {}).get("metadata") or {}
        if (
            document is None
            or (metadata.get("annotations") or {}).get(jobs.JOB_ANNOTATION) != job.job_id
        ):
            logger.info("job finished after a newer import", job=job.job_id)
            return
        results = self._jobs.results(job.job_id)
        ordered = [results[tag] for tag in job.context.get("order", []) if tag in results]
        failures = sum(1 for s in ordered if (s.get("status") or {}).get("status") != "Success")
        status = document.setdefault("status", {})
        repository = status.setdefault("repository", {})
        repository["status"] = repository_status_for(failures).to_json_dict()
        repository["images"] = ordered
        if job.context.get("import"):
            status["import"] = self.get_stream(job.namespace, job.name).to_json_dict()
        job.state = jobs.COMPLETE
        job.done, job.failed = len(ordered), failures
        metadata["annotations"] = {**(metadata.get("annotations") or {}), **job.annotations()}
        self._records.save(job.namespace, job.name, document)
        logger.info("import job complete", job=job.job_id, total=job.total, failed=failures)

    def _begin_import(
        self,
        namespace: str,
        name: str,
        now: datetime,
        expected_rv: str | None = None,
        expected_uid: str | None = None,
    ) -> streams.StreamMeta:
        """Take the stream's next generation, marking the repository check time."""
        return self._streams.begin_import(
            namespace,
            name,
            expected_resource_version=expected_rv,
            expected_uid=expected_uid,
            now=now,
            annotation=(DOCKER_REPOSITORY_CHECK_ANNOTATION, format_time(now) or ""),
        )

    def _check_preconditions(
        self, namespace: str, name: str, expected_rv: str | None, expected_uid: str | None
    ) -> None:
        """OpenShift's checks of ``metadata.resourceVersion`` and ``uid`` on the stream."""
        if not (expected_rv or expected_uid):
            return
        meta = self._streams.get_meta(namespace, name)
        if meta is None or (expected_uid and meta.uid != expected_uid):
            raise not_found("imagestreams", name)
        if expected_rv and meta.resource_version != expected_rv:
            raise ConflictError(
                f'Operation cannot be fulfilled on imagestream.{GROUP} "{name}": '
                f'the image stream was updated from "{expected_rv}" to "{meta.resource_version}"'
            )

    def _mutations(
        self, request: ImageStreamImport, generation: int, now: datetime
    ) -> dict[str, list[Mutation]]:
        """Per tag, the changes this import makes, in OpenShift's order (repository first)."""
        status = request.status
        assert status is not None
        by_tag: dict[str, list[Mutation]] = {}
        history = self._options.max_tag_history
        repository = request.spec.repository
        if repository is not None and status.repository is not None:
            for result in status.repository.images or []:
                tag = streams.tag_for_repository_image(result)
                if tag:
                    by_tag.setdefault(tag, []).append(
                        _mutation(result, tag, repository, None, generation, now, history)
                    )
        for spec, result in zip(request.spec.images or [], status.images or [], strict=True):
            if spec.to is None or not spec.to.name:
                continue
            by_tag.setdefault(spec.to.name, []).append(
                _mutation(result, spec.to.name, None, spec, generation, now, history)
            )
        return by_tag

    def apply_mutations(
        self, namespace: str, name: str, mutations: Mapping[str, list[Mutation]]
    ) -> None:
        """Write each tag's changes, conditionally on what was read, in few requests."""

        def combined(tag: str) -> Callable[[dict[str, Any] | None], dict[str, Any] | None]:
            def mutate(item: dict[str, Any] | None) -> dict[str, Any] | None:
                before = streams.from_item(item) if item is not None else None
                after = before
                for change in mutations[tag]:
                    after = change(after)
                if after is None or (before is not None and not streams.changed(before, after)):
                    return item
                return streams.to_item(after)

            return mutate

        self._streams.update_tags(namespace, name, {tag: combined(tag) for tag in mutations})

    def _assemble(
        self, meta: streams.StreamMeta, items: Mapping[str, dict[str, Any]]
    ) -> ImageStream:
        stream = streams.assemble(meta, (streams.from_item(i) for i in items.values()))
        stream.metadata.namespace = meta.namespace
        return stream

    # --- re-imports ----------------------------------------------------------

    def run_schedule(self) -> int:
        """Queue re-imports of every scheduled tag, paced per registry; how many messages."""
        assert self._queue is not None
        found = [
            reimports.Found(namespace, name, tag, registry)
            for shard in reimports.shards()
            for namespace, name, tag, registry in self._streams.scheduled(shard)
        ]
        planned = reimports.plan(found, "schedule", self._options.reimports_per_second)
        self._queue.send_reimports(planned)
        logger.info("scheduled re-imports queued", tags=len(found), messages=len(planned))
        return len(planned)

    def on_pushes(self, pushes: Sequence[reimports.Pushed], reason: str) -> int:
        """Queue re-imports of exactly the tags that track the pushed images."""
        assert self._queue is not None
        found: list[reimports.Found] = []
        for pushed in pushes:
            key = pushed.key
            if key is None:
                continue
            found.extend(
                reimports.Found(namespace, name, tag, key.split("/", 1)[0])
                for namespace, name, tag in self._streams.tracking(key)
            )
        planned = reimports.plan(found, reason, self._options.reimports_per_second)
        self._queue.send_reimports(planned)
        logger.info("push re-imports queued", reason=reason, pushes=len(pushes), tags=len(found))
        return len(found)

    def process_reimport(
        self, message: reimports.ReimportMessage, receive_count: int, remaining_seconds: float
    ) -> None:
        """Re-import some tags of a stream as their spec says; write only what changed.

        The stream's generation moves on only when a tag gains a history item
        or a new condition, so an unchanged registry costs no write; a failure
        already recorded is not written again.
        """
        items = self._streams.get_tags(message.namespace, message.name, message.tags)
        specs = {
            tag: spec
            for tag, item in items.items()
            if (spec := streams.from_item(item).spec) is not None
            and spec.from_ is not None
            and spec.from_.kind == "DockerImage"
        }
        if not specs:
            return
        meta = self._streams.get_meta(message.namespace, message.name)
        if meta is None:
            return
        budget = max(
            0.5, min(self._options.worker_time_budget, remaining_seconds - RESPONSE_RESERVE)
        )
        fetcher = self._importer.fetcher(
            self._pull_secrets.for_namespace(message.namespace), Deadline.after(budget)
        )
        image_specs = {
            tag: ImageImportSpec(
                from_=ObjectReference(
                    kind="DockerImage", name=spec.from_.name if spec.from_ else ""
                ),
                to=LocalObjectReference(name=tag),
                import_policy=spec.import_policy,
                reference_policy=spec.reference_policy,
            )
            for tag, spec in specs.items()
        }
        targets = [self._importer.image_target(s) for s in image_specs.values()]
        outcomes = self._importer.run(targets, fetcher, {})
        last = receive_count >= self._options.chunk_max_receives
        retry = sum(1 for o in outcomes if is_retryable(o.error))
        now = self._clock()
        history = self._options.max_tag_history

        def mutations(generation: int) -> dict[str, list[Mutation]]:
            return {
                tag: [_mutation(o.status(), tag, None, image_specs[tag], generation, now, history)]
                for tag, o in zip(image_specs, outcomes, strict=True)
                if last or not is_retryable(o.error)
            }

        tentative = mutations(meta.generation + 1)
        if any(
            streams.changed(
                streams.from_item(items[tag]), changes[0](streams.from_item(items[tag]))
            )
            for tag, changes in tentative.items()
        ):
            started = self._begin_import(message.namespace, message.name, now)
            self.apply_mutations(message.namespace, message.name, mutations(started.generation))
        if retry:
            raise ChunkRetryError(
                f"{retry} tags of {message.namespace}/{message.name} will be tried again"
            )

    # --- reads -------------------------------------------------------------

    def get_stream(self, namespace: str, name: str) -> ImageStream:
        meta = self._streams.get_meta(namespace, name)
        if meta is None:
            raise not_found("imagestreams", name)
        return self._assemble(meta, self._streams.get_tags(namespace, name))

    def list_streams(self, namespace: str) -> list[ImageStream]:
        metas = self._streams.list_meta(namespace)
        if not metas:
            return []
        with ThreadPoolExecutor(max_workers=min(TAG_WRITERS, len(metas))) as pool:
            tag_sets = list(pool.map(lambda m: self._streams.get_tags(namespace, m.name), metas))
        return [self._assemble(m, t) for m, t in zip(metas, tag_sets, strict=True)]

    def delete_stream(self, namespace: str, name: str) -> Status:
        meta = self._streams.get_meta(namespace, name)
        if meta is None or not self._streams.delete_stream(namespace, name):
            raise not_found("imagestreams", name)
        return Status(
            kind="Status",
            api_version="v1",
            status="Success",
            details=StatusDetails(name=name, group=GROUP, kind="imagestreams", uid=meta.uid),
        )

    def get_import(self, namespace: str, name: str) -> dict[str, Any]:
        """The latest import document, with a running job's progress brought up to date."""
        document = self._records.load(namespace, name)
        if document is None:
            raise not_found("imagestreamimports", name)
        annotations = (document.get("metadata") or {}).get("annotations") or {}
        job_id = annotations.get(jobs.JOB_ANNOTATION)
        if job_id and annotations.get(jobs.STATE_ANNOTATION) == jobs.RUNNING and self._jobs:
            job = self._jobs.get(job_id)
            if job is not None and job.state == jobs.RUNNING:
                annotations.update(job.annotations())
        return document


def _mutation(
    result: ImageImportStatus,
    tag: str,
    repository: RepositoryImportSpec | None,
    spec: ImageImportSpec | None,
    generation: int,
    now: datetime,
    max_history: int,
) -> Mutation:
    source = spec if spec is not None else repository
    assert source is not None
    if spec is not None:
        from_name: str | None = spec.from_.name
    else:
        assert repository is not None
        from_name = streams.repository_from_name(repository.from_.name, tag)
    policy, reference_policy = source.import_policy, source.reference_policy
    if streams.import_succeeded(result):
        assert result.image is not None
        image = result.image
        success_from = from_name or ""

        def succeed(state: streams.TagState | None) -> streams.TagState:
            return streams.apply_success(
                state,
                tag=tag,
                image=image,
                from_name=success_from,
                generation=generation,
                now=now,
                import_policy=policy,
                reference_policy=reference_policy,
                max_history=max_history,
            )

        return succeed
    # OpenShift creates no spec tag for a repository tag that failed.
    failure_from = from_name if spec is not None else None

    def fail(state: streams.TagState | None) -> streams.TagState:
        return streams.apply_failure(
            state,
            tag=tag,
            status=result.status,
            from_name=failure_from,
            generation=generation,
            now=now,
            import_policy=policy,
            reference_policy=reference_policy,
        )

    return fail

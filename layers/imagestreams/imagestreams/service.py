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

from imagestreams import streams
from imagestreams.credentials import Keyring
from imagestreams.errors import ConflictError, NotFoundRequestError
from imagestreams.importer import Importer
from imagestreams.models import (
    DOCKER_REPOSITORY_CHECK_ANNOTATION,
    ImageImportSpec,
    ImageImportStatus,
    ImageStream,
    ImageStreamImport,
    ImageStreamImportStatus,
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

    def delete_stream(self, namespace: str, name: str) -> bool: ...


class ImportRecords(Protocol):
    """The latest ImageStreamImport document per name."""

    def save(self, namespace: str, name: str, document: dict[str, Any]) -> None: ...

    def load(self, namespace: str, name: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class ServiceOptions:
    time_budget: float = 20.0
    default_import_mode: str = "Legacy"
    max_tag_history: int = streams.DEFAULT_MAX_HISTORY


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
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._importer = importer
        self._pull_secrets = pull_secrets
        self._streams = streams_store
        self._records = records
        self._options = options
        self._clock = clock

    # --- POST imagestreamimports ------------------------------------------

    def create(
        self, namespace: str, request: ImageStreamImport, remaining_seconds: float
    ) -> ImageStreamImport:
        """Import what ``request`` names; the returned document has ``status`` filled."""
        apply_defaults(request, self._options.default_import_mode)
        name = request.metadata.name
        expected_rv = request.metadata.resource_version or None
        expected_uid = request.metadata.uid or None
        if request.spec.import_:
            # Fail on a stale resourceVersion before any registry work.
            self._check_preconditions(namespace, name, expected_rv, expected_uid)
        budget = max(0.5, min(self._options.time_budget, remaining_seconds - RESPONSE_RESERVE))
        fetcher = self._importer.fetcher(
            self._pull_secrets.for_namespace(namespace), Deadline.after(budget)
        )
        statuses, repository = self._importer.import_spec(
            request.spec, fetcher, dict(request.metadata.annotations or {})
        )
        now = self._clock()
        request.metadata.namespace = namespace
        request.metadata.uid = str(uuid.uuid4())
        request.metadata.creation_timestamp = now
        request.status = ImageStreamImportStatus(images=statuses or None, repository=repository)
        if request.spec.import_:
            request.status.import_ = self._tag_into_stream(
                namespace, request, now, expected_rv, expected_uid
            )
        self._records.save(namespace, name, request.to_json_dict())
        failed = sum(1 for s in statuses if s.status.status != "Success")
        logger.info(
            "import finished",
            namespace=namespace,
            stream=name,
            images=len(statuses),
            repository_images=len(repository.images or []) if repository else 0,
            failed=failed,
            tagged=bool(request.spec.import_),
        )
        return request

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

    def _tag_into_stream(
        self,
        namespace: str,
        request: ImageStreamImport,
        now: datetime,
        expected_rv: str | None,
        expected_uid: str | None,
    ) -> ImageStream:
        name = request.metadata.name
        meta = self._streams.begin_import(
            namespace,
            name,
            expected_resource_version=expected_rv,
            expected_uid=expected_uid,
            now=now,
            annotation=(DOCKER_REPOSITORY_CHECK_ANNOTATION, format_time(now) or ""),
        )
        mutations = self._mutations(request, meta.generation, now)
        self.apply_mutations(namespace, name, mutations)
        return self._assemble(meta, self._streams.get_tags(namespace, name))

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
        """Write each tag's changes with its own conditional update, in parallel."""

        def write(tag: str) -> None:
            def mutate(item: dict[str, Any] | None) -> dict[str, Any] | None:
                before = streams.from_item(item) if item is not None else None
                after = before
                for change in mutations[tag]:
                    after = change(after)
                if after is None or (before is not None and not streams.changed(before, after)):
                    return item
                return streams.to_item(after)

            self._streams.update_tag(namespace, name, tag, mutate)

        tags = list(mutations)
        if len(tags) <= 1:
            for tag in tags:
                write(tag)
            return
        with ThreadPoolExecutor(max_workers=min(TAG_WRITERS, len(tags))) as pool:
            list(pool.map(write, tags))

    def _assemble(
        self, meta: streams.StreamMeta, items: Mapping[str, dict[str, Any]]
    ) -> ImageStream:
        stream = streams.assemble(meta, (streams.from_item(i) for i in items.values()))
        stream.metadata.namespace = meta.namespace
        return stream

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
        document = self._records.load(namespace, name)
        if document is None:
            raise not_found("imagestreamimports", name)
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

"""The import algorithm: an ImageStreamImport spec in, its status out.

Owns how images are fetched for one request:

1. every image and repository tag becomes a *target*; repository tags are
   listed, prioritized as OpenShift does and cut at the deployment's limit;
2. with an image cache, each target is resolved to a digest with a manifest
   HEAD made with the caller's own credentials, then all digests are looked
   up in one batch. Cache entries are bound to the registry and repository
   whose manifest and config they were verified from (:class:`CacheKey`): a
   registry that merely *claims* a digest in a HEAD answer gets a hit only
   if that same repository of that same registry once served that content,
   so a caller never receives an image another registry served to someone
   else;
3. what the cache lacks is fetched (manifest GET by digest, config blob GET)
   and converted; manifest lists pick a child in ``Legacy`` mode or import
   every child in ``PreserveOriginal`` mode. A reference by digest only ever
   yields content of that digest: a HEAD or GET that answers another digest
   is a content integrity failure;
4. new conversions are written back to the cache in one batch.

Every registry request is made at most once per request (a reference named
twice, or by an image and a repository, is fetched once), concurrently with a
bound. Registry errors become the per-image ``Status`` OpenShift reports. It
persists nothing but cache entries and does not know where credentials come
from (a :class:`Keyring` is passed in).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, TypeVar

from imagestreams import images, reference, tags
from imagestreams.credentials import Keyring
from imagestreams.errors import (
    ForbiddenRegistryError,
    IntegrityError,
    NotFoundError,
    RegistryError,
    TooManyRequestsError,
    UnauthorizedError,
    UnavailableError,
    UnsupportedContentError,
)
from imagestreams.models import (
    API_GROUP,
    Image,
    ImageImportStatus,
    ImageStreamImportSpec,
    RepositoryImportSpec,
    RepositoryImportStatus,
    Status,
    StatusCause,
    StatusDetails,
)
from imagestreams.observability import logger
from imagestreams.reference import Reference
from imagestreams.registries import RegistryRules
from imagestreams.registry import media
from imagestreams.registry.client import Manifest, RegistryClient, RepositoryClient
from imagestreams.registry.transport import Deadline

T = TypeVar("T")
R = TypeVar("R")

PREFER_ARCH = "importer.image.openshift.io/prefer-arch"
PREFER_OS = "importer.image.openshift.io/prefer-os"


class CacheKey(NamedTuple):
    """A converted image's cache key: where it was verified, and its manifest digest.

    ``source`` is ``<registry host>/<repository>`` of the registry that served
    the manifest and config: an entry is a proof that this repository holds
    this content, and is only ever served for it.
    """

    source: str
    digest: str

    @classmethod
    def of(cls, ref: Reference, digest: str) -> CacheKey:
        return cls(f"{ref.api_host}/{ref.repository}", digest)


class ImageCache(Protocol):
    """Converted images by the repository they were verified at and their digest."""

    def get_many(self, keys: Sequence[CacheKey]) -> dict[CacheKey, dict[str, Any]]: ...

    def put_many(self, entries: Mapping[CacheKey, dict[str, Any]]) -> None: ...


@dataclass(frozen=True)
class ImportOptions:
    """Deployment defaults that shape an import."""

    default_import_mode: str = "Legacy"
    default_platform: str = "linux/amd64"
    parallelism: int = 16
    max_repository_tags: int = 1000
    rules: RegistryRules = field(default_factory=RegistryRules)


@dataclass(frozen=True)
class Target:
    """One image to import: a tag or digest of a repository."""

    ref: Reference
    tag: str
    insecure: bool
    mode: str
    include_manifest: bool


@dataclass
class Outcome:
    """What importing one target gave."""

    target: Target
    image: Image | None = None
    manifests: list[Image] = field(default_factory=list)
    error: RegistryError | None = None
    deferred: bool = False

    def status(self) -> ImageImportStatus:
        if self.error is not None or self.image is None:
            error = self.error or UnsupportedContentError(detail="no image")
            return ImageImportStatus(
                status=failure_status(self.target.ref.exact(), error), tag=self.target.tag
            )
        return ImageImportStatus(
            status=Status.success(type_meta=False),
            image=self.image,
            tag=self.target.tag,
            manifests=self.manifests or None,
        )


def failure_status(ref: str, error: RegistryError) -> Status:
    """The per-image ``Status`` OpenShift reports for a registry error."""
    if isinstance(error, NotFoundError):
        return Status.failure(
            404,
            "NotFound",
            f'dockerimage.image.openshift.io "{ref}" not found',
            StatusDetails(name=ref, group=API_GROUP, kind="dockerimage"),
            type_meta=False,
        )
    if isinstance(error, UnauthorizedError):
        return Status.failure(
            401,
            "Unauthorized",
            f'you may not have access to the container image "{ref}"',
            type_meta=False,
        )
    if isinstance(error, TooManyRequestsError):
        details = None
        if error.retry_after is not None:
            details = StatusDetails(retry_after_seconds=max(1, round(error.retry_after)))
        return Status.failure(
            429,
            "TooManyRequests",
            f"the registry is throttling the import of {ref}: {error}",
            details,
            type_meta=False,
        )
    if isinstance(error, ForbiddenRegistryError):
        return Status.failure(
            403,
            "Forbidden",
            f"importing images from registry {ref.split('/')[0]!r} is forbidden: {error}",
            type_meta=False,
        )
    message = f"{ref}: {error}"
    return Status.failure(
        500,
        "InternalError",
        f"Internal error occurred: {message}",
        StatusDetails(causes=[StatusCause(message=message)]),
        type_meta=False,
    )


def is_retryable(error: RegistryError | None) -> bool:
    """Errors another attempt later may not meet: throttling, outages, timeouts."""
    return isinstance(error, UnavailableError | TooManyRequestsError)


def repository_status(statuses: Sequence[ImageImportStatus]) -> Status:
    """Success, or ``ImportFailed`` counting the failed tags as OpenShift words it."""
    return repository_status_for(sum(1 for s in statuses if s.status.status != "Success"))


def repository_status_for(failures: int) -> Status:
    """The repository's status when ``failures`` of its tags failed."""
    if failures == 0:
        return Status.success(type_meta=False)
    counted = "one" if failures == 1 else str(failures)
    return Status(
        status="Failure",
        reason="ImportFailed",
        message=f"{counted} of the images from this repository failed to import",
        kind="",
        api_version="",
    )


class _Deferred:
    """Marks a target left for later."""


_DEFERRED = _Deferred()


@dataclass
class SpecResult:
    """What importing a spec gave, and what it left for the import queue.

    ``ordered`` is every repository tag to import, in import order;
    ``finished`` the statuses of those imported now, by tag; ``deferred`` the
    tags left for later, in order.
    """

    images: list[ImageImportStatus] = field(default_factory=list)
    repository: RepositoryImportStatus | None = None
    ordered: list[str] = field(default_factory=list)
    finished: dict[str, ImageImportStatus] = field(default_factory=dict)
    deferred: list[str] = field(default_factory=list)
    additional: list[str] = field(default_factory=list)


class _Once:
    """Runs each keyed computation once per request; concurrent callers share it."""

    def __init__(self) -> None:
        self._futures: dict[object, Future[Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: object, compute: Callable[[], T]) -> T:
        with self._lock:
            future = self._futures.get(key)
            owner = future is None
            if future is None:
                future = self._futures[key] = Future()
        if owner:
            try:
                future.set_result(compute())
            except BaseException as exc:
                future.set_exception(exc)
        result: T = future.result()
        return result


class CacheView:
    """The image cache as one request sees it: batched reads, one batched write."""

    def __init__(self, cache: ImageCache | None) -> None:
        self._cache = cache
        self._known: dict[CacheKey, Image | None] = {}
        self._pending: dict[CacheKey, dict[str, Any]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._cache is not None

    def prefetch(self, keys: Sequence[CacheKey]) -> None:
        """Look up every key not seen yet, in one batch."""
        if self._cache is None:
            return
        with self._lock:
            wanted = [k for k in dict.fromkeys(keys) if k not in self._known]
        if not wanted:
            return
        found = self._cache.get_many(wanted)
        parsed: dict[CacheKey, Image | None] = {}
        for key in wanted:
            document = found.get(key)
            try:
                parsed[key] = Image.model_validate(document) if document else None
            except ValueError:
                logger.warning("unreadable cache entry ignored", digest=key.digest)
                parsed[key] = None
        with self._lock:
            self._known.update(parsed)

    def get(self, key: CacheKey) -> Image | None:
        if self._cache is None:
            return None
        with self._lock:
            seen = key in self._known
        if not seen:
            self.prefetch([key])
        with self._lock:
            image = self._known.get(key)
        return image.model_copy(deep=True) if image is not None else None

    def add(self, key: CacheKey, image: Image) -> None:
        if self._cache is None:
            return
        with self._lock:
            self._known[key] = image
            self._pending[key] = image.to_json_dict()

    def flush(self) -> None:
        """Write what this request converted; a failed write costs only a later GET."""
        if self._cache is None:
            return
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            self._cache.put_many(pending)
        except Exception as error:
            logger.warning("image cache write failed", error_type=type(error).__name__)


class Fetcher:
    """The registry work of one request, deduplicated and shared by its threads."""

    def __init__(
        self,
        registry: RegistryClient,
        keyring: Keyring,
        deadline: Deadline,
        cache: ImageCache | None = None,
    ) -> None:
        self._registry = registry
        self._keyring = keyring
        self.deadline = deadline
        self.cache = CacheView(cache)
        self._once = _Once()

    def repository(self, ref: Reference, insecure: bool) -> RepositoryClient:
        key = ("repository", ref.api_host, ref.repository, insecure)

        def build() -> RepositoryClient:
            credentials = self._keyring.lookup(ref.domain, ref.repository)
            if not credentials and ref.api_host != ref.domain:
                credentials = self._keyring.lookup(ref.api_host, ref.repository)
            return self._registry.repository(
                ref.api_host, ref.repository, credentials, insecure=insecure, deadline=self.deadline
            )

        return self._once.get(key, build)

    def head(self, ref: Reference, insecure: bool, tag_or_digest: str) -> str | None:
        """The digest a tag (or digest) resolves to, checked with the caller's credentials."""
        key = ("head", ref.api_host, ref.repository, tag_or_digest, insecure)
        descriptor = self._once.get(
            key, lambda: self.repository(ref, insecure).head_manifest(tag_or_digest)
        )
        return descriptor.digest

    def manifest(self, ref: Reference, insecure: bool, tag_or_digest: str) -> Manifest:
        key = ("manifest", ref.api_host, ref.repository, tag_or_digest, insecure)
        return self._once.get(
            key, lambda: self.repository(ref, insecure).get_manifest(tag_or_digest)
        )

    def blob(self, ref: Reference, insecure: bool, digest: str) -> bytes:
        key = ("blob", ref.api_host, ref.repository, digest, insecure)
        return self._once.get(key, lambda: self.repository(ref, insecure).get_blob(digest))

    def tags(self, ref: Reference, insecure: bool) -> list[str]:
        key = ("tags", ref.api_host, ref.repository, insecure)
        return self._once.get(key, lambda: self.repository(ref, insecure).list_tags())

    def converted(self, key: object, convert: Callable[[], Image]) -> Image:
        return self._once.get(("image", key), convert)


class Importer:
    """Imports ``spec.images`` and ``spec.repository`` into statuses."""

    def __init__(
        self,
        registry: RegistryClient,
        options: ImportOptions,
        cache: ImageCache | None = None,
    ) -> None:
        self._registry = registry
        self._options = options
        self._cache = cache

    @property
    def options(self) -> ImportOptions:
        return self._options

    def fetcher(self, keyring: Keyring, deadline: Deadline) -> Fetcher:
        return Fetcher(self._registry, keyring, deadline, self._cache)

    # --- whole specs -----------------------------------------------------

    def import_spec(
        self,
        spec: ImageStreamImportSpec,
        fetcher: Fetcher,
        annotations: Mapping[str, str] | None = None,
        defer_after: Deadline | None = None,
    ) -> SpecResult:
        """Import ``spec.images`` and ``spec.repository`` together, sharing every fetch.

        With ``defer_after``, repository tags not finished by then are left for
        the import queue (:attr:`SpecResult.deferred`); images are always
        imported inline.
        """
        image_targets = [self.image_target(s) for s in spec.images or []]
        result = SpecResult()
        repo_targets: list[Target] = []
        if spec.repository is not None:
            listed = self.repository_targets(spec.repository, fetcher)
            if isinstance(listed, RepositoryImportStatus):
                result.repository = listed
            else:
                repo_targets, result.additional = listed
                result.ordered = [t.tag for t in repo_targets]
        outcomes = self.run(
            [*image_targets, *repo_targets],
            fetcher,
            annotations or {},
            defer_after=defer_after,
            deferrable=len(image_targets),
        )
        result.images = [o.status() for o in outcomes[: len(image_targets)]]
        if spec.repository is not None and result.repository is None:
            finished = [o for o in outcomes[len(image_targets) :] if not o.deferred]
            result.deferred = [o.target.tag for o in outcomes[len(image_targets) :] if o.deferred]
            result.finished = {o.target.tag: o.status() for o in finished}
            statuses = [result.finished[tag] for tag in result.ordered if tag in result.finished]
            result.repository = RepositoryImportStatus(
                status=repository_status(statuses),
                images=statuses or None,
                additional_tags=result.additional or None,
            )
        return result

    def image_target(self, spec: Any) -> Target:
        """A target for one (validated, defaulted) ``spec.images`` entry."""
        ref = reference.parse(spec.from_.name)
        policy = spec.import_policy
        return Target(
            ref=ref,
            tag=spec.to.name if spec.to is not None else "",
            insecure=bool(policy and policy.insecure) or self._options.rules.is_insecure(ref),
            mode=(policy and policy.import_mode) or self._options.default_import_mode,
            include_manifest=bool(spec.include_manifest),
        )

    def repository_targets(
        self, spec: RepositoryImportSpec, fetcher: Fetcher
    ) -> tuple[list[Target], list[str]] | RepositoryImportStatus:
        """List the repository's tags: the targets to import and the tags beyond the limit.

        A listing failure is the repository's status (NotFound, Unauthorized,
        InternalError), as OpenShift reports it.
        """
        ref = reference.parse(spec.from_.name)
        policy = spec.import_policy
        insecure = bool(policy and policy.insecure) or self._options.rules.is_insecure(ref)
        try:
            listed = fetcher.tags(ref, insecure)
        except RegistryError as error:
            logger.info(
                "tag listing failed", repository=ref.exact(), error_type=type(error).__name__
            )
            return RepositoryImportStatus(status=failure_status(ref.exact(), error))
        ordered = tags.prioritize(listed)
        cut = self._options.max_repository_tags
        return self.tag_targets(spec, ordered[:cut]), ordered[cut:]

    def tag_targets(self, spec: RepositoryImportSpec, names: Sequence[str]) -> list[Target]:
        """Targets for the tags ``names`` of the repository ``spec`` names."""
        ref = reference.parse(spec.from_.name)
        policy = spec.import_policy
        insecure = bool(policy and policy.insecure) or self._options.rules.is_insecure(ref)
        mode = (policy and policy.import_mode) or self._options.default_import_mode
        return [
            Target(ref.with_tag(tag), tag, insecure, mode, bool(spec.include_manifest))
            for tag in names
        ]

    # --- targets -----------------------------------------------------------

    def run(
        self,
        targets: Sequence[Target],
        fetcher: Fetcher,
        annotations: Mapping[str, str],
        *,
        defer_after: Deadline | None = None,
        deferrable: int | None = None,
    ) -> list[Outcome]:
        """Import every target; outcomes are in target order.

        With ``defer_after``, targets from index ``deferrable`` on may be left
        for the import queue: once ``defer_after`` has passed they are not
        started, and one that meets a retryable error (throttling, an outage)
        is deferred rather than failed, so a worker tries it again later.
        """
        first_deferrable = len(targets) if deferrable is None else deferrable

        def can_defer(index: int) -> bool:
            return defer_after is not None and index >= first_deferrable

        def may_defer(index: int) -> bool:
            return can_defer(index) and defer_after is not None and defer_after.remaining() <= 0

        resolved = self._map(
            lambda pair: _DEFERRED if may_defer(pair[0]) else self._resolve(pair[1], fetcher),
            list(enumerate(targets)),
        )
        keys = [
            CacheKey.of(target.ref, digest)
            for target, digest in zip(targets, resolved, strict=True)
            if isinstance(digest, str)
        ]
        fetcher.cache.prefetch(keys)
        # Children of cached lists are looked up together too, at the same repository.
        children: list[CacheKey] = []
        for key in keys:
            if image := fetcher.cache.get(key):
                children.extend(
                    CacheKey(key.source, m.digest) for m in image.docker_image_manifests or []
                )
        fetcher.cache.prefetch(children)

        def build(index: int) -> Outcome:
            target, digest = targets[index], resolved[index]
            if isinstance(digest, _Deferred) or may_defer(index):
                return Outcome(target, deferred=True)
            outcome = self._build(target, digest, fetcher, annotations)
            if is_retryable(outcome.error) and can_defer(index):
                return Outcome(target, deferred=True)
            return outcome

        outcomes = self._map(build, list(range(len(targets))))
        fetcher.cache.flush()
        return outcomes

    def _map(self, work: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if len(items) <= 1:
            return [work(item) for item in items]
        workers = min(self._options.parallelism, len(items))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="import") as pool:
            return list(pool.map(work, items))

    def _resolve(self, target: Target, fetcher: Fetcher) -> str | RegistryError | None:
        """The digest to import; a HEAD with the caller's credentials when a cache is in use.

        A reference by digest resolves to that digest and nothing else: a
        registry whose HEAD announces another one fails the image.
        """
        ref = target.ref
        if not fetcher.cache.enabled:
            return ref.digest
        try:
            announced = fetcher.head(ref, target.insecure, ref.digest or ref.tag_or_latest)
        except RegistryError as error:
            return error
        if ref.digest is None:
            return announced
        if announced is not None and announced != ref.digest:
            return IntegrityError(
                detail=(
                    f"content integrity error: the manifest requested by digest {ref.digest} "
                    f"was announced with digest {announced}"
                )
            )
        return ref.digest

    def _build(
        self,
        target: Target,
        resolved: str | RegistryError | None,
        fetcher: Fetcher,
        annotations: Mapping[str, str],
    ) -> Outcome:
        outcome = Outcome(target)
        if isinstance(resolved, RegistryError):
            outcome.error = resolved
        else:
            try:
                outcome.image, outcome.manifests = self._fetch(
                    target, resolved, fetcher, annotations
                )
            except RegistryError as error:
                outcome.error = error
        if outcome.error is not None:
            logger.info(
                "image import failed",
                reference=target.ref.exact(),
                error_type=type(outcome.error).__name__,
                registry_code=outcome.error.registry_code,
            )
        return outcome

    def _fetch(
        self,
        target: Target,
        digest: str | None,
        fetcher: Fetcher,
        annotations: Mapping[str, str],
    ) -> tuple[Image, list[Image]]:
        ref = target.ref
        top = self._image(target, digest or ref.digest or ref.tag_or_latest, fetcher)
        if not media.is_list(top.docker_image_manifest_media_type):
            return self._present(top, target), []
        entries = top.docker_image_manifests or []
        if target.mode == "PreserveOriginal":
            children = [self._child(target, entry.digest, fetcher) for entry in entries]
            return self._present(top, target), [self._present(c, target) for c in children]
        chosen = images.select_child(
            entries,
            annotations.get(PREFER_ARCH) or None,
            annotations.get(PREFER_OS) or None,
            self._options.default_platform,
        )
        return self._present(self._child(target, chosen.digest, fetcher), target), []

    def _child(self, target: Target, digest: str, fetcher: Fetcher) -> Image:
        child = self._image(target, digest, fetcher)
        if media.is_list(child.docker_image_manifest_media_type):
            raise UnsupportedContentError(detail=f"manifest list {digest} nests another list")
        return child

    def _image(self, target: Target, tag_or_digest: str, fetcher: Fetcher) -> Image:
        """The full converted Image (raw documents included), from the cache or the registry."""
        is_digest = ":" in tag_or_digest
        if is_digest and (cached := fetcher.cache.get(CacheKey.of(target.ref, tag_or_digest))):
            return cached
        manifest = fetcher.manifest(target.ref, target.insecure, tag_or_digest)
        # A GET by digest is verified against that digest by the client.
        key = CacheKey.of(target.ref, manifest.digest)
        if not is_digest and (cached := fetcher.cache.get(key)):
            return cached

        def convert() -> Image:
            descriptor = images.config_descriptor(manifest.raw, manifest.media_type)
            config = (
                fetcher.blob(target.ref, target.insecure, descriptor[0]) if descriptor else None
            )
            image = images.image_from_manifest(
                digest=manifest.digest,
                raw=manifest.raw,
                media_type=manifest.media_type,
                config=config,
                include_manifest=True,
            )
            fetcher.cache.add(key, image)
            return image

        return fetcher.converted(key, convert).model_copy(deep=True)

    def _present(self, image: Image, target: Target) -> Image:
        """The Image as this request shows it: its reference, raw documents if asked."""
        # Only top-level fields change: a shallow copy is enough.
        shown = image.model_copy()
        shown.docker_image_reference = target.ref.with_digest(image.metadata.name).exact()
        if not target.include_manifest:
            shown.docker_image_manifest = ""
            shown.docker_image_config = ""
        # Nested objects carry no type meta in OpenShift's answers.
        shown.kind = ""
        shown.api_version = ""
        return shown

"""The import algorithm: an ImageStreamImport spec in, its status out.

Owns how images are fetched for a request: parsing each reference, fetching
every distinct manifest and config once per request (concurrently, with a
bound), choosing a child of a manifest list in ``Legacy`` mode or importing
every child in ``PreserveOriginal`` mode, and turning registry errors into
the per-image ``Status`` OpenShift reports. It does not persist anything and
does not know where credentials come from (a :class:`Keyring` is passed in).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from imagestreams import images, reference
from imagestreams.credentials import Keyring
from imagestreams.errors import (
    ForbiddenRegistryError,
    NotFoundError,
    RegistryError,
    TooManyRequestsError,
    UnauthorizedError,
    UnsupportedContentError,
)
from imagestreams.models import (
    Image,
    ImageImportSpec,
    ImageImportStatus,
    Status,
    StatusCause,
    StatusDetails,
)
from imagestreams.observability import logger
from imagestreams.reference import Reference
from imagestreams.registry import media
from imagestreams.registry.client import Manifest, RegistryClient, RepositoryClient
from imagestreams.registry.transport import Deadline

T = TypeVar("T")

PREFER_ARCH = "importer.image.openshift.io/prefer-arch"
PREFER_OS = "importer.image.openshift.io/prefer-os"
GROUP = "image.openshift.io"


@dataclass(frozen=True)
class ImportOptions:
    """Deployment defaults that shape an import."""

    default_import_mode: str = "Legacy"
    default_platform: str = "linux/amd64"
    parallelism: int = 16


def failure_status(ref: str, error: RegistryError) -> Status:
    """The per-image ``Status`` OpenShift reports for a registry error."""
    if isinstance(error, NotFoundError):
        return Status.failure(
            404,
            "NotFound",
            f'dockerimage.image.openshift.io "{ref}" not found',
            StatusDetails(name=ref, group=GROUP, kind="dockerimage"),
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
        )
    if isinstance(error, ForbiddenRegistryError):
        return Status.failure(
            403,
            "Forbidden",
            f"importing images from registry {ref.split('/')[0]!r} is forbidden: {error}",
        )
    message = f"{ref}: {error}"
    return Status.failure(
        500,
        "InternalError",
        f"Internal error occurred: {message}",
        StatusDetails(causes=[StatusCause(message=message)]),
        type_meta=False,
    )


class _Once:
    """Runs each keyed computation once per request; concurrent callers share it."""

    def __init__(self) -> None:
        self._futures: dict[object, Future[object]] = {}
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
        return future.result()  # type: ignore[return-value]


class Fetcher:
    """The registry work of one request, deduplicated and shared by its threads."""

    def __init__(self, registry: RegistryClient, keyring: Keyring, deadline: Deadline) -> None:
        self._registry = registry
        self._keyring = keyring
        self.deadline = deadline
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

    def manifest(self, ref: Reference, insecure: bool, tag_or_digest: str) -> Manifest:
        key = ("manifest", ref.api_host, ref.repository, tag_or_digest, insecure)
        return self._once.get(
            key, lambda: self.repository(ref, insecure).get_manifest(tag_or_digest)
        )

    def blob(self, ref: Reference, insecure: bool, digest: str) -> bytes:
        key = ("blob", ref.api_host, ref.repository, digest, insecure)
        return self._once.get(key, lambda: self.repository(ref, insecure).get_blob(digest))


class Importer:
    """Imports ``spec.images`` (and, later, repositories) into statuses."""

    def __init__(self, registry: RegistryClient, options: ImportOptions) -> None:
        self._registry = registry
        self._options = options

    def fetcher(self, keyring: Keyring, deadline: Deadline) -> Fetcher:
        return Fetcher(self._registry, keyring, deadline)

    def import_images(
        self,
        specs: Sequence[ImageImportSpec],
        fetcher: Fetcher,
        annotations: dict[str, str] | None = None,
    ) -> list[ImageImportStatus]:
        """Import every spec concurrently; the result is in spec order."""
        annotations = annotations or {}
        return self._map(lambda spec: self._import_one(spec, fetcher, annotations), specs)

    def _map(
        self, work: Callable[[ImageImportSpec], T], specs: Sequence[ImageImportSpec]
    ) -> list[T]:
        if len(specs) <= 1:
            return [work(spec) for spec in specs]
        workers = min(self._options.parallelism, len(specs))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="import") as pool:
            return list(pool.map(work, specs))

    def _import_one(
        self, spec: ImageImportSpec, fetcher: Fetcher, annotations: dict[str, str]
    ) -> ImageImportStatus:
        ref = reference.parse(spec.from_.name)
        policy = spec.import_policy
        insecure = bool(policy and policy.insecure)
        mode = (policy and policy.import_mode) or self._options.default_import_mode
        tag = spec.to.name if spec.to is not None else None
        try:
            image, manifests = self._fetch_image(
                ref, insecure, mode, bool(spec.include_manifest), fetcher, annotations
            )
        except RegistryError as error:
            logger.info(
                "image import failed",
                reference=ref.exact(),
                error_type=type(error).__name__,
                registry_code=error.registry_code,
            )
            return ImageImportStatus(status=failure_status(ref.exact(), error), tag=tag or "")
        logger.debug("imported image", reference=ref.exact(), digest=image.metadata.name)
        return ImageImportStatus(
            status=Status.success(type_meta=False),
            image=image,
            tag=tag or "",
            manifests=manifests or None,
        )

    def _fetch_image(
        self,
        ref: Reference,
        insecure: bool,
        mode: str,
        include_manifest: bool,
        fetcher: Fetcher,
        annotations: dict[str, str],
    ) -> tuple[Image, list[Image]]:
        manifest = fetcher.manifest(ref, insecure, ref.digest or ref.tag_or_latest)
        if not media.is_list(manifest.media_type):
            return self._image(ref, insecure, manifest, include_manifest, fetcher), []
        entries = images.children(manifest.raw, manifest.media_type)
        if mode == "PreserveOriginal":
            image = self._image(ref, insecure, manifest, include_manifest, fetcher)
            children = [
                self._image(
                    ref,
                    insecure,
                    self._child(ref, insecure, entry.digest, fetcher),
                    include_manifest,
                    fetcher,
                )
                for entry in entries
            ]
            return image, children
        chosen = images.select_child(
            entries,
            annotations.get(PREFER_ARCH) or None,
            annotations.get(PREFER_OS) or None,
            self._options.default_platform,
        )
        child = self._child(ref, insecure, chosen.digest, fetcher)
        return self._image(ref, insecure, child, include_manifest, fetcher), []

    def _child(self, ref: Reference, insecure: bool, digest: str, fetcher: Fetcher) -> Manifest:
        child = fetcher.manifest(ref, insecure, digest)
        if media.is_list(child.media_type):
            raise UnsupportedContentError(detail=f"manifest list {digest} nests another list")
        return child

    def _image(
        self,
        ref: Reference,
        insecure: bool,
        manifest: Manifest,
        include_manifest: bool,
        fetcher: Fetcher,
    ) -> Image:
        descriptor = images.config_descriptor(manifest.raw, manifest.media_type)
        config = fetcher.blob(ref, insecure, descriptor[0]) if descriptor else None
        image = images.image_from_manifest(
            digest=manifest.digest,
            raw=manifest.raw,
            media_type=manifest.media_type,
            config=config,
            include_manifest=include_manifest,
        )
        image.docker_image_reference = ref.with_digest(manifest.digest).exact()
        # Nested objects carry no type meta in OpenShift's answers.
        image.kind = ""
        image.api_version = ""
        return image

"""The import run: targets in, outcomes out, sharing one session's fetches.

For every target, with an image cache:

1. resolve it to a digest with the caller's own credentials (a manifest
   HEAD, or the manifest GET when a HEAD does not pay:
   :func:`.plan.head_first`), then look the digests up in batches. Cache entries are
   bound to the registry and repository whose manifest and config they were
   verified from (:class:`~imagestreams.imports.session.CacheKey`): a
   registry that merely *claims* a digest in a HEAD answer gets a hit only
   if that same repository of that same registry once served that content;
2. fetch what the cache lacks (manifest GET by digest, config blob GET) and
   convert it; manifest lists pick a child in ``Legacy`` mode (as the
   stream's spec tag, or the request, prefers: :func:`.plan.platform_preference`)
   or import every child in ``PreserveOriginal`` mode, the list's own Image
   dated by the import as OpenShift dates it. A reference by digest only ever
   yields content of that digest: a HEAD or GET that answers another digest
   is a content integrity failure;
3. write new conversions back to the cache in batches.

The steps overlap (:mod:`.stages`): lookups run while other targets
resolve, and builds start as soon as their lookup answers.

Registry errors become the per-image ``Status`` OpenShift reports
(:mod:`.outcomes`, :mod:`.statuses`); targets come from :mod:`.plan`. Each
image looked up counts as a cache hit or miss (``telemetry``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from imagestreams.credentials import Keyring
from imagestreams.deadline import Deadline
from imagestreams.errors import IntegrityError, RegistryError, UnsupportedContentError
from imagestreams.imports import images, plan, tags
from imagestreams.imports.outcomes import Outcome, SpecResult
from imagestreams.imports.plan import ImportOptions, SpecReferences, TagAnnotations, Target
from imagestreams.imports.session import (
    LOOKUP_BATCH,
    CacheKey,
    Fetcher,
    ImageCache,
    Registry,
    RoleCredential,
)
from imagestreams.imports.stages import run_stages
from imagestreams.imports.statuses import failure_status, is_retryable, repository_status
from imagestreams.models import (
    Image,
    ImageStreamImportSpec,
    RepositoryImportSpec,
    RepositoryImportStatus,
)
from imagestreams.observability import logger, tracer
from imagestreams.reference import Digest, Reference, is_digest
from imagestreams.registry import media
from imagestreams.telemetry import NO_TELEMETRY, Telemetry

Preference = Callable[[], tuple[str | None, str | None]]
"""The (architecture, OS) a target prefers in a manifest list, worked out when asked."""


class _Deferred:
    """Marks a target left for later."""


_DEFERRED = _Deferred()

Resolved = Digest | RegistryError | None | _Deferred
"""What resolving a target gave: its digest, the error, no digest, or left for later."""


class _ChildFailed(Exception):
    """A child of a list kept whole failed: the error, and the child's reference."""

    def __init__(self, ref: Reference, error: RegistryError) -> None:
        super().__init__(str(error))
        self.ref = ref
        self.error = error


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Importer:
    """Imports ``spec.images`` and ``spec.repository`` into statuses."""

    def __init__(
        self,
        registry: Registry,
        options: ImportOptions,
        cache: ImageCache | None = None,
        clock: Callable[[], datetime] = _utc_now,
        *,
        role: RoleCredential | None = None,
        endpoints: Mapping[str, str] | None = None,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self._registry = registry
        self._options = options
        self._cache = cache
        self._clock = clock
        self._role = role
        self._endpoints = dict(endpoints or {})
        self._telemetry = telemetry

    @property
    def options(self) -> ImportOptions:
        return self._options

    def fetcher(self, keyring: Keyring, deadline: Deadline) -> Fetcher:
        return Fetcher(
            self._registry,
            keyring,
            deadline,
            self._cache,
            role=self._role,
            endpoints=self._endpoints,
        )

    # --- whole specs -----------------------------------------------------

    def import_spec(
        self,
        spec: ImageStreamImportSpec,
        references: SpecReferences,
        fetcher: Fetcher,
        annotations: Mapping[str, str] | None = None,
        defer_after: Deadline | None = None,
        known_tags: Collection[str] = frozenset(),
        tag_annotations: TagAnnotations | None = None,
    ) -> SpecResult:
        """Import ``spec.images`` and ``spec.repository`` together, sharing every fetch.

        With ``defer_after``, repository tags not finished by then are left for
        the import queue (:attr:`SpecResult.deferred`); images are always
        imported inline. ``known_tags`` are the stream's tags (their targets
        are ``known``). ``tag_annotations`` reads the stream's spec tags, and
        ``annotations`` are the request's (:func:`plan.platform_preference`).
        """
        image_targets = [
            plan.image_target(s, ref, self._options)
            for s, ref in zip(spec.images or [], references.images, strict=True)
        ]
        result = SpecResult()
        repo_targets: list[Target] = []
        if spec.repository is not None and references.repository is not None:
            listed = self._repository_targets(spec.repository, references.repository, fetcher)
            if isinstance(listed, RepositoryImportStatus):
                result.repository = listed
            else:
                repo_targets, result.additional = listed
                result.ordered = [t.tag for t in repo_targets]
        targets = [
            replace(t, known=True) if t.tag in known_tags else t
            for t in [*image_targets, *repo_targets]
        ]
        outcomes = self.run(
            targets,
            fetcher,
            annotations or {},
            defer_after=defer_after,
            deferrable=len(image_targets),
            tag_annotations=tag_annotations,
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

    def _repository_targets(
        self, spec: RepositoryImportSpec, ref: Reference, fetcher: Fetcher
    ) -> tuple[list[Target], list[str]] | RepositoryImportStatus:
        """List the repository's tags: the targets to import and the tags beyond the limit.

        A listing failure is the repository's status (NotFound, Unauthorized,
        InternalError), as OpenShift reports it.
        """
        insecure = plan.insecure(ref, spec.import_policy, self._options)
        try:
            listed = fetcher.tags(ref, insecure)
        except RegistryError as error:
            logger.info(
                "tag listing failed", repository=ref.exact(), error_type=type(error).__name__
            )
            return RepositoryImportStatus(status=failure_status(ref.exact(), error))
        ordered = tags.prioritize(listed)
        cut = self._options.max_repository_tags
        return plan.tag_targets(spec, ref, ordered[:cut], self._options), ordered[cut:]

    # --- targets -----------------------------------------------------------

    def run(
        self,
        targets: Sequence[Target],
        fetcher: Fetcher,
        annotations: Mapping[str, str],
        *,
        defer_after: Deadline | None = None,
        deferrable: int | None = None,
        tag_annotations: TagAnnotations | None = None,
    ) -> list[Outcome]:
        """Import every target; outcomes are in target order.

        A manifest list imported in ``Legacy`` mode gives the child
        :func:`plan.platform_preference` prefers, from ``tag_annotations``
        (the stream's spec tags) or the request's ``annotations``.

        The targets go through :func:`.stages.run_stages`: resolved in
        ``parallelism`` threads, looked up in the cache in batches while
        others resolve, then built. With ``defer_after``, targets from index
        ``deferrable`` on may be left for the import queue: once
        ``defer_after`` has passed they are not started, but a target
        already resolved is built (its manifest GET is not wasted: few are
        resolved and not built at any time), and one that meets a retryable
        error (throttling, an outage) is deferred rather than failed, so a
        worker tries it again later.
        """
        first_deferrable = len(targets) if deferrable is None else deferrable

        def can_defer(index: int) -> bool:
            return defer_after is not None and index >= first_deferrable

        def resolve(index: int) -> Resolved:
            if can_defer(index) and defer_after is not None and defer_after.remaining() <= 0:
                return _DEFERRED
            return self._resolve(targets[index], fetcher)

        def key(index: int, resolved: Resolved) -> CacheKey | None:
            if not fetcher.cache.enabled or not isinstance(resolved, Digest):
                return None
            return CacheKey.of(targets[index].ref, resolved)

        def build(item: tuple[int, Resolved]) -> Outcome:
            index, resolved = item
            target = targets[index]
            if isinstance(resolved, _Deferred):
                return Outcome(target, deferred=True)
            # Asked only of a manifest list: reading a spec tag may cost a store read.
            preference = functools.partial(
                plan.platform_preference, target, tag_annotations, annotations
            )
            outcome = self._build(target, resolved, fetcher, preference)
            if is_retryable(outcome.error) and can_defer(index):
                return Outcome(target, deferred=True)
            return outcome

        outcomes = run_stages(
            len(targets),
            tracer.carried(resolve),
            key,
            fetcher.cache.prefetch,
            tracer.carried(build),
            workers=self._options.parallelism,
            batch=LOOKUP_BATCH,
            thread_name="import",
        )
        fetcher.cache.flush()
        return outcomes

    def _resolve(self, target: Target, fetcher: Fetcher) -> Digest | RegistryError | None:
        """The digest to import, asked with the caller's credentials when a cache is in use.

        A manifest HEAD when it pays (:func:`~imagestreams.imports.plan.head_first`),
        else the manifest GET, whose digest the client verified.

        A reference by digest resolves to that digest and nothing else: a
        registry whose HEAD announces another one fails the image.
        """
        ref = target.ref
        if not fetcher.cache.enabled:
            return ref.digest
        if not plan.head_first(target):
            # The manifest GET answers the digest too; the cache is looked up with it.
            try:
                manifest = fetcher.manifest(ref, target.insecure, ref.tag_or_latest)
            except RegistryError as error:
                return error
            return Digest.parse(manifest.digest) if is_digest(manifest.digest) else None
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
        resolved: Digest | RegistryError | None,
        fetcher: Fetcher,
        preference: Preference,
    ) -> Outcome:
        outcome = Outcome(target)
        if isinstance(resolved, RegistryError):
            outcome.error = resolved
        else:
            try:
                outcome.image, outcome.manifests = self._fetch(
                    target, resolved, fetcher, preference
                )
            except RegistryError as error:
                outcome.error = error
            except _ChildFailed as failed:
                outcome.error, outcome.failed_at = failed.error, failed.ref
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
        digest: Digest | None,
        fetcher: Fetcher,
        preference: Preference,
    ) -> tuple[Image, list[Image]]:
        ref = target.ref
        top = self._image(target, digest or ref.digest or ref.tag_or_latest, fetcher)
        if not media.is_list(top.docker_image_manifest_media_type):
            return self._present(top, target), []
        entries = top.docker_image_manifests or []
        if target.mode == "PreserveOriginal":
            children = []
            for entry in entries:
                try:
                    children.append(self._child(target, entry.digest, fetcher))
                except RegistryError as error:
                    # OpenShift names the child in the error (importSubManifests).
                    raise _ChildFailed(ref.with_digest(entry.digest), error) from error
            return self._present(top, target), [self._present(c, target) for c in children]
        prefer_arch, prefer_os = preference()
        chosen = images.select_child(
            entries, prefer_arch, prefer_os, self._options.default_platform
        )
        return self._present(self._child(target, chosen.digest, fetcher), target), []

    def _child(self, target: Target, digest: str, fetcher: Fetcher) -> Image:
        # A list's entries were checked as digests when the list was converted.
        child = self._image(target, Digest.parse(digest), fetcher)
        if media.is_list(child.docker_image_manifest_media_type):
            raise UnsupportedContentError(detail=f"manifest list {digest} nests another list")
        return child

    def _image(self, target: Target, tag_or_digest: str | Digest, fetcher: Fetcher) -> Image:
        """The full converted Image (raw documents included), from the cache or the registry.

        The Image is shared with every target of the same content: it is
        shown through :meth:`_present`'s copy, never changed in place.
        """
        by_digest = isinstance(tag_or_digest, Digest)
        if by_digest and (cached := self._usable(fetcher, target, tag_or_digest)):
            self._telemetry.cache_lookup(hit=True)
            return cached
        manifest = fetcher.manifest(target.ref, target.insecure, tag_or_digest)
        # A GET by digest is verified against that digest by the client.
        key = CacheKey.of(target.ref, manifest.digest)
        if not by_digest and (cached := self._usable(fetcher, target, manifest.digest)):
            self._telemetry.cache_lookup(hit=True)
            return cached
        if fetcher.cache.enabled:
            self._telemetry.cache_lookup(hit=False)

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

        return fetcher.converted(key, convert)

    @staticmethod
    def _usable(fetcher: Fetcher, target: Target, digest: str) -> Image | None:
        """The cached image of ``digest`` at the target's repository, if it serves the target.

        An entry too large to cache whole lost its raw documents: it does not
        serve a target that asks for them.
        """
        cached = fetcher.cache.get(CacheKey.of(target.ref, digest))
        if cached is None or (target.include_manifest and not cached.docker_image_manifest):
            return None
        return cached

    def _present(self, image: Image, target: Target) -> Image:
        """The Image as this request shows it: its reference, raw documents if asked."""
        # Only top-level fields change: a shallow copy is enough.
        shown = image.model_copy()
        shown.docker_image_reference = target.ref.with_digest(image.metadata.name).exact()
        metadata = shown.docker_image_metadata
        if media.is_list(shown.docker_image_manifest_media_type) and metadata is not None:
            # manifestListToImage: a list was "created" when it is imported.
            shown.docker_image_metadata = metadata.model_copy(update={"created": self._clock()})
        if not target.include_manifest:
            shown.docker_image_manifest = ""
            shown.docker_image_config = ""
        # Nested objects carry no type meta in OpenShift's answers.
        shown.kind = ""
        shown.api_version = ""
        return shown

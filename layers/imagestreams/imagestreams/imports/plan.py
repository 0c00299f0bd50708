"""Which images a spec names: import targets with the deployment's defaults (pure).

References arrive parsed (at the edge, once); nothing here parses one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from imagestreams.credentials import DOCKER_HUB_ALIASES
from imagestreams.models import (
    PREFER_ARCH_ANNOTATION,
    PREFER_OS_ANNOTATION,
    ImageImportSpec,
    ImageStreamImport,
    RepositoryImportSpec,
    TagImportPolicy,
)
from imagestreams.reference import Reference
from imagestreams.registry.rules import RegistryRules


@dataclass(frozen=True)
class SpecReferences:
    """The references of a valid spec, parsed once at the edge: one per
    ``spec.images`` entry, and the repository's."""

    images: tuple[Reference, ...] = ()
    repository: Reference | None = None


@dataclass(frozen=True)
class ValidImport:
    """A validated ImageStreamImport request and its references, parsed once."""

    request: ImageStreamImport
    references: SpecReferences


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
    """One image to import: a tag or digest of a repository.

    ``tag`` is the stream tag the result is for (an image's ``to``, a
    repository's tag). ``status_tag`` is what ``status.images[].tag``
    reports: the source tag, ``latest`` when none was written, nothing for
    a reference by digest (``importer.go``'s ``importImages``).
    ``spec_tag`` names the stream's spec tag whose prefer-arch/prefer-os
    annotations choose a manifest list's child: the ``to`` of a reference by
    tag (its source tag without a ``to``); None for digests and repository
    tags, which upstream gives no preference. ``known`` marks a tag the
    stream already has (a re-import, or an import into a stream that has
    it): its digest has likely not changed, so a manifest ``HEAD`` may spare
    the ``GET``s (see :func:`head_first`).
    """

    ref: Reference
    tag: str
    insecure: bool
    mode: str
    include_manifest: bool
    status_tag: str = ""
    spec_tag: str | None = None
    known: bool = False

    @property
    def reported(self) -> Reference:
        """The reference OpenShift names in this target's errors: by tag or by digest, not both."""
        if self.ref.digest is not None:
            return self.ref.without_tag()
        return self.ref.with_tag(self.ref.tag_or_latest)


def head_first(target: Target) -> bool:
    """Whether a target is resolved with a manifest ``HEAD`` before any ``GET``.

    A ``HEAD`` costs a round trip of its own; it pays where the image is
    likely cached already (a reference by digest, a tag the stream has) and
    at Docker Hub, which counts manifest ``GET``s against a pull quota but
    not ``HEAD``s. Elsewhere a new tag is resolved by its manifest ``GET``,
    which answers the digest as well (2 requests per new image, not 3).
    """
    ref = target.ref
    return ref.digest is not None or target.known or ref.api_host in DOCKER_HUB_ALIASES


def insecure(ref: Reference, policy: TagImportPolicy | None, options: ImportOptions) -> bool:
    """Whether ``ref``'s registry is spoken to without TLS verification."""
    return bool(policy and policy.insecure) or options.rules.is_insecure(ref)


def _mode(policy: TagImportPolicy | None, options: ImportOptions) -> str:
    return (policy and policy.import_mode) or options.default_import_mode


def image_target(spec: ImageImportSpec, ref: Reference, options: ImportOptions) -> Target:
    """A target for one (validated, defaulted) ``spec.images`` entry, naming ``ref``."""
    to = spec.to.name if spec.to is not None else ""
    by_tag = ref.digest is None
    return Target(
        ref=ref,
        tag=to,
        insecure=insecure(ref, spec.import_policy, options),
        mode=_mode(spec.import_policy, options),
        include_manifest=bool(spec.include_manifest),
        status_tag=ref.tag_or_latest if by_tag else "",
        spec_tag=(to or ref.tag_or_latest) if by_tag else None,
    )


def tag_targets(
    spec: RepositoryImportSpec, ref: Reference, names: Sequence[str], options: ImportOptions
) -> list[Target]:
    """Targets for the tags ``names`` of the repository ``ref`` that ``spec`` names."""
    is_insecure = insecure(ref, spec.import_policy, options)
    mode = _mode(spec.import_policy, options)
    return [
        Target(ref.with_tag(tag), tag, is_insecure, mode, bool(spec.include_manifest), tag)
        for tag in names
    ]


TagAnnotations = Callable[[str], Mapping[str, str]]
"""The annotations of the stream's spec tag of that name (empty when it has none)."""


def platform_preference(
    target: Target,
    tag_annotations: TagAnnotations | None,
    request_annotations: Mapping[str, str],
) -> tuple[str | None, str | None]:
    """The (architecture, OS) a Legacy import of ``target`` prefers in a manifest list.

    OpenShift reads ``importer.image.openshift.io/prefer-arch`` and
    ``prefer-os`` from the stream's spec tag the target tags into
    (``importer.go``'s ``importImages``). When that tag says neither, the
    request's own annotations (``ImageStreamImport.metadata.annotations``,
    an extension of ours) apply.
    """
    sources: list[Mapping[str, str]] = [request_annotations]
    if target.spec_tag is not None and tag_annotations is not None:
        sources.insert(0, tag_annotations(target.spec_tag))
    for found in sources:
        arch = found.get(PREFER_ARCH_ANNOTATION) or None
        os = found.get(PREFER_OS_ANNOTATION) or None
        if arch or os:
            return arch, os
    return None, None

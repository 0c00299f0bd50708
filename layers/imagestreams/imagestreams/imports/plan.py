"""Which images a spec names: import targets with the deployment's defaults (pure).

References arrive parsed (at the edge, once); nothing here parses one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from imagestreams.credentials import DOCKER_HUB_ALIASES
from imagestreams.models import (
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

    ``known`` marks a tag the stream already has (a re-import, or an import
    into a stream that has it): its digest has likely not changed, so a
    manifest ``HEAD`` may spare the ``GET``s (see :func:`head_first`).
    """

    ref: Reference
    tag: str
    insecure: bool
    mode: str
    include_manifest: bool
    known: bool = False


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
    return Target(
        ref=ref,
        tag=spec.to.name if spec.to is not None else "",
        insecure=insecure(ref, spec.import_policy, options),
        mode=_mode(spec.import_policy, options),
        include_manifest=bool(spec.include_manifest),
    )


def tag_targets(
    spec: RepositoryImportSpec, ref: Reference, names: Sequence[str], options: ImportOptions
) -> list[Target]:
    """Targets for the tags ``names`` of the repository ``ref`` that ``spec`` names."""
    is_insecure = insecure(ref, spec.import_policy, options)
    mode = _mode(spec.import_policy, options)
    return [
        Target(ref.with_tag(tag), tag, is_insecure, mode, bool(spec.include_manifest))
        for tag in names
    ]

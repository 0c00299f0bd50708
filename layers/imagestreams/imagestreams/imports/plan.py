"""Which images a spec names: import targets with the deployment's defaults (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from imagestreams import reference
from imagestreams.models import (
    ImageImportSpec,
    RepositoryImportSpec,
    TagImportPolicy,
)
from imagestreams.reference import Reference
from imagestreams.registries import RegistryRules


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


def _insecure(ref: Reference, policy: TagImportPolicy | None, options: ImportOptions) -> bool:
    return bool(policy and policy.insecure) or options.rules.is_insecure(ref)


def _mode(policy: TagImportPolicy | None, options: ImportOptions) -> str:
    return (policy and policy.import_mode) or options.default_import_mode


def image_target(spec: ImageImportSpec, options: ImportOptions) -> Target:
    """A target for one (validated, defaulted) ``spec.images`` entry."""
    ref = reference.parse(spec.from_.name)
    return Target(
        ref=ref,
        tag=spec.to.name if spec.to is not None else "",
        insecure=_insecure(ref, spec.import_policy, options),
        mode=_mode(spec.import_policy, options),
        include_manifest=bool(spec.include_manifest),
    )


def repository(spec: RepositoryImportSpec, options: ImportOptions) -> tuple[Reference, bool]:
    """The repository ``spec`` names, and whether it is spoken to insecurely."""
    ref = reference.parse(spec.from_.name)
    return ref, _insecure(ref, spec.import_policy, options)


def tag_targets(
    spec: RepositoryImportSpec, names: Sequence[str], options: ImportOptions
) -> list[Target]:
    """Targets for the tags ``names`` of the repository ``spec`` names."""
    ref, insecure = repository(spec, options)
    mode = _mode(spec.import_policy, options)
    return [
        Target(ref.with_tag(tag), tag, insecure, mode, bool(spec.include_manifest)) for tag in names
    ]

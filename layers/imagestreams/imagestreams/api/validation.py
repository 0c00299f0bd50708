"""Validation and defaulting of an ImageStreamImport request (pure).

Owns the rules of DESIGN section 3, with OpenShift's field paths and
messages: which requests are rejected whole (422 ``Invalid``, one cause per
field) and how an accepted request is defaulted (``to`` from the tag of
``from``, ``referencePolicy.type: Source``, the deployment's import mode).

Also owns the rules an ImageStream and an ImageStreamTag share with it:
namespaces, object names and image tags, Kubernetes' labels and annotations
(``metadata_causes``), the import modes and reference policies, and the
deployment's registry rules (``registry_allowed``). An ImageStream's own
rules are ``imagestreams.api.stream_validation``'s.
"""

from __future__ import annotations

import re

from imagestreams import reference
from imagestreams.errors import FieldCause, InvalidReferenceError, ValidationError
from imagestreams.imports.plan import SpecReferences
from imagestreams.models import (
    ImageStreamImport,
    LocalObjectReference,
    TagImportPolicy,
    TagReferencePolicy,
)
from imagestreams.registry.rules import RegistryRules

QUALIFIED_KIND = "ImageStreamImport.image.openshift.io"
IMPORT_MODES = ["Legacy", "PreserveOriginal"]
REFERENCE_POLICIES = ["Source", "Local"]

_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL = re.compile(rf"^{_LABEL}$")
DNS1123_SUBDOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character"
)

# A tag of an image stream is a tag of the images pulled through it: distribution's grammar.
_TAG_MESSAGE = (
    "a tag must be at most 128 characters: letters, digits, '_', '.' and '-', "
    "not starting with '.' or '-' (regex used for validation is '[\\w][\\w.-]{0,127}')"
)

# Kubernetes' object metadata rules (apimachinery ValidateObjectMeta).
TOTAL_ANNOTATION_SIZE = 256 * 1024
_NAME_PART = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
QUALIFIED_NAME_PART = re.compile(rf"^{_NAME_PART}$", re.ASCII)
LABEL_VALUE = re.compile(rf"^({_NAME_PART})?$", re.ASCII)
_NAME_PART_MESSAGE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    f"used for validation is '{_NAME_PART}')"
)
_LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    f"'my_value',  or '12345', regex used for validation is '({_NAME_PART})?')"
)


def namespace_problem(namespace: str) -> str | None:
    """Why ``namespace`` is not a valid Kubernetes namespace, or None."""
    if len(namespace) > 63:
        return "must be no more than 63 characters"
    if not DNS1123_LABEL.match(namespace):
        return _LABEL_MESSAGE
    return None


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid object name (DNS-1123 subdomain), or None."""
    if len(name) > 253:
        return "must be no more than 253 characters"
    if not DNS1123_SUBDOMAIN.match(name):
        return _SUBDOMAIN_MESSAGE
    return None


def tag_problem(tag: str) -> str | None:
    """Why ``tag`` cannot name a tag of an image stream, or None."""
    return None if reference.is_tag(tag) else _TAG_MESSAGE


def qualified_name_problem(key: str) -> str | None:
    """Why ``key`` is not a Kubernetes qualified name (``[prefix/]name``), or None."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        return f"prefix part {_SUBDOMAIN_MESSAGE}"
    if not name:
        return "name part must be non-empty"
    if len(name) > 63:
        return "name part must be no more than 63 characters"
    if not QUALIFIED_NAME_PART.match(name):
        return _NAME_PART_MESSAGE
    return None


def metadata_causes(
    labels: dict[str, str] | None, annotations: dict[str, str] | None
) -> list[FieldCause]:
    """Kubernetes' rules for ``metadata.labels`` and ``metadata.annotations``."""
    causes: list[FieldCause] = []
    for key, value in (labels or {}).items():
        if problem := qualified_name_problem(key):
            causes.append(FieldCause.invalid("metadata.labels", key, problem))
        if len(value) > 63:
            causes.append(
                FieldCause.invalid("metadata.labels", value, "must be no more than 63 characters")
            )
        elif not LABEL_VALUE.match(value):
            causes.append(FieldCause.invalid("metadata.labels", value, _LABEL_VALUE_MESSAGE))
    size = 0
    for key, value in (annotations or {}).items():
        if problem := qualified_name_problem(key.lower()):
            causes.append(FieldCause.invalid("metadata.annotations", key, problem))
        size += len(key.encode("utf-8")) + len(value.encode("utf-8"))
    if size > TOTAL_ANNOTATION_SIZE:
        causes.append(
            FieldCause(
                "metadata.annotations",
                "FieldValueTooLong",
                f"Too long: must have at most {TOTAL_ANNOTATION_SIZE} bytes",
            )
        )
    return causes


def validate(
    isi: ImageStreamImport,
    namespace: str,
    rules: RegistryRules | None = None,
    max_images: int | None = None,
) -> SpecReferences:
    """The references of ``isi``, or :class:`ValidationError` listing every invalid field.

    With ``rules``, a registry the deployment blocks (or does not allow) is a
    ``Forbidden`` cause on the reference's field, as OpenShift reports it.
    With ``max_images``, more ``spec.images`` entries than that are refused
    (Kubernetes' ``TooMany``) before any of them is looked at.
    """
    causes: list[FieldCause] = []
    name = isi.metadata.name or ""
    if not name:
        causes.append(FieldCause.required("metadata.name", "name or generateName is required"))
    elif problem := name_problem(name):
        causes.append(FieldCause.invalid("metadata.name", name, problem))
    if problem := namespace_problem(namespace):
        causes.append(FieldCause.invalid("metadata.namespace", namespace, problem))
    causes.extend(metadata_causes(isi.metadata.labels, isi.metadata.annotations))
    count = len(isi.spec.images or [])
    if max_images is not None and count > max_images:
        causes.append(
            FieldCause(
                "spec.images",
                "FieldValueTooMany",
                f"Too many: {count}: must have at most {max_images} items",
            )
        )
        raise ValidationError(QUALIFIED_KIND, "ImageStreamImport", name, causes)

    images: list[reference.Reference] = []
    repository_ref: reference.Reference | None = None
    for i, spec in enumerate(isi.spec.images or []):
        path = f"spec.images[{i}]"
        if spec.from_.kind != "DockerImage":
            causes.append(
                FieldCause.invalid(
                    f"{path}.from.kind", spec.from_.kind, "only DockerImage is supported"
                )
            )
            continue
        if spec.to is not None and not spec.to.name:
            causes.append(
                FieldCause.invalid(
                    f"{path}.to.name", "", "the name of the target tag must be specified"
                )
            )
        elif spec.to is not None and (problem := tag_problem(spec.to.name)):
            causes.append(FieldCause.invalid(f"{path}.to.name", spec.to.name, problem))
        parsed = _reference(f"{path}.from.name", spec.from_.name, causes)
        if parsed is not None:
            images.append(parsed)
        policy = spec.import_policy
        registry_allowed(f"{path}.from.name", parsed, policy, rules, causes)
        if parsed and parsed.digest and policy is not None and policy.scheduled:
            causes.append(
                FieldCause.invalid(
                    f"{path}.from.name", spec.from_.name, "only tags can be scheduled for import"
                )
            )
        _policies(path, policy, spec.reference_policy, causes)

    repository = isi.spec.repository
    if repository is not None:
        path = "spec.repository"
        if repository.from_.kind != "DockerImage":
            causes.append(
                FieldCause.invalid(
                    f"{path}.from.kind", repository.from_.kind, "only DockerImage is supported"
                )
            )
        else:
            parsed = repository_ref = _reference(f"{path}.from.name", repository.from_.name, causes)
            registry_allowed(f"{path}.from.name", parsed, repository.import_policy, rules, causes)
            if parsed and (parsed.tag or parsed.digest):
                causes.append(
                    FieldCause.invalid(
                        f"{path}.from.name",
                        repository.from_.name,
                        "you must specify an image repository, not a tag or ID",
                    )
                )
        _policies(path, repository.import_policy, repository.reference_policy, causes)

    if not isi.spec.images and repository is None:
        causes.append(
            FieldCause.invalid(
                "spec.images", None, "you must specify at least one image or a repository import"
            )
        )
    if causes:
        raise ValidationError(QUALIFIED_KIND, "ImageStreamImport", name, causes)
    return SpecReferences(tuple(images), repository_ref)


def _reference(path: str, name: str, causes: list[FieldCause]) -> reference.Reference | None:
    if not name:
        causes.append(FieldCause.required(path))
        return None
    try:
        return reference.parse(name)
    except InvalidReferenceError as error:
        causes.append(FieldCause.invalid(path, name, str(error)))
        return None


def registry_allowed(
    path: str,
    parsed: reference.Reference | None,
    policy: TagImportPolicy | None,
    rules: RegistryRules | None,
    causes: list[FieldCause],
) -> None:
    """A ``Forbidden`` cause at ``path`` when ``rules`` block the registry of ``parsed``."""
    if parsed is None or rules is None:
        return
    if problem := rules.forbidden(parsed, bool(policy and policy.insecure)):
        causes.append(FieldCause.forbidden(path, problem))


def _policies(
    path: str,
    import_policy: TagImportPolicy | None,
    reference_policy: TagReferencePolicy | None,
    causes: list[FieldCause],
) -> None:
    mode = import_policy.import_mode if import_policy else None
    if mode and mode not in IMPORT_MODES:
        causes.append(
            FieldCause.not_supported(f"{path}.importPolicy.importMode", mode, IMPORT_MODES)
        )
    kind = reference_policy.type if reference_policy else None
    if kind and kind not in REFERENCE_POLICIES:
        causes.append(
            FieldCause.not_supported(f"{path}.referencePolicy.type", kind, REFERENCE_POLICIES)
        )


def apply_defaults(
    isi: ImageStreamImport, references: SpecReferences, default_import_mode: str
) -> ImageStreamImport:
    """Fill the defaults OpenShift's API server applies; returns ``isi``."""
    for spec, ref in zip(isi.spec.images or [], references.images, strict=True):
        if spec.to is None and ref.tag:
            spec.to = LocalObjectReference(name=ref.tag)
        spec.import_policy = _default_import_policy(spec.import_policy, default_import_mode)
        spec.reference_policy = _default_reference_policy(spec.reference_policy)
    repository = isi.spec.repository
    if repository is not None:
        repository.import_policy = _default_import_policy(
            repository.import_policy, default_import_mode
        )
        repository.reference_policy = _default_reference_policy(repository.reference_policy)
    return isi


def _default_import_policy(policy: TagImportPolicy | None, mode: str) -> TagImportPolicy:
    policy = policy or TagImportPolicy()
    if not policy.import_mode:
        policy.import_mode = mode
    return policy


def _default_reference_policy(policy: TagReferencePolicy | None) -> TagReferencePolicy:
    policy = policy or TagReferencePolicy(type="Source")
    if not policy.type:
        policy.type = "Source"
    return policy

"""Validation and defaulting of an ImageStreamImport request (pure).

Owns the rules of DESIGN section 3, with OpenShift's field paths and
messages (openshift-apiserver ``ValidateImageStreamImport``): which requests
are rejected whole (422 ``Invalid``, one cause per field) and how an
accepted request is defaulted (``to`` from the tag of ``from``,
``referencePolicy.type: Source``, the deployment's import mode).

Also owns the rules an ImageStream and an ImageStreamTag share with it:
apimachinery's ``ValidateObjectMeta`` (``object_meta_causes``: generateName,
name, namespace, labels and annotations), the names of image streams
(``ValidateImageStreamName``) and of path segments, image tags, the import
modes and reference policies, and the deployment's registry rules
(``registry_allowed``). An ImageStream's own rules are
``imagestreams.api.stream_validation``'s.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from imagestreams import reference
from imagestreams.errors import FieldCause, InvalidReferenceError, ValidationError
from imagestreams.imports.plan import SpecReferences
from imagestreams.models import (
    ImageStreamImport,
    LocalObjectReference,
    ObjectMeta,
    TagImportPolicy,
    TagReferencePolicy,
)
from imagestreams.registry.rules import RegistryRules

QUALIFIED_KIND = "ImageStreamImport.image.openshift.io"
IMPORT_MODES = ["Legacy", "PreserveOriginal"]
REFERENCE_POLICIES = ["Source", "Local"]

NameRule = Callable[[str, bool], list[str]]
"""A ``ValidateNameFunc``: why a name (or, with True, a generateName prefix) is invalid."""

_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL = re.compile(rf"^{_LABEL}$")
DNS1123_SUBDOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
# apimachinery's RegexError texts, with their examples and patterns.
_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character"
)
# openshift-apiserver's RepositoryNameComponentRegexp: one path component of a repository.
STREAM_NAME_PATTERN = "[a-z0-9]+(?:[._-][a-z0-9]+)*"
_STREAM_NAME = re.compile(rf"^{STREAM_NAME_PATTERN}$")
# distribution's NameTotalLengthMax: "namespace/name" must make a repository name.
REPOSITORY_NAME_MAX = 255
# ValidateImportPolicy's and ValidateImageStreamTagReference's messages.
_IMPORT_MODE_MESSAGE = "invalid import mode, valid modes are '', 'Legacy', 'PreserveOriginal'"
REFERENCE_POLICY_MESSAGE = 'valid values are "Source", "Local"'

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


def namespace_problems(namespace: str) -> list[str]:
    """Why ``namespace`` is not a Kubernetes namespace (``ValidateNamespaceName``)."""
    problems = []
    if len(namespace) > 63:
        problems.append("must be no more than 63 characters")
    if not DNS1123_LABEL.match(namespace):
        problems.append(
            "must not contain dots" if DNS1123_SUBDOMAIN.match(namespace) else _LABEL_MESSAGE
        )
    return problems


def path_segment_problems(name: str, prefix: bool = False) -> list[str]:
    """Why ``name`` cannot be one segment of a URL path (``ValidatePathSegmentName``).

    A ``prefix`` (a generateName) may be ``.`` or ``..``: a suffix follows it.
    """
    if not prefix and name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{part}'" for part in ("/", "%") if part in name]


def stream_name_problems(name: str, prefix: bool = False) -> list[str]:
    """Why ``name`` cannot name an image stream (``ValidateImageStreamName``).

    The name of an ImageStreamImport is its stream's, so the same rule. A
    ``prefix`` (a generateName) is held to it whole, as upstream does: a
    generateName ending in ``-`` is refused.
    """
    if problems := path_segment_problems(name, prefix):
        return problems
    if not _STREAM_NAME.match(name):
        return [f'must match "{STREAM_NAME_PATTERN}"']
    return []


def repository_name_problem(namespace: str, name: str) -> str | None:
    """Why ``namespace/name`` cannot name the stream's repository, or None."""
    if len(f"{namespace}/{name}") > REPOSITORY_NAME_MAX:
        return f"'namespace/name' cannot be longer than {REPOSITORY_NAME_MAX} characters"
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


def object_meta_causes(
    meta: ObjectMeta, namespace: str, rule: NameRule, *, names_not_generated_for: str = ""
) -> list[FieldCause]:
    """``ValidateObjectMeta``: generateName, name, namespace, labels and annotations.

    ``rule`` judges the name and the generateName (as a prefix). A kind
    whose create makes no name from a generateName names itself in
    ``names_not_generated_for``: OpenShift's ImageStreamImport and
    ImageStreamTag storage answer such a request with a 500 (``metadata.name
    was not generated``); here it is the 422 a client can act on.
    """
    causes = [
        FieldCause.invalid("metadata.generateName", meta.generate_name, problem)
        for problem in (rule(meta.generate_name, True) if meta.generate_name else [])
    ]
    if not meta.name:
        detail = "name or generateName is required"
        if meta.generate_name and names_not_generated_for:
            detail = f"name is required: {names_not_generated_for} do not support generateName"
        causes.append(FieldCause.required("metadata.name", detail))
    causes.extend(
        FieldCause.invalid("metadata.name", meta.name, problem)
        for problem in (rule(meta.name, False) if meta.name else [])
    )
    if not namespace:
        causes.append(FieldCause.required("metadata.namespace"))
    causes.extend(
        FieldCause.invalid("metadata.namespace", namespace, problem)
        for problem in (namespace_problems(namespace) if namespace else [])
    )
    causes.extend(metadata_causes(meta.labels, meta.annotations))
    return causes


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


def import_mode_causes(path: str, policy: TagImportPolicy) -> list[FieldCause]:
    """``ValidateImportPolicy``: an import mode other than empty, Legacy or PreserveOriginal."""
    mode = policy.import_mode
    if mode and mode not in IMPORT_MODES:
        return [FieldCause.invalid(f"{path}.importMode", mode, _IMPORT_MODE_MESSAGE)]
    return []


def validate(
    isi: ImageStreamImport,
    namespace: str,
    rules: RegistryRules | None = None,
    max_images: int | None = None,
) -> SpecReferences:
    """The references of ``isi``, or :class:`ValidationError` listing every invalid field.

    ``ValidateImageStreamImport``'s rules, in its order (the spec's fields,
    then the object's metadata), with these of ours: ``to.name`` must be a
    tag; ``metadata.name`` must leave ``namespace/name`` a repository name,
    as the stream's must; with ``import: true``, ``referencePolicy.type``
    must be one a stream's spec tag takes. With ``rules``, a registry the
    deployment blocks (or does not allow) is a ``Forbidden`` cause on the
    reference's field, as OpenShift reports it. With ``max_images``, more
    ``spec.images`` entries than that are refused (Kubernetes' ``TooMany``)
    before any of them is looked at.
    """
    name = isi.metadata.name
    meta = object_meta_causes(
        isi.metadata,
        namespace,
        stream_name_problems,
        names_not_generated_for="ImageStreamImports",
    )
    if name and (problem := repository_name_problem(namespace, name)):
        meta.append(FieldCause.invalid("metadata.name", name, problem))
    count = len(isi.spec.images or [])
    if max_images is not None and count > max_images:
        too_many = FieldCause(
            "spec.images",
            "FieldValueTooMany",
            f"Too many: {count}: must have at most {max_images} items",
        )
        raise ValidationError(QUALIFIED_KIND, "ImageStreamImport", name, [too_many, *meta])

    causes: list[FieldCause] = []
    images: list[reference.Reference] = []
    repository_ref: reference.Reference | None = None
    writes = isi.spec.import_
    for i, spec in enumerate(isi.spec.images or []):
        path = f"spec.images[{i}]"
        if spec.from_.kind == "DockerImage":
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
            registry_allowed(f"{path}.from.name", parsed, spec.import_policy, rules, causes)
        else:
            causes.append(
                FieldCause.invalid(
                    f"{path}.from.kind", spec.from_.kind, "only DockerImage is supported"
                )
            )
        causes.extend(import_mode_causes(f"{path}.importPolicy", spec.import_policy))
        if writes:
            causes.extend(_reference_policy_causes(path, spec.reference_policy))

    repository = isi.spec.repository
    if repository is not None:
        path = "spec.repository"
        if repository.from_.kind == "DockerImage":
            parsed = repository_ref = _reference(
                f"{path}.from.name",
                repository.from_.name,
                causes,
                "container image references require a name",
            )
            registry_allowed(f"{path}.from.name", parsed, repository.import_policy, rules, causes)
            if parsed and (parsed.tag or parsed.digest):
                causes.append(
                    FieldCause.invalid(
                        f"{path}.from.name",
                        repository.from_.name,
                        "you must specify an image repository, not a tag or ID",
                    )
                )
        else:
            causes.append(
                FieldCause.invalid(
                    f"{path}.from.kind", repository.from_.kind, "only DockerImage is supported"
                )
            )
        causes.extend(import_mode_causes(f"{path}.importPolicy", repository.import_policy))
        if writes:
            causes.extend(_reference_policy_causes(path, repository.reference_policy))

    if not isi.spec.images and repository is None:
        causes.append(
            FieldCause.invalid(
                "spec.images", None, "you must specify at least one image or a repository import"
            )
        )
    causes.extend(meta)
    if causes:
        raise ValidationError(QUALIFIED_KIND, "ImageStreamImport", name, causes)
    return SpecReferences(tuple(images), repository_ref)


def _reference(
    path: str, name: str, causes: list[FieldCause], required: str = ""
) -> reference.Reference | None:
    if not name:
        causes.append(FieldCause.required(path, required))
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


def _reference_policy_causes(path: str, policy: TagReferencePolicy) -> list[FieldCause]:
    """An import that writes gives its policy to a spec tag: one a stream may hold.

    OpenShift does not check it here: its stream update fails on it after
    the import, unless the spec tag had a policy already.
    """
    if policy.type and policy.type not in REFERENCE_POLICIES:
        path = f"{path}.referencePolicy.type"
        return [FieldCause.invalid(path, policy.type, REFERENCE_POLICY_MESSAGE)]
    return []


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

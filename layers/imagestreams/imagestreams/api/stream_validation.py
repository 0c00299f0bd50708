"""Validation and defaulting of an ImageStream's spec (pure).

Owns openshift-apiserver's rules for an ImageStream a client writes
(``ValidateImageStream``, ``ValidateImageStreamName``,
``ValidateImageStreamTagReference``), with its field paths and messages,
and the API server's defaults of spec tags (``v1/defaults.go``). An
ImageStreamTag write is checked through them, as the spec tag it makes.

The rules shared with ImageStreamImport (names, metadata, import modes,
reference policies, registry rules) are ``imagestreams.api.validation``'s.
"""

from __future__ import annotations

import re

from imagestreams import reference
from imagestreams.api.validation import (
    IMPORT_MODES,
    REFERENCE_POLICIES,
    metadata_causes,
    namespace_problem,
    registry_allowed,
    tag_problem,
)
from imagestreams.errors import FieldCause, InvalidReferenceError, ValidationError
from imagestreams.models import ImageStream, TagReference
from imagestreams.registry.rules import RegistryRules

STREAM_KIND = "ImageStream.image.openshift.io"
TAG_FROM_KINDS = ("DockerImage", "ImageStreamImage", "ImageStreamTag")
# openshift-apiserver's ValidateImageStreamName: a repository path component.
_STREAM_NAME_PATTERN = "[a-z0-9]+(?:[._-][a-z0-9]+)*"
_STREAM_NAME = re.compile(rf"^{_STREAM_NAME_PATTERN}$")
# library-go's reference.NameTotalLengthMax: "namespace/name" must make a repository name.
_REPOSITORY_NAME_MAX = 255


def stream_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name an image stream (``ValidateImageStreamName``), or None."""
    if name in (".", ".."):
        return f"may not be '{name}'"
    for part in ("/", "%"):
        if part in name:
            return f"may not contain '{part}'"
    if not _STREAM_NAME.match(name):
        return f'must match "{_STREAM_NAME_PATTERN}"'
    return None


def default_stream(stream: ImageStream, default_import_mode: str) -> ImageStream:
    """The API server's defaults of a stream's spec tags; returns ``stream``.

    An empty reference policy is ``Source``, an empty import mode the
    deployment's (openshift-apiserver ``v1/defaults.go``).
    """
    for tag in stream.spec.tags or []:
        if not tag.reference_policy.type:
            tag.reference_policy.type = "Source"
        if not tag.import_policy.import_mode:
            tag.import_policy.import_mode = default_import_mode
    return stream


def validate_stream(
    stream: ImageStream, namespace: str, rules: RegistryRules | None = None
) -> dict[str, reference.Reference]:
    """The parsed ``DockerImage`` references of ``stream``'s spec tags, by tag.

    Raises :class:`ValidationError` listing every invalid field, with
    openshift-apiserver's paths and messages (``ValidateImageStream`` and
    ``ValidateImageStreamTagReference``); field paths name a tag by its name
    (``spec.tags[latest].from.kind``) as upstream's map does. Stricter than
    upstream, deliberately: a spec tag's name must be a valid image tag, as
    the ImageStreamTag ``<stream>:<tag>`` it makes must be.
    """
    causes: list[FieldCause] = []
    name = stream.metadata.name
    if not name:
        causes.append(FieldCause.required("metadata.name", "name or generateName is required"))
    elif problem := stream_name_problem(name):
        causes.append(FieldCause.invalid("metadata.name", name, problem))
    if problem := namespace_problem(namespace):
        causes.append(FieldCause.invalid("metadata.namespace", namespace, problem))
    if len(f"{namespace}/{name}") > _REPOSITORY_NAME_MAX:
        causes.append(
            FieldCause.invalid(
                "metadata.name",
                name,
                f"'namespace/name' cannot be longer than {_REPOSITORY_NAME_MAX} characters",
            )
        )
    causes.extend(metadata_causes(stream.metadata.labels, stream.metadata.annotations))
    parsed: dict[str, reference.Reference] = {}
    for tag in stream.spec.tags or []:
        path = f"spec.tags[{tag.name}]"
        if problem := tag_problem(tag.name):
            causes.append(FieldCause.invalid(f"{path}.name", tag.name, problem))
        ref = _tag_reference(path, tag, rules, causes)
        if ref is not None:
            parsed[tag.name] = ref
        mode = tag.import_policy.import_mode
        if mode and mode not in IMPORT_MODES:
            causes.append(
                FieldCause.not_supported(f"{path}.importPolicy.importMode", mode, IMPORT_MODES)
            )
        if tag.reference_policy.type not in REFERENCE_POLICIES:
            causes.append(
                FieldCause.invalid(
                    f"{path}.referencePolicy.type",
                    tag.reference_policy.type,
                    'valid values are "Source", "Local"',
                )
            )
    if causes:
        raise ValidationError(STREAM_KIND, "ImageStream", name, causes)
    return parsed


def _tag_reference(
    path: str, tag: TagReference, rules: RegistryRules | None, causes: list[FieldCause]
) -> reference.Reference | None:
    """A spec tag's ``from``, checked; its parsed reference when it is a ``DockerImage``."""
    source = tag.from_
    if source is None:
        return None
    if not source.name:
        causes.append(FieldCause.required(f"{path}.from.name"))
    if source.kind not in TAG_FROM_KINDS:
        causes.append(
            FieldCause.required(
                f"{path}.from.kind",
                "valid values are 'DockerImage', 'ImageStreamImage', 'ImageStreamTag'",
            )
        )
        return None
    if source.kind != "DockerImage":
        if tag.import_policy.scheduled:
            causes.append(
                FieldCause.invalid(
                    f"{path}.importPolicy.scheduled",
                    True,
                    "only tags pointing to Docker repositories may be scheduled for "
                    "background import",
                )
            )
        return None
    if not source.name:
        return None
    try:
        ref = reference.parse(source.name)
    except InvalidReferenceError as error:
        causes.append(FieldCause.invalid(f"{path}.from.name", source.name, str(error)))
        return None
    if ref.digest and tag.import_policy.scheduled:
        causes.append(
            FieldCause.invalid(
                f"{path}.from.name", source.name, "only tags can be scheduled for import"
            )
        )
        return None
    registry_allowed(f"{path}.from.name", ref, tag.import_policy, rules, causes)
    return ref

"""Validation and defaulting of an ImageStream's spec (pure).

Owns openshift-apiserver's rules for an ImageStream a client writes
(``ValidateImageStream``, ``ValidateImageStreamTagReference``), with its
field paths and messages,
and the API server's defaults of spec tags (``v1/defaults.go``). An
ImageStreamTag write is checked through them, as the spec tag it makes.

The rules shared with ImageStreamImport (object metadata and
``ValidateImageStreamName``, import modes, reference policies, registry
rules) are ``imagestreams.api.validation``'s.
"""

from __future__ import annotations

from imagestreams import reference
from imagestreams.api.validation import (
    REFERENCE_POLICIES,
    REFERENCE_POLICY_MESSAGE,
    import_mode_causes,
    object_meta_causes,
    registry_allowed,
    repository_name_problem,
    stream_name_problems,
    tag_problem,
)
from imagestreams.errors import FieldCause, InvalidReferenceError, ValidationError
from imagestreams.models import ImageStream, TagReference
from imagestreams.registry.rules import RegistryRules

STREAM_KIND = "ImageStream.image.openshift.io"
TAG_FROM_KINDS = ("DockerImage", "ImageStreamImage", "ImageStreamTag")


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
    name = stream.metadata.name
    causes = object_meta_causes(stream.metadata, namespace, stream_name_problems)
    if name and (problem := repository_name_problem(namespace, name)):
        causes.append(FieldCause.invalid("metadata.name", name, problem))
    parsed: dict[str, reference.Reference] = {}
    for tag in stream.spec.tags or []:
        path = f"spec.tags[{tag.name}]"
        if problem := tag_problem(tag.name):
            causes.append(FieldCause.invalid(f"{path}.name", tag.name, problem))
        ref = _tag_reference(path, tag, rules, causes)
        if ref is not None:
            parsed[tag.name] = ref
        if tag.reference_policy.type not in REFERENCE_POLICIES:
            causes.append(
                FieldCause.invalid(
                    f"{path}.referencePolicy.type",
                    tag.reference_policy.type,
                    REFERENCE_POLICY_MESSAGE,
                )
            )
        causes.extend(import_mode_causes(f"{path}.importPolicy", tag.import_policy))
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
    registry_allowed(f"{path}.from.name", ref, tag.import_policy, rules, causes)
    return ref

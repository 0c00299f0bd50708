"""A stream's images seen by tag (``ImageStreamTag``) and by digest (``ImageStreamImage``) (pure).

Owns how these virtual objects are named and made from what a stream stores,
as openshift-apiserver's ``imagestreamtag`` and ``imagestreamimage`` REST
storage make them (``newISTag``, ``imageFor``, ``parseNameAndID``):

- ``<stream>:<tag>`` names a tag that has a history; its current image is
  the first history entry. The object carries the stream's uid,
  ``resourceVersion`` and labels, the time of that entry as its
  ``creationTimestamp``, the entry's generation, the tag's conditions, the
  spec tag (``null`` when there is none) and the stream's lookup policy. The
  spec tag's annotations are the object's and its image's.
- ``<stream>@<id>`` names an image of the stream's history; ``id`` may be a
  digest or a prefix of one (``DigestOrImageMatch``).
- ``image.dockerImageReference`` is resolved by the tag's reference policy:
  ``Local`` with a stream repository gives ``<repository>@<digest>``,
  anything else the history entry's reference.

An image whose full form is unknown is shown with its name and reference
only, as OpenShift lists tags. It reads and writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from imagestreams import errors
from imagestreams.models import (
    REFERENCE_POLICY_LOCAL,
    Image,
    ImageLookupPolicy,
    ImageStreamImage,
    ImageStreamTag,
    ObjectMeta,
    TagEvent,
)
from imagestreams.streams import StreamMeta, TagState

__all__ = [
    "current_event",
    "digest_matches",
    "find_image",
    "image_name",
    "image_stream_image",
    "image_stream_tag",
    "split_image_name",
    "split_tag_name",
    "tag_name",
]


def split_tag_name(name: str) -> tuple[str, str]:
    """``(stream, tag)`` of ``<stream>:<tag>``; anything else is OpenShift's 400."""
    parts = name.split(":")
    if "@" in name or len(parts) != 2 or not parts[0] or not parts[1]:
        raise errors.BadRequestError("ImageStreamTags must be retrieved with <name>:<tag>")
    return parts[0], parts[1]


def split_image_name(name: str) -> tuple[str, str]:
    """``(stream, id)`` of ``<stream>@<id>``; anything else is OpenShift's 400."""
    parts = name.split("@")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise errors.BadRequestError("ImageStreamImages must be retrieved with <name>@<id>")
    return parts[0], parts[1]


def tag_name(stream: str, tag: str) -> str:
    return f"{stream}:{tag}"


def image_name(stream: str, image_id: str) -> str:
    return f"{stream}@{image_id}"


def current_event(state: TagState) -> TagEvent | None:
    """The tag's current image: its newest history entry, when it names an image."""
    if state.status is None or not state.status.items or not state.status.items[0].image:
        return None
    return state.status.items[0]


def image_stream_tag(
    meta: StreamMeta, state: TagState, image: Image | None = None, *, allow_empty: bool = False
) -> ImageStreamTag | None:
    """The ``ImageStreamTag`` of ``state`` in ``meta``'s stream; None without a current image.

    ``image`` is the full current image when known; without it the object
    names the image only, as a list shows it. ``allow_empty`` makes the
    object of a tag without an image yet (as a write answers it): at the
    stream's creation time, with an empty image.
    """
    event = current_event(state)
    if event is None:
        if not allow_empty:
            return None
        event = TagEvent(created=meta.creation_timestamp)
    annotations = dict(state.spec.annotations or {}) if state.spec is not None else {}
    shown = _image(image, event.image, annotations)
    shown.docker_image_reference = _resolved_reference(meta, state, event)
    conditions = state.status.conditions if state.status is not None else None
    return ImageStreamTag(
        metadata=ObjectMeta(
            name=tag_name(meta.name, state.name),
            namespace=meta.namespace,
            uid=meta.uid,
            resource_version=meta.resource_version,
            creation_timestamp=event.created,
            labels=dict(meta.labels) or None,
            annotations=annotations or None,
        ),
        tag=state.spec.model_copy(deep=True) if state.spec is not None else None,
        generation=event.generation,
        lookup_policy=ImageLookupPolicy(local=meta.lookup_policy_local),
        conditions=[c.model_copy() for c in conditions or []] or None,
        image=shown,
    )


def find_image(states: Iterable[TagState], image_id: str) -> TagEvent | None:
    """The newest history entry of an image ``image_id`` names (a digest or a prefix of one)."""
    found: TagEvent | None = None
    for state in states:
        for event in state.status.items if state.status is not None else []:
            if not event.image or not digest_matches(event.image, image_id):
                continue
            if found is None or event.created > found.created:
                found = event
    return found


def image_stream_image(
    meta: StreamMeta, image_id: str, event: TagEvent, image: Image | None = None
) -> ImageStreamImage:
    """The ``ImageStreamImage`` ``<stream>@<image_id>`` of the image of ``event``.

    Its time is the image's (else when it was tagged), its annotations the stream's; the image is
    the full one when known, else named by its history entry.
    """
    shown = _image(image, event.image, {})
    if not shown.docker_image_reference:
        shown.docker_image_reference = event.docker_image_reference
    return ImageStreamImage(
        metadata=ObjectMeta(
            name=image_name(meta.name, image_id),
            namespace=meta.namespace,
            # The image's time; an imported image has none, so the time it was tagged.
            creation_timestamp=shown.metadata.creation_timestamp or event.created,
            annotations=dict(meta.annotations) or None,
        ),
        image=shown,
    )


def _image(image: Image | None, name: str, annotations: dict[str, str]) -> Image:
    if image is None:
        return Image(metadata=ObjectMeta(name=name))
    # Raw manifest and config are never shown here, as in OpenShift.
    shown = image.model_copy(
        deep=True, update={"docker_image_manifest": "", "docker_image_config": ""}
    )
    if annotations:
        shown.metadata.annotations = {**(shown.metadata.annotations or {}), **annotations}
    return shown


def _resolved_reference(meta: StreamMeta, state: TagState, event: TagEvent) -> str:
    # ResolveReferenceForTagEvent: a Local policy pulls through the stream's repository.
    local = meta.docker_image_repository
    policy = state.spec.reference_policy.type if state.spec is not None else ""
    if policy == REFERENCE_POLICY_LOCAL and local and event.image:
        return f"{local}@{event.image}"
    return event.docker_image_reference


def digest_matches(image: str, image_id: str) -> bool:
    # DigestOrImageMatch: the id prefixes the digest, with or without its algorithm.
    _, _, hex_part = image.partition(":")
    return image.startswith(image_id) or (bool(hex_part) and hex_part.startswith(image_id))

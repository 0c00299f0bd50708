"""Where a spec tag pointing into the image streams takes its image from.

Owns what OpenShift's ImageStream strategy (openshift-apiserver
``registry/imagestream/strategy.go``: ``tagsChanged``, ``parseFromReference``,
``tagReferenceToTagEvent``; its ``TagVerifier``) does with a new or changed
spec tag whose ``from`` is

- an ``ImageStreamTag`` (``<tag>`` of the same stream, or ``<stream>:<tag>``):
  the source tag's newest history entry, recorded at the spec tag's
  generation; a source tag without history records nothing (upstream: "ok");
- an ``ImageStreamImage`` (``<id>`` or ``<stream>@<id>``, a digest or a
  prefix of one): an entry for the one image of the source's history it
  names, made now; none or several is an invalid ``from.name``.

No registry is called. A source in another namespace must be one the caller
may read; a source stream that does not exist is a ``Not found`` cause. The
image, when another stream keeps it, comes along so that the tag shows it
whole. It writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from imagestreams import tagviews
from imagestreams.errors import API_GROUP, FieldCause
from imagestreams.models import Image, TagEvent, TagReference
from imagestreams.streams import StreamMeta, TagState
from imagestreams.usecases.ports import StreamStore

#: The ``from`` kinds resolved here (``DockerImage`` is imported instead).
STREAM_KINDS = frozenset({"ImageStreamTag", "ImageStreamImage"})

_FORM = "must be of the form <tag>, <repo>:<tag>, <id>, or <repo>@<id>"


@dataclass(frozen=True)
class Source:
    """The history entry a spec tag records, and its image when another stream keeps it."""

    event: TagEvent
    image: Image | None = None


def split_from(kind: str, name: str, stream: str) -> tuple[str, str] | None:
    """``(stream, tag or id)`` of a ``from.name`` (upstream's ``parseFromReference``)."""
    parts = name.split(":" if kind == "ImageStreamTag" else "@")
    if len(parts) == 1:
        return stream, name
    if len(parts) == 2:
        return parts[0], parts[1]
    return None


@dataclass
class TagSources:
    """Resolves ``ImageStreamTag`` and ``ImageStreamImage`` spec tags against the store."""

    store: StreamStore

    def resolve(
        self,
        meta: StreamMeta,
        own: Mapping[str, TagState],
        ref: TagReference,
        at: datetime,
        may_read: Callable[[str], bool],
        causes: list[FieldCause],
    ) -> Source | None:
        """What ``ref`` (a spec tag of ``meta``'s stream, whose tags are ``own``) records.

        None when it records nothing; invalid sources add to ``causes``.
        """
        source = ref.from_
        if source is None or source.kind not in STREAM_KINDS or not source.name:
            return None
        path = f"spec.tags[{ref.name}].from"
        parsed = split_from(source.kind, source.name, meta.name)
        if parsed is None:
            causes.append(FieldCause.invalid(f"{path}.name", source.name, _FORM))
            return None
        stream, tag_or_id = parsed
        namespace = source.namespace or meta.namespace
        if namespace != meta.namespace and not may_read(namespace):
            causes.append(FieldCause.forbidden(path, f"{namespace}/{stream}"))
            return None
        if (namespace, stream) == (meta.namespace, meta.name):
            states: Mapping[str, TagState] = own
            elsewhere = False
        else:
            if self.store.get_meta(namespace, stream) is None:
                causes.append(FieldCause.not_found(f"{path}.name", source.name))
                return None
            states = self.store.get_tags(namespace, stream)
            elsewhere = True
        if source.kind == "ImageStreamTag":
            event = _latest(states.get(tag_or_id), ref)
        else:
            event = _image_event(states, tag_or_id, ref, at, f"{path}.name", causes)
        if event is None:
            return None
        image = None
        if elsewhere and event.image:
            image = self.store.get_image(namespace, stream, event.image)
        return Source(event, image)


def _latest(state: TagState | None, ref: TagReference) -> TagEvent | None:
    # LatestTaggedImage: the newest entry as it is, at the spec tag's generation.
    if state is None or state.status is None or not state.status.items:
        return None
    event = state.status.items[0].model_copy()
    if ref.generation is not None:
        event.generation = ref.generation
    return event


def _image_event(
    states: Mapping[str, TagState],
    image_id: str,
    ref: TagReference,
    at: datetime,
    path: str,
    causes: list[FieldCause],
) -> TagEvent | None:
    # ResolveImageID: exactly one image of the history may match.
    matched = {
        event.image: event
        for state in states.values()
        for event in (state.status.items if state.status is not None else [])
        if event.image and tagviews.digest_matches(event.image, image_id)
    }
    if len(matched) != 1:
        if matched:
            names = ", ".join(sorted(matched))
            error = (
                f'Operation cannot be fulfilled on imagestreamimage.{API_GROUP} "{image_id}": '
                f'multiple images match the prefix "{image_id}": {names}'
            )
        else:
            error = f'imagestreamimage.{API_GROUP} "{image_id}" not found'
        causes.append(
            FieldCause.invalid(
                path, ref.from_.name if ref.from_ else "", f"error generating tag event: {error}"
            )
        )
        return None
    (found,) = matched.values()
    return TagEvent(
        created=at,
        docker_image_reference=found.docker_image_reference,
        image=found.image,
        generation=ref.generation or 0,
    )

"""Tagging import results into an ImageStream, one tag at a time.

This module owns what ``spec.import: true`` does to a stored stream, as
OpenShift's ImageStreamImport REST storage does it (``rest.go``'s
``importSuccessful``, ``checkImportFailure`` and ``ensureSpecTag``, with
``AddTagEventToImageStream`` and the stream strategy's generation rules):

- a successful tag gets a :class:`TagEvent` ``{created, dockerImageReference,
  image, generation}`` prepended to ``status.tags[tag].items`` only when the
  image changed; an unchanged image adds nothing;
- ``spec.tags[tag]`` is (re)set to ``from: {kind: DockerImage, name}``, the
  import policy and the reference policy, an existing reference policy being
  kept;
- a failed tag gets one ``ImportSuccess``/``"False"`` condition per distinct
  error (type, status, reason and message); its history is kept, and the
  next success clears the condition.

It works on :class:`TagState`, everything a stream stores for one tag, so
that a stream with thousands of tags is never rewritten whole and concurrent
imports of different tags do not touch each other's data. The stream's own
fields are :class:`StreamMeta`; :func:`assemble` puts both together into the
``ImageStream`` the API returns.

Generations: the caller passes the stream's next generation (its current
generation + 1, which the store hands out when an import begins). Every spec tag this module sets,
every TagEvent and every condition it writes carries that number, which is
what OpenShift's strategy stores after it resolves the zero generations
``rest.go`` leaves on spec tags.

It is pure: no I/O, no clock, no environment. Storing states (their stored
form, conditional writes, retries) is the store adapter's job; running
imports is the importer's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from imagestreams.models import (
    REFERENCE_POLICY_SOURCE,
    STATUS_SUCCESS,
    TAG_EVENT_CONDITION_IMPORT_SUCCESS,
    Image,
    ImageImportStatus,
    ImageLookupPolicy,
    ImageStream,
    ImageStreamSpec,
    ImageStreamStatus,
    NamedTagEventList,
    ObjectMeta,
    ObjectReference,
    Status,
    TagEvent,
    TagEventCondition,
    TagImportPolicy,
    TagReference,
    TagReferencePolicy,
)

__all__ = [
    "DEFAULT_MAX_HISTORY",
    "UNKNOWN_IMPORT_ERROR",
    "StreamMeta",
    "TagMutation",
    "TagState",
    "apply_failure",
    "apply_success",
    "assemble",
    "changed",
    "import_succeeded",
]

DEFAULT_MAX_HISTORY = 100
"""Most TagEvents kept per tag.

OpenShift keeps a tag's history until an administrator prunes it. We cap it,
dropping the oldest entries, so that one tag's item stays far below
DynamoDB's 400 KB item limit (a TagEvent is a few hundred bytes).
"""

UNKNOWN_IMPORT_ERROR = "unknown error prevented import"
"""Condition message OpenShift writes when a failed import has no message."""

_CONDITION_FALSE = "False"
_DOCKER_IMAGE_KIND = "DockerImage"


@dataclass
class TagState:
    """Everything a stream stores for one tag.

    ``spec`` is the ``spec.tags[]`` entry, ``status`` the ``status.tags[]``
    entry (history newest first, and conditions); either may be missing, as
    in OpenShift (a failed repository import leaves a status without spec, a
    tag created by hand has a spec without status).
    """

    name: str
    spec: TagReference | None = None
    status: NamedTagEventList | None = None


TagMutation = Callable[[TagState | None], TagState | None]
"""A change of one tag: its state in (None when it has none), the state to keep out.

Returning None, or a state that is not :func:`changed`, leaves the tag as it is.
"""


@dataclass
class StreamMeta:
    """A stream's own fields: everything but its tags."""

    namespace: str
    name: str
    uid: str
    resource_version: str
    generation: int
    creation_timestamp: datetime
    annotations: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    lookup_policy_local: bool = False
    docker_image_repository: str = ""
    public_docker_image_repository: str = ""


# --- what an import result means ---------------------------------------------


def import_succeeded(result: ImageImportStatus) -> bool:
    """Whether ``result`` is tagged as a success: it has an image and status ``Success``.

    Anything else is recorded as a failure, as ``checkImportFailure`` does.
    """
    return result.image is not None and result.status.status == STATUS_SUCCESS


def _platforms(image: Image) -> list[str] | None:
    # Newer OpenShift lists a manifest list's platforms as "os/architecture".
    if not image.docker_image_manifests:
        return None
    return [f"{entry.os}/{entry.architecture}" for entry in image.docker_image_manifests]


# --- applying results to one tag ---------------------------------------------


def apply_success(
    state: TagState | None,
    *,
    tag: str,
    image: Image,
    from_name: str,
    generation: int,
    now: datetime,
    import_policy: TagImportPolicy | None,
    reference_policy: TagReferencePolicy | None,
    max_history: int = DEFAULT_MAX_HISTORY,
) -> TagState:
    """The tag's state after ``image`` was imported for it.

    When the image (or its reference) differs from the current one, or the
    spec tag is missing or newer than the status, the spec tag is reset
    (``from``, ``generation``, import policy; the reference policy only
    when none is set) and the TagEvent is recorded: prepended for a new
    image, or folded into the current entry when only its reference or
    generation moved (``AddTagEventToImageStream``). Otherwise only the
    import policy is refreshed. Either way the ``ImportSuccess`` condition
    goes; conditions of other types stay. History beyond ``max_history``
    entries is dropped, oldest first.

    The TagEvent's ``dockerImageReference`` is the image's own: the importer
    writes it as OpenShift's ``mostAccuratePullSpec`` does, the source
    repository pinned to the image's digest, tag dropped.

    ``import_policy``/``reference_policy`` ``None`` mean empty policies; an
    empty reference policy type is defaulted to ``Source``, as the API
    server's defaulting does. ``state`` is not modified.
    """
    if max_history < 1:
        raise ValueError("max_history must be at least 1")
    spec, status = _copy(state, tag)
    policy = _import_policy(import_policy)
    event = TagEvent(
        created=now,
        docker_image_reference=image.docker_image_reference,
        image=image.metadata.name,
        generation=generation,
        platforms=_platforms(image),
    )

    if spec is None or _different_event(status, event) or _spec_newer(spec, status):
        spec = _reset_spec(spec, tag, from_name, generation, policy, reference_policy)
        status = _add_event(status, tag, event)
    # OpenShift always resets the import policy, even when nothing else changed.
    spec.import_policy = policy

    if status is not None:
        status.conditions = _other_conditions(status.conditions) or None
        del status.items[max_history:]
    return TagState(name=tag, spec=spec, status=status)


def apply_failure(
    state: TagState | None,
    *,
    tag: str,
    status: Status,
    from_name: str | None,
    generation: int,
    now: datetime,
    import_policy: TagImportPolicy | None,
    reference_policy: TagReferencePolicy | None,
) -> TagState:
    """The tag's state after its import failed with ``status``.

    An ``ImportSuccess`` condition ``"False"`` with the failure's reason and
    message (``"unknown error prevented import"`` when it has none) replaces
    the tag's previous one, unless that already says the same: then nothing
    changes, so its ``lastTransitionTime`` and ``generation`` tell when the
    error first appeared. A new error also moves an existing spec tag's
    generation to ``generation``, as OpenShift does. History and conditions
    of other types are kept.

    A missing spec tag is created from ``from_name`` and the policies (an
    existing one is left as it is); ``from_name=None`` creates none, which
    is what OpenShift does for the failed tags of a repository import.
    ``state`` is not modified.
    """
    spec, current = _copy(state, tag)
    condition = TagEventCondition(
        type=TAG_EVENT_CONDITION_IMPORT_SUCCESS,
        status=_CONDITION_FALSE,
        last_transition_time=now,
        reason=status.reason,
        message=status.message or UNKNOWN_IMPORT_ERROR,
        generation=generation,
    )

    if not _has_condition(current, condition):
        if current is None:
            current = NamedTagEventList(tag=tag)
        current.conditions = [condition, *_other_conditions(current.conditions)]
        if spec is not None:
            spec.generation = generation
    if spec is None and from_name is not None:
        spec = _reset_spec(
            None, tag, from_name, generation, _import_policy(import_policy), reference_policy
        )
    return TagState(name=tag, spec=spec, status=current)


def changed(before: TagState | None, after: TagState) -> bool:
    """Whether ``after`` differs from ``before``, i.e. whether it must be written.

    States compare by their OpenShift JSON, which is what a reader sees.
    """
    return before is None or _shown(before) != _shown(after)


def _shown(state: TagState) -> tuple[str, dict[str, Any] | None, dict[str, Any] | None]:
    spec = state.spec.to_json_dict() if state.spec is not None else None
    status = state.status.to_json_dict() if state.status is not None else None
    return state.name, spec, status


def _copy(state: TagState | None, tag: str) -> tuple[TagReference | None, NamedTagEventList | None]:
    """``state``'s spec and status, copied as deep as the functions here change them.

    They set fields of the spec and of the status, insert into and trim the
    history, and change its newest entry in place (``_add_event``); anything
    deeper is replaced, never changed, so it may be shared with ``state``.
    """
    if state is None:
        return None, None
    if state.name != tag:
        raise ValueError(f"state of tag {state.name!r} given for tag {tag!r}")
    spec = state.spec.model_copy() if state.spec is not None else None
    status = None
    if state.status is not None:
        items = state.status.items
        history = [items[0].model_copy(), *items[1:]] if items else []
        status = state.status.model_copy(update={"items": history})
    return spec, status


def _import_policy(policy: TagImportPolicy | None) -> TagImportPolicy:
    return policy.model_copy() if policy is not None else TagImportPolicy()


def _reset_spec(
    spec: TagReference | None,
    tag: str,
    from_name: str,
    generation: int,
    import_policy: TagImportPolicy,
    reference_policy: TagReferencePolicy | None,
) -> TagReference:
    # ensureSpecTag with reset: annotations and the reference flag survive.
    result = spec if spec is not None else TagReference(name=tag)
    result.from_ = ObjectReference(kind=_DOCKER_IMAGE_KIND, name=from_name)
    result.generation = generation
    result.import_policy = import_policy
    # Importing never changes a reference policy the tag already has.
    if not result.reference_policy.type:
        result.reference_policy = (
            reference_policy.model_copy()
            if reference_policy is not None and reference_policy.type
            else TagReferencePolicy(type=REFERENCE_POLICY_SOURCE)
        )
    return result


def _different_event(status: NamedTagEventList | None, event: TagEvent) -> bool:
    # differentTagEvent: generation is not compared.
    if status is None or not status.items:
        return True
    current = status.items[0]
    return not (
        current.docker_image_reference == event.docker_image_reference
        and current.image == event.image
    )


def _spec_newer(spec: TagReference, status: NamedTagEventList | None) -> bool:
    # differentTagGeneration: the spec asks for a newer import than the status shows.
    if spec.generation is None or status is None or not status.items:
        return True
    return spec.generation > status.items[0].generation


def _add_event(status: NamedTagEventList | None, tag: str, event: TagEvent) -> NamedTagEventList:
    # AddTagEventToImageStream: a new image is prepended; the same image under
    # another reference (or vice versa) is folded into the current entry.
    if status is None:
        return NamedTagEventList(tag=tag, items=[event])
    if not status.items:
        status.items = [event]
        return status
    current = status.items[0]
    same_reference = current.docker_image_reference == event.docker_image_reference
    same_image = current.image == event.image
    if not same_reference and not same_image:
        status.items.insert(0, event)
        return status
    if same_reference and same_image and current.generation == event.generation:
        return status
    current.image = event.image
    current.docker_image_reference = event.docker_image_reference
    current.generation = event.generation
    if event.platforms is not None:
        current.platforms = event.platforms
    return status


def _is_import_condition(condition: TagEventCondition) -> bool:
    return condition.type == TAG_EVENT_CONDITION_IMPORT_SUCCESS


def _other_conditions(conditions: list[TagEventCondition] | None) -> list[TagEventCondition]:
    return [c for c in conditions or [] if not _is_import_condition(c)]


def _has_condition(status: NamedTagEventList | None, condition: TagEventCondition) -> bool:
    # rest.go's hasTagCondition: same type, status, reason and message;
    # generation and time are not compared.
    if status is None:
        return False
    return any(
        existing.type == condition.type
        and existing.status == condition.status
        and existing.reason == condition.reason
        and existing.message == condition.message
        for existing in status.conditions or []
    )


# --- the stream ---------------------------------------------------------------


def assemble(meta: StreamMeta, tags: Iterable[TagState]) -> ImageStream:
    """The ``ImageStream`` made of ``meta`` and the tags' states.

    Spec and status tags are sorted by name, as OpenShift returns them;
    status tags with neither history nor conditions are left out, as
    OpenShift drops them. ``status.dockerImageRepository`` is only what
    ``meta`` says (there is no integrated registry to derive it from).

    The stream takes the states' spec and status tags as they are, not
    copies: give it states nobody else changes or keeps using (as read from
    the store), else copies.
    """
    states = list(tags)
    spec_tags = sorted(
        (s.spec for s in states if s.spec is not None),
        key=lambda ref: ref.name,
    )
    status_tags = sorted(
        (
            s.status
            for s in states
            if s.status is not None and (s.status.items or s.status.conditions)
        ),
        key=lambda events: events.tag,
    )
    return ImageStream(
        metadata=ObjectMeta(
            name=meta.name,
            namespace=meta.namespace,
            uid=meta.uid,
            resource_version=meta.resource_version,
            generation=meta.generation,
            creation_timestamp=meta.creation_timestamp,
            annotations=dict(meta.annotations) or None,
            labels=dict(meta.labels) or None,
        ),
        spec=ImageStreamSpec(
            lookup_policy=ImageLookupPolicy(local=meta.lookup_policy_local),
            tags=spec_tags or None,
        ),
        status=ImageStreamStatus(
            docker_image_repository=meta.docker_image_repository,
            public_docker_image_repository=meta.public_docker_image_repository,
            tags=status_tags or None,
        ),
    )

"""The ``ImageStream`` object and the tag policies shared with imports.

Owns ``ImageStream``, its spec (``TagReference``, ``ImageLookupPolicy``) and
status (``NamedTagEventList``, ``TagEvent``, ``TagEventCondition``), and the
``TagImportPolicy``/``TagReferencePolicy`` an import spec also carries, as
openshift/api ``image/v1`` defines them. How imports change a stream is
``imagestreams.streams``'s job.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from imagestreams.models.base import (
    NIL_SLICE,
    OMIT_EMPTY,
    OMIT_NIL,
    OpenShiftModel,
    OptionalTime,
    Time,
)
from imagestreams.models.meta import ObjectMeta, ObjectReference

IMPORT_MODE_LEGACY = "Legacy"
IMPORT_MODE_PRESERVE_ORIGINAL = "PreserveOriginal"
IMPORT_MODES: frozenset[str] = frozenset({IMPORT_MODE_LEGACY, IMPORT_MODE_PRESERVE_ORIGINAL})

REFERENCE_POLICY_SOURCE = "Source"
REFERENCE_POLICY_LOCAL = "Local"

TAG_EVENT_CONDITION_IMPORT_SUCCESS = "ImportSuccess"

#: Tag annotations that steer which child of a manifest list a Legacy import picks.
PREFER_ARCH_ANNOTATION = "importer.image.openshift.io/prefer-arch"
PREFER_OS_ANNOTATION = "importer.image.openshift.io/prefer-os"
#: Stream annotation holding the time of the last import.
DOCKER_REPOSITORY_CHECK_ANNOTATION = "openshift.io/image.dockerRepositoryCheck"


class TagImportPolicy(OpenShiftModel):
    """How a tag is imported (``insecure``, ``scheduled``, ``importMode``)."""

    insecure: Annotated[bool, OMIT_EMPTY] = False
    scheduled: Annotated[bool, OMIT_EMPTY] = False
    import_mode: Annotated[str, OMIT_EMPTY] = ""


class TagReferencePolicy(OpenShiftModel):
    """How pull specs of a tag are generated (``Source`` or ``Local``)."""

    type: str = ""


class ImageLookupPolicy(OpenShiftModel):
    """Whether the stream resolves short image references in its namespace."""

    local: bool = False


class TagReference(OpenShiftModel):
    """A spec tag. ``annotations`` and ``generation`` are written as ``null`` when unset."""

    name: str = ""
    annotations: dict[str, str] | None = None
    from_: Annotated[ObjectReference | None, OMIT_NIL] = Field(
        default=None, validation_alias="from", serialization_alias="from"
    )
    reference: Annotated[bool, OMIT_EMPTY] = False
    generation: int | None = None
    import_policy: TagImportPolicy = Field(default_factory=TagImportPolicy)
    reference_policy: TagReferencePolicy = Field(default_factory=TagReferencePolicy)


class ImageStreamSpec(OpenShiftModel):
    """The desired state of a stream."""

    lookup_policy: ImageLookupPolicy = Field(default_factory=ImageLookupPolicy)
    docker_image_repository: Annotated[str, OMIT_EMPTY] = ""
    tags: Annotated[list[TagReference] | None, OMIT_EMPTY] = None


class TagEvent(OpenShiftModel):
    """One entry of a tag's history; the first entry is the current image."""

    created: Time
    docker_image_reference: str = ""
    image: str = ""
    generation: int = 0
    platforms: Annotated[list[str] | None, OMIT_EMPTY] = None


class TagEventCondition(OpenShiftModel):
    """A condition of a status tag (``ImportSuccess`` ``False`` after a failed import)."""

    type: str = ""
    status: str = ""
    last_transition_time: OptionalTime = None
    reason: Annotated[str, OMIT_EMPTY] = ""
    message: Annotated[str, OMIT_EMPTY] = ""
    generation: int = 0


class NamedTagEventList(OpenShiftModel):
    """A status tag: its history (``items``) and conditions.

    ``items`` has no ``omitempty`` and OpenShift's conversion leaves it nil
    when there is no history: a tag with only conditions says ``null``.
    """

    tag: str = ""
    items: Annotated[list[TagEvent], NIL_SLICE] = Field(default_factory=list)
    conditions: Annotated[list[TagEventCondition] | None, OMIT_EMPTY] = None


class ImageStreamStatus(OpenShiftModel):
    """The observed state of a stream."""

    docker_image_repository: str = ""
    public_docker_image_repository: Annotated[str, OMIT_EMPTY] = ""
    tags: Annotated[list[NamedTagEventList] | None, OMIT_EMPTY] = None


class ImageStream(OpenShiftModel):
    """A stream of tagged images (``status.import`` of an ``ImageStreamImport``)."""

    kind: Annotated[str, OMIT_EMPTY] = "ImageStream"
    api_version: Annotated[str, OMIT_EMPTY] = "image.openshift.io/v1"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ImageStreamSpec = Field(default_factory=ImageStreamSpec)
    status: ImageStreamStatus = Field(default_factory=ImageStreamStatus)

"""``ImageStreamTag`` and ``ImageStreamImage``: a stream's image seen by tag or by digest.

Owns the two virtual objects of openshift/api ``image/v1`` (and the tag
list), field for field: neither is stored; both are made from a stream and
an image (``imagestreams.tagviews`` makes them).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from imagestreams.models.base import OMIT_EMPTY, OpenShiftModel
from imagestreams.models.image import IMAGE_API_VERSION, Image
from imagestreams.models.imagestream import ImageLookupPolicy, TagEventCondition, TagReference
from imagestreams.models.meta import ListMeta, ObjectMeta


class ImageStreamTag(OpenShiftModel):
    """The current image of ``<stream>:<tag>``, with the tag's spec and conditions.

    ``tag`` is written as ``null`` when the tag has no spec (only a history),
    as OpenShift writes it.
    """

    kind: Annotated[str, OMIT_EMPTY] = "ImageStreamTag"
    api_version: Annotated[str, OMIT_EMPTY] = IMAGE_API_VERSION
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    tag: TagReference | None = None
    generation: int = 0
    lookup_policy: ImageLookupPolicy = Field(default_factory=ImageLookupPolicy)
    conditions: Annotated[list[TagEventCondition] | None, OMIT_EMPTY] = None
    image: Image = Field(default_factory=Image)


class ImageStreamTagList(OpenShiftModel):
    """A list of ``ImageStreamTag`` objects."""

    kind: Annotated[str, OMIT_EMPTY] = "ImageStreamTagList"
    api_version: Annotated[str, OMIT_EMPTY] = IMAGE_API_VERSION
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[ImageStreamTag] = Field(default_factory=list)


class ImageStreamImage(OpenShiftModel):
    """An image of a stream's history, named ``<stream>@<digest>``."""

    kind: Annotated[str, OMIT_EMPTY] = "ImageStreamImage"
    api_version: Annotated[str, OMIT_EMPTY] = IMAGE_API_VERSION
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    image: Image = Field(default_factory=Image)

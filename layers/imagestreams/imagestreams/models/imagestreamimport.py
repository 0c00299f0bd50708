"""The ``ImageStreamImport`` request and response documents.

Owns ``ImageStreamImport`` with its spec (``ImageImportSpec``,
``RepositoryImportSpec``) and status (``ImageImportStatus``,
``RepositoryImportStatus``), as openshift/api ``image/v1`` defines them.
Parsing is lenient in the Kubernetes way (unknown fields ignored, missing
fields at their zero values); validating and defaulting a request is the
caller's job, so that errors can be reported as a 422 ``Status``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from imagestreams.models.base import OMIT_EMPTY, OMIT_NIL, OpenShiftModel
from imagestreams.models.image import IMAGE_API_VERSION, Image
from imagestreams.models.imagestream import ImageStream, TagImportPolicy, TagReferencePolicy
from imagestreams.models.meta import LocalObjectReference, ObjectMeta, ObjectReference, Status


class ImageImportSpec(OpenShiftModel):
    """A request to import one image (``spec.images[]``)."""

    from_: ObjectReference = Field(
        default_factory=ObjectReference, validation_alias="from", serialization_alias="from"
    )
    to: Annotated[LocalObjectReference | None, OMIT_NIL] = None
    import_policy: TagImportPolicy = Field(default_factory=TagImportPolicy)
    reference_policy: TagReferencePolicy = Field(default_factory=TagReferencePolicy)
    include_manifest: Annotated[bool, OMIT_EMPTY] = False


class RepositoryImportSpec(OpenShiftModel):
    """A request to import every tag of a repository (``spec.repository``)."""

    from_: ObjectReference = Field(
        default_factory=ObjectReference, validation_alias="from", serialization_alias="from"
    )
    import_policy: TagImportPolicy = Field(default_factory=TagImportPolicy)
    reference_policy: TagReferencePolicy = Field(default_factory=TagReferencePolicy)
    include_manifest: Annotated[bool, OMIT_EMPTY] = False


class ImageStreamImportSpec(OpenShiftModel):
    """What to import, and whether to tag the results into the stream (``import``)."""

    import_: bool = Field(default=False, validation_alias="import", serialization_alias="import")
    repository: Annotated[RepositoryImportSpec | None, OMIT_NIL] = None
    images: Annotated[list[ImageImportSpec] | None, OMIT_EMPTY] = None


class ImageImportStatus(OpenShiftModel):
    """The result of importing one image; ``status`` is always written."""

    status: Status = Field(default_factory=Status)
    image: Annotated[Image | None, OMIT_NIL] = None
    tag: Annotated[str, OMIT_EMPTY] = ""
    manifests: Annotated[list[Image] | None, OMIT_EMPTY] = None


class RepositoryImportStatus(OpenShiftModel):
    """The result of a repository import."""

    status: Status = Field(default_factory=Status)
    images: Annotated[list[ImageImportStatus] | None, OMIT_EMPTY] = None
    additional_tags: Annotated[list[str] | None, OMIT_EMPTY] = None


class ImageStreamImportStatus(OpenShiftModel):
    """The results of an import; ``import`` is the updated stream when ``spec.import``."""

    import_: Annotated[ImageStream | None, OMIT_NIL] = Field(
        default=None, validation_alias="import", serialization_alias="import"
    )
    repository: Annotated[RepositoryImportStatus | None, OMIT_NIL] = None
    images: Annotated[list[ImageImportStatus] | None, OMIT_EMPTY] = None


class ImageStreamImport(OpenShiftModel):
    """The ``ImageStreamImport`` document: request in, the same with ``status`` out."""

    kind: Annotated[str, OMIT_EMPTY] = "ImageStreamImport"
    api_version: Annotated[str, OMIT_EMPTY] = IMAGE_API_VERSION
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ImageStreamImportSpec = Field(default_factory=ImageStreamImportSpec)
    status: ImageStreamImportStatus = Field(default_factory=ImageStreamImportStatus)

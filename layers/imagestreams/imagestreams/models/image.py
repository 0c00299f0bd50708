"""The ``Image`` object and what it contains.

Owns ``Image``, ``ImageLayer``, ``ImageManifest``, ``ImageSignature`` (with
its conditions and issuer/subject) from openshift/api ``image/v1``, and the
``DockerImage``/``DockerConfig`` metadata (openshift/api ``image/docker10``,
written with ``kind: DockerImage, apiVersion: image.openshift.io/1.0`` and
capitalised Go field names). Building an ``Image`` from registry content is
``imagestreams.imports.images``'s job, not this module's.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, field_validator
from pydantic.alias_generators import to_pascal

from imagestreams.errors import API_GROUP
from imagestreams.models.base import (
    OMIT_EMPTY,
    OMIT_NIL,
    Base64Bytes,
    OpenShiftModel,
    OptionalTime,
)
from imagestreams.models.meta import ObjectMeta

IMAGE_API_VERSION = f"{API_GROUP}/v1"
DOCKER_IMAGE_API_VERSION = "image.openshift.io/1.0"
DOCKER_IMAGE_METADATA_VERSION = "1.0"

#: Set on every single-image ``Image``: its layers are listed base first.
DOCKER_LAYERS_ORDER_ANNOTATION = "image.openshift.io/dockerLayersOrder"
DOCKER_LAYERS_ORDER_ASCENDING = "ascending"


class DockerConfig(OpenShiftModel):
    """docker10 ``DockerConfig``: the container configuration of an image.

    Keys are the Docker config keys (``Env``, ``Cmd``, ``ExposedPorts``...);
    keys OpenShift does not model (``Healthcheck``, ``StopSignal``...) are
    dropped, as OpenShift drops them.
    """

    model_config = ConfigDict(alias_generator=to_pascal)

    hostname: Annotated[str, OMIT_EMPTY] = ""
    domainname: Annotated[str, OMIT_EMPTY] = ""
    user: Annotated[str, OMIT_EMPTY] = ""
    memory: Annotated[int, OMIT_EMPTY] = 0
    memory_swap: Annotated[int, OMIT_EMPTY] = 0
    cpu_shares: Annotated[int, OMIT_EMPTY] = 0
    cpuset: Annotated[str, OMIT_EMPTY] = ""
    attach_stdin: Annotated[bool, OMIT_EMPTY] = False
    attach_stdout: Annotated[bool, OMIT_EMPTY] = False
    attach_stderr: Annotated[bool, OMIT_EMPTY] = False
    port_specs: Annotated[list[str] | None, OMIT_EMPTY] = None
    exposed_ports: Annotated[dict[str, dict[str, Any]] | None, OMIT_EMPTY] = None
    tty: Annotated[bool, OMIT_EMPTY] = False
    open_stdin: Annotated[bool, OMIT_EMPTY] = False
    stdin_once: Annotated[bool, OMIT_EMPTY] = False
    env: Annotated[list[str] | None, OMIT_EMPTY] = None
    cmd: Annotated[list[str] | None, OMIT_EMPTY] = None
    dns: Annotated[list[str] | None, OMIT_EMPTY] = None
    image: Annotated[str, OMIT_EMPTY] = ""
    volumes: Annotated[dict[str, dict[str, Any]] | None, OMIT_EMPTY] = None
    volumes_from: Annotated[str, OMIT_EMPTY] = ""
    working_dir: Annotated[str, OMIT_EMPTY] = ""
    entrypoint: Annotated[list[str] | None, OMIT_EMPTY] = None
    network_disabled: Annotated[bool, OMIT_EMPTY] = False
    security_opts: Annotated[list[str] | None, OMIT_EMPTY] = None
    on_build: Annotated[list[str] | None, OMIT_EMPTY] = None
    labels: Annotated[dict[str, str] | None, OMIT_EMPTY] = None

    @field_validator("exposed_ports", "volumes", mode="before")
    @classmethod
    def _set_of_keys(cls, value: Any) -> Any:
        # Go's map[string]struct{}: only the keys carry meaning.
        if isinstance(value, dict):
            return {key: {} for key in value}
        return value

    @field_validator("labels", mode="before")
    @classmethod
    def _null_label_is_empty(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: "" if item is None else item for key, item in value.items()}
        return value


class DockerImage(OpenShiftModel):
    """docker10 ``DockerImage``: the metadata of an image (``dockerImageMetadata``).

    ``Size`` is ``omitempty`` there, so a manifest list's (0) is left out;
    ``Created`` and ``ContainerConfig`` are structs, which Go always writes.
    """

    model_config = ConfigDict(alias_generator=to_pascal)

    kind: Annotated[str, OMIT_EMPTY] = Field(
        default="DockerImage", validation_alias="kind", serialization_alias="kind"
    )
    api_version: Annotated[str, OMIT_EMPTY] = Field(
        default=DOCKER_IMAGE_API_VERSION,
        validation_alias="apiVersion",
        serialization_alias="apiVersion",
    )
    id: str = ""
    parent: Annotated[str, OMIT_EMPTY] = ""
    comment: Annotated[str, OMIT_EMPTY] = ""
    created: OptionalTime = None
    container: Annotated[str, OMIT_EMPTY] = ""
    container_config: DockerConfig = Field(default_factory=DockerConfig)
    docker_version: Annotated[str, OMIT_EMPTY] = ""
    author: Annotated[str, OMIT_EMPTY] = ""
    config: Annotated[DockerConfig | None, OMIT_NIL] = None
    architecture: Annotated[str, OMIT_EMPTY] = ""
    size: Annotated[int, OMIT_EMPTY] = 0


class ImageLayer(OpenShiftModel):
    """One layer of an image: its digest, size in bytes and media type."""

    name: str = ""
    size: int = 0
    media_type: str = ""


class ImageManifest(OpenShiftModel):
    """One entry of a manifest list or index (``dockerImageManifests[]``)."""

    digest: str = ""
    media_type: str = ""
    manifest_size: int = 0
    architecture: str = ""
    os: str = ""
    variant: Annotated[str, OMIT_EMPTY] = ""


class SignatureCondition(OpenShiftModel):
    """A condition of an image signature."""

    type: str = ""
    status: str = ""
    last_probe_time: OptionalTime = None
    last_transition_time: OptionalTime = None
    reason: Annotated[str, OMIT_EMPTY] = ""
    message: Annotated[str, OMIT_EMPTY] = ""


class SignatureIssuer(OpenShiftModel):
    """Who issued the signing certificate or key."""

    organization: Annotated[str, OMIT_EMPTY] = ""
    common_name: Annotated[str, OMIT_EMPTY] = ""


class SignatureSubject(OpenShiftModel):
    """Who created the signature."""

    organization: Annotated[str, OMIT_EMPTY] = ""
    common_name: Annotated[str, OMIT_EMPTY] = ""
    public_key_id: str = Field(
        default="", validation_alias="publicKeyID", serialization_alias="publicKeyID"
    )


class ImageSignature(OpenShiftModel):
    """An image signature (the service stores none at import time, as OpenShift)."""

    kind: Annotated[str, OMIT_EMPTY] = ""
    api_version: Annotated[str, OMIT_EMPTY] = ""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    type: str = ""
    content: Base64Bytes = b""
    conditions: Annotated[list[SignatureCondition] | None, OMIT_EMPTY] = None
    image_identity: Annotated[str, OMIT_EMPTY] = ""
    signed_claims: Annotated[dict[str, str] | None, OMIT_EMPTY] = None
    created: Annotated[OptionalTime, OMIT_NIL] = None
    issued_by: Annotated[SignatureIssuer | None, OMIT_NIL] = None
    issued_to: Annotated[SignatureSubject | None, OMIT_NIL] = None


class Image(OpenShiftModel):
    """An immutable container image, named by its manifest digest."""

    kind: Annotated[str, OMIT_EMPTY] = "Image"
    api_version: Annotated[str, OMIT_EMPTY] = IMAGE_API_VERSION
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    docker_image_reference: Annotated[str, OMIT_EMPTY] = ""
    docker_image_metadata: Annotated[DockerImage | None, OMIT_NIL] = None
    docker_image_metadata_version: Annotated[str, OMIT_EMPTY] = ""
    docker_image_manifest: Annotated[str, OMIT_EMPTY] = ""
    docker_image_layers: Annotated[list[ImageLayer] | None, OMIT_EMPTY] = None
    signatures: Annotated[list[ImageSignature] | None, OMIT_EMPTY] = None
    docker_image_signatures: Annotated[list[Base64Bytes] | None, OMIT_EMPTY] = None
    docker_image_manifest_media_type: Annotated[str, OMIT_EMPTY] = ""
    docker_image_config: Annotated[str, OMIT_EMPTY] = ""
    docker_image_manifests: Annotated[list[ImageManifest] | None, OMIT_EMPTY] = None

"""Manifest and image config to ``Image`` conversion (pure).

This module owns how registry content becomes an OpenShift ``Image``, as
OpenShift's importer builds it:

- Docker schema2 / OCI manifests: ``metadata.name`` is the manifest digest;
  ``dockerImageMetadata`` comes from the config blob (``Id`` is the config
  digest, ``Size`` is the config length plus the sizes of the distinct
  layers); layers are listed base first, as in the manifest.
- Docker schema1: metadata from ``history[0].v1Compatibility``; layers
  reversed to base first; layer sizes from each history entry (0 when
  absent); ``Size`` is the sum over distinct layers; there is no config.
- Manifest lists and OCI indexes: one ``Image`` describing the list
  (``dockerImageManifests``, no layers, ``Size`` 0 and so not written; the
  importer dates it, as ``manifestListToImage`` does) and, for a Legacy
  import, the rule that picks one child.

It also reads what the importer must fetch next (the config descriptor, the
children of a list). It does no I/O and sets nothing that depends on where
the image came from (``dockerImageReference`` is the importer's). Content
that cannot be interpreted raises ``UnsupportedContentError``; a config or
manifest that does not match its digest raises ``IntegrityError``.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from imagestreams import jsondoc, reference
from imagestreams.errors import IntegrityError, UnsupportedContentError
from imagestreams.models import (
    DOCKER_IMAGE_METADATA_VERSION,
    DOCKER_LAYERS_ORDER_ANNOTATION,
    DOCKER_LAYERS_ORDER_ASCENDING,
    DockerConfig,
    DockerImage,
    Image,
    ImageLayer,
    ImageManifest,
    ObjectMeta,
    OptionalTime,
)
from imagestreams.registry import media


def _check_digest(value: str) -> reference.Digest:
    # Digests that reach URLs must be exactly algorithm:hex, nothing else.
    if not reference.is_digest(value):
        raise ValueError(f"invalid digest {value!r}")
    return reference.Digest.parse(value)


_Digest = Annotated[str, AfterValidator(_check_digest)]
_Size = Annotated[int, Field(ge=0, strict=True)]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _null_means_absent(cls, data: Any) -> Any:
        # As Go reads it: a null member is the same as a missing one.
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


class _Descriptor(_Doc):
    media_type: str = Field(default="", alias="mediaType")
    digest: _Digest
    size: _Size


class _Platform(_Doc):
    architecture: str = ""
    os: str = ""
    variant: str = ""


class _IndexEntry(_Descriptor):
    platform: _Platform | None = None


class _IndexDoc(_Doc):
    manifests: list[_IndexEntry]


class _ImageManifestDoc(_Doc):
    config: _Descriptor
    layers: list[_Descriptor] = Field(default_factory=list)


class _FSLayer(_Doc):
    blob_sum: _Digest = Field(alias="blobSum")


class _HistoryEntry(_Doc):
    v1_compatibility: str = Field(alias="v1Compatibility")


class _Schema1Doc(_Doc):
    schema_version: int = Field(alias="schemaVersion")
    fs_layers: list[_FSLayer] = Field(alias="fsLayers")
    history: list[_HistoryEntry]


class _ImageConfigDoc(_Doc):
    """The image config blob (and schema1's v1Compatibility), as OpenShift reads it."""

    id: str = ""
    parent: str = ""
    comment: str = ""
    created: OptionalTime = None
    container: str = ""
    container_config: DockerConfig | None = None
    docker_version: str = ""
    author: str = ""
    config: DockerConfig | None = None
    architecture: str = ""


def _parse(model: type[_Doc], raw: bytes | str, what: str) -> Any:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(document)'}: {err['msg']}"
            for err in exc.errors()[:3]
        )
        raise UnsupportedContentError(detail=f"malformed {what}: {problems}") from exc


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsupportedContentError(detail=f"{what} is not UTF-8") from exc


def _hash(data: bytes, algorithm: str) -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def _require_kind(media_type: str, *kinds: frozenset[str]) -> None:
    if not any(media_type in kind for kind in kinds):
        raise UnsupportedContentError(detail=f"unsupported manifest media type {media_type!r}")


# --- what to fetch next --------------------------------------------------------


def config_descriptor(raw: bytes, media_type: str) -> tuple[reference.Digest, int] | None:
    """The config blob (digest, size) of a schema2/OCI manifest; None for schema1 and lists."""
    if media.is_schema1(media_type) or media.is_list(media_type):
        return None
    _require_kind(media_type, media.IMAGE_TYPES)
    doc: _ImageManifestDoc = _parse(_ImageManifestDoc, raw, "image manifest")
    return reference.Digest.parse(doc.config.digest), doc.config.size


def children(raw: bytes, media_type: str) -> list[ImageManifest]:
    """The entries of a manifest list or OCI index, in document order.

    Entries without a platform are kept with empty ``architecture``/``os``,
    as OpenShift keeps them.
    """
    _require_kind(media_type, media.LIST_TYPES)
    doc: _IndexDoc = _parse(_IndexDoc, raw, "manifest list")
    result = []
    for entry in doc.manifests:
        platform = entry.platform or _Platform()
        result.append(
            ImageManifest(
                digest=entry.digest,
                media_type=entry.media_type,
                manifest_size=entry.size,
                architecture=platform.architecture,
                os=platform.os,
                variant=platform.variant,
            )
        )
    return result


def _parse_platform(platform: str) -> tuple[str, str, str]:
    parts = platform.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"invalid platform {platform!r}: expected os/arch[/variant]")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else ""


def _match(
    candidates: list[ImageManifest], os: str, arch: str, variant: str
) -> ImageManifest | None:
    same = [c for c in candidates if c.os == os and c.architecture == arch]
    if not same:
        return None
    if variant:
        for wanted in (variant, ""):
            for child in same:
                if child.variant == wanted:
                    return child
    return same[0]


def select_child(
    children: list[ImageManifest],
    prefer_arch: str | None,
    prefer_os: str | None,
    default_platform: str = "linux/amd64",
) -> ImageManifest:
    """Pick the child a Legacy import turns into the tag's image.

    In order: the tag's prefer-arch/prefer-os (a missing half is taken from
    ``default_platform``); ``default_platform`` (``os/arch[/variant]``);
    linux/amd64; the first entry. OpenShift compares os and architecture
    only; when a variant is wanted, an exact variant wins, then an entry
    without a variant, then any entry of that os/architecture.
    """
    if not children:
        raise UnsupportedContentError(detail="no manifests in manifest list")
    default_os, default_arch, default_variant = _parse_platform(default_platform)

    targets: list[tuple[str, str, str]] = []
    if prefer_arch or prefer_os:
        arch = prefer_arch or default_arch
        variant = default_variant if arch == default_arch else ""
        targets.append((prefer_os or default_os, arch, variant))
    targets.append((default_os, default_arch, default_variant))
    targets.append(("linux", "amd64", ""))

    for os, arch, variant in targets:
        found = _match(children, os, arch, variant)
        if found is not None:
            return found
    return children[0]


# --- conversion ---------------------------------------------------------------


def image_from_manifest(
    *,
    digest: str,
    raw: bytes,
    media_type: str,
    config: bytes | None,
    include_manifest: bool,
) -> Image:
    """Build the ``Image`` for a manifest (and, for schema2/OCI, its config blob).

    ``digest`` must be the manifest's digest; it is checked against ``raw``
    (``IntegrityError`` on mismatch), as is ``config`` against the
    manifest's config descriptor. With ``include_manifest`` the raw manifest
    and config are returned as ``dockerImageManifest``/``dockerImageConfig``.
    """
    algorithm = digest.partition(":")[0]
    if algorithm not in ("sha256", "sha384", "sha512"):
        raise UnsupportedContentError(detail=f"unsupported digest {digest!r}")
    actual = media.digest_of(raw, media_type, algorithm)
    if actual != digest:
        raise IntegrityError(
            detail=(
                f"content integrity error: the manifest retrieved (media type: {media_type}) "
                f"with digest {digest} does not match the digest calculated from the "
                f"content {actual}"
            )
        )

    if media.is_list(media_type):
        image = _list_image(digest, raw, media_type)
    elif media.is_schema1(media_type):
        image = _schema1_image(digest, raw, media_type)
    else:
        _require_kind(media_type, media.IMAGE_TYPES)
        image = _schema2_image(digest, raw, media_type, config)
        if include_manifest and config is not None:
            image.docker_image_config = _text(config, "image config")
    if include_manifest:
        image.docker_image_manifest = _text(raw, "manifest")
    return image


def _list_image(digest: str, raw: bytes, media_type: str) -> Image:
    return Image(
        metadata=ObjectMeta(name=digest),
        docker_image_metadata=DockerImage(id=digest, size=0),
        docker_image_metadata_version=DOCKER_IMAGE_METADATA_VERSION,
        docker_image_manifest_media_type=media_type,
        docker_image_manifests=children(raw, media_type),
    )


def _single_image(
    digest: str, media_type: str, metadata: DockerImage, layers: list[ImageLayer]
) -> Image:
    return Image(
        metadata=ObjectMeta(
            name=digest,
            annotations={DOCKER_LAYERS_ORDER_ANNOTATION: DOCKER_LAYERS_ORDER_ASCENDING},
        ),
        docker_image_metadata=metadata,
        docker_image_metadata_version=DOCKER_IMAGE_METADATA_VERSION,
        docker_image_layers=layers,
        docker_image_manifest_media_type=media_type,
    )


def _docker_image(doc: _ImageConfigDoc, image_id: str, size: int) -> DockerImage:
    return DockerImage(
        id=image_id,
        parent=doc.parent,
        comment=doc.comment,
        created=doc.created,
        container=doc.container,
        container_config=doc.container_config or DockerConfig(),
        docker_version=doc.docker_version,
        author=doc.author,
        config=doc.config,
        architecture=doc.architecture,
        size=size,
    )


def _unique_size(layers: list[ImageLayer], seen: set[str]) -> int:
    total = 0
    for layer in layers:
        if layer.name not in seen:
            seen.add(layer.name)
            total += layer.size
    return total


def _schema2_image(digest: str, raw: bytes, media_type: str, config: bytes | None) -> Image:
    manifest: _ImageManifestDoc = _parse(_ImageManifestDoc, raw, "image manifest")
    if config is None:
        raise UnsupportedContentError(detail=f"the image config of {digest} is required")
    algorithm = manifest.config.digest.partition(":")[0]
    actual = _hash(config, algorithm)
    if actual != manifest.config.digest:
        raise IntegrityError(
            detail=(
                f"content integrity error: the blob retrieved with digest "
                f"{manifest.config.digest} does not match the digest calculated from the "
                f"content {actual}"
            )
        )
    doc: _ImageConfigDoc = _parse(_ImageConfigDoc, config, "image config")

    layers = [
        ImageLayer(name=layer.digest, size=layer.size, media_type=layer.media_type)
        for layer in manifest.layers
    ]
    size = len(config) + _unique_size(layers, {manifest.config.digest})
    metadata = _docker_image(doc, manifest.config.digest, size)
    return _single_image(digest, media_type, metadata, layers)


def _v1_size(v1_compatibility: str) -> int:
    # OpenShift reads each entry's size leniently: anything unreadable is 0.
    try:
        entry = jsondoc.loads(v1_compatibility)
    except ValueError:
        return 0
    if not isinstance(entry, dict):
        return 0
    value = entry.get("size")
    if value is None:
        # Go's decoder matches keys case-insensitively; Docker writes "Size".
        value = next((v for k, v in entry.items() if k.lower() == "size"), None)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return 0


def _schema1_image(digest: str, raw: bytes, media_type: str) -> Image:
    manifest: _Schema1Doc = _parse(_Schema1Doc, raw, "schema1 manifest")
    if manifest.schema_version != 1:
        raise UnsupportedContentError(
            detail=f"schema1 manifest has schemaVersion {manifest.schema_version}"
        )
    if len(manifest.history) != len(manifest.fs_layers):
        raise UnsupportedContentError(
            detail=(
                f"mismatched history and fslayer cardinality "
                f"({len(manifest.history)} != {len(manifest.fs_layers)})"
            )
        )
    if not manifest.history:
        raise UnsupportedContentError(detail="schema1 manifest has no history")

    # schema1 lists the newest layer first; Images list the base layer first.
    layers = [
        ImageLayer(
            name=layer.blob_sum,
            size=_v1_size(entry.v1_compatibility),
            media_type=media.DOCKER_SCHEMA1_LAYER,
        )
        for layer, entry in zip(
            reversed(manifest.fs_layers), reversed(manifest.history), strict=True
        )
    ]
    doc: _ImageConfigDoc = _parse(
        _ImageConfigDoc, manifest.history[0].v1_compatibility, "schema1 v1Compatibility"
    )
    metadata = _docker_image(doc, doc.id, _unique_size(layers, set()))
    return _single_image(digest, media_type, metadata, layers)

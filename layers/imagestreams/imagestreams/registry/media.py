"""Manifest media types, content digests and media-type sniffing (pure).

This module owns the six manifest media types the service accepts, the
``Accept`` value sent for manifests, how a manifest's digest is computed
(including the signed schema1 special case) and how a manifest's media type
is recognised when the registry's ``Content-Type`` is missing or generic.
It does no I/O and knows nothing about HTTP, authentication or images.

Signed schema1 manifests (``application/vnd.docker.distribution.manifest.v1+prettyjws``)
are libtrust "pretty" JSON Web Signatures: the signed payload is the manifest
with its ``signatures`` member cut out. Every signature's protected header
records where the cut starts (``formatLength``, a byte offset into the raw
document) and what followed the payload originally (``formatTail``,
base64url, usually ``"\\n}"``). The manifest's digest is the digest of
``raw[:formatLength] + formatTail``, not of the raw bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from imagestreams import jsondoc
from imagestreams.errors import UnsupportedContentError

DOCKER_SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

# Blob media types that appear inside manifests (informational; not sent in Accept).
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_SCHEMA1_LAYER = "application/vnd.docker.container.image.rootfs.diff+x-gtar"

#: Every manifest media type we can convert, most capable first.
ACCEPT_MANIFEST: tuple[str, ...] = (
    OCI_INDEX,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    DOCKER_SCHEMA2,
    DOCKER_SCHEMA1_SIGNED,
    DOCKER_SCHEMA1,
)

LIST_TYPES: frozenset[str] = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
SCHEMA1_TYPES: frozenset[str] = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})
IMAGE_TYPES: frozenset[str] = frozenset({DOCKER_SCHEMA2, OCI_MANIFEST})

_HASHES: dict[str, str] = {"sha256": "sha256", "sha384": "sha384", "sha512": "sha512"}


def is_list(media_type: str) -> bool:
    """True for a Docker manifest list or an OCI image index."""
    return media_type in LIST_TYPES


def is_schema1(media_type: str) -> bool:
    """True for Docker schema1, signed or not."""
    return media_type in SCHEMA1_TYPES


def is_image(media_type: str) -> bool:
    """True for a single-image manifest with a config blob (Docker schema2 or OCI)."""
    return media_type in IMAGE_TYPES


def _b64url_decode(value: str) -> bytes:
    padded = value + "=" * (-len(value) % 4)
    return base64.b64decode(padded, altchars=b"-_", validate=True)


def _load_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        doc = jsondoc.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnsupportedContentError(detail=f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise UnsupportedContentError(detail=f"{what} is not a JSON object")
    return doc


def schema1_payload(raw: bytes) -> bytes:
    """Return the bytes a schema1 manifest's digest is computed over.

    For a signed manifest this is the libtrust payload
    ``raw[:formatLength] + base64url_decode(formatTail)``; every signature
    must agree on both values. A manifest without signatures is its own
    payload. Malformed signatures raise :class:`UnsupportedContentError`.
    """
    doc = _load_object(raw, "schema1 manifest")
    signatures = doc.get("signatures")
    if signatures is None or signatures == []:
        return raw
    if not isinstance(signatures, list):
        raise UnsupportedContentError(detail="schema1 manifest signatures is not a list")

    format_length: int | None = None
    format_tail: bytes | None = None
    for signature in signatures:
        if not isinstance(signature, dict) or not isinstance(signature.get("protected"), str):
            raise UnsupportedContentError(detail="schema1 signature has no protected header")
        try:
            header = jsondoc.loads(_b64url_decode(signature["protected"]))
        except (ValueError, binascii.Error) as exc:
            raise UnsupportedContentError(
                detail=f"schema1 signature protected header is malformed: {exc}"
            ) from exc
        if not isinstance(header, dict):
            raise UnsupportedContentError(detail="schema1 protected header is not a JSON object")
        length = header.get("formatLength")
        tail = header.get("formatTail")
        # JSON numbers may arrive as floats; libtrust truncates them to int.
        if isinstance(length, bool) or not isinstance(length, int | float):
            raise UnsupportedContentError(detail="schema1 signature is missing formatLength")
        if not isinstance(tail, str):
            raise UnsupportedContentError(detail="schema1 signature is missing formatTail")
        try:
            decoded_tail = _b64url_decode(tail)
        except (ValueError, binascii.Error) as exc:
            raise UnsupportedContentError(
                detail=f"schema1 signature formatTail is malformed: {exc}"
            ) from exc
        if format_length is None:
            format_length = int(length)
        elif format_length != int(length):
            raise UnsupportedContentError(detail="schema1 signatures disagree on formatLength")
        if format_tail is None:
            format_tail = decoded_tail
        elif format_tail != decoded_tail:
            raise UnsupportedContentError(detail="schema1 signatures disagree on formatTail")

    if format_length is None or format_tail is None:  # unreachable: signatures is non-empty
        raise UnsupportedContentError(detail="schema1 manifest has no usable signature")
    if format_length < 0 or format_length > len(raw):
        raise UnsupportedContentError(detail="schema1 signature formatLength is out of range")
    return raw[:format_length] + format_tail


def digest_of(raw: bytes, media_type: str, algorithm: str = "sha256") -> str:
    """Return ``"<algorithm>:<hex>"`` for a manifest as the registry addresses it.

    Schema1 manifests are digested over :func:`schema1_payload`; every other
    type over its raw bytes. Only sha256, sha384 and sha512 are supported.
    """
    name = _HASHES.get(algorithm)
    if name is None:
        raise UnsupportedContentError(detail=f"unsupported digest algorithm {algorithm!r}")
    data = schema1_payload(raw) if is_schema1(media_type) else raw
    return f"{algorithm}:{hashlib.new(name, data).hexdigest()}"


def _bare_type(header_type: str | None) -> str:
    if not header_type:
        return ""
    return header_type.split(";", 1)[0].strip().lower()


def sniff_media_type(raw: bytes, header_type: str | None) -> str:
    """Decide a manifest's media type.

    The ``Content-Type`` wins when it is one of the six manifest types
    (parameters such as ``charset`` are ignored). Otherwise the document
    decides: a known ``mediaType`` member; ``schemaVersion`` 1 (signed when it
    has ``signatures``); ``manifests`` (an index, or a Docker list if it says
    so); ``layers``/``config`` (an OCI manifest unless it says Docker).
    Anything else raises :class:`UnsupportedContentError`.
    """
    declared = _bare_type(header_type)
    if declared in ACCEPT_MANIFEST:
        return declared

    doc = _load_object(raw, "manifest")
    media_type = doc.get("mediaType")
    if isinstance(media_type, str) and media_type:
        if media_type in ACCEPT_MANIFEST:
            return media_type
        raise UnsupportedContentError(detail=f"unsupported manifest media type {media_type!r}")

    schema_version = doc.get("schemaVersion")
    if schema_version == 1:
        return DOCKER_SCHEMA1_SIGNED if doc.get("signatures") else DOCKER_SCHEMA1
    if "manifests" in doc:
        return OCI_INDEX
    if "layers" in doc or "config" in doc:
        return OCI_MANIFEST
    shown = declared or "none"
    raise UnsupportedContentError(
        detail=f"unrecognised manifest (content type {shown}, schemaVersion {schema_version!r})"
    )

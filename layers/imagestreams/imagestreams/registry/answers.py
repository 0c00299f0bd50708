"""What registry answers mean: manifests and descriptors, errors, verified content (pure).

Owns the classification of a non-success answer into the typed errors of
``imagestreams.errors`` (by status and by the registry's own error codes) and
the verification of content against its digest. It sends nothing; the
conversation is ``client``'s.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from imagestreams import jsondoc
from imagestreams.errors import (
    IntegrityError,
    NotFoundError,
    ProtocolError,
    RegistryError,
    TooManyRequestsError,
    UnauthorizedError,
    UnavailableError,
)
from imagestreams.registry.transport import HttpResponse, retry_after_seconds

_NOT_FOUND_CODES = frozenset({"MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN", "TAG_UNKNOWN"})
_UNAUTHORIZED_CODES = frozenset({"UNAUTHORIZED", "DENIED"})


@dataclass(frozen=True)
class Descriptor:
    """What a manifest HEAD tells: digest, media type and size if sent."""

    digest: str | None
    media_type: str | None
    size: int | None


@dataclass(frozen=True)
class Manifest:
    """A verified manifest: the bytes as served, their type and digest."""

    digest: str
    media_type: str
    raw: bytes


def _hash(data: bytes, algorithm: str) -> str:
    if algorithm not in ("sha256", "sha384", "sha512"):
        raise IntegrityError(detail=f"unsupported digest algorithm {algorithm!r}")
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def verify_blob(data: bytes, digest: str) -> None:
    """Raise :class:`IntegrityError` unless ``data`` hashes to ``digest``."""
    algorithm = digest.split(":", 1)[0]
    actual = _hash(data, algorithm)
    if actual != digest:
        raise IntegrityError(
            detail=(
                f"content integrity error: the blob retrieved with digest {digest} does not "
                f"match the digest calculated from the content {actual}"
            )
        )


def error_for(response: HttpResponse, what: str) -> RegistryError:
    """Classify a non-success registry answer into a typed error."""
    codes: list[str] = []
    message = ""
    try:
        document = jsondoc.loads(response.body or b"{}")
        for entry in document.get("errors") or []:
            if isinstance(entry, dict):
                codes.append(str(entry.get("code", "")).upper())
                message = message or str(entry.get("message", ""))[:200]
    except (ValueError, AttributeError, UnicodeDecodeError):
        pass
    status = response.status
    code = codes[0] if codes else None
    detail = f"{what}: {message}" if message else f"{what}: registry answered {status}"
    if status == 404 or _NOT_FOUND_CODES.intersection(codes):
        return NotFoundError(detail=detail, registry_code=code, http_status=status)
    if status in (401, 403) or _UNAUTHORIZED_CODES.intersection(codes):
        return UnauthorizedError(detail=detail, registry_code=code, http_status=status)
    if status == 429 or "TOOMANYREQUESTS" in codes:
        return TooManyRequestsError(
            detail=detail,
            registry_code=code,
            http_status=status,
            retry_after=retry_after_seconds(response.header("Retry-After")),
        )
    if status >= 500:
        return UnavailableError(detail=detail, registry_code=code, http_status=status)
    return ProtocolError(detail=detail, registry_code=code, http_status=status)

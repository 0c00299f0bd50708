"""The service's one exception hierarchy.

Every error the domain raises derives from :class:`ImageStreamsError` and
carries structured fields; the API maps them to Kubernetes ``Status``
objects in one place (``imagestreams.api.responses``) and the importer maps registry
errors to per-image statuses (``imagestreams.imports.statuses``). Nothing branches
on message text. Messages never contain credentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class ImageStreamsError(Exception):
    """Base of every error this package raises on purpose."""


class InvalidReferenceError(ImageStreamsError):
    """A string is not a valid image reference (distribution's grammar)."""


@dataclass(frozen=True)
class FieldCause:
    """One invalid field of a request, as Kubernetes' ``field.Error`` reports it."""

    field: str
    reason: str
    body: str

    @classmethod
    def invalid(cls, path: str, value: object, detail: str) -> FieldCause:
        return cls(path, "FieldValueInvalid", f"Invalid value: {_quote(value)}: {detail}")

    @classmethod
    def required(cls, path: str, detail: str = "") -> FieldCause:
        body = f"Required value: {detail}" if detail else "Required value"
        return cls(path, "FieldValueRequired", body)

    @classmethod
    def forbidden(cls, path: str, detail: str) -> FieldCause:
        return cls(path, "FieldValueForbidden", f"Forbidden: {detail}")

    @classmethod
    def not_supported(cls, path: str, value: object, supported: list[str]) -> FieldCause:
        choices = ", ".join(f'"{s}"' for s in supported)
        return cls(
            path,
            "FieldValueNotSupported",
            f"Unsupported value: {_quote(value)}: supported values: {choices}",
        )

    def __str__(self) -> str:
        return f"{self.field}: {self.body}"


def _quote(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


class RequestError(ImageStreamsError):
    """An error of the request itself (mapped to a non-2xx ``Status``)."""

    code: int = 400
    reason: str = "BadRequest"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequestError(RequestError):
    code = 400
    reason = "BadRequest"


class PayloadTooLargeError(RequestError):
    code = 413
    reason = "RequestEntityTooLarge"


class ValidationError(RequestError):
    """The request parsed but is invalid: 422 with one cause per field."""

    code = 422
    reason = "Invalid"

    def __init__(self, qualified_kind: str, kind: str, name: str, causes: list[FieldCause]) -> None:
        self.kind = kind
        self.name = name
        self.causes = causes
        listed = [str(c) for c in causes]
        summary = listed[0] if len(listed) == 1 else "[" + ", ".join(listed) + "]"
        super().__init__(f'{qualified_kind} "{name}" is invalid: {summary}')


class NotFoundRequestError(RequestError):
    """The object the request names does not exist."""

    code = 404
    reason = "NotFound"


class ConflictError(RequestError):
    """The request lost a race or named a stale ``resourceVersion``."""

    code = 409
    reason = "Conflict"


class ServiceUnavailableError(RequestError):
    """A store stayed too busy to finish the request; the client may retry."""

    code = 503
    reason = "ServiceUnavailable"


# --- registry ----------------------------------------------------------------


@dataclass
class RegistryError(ImageStreamsError):
    """Base of the errors a registry conversation ends with.

    ``detail`` is a short, credential-free explanation suitable for a status
    message; ``registry_code`` is the registry's own error code if it sent one
    (``MANIFEST_UNKNOWN``, ``DENIED``, ...).
    """

    detail: str
    registry_code: str | None = None
    http_status: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.detail)

    def __str__(self) -> str:
        return self.detail


@dataclass
class NotFoundError(RegistryError):
    """Manifest, blob, tag or repository unknown to the registry."""


@dataclass
class UnauthorizedError(RegistryError):
    """The registry refused us (no credentials, wrong credentials, denied)."""


@dataclass
class TooManyRequestsError(RegistryError):
    """The registry throttled us and retries did not help."""

    retry_after: float | None = None


@dataclass
class UnavailableError(RegistryError):
    """Connection refused, reset, timed out, or 5xx after retries."""


@dataclass
class TLSError(UnavailableError):
    """The TLS handshake failed (bad certificate, or a plain-http server)."""


@dataclass
class IntegrityError(RegistryError):
    """Content did not match its digest."""


@dataclass
class ContentTooLargeError(RegistryError):
    """A body exceeded its size cap."""


@dataclass
class UnsupportedContentError(RegistryError):
    """A manifest or config the service cannot interpret."""


@dataclass
class ForbiddenRegistryError(RegistryError):
    """The deployment does not allow contacting this registry or address."""


@dataclass
class ProtocolError(RegistryError):
    """The registry answered something that is not the distribution API."""


class ChunkRetryError(ImageStreamsError):
    """Some tags of a queued chunk met retryable errors: deliver the chunk again."""


class UnauthenticatedError(RequestError):
    """No valid credentials came with the request."""

    code = 401
    reason = "Unauthorized"


class ForbiddenError(RequestError):
    """The caller may not act in this namespace."""

    code = 403
    reason = "Forbidden"

"""The service's one exception hierarchy, and the Kubernetes messages it carries.

Every error the domain raises derives from :class:`ImageStreamsError` and
carries structured fields; the API maps them to Kubernetes ``Status``
objects in one place (``imagestreams.api.responses``) and the importer maps registry
errors to per-image statuses (``imagestreams.imports.statuses``). Nothing branches
on message text. Messages never contain credentials.

The request errors OpenShift's API server would answer (NotFound, Conflict,
Forbidden) are built by the factories at the end of this module, worded as
the API server words them; use cases, stores and routes call those and never
format such a message themselves.
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
    def not_found(cls, path: str, value: object) -> FieldCause:
        return cls(path, "FieldValueNotFound", f"Not found: {_quote(value)}")

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
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


@dataclass(frozen=True)
class ObjectDetails:
    """The object an error is about, as a ``Status``'s ``details`` names it.

    ``kind`` is the resource (``imagestreams``), as the API server's NotFound,
    AlreadyExists, Conflict and Forbidden errors carry it; ``name`` is empty
    for a list. ``retry_after_seconds`` is when the client may try again.
    """

    name: str
    group: str
    kind: str
    retry_after_seconds: int = 0


class RequestError(ImageStreamsError):
    """An error of the request itself (mapped to a non-2xx ``Status``)."""

    code: int = 400
    reason: str = "BadRequest"

    def __init__(self, message: str, *, details: ObjectDetails | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequestError(RequestError):
    code = 400
    reason = "BadRequest"


class PayloadTooLargeError(RequestError):
    code = 413
    reason = "RequestEntityTooLarge"


class UnsupportedMediaTypeError(RequestError):
    """The body is in a format the API does not read (its ``Content-Type``)."""

    code = 415
    reason = "UnsupportedMediaType"


class ValidationError(RequestError):
    """The request parsed but is invalid: 422 with one cause per field."""

    code = 422
    reason = "Invalid"

    def __init__(self, qualified_kind: str, kind: str, name: str, causes: list[FieldCause]) -> None:
        self.kind = kind
        self.name = name
        self.causes = causes
        # ``ImageStreamImport.image.openshift.io`` -> ``image.openshift.io``
        self.group = qualified_kind.partition(".")[2]
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


class AlreadyExistsError(ConflictError):
    """A create named an object that exists."""

    reason = "AlreadyExists"


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
class BlobUnknownError(RegistryError):
    """A blob the registry lacks: distribution's ``ErrBlobUnknown``, which OpenShift
    reports as an ``InternalError``, not as an unknown manifest's ``NotFound``."""


@dataclass
class UnauthorizedError(RegistryError):
    """The registry refused us (no credentials, wrong credentials, denied)."""


@dataclass
class CredentialsError(UnauthorizedError):
    """The service could not get its own credentials for the registry (its role's token)."""


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


class ServerTimeoutError(RequestError):
    """Writers kept conflicting; the client may try again (Kubernetes' ServerTimeout)."""

    code = 500
    reason = "ServerTimeout"


class MethodNotAllowedError(RequestError):
    """The resource has no such verb."""

    code = 405
    reason = "MethodNotAllowed"


# --- Kubernetes messages ---------------------------------------------------------

API_GROUP = "image.openshift.io"
"""The API group of every resource the service serves."""

IMAGESTREAMS = "imagestreams"
"""The resource the stream routes name (Kubernetes' plural, as a ``get`` reports it)."""
IMAGESTREAM = "imagestream"
"""The resource ImageStreamImport's REST storage names in its own errors (``rest.go``)."""
IMAGESTREAMIMPORTS = "imagestreamimports"
"""The resource the import routes name."""
IMAGESTREAMTAGS = "imagestreamtags"
"""The resource ImageStreamTag's REST storage names in its errors."""
IMAGESTREAMTAG = "imagestreamtag"
"""The resource ImageStreamTag's REST storage names in its AlreadyExists (singular, as upstream)."""
IMAGESTREAMIMAGE = "imagestreamimage"
"""The resource ImageStreamImage's REST storage names in its NotFound (singular, as upstream)."""

_OPTIMISTIC_LOCK = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def not_found(resource: str, name: str) -> NotFoundRequestError:
    """Kubernetes' NotFound: ``imagestreams.image.openshift.io "app" not found``."""
    return NotFoundRequestError(
        f'{resource}.{API_GROUP} "{name}" not found',
        details=ObjectDetails(name, API_GROUP, resource),
    )


def conflict(resource: str, name: str, detail: str) -> ConflictError:
    """Kubernetes' Conflict: ``Operation cannot be fulfilled on <resource> "<name>": <detail>``."""
    return ConflictError(
        f'Operation cannot be fulfilled on {resource}.{API_GROUP} "{name}": {detail}',
        details=ObjectDetails(name, API_GROUP, resource),
    )


def already_exists(resource: str, name: str) -> AlreadyExistsError:
    """Kubernetes' AlreadyExists: ``imagestreams.image.openshift.io "web" already exists``."""
    return AlreadyExistsError(
        f'{resource}.{API_GROUP} "{name}" already exists',
        details=ObjectDetails(name, API_GROUP, resource),
    )


def generated_name_taken(resource: str, name: str) -> AlreadyExistsError:
    """A name made from ``generateName`` that another object took (Kubernetes' wording)."""
    return AlreadyExistsError(
        f'{resource}.{API_GROUP} "{name}" already exists, the server was not able to '
        "generate a unique name for the object",
        details=ObjectDetails(name, API_GROUP, resource, retry_after_seconds=1),
    )


def object_modified(resource: str, name: str) -> ConflictError:
    """A write whose ``resourceVersion`` is no longer the object's (the optimistic lock)."""
    return conflict(resource, name, _OPTIMISTIC_LOCK)


def precondition_failed(
    resource: str, name: str, field: str, expected: str, actual: str
) -> ConflictError:
    """A DeleteOptions precondition that the object no longer meets (Kubernetes' wording)."""
    return conflict(
        resource,
        name,
        f"Precondition failed: {field} in precondition: {expected}, "
        f"{field} in object meta: {actual}",
    )


def stream_updated(name: str, expected: str, actual: str) -> ConflictError:
    """A stale ``resourceVersion``: ``expected`` by the request, ``actual`` in the store."""
    return conflict(
        IMAGESTREAM, name, f'the image stream was updated from "{expected}" to "{actual}"'
    )


def stream_modified(name: str) -> ConflictError:
    """Concurrent writers kept changing the stream (the stream store's optimistic lock)."""
    return conflict(IMAGESTREAMS, name, _OPTIMISTIC_LOCK)


def stream_deleted_while_importing(name: str) -> ConflictError:
    """The stream was deleted each time an import began, until it gave up."""
    return conflict(
        IMAGESTREAM, name, "the image stream was deleted while it was being imported into"
    )


def job_not_found(job_id: str) -> NotFoundRequestError:
    """No import job ``job_id`` (deleted, expired, or never created)."""
    return NotFoundRequestError(f'import job "{job_id}" not found')


def job_exists(job_id: str) -> ConflictError:
    """An import job ``job_id`` was created already."""
    return ConflictError(f'import job "{job_id}" already exists')


def forbidden(
    subject: str,
    verb: str,
    resource: str,
    namespace: str,
    name: str = "",
    group: str = API_GROUP,
) -> ForbiddenError:
    """Kubernetes' RBAC denial of ``verb`` on ``resource`` (``name``) in ``namespace``.

    ``imagestreams.image.openshift.io "web" is forbidden: User "alice" cannot get
    resource "imagestreams" in API group "image.openshift.io" in the namespace
    "team-b"``; without a name (a list, a create) the quoted name is left out,
    and a resource of the core group (``group=""``) is named without one.
    """
    qualified = f"{resource}.{group}" if group else resource
    target = f'{qualified} "{name}"' if name else qualified
    return ForbiddenError(
        f'{target} is forbidden: User "{subject}" cannot {verb} resource '
        f'"{resource}" in API group "{group}" in the namespace "{namespace}"',
        details=ObjectDetails(name, group, resource),
    )


def forbidden_at_cluster_scope(
    subject: str, verb: str, resource: str, group: str = API_GROUP
) -> ForbiddenError:
    """Kubernetes' RBAC denial of ``verb`` on ``resource`` across every namespace.

    ``imagestreams.image.openshift.io is forbidden: User "alice" cannot list
    resource "imagestreams" in API group "image.openshift.io" at the cluster scope``
    """
    return ForbiddenError(
        f'{resource}.{group} is forbidden: User "{subject}" cannot {verb} resource '
        f'"{resource}" in API group "{group}" at the cluster scope',
        details=ObjectDetails("", group, resource),
    )


def server_timeout(resource: str, operation: str) -> ServerTimeoutError:
    """Kubernetes' ServerTimeout of an ``operation`` that kept losing to other writers.

    Its details name the operation, and ask for a retry in 2 seconds, as
    ImageStreamTag's REST storage does.
    """
    return ServerTimeoutError(
        f"The {operation} operation against {resource}.{API_GROUP} could not be completed "
        "at this time, please try again.",
        details=ObjectDetails(operation, API_GROUP, resource, retry_after_seconds=2),
    )


def method_not_allowed() -> MethodNotAllowedError:
    """The API server's answer to a verb the resource does not serve."""
    return MethodNotAllowedError("the server does not allow this method on the requested resource")

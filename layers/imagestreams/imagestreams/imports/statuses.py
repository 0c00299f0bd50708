"""Registry errors as the per-image and per-repository ``Status`` OpenShift reports (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from imagestreams.errors import (
    CredentialsError,
    ForbiddenRegistryError,
    NotFoundError,
    RegistryError,
    TooManyRequestsError,
    UnauthorizedError,
    UnavailableError,
)
from imagestreams.models import (
    API_GROUP,
    ImageImportStatus,
    Status,
    StatusCause,
    StatusDetails,
)


def failure_status(ref: str, error: RegistryError) -> Status:
    """The per-image ``Status`` OpenShift reports for a registry error."""
    if isinstance(error, NotFoundError):
        return Status.failure(
            404,
            "NotFound",
            f'dockerimage.image.openshift.io "{ref}" not found',
            StatusDetails(name=ref, group=API_GROUP, kind="dockerimage"),
            type_meta=False,
        )
    if isinstance(error, UnauthorizedError):
        # The role's own token request failing says why (its AWS error code).
        why = f": {error}" if isinstance(error, CredentialsError) else ""
        return Status.failure(
            401,
            "Unauthorized",
            f'you may not have access to the container image "{ref}"{why}',
            type_meta=False,
        )
    if isinstance(error, TooManyRequestsError):
        details = None
        if error.retry_after is not None:
            details = StatusDetails(retry_after_seconds=max(1, round(error.retry_after)))
        return Status.failure(
            429,
            "TooManyRequests",
            f"the registry is throttling the import of {ref}: {error}",
            details,
            type_meta=False,
        )
    if isinstance(error, ForbiddenRegistryError):
        return Status.failure(
            403,
            "Forbidden",
            f"importing images from registry {ref.split('/')[0]!r} is forbidden: {error}",
            type_meta=False,
        )
    message = f"{ref}: {error}"
    return Status.failure(
        500,
        "InternalError",
        f"Internal error occurred: {message}",
        StatusDetails(causes=[StatusCause(message=message)]),
        type_meta=False,
    )


def is_retryable(error: RegistryError | None) -> bool:
    """Errors another attempt later may not meet: throttling, outages, timeouts."""
    return isinstance(error, UnavailableError | TooManyRequestsError)


def repository_status(statuses: Sequence[ImageImportStatus]) -> Status:
    """Success, or ``ImportFailed`` counting the failed tags as OpenShift words it."""
    return repository_status_for(sum(1 for s in statuses if s.status.status != "Success"))


def repository_status_for(failures: int) -> Status:
    """The repository's status when ``failures`` of its tags failed."""
    if failures == 0:
        return Status.success(type_meta=False)
    counted = "one" if failures == 1 else str(failures)
    return Status(
        status="Failure",
        reason="ImportFailed",
        message=f"{counted} of the images from this repository failed to import",
        kind="",
        api_version="",
    )

"""Kubernetes ``meta/v1`` and ``core/v1`` types the OpenShift image API embeds.

Owns ``ObjectMeta``, ``ListMeta``, ``ObjectReference``,
``LocalObjectReference`` and the ``Status`` family, with the field names and
omitempty rules of k8s.io/apimachinery and k8s.io/api. ``Status`` is used
both for whole-request errors and for the per-image results of an import.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from imagestreams.models.base import OMIT_EMPTY, OMIT_NIL, OpenShiftModel, OptionalTime

STATUS_SUCCESS = "Success"
STATUS_FAILURE = "Failure"


class ObjectMeta(OpenShiftModel):
    """``metav1.ObjectMeta``. ``creationTimestamp`` is written as ``null`` when unset."""

    name: Annotated[str, OMIT_EMPTY] = ""
    generate_name: Annotated[str, OMIT_EMPTY] = ""
    namespace: Annotated[str, OMIT_EMPTY] = ""
    self_link: Annotated[str, OMIT_EMPTY] = ""
    uid: Annotated[str, OMIT_EMPTY] = ""
    resource_version: Annotated[str, OMIT_EMPTY] = ""
    generation: Annotated[int, OMIT_EMPTY] = 0
    # A struct-valued metav1.Time: omitempty does not apply, the zero time is null.
    creation_timestamp: OptionalTime = None
    deletion_timestamp: Annotated[OptionalTime, OMIT_NIL] = None
    deletion_grace_period_seconds: Annotated[int | None, OMIT_NIL] = None
    labels: Annotated[dict[str, str] | None, OMIT_EMPTY] = None
    annotations: Annotated[dict[str, str] | None, OMIT_EMPTY] = None
    owner_references: Annotated[list[dict[str, Any]] | None, OMIT_EMPTY] = None
    finalizers: Annotated[list[str] | None, OMIT_EMPTY] = None
    managed_fields: Annotated[list[dict[str, Any]] | None, OMIT_EMPTY] = None


class ListMeta(OpenShiftModel):
    """``metav1.ListMeta`` (the ``metadata`` of a ``Status``)."""

    self_link: Annotated[str, OMIT_EMPTY] = ""
    resource_version: Annotated[str, OMIT_EMPTY] = ""
    continue_: Annotated[str, OMIT_EMPTY] = Field(
        default="", validation_alias="continue", serialization_alias="continue"
    )
    remaining_item_count: Annotated[int | None, OMIT_NIL] = None


class ObjectReference(OpenShiftModel):
    """``corev1.ObjectReference`` (``from`` of an import spec or a tag)."""

    kind: Annotated[str, OMIT_EMPTY] = ""
    namespace: Annotated[str, OMIT_EMPTY] = ""
    name: Annotated[str, OMIT_EMPTY] = ""
    uid: Annotated[str, OMIT_EMPTY] = ""
    api_version: Annotated[str, OMIT_EMPTY] = ""
    resource_version: Annotated[str, OMIT_EMPTY] = ""
    field_path: Annotated[str, OMIT_EMPTY] = ""


class LocalObjectReference(OpenShiftModel):
    """``corev1.LocalObjectReference`` (``to`` of an image import spec)."""

    name: Annotated[str, OMIT_EMPTY] = ""


class StatusCause(OpenShiftModel):
    """``metav1.StatusCause``: one reason a request failed, often per field."""

    reason: Annotated[str, OMIT_EMPTY] = ""
    message: Annotated[str, OMIT_EMPTY] = ""
    field: Annotated[str, OMIT_EMPTY] = ""


class StatusDetails(OpenShiftModel):
    """``metav1.StatusDetails``."""

    name: Annotated[str, OMIT_EMPTY] = ""
    group: Annotated[str, OMIT_EMPTY] = ""
    kind: Annotated[str, OMIT_EMPTY] = ""
    uid: Annotated[str, OMIT_EMPTY] = ""
    causes: Annotated[list[StatusCause] | None, OMIT_EMPTY] = None
    retry_after_seconds: Annotated[int, OMIT_EMPTY] = 0


class Status(OpenShiftModel):
    """``metav1.Status``.

    The helpers fill ``kind: Status`` / ``apiVersion: v1`` as an API error
    response carries them; OpenShift's per-image statuses inside an import
    have no type meta, which ``type_meta=False`` reproduces.
    """

    kind: Annotated[str, OMIT_EMPTY] = ""
    api_version: Annotated[str, OMIT_EMPTY] = ""
    metadata: ListMeta = Field(default_factory=ListMeta)
    status: Annotated[str, OMIT_EMPTY] = ""
    message: Annotated[str, OMIT_EMPTY] = ""
    reason: Annotated[str, OMIT_EMPTY] = ""
    details: Annotated[StatusDetails | None, OMIT_NIL] = None
    code: Annotated[int, OMIT_EMPTY] = 0

    @classmethod
    def failure(
        cls,
        code: int,
        reason: str,
        message: str,
        details: StatusDetails | None = None,
        *,
        type_meta: bool = True,
    ) -> Status:
        """A ``Failure`` status with the given HTTP code, reason and message."""
        return cls(
            kind="Status" if type_meta else "",
            api_version="v1" if type_meta else "",
            status=STATUS_FAILURE,
            message=message,
            reason=reason,
            details=details,
            code=code,
        )

    @classmethod
    def success(cls, *, type_meta: bool = True) -> Status:
        """A bare ``Success`` status, as OpenShift writes for an imported image."""
        return cls(
            kind="Status" if type_meta else "",
            api_version="v1" if type_meta else "",
            status=STATUS_SUCCESS,
        )

    @property
    def is_success(self) -> bool:
        return self.status == STATUS_SUCCESS


class Preconditions(OpenShiftModel):
    """``metav1.Preconditions``: what a delete requires of the object it removes."""

    uid: Annotated[str | None, OMIT_NIL] = None
    resource_version: Annotated[str | None, OMIT_NIL] = None


class DeleteOptions(OpenShiftModel):
    """``metav1.DeleteOptions``, the optional body of a DELETE (``kubectl delete`` sends one)."""

    kind: Annotated[str, OMIT_EMPTY] = ""
    api_version: Annotated[str, OMIT_EMPTY] = ""
    grace_period_seconds: Annotated[int | None, OMIT_NIL] = None
    preconditions: Annotated[Preconditions | None, OMIT_NIL] = None
    orphan_dependents: Annotated[bool | None, OMIT_NIL] = None
    propagation_policy: Annotated[str | None, OMIT_NIL] = None
    dry_run: Annotated[list[str] | None, OMIT_EMPTY] = None
    ignore_store_read_error_with_cluster_breaking_potential: Annotated[bool | None, OMIT_NIL] = None

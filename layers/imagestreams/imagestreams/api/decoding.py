"""Reading requests as the Kubernetes API server reads them (pure, no I/O).

Owns what k8s.io/apiserver's handlers decide before a request reaches its
use case, in their order and with their codes and messages:

- the requests of the write routes (an ImageStreamImport, an ImageStream,
  an ImageStreamTag): the query's options, the body's media type and size,
  the object it holds and the namespace it names against the path's;
- the write options of the query (``dryRun``, ``fieldValidation``) and the
  ``DeleteOptions`` of a DELETE, validated as the API server validates them.

Reading the body is ``imagestreams.api.bodies``' job, reading it as the
route's kind ``imagestreams.api.strict``'s. It does not act on the options
(dry runs are the use cases' business) and does not validate what a
document means (``imagestreams.api.validation``,
``imagestreams.api.stream_validation``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from imagestreams.api import validation
from imagestreams.api.bodies import (
    Kind,
    Problems,
    body_bytes,
    body_media_type,
    bounded_body,
    load,
    not_registered,
    type_meta,
)
from imagestreams.api.gowords import go_quote
from imagestreams.api.strict import INT64, Decoder, FieldValidation, GoTypeError, decode_object
from imagestreams.errors import API_GROUP, BadRequestError, FieldCause, ValidationError
from imagestreams.imports.plan import ValidImport
from imagestreams.models import DeleteOptions, ImageStream, ImageStreamImport, ImageStreamTag
from imagestreams.registry.rules import RegistryRules

META_GROUP = "meta.k8s.io"
DRY_RUN_ALL = "All"

# The kinds of the write routes, which fill what a body leaves out.
IMAGE_STREAM_IMPORT = Kind(API_GROUP, "v1", "ImageStreamImport")
IMAGE_STREAM = Kind(API_GROUP, "v1", "ImageStream")
IMAGE_STREAM_TAG = Kind(API_GROUP, "v1", "ImageStreamTag")

# The scheme of k8s.io/apimachinery's meta types, which decodes DeleteOptions.
META_SCHEME = "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme/register.go:27"
# Versions a DeleteOptions body may name: meta/v1, the legacy "v1", and
# the resource's own group (clients once sent per-group DeleteOptions).
_DELETE_OPTIONS_VERSIONS = frozenset({("", "v1"), (META_GROUP, "v1"), (API_GROUP, "v1")})
# The DELETE handler passes decoding errors on as they are.
_AS_THEY_ARE = Problems(b"", "DeleteOptions", prefixed=False)


@dataclass(frozen=True)
class WriteOptions:
    """The options of a create or update, from the query (``CreateOptions``)."""

    dry_run: bool = False
    field_validation: FieldValidation = FieldValidation.WARN


@dataclass(frozen=True)
class Deletion:
    """The options of a DELETE: from its body when it has one, else from the query."""

    dry_run: bool = False
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    uid: str | None = None
    resource_version: str | None = None


@dataclass(frozen=True)
class ImportRequest:
    """A decoded, validated ImageStreamImport request and what decoding it warns about."""

    valid: ValidImport
    options: WriteOptions
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class StreamRequest:
    """A decoded ImageStream of a create, update or patch, and what decoding it warns about.

    Its meaning (validation, defaults) is checked by the use case, which
    knows the stored stream an update or a patch applies to.
    """

    stream: ImageStream
    options: WriteOptions
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class TagRequest:
    """A decoded ImageStreamTag of a create, update or patch, and what decoding it warns about."""

    tag: ImageStreamTag
    options: WriteOptions
    warnings: tuple[str, ...] = ()


# --- the request of the create route -----------------------------------------


def parse_import_request(
    body: str | bytes | None,
    namespace: str,
    *,
    content_type: str | None = None,
    query: Mapping[str, Sequence[str]] | None = None,
    is_base64: bool = False,
    max_bytes: int,
    rules: RegistryRules | None = None,
    max_images: int | None = None,
) -> ImportRequest:
    """Decode and validate a POSTed ImageStreamImport, parsing its references once.

    In the API server's order: the query's options (422), the media type
    (415), the body's size (413), decoding (400), the namespace (400), then
    the rules of ``imagestreams.api.validation`` (422).
    """
    options, media_type, raw = _request_body(
        body, content_type, query, is_base64, max_bytes, "CreateOptions"
    )
    isi, warnings = decode_object(
        raw, media_type, ImageStreamImport, IMAGE_STREAM_IMPORT, options.field_validation
    )
    _check_namespace(isi.metadata.namespace, namespace)
    references = validation.validate(isi, namespace, rules, max_images)
    return ImportRequest(ValidImport(isi, references), options, warnings)


def parse_stream_request(
    body: str | bytes | None,
    namespace: str,
    *,
    content_type: str | None = None,
    query: Mapping[str, Sequence[str]] | None = None,
    is_base64: bool = False,
    max_bytes: int,
    options_kind: str = "CreateOptions",
) -> StreamRequest:
    """Decode a POSTed or PUT ImageStream, in the API server's order (see above)."""
    options, media_type, raw = _request_body(
        body, content_type, query, is_base64, max_bytes, options_kind
    )
    return decode_stream(raw, media_type, namespace, options)


def decode_stream(
    raw: bytes, media_type: str, namespace: str, options: WriteOptions
) -> StreamRequest:
    """The ImageStream in ``raw`` (a body, or a patched document as JSON)."""
    stream, warnings = decode_object(
        raw, media_type, ImageStream, IMAGE_STREAM, options.field_validation
    )
    _check_namespace(stream.metadata.namespace, namespace)
    return StreamRequest(stream, options, warnings)


def parse_tag_request(
    body: str | bytes | None,
    namespace: str,
    *,
    content_type: str | None = None,
    query: Mapping[str, Sequence[str]] | None = None,
    is_base64: bool = False,
    max_bytes: int,
    options_kind: str = "CreateOptions",
) -> TagRequest:
    """Decode a POSTed or PUT ImageStreamTag, in the API server's order (see above)."""
    options, media_type, raw = _request_body(
        body, content_type, query, is_base64, max_bytes, options_kind
    )
    return decode_tag(raw, media_type, namespace, options)


def decode_tag(raw: bytes, media_type: str, namespace: str, options: WriteOptions) -> TagRequest:
    """The ImageStreamTag in ``raw`` (a body, or a patched document as JSON)."""
    tag, warnings = decode_object(
        raw, media_type, ImageStreamTag, IMAGE_STREAM_TAG, options.field_validation
    )
    _check_namespace(tag.metadata.namespace, namespace)
    return TagRequest(tag, options, warnings)


def _request_body(
    body: str | bytes | None,
    content_type: str | None,
    query: Mapping[str, Sequence[str]] | None,
    is_base64: bool,
    max_bytes: int,
    options_kind: str,
) -> tuple[WriteOptions, str, bytes]:
    """A write's options (422), media type (415) and bounded body (413), in that order."""
    options = write_options(query or {}, options_kind)
    return options, body_media_type(content_type), bounded_body(body, is_base64, max_bytes)


def _check_namespace(given: str, namespace: str) -> None:
    """An object naming another namespace than its path is the API server's 400."""
    if given and given != namespace:
        raise BadRequestError(
            "the namespace of the provided object does not match the namespace sent on the request"
        )


# --- the query -----------------------------------------------------------------


def write_options(query: Mapping[str, Sequence[str]], kind: str = "CreateOptions") -> WriteOptions:
    """``dryRun`` and ``fieldValidation`` of a create (or update, with ``kind``).

    A value the API server does not know is its 422 ``Invalid`` on
    ``<kind>.meta.k8s.io``; ``dryRun=All`` is the only dry run.
    """
    dry_run = list(query.get("dryRun") or [])
    directive = _first(query, "fieldValidation")
    causes = _dry_run_causes(dry_run)
    if directive not in ("", *FieldValidation):
        supported = ", ".join(f'"{v}"' for v in sorted(["", *FieldValidation]))
        causes.append(
            FieldCause(
                "fieldValidation",
                "FieldValueNotSupported",
                f"Unsupported value: {go_quote(directive)}: supported values: {supported}",
            )
        )
    if causes:
        raise ValidationError(f"{kind}.{META_GROUP}", kind, "", causes)
    return WriteOptions(bool(dry_run), FieldValidation(directive or FieldValidation.WARN))


def delete_options(
    body: str | bytes | None,
    content_type: str | None,
    query: Mapping[str, Sequence[str]],
    *,
    is_base64: bool = False,
) -> Deletion:
    """The options of a DELETE, as the API server reads them.

    A non-empty body is a ``DeleteOptions`` document (JSON or YAML, decoded
    leniently: unknown fields are ignored) and the query is then not read;
    without a body, ``dryRun``, ``gracePeriodSeconds`` and
    ``propagationPolicy`` come from the query. Invalid options are a 422 on
    ``DeleteOptions.meta.k8s.io``.
    """
    raw = body_bytes(body, is_base64)
    if raw:
        media_type = body_media_type(content_type)
        data = load(raw, media_type, _AS_THEY_ARE)
        _check_delete_kind(data)
        try:
            options = Decoder(FieldValidation.IGNORE).document(DeleteOptions, data)
        except GoTypeError as error:
            raise BadRequestError(str(error)) from None
    else:
        options = DeleteOptions(
            dry_run=list(query.get("dryRun") or []) or None,
            grace_period_seconds=_query_int(query, "gracePeriodSeconds"),
            propagation_policy=_first(query, "propagationPolicy") or None,
        )
    causes = []
    if options.orphan_dependents is not None and options.propagation_policy is not None:
        causes.append(
            FieldCause.invalid(
                "propagationPolicy",
                options.propagation_policy,
                "orphanDependents and deletionPropagation cannot be both set",
            )
        )
    policies = ["Foreground", "Background", "Orphan"]
    if options.propagation_policy is not None and options.propagation_policy not in policies:
        causes.append(
            FieldCause.not_supported(
                "propagationPolicy", options.propagation_policy, [*policies, "nil"]
            )
        )
    causes.extend(_dry_run_causes(options.dry_run or []))
    if causes:
        raise ValidationError(f"DeleteOptions.{META_GROUP}", "DeleteOptions", "", causes)
    preconditions = options.preconditions
    return Deletion(
        dry_run=bool(options.dry_run),
        grace_period_seconds=options.grace_period_seconds,
        propagation_policy=options.propagation_policy,
        uid=preconditions.uid if preconditions else None,
        resource_version=preconditions.resource_version if preconditions else None,
    )


def _first(query: Mapping[str, Sequence[str]], name: str) -> str:
    # Go's query conversion gives a string field the first value.
    values = query.get(name) or []
    return values[0] if values else ""


def _query_int(query: Mapping[str, Sequence[str]], name: str) -> int | None:
    value = _first(query, name)
    if not value:
        return None
    if not re.fullmatch(r"[+-]?[0-9]+", value):
        raise BadRequestError(f"strconv.ParseInt: parsing {go_quote(value)}: invalid syntax")
    number = int(value)
    if not INT64[0] <= number <= INT64[1]:
        raise BadRequestError(f"strconv.ParseInt: parsing {go_quote(value)}: value out of range")
    return number


def _dry_run_causes(values: list[str]) -> list[FieldCause]:
    if all(value == DRY_RUN_ALL for value in values):
        return []
    listed = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return [
        FieldCause(
            "dryRun",
            "FieldValueNotSupported",
            f'Unsupported value: {listed}: supported values: "{DRY_RUN_ALL}"',
        )
    ]


def _check_delete_kind(data: Any) -> None:
    group, version, kind = type_meta(data, _AS_THEY_ARE)
    if not kind:
        kind = "DeleteOptions"
    if not version and not group:
        group, version = META_GROUP, "v1"
    if kind != "DeleteOptions" or (group, version) not in _DELETE_OPTIONS_VERSIONS:
        raise BadRequestError(not_registered(Kind(group, version, kind), META_SCHEME))

"""HTTP edges of the API: reading request bodies and writing ``Status`` replies.

Owns the one mapping from the error hierarchy to Kubernetes ``Status``
responses (400, 413, 422, 404, 500, ...), and the decoding of a request body
into a validated, defaulted :class:`ImageStreamImport`. Nothing here talks
to AWS or a registry; no message carries a stack trace or a credential.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import traceback
from collections.abc import Sequence
from typing import Any

import pydantic
from aws_lambda_powertools.event_handler import Response

from imagestreams import jsondoc, listing
from imagestreams.api import validation
from imagestreams.api.discovery import Document
from imagestreams.errors import (
    BadRequestError,
    FieldCause,
    PayloadTooLargeError,
    RequestError,
    ValidationError,
)
from imagestreams.imports.plan import ValidImport
from imagestreams.models import (
    API_GROUP,
    ImageStream,
    ImageStreamImport,
    Status,
    StatusCause,
    StatusDetails,
)
from imagestreams.registry.rules import RegistryRules

JSON = "application/json"
# What a Lambda function may return to API Gateway: the whole serialised
# proxy response, a base64 body counted as base64.
FUNCTION_RESPONSE_LIMIT = 6 * 1024 * 1024
# Room for the status code and headers around the body of a proxy response.
_ENVELOPE_ALLOWANCE = 64 * 1024


def document(code: int, body: dict[str, Any]) -> Response[str]:
    """A JSON response with ``body``."""
    return Response(
        status_code=code, content_type=JSON, body=json.dumps(body, separators=(",", ":"))
    )


def served(document: Document, if_none_match: str | None = None) -> Response[str]:
    """A discovery or OpenAPI document: 200 with its entity tag, or 304 if the client has it.

    Answers vary with ``Accept`` (aggregated discovery, protobuf OpenAPI).
    """
    headers = {"ETag": document.etag, "Vary": "Accept"}
    if if_none_match and document.etag in (tag.strip() for tag in if_none_match.split(",")):
        return Response(status_code=304, headers=headers, body="")
    return Response(
        status_code=200, content_type=document.content_type, body=document.body, headers=headers
    )


def not_acceptable(accepted_types: str) -> Response[str]:
    """406 when none of the media types a client accepts can be served."""
    return status_response(
        406, "NotAcceptable", f"only the following media types are accepted: {accepted_types}"
    )


def accepted(message: str) -> Response[str]:
    """202 with a ``Success`` Status saying what was queued."""
    body = Status(kind="Status", api_version="v1", status="Success", message=message, code=202)
    return document(202, body.to_json_dict())


def status_response(
    code: int, reason: str, message: str, details: StatusDetails | None = None
) -> Response[str]:
    """A Kubernetes ``Status`` failure response."""
    return document(code, Status.failure(code, reason, message, details).to_json_dict())


def for_request_error(error: RequestError) -> Response[str]:
    """Map an error of the request to its ``Status`` response."""
    details = None
    if error.details is not None:
        details = StatusDetails(
            name=error.details.name, group=error.details.group, kind=error.details.kind
        )
    if isinstance(error, ValidationError):
        details = StatusDetails(
            name=error.name,
            group=API_GROUP,
            kind=error.kind,
            causes=[
                StatusCause(reason=c.reason, message=c.body, field=c.field) for c in error.causes
            ],
        )
    return status_response(error.code, error.reason, error.message, details)


def internal_error(request_id: str) -> Response[str]:
    """A 500 that names the request id for support, and nothing internal."""
    return status_response(
        500,
        "InternalError",
        f"Internal error occurred: the request could not be completed (request id {request_id})",
    )


def within_response_limit(
    response: dict[str, Any], limit: int = FUNCTION_RESPONSE_LIMIT
) -> dict[str, Any]:
    """``response`` (an API Gateway proxy response) if a function may return it.

    Deployed, a larger answer is an opaque 502 from API Gateway; here it
    becomes a 413 ``Status`` that says how large it was and how to get it.
    """
    body = response.get("body") or ""
    # JSON-escaping a character takes at most 6 (``\u001f``): most answers need
    # no second serialisation to be known to fit.
    if len(body) * 6 + _ENVELOPE_ALLOWANCE <= limit:
        return response
    size = len(json.dumps(response))
    if size <= limit:
        return response
    headers = response.get("multiValueHeaders") or {}
    compressed = "gzip" in (headers.get("Content-Encoding") or [])
    advice = (
        "ask for fewer images, or without includeManifest"
        if compressed
        else "send Accept-Encoding: gzip, or ask for fewer images"
    )
    status = Status.failure(
        413,
        "RequestEntityTooLarge",
        f"the answer would be {size} bytes, more than the {limit} bytes a function may "
        f"return: {advice}",
    )
    return {
        "statusCode": 413,
        "body": json.dumps(status.to_json_dict(), separators=(",", ":")),
        "isBase64Encoded": False,
        "multiValueHeaders": {"Content-Type": [JSON]},
    }


def check_path(namespace: str, name: str | None = None) -> None:
    """Refuse path parameters that cannot name a namespace or an object (400)."""
    if validation.namespace_problem(namespace):
        raise BadRequestError(
            f"invalid namespace {namespace!r}: {validation.namespace_problem(namespace)}"
        )
    if name is not None and validation.name_problem(name):
        raise BadRequestError(f"invalid name {name!r}: {validation.name_problem(name)}")


def list_meta(items: Sequence[ImageStream], page: listing.Page) -> dict[str, Any]:
    """A list's ``ListMeta``: its version, and where the next page starts.

    The version is the newest ``resourceVersion`` among the items (a watch
    from it sends no event for the objects the list showed).
    """
    versions = [
        int(i.metadata.resource_version) for i in items if i.metadata.resource_version.isdigit()
    ]
    meta: dict[str, Any] = {"resourceVersion": str(max(versions, default=0))}
    if page.continue_token:
        meta["continue"] = page.continue_token
        if page.remaining is not None:
            meta["remainingItemCount"] = page.remaining
    return meta


def stream_list(items: Sequence[ImageStream], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """An ``ImageStreamList`` document."""
    return {
        "kind": "ImageStreamList",
        "apiVersion": "image.openshift.io/v1",
        "metadata": meta or {},
        "items": [item.to_json_dict() for item in items],
    }


def watch(body: str) -> Response[str]:
    """A finite watch: ``WatchEvent`` JSON documents, one a line, then the end of the stream.

    The API server marks a JSON watch as plain ``application/json`` (only
    other media types get ``;stream=watch``).
    """
    return Response(status_code=200, content_type=JSON, body=body)


def origin_of(error: BaseException) -> str:
    """Where ``error`` was raised (``file:line``), for logs that must not carry messages."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "unknown"
    last = frames[-1]
    return f"{os.path.basename(last.filename)}:{last.lineno}"


def parse_import_request(
    body: str | None,
    namespace: str,
    *,
    is_base64: bool,
    max_bytes: int,
    rules: RegistryRules | None = None,
    max_images: int | None = None,
) -> ValidImport:
    """Decode and validate an ImageStreamImport request body, parsing its references once."""
    raw = _body_bytes(body, is_base64)
    if len(raw) > max_bytes:
        raise PayloadTooLargeError(f"the request body exceeds the limit of {max_bytes} bytes")
    if not raw.strip():
        raise BadRequestError("the request body is empty: an ImageStreamImport object is required")
    try:
        data = jsondoc.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequestError(f"the request body is not valid JSON: {_json_problem(exc)}") from None
    if not isinstance(data, dict):
        raise BadRequestError("the request body must be a JSON object (an ImageStreamImport)")
    kind = data.get("kind")
    if kind not in (None, "", "ImageStreamImport"):
        raise BadRequestError(f"the request body is a {kind!r}, not an ImageStreamImport")
    api_version = data.get("apiVersion")
    if api_version not in (None, "", "image.openshift.io/v1", "v1"):
        raise BadRequestError(
            f"apiVersion {api_version!r} is not served here: use image.openshift.io/v1"
        )
    try:
        isi = ImageStreamImport.model_validate(data)
    except pydantic.ValidationError as exc:
        name = (
            str((data.get("metadata") or {}).get("name", ""))
            if isinstance(data.get("metadata"), dict)
            else ""
        )
        raise ValidationError(
            validation.QUALIFIED_KIND, "ImageStreamImport", name, _type_causes(exc)
        ) from None
    if isi.metadata.namespace and isi.metadata.namespace != namespace:
        raise BadRequestError(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    references = validation.validate(isi, namespace, rules, max_images)
    return ValidImport(isi, references)


def _body_bytes(body: str | None, is_base64: bool) -> bytes:
    if body is None:
        return b""
    if is_base64:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequestError("the request body is not valid base64") from None
    return body.encode("utf-8", errors="surrogatepass")


def _json_problem(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, jsondoc.DocumentTooDeepError):
        return str(exc)
    return "the body is not UTF-8 text"


def _type_causes(exc: pydantic.ValidationError) -> list[FieldCause]:
    causes = []
    for error in exc.errors(include_url=False, include_input=False):
        path = ""
        for part in error["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        if error["type"] == "missing":
            causes.append(FieldCause.required(path))
        else:
            causes.append(FieldCause(path, "FieldValueInvalid", f"Invalid value: {error['msg']}"))
    return causes

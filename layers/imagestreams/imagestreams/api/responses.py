"""HTTP edges of the API: writing ``Status`` replies and documents.

Owns the one mapping from the error hierarchy to Kubernetes ``Status``
responses (400, 413, 415, 422, 404, 500, ...) and the ``Warning`` headers
of an answer; reading requests is ``imagestreams.api.decoding``'s job.
Nothing here talks to AWS or a registry; no message carries a stack trace
or a credential.
"""

from __future__ import annotations

import json
import os
import re
import traceback
from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools.event_handler import Response

from imagestreams import listing
from imagestreams.api import validation
from imagestreams.api.discovery import Document
from imagestreams.errors import BadRequestError, RequestError, ValidationError
from imagestreams.models import ImageStream, ImageStreamTag, Status, StatusCause, StatusDetails

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


def served(document: Document, if_none_match: str | None = None) -> Response[str | bytes]:
    """A discovery or OpenAPI document: 200 with its entity tag, or 304 if the client has it.

    Answers vary with ``Accept`` (aggregated discovery, protobuf OpenAPI).
    """
    headers = {"ETag": document.etag, "Vary": "Accept"}
    if if_none_match and document.etag in (tag.strip() for tag in if_none_match.split(",")):
        return Response[str | bytes](status_code=304, headers=headers, body="")
    return Response[str | bytes](
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
    """A Kubernetes ``Status`` failure response.

    Details that ask for a retry are also a ``Retry-After`` header, as the
    API server writes them.
    """
    answer = document(code, Status.failure(code, reason, message, details).to_json_dict())
    if details is not None and details.retry_after_seconds > 0:
        answer.headers["Retry-After"] = str(details.retry_after_seconds)
    return answer


def for_request_error(error: RequestError) -> Response[str]:
    """Map an error of the request to its ``Status`` response."""
    details = None
    if error.details is not None:
        details = StatusDetails(
            name=error.details.name,
            group=error.details.group,
            kind=error.details.kind,
            retry_after_seconds=error.details.retry_after_seconds,
        )
    if isinstance(error, ValidationError):
        details = StatusDetails(
            name=error.name,
            group=error.group,
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


# Answers HTTP allows no body in (RFC 9110 sections 15.3.5 and 15.4.5).
_BODILESS = (204, 304)


def without_forbidden_body(response: dict[str, Any]) -> dict[str, Any]:
    """``response`` with no body (nor its encoding) when its status allows none.

    A compressed empty body is still 20 bytes: sent with a 304, a client
    reads them as the start of an unsolicited next response.
    """
    if response.get("statusCode") not in _BODILESS:
        return response
    headers = {
        name: values
        for name, values in (response.get("multiValueHeaders") or {}).items()
        if name.lower() not in ("content-encoding", "content-type", "content-length")
    }
    return {**response, "body": "", "isBase64Encoded": False, "multiValueHeaders": headers}


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
    """Refuse path parameters that cannot name a namespace or an image stream (400).

    A name is a stream's (an ImageStreamImport's is its stream's): what
    ``ValidateImageStreamName`` accepts, ``namespace/name`` a repository name.
    """
    if problems := validation.namespace_problems(namespace):
        raise BadRequestError(f"invalid namespace {namespace!r}: {problems[0]}")
    if name is None:
        return
    problems = validation.stream_name_problems(name)
    if problem := validation.repository_name_problem(namespace, name):
        problems.append(problem)
    if problems:
        raise BadRequestError(f"invalid name {name!r}: {problems[0]}")


def list_meta(
    items: Sequence[ImageStream] | Sequence[ImageStreamTag], page: listing.Page
) -> dict[str, Any]:
    """A list's ``ListMeta``: its version, and where the next page starts.

    The version is the page's (a watch from it misses no change the list
    does not show), else the newest ``resourceVersion`` among the items.
    """
    versions = [
        int(i.metadata.resource_version) for i in items if i.metadata.resource_version.isdigit()
    ]
    version = page.resource_version or str(max(versions, default=0))
    meta: dict[str, Any] = {"resourceVersion": version}
    if page.continue_token:
        meta["continue"] = page.continue_token
        if page.remaining is not None:
            meta["remainingItemCount"] = page.remaining
    return meta


def namespace(name: str) -> dict[str, Any]:
    """A core ``v1`` Namespace named ``name``, active."""
    return {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {"name": name},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


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


# --- warnings as headers ---------------------------------------------------------

_WARNINGS_TOTAL_RUNES = 4 * 1024
_WARNING_ITEM_RUNES = 256


def with_warnings(response: Response[str], warnings: Sequence[str]) -> Response[str]:
    """``response`` with a ``Warning`` header per warning (several headers of one name)."""
    if values := warning_headers(warnings):
        response.headers["Warning"] = values
    return response


def warning_headers(warnings: Sequence[str]) -> list[str]:
    """``Warning`` header values for ``warnings``, as the API server's recorder writes them.

    ``299 - "<text>"`` each, deduplicated, ``"`` and ``\\`` escaped; a text
    with control characters is dropped; past 4096 characters in all, every
    text is cut to 256.
    """
    texts: list[str] = []
    for text in warnings:
        if text and text not in texts and not _CONTROL.search(text):
            texts.append(text)
    if sum(len(t) for t in texts) > _WARNINGS_TOTAL_RUNES:
        texts = [t[:_WARNING_ITEM_RUNES] for t in texts]
        kept, total = [], 0
        for text in texts:
            if total >= _WARNINGS_TOTAL_RUNES:
                break
            kept.append(text)
            total += len(text)
        texts = kept
    return ['299 - "' + t.replace("\\", "\\\\").replace('"', '\\"') + '"' for t in texts]


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")

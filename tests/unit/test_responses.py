"""Answers within what a Lambda function may return."""

from __future__ import annotations

import json
from typing import Any

import pytest

from imagestreams import errors
from imagestreams.api.responses import (
    FUNCTION_RESPONSE_LIMIT,
    for_request_error,
    within_response_limit,
)


def proxy_response(body: str, *, gzip: bool = False) -> dict[str, Any]:
    headers = {"Content-Type": ["application/json"]}
    if gzip:
        headers["Content-Encoding"] = ["gzip"]
    return {"statusCode": 201, "body": body, "isBase64Encoded": gzip, "multiValueHeaders": headers}


def envelope_size(body: str) -> int:
    return len(json.dumps(proxy_response(body))) - len(body)


@pytest.mark.parametrize(
    ("body_bytes", "gzip", "refused", "advice"),
    [
        (1_000, False, False, None),
        (FUNCTION_RESPONSE_LIMIT - envelope_size(""), False, False, None),
        (FUNCTION_RESPONSE_LIMIT - envelope_size("") + 1, False, True, "Accept-Encoding: gzip"),
        (7_000_000, True, True, "fewer images"),
    ],
    ids=["small", "exactly-the-limit", "one-byte-over", "over-even-compressed"],
)
def test_answers_over_the_function_response_limit_become_a_413_status(
    body_bytes: int, gzip: bool, refused: bool, advice: str | None
) -> None:
    response = proxy_response("x" * body_bytes, gzip=gzip)

    answer = within_response_limit(response)

    if not refused:
        assert answer is response
        return
    status = json.loads(answer["body"])
    assert answer["statusCode"] == 413
    assert (status["kind"], status["reason"], status["code"]) == (
        "Status",
        "RequestEntityTooLarge",
        413,
    )
    assert advice is not None
    assert advice in status["message"]
    assert answer["multiValueHeaders"] == {"Content-Type": ["application/json"]}


@pytest.mark.parametrize(
    ("error", "code", "details", "retry_after"),
    [
        # apimachinery NewServerTimeout(imagestreamtags, "create", 2), as rest.go gives up
        (
            errors.server_timeout(errors.IMAGESTREAMTAGS, "create"),
            500,
            {
                "name": "create",
                "group": "image.openshift.io",
                "kind": "imagestreamtags",
                "retryAfterSeconds": 2,
            },
            "2",
        ),
        # apimachinery NewGenerateNameConflict(imagestreams, name, 1)
        (
            errors.generated_name_taken(errors.IMAGESTREAMS, "web-bcdfg"),
            409,
            {
                "name": "web-bcdfg",
                "group": "image.openshift.io",
                "kind": "imagestreams",
                "retryAfterSeconds": 1,
            },
            "1",
        ),
        # apimachinery NewConflict: no retry asked for
        (
            errors.object_modified(errors.IMAGESTREAMS, "web"),
            409,
            {"name": "web", "group": "image.openshift.io", "kind": "imagestreams"},
            None,
        ),
    ],
    ids=["server-timeout", "generate-name-conflict", "conflict"],
)
def test_request_errors_carry_their_details_and_retry_after(
    error: errors.RequestError, code: int, details: dict[str, Any], retry_after: str | None
) -> None:
    answer = for_request_error(error)

    body = json.loads(answer.body)
    assert (answer.status_code, body["code"], body["details"]) == (code, code, details)
    assert answer.headers.get("Retry-After") == retry_after

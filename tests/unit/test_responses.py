"""Answers within what a Lambda function may return."""

from __future__ import annotations

import json
from typing import Any

import pytest

from imagestreams.api.responses import FUNCTION_RESPONSE_LIMIT, within_response_limit


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

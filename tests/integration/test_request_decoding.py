"""Request decoding through the real api handler: codes, Status bodies and Warning headers."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from testkit.api import Api, image_spec, import_body
from testkit.events import load_event, with_body, with_header, with_namespace, with_query
from testkit.registry import Registry


def create_event(body: Any, content_type: str | None = "application/json") -> dict[str, Any]:
    event = with_namespace(load_event("api-import-single.json"), "demo")
    event = with_body(event, body) if not isinstance(body, str) else {**event, "body": body}
    return with_header(event, "Content-Type", content_type)


@pytest.mark.parametrize(
    ("body", "content_type", "query", "code", "reason", "message"),
    [
        (
            {**import_body(image_spec("busybox")), "spec": {"import": "yes"}},
            "application/json",
            {},
            400,
            "BadRequest",
            'ImageStreamImport in version "v1" cannot be handled as a ImageStreamImport: json:'
            " cannot unmarshal string into Go struct field ImageStreamImportSpec.spec.import"
            " of type bool",
        ),
        (
            import_body(image_spec("busybox")),
            "text/plain",
            {},
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include:"
            " application/json, application/yaml",
        ),
        (
            {**import_body(image_spec("busybox")), "surprise": 1},
            "application/json",
            {"fieldValidation": ["Strict"]},
            400,
            "BadRequest",
            'ImageStreamImport in version "v1" cannot be handled as a ImageStreamImport:'
            ' strict decoding error: unknown field "surprise"',
        ),
        (
            import_body(image_spec("busybox")),
            "application/json",
            {"dryRun": ["true"]},
            422,
            "Invalid",
            'CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: ["true"]:'
            ' supported values: "All"',
        ),
    ],
    ids=["import-yes", "text-plain", "strict-unknown-field", "bad-dry-run"],
)
def test_requests_the_api_server_would_refuse_are_refused_with_its_status(
    api: Api,
    body: Any,
    content_type: str,
    query: dict[str, list[str]],
    code: int,
    reason: str,
    message: str,
) -> None:
    reply = api.invoke(with_query(create_event(body, content_type), **query))

    assert (reply.status, reply.body["kind"], reply.body["status"]) == (code, "Status", "Failure")
    assert (reply.body["code"], reply.body["reason"], reply.body["message"]) == (
        code,
        reason,
        message,
    )


def test_invalid_options_name_the_meta_group(api: Api) -> None:
    event = with_query(create_event(import_body(image_spec("busybox"))), fieldValidation=["x"])

    reply = api.invoke(event)

    assert reply.body["details"] == {
        "group": "meta.k8s.io",
        "kind": "CreateOptions",
        "causes": [
            {
                "reason": "FieldValueNotSupported",
                "message": 'Unsupported value: "x": supported values: "", "Ignore", "Strict",'
                ' "Warn"',
                "field": "fieldValidation",
            }
        ],
    }


def test_unknown_fields_come_back_as_warning_headers(
    api: Api, anon_registry: Registry, push_image: Any
) -> None:
    # Given an import request with two fields the API does not know
    pushed = push_image(anon_registry, tag="v1")
    body = import_body(image_spec(pushed.pull_spec, surprise=True))
    body["spec"]["extra"] = 1

    # When it is created with the default field validation
    reply = api.invoke(create_event(body))

    # Then it succeeds, with one Warning header per unknown field
    assert reply.status == 201
    assert reply.raw["multiValueHeaders"]["Warning"] == [
        '299 - "unknown field \\"spec.images[0].surprise\\""',
        '299 - "unknown field \\"spec.extra\\""',
    ]


def test_a_yaml_request_imports_as_its_json_does(
    api: Api, anon_registry: Registry, push_image: Any
) -> None:
    pushed = push_image(anon_registry, tag="v1")
    body = import_body(image_spec(pushed.pull_spec))

    from_yaml = api.invoke(create_event(yaml.safe_dump(body), "application/yaml"))
    from_json = api.invoke(create_event(json.dumps(body)))

    assert (from_yaml.status, from_json.status) == (201, 201)
    assert "Warning" not in from_yaml.raw.get("multiValueHeaders", {})
    assert from_yaml.body["status"]["images"][0]["image"]["metadata"]["name"] == pushed.digest
    assert from_yaml.body["spec"] == from_json.body["spec"]

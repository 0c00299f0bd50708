"""Bounded JSON decoding, and every registry document parser that relies on it.

Each parser of a document a registry (or a caller) sends must turn a document
nested far deeper than the interpreter's recursion limit into its own error,
never a ``RecursionError``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from imagestreams import jsondoc
from imagestreams.errors import ProtocolError, UnsupportedContentError
from imagestreams.imports import images
from imagestreams.registry import answers, auth, media
from imagestreams.registry.transport import HttpResponse

DEEP = 100_000


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def nested_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (nested(jsondoc.MAX_DEPTH), json.loads(nested(jsondoc.MAX_DEPTH))),
        ('{"a": "[[[[[[[["}', {"a": "[[[[[[[["}),
        ('["' + "[" * 500 + '"]', ["[" * 500]),
        ('["\\"[[[' + "[" * 500 + '"]', ['"[[[' + "[" * 500]),
        ('{"k": "a\\u00e9\\ud83d\\ude00"}', {"k": "a\u00e9\U0001f600"}),
    ],
    ids=[
        "at-the-limit",
        "brackets-in-strings",
        "many-brackets-in-a-string",
        "escaped-quote",
        "pair",
    ],
)
def test_documents_within_the_bounds_decode_as_json_does(text: str, expected: Any) -> None:
    assert jsondoc.loads(text) == expected
    assert jsondoc.loads(text.encode()) == expected


@pytest.mark.parametrize(
    "text",
    [nested(jsondoc.MAX_DEPTH + 1), nested(DEEP), nested_object(DEEP), "[" * DEEP],
    ids=["one-too-deep", "deep-arrays", "deep-objects", "unclosed"],
)
def test_documents_nested_too_deep_are_a_value_error(text: str) -> None:
    with pytest.raises(jsondoc.DocumentTooDeepError, match="nested more than 100 levels"):
        jsondoc.loads(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"\\ud800"', "\ufffd"),
        ('"a\\udc00b"', "a\ufffdb"),
        ('{"\\uDBFF": ["\\ud800\\ud800"]}', {"\ufffd": ["\ufffd\ufffd"]}),
        ('"\\ud83d\\ude00\\ud83d"', "\U0001f600\ufffd"),
    ],
    ids=["lone-high", "lone-low", "in-keys-and-lists", "pair-then-lone"],
)
def test_lone_surrogates_become_replacement_characters(text: str, expected: Any) -> None:
    decoded = jsondoc.loads(text)
    assert decoded == expected
    json.dumps(decoded, ensure_ascii=False).encode("utf-8")  # storable


@pytest.mark.parametrize(
    "data",
    [b'"\xed\xa0\x80"', b'"\xff"', b"\xef\xbb\xbf["],
    ids=["encoded-surrogate", "invalid-utf8", "bom-then-garbage"],
)
def test_bytes_that_are_not_utf8_json_are_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        jsondoc.loads(data)


def _schema1_with_deep_history() -> bytes:
    return json.dumps(
        {
            "schemaVersion": 1,
            "name": "ns/app",
            "tag": "latest",
            "architecture": "amd64",
            "fsLayers": [{"blobSum": "sha256:" + "a" * 64}],
            "history": [{"v1Compatibility": nested_object(DEEP)}],
        }
    ).encode()


def _parse_schema1(raw: bytes) -> None:
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    images.image_from_manifest(
        digest=digest,
        raw=raw,
        media_type=media.DOCKER_SCHEMA1,
        config=None,
        include_manifest=False,
    )


def _config(raw: bytes) -> None:
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media.OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + hashlib.sha256(raw).hexdigest(),
                "size": len(raw),
            },
            "layers": [],
        }
    ).encode()
    images.image_from_manifest(
        digest="sha256:" + hashlib.sha256(manifest).hexdigest(),
        raw=manifest,
        media_type=media.OCI_MANIFEST,
        config=raw,
        include_manifest=False,
    )


PARSERS: list[tuple[str, Callable[[bytes], object], type[Exception]]] = [
    ("manifest-sniffing", lambda raw: media.sniff_media_type(raw, None), UnsupportedContentError),
    ("schema1-body", media.schema1_payload, UnsupportedContentError),
    ("token-answer", lambda raw: auth.parse_token_response(raw, 0.0), ProtocolError),
    ("config-blob", _config, UnsupportedContentError),
]


@pytest.mark.parametrize(
    ("parser", "error"), [(p, e) for _, p, e in PARSERS], ids=[i for i, _, _ in PARSERS]
)
def test_registry_documents_nested_too_deep_are_registry_errors(
    parser: Callable[[bytes], object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        parser(nested_object(DEEP).encode())


def test_a_deep_v1_compatibility_entry_is_unsupported_content() -> None:
    with pytest.raises(UnsupportedContentError):
        _parse_schema1(_schema1_with_deep_history())


def test_a_deep_error_body_is_classified_by_its_status() -> None:
    response = HttpResponse(404, {}, nested_object(DEEP).encode(), "https://r.example/v2/")

    error = answers.error_for(response, "manifest latest")

    assert error.http_status == 404
    assert "registry answered 404" in str(error)

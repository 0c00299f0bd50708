"""OpenAPI v2 and v3 documents of ``image.openshift.io/v1``, generated from the models.

Owns ``/openapi/v2`` (Swagger 2.0), the ``/openapi/v3`` index and
``/openapi/v3/apis/image.openshift.io/v1``: each document is the schemas of
``imagestreams.api.openapi_schemas`` (from the same pydantic models that
decode requests and write answers) and the paths of
``imagestreams.api.openapi_paths`` (from the resource declarations in
``imagestreams.api.discovery``), with the API's info and security.

``/openapi/v2`` is also served as protobuf (``imagestreams.api.protobuf``),
the form client-go asks for: kubectl validates a manifest against it when
the kind's PATCH (which imports have not) does not take ``fieldValidation``.

Pure: each document is built once per process, on first use.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from imagestreams.api import protobuf
from imagestreams.api.discovery import GROUP_VERSION, JSON, VERSION, Document, media_ranges
from imagestreams.api.openapi_paths import paths
from imagestreams.api.openapi_schemas import definitions

#: What client-go asks ``/openapi/v2`` for (``OpenAPISchema``), and nothing else.
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
#: The same encoding under the name an API server answers with, whichever was asked for.
V2_PROTOBUF_ANSWERED = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
V3_PATH = f"apis/{GROUP_VERSION}"

_INFO = {"title": "OpenShift image API (image.openshift.io)", "version": VERSION}
_BEARER = {
    "type": "apiKey",
    "name": "authorization",
    "in": "header",
    "description": "Bearer Token authentication",
}


def _text(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


@functools.cache
def v2() -> Document:
    """``/openapi/v2``: the Swagger 2.0 document of the API."""
    prefix = "#/definitions/"
    return Document(
        _text(
            {
                "swagger": "2.0",
                "info": dict(_INFO),
                "paths": paths(prefix, v3=False),
                "definitions": definitions(prefix, v3=False),
                "securityDefinitions": {"BearerToken": dict(_BEARER)},
                "security": [{"BearerToken": []}],
            }
        ),
        JSON,
    )


@functools.cache
def v3_group_version() -> Document:
    """``/openapi/v3/apis/image.openshift.io/v1``: the OpenAPI 3.0 document of the group version."""
    prefix = "#/components/schemas/"
    return Document(
        _text(
            {
                "openapi": "3.0.0",
                "info": dict(_INFO),
                "paths": paths(prefix, v3=True),
                "components": {
                    "schemas": definitions(prefix, v3=True),
                    "securitySchemes": {"BearerToken": copy.deepcopy(_BEARER)},
                },
                "security": [{"BearerToken": []}],
            }
        ),
        JSON,
    )


def v3_hash(document: Document) -> str:
    """The hash the index gives a document: SHA-512 of its text, upper-case hex, as upstream."""
    return hashlib.sha512(document.data).hexdigest().upper()


@functools.cache
def v3_index() -> Document:
    """``/openapi/v3``: where each group version's document is, with its content hash."""
    url = f"/openapi/v3/{V3_PATH}?hash={v3_hash(v3_group_version())}"
    return Document(_text({"paths": {V3_PATH: {"serverRelativeURL": url}}}), JSON)


@functools.cache
def v2_protobuf() -> Document:
    """``/openapi/v2`` as gnostic's ``openapi.v2.Document``: the JSON document re-encoded."""
    return Document(protobuf.encode(json.loads(v2().body)), V2_PROTOBUF_ANSWERED)


#: What ``/openapi/v2`` answers for each media range, as the API server's handler matches them.
_V2_FORMS: dict[str, Callable[[], Document]] = {
    JSON: v2,
    "application/*": v2,
    "*/*": v2,
    V2_PROTOBUF: v2_protobuf,
    V2_PROTOBUF_ANSWERED: v2_protobuf,
}


def v2_for(accept: str | None) -> Document | None:
    """``/openapi/v2`` in the first form ``accept`` takes (by quality, then order), or None.

    No ``Accept`` is JSON; a range of quality 0 is refused.
    """
    ranges = [(media, _quality(params)) for media, params in media_ranges(accept or "*/*")]
    for media, quality in sorted(ranges, key=lambda item: -item[1]):
        form = _V2_FORMS.get(media)
        if form is not None and quality > 0:
            return form()
    return None


def _quality(params: dict[str, str]) -> float:
    try:
        return float(params.get("q", "1"))
    except ValueError:
        return 0.0

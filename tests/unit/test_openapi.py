"""The OpenAPI documents: generated from the models, every kind findable by its GVK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from imagestreams.api import openapi, protobuf
from imagestreams.api.discovery import RESOURCES, Resource

V2_PREFIX = "#/definitions/"
V3_PREFIX = "#/components/schemas/"
IMAGE = "com.github.openshift.api.image.v1"
META = "io.k8s.apimachinery.pkg.apis.meta.v1"


def v2() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(openapi.v2().body)
    return result


def v3() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(openapi.v3_group_version().body)
    return result


def schemas_of(document: dict[str, Any]) -> dict[str, Any]:
    if "definitions" in document:
        result: dict[str, Any] = document["definitions"]
    else:
        result = document["components"]["schemas"]
    return result


DOCUMENTS = [
    pytest.param(v2, V2_PREFIX, id="v2"),
    pytest.param(v3, V3_PREFIX, id="v3"),
]


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from keys(item)


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                yield path, method, operation


@pytest.mark.parametrize(("load", "prefix"), DOCUMENTS)
def test_every_ref_resolves(load: Any, prefix: str) -> None:
    document = load()
    schemas = schemas_of(document)

    found = list(refs(document))
    assert found
    for ref in found:
        assert ref.startswith(prefix), ref
        assert ref.removeprefix(prefix) in schemas, ref


@pytest.mark.parametrize(("load", "prefix"), DOCUMENTS)
def test_schemas_are_in_the_kubernetes_dialect(load: Any, prefix: str) -> None:
    document = load()

    found = set(keys(schemas_of(document)))
    # No pydantic leftovers: titles, defaults, nullable unions, $defs.
    assert not {"title", "anyOf", "$defs", "default"} & found
    assert f"{META}.ObjectMeta" in schemas_of(document)
    assert "io.k8s.api.core.v1.ObjectReference" in schemas_of(document)


@pytest.mark.parametrize(("load", "prefix"), DOCUMENTS)
@pytest.mark.parametrize("resource", RESOURCES, ids=lambda resource: resource.plural)
def test_every_declared_kind_carries_its_gvk(load: Any, prefix: str, resource: Resource) -> None:
    schemas = schemas_of(load())

    kinds = [resource.kind] + ([resource.list_kind] if resource.list_kind else [])
    for kind in kinds:
        assert schemas[f"{IMAGE}.{kind}"]["x-kubernetes-group-version-kind"] == [
            {"group": "image.openshift.io", "kind": kind, "version": "v1"}
        ]
    assert schemas[f"{META}.Status"]["x-kubernetes-group-version-kind"] == [
        {"group": "", "kind": "Status", "version": "v1"}
    ]


@pytest.mark.parametrize(("load", "prefix"), DOCUMENTS)
def test_schemas_follow_the_models(load: Any, prefix: str) -> None:
    schemas = schemas_of(load())

    spec = schemas[f"{IMAGE}.ImageStreamImportSpec"]
    image_spec = schemas[f"{IMAGE}.ImageImportSpec"]
    assert set(spec["properties"]) == {"import", "repository", "images"}
    assert spec["properties"]["import"] == {"type": "boolean"}
    assert spec["properties"]["images"]["items"] == {"$ref": f"{prefix}{IMAGE}.ImageImportSpec"}
    assert "from" in image_spec["properties"]
    assert "description" in spec
    assert "``" not in json.dumps(schemas)
    assert schemas[f"{IMAGE}.TagEvent"]["required"] == ["created"]


EXPECTED_OPERATIONS = {
    # kubectl get is -A
    ("/apis/image.openshift.io/v1/imagestreams", "get"): ("list", "ImageStream"),
    ("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreamimports", "post"): (
        "post",
        "ImageStreamImport",
    ),
    ("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreamimports/{name}", "get"): (
        "get",
        "ImageStreamImport",
    ),
    ("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams", "get"): (
        "list",
        "ImageStream",
    ),
    ("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams/{name}", "get"): (
        "get",
        "ImageStream",
    ),
    ("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams/{name}", "delete"): (
        "delete",
        "ImageStream",
    ),
    ("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreamtags", "get"): (
        "list",
        "ImageStreamTag",
    ),
    ("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreamtags", "post"): (
        "post",
        "ImageStreamTag",
    ),
    ("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreamtags/{name}", "get"): (
        "get",
        "ImageStreamTag",
    ),
    ("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreamtags/{name}", "put"): (
        "put",
        "ImageStreamTag",
    ),
    ("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreamtags/{name}", "delete"): (
        "delete",
        "ImageStreamTag",
    ),
    ("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreamtags/{name}", "patch"): (
        "patch",
        "ImageStreamTag",
    ),
    ("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreamimages/{name}", "get"): (
        "get",
        "ImageStreamImage",
    ),
    ("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams", "post"): (
        "post",
        "ImageStream",
    ),
    ("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams/{name}", "put"): (
        "put",
        "ImageStream",
    ),
    ("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams/{name}", "patch"): (
        "patch",
        "ImageStream",
    ),
}


@pytest.mark.parametrize(("load", "prefix"), DOCUMENTS)
def test_paths_are_the_routes_with_their_actions(load: Any, prefix: str) -> None:
    document = load()

    found = {
        (path, method): (
            operation["x-kubernetes-action"],
            operation["x-kubernetes-group-version-kind"]["kind"],
        )
        for path, method, operation in operations(document)
    }
    assert found == EXPECTED_OPERATIONS
    for _, _, operation in operations(document):
        assert operation["x-kubernetes-group-version-kind"]["group"] == "image.openshift.io"
        assert operation["operationId"]


def _query_parameters(operation: dict[str, Any]) -> set[str]:
    return {param["name"] for param in operation["parameters"] if param["in"] == "query"}


@pytest.mark.parametrize(("load", "prefix"), DOCUMENTS)
@pytest.mark.parametrize(
    ("path", "method", "expected"),
    [
        pytest.param(
            "/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreamimports",
            "post",
            {"dryRun", "fieldValidation", "fieldManager"},
            id="create",
        ),
        pytest.param(
            "/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams",
            "get",
            {"limit", "continue", "labelSelector", "fieldSelector", "watch", "timeoutSeconds"},
            id="list",
        ),
        pytest.param(
            "/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams/{name}",
            "delete",
            {"dryRun"},
            id="delete",
        ),
    ],
)
def test_operations_take_the_query_parameters_the_routes_honour(
    load: Any, prefix: str, path: str, method: str, expected: set[str]
) -> None:
    item = load()["paths"][path]

    assert _query_parameters(item[method]) == expected
    assert {param["name"] for param in item["parameters"]} >= {"namespace", "pretty"}


def test_v2_and_v3_parameters_have_their_own_forms() -> None:
    create = "/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreamimports"
    v2_op, v3_op = v2()["paths"][create]["post"], v3()["paths"][create]["post"]

    v2_validation = next(p for p in v2_op["parameters"] if p["name"] == "fieldValidation")
    v3_validation = next(p for p in v3_op["parameters"] if p["name"] == "fieldValidation")
    assert v2_validation["type"] == "string"
    assert v3_validation["schema"]["type"] == "string"
    assert any(p["in"] == "body" for p in v2_op["parameters"])
    assert v3_op["requestBody"]["required"] is True
    assert v2()["swagger"] == "2.0"
    assert v3()["openapi"].startswith("3.0")


def test_v3_index_points_at_the_document_by_its_hash() -> None:
    index = json.loads(openapi.v3_index().body)

    entry = index["paths"]["apis/image.openshift.io/v1"]
    url, _, query = entry["serverRelativeURL"].partition("?")
    assert url == "/openapi/v3/apis/image.openshift.io/v1"
    assert query == f"hash={openapi.v3_hash(openapi.v3_group_version())}"
    assert len(openapi.v3_hash(openapi.v3_group_version())) == 128


PROTOBUF_ANSWER = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


@pytest.mark.parametrize(
    ("accept", "answered"),
    [
        pytest.param(openapi.V2_PROTOBUF, PROTOBUF_ANSWER, id="client-go-protobuf"),
        pytest.param(PROTOBUF_ANSWER, PROTOBUF_ANSWER, id="protobuf-dotted-name"),
        pytest.param(f"{openapi.V2_PROTOBUF}, application/json", PROTOBUF_ANSWER, id="proto-first"),
        pytest.param(
            f"application/json, {openapi.V2_PROTOBUF}", "application/json", id="json-first"
        ),
        pytest.param(
            f"application/json;q=0.5, {openapi.V2_PROTOBUF}", PROTOBUF_ANSWER, id="by-quality"
        ),
        pytest.param("application/json", "application/json", id="json"),
        pytest.param("application/*", "application/json", id="any-application"),
        pytest.param("*/*", "application/json", id="anything"),
        pytest.param(None, "application/json", id="no-accept"),
        pytest.param("application/yaml", None, id="yaml"),
        pytest.param("application/vnd.kubernetes.protobuf", None, id="kubernetes-protobuf"),
        pytest.param(f"{openapi.V2_PROTOBUF};q=0", None, id="refused-by-quality"),
    ],
)
def test_v2_answers_the_first_form_the_client_takes(
    accept: str | None, answered: str | None
) -> None:
    document = openapi.v2_for(accept)

    assert (document and document.content_type) == answered


def test_v2_protobuf_is_the_json_document_re_encoded() -> None:
    assert openapi.v2_protobuf().data == protobuf.encode(v2())
    assert openapi.v2_protobuf().etag != openapi.v2().etag


def test_documents_are_built_once() -> None:
    assert openapi.v2() is openapi.v2()
    assert openapi.v2_protobuf() is openapi.v2_protobuf()
    assert openapi.v3_index() is openapi.v3_index()


@pytest.mark.parametrize(("load", "prefix"), DOCUMENTS)
def test_the_cluster_wide_list_is_listed_for_every_namespace(load: Any, prefix: str) -> None:
    operation = load()["paths"]["/apis/image.openshift.io/v1/imagestreams"]["get"]

    assert operation["operationId"] == "listImageOpenshiftIoV1ImageStreamForAllNamespaces"
    names = [p.get("name") for p in operation["parameters"]]
    assert "namespace" not in names
    assert {"labelSelector", "fieldSelector", "limit", "continue", "watch"} <= set(names)

"""ImageStreamTags and ImageStreamImages through the real handler.

Streams imported from a real registry; DynamoDB tables made from
``template.yaml`` under moto. Each verb, the errors OpenShift words, and
the Table ``kubectl get istag`` asks for.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from testkit.api import Api, image_spec, import_body
from testkit.events import load_event, with_body, with_header, with_namespace
from testkit.registry import Registry

TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
BASE = "/apis/image.openshift.io/v1/namespaces"


def request(
    api: Api,
    resource: str,
    name: str | None = None,
    *,
    method: str = "GET",
    namespace: str = "demo",
    query: dict[str, str] | None = None,
    accept: str | None = None,
    body: Any = None,
    grant: str = "path",
    content_type: str | None = None,
) -> Any:
    """A request to ``resource`` (or one ``name`` of it), as API Gateway passes it."""
    event = copy.deepcopy(with_namespace(load_event("api-get-stream.json"), namespace))
    path = f"{BASE}/{namespace}/{resource}" + (f"/{name}" if name is not None else "")
    template = f"{BASE}/{{namespace}}/{resource}" + ("/{name}" if name is not None else "")
    event.update(path=path, resource=template, httpMethod=method)
    event["requestContext"].update(path=path, resourcePath=template, httpMethod=method)
    event["pathParameters"] = {"namespace": namespace, **({"name": name} if name else {})}
    event["queryStringParameters"] = query or None
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()} or None
    if accept:
        event["headers"]["Accept"] = accept
        event["multiValueHeaders"]["Accept"] = [accept]
    if body is not None:
        event = with_body(event, body)
    if content_type is not None:
        event = with_header(event, "Content-Type", content_type)
    return api.invoke(event, grant=grant)


@pytest.fixture
def imported(api: Api, anon_registry: Registry, push_image: Any) -> dict[str, Any]:
    """Stream ``web`` of namespace demo with tag ``latest`` imported from a registry."""
    pushed = push_image(anon_registry, via="api")
    body = import_body(image_spec(pushed.pull_spec, to={"name": "latest"}), name="web")
    body["spec"]["import"] = True
    reply = api.post_import("demo", body)
    assert reply.status == 201, reply.body
    stream: dict[str, Any] = reply.body["status"]["import"]
    return stream


def test_get_a_tag(api: Api, imported: dict[str, Any]) -> None:
    # When the tag is read
    reply = request(api, "imagestreamtags", "web:latest")

    # Then it is the tag with its image whole
    assert reply.status == 200, reply.body
    event = imported["status"]["tags"][0]["items"][0]
    assert reply.body["kind"] == "ImageStreamTag"
    assert reply.body["apiVersion"] == "image.openshift.io/v1"
    assert reply.body["metadata"]["name"] == "web:latest"
    assert reply.body["tag"]["from"] == imported["spec"]["tags"][0]["from"]
    assert reply.body["image"]["metadata"]["name"] == event["image"]
    assert reply.body["image"]["dockerImageReference"] == event["dockerImageReference"]
    assert reply.body["image"]["dockerImageMetadata"]["kind"] == "DockerImage"


def test_list_tags_as_list_and_table(api: Api, imported: dict[str, Any]) -> None:
    # When the tags are listed, as JSON and as kubectl's Table
    listed = request(api, "imagestreamtags")
    table = request(api, "imagestreamtags", accept=TABLE_ACCEPT)

    # Then both show the one tag, the Table with oc's columns
    assert listed.status == 200, listed.body
    assert listed.body["kind"] == "ImageStreamTagList"
    assert [i["metadata"]["name"] for i in listed.body["items"]] == ["web:latest"]
    # The list's version is one a watch of tags resumes from.
    assert int(listed.body["metadata"]["resourceVersion"]) > 0
    assert table.status == 200, table.body
    assert [c["name"] for c in table.body["columnDefinitions"]] == [
        "Name",
        "Image Reference",
        "Updated",
        "Image Name",
    ]
    assert [c["priority"] for c in table.body["columnDefinitions"]] == [0, 0, 0, 1]
    [row] = table.body["rows"]
    event = imported["status"]["tags"][0]["items"][0]
    assert row["cells"][0] == "web:latest"
    assert row["cells"][1] == event["dockerImageReference"]
    assert row["cells"][2].endswith(" ago")
    assert row["cells"][3] == event["image"]
    assert row["object"]["kind"] == "PartialObjectMetadata"


def test_get_an_image_by_digest_and_as_table(api: Api, imported: dict[str, Any]) -> None:
    # Given the digest of the stream's image
    digest = imported["status"]["tags"][0]["items"][0]["image"]

    # When it is read, as JSON and as a Table
    reply = request(api, "imagestreamimages", f"web@{digest}")
    table = request(api, "imagestreamimages", f"web@{digest}", accept=TABLE_ACCEPT)

    # Then it is the image
    assert reply.status == 200, reply.body
    assert reply.body["kind"] == "ImageStreamImage"
    assert reply.body["metadata"]["name"] == f"web@{digest}"
    assert reply.body["image"]["metadata"]["name"] == digest
    assert [c["name"] for c in table.body["columnDefinitions"]] == [
        "Name",
        "Updated",
        "Image Reference",
        "Image Name",
    ]
    assert table.body["rows"][0]["cells"][3] == digest


def test_delete_a_tag_dry_run_then_for_real(api: Api, imported: dict[str, Any]) -> None:
    # When the tag is deleted as a dry run, then for real, then again
    dry = request(api, "imagestreamtags", "web:latest", method="DELETE", query={"dryRun": "All"})
    kept = request(api, "imagestreamtags", "web:latest")
    deleted = request(api, "imagestreamtags", "web:latest", method="DELETE")
    again = request(api, "imagestreamtags", "web:latest", method="DELETE")
    stream = request(api, "imagestreams", "web")

    # Then the dry run kept it, the delete removed it from the stream, and again is 404
    assert dry.status == 200, dry.body
    assert kept.status == 200
    assert deleted.status == 200, deleted.body
    assert deleted.body["status"] == "Success"
    assert "tags" not in stream.body["spec"]
    assert "tags" not in stream.body["status"]
    assert again.status == 404
    assert again.body["message"] == 'imagestreamtags.image.openshift.io "web:latest" not found'
    assert again.body["details"] == {
        "name": "web:latest",
        "group": "image.openshift.io",
        "kind": "imagestreamtags",
    }


ERRORS = [
    ("tag-without-colon", "imagestreamtags", "web", "GET", 400, "BadRequest"),
    ("missing-tag", "imagestreamtags", "web:none", "GET", 404, "NotFound"),
    ("missing-stream", "imagestreamtags", "nope:latest", "GET", 404, "NotFound"),
    ("image-without-at", "imagestreamimages", "web", "GET", 400, "BadRequest"),
    ("image-not-in-history", "imagestreamimages", "web@sha256:" + "0" * 64, "GET", 404, "NotFound"),
    ("patch-tags", "imagestreamtags", None, "PATCH", 405, "MethodNotAllowed"),
    ("delete-tags", "imagestreamtags", None, "DELETE", 405, "MethodNotAllowed"),
    ("list-images", "imagestreamimages", None, "GET", 405, "MethodNotAllowed"),
    ("delete-image", "imagestreamimages", "web@sha256:abc", "DELETE", 405, "MethodNotAllowed"),
]


@pytest.mark.parametrize(
    ("resource", "name", "method", "code", "reason"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_errors_are_the_api_servers(
    api: Api,
    imported: dict[str, Any],
    resource: str,
    name: str | None,
    method: str,
    code: int,
    reason: str,
) -> None:
    reply = request(api, resource, name, method=method)

    assert reply.status == code, reply.body
    assert reply.body["kind"] == "Status"
    assert reply.body["reason"] == reason


def test_another_namespace_is_forbidden(api: Api, imported: dict[str, Any]) -> None:
    reply = request(api, "imagestreamtags", "web:latest", namespace="demo", grant="other")

    assert reply.status == 403, reply.body
    assert reply.body["message"] == (
        'imagestreamtags.image.openshift.io "web:latest" is forbidden: User "tester" cannot '
        'get resource "imagestreamtags" in API group "image.openshift.io" in the namespace "demo"'
    )

"""Creating and updating ImageStreamTags through the real handler.

A tag pointing at a DockerImage on a real registry is imported; one pointing
at another ImageStreamTag or an ImageStreamImage of the namespace records
that image. DynamoDB tables made from ``template.yaml`` under moto.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from testkit.api import Api
from testkit.events import load_event, with_body, with_name
from testkit.registry import Registry
from tests.integration.test_stream_tags import request


def istag(name: str, kind: str, source: str, **metadata: Any) -> dict[str, Any]:
    return {
        "kind": "ImageStreamTag",
        "apiVersion": "image.openshift.io/v1",
        "metadata": {"name": name, **metadata},
        "tag": {"from": {"kind": kind, "name": source}},
    }


@pytest.fixture
def pushed(anon_registry: Registry, push_image: Any) -> Any:
    return push_image(anon_registry, via="api")


@pytest.fixture
def tagged(api: Api, pushed: Any) -> dict[str, Any]:
    """``web:latest`` created as an ImageStreamTag of the pushed image."""
    reply = request(
        api,
        "imagestreamtags",
        method="POST",
        body=istag("web:latest", "DockerImage", pushed.pull_spec),
    )
    assert reply.status == 201, reply.body
    body: dict[str, Any] = reply.body
    return body


def test_create_imports_the_docker_image(api: Api, tagged: dict[str, Any], pushed: Any) -> None:
    # Then the answer is the tag as a get shows it, its image imported
    assert tagged["kind"] == "ImageStreamTag"
    assert tagged["metadata"]["name"] == "web:latest"
    assert tagged["image"]["metadata"]["name"] == pushed.digest
    assert tagged["tag"]["from"] == {"kind": "DockerImage", "name": pushed.pull_spec}
    got = request(api, "imagestreamtags", "web:latest")
    assert got.body == tagged


@pytest.mark.parametrize(
    ("kind", "source"),
    [("ImageStreamTag", "web:latest"), ("ImageStreamTag", "latest"), ("ImageStreamImage", "web@")],
    ids=["stream-and-tag", "tag-of-the-same-stream", "image-by-digest"],
)
def test_a_tag_of_another_tag_or_image_records_its_image(
    api: Api, tagged: dict[str, Any], pushed: Any, kind: str, source: str
) -> None:
    if source.endswith("@"):
        source += pushed.digest

    reply = request(api, "imagestreamtags", method="POST", body=istag("web:alias", kind, source))

    assert reply.status == 201, reply.body
    assert reply.body["image"]["metadata"]["name"] == pushed.digest
    listed = request(api, "imagestreamtags")
    assert {
        i["metadata"]["name"]: i["image"]["metadata"]["name"] for i in listed.body["items"]
    } == {
        "web:alias": pushed.digest,
        "web:latest": pushed.digest,
    }


def test_dry_run_writes_nothing(api: Api, tagged: dict[str, Any]) -> None:
    reply = request(
        api,
        "imagestreamtags",
        method="POST",
        query={"dryRun": "All"},
        body=istag("web:alias", "ImageStreamTag", "web:latest"),
    )

    assert reply.status == 201, reply.body
    assert request(api, "imagestreamtags", "web:alias").status == 404


def test_update_with_the_current_version_then_a_stale_one(
    api: Api, tagged: dict[str, Any], pushed: Any
) -> None:
    # Given the tag as read, with an annotation added
    body = request(api, "imagestreamtags", "web:latest").body
    body["metadata"]["annotations"] = {"team": "web"}

    # When it is PUT, then PUT again with the version it had
    first = request(api, "imagestreamtags", "web:latest", method="PUT", body=body)
    second = request(api, "imagestreamtags", "web:latest", method="PUT", body=body)

    # Then the first is applied (not a new tag), the second is a Conflict
    assert first.status == 200, first.body
    assert first.body["metadata"]["annotations"] == {"team": "web"}
    assert first.body["tag"]["annotations"] == {"team": "web"}
    assert first.body["image"]["metadata"]["name"] == pushed.digest
    assert second.status == 409, second.body
    assert second.body["reason"] == "Conflict"
    version = first.body["metadata"]["resourceVersion"]
    assert second.body["message"] == (
        'Operation cannot be fulfilled on imagestreamtags.image.openshift.io "web:latest": '
        f"another caller has updated the resource version to {version}"
    )


def test_update_of_a_new_tag_creates_it(api: Api, tagged: dict[str, Any]) -> None:
    reply = request(
        api,
        "imagestreamtags",
        "web:alias",
        method="PUT",
        body=istag("web:alias", "ImageStreamTag", "latest"),
    )

    assert reply.status == 201, reply.body


ERRORS = [
    (
        "existing-tag",
        istag("web:latest", "ImageStreamTag", "latest"),
        409,
        "AlreadyExists",
        'imagestreamtag.image.openshift.io "web:latest" already exists',
    ),
    (
        "missing-source-stream",
        istag("web:copy", "ImageStreamTag", "nope:latest"),
        422,
        "Invalid",
        'ImageStream.image.openshift.io "web" is invalid: '
        'spec.tags[copy].from.name: Not found: "nope:latest"',
    ),
    (
        "unsupported-kind",
        istag("web:copy", "Pod", "x"),
        422,
        "Invalid",
        'ImageStreamTag.image.openshift.io "web:copy" is invalid: tag.from.kind: Required value: '
        "valid values are 'DockerImage', 'ImageStreamImage', 'ImageStreamTag'",
    ),
    (
        "invalid-tag-name",
        istag("web:bad/tag", "ImageStreamTag", "latest"),
        422,
        "Invalid",
        None,
    ),
    (
        "unknown-field",
        {**istag("web:copy", "ImageStreamTag", "latest"), "spec": {}},
        400,
        "BadRequest",
        None,
    ),
]


@pytest.mark.parametrize(
    ("body", "code", "reason", "message"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_create_errors_are_the_api_servers(
    api: Api,
    tagged: dict[str, Any],
    body: dict[str, Any],
    code: int,
    reason: str,
    message: str | None,
) -> None:
    reply = request(
        api, "imagestreamtags", method="POST", body=body, query={"fieldValidation": "Strict"}
    )

    assert reply.status == code, reply.body
    assert reply.body["reason"] == reason
    if message is not None:
        assert reply.body["message"] == message


MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def patch_tag(api: Api, patch: Any, content_type: str = MERGE, name: str = "web:latest") -> Any:
    return request(
        api, "imagestreamtags", name, method="PATCH", body=patch, content_type=content_type
    )


@pytest.mark.parametrize(
    ("content_type", "patch"),
    [
        (MERGE, lambda spec: {"tag": {"from": {"name": spec}}}),
        (JSON_PATCH, lambda spec: [{"op": "replace", "path": "/tag/from/name", "value": spec}]),
    ],
    ids=["merge-patch", "json-patch"],
)
def test_a_patch_of_the_source_imports_the_new_image(
    api: Api,
    tagged: dict[str, Any],
    anon_registry: Registry,
    push_image: Any,
    content_type: str,
    patch: Any,
) -> None:
    # Given web:latest imported, and another image pushed as another tag
    other = push_image(anon_registry, tag="v2", via="api")

    # When the tag's source is patched to it
    reply = patch_tag(api, patch(other.pull_spec), content_type)

    # Then the new image is imported and the tag points at it, as a get shows it
    assert reply.status == 200, reply.body
    assert reply.body["tag"]["from"] == {"kind": "DockerImage", "name": other.pull_spec}
    assert reply.body["image"]["metadata"]["name"] == other.digest
    assert reply.body["tag"]["generation"] > tagged["tag"]["generation"]
    assert request(api, "imagestreamtags", "web:latest").body == reply.body


def test_a_patch_of_the_annotations_alone_moves_the_tags_too(
    api: Api, tagged: dict[str, Any], pushed: Any
) -> None:
    # When only metadata.annotations are patched, as kubectl apply records its configuration
    # (the document patched still carries the old tag.annotations), with the sample event
    applied = "kubectl.kubernetes.io/last-applied-configuration"
    patch = {"metadata": {"annotations": {applied: "{}", "team": "web"}}}
    reply = api.invoke(with_name(with_body(load_event("api-patch-tag.json"), patch), "web:latest"))

    # Then both places carry them (PrepareForUpdate), and nothing is imported again
    assert reply.status == 200, reply.body
    assert reply.body["metadata"]["annotations"] == {applied: "{}", "team": "web"}
    assert reply.body["tag"]["annotations"] == {applied: "{}", "team": "web"}
    assert reply.body["image"]["metadata"]["name"] == pushed.digest


PATCH_ERRORS = [
    ("missing-tag", "web:none", MERGE, {"tag": {}}, 404, "NotFound"),
    ("missing-stream", "nope:latest", MERGE, {"tag": {}}, 404, "NotFound"),
    ("invalid-kind", "web:latest", MERGE, {"tag": {"from": {"kind": "Pod"}}}, 422, "Invalid"),
    (
        "stale-version",
        "web:latest",
        MERGE,
        {"metadata": {"resourceVersion": "1"}},
        409,
        "Conflict",
    ),
    (
        "failed-test",
        "web:latest",
        JSON_PATCH,
        [{"op": "test", "path": "/tag/from/kind", "value": "ImageStreamTag"}],
        422,
        "Invalid",
    ),
    (
        "strategic",
        "web:latest",
        "application/strategic-merge-patch+json",
        {},
        415,
        "UnsupportedMediaType",
    ),
    ("not-json", "web:latest", MERGE, "{", 400, "BadRequest"),
]


@pytest.mark.parametrize(
    ("name", "content_type", "patch", "code", "reason"),
    [case[1:] for case in PATCH_ERRORS],
    ids=[case[0] for case in PATCH_ERRORS],
)
def test_patch_errors_are_the_api_servers(
    api: Api,
    tagged: dict[str, Any],
    name: str,
    content_type: str,
    patch: Any,
    code: int,
    reason: str | None,
) -> None:
    reply = patch_tag(api, patch, content_type, name=name)

    assert reply.status == code, reply.body
    assert reply.body["kind"] == "Status"
    assert reply.body.get("reason") == reason
    # The tag is as it was
    assert request(api, "imagestreamtags", "web:latest").body == tagged


def test_create_in_a_namespace_not_granted_is_forbidden(api: Api, pushed: Any) -> None:
    reply = request(
        api,
        "imagestreamtags",
        method="POST",
        body=istag("web:latest", "DockerImage", pushed.pull_spec),
        grant="other",
    )

    assert reply.status == 403, reply.body


def watch_events(reply: Any) -> list[tuple[str, str]]:
    assert reply.status == 200, reply.body
    events = [json.loads(line) for line in reply.content.decode().splitlines()]
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events]


def test_a_watch_of_tags_sends_the_tags_then_their_changes(
    api: Api, tagged: dict[str, Any]
) -> None:
    # Given the version of a list of tags, then a new alias tag, and web:latest deleted
    version = request(api, "imagestreamtags").body["metadata"]["resourceVersion"]
    alias = istag("web:alias", "ImageStreamTag", "latest")
    assert request(api, "imagestreamtags", method="POST", body=alias).status == 201
    assert request(api, "imagestreamtags", "web:latest", method="DELETE").status == 200

    # When a client watches from the start, and from that version
    fresh = request(api, "imagestreamtags", query={"watch": "true", "timeoutSeconds": "1"})
    query = {"watch": "true", "resourceVersion": version, "timeoutSeconds": "1"}
    resumed = request(api, "imagestreamtags", query={**query, "allowWatchBookmarks": "true"})

    # Then the first gets the tags there are; the second the tags changed, the tag deleted
    # before it began (from its tombstone) as it was, and a bookmark
    assert watch_events(fresh) == [("ADDED", "web:alias")]
    assert watch_events(resumed) == [
        ("MODIFIED", "web:alias"),
        ("DELETED", "web:latest"),
        ("BOOKMARK", ""),
    ]
    deleted = json.loads(resumed.content.decode().splitlines()[1])["object"]
    assert deleted["image"]["metadata"]["name"] == tagged["image"]["metadata"]["name"]

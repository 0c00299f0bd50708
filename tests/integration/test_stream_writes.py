"""ImageStream create, update and patch through the api handler.

Real handler, a real registry, DynamoDB tables made from ``template.yaml``
under moto; the sample events ``api-create-stream.json``,
``api-update-stream.json`` and ``api-patch-stream.json``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from testkit.api import Api, Reply
from testkit.events import load_event, with_body, with_name, with_query
from testkit.registry import Registry


def send(
    api: Api,
    event: str,
    body: Any,
    *,
    name: str | None = None,
    query: dict[str, str] | None = None,
    content_type: str | None = None,
) -> Reply:
    """The sample ``event`` with ``body`` (JSON unless a str), for object ``name``."""
    sample = with_body(load_event(event), body)
    if name:
        sample = with_name(sample, name)
    sample["queryStringParameters"] = query or None
    sample["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()} or None
    if content_type:
        sample["headers"]["Content-Type"] = content_type
        sample["multiValueHeaders"]["Content-Type"] = [content_type]
    return api.invoke(sample)


def new_stream(name: str, **tags: str) -> dict[str, Any]:
    return {
        "apiVersion": "image.openshift.io/v1",
        "kind": "ImageStream",
        "metadata": {"name": name},
        "spec": {
            "tags": [
                {"name": t, "from": {"kind": "DockerImage", "name": f}} for t, f in tags.items()
            ]
        },
    }


def statuses(stream: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["tag"]: entry for entry in stream["status"].get("tags", [])}


@pytest.fixture
def pulls(anon_registry: Registry, push_image: Any, unique_repo: Any) -> dict[str, str]:
    """Pull specs of two pushed tags, ``one`` and ``two``, of one repository."""
    repository = unique_repo("writes")
    return {
        tag: push_image(anon_registry, repository, tag, via="api").pull_spec
        for tag in ("one", "two")
    }


def test_create_then_update_imports_what_changed(api: Api, pulls: dict[str, str]) -> None:
    # When a stream naming tag one is created, with a status of the client's
    body = new_stream("web", one=pulls["one"])
    body["status"] = {"dockerImageRepository": "made.up/repo"}
    created = send(api, "api-create-stream.json", body)

    # Then it is 201 with tag one imported, and the status is the server's
    assert created.status == 201, created.body
    assert statuses(created.body)["one"]["items"][0]["image"].startswith("sha256:")
    assert created.body["status"]["dockerImageRepository"] == ""
    assert created.body["metadata"]["generation"] == 1

    # When it is updated with tag two added
    update = new_stream("web", one=pulls["one"], two=pulls["two"])
    update["metadata"]["resourceVersion"] = created.body["metadata"]["resourceVersion"]
    updated = send(api, "api-update-stream.json", update, name="web")

    # Then two is imported at generation 2, and one's history is as it was
    assert updated.status == 200, updated.body
    tags = statuses(updated.body)
    assert tags["two"]["items"][0]["generation"] == 2
    assert tags["one"]["items"] == statuses(created.body)["one"]["items"]


def test_a_stale_resource_version_is_409(api: Api) -> None:
    created = send(api, "api-create-stream.json", new_stream("web"))
    stale = new_stream("web")
    stale["metadata"]["resourceVersion"] = str(int(created.body["metadata"]["resourceVersion"]) + 5)

    reply = send(api, "api-update-stream.json", stale, name="web")

    assert reply.status == 409
    assert reply.body["reason"] == "Conflict"
    assert reply.body["details"] == {
        "name": "web",
        "group": "image.openshift.io",
        "kind": "imagestreams",
    }


def test_a_create_of_an_existing_stream_is_already_exists(api: Api) -> None:
    send(api, "api-create-stream.json", new_stream("web"))

    reply = send(api, "api-create-stream.json", new_stream("web"))

    assert reply.status == 409
    assert reply.body["reason"] == "AlreadyExists"
    assert reply.body["message"] == 'imagestreams.image.openshift.io "web" already exists'


@pytest.mark.parametrize(
    ("content_type", "patch"),
    [
        pytest.param(
            "application/merge-patch+json",
            {"metadata": {"labels": {"tier": "web"}}, "spec": {"lookupPolicy": {"local": True}}},
            id="merge",
        ),
        pytest.param(
            "application/json-patch+json",
            [
                {"op": "add", "path": "/metadata/labels", "value": {"tier": "web"}},
                {"op": "replace", "path": "/spec/lookupPolicy/local", "value": True},
            ],
            id="json",
        ),
    ],
)
def test_patches_change_the_stream(api: Api, content_type: str, patch: Any) -> None:
    created = send(api, "api-create-stream.json", new_stream("web"))

    reply = send(api, "api-patch-stream.json", patch, name="web", content_type=content_type)

    assert reply.status == 200, reply.body
    assert reply.body["metadata"]["labels"] == {"tier": "web"}
    assert reply.body["spec"]["lookupPolicy"] == {"local": True}
    before = int(created.body["metadata"]["resourceVersion"])
    assert int(reply.body["metadata"]["resourceVersion"]) > before
    got = api.invoke(with_name(load_event("api-get-stream.json"), "web"))
    assert got.body["spec"]["lookupPolicy"] == {"local": True}


def test_a_merge_patch_adding_a_tag_imports_it(api: Api, pulls: dict[str, str]) -> None:
    send(api, "api-create-stream.json", new_stream("web", one=pulls["one"]))
    patch = {
        "spec": {"tags": [{"name": "two", "from": {"kind": "DockerImage", "name": pulls["two"]}}]}
    }

    reply = send(api, "api-patch-stream.json", patch, name="web")

    # A merge patch replaces the list: one leaves the spec, two is imported
    assert reply.status == 200, reply.body
    assert [t["name"] for t in reply.body["spec"]["tags"]] == ["two"]
    assert statuses(reply.body)["two"]["items"]


@pytest.mark.parametrize(
    "content_type", ["application/strategic-merge-patch+json", "application/apply-patch+yaml"]
)
def test_other_patch_types_are_415(api: Api, content_type: str) -> None:
    send(api, "api-create-stream.json", new_stream("web"))

    reply = send(api, "api-patch-stream.json", {}, name="web", content_type=content_type)

    assert reply.status == 415
    assert reply.body["reason"] == "UnsupportedMediaType"
    assert reply.body["message"].endswith(
        "application/json-patch+json, application/merge-patch+json"
    )


def test_a_json_patch_that_cannot_apply_is_422(api: Api) -> None:
    send(api, "api-create-stream.json", new_stream("web"))
    patch = [{"op": "test", "path": "/spec/lookupPolicy/local", "value": True}]

    reply = send(
        api, "api-patch-stream.json", patch, name="web", content_type="application/json-patch+json"
    )

    assert reply.status == 422


def test_dry_run_create_stores_nothing(api: Api, pulls: dict[str, str]) -> None:
    reply = send(
        api,
        "api-create-stream.json",
        new_stream("web", one=pulls["one"]),
        query={"dryRun": "All"},
    )

    assert reply.status == 201
    assert statuses(reply.body)["one"]["items"]
    got = api.invoke(with_name(load_event("api-get-stream.json"), "web"))
    assert got.status == 404


def test_a_patch_that_makes_the_stream_invalid_is_422(api: Api) -> None:
    send(api, "api-create-stream.json", new_stream("web"))
    patch = {"spec": {"tags": [{"name": "x", "from": {"kind": "Pod", "name": "p"}}]}}

    reply = send(api, "api-patch-stream.json", patch, name="web")

    assert reply.status == 422
    assert reply.body["message"] == (
        'ImageStream.image.openshift.io "web" is invalid: spec.tags[x].from.kind: '
        "Required value: valid values are 'DockerImage', 'ImageStreamImage', 'ImageStreamTag'"
    )
    assert reply.body["details"]["causes"] == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value: valid values are 'DockerImage', 'ImageStreamImage', "
            "'ImageStreamTag'",
            "field": "spec.tags[x].from.kind",
        }
    ]


def test_an_invalid_tag_name_is_422(api: Api) -> None:
    reply = send(api, "api-create-stream.json", new_stream("web", **{"-bad": "quay.io/x/y:1"}))

    assert reply.status == 422
    assert reply.body["details"]["causes"][0]["field"] == "spec.tags[-bad].name"


def test_an_update_without_resource_version_is_422(api: Api) -> None:
    send(api, "api-create-stream.json", new_stream("web"))

    reply = send(api, "api-update-stream.json", new_stream("web"), name="web")

    assert reply.status == 422
    assert reply.body["message"] == (
        'ImageStream.image.openshift.io "web" is invalid: metadata.resourceVersion: '
        "Invalid value: 0x0: must be specified for an update"
    )


def test_writes_are_seen_by_a_watch_resumed_from_an_earlier_list(api: Api) -> None:
    # Given a stream, and the version of a list taken after its creation
    send(api, "api-create-stream.json", new_stream("web"))
    send(api, "api-create-stream.json", new_stream("other"))
    listed = api.invoke(load_event("api-list-streams.json"))
    version = listed.body["metadata"]["resourceVersion"]

    # When one is patched and the other deleted, and a watch resumes from the list
    patched = send(
        api,
        "api-patch-stream.json",
        {"metadata": {"labels": {"tier": "web"}}},
        name="web",
        content_type="application/merge-patch+json",
    )
    api.invoke(with_name(load_event("api-delete-stream.json"), "other"))
    watch = api.invoke(
        with_query(
            load_event("api-list-streams.json"),
            watch=["true"],
            resourceVersion=[version],
            timeoutSeconds=["1"],
        )
    )

    # Then the watch sends both changes, in order, the patch at the version it answered
    events = [json.loads(line) for line in watch.raw["body"].splitlines()]
    changes = [(e["type"], e["object"]["metadata"]["name"]) for e in events]
    assert changes == [("MODIFIED", "web"), ("DELETED", "other")]
    assert (
        events[0]["object"]["metadata"]["resourceVersion"]
        == (patched.body["metadata"]["resourceVersion"])
    )
    assert int(patched.body["metadata"]["resourceVersion"]) > int(version)

"""The Kubernetes API conventions of the read and delete routes, through the real handler.

Table output as ``kubectl get`` asks for it, selectors and pages, a finite
watch, 405 for verbs a resource lacks, and errors worded and detailed as the
API server's (Forbidden, NotFound, Conflict).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from testkit.api import Api, image_spec, import_body
from testkit.events import load_event, with_body, with_name, with_namespace, with_query
from testkit.registry import Registry

TABLE_ACCEPT = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)


def request(
    api: Api,
    event: str,
    *,
    namespace: str = "demo",
    name: str | None = None,
    query: dict[str, str] | None = None,
    accept: str | None = None,
    method: str | None = None,
    grant: str = "path",
) -> Any:
    sample = with_namespace(load_event(event), namespace)
    sample = with_name(sample, name) if name else copy.deepcopy(sample)
    sample["queryStringParameters"] = query or None
    sample["multiValueQueryStringParameters"] = (
        {k: [v] for k, v in query.items()} if query else None
    )
    if accept:
        sample.setdefault("headers", {})["Accept"] = accept
        sample.setdefault("multiValueHeaders", {})["Accept"] = [accept]
    if method:
        sample["httpMethod"] = method
        sample["requestContext"]["httpMethod"] = method
    return api.invoke(sample, grant=grant)


@pytest.fixture
def three_streams(api: Api, anon_registry: Registry, push_image: Any) -> list[str]:
    """Streams a, b and c of namespace demo, each with tag ``latest``; b labelled tier=db."""
    pushed = push_image(anon_registry, via="api")
    for name in ("a", "b", "c"):
        body = import_body(image_spec(pushed.pull_spec), name=name)
        body["spec"]["import"] = True
        assert api.post_import("demo", body).status == 201
    return ["a", "b", "c"]


def test_kubectl_get_is_a_table_with_the_columns_oc_prints(
    api: Api, three_streams: list[str]
) -> None:
    # When kubectl lists streams, asking for a Table first
    reply = request(api, "api-list-streams.json", accept=TABLE_ACCEPT)

    # Then it gets oc's columns and a row per stream with the object's metadata
    assert reply.status == 200
    assert reply.body["kind"] == "Table"
    assert reply.body["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in reply.body["columnDefinitions"]] == [
        "Name",
        "Image Repository",
        "Tags",
        "Updated",
    ]
    rows = reply.body["rows"]
    assert [row["cells"][0] for row in rows] == three_streams
    assert {row["cells"][2] for row in rows} == {"latest"}
    assert all(row["cells"][3].endswith(" ago") for row in rows)
    assert rows[0]["object"]["kind"] == "PartialObjectMetadata"
    assert rows[0]["object"]["metadata"]["name"] == "a"

    # And one stream is a Table of one row; includeObject=Object carries it whole
    one = request(
        api,
        "api-get-stream.json",
        name="b",
        accept=TABLE_ACCEPT,
        query={"includeObject": "Object"},
    )
    assert one.status == 200
    [row] = one.body["rows"]
    assert row["cells"][0] == "b"
    assert row["object"]["kind"] == "ImageStream"
    # And plain JSON still gets the ImageStreamList
    plain = request(api, "api-list-streams.json", accept="application/json")
    assert plain.body["kind"] == "ImageStreamList"


def test_lists_page_with_limit_and_continue(api: Api, three_streams: list[str]) -> None:
    first = request(api, "api-list-streams.json", query={"limit": "2"})
    assert [i["metadata"]["name"] for i in first.body["items"]] == ["a", "b"]
    assert first.body["metadata"]["remainingItemCount"] == 1
    token = first.body["metadata"]["continue"]

    second = request(api, "api-list-streams.json", query={"limit": "2", "continue": token})

    assert [i["metadata"]["name"] for i in second.body["items"]] == ["c"]
    assert "continue" not in second.body["metadata"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"continue": "not-a-token"}, "invalid continue token"),
        ({"fieldSelector": "spec.tags=x"}, "field label not supported: spec.tags"),
        ({"labelSelector": "a in ()"}, "unable to parse requirement"),
        ({"labelSelector": "-bad-=x"}, 'invalid label key "-bad-"'),
        ({"limit": "ten"}, 'invalid value "ten" for limit'),
    ],
    ids=["continue", "field", "empty-set", "label-key", "limit"],
)
def test_bad_list_options_are_400(api: Api, query: dict[str, str], message: str) -> None:
    reply = request(api, "api-list-streams.json", query=query)

    assert reply.status == 400
    assert reply.body["reason"] == "BadRequest"
    assert message in reply.body["message"]


def test_field_selector_on_name(api: Api, three_streams: list[str]) -> None:
    reply = request(api, "api-list-streams.json", query={"fieldSelector": "metadata.name=b"})

    assert [i["metadata"]["name"] for i in reply.body["items"]] == ["b"]


def test_a_watch_is_a_finite_stream_of_watch_events(api: Api, three_streams: list[str]) -> None:
    # When a client watches from the start
    reply = request(api, "api-list-streams.json", query={"watch": "true"})

    # Then it gets one ADDED event per stream, one JSON document a line, and the end
    assert reply.status == 200
    raw = reply.raw["body"]
    events = [json.loads(line) for line in raw.splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", name) for name in three_streams
    ]
    assert all(e["object"]["kind"] == "ImageStream" for e in events)

    # And a watch from the version a list returned has nothing to add
    listed = request(api, "api-list-streams.json")
    version = listed.body["metadata"]["resourceVersion"]
    later = request(api, "api-list-streams.json", query={"watch": "1", "resourceVersion": version})
    assert later.status == 200
    assert later.raw["body"] == ""


@pytest.mark.parametrize(
    ("event", "method", "name"),
    [
        ("api-list-streams.json", "PUT", None),
        ("api-list-streams.json", "PATCH", None),
        ("api-get-stream.json", "POST", "web"),
        ("api-get-import.json", "DELETE", "web"),
        ("api-get-import.json", "PUT", "web"),
    ],
)
def test_verbs_a_resource_lacks_are_405(
    api: Api, event: str, method: str, name: str | None
) -> None:
    reply = request(api, event, name=name, method=method)

    assert reply.status == 405
    assert reply.body["kind"] == "Status"
    assert reply.body["reason"] == "MethodNotAllowed"
    assert reply.body["message"] == (
        "the server does not allow this method on the requested resource"
    )


def test_a_verb_a_resource_lacks_is_forbidden_first_in_a_namespace_not_granted(
    api: Api,
) -> None:
    reply = request(api, "api-get-stream.json", name="web", method="PUT", grant="team-a")

    assert reply.status == 403
    assert reply.body["message"].startswith(
        'imagestreams.image.openshift.io "web" is forbidden: User "tester" cannot update'
    )


@pytest.mark.parametrize(
    ("event", "name", "verb", "resource"),
    [
        ("api-list-streams.json", None, "list", "imagestreams"),
        ("api-get-stream.json", "web", "get", "imagestreams"),
        ("api-delete-stream.json", "web", "delete", "imagestreams"),
        ("api-get-import.json", "web", "get", "imagestreamimports"),
    ],
)
def test_other_namespaces_are_kubernetes_forbidden(
    api: Api, event: str, name: str | None, verb: str, resource: str
) -> None:
    reply = request(api, event, namespace="team-b", name=name, grant="team-a")

    assert reply.status == 403
    assert reply.body["reason"] == "Forbidden"
    target = f'{resource}.image.openshift.io "{name}"' if name else f"{resource}.image.openshift.io"
    assert reply.body["message"] == (
        f'{target} is forbidden: User "tester" cannot {verb} resource "{resource}" '
        'in API group "image.openshift.io" in the namespace "team-b"'
    )
    details = reply.body["details"]
    assert details["group"] == "image.openshift.io"
    assert details["kind"] == resource
    assert details.get("name", "") == (name or "")


def test_not_found_carries_details(api: Api) -> None:
    reply = request(api, "api-get-stream.json", name="missing")

    assert reply.status == 404
    assert reply.body["details"] == {
        "name": "missing",
        "group": "image.openshift.io",
        "kind": "imagestreams",
    }


# --- dryRun=All on every write --------------------------------------------------------


def test_a_dry_run_import_answers_the_stream_and_stores_nothing(
    api: Api, anon_registry: Registry, push_image: Any
) -> None:
    # Given an image, imported into a stream as a dry run
    pushed = push_image(anon_registry, via="api")
    body = import_body(image_spec(pushed.pull_spec), name="dry")
    body["spec"]["import"] = True
    event = with_query(with_body(load_event("api-import-single.json"), body), dryRun=["All"])

    reply = api.invoke(event)

    # Then the answer shows the stream it would create, and nothing exists
    assert reply.status == 201, reply.body
    stream = reply.body["status"]["import"]
    assert stream["metadata"]["name"] == "dry"
    assert stream["metadata"]["generation"] == 1
    assert [t["tag"] for t in stream["status"]["tags"]] == ["latest"]
    assert request(api, "api-get-stream.json", name="dry").status == 404
    assert request(api, "api-get-import.json", name="dry").status == 404


@pytest.mark.parametrize(
    "how",
    ["query", "body"],
)
def test_a_dry_run_delete_deletes_nothing(api: Api, three_streams: list[str], how: str) -> None:
    event = with_name(with_namespace(load_event("api-delete-stream.json"), "demo"), "b")
    if how == "query":
        event = with_query(event, dryRun=["All"])
    else:
        options = {"kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"]}
        event = with_body(event, options)

    reply = api.invoke(event)

    assert reply.status == 200
    assert reply.body["status"] == "Success"
    assert reply.body["details"]["name"] == "b"
    assert request(api, "api-get-stream.json", name="b").status == 200


def test_a_delete_precondition_that_no_longer_holds_is_a_conflict(
    api: Api, three_streams: list[str]
) -> None:
    event = with_name(with_namespace(load_event("api-delete-stream.json"), "demo"), "b")
    options = {
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "preconditions": {"resourceVersion": "999"},
    }

    reply = api.invoke(with_body(event, options))

    assert reply.status == 409
    assert reply.body["reason"] == "Conflict"
    assert reply.body["message"].startswith(
        'Operation cannot be fulfilled on imagestreams.image.openshift.io "b": '
        "Precondition failed: ResourceVersion in precondition: 999, "
    )
    assert reply.body["details"]["kind"] == "imagestreams"
    assert request(api, "api-get-stream.json", name="b").status == 200

"""The Kubernetes API conventions of the read and delete routes, through the real handler.

Table output as ``kubectl get`` asks for it, selectors and pages, a finite
watch, 405 for verbs a resource lacks, and errors worded and detailed as the
API server's (Forbidden, NotFound, Conflict).
"""

from __future__ import annotations

import copy
import json
import time
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
    reply = request(api, "api-list-streams.json", query={"watch": "true", "timeoutSeconds": "1"})

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
    later = request(
        api,
        "api-list-streams.json",
        query={"watch": "1", "resourceVersion": version, "timeoutSeconds": "1"},
    )
    assert later.status == 200
    assert later.raw["body"] == ""


def watch_events(reply: Any) -> list[dict[str, Any]]:
    assert reply.status == 200
    return [json.loads(line) for line in reply.content.decode().splitlines()]


def test_a_watch_resumes_from_a_list_with_the_changes_since(
    api: Api, three_streams: list[str], anon_registry: Registry, push_image: Any
) -> None:
    # Given the version of a list, then a stream imported anew, one deleted and one created
    listed = request(api, "api-list-streams.json")
    version = listed.body["metadata"]["resourceVersion"]
    pushed = push_image(anon_registry, via="api", tag="v2")
    for name in ("b", "d"):
        body = import_body(image_spec(pushed.pull_spec), name=name)
        body["spec"]["import"] = True
        assert api.post_import("demo", body).status == 201
    assert request(api, "api-get-stream.json", name="c", method="DELETE").status == 200

    # When a client watches from that version, asking for bookmarks
    query = {"watch": "true", "resourceVersion": version, "timeoutSeconds": "1"}
    events = watch_events(
        request(api, "api-list-streams.json", query={**query, "allowWatchBookmarks": "true"})
    )

    # Then it gets each change once, in version order, and a bookmark where it ended
    changes = [(e["type"], e["object"]["metadata"]["name"]) for e in events[:-1]]
    assert changes == [("MODIFIED", "b"), ("ADDED", "d"), ("DELETED", "c")]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions)
    assert versions[0] > int(version)
    assert events[-1]["type"] == "BOOKMARK"
    b = events[0]["object"]
    assert "v2" in [t["tag"] for t in b["status"]["tags"]]

    # And a watch from the last event has nothing more to say
    last = events[-1]["object"]["metadata"]["resourceVersion"]
    again = request(api, "api-list-streams.json", query={**query, "resourceVersion": last})
    assert watch_events(again) == []


def test_a_watch_from_a_forgotten_version_is_410_expired(
    api: Api, three_streams: list[str]
) -> None:
    # When a client resumes from a version older than what deletions are kept for
    query = {"watch": "true", "resourceVersion": "1", "timeoutSeconds": "1"}
    events = watch_events(request(api, "api-list-streams.json", query=query))

    # Then the stream holds one ERROR event: the API server's 410 Expired Status
    [event] = events
    assert event["type"] == "ERROR"
    status = event["object"]
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
    assert status["message"].startswith("too old resource version: 1 (")


def test_a_watch_that_is_not_a_number_is_400(api: Api) -> None:
    query = {"watch": "true", "resourceVersion": "abc", "timeoutSeconds": "1"}

    reply = request(api, "api-list-streams.json", query=query)

    assert reply.status == 400
    assert reply.body["message"] == 'invalid resource version "abc"'


def test_a_watch_ends_before_api_gateway_gives_up(api: Api) -> None:
    # When a client asks for a watch longer than API Gateway allows, with 5 s left
    sample = with_query(load_event("api-list-streams.json"), watch=["true"], timeoutSeconds=["600"])
    started = time.monotonic()
    reply = api.invoke(sample, remaining_ms=5_000)

    # Then it ends in time to answer
    assert reply.status == 200
    assert time.monotonic() - started < 4


CLUSTER_PATH = "/apis/image.openshift.io/v1/imagestreams"


def cluster_request(api: Api, grant: str, query: dict[str, str] | None = None, **kw: Any) -> Any:
    sample = copy.deepcopy(load_event("api-list-streams.json"))
    sample["resource"] = sample["path"] = CLUSTER_PATH
    sample["requestContext"]["resourcePath"] = CLUSTER_PATH
    sample["pathParameters"] = None
    sample["queryStringParameters"] = query or None
    sample["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()} or None
    for header, value in kw.get("headers", {}).items():
        sample["headers"][header] = value
        sample["multiValueHeaders"][header] = [value]
    if "method" in kw:
        sample["httpMethod"] = sample["requestContext"]["httpMethod"] = kw["method"]
    return api.invoke(sample, grant=grant)


def test_every_namespace_lists_for_a_token_granted_every_namespace(
    api: Api, three_streams: list[str], anon_registry: Registry, push_image: Any
) -> None:
    # Given streams in two namespaces
    pushed = push_image(anon_registry, via="api")
    body = import_body(image_spec(pushed.pull_spec), name="a")
    body["spec"]["import"] = True
    assert api.post_import("team-a", body).status == 201

    # When a token granted every namespace lists, pages, selects and asks for a Table
    listed = cluster_request(api, "*")
    paged = cluster_request(api, "*", {"limit": "3"})
    rest = cluster_request(api, "*", {"continue": paged.body["metadata"]["continue"]})
    selected = cluster_request(api, "*", {"fieldSelector": "metadata.namespace=team-a"})
    table = cluster_request(api, "*", headers={"Accept": TABLE_ACCEPT})

    # Then it sees every namespace's streams, in namespace/name order
    names = [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in listed.body["items"]]
    assert names == [("demo", "a"), ("demo", "b"), ("demo", "c"), ("team-a", "a")]
    assert listed.body["kind"] == "ImageStreamList"
    assert int(listed.body["metadata"]["resourceVersion"]) > 0
    assert [i["metadata"]["name"] for i in paged.body["items"]] == ["a", "b", "c"]
    assert paged.body["metadata"]["remainingItemCount"] == 1
    assert [i["metadata"]["namespace"] for i in rest.body["items"]] == ["team-a"]
    assert [i["metadata"]["namespace"] for i in selected.body["items"]] == ["team-a"]
    # The Table has oc's columns; kubectl -A adds NAMESPACE from each row's object
    assert table.body["kind"] == "Table"
    assert table.body["columnDefinitions"][0]["name"] == "Name"
    assert [r["object"]["metadata"]["namespace"] for r in table.body["rows"]] == [
        "demo",
        "demo",
        "demo",
        "team-a",
    ]


def test_every_namespace_watches_for_a_token_granted_every_namespace(
    api: Api, three_streams: list[str]
) -> None:
    query = {"watch": "true", "timeoutSeconds": "1"}

    events = watch_events(cluster_request(api, "*", query))

    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", name) for name in three_streams
    ]


@pytest.mark.parametrize(
    ("query", "verb"), [({}, "list"), ({"watch": "true"}, "watch")], ids=["list", "watch"]
)
def test_every_namespace_is_forbidden_to_a_token_of_some_namespaces(
    api: Api, query: dict[str, str], verb: str
) -> None:
    reply = cluster_request(api, "demo,team-a", query)

    assert reply.status == 403
    assert reply.body["reason"] == "Forbidden"
    assert reply.body["message"] == (
        'imagestreams.image.openshift.io is forbidden: User "tester" cannot '
        f'{verb} resource "imagestreams" in API group "image.openshift.io" at the cluster scope'
    )


def test_every_namespace_takes_no_other_verb(api: Api) -> None:
    assert cluster_request(api, "*", method="POST").status == 405
    assert cluster_request(api, "demo", method="DELETE").status == 403


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

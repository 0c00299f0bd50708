"""``spec.import: true``, the read endpoints and the digest cache, end to end.

Real handler, real registries, DynamoDB tables made from ``template.yaml``
under moto.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from imagestreams.adapters import dynamo
from testkit.api import Api, image_spec, import_body
from testkit.events import body_of, load_event, with_body, with_name, with_namespace
from testkit.images import delete_tag, repush_tag
from testkit.proxy import RegistryProxy
from testkit.registry import Registry


def importing(*images: dict[str, Any], name: str = "app") -> dict[str, Any]:
    body = import_body(*images, name=name)
    body["spec"]["import"] = True
    return body


def repository_import(name: str, stream: str = "app", imported: bool = True) -> dict[str, Any]:
    body = import_body(name=stream)
    body["spec"] = {
        "import": imported,
        "repository": {"from": {"kind": "DockerImage", "name": name}},
    }
    return body


def call(api: Api, event: str, namespace: str = "demo", name: str | None = None) -> Any:
    """Send the sample event ``event`` for ``namespace`` (and object ``name``)."""
    sample = with_namespace(load_event(event), namespace)
    return api.invoke(with_name(sample, name) if name else sample)


def tags_of(stream: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["tag"]: entry for entry in stream["status"].get("tags", [])}


# --- tagging into the stream --------------------------------------------------------


def test_two_imports_build_history_and_conditions(
    api: Api, anon_registry: Registry, push_image: Any, unique_repo: Any
) -> None:
    # Given three tags of one repository
    repository = unique_repo("history")
    for tag in ("stable", "moving", "doomed"):
        push_image(anon_registry, repository, tag, via="api")
    refs = {
        tag: f"{anon_registry.host}/{repository}:{tag}" for tag in ("stable", "moving", "doomed")
    }
    body = importing(*(image_spec(ref) for ref in refs.values()))

    # When they are imported, one is re-pushed and one deleted, and they are imported again
    first = api.post_import("demo", body)
    assert first.status == 201, first.body
    repush_tag(anon_registry, repository, "moving")
    delete_tag(anon_registry, repository, "doomed")
    second = api.post_import("demo", body)

    # Then the stream is at generation 2 with the history OpenShift would keep
    stream = second.body["status"]["import"]
    assert stream["metadata"]["generation"] == 2
    tags = tags_of(stream)
    assert [item["generation"] for item in tags["moving"]["items"]] == [2, 1]
    assert [item["generation"] for item in tags["stable"]["items"]] == [1]
    assert len(tags["doomed"]["items"]) == 1
    [condition] = tags["doomed"]["conditions"]
    assert condition["type"] == "ImportSuccess"
    assert condition["status"] == "False"
    assert condition["reason"] == "NotFound"
    assert condition["generation"] == 2
    assert condition["message"] == f'dockerimage.image.openshift.io "{refs["doomed"]}" not found'
    new_image = second.body["status"]["images"][1]["image"]["metadata"]["name"]
    assert tags["moving"]["items"][0]["image"] == new_image
    spec_tags = {t["name"]: t for t in stream["spec"]["tags"]}
    assert spec_tags["moving"]["from"] == {"kind": "DockerImage", "name": refs["moving"]}
    assert spec_tags["moving"]["referencePolicy"] == {"type": "Source"}
    assert "openshift.io/image.dockerRepositoryCheck" in stream["metadata"]["annotations"]


def test_the_same_failure_is_written_once(api: Api, anon_registry: Registry) -> None:
    ref = f"{anon_registry.host}/nobody/here:v1"
    first = api.post_import("demo", importing(image_spec(ref)))
    second = api.post_import("demo", importing(image_spec(ref)))

    [before] = tags_of(first.body["status"]["import"])["v1"]["conditions"]
    [after] = tags_of(second.body["status"]["import"])["v1"]["conditions"]
    assert after == before
    assert after["generation"] == 1


def test_twenty_concurrent_imports_lose_no_tag(
    api: Api, anon_registry: Registry, push_tags: Any
) -> None:
    pushed = push_tags(anon_registry, [f"t{i}" for i in range(20)])
    handlers = [Api(reset=False) for _ in pushed]
    replies: list[Any] = []
    lock = threading.Lock()

    def run(handler: Api, tag: str) -> None:
        ref = f"{anon_registry.host}/{pushed[0].repository}:{tag}"
        reply = handler.post_import("demo", importing(image_spec(ref), name="busy"))
        with lock:
            replies.append(reply)

    threads = [
        threading.Thread(target=run, args=(h, p.tag)) for h, p in zip(handlers, pushed, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert [r.status for r in replies] == [201] * 20
    stream = call(api, "api-get-stream.json", name="busy").body
    assert sorted(tags_of(stream)) == sorted(p.tag for p in pushed)
    assert stream["metadata"]["generation"] == 20
    generations = Counter(
        item["generation"] for t in tags_of(stream).values() for item in t["items"]
    )
    assert sorted(generations) == list(range(1, 21))


def test_stale_resource_version_is_a_conflict(
    api: Api, anon_registry: Registry, push_image: Any
) -> None:
    pushed = push_image(anon_registry, via="api")
    first = api.post_import("demo", importing(image_spec(pushed.pull_spec)))
    version = first.body["status"]["import"]["metadata"]["resourceVersion"]
    # A second import that tags something new moves the stream on.
    api.post_import("demo", importing(image_spec(pushed.pull_spec, to={"name": "other"})))

    stale = importing(image_spec(pushed.pull_spec))
    stale["metadata"]["resourceVersion"] = version
    reply = api.post_import("demo", stale)

    assert reply.status == 409
    assert reply.body["reason"] == "Conflict"
    assert f'the image stream was updated from "{version}"' in reply.body["message"]


def test_repository_import_tags_every_tag(
    api: Api, anon_registry: Registry, push_tags: Any
) -> None:
    pushed = push_tags(anon_registry, ["latest", "1.0", "1.1"])
    name = f"{anon_registry.host}/{pushed[0].repository}"

    event = load_event("api-import-repository.json")
    body = body_of(event)
    body["spec"]["repository"]["from"]["name"] = name
    reply = api.invoke(with_body(event, body))

    stream = reply.body["status"]["import"]
    spec_tags = {t["name"]: t["from"]["name"] for t in stream["spec"]["tags"]}
    assert spec_tags == {p.tag: f"{name}:{p.tag}" for p in pushed}
    assert {t: e["items"][0]["image"] for t, e in tags_of(stream).items()} == {
        p.tag: p.digest for p in pushed
    }


class TagStateReads:
    """The tag states the api function reads from the streams table, counted per tag."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def counting(self, build: Callable[[], Any]) -> Callable[[], Any]:
        """A client factory: ``build``'s clients, counting what they read."""

        def factory() -> Any:
            client = build()
            client.meta.events.register("provide-client-params.dynamodb.GetItem", self._key)
            client.meta.events.register("after-call.dynamodb", self._count)
            return client

        return factory

    def _key(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        # A GetItem's projection may leave the key out of the item.
        context["key"] = params["Key"]

    def _count(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        items = [
            *parsed.get("Items", []),
            *(item for found in parsed.get("Responses", {}).values() for item in found),
        ]
        if "Item" in parsed:
            items.append({**parsed["Item"], **context.get("key", {})})
        tags = [
            item["sk"]["S"].removeprefix("tag#")
            for item in items
            if "doc" in item and item.get("sk", {}).get("S", "").startswith("tag#")
        ]
        with self._lock:
            self.counts.update(tags)


@pytest.mark.parametrize(
    ("again", "read_twice"),
    [
        ("repository", set()),
        ("repushed", {f"t{n}" for n in range(20)}),
        ("new-image", set()),
        ("same-image", {"t0"}),
    ],
    ids=[
        "repository-again-reads-all-at-once",
        "repository-with-new-images-reads-all-then-writes-over-them",
        "new-image-reads-only-the-stream-it-answers",
        "same-image-reads-its-tag-then-the-stream",
    ],
)
def test_an_import_reads_each_tag_state_once(
    api: Api,
    anon_registry: Registry,
    push_tags: Any,
    monkeypatch: pytest.MonkeyPatch,
    again: str,
    read_twice: set[str],
) -> None:
    # Given a stream of 20 tags imported from a repository
    pushed = push_tags(anon_registry, [f"t{n}" for n in range(20)])
    name = f"{anon_registry.host}/{pushed[0].repository}"
    assert api.post_import("demo", repository_import(name)).status == 201
    reads = TagStateReads()
    monkeypatch.setattr(dynamo, "default_client", reads.counting(dynamo.default_client))
    api.module = Api(reset=True).module

    # When the repository is imported again (nothing changed, or two tags pushed
    # anew), or one image is: into a new tag, or into the tag it is (unchanged)
    if again == "repushed":
        for tag in ("t0", "t1"):
            repush_tag(anon_registry, pushed[0].repository, tag)
    body = {
        "repository": repository_import(name),
        "repushed": repository_import(name),
        "new-image": importing(image_spec(f"{name}:t0", to={"name": "new"})),
        "same-image": importing(image_spec(f"{name}:t0", to={"name": "t0"})),
    }[again]
    reply = api.post_import("demo", body)

    # Then every tag state the answer shows was read once: all at once when the import
    # names the stream's tags, else the named tag first (twice when it is unchanged);
    # tags written are read once more to be written over, and the answer is the stream
    # as stored, not read again
    assert reply.status == 201, reply.body
    stream = reply.body["status"]["import"]
    shown = {t["name"] for t in stream["spec"]["tags"]}
    assert reads.counts == Counter({tag: 2 if tag in read_twice else 1 for tag in shown})
    assert stream == call(api, "api-get-stream.json", name="app").body


# --- reading and deleting ------------------------------------------------------------


def test_read_endpoints(api: Api, anon_registry: Registry, push_image: Any) -> None:
    pushed = push_image(anon_registry, via="api")
    created = api.post_import("demo", importing(image_spec(pushed.pull_spec), name="web"))
    api.post_import("demo", importing(image_spec(pushed.pull_spec), name="worker"))

    listed = call(api, "api-list-streams.json")
    assert listed.status == 200
    assert listed.body["kind"] == "ImageStreamList"
    assert sorted(i["metadata"]["name"] for i in listed.body["items"]) == ["web", "worker"]

    one = call(api, "api-get-stream.json", name="web")
    assert one.status == 200
    assert one.body == created.body["status"]["import"]

    latest = call(api, "api-get-import.json", name="web")
    assert latest.status == 200
    assert latest.body == created.body

    deleted = call(api, "api-delete-stream.json", name="web")
    assert deleted.status == 200
    assert deleted.body["status"] == "Success"
    assert deleted.body["details"]["name"] == "web"
    assert call(api, "api-get-stream.json", name="web").status == 404
    remaining = call(api, "api-list-streams.json").body["items"]
    assert [i["metadata"]["name"] for i in remaining] == ["worker"]
    assert call(api, "api-list-streams.json", namespace="other").body["items"] == []


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("api-get-stream.json", 'imagestreams.image.openshift.io "missing" not found'),
        ("api-delete-stream.json", 'imagestreams.image.openshift.io "missing" not found'),
        ("api-get-import.json", 'imagestreamimports.image.openshift.io "missing" not found'),
    ],
    ids=["get-stream", "delete-stream", "get-import"],
)
def test_missing_objects_are_404_status(api: Api, event: str, message: str) -> None:
    reply = call(api, event, name="missing")

    assert reply.status == 404
    assert reply.body["kind"] == "Status"
    assert reply.body["reason"] == "NotFound"
    assert reply.body["message"] == message


def test_dry_run_stores_no_stream(api: Api, anon_registry: Registry, push_image: Any) -> None:
    pushed = push_image(anon_registry, via="api")

    reply = api.post_import("demo", import_body(image_spec(pushed.pull_spec), name="dry"))

    assert "import" not in reply.body["status"]
    assert call(api, "api-get-stream.json", name="dry").status == 404
    assert call(api, "api-get-import.json", name="dry").status == 200


# --- the digest cache ---------------------------------------------------------------


def registry_requests(proxy: RegistryProxy) -> Counter[str]:
    kinds: Counter[str] = Counter()
    for seen in proxy.seen:
        if "/manifests/" in seen.path:
            kinds[f"{seen.method} manifest"] += 1
        elif "/blobs/" in seen.path:
            kinds[f"{seen.method} blob"] += 1
        elif "/tags/list" in seen.path:
            kinds["tags/list"] += 1
        else:
            kinds[f"{seen.method} {seen.path}"] += 1
    return kinds


@pytest.mark.parametrize(
    ("into_the_stream", "warm_manifests"),
    [(True, "HEAD manifest"), (False, "GET manifest")],
    ids=["import-true-head-first", "import-false-get-first"],
)
def test_cold_import_costs_two_gets_per_tag_and_warm_one_request(
    api: Api,
    anon_registry: Registry,
    push_tags: Any,
    record_property: Any,
    into_the_stream: bool,
    warm_manifests: str,
) -> None:
    # Given 50 tags, behind a proxy that counts what reaches the registry
    pushed = push_tags(anon_registry, 50)
    proxy = RegistryProxy(anon_registry.host)
    try:
        name = f"{proxy.host}/{pushed[0].repository}"
        # When the repository is imported cold, then again by a new process (its cache warm):
        # into a stream (the tags are then known to it), or not
        body = repository_import(name, imported=into_the_stream)
        cold = api.post_import("demo", body)
        cold_counts = registry_requests(proxy)
        proxy.clear()
        api.module = Api(reset=True).module  # a new process: no in-memory state survives
        warm = api.post_import("demo", body)
        warm_counts = registry_requests(proxy)
    finally:
        proxy.stop()

    # Then a cold tag cost its manifest GET and config GET, no HEAD; a warm one one request:
    # a HEAD for a tag the stream has, else the manifest GET (the cache spares the config GET)
    assert cold.body["status"]["repository"]["status"]["status"] == "Success"
    assert warm.body["status"]["repository"] == cold.body["status"]["repository"]
    record_property("cold_requests", dict(cold_counts))
    record_property("warm_requests", dict(warm_counts))
    assert cold_counts == Counter(
        {"GET manifest": 50, "GET blob": 50, "tags/list": 1, "GET /v2/": 1}
    )
    assert warm_counts == Counter({warm_manifests: 50, "tags/list": 1, "GET /v2/": 1})


def test_cache_never_serves_what_the_caller_cannot_reach(
    api: Api, token_registry: Registry, push_image: Any
) -> None:
    # Given a private image imported (and cached) by namespace a, with credentials
    pushed = push_image(token_registry, via="api")
    api.put_pull_secret("team-a", {token_registry.host: token_registry.credentials})
    assert api.post_import("team-a", import_body(image_spec(pushed.pull_spec))).status == 201

    # When namespace b, without credentials, asks for it by tag and by digest
    reply = api.post_import(
        "team-b", import_body(image_spec(pushed.pull_spec), image_spec(pushed.by_digest))
    )

    # Then both are refused: the registry said no to b's own HEAD
    reasons = [entry["status"].get("reason") for entry in reply.body["status"]["images"]]
    assert reasons == ["Unauthorized", "Unauthorized"]


def test_only_verified_content_is_cached(
    api: Api, anon_registry: Registry, push_image: Any, template_resources: Any
) -> None:
    pushed = push_image(anon_registry, via="api", fmt="v2s2")
    proxy = RegistryProxy(anon_registry.host)
    from testkit.proxy import Fault

    proxy.rules.append(
        lambda method, path, nth: (
            Fault(
                200,
                {"Content-Type": pushed.media_type, "Docker-Content-Digest": pushed.digest},
                pushed.manifest + b" ",
            )
            if method == "GET" and "/manifests/" in path
            else None
        )
    )
    try:
        reply = api.post_import(
            "demo", import_body(image_spec(f"{proxy.host}/{pushed.repository}:{pushed.tag}"))
        )
    finally:
        proxy.stop()

    assert "content integrity error" in reply.body["status"]["images"][0]["status"]["message"]
    table = template_resources.name("ImageCacheTable")
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    assert not [i for i in items if i["digest"]["S"] == pushed.digest]


def test_stream_items_never_expire(
    api: Api, anon_registry: Registry, push_image: Any, template_resources: Any
) -> None:
    pushed = push_image(anon_registry, via="api")
    api.post_import("demo", importing(image_spec(pushed.pull_spec), name="kept"))

    table = template_resources.name("StreamsTable")
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    assert items
    assert not any("expiresAt" in item for item in items)

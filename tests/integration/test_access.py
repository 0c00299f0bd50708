"""Namespace isolation and registry safety, through the real api handler.

The token authorizer's own decisions are tested beside it; here the handler
must refuse on its own, whatever context reaches it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from imagestreams.adapters.dynamo import decompress_json
from testkit.api import Api, image_spec, import_body
from testkit.events import load_event, with_name, with_namespace
from testkit.images import PushedImage
from testkit.proxy import Fault, RegistryProxy
from testkit.registry import Registry

ROUTES = [
    ("api-import-single.json", None),
    ("api-get-import.json", "app"),
    ("api-list-streams.json", None),
    ("api-get-stream.json", "app"),
    ("api-delete-stream.json", "app"),
]


def routed(event_name: str, namespace: str, name: str | None) -> dict[str, Any]:
    event = with_namespace(load_event(event_name), namespace)
    return with_name(event, name) if name else event


@pytest.mark.parametrize(
    ("event", "name"), ROUTES, ids=[r[0].removesuffix(".json") for r in ROUTES]
)
def test_every_route_needs_a_grant_for_its_namespace(
    api: Api, event: str, name: str | None
) -> None:
    without = api.invoke(routed(event, "team-b", name), grant=None)
    other = api.invoke(routed(event, "team-b", name), grant="team-a")
    granted = api.invoke(routed(event, "team-b", name), grant="team-a,team-b")
    everything = api.invoke(routed(event, "team-b", name), grant="*")

    assert (without.status, without.body["kind"], without.body["reason"]) == (
        401,
        "Status",
        "Unauthorized",
    )
    assert (other.status, other.body["kind"], other.body["reason"]) == (403, "Status", "Forbidden")
    assert 'User "tester" cannot' in other.body["message"]
    assert 'in the namespace "team-b"' in other.body["message"]
    assert granted.status not in (401, 403)
    assert everything.status not in (401, 403)


def test_a_denied_request_does_no_work(api: Api, anon_registry: Registry, push_image: Any) -> None:
    pushed = push_image(anon_registry, via="api")
    mark = anon_registry.access_log_mark()

    reply = api.post_import("team-b", import_body(image_spec(pushed.pull_spec)), grant="team-a")

    assert reply.status == 403
    assert [
        e for e in anon_registry.access_log(since=mark) if "imagestreams" in (e.user_agent or "")
    ] == []


def test_namespace_b_gets_nothing_of_namespace_a(
    api: Api, token_registry: Registry, push_image: Any
) -> None:
    # Given namespace a with a pull secret, a private image imported into a stream
    pushed = push_image(token_registry, via="api")
    api.put_pull_secret("team-a", {token_registry.host: token_registry.credentials})
    body = import_body(image_spec(pushed.pull_spec), name="private")
    body["spec"]["import"] = True
    assert api.post_import("team-a", body).status == 201

    # When namespace b imports the same image, by tag and by digest, and reads a's stream
    reply = api.post_import(
        "team-b", import_body(image_spec(pushed.pull_spec), image_spec(pushed.by_digest))
    )
    read = api.invoke(routed("api-get-stream.json", "team-a", "private"), grant="team-b")

    # Then a's secret and a's cached image serve b nothing
    reasons = [entry["status"].get("reason") for entry in reply.body["status"]["images"]]
    assert reasons == ["Unauthorized", "Unauthorized"]
    assert read.status == 403
    assert api.invoke(routed("api-get-stream.json", "team-b", "private")).status == 404


@pytest.fixture
def private_import(api: Api, token_registry: Registry, push_image: Any) -> PushedImage:
    """Namespace team-a's private image, imported (and so cached) with team-a's pull secret."""
    pushed = push_image(token_registry, via="api", env=[f"SECRET={A_SECRET}"])
    api.put_pull_secret("team-a", {token_registry.host: token_registry.credentials})
    reply = api.post_import("team-a", import_body(image_spec(pushed.pull_spec)))
    config = reply.body["status"]["images"][0]["image"]["dockerImageMetadata"]["Config"]
    assert f"SECRET={A_SECRET}" in config["Env"]
    return pushed


A_SECRET = "only-team-a-may-read-this"


def claims(pushed: PushedImage, *, serve_manifest: bool) -> Callable[[str, str, int], Fault | None]:
    """A registry that announces ``pushed``'s digest for every manifest it is asked for.

    With ``serve_manifest`` it also serves the manifest's bytes (which are no
    secret: they name the config by digest only), but never the config blob.
    """
    headers = {"Content-Type": pushed.media_type, "Docker-Content-Digest": pushed.digest}

    def rule(method: str, path: str, _: int) -> Fault | None:
        if "/manifests/" not in path:
            return None
        if method == "HEAD" or serve_manifest:
            return Fault(200, headers, pushed.manifest)
        return None

    return rule


@pytest.mark.parametrize("serve_manifest", [False, True], ids=["head-only", "manifest-too"])
@pytest.mark.parametrize("by", ["tag", "digest"])
def test_a_registry_claiming_a_cached_digest_gets_none_of_namespace_a(
    api: Api,
    anon_registry: Registry,
    private_import: PushedImage,
    unique_repo: Callable[[str], str],
    serve_manifest: bool,
    by: str,
) -> None:
    # Given namespace b's own registry, which claims team-a's private digest
    proxy = RegistryProxy(anon_registry.host)
    proxy.rules.append(claims(private_import, serve_manifest=serve_manifest))
    repository = unique_repo("decoy")
    name = f"{proxy.host}/{repository}" + (
        ":latest" if by == "tag" else f"@{private_import.digest}"
    )
    # When namespace b imports from it
    try:
        reply = api.post_import("team-b", import_body(image_spec(name)))
    finally:
        proxy.stop()
    # Then b gets a per-image failure, never a's image
    assert reply.status == 201, reply.body
    entry = reply.body["status"]["images"][0]
    assert entry["status"]["status"] == "Failure"
    assert "image" not in entry
    assert A_SECRET not in json.dumps(reply.body)
    # and its registry was asked for what b would need to build the image itself
    assert proxy.count("GET", "/manifests/") + proxy.count("GET", "/blobs/") >= 1


REFUSED_HOSTS = [
    "169.254.169.254/latest/meta-data",
    "127.1:5000/x/y",
    "0x7f000001:5000/x/y",
    "[::ffff:169.254.169.254]:5000/x/y",
    "10.0.0.1/x/y",
    "localhost:5000/x/y",
]


@pytest.mark.parametrize("name", REFUSED_HOSTS)
def test_non_public_registries_are_refused_per_image(
    api_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    # The deployed address policy: no private range allowed, loopback included.
    monkeypatch.setenv("ALLOW_PRIVATE_REGISTRIES", "false")
    monkeypatch.setenv("ALLOWED_PRIVATE_CIDRS", "")
    api = Api()

    reply = api.post_import("demo", import_body(image_spec(name)))

    assert reply.status == 201, reply.body
    status = reply.body["status"]["images"][0]["status"]
    assert (status["reason"], status["code"]) == ("Forbidden", 403)
    assert "is forbidden" in status["message"]
    assert "non-public address" in status["message"]


@pytest.mark.parametrize(
    ("allowed", "blocked", "name", "message"),
    [
        (
            "quay.io,*.example.com",
            "",
            "docker.io/library/busybox:1",
            'importing images from registry "docker.io:443" is forbidden: registry "docker.io:443"'
            ' not allowed by whitelist: "quay.io:443", "*.example.com:443"',
        ),
        (
            "",
            "evil.example.com",
            "evil.example.com/x:1",
            'importing images from registry "evil.example.com:443" is forbidden: '
            'registry "evil.example.com:443" is blocked',
        ),
        (
            "registry.example.com:5000",
            "",
            "registry.example.com/x:1",
            'importing images from registry "registry.example.com:443" is forbidden: registry '
            '"registry.example.com:443" not allowed by whitelist: "registry.example.com:5000"',
        ),
    ],
    ids=["not-allowed", "blocked", "port-must-match"],
)
def test_registry_lists_reject_the_request(
    api_environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    allowed: str,
    blocked: str,
    name: str,
    message: str,
) -> None:
    monkeypatch.setenv("ALLOWED_REGISTRIES", allowed)
    monkeypatch.setenv("BLOCKED_REGISTRIES", blocked)
    api = Api()

    reply = api.post_import("demo", import_body(image_spec(name)))

    assert (reply.status, reply.body["reason"]) == (422, "Invalid")
    [cause] = reply.body["details"]["causes"]
    assert cause == {
        "reason": "FieldValueForbidden",
        "message": f"Forbidden: {message}",
        "field": "spec.images[0].from.name",
    }


def test_allowed_registry_imports(
    api_environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    anon_registry: Registry,
    push_image: Any,
) -> None:
    monkeypatch.setenv("ALLOWED_REGISTRIES", f"quay.io,127.0.0.1:{anon_registry.port}")
    pushed = push_image(anon_registry, via="api")

    reply = Api().post_import("demo", import_body(image_spec(pushed.pull_spec)))

    assert reply.body["status"]["images"][0]["status"]["status"] == "Success"


def test_insecure_registries_setting_skips_verification(
    api_environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tls_registry: Registry,
    push_image: Any,
) -> None:
    pushed = push_image(tls_registry)
    refused = Api().post_import("demo", import_body(image_spec(pushed.pull_spec)))
    monkeypatch.setenv("INSECURE_REGISTRIES", tls_registry.host)

    allowed = Api().post_import("demo", import_body(image_spec(pushed.pull_spec)))

    assert refused.body["status"]["images"][0]["status"]["reason"] == "InternalError"
    assert allowed.body["status"]["images"][0]["status"]["status"] == "Success"


def test_no_secret_is_stored_in_any_table(
    api: Api, token_registry: Registry, push_image: Any, template_resources: Any
) -> None:
    pushed = push_image(token_registry, via="api")
    username, password = token_registry.credentials
    api.put_pull_secret("demo", {token_registry.host: (username, password)})
    body = import_body(image_spec(pushed.pull_spec))
    body["spec"]["import"] = True
    assert api.post_import("demo", body).status == 201

    dynamodb = boto3.client("dynamodb")
    stored: list[str] = []
    for table in ("ImageCacheTable", "StreamsTable"):
        pages = dynamodb.get_paginator("scan").paginate(TableName=template_resources.name(table))
        for item in (item for page in pages for item in page["Items"]):
            for value in item.values():
                # Documents are stored compressed: read them as the service does.
                stored.append(repr(decompress_json(value["B"])) if "B" in value else repr(value))
    text = "\n".join(stored)
    assert "dockerImageReference" in text
    assert password not in text
    assert "Authorization" not in text

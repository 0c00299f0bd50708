"""Smoke tests: each registry configuration behaves as the real thing does."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
import urllib3

from testkit import images
from testkit.images import (
    DOCKER_LAYER_GZIP,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    SCHEMA1_SIGNED,
    RegistryClient,
)
from testkit.registry import CDN_HOST, Registry

if TYPE_CHECKING:
    from tests.conftest import PushImage, PushTags

pytestmark = pytest.mark.timeout(120)

HTTP = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2.0, read=15.0))


def basic(credentials: tuple[str, str] | None) -> dict[str, str]:
    assert credentials is not None
    return urllib3.make_headers(basic_auth=f"{credentials[0]}:{credentials[1]}")


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def decode(part: str) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        return parsed

    header, claims, _signature = token.split(".")
    return decode(header), decode(claims)


def test_anonymous_registry_answers_v2(anon_registry: Registry) -> None:
    response = HTTP.request("GET", anon_registry.url + "/v2/")
    assert response.status == 200
    assert response.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert any(e.path == "/v2/" for e in anon_registry.access_log())


def test_htpasswd_registry_challenges_with_basic(htpasswd_registry: Registry) -> None:
    response = HTTP.request("GET", htpasswd_registry.url + "/v2/")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="test-registry"'

    ok = HTTP.request(
        "GET", htpasswd_registry.url + "/v2/", headers=basic(htpasswd_registry.credentials)
    )
    assert ok.status == 200

    wrong = HTTP.request(
        "GET",
        htpasswd_registry.url + "/v2/",
        headers=basic((htpasswd_registry.username or "", "nope")),
    )
    assert wrong.status == 401


def test_token_registry_challenges_with_bearer(token_registry: Registry) -> None:
    response = HTTP.request("GET", token_registry.url + "/v2/")
    assert response.status == 401
    scheme, params = images.parse_challenge(response.headers["WWW-Authenticate"])
    assert scheme == "bearer"
    assert params == {"realm": token_registry.realm, "service": token_registry.service}

    scoped = HTTP.request("GET", token_registry.url + "/v2/some/repo/tags/list")
    assert images.parse_challenge(scoped.headers["WWW-Authenticate"])[1]["scope"] == (
        "repository:some/repo:pull"
    )


def test_token_from_the_token_server_opens_the_registry(token_registry: Registry) -> None:
    server = token_registry.token_server
    assert server is not None
    before = server.request_count
    client = RegistryClient(token_registry.url, token_registry.credentials, push=False)
    assert token_registry.realm is not None
    token = client.fetch_token(
        token_registry.realm, token_registry.service, "repository:some/repo:pull,push"
    )
    assert server.request_count == before + 1

    header, claims = jwt_parts(token)
    assert header["alg"] == "RS256"
    assert header["x5c"]
    assert claims["iss"] == "test-token-issuer"
    assert claims["aud"] == token_registry.service
    assert claims["sub"] == "reader"
    assert claims["access"] == [{"type": "repository", "name": "some/repo", "actions": ["pull"]}]
    assert {"exp", "nbf", "iat", "jti"} <= claims.keys()

    response = HTTP.request(
        "GET", token_registry.url + "/v2/", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 200


def test_token_server_refuses_a_wrong_password(token_registry: Registry) -> None:
    assert token_registry.realm is not None
    client = RegistryClient(token_registry.url, ("reader", "wrong"))
    with pytest.raises(images.RegistryError) as refused:
        client.fetch_token(token_registry.realm, token_registry.service, "repository:x:pull")
    assert refused.value.status == 401


def test_token_registry_pull_rights(token_registry: Registry, push_image: PushImage) -> None:
    pushed = push_image(token_registry, via="api")

    reader = RegistryClient(token_registry.url, token_registry.credentials, push=False)
    assert reader.get_manifest(pushed.repository, "latest")[0] == pushed.manifest
    with pytest.raises(images.RegistryError) as denied_push:
        RegistryClient(token_registry.url, token_registry.credentials).upload_blob(
            pushed.repository, b"not allowed"
        )
    assert denied_push.value.status == 401

    # Anonymous callers get a token without access: the registry still says 401.
    anonymous = RegistryClient(token_registry.url, None, push=False)
    with pytest.raises(images.RegistryError) as denied_pull:
        anonymous.get_manifest(pushed.repository, "latest")
    assert denied_pull.value.status == 401
    challenge = denied_pull.value.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge


def test_redirect_registry_sends_blobs_to_another_host(
    redirect_registry: Registry, push_image: PushImage
) -> None:
    cdn = redirect_registry.cdn
    assert cdn is not None
    pushed = push_image(redirect_registry, via="api")
    layer = pushed.layers[0]
    cdn.clear()

    response = HTTP.request(
        "GET",
        f"{redirect_registry.url}/v2/{pushed.repository}/blobs/{layer.digest}",
        headers=basic(redirect_registry.credentials),
        redirect=False,
    )
    assert response.status == 307
    location = response.headers["Location"]
    assert location.startswith(f"http://{CDN_HOST}:")

    blob = HTTP.request("GET", location)
    assert blob.status == 200
    assert images.sha256_digest(blob.data) == layer.digest
    assert len(blob.data) == layer.size

    (recorded,) = cdn.recorded()
    assert recorded.method == "GET"
    assert recorded.header("Authorization") is None


def test_api_pushes_reuse_redirected_blobs(
    redirect_registry: Registry, unique_repo: Callable[[str], str]
) -> None:
    image = images.build_image()
    repository = unique_repo("app")
    first = images.push_with_api(redirect_registry, repository, "one", image)
    # The layers exist now: their HEAD answers 307, and the second push skips them.
    second = images.push_with_api(redirect_registry, repository, "two", image)
    assert first is not None
    assert second is not None
    assert second.digest == first.digest


def test_schema1_registry_serves_a_signed_schema1_manifest(
    schema1_registry: Registry, push_image: PushImage
) -> None:
    pushed = push_image(schema1_registry, fmt="v2s1")
    assert pushed.media_type == SCHEMA1_SIGNED
    assert pushed.schema1_signed
    assert pushed.manifest_json["schemaVersion"] == 1
    # The registry's digest covers the payload without signatures, not the served bytes.
    assert pushed.header_digest == pushed.digest
    assert pushed.bytes_digest != pushed.digest
    assert len(pushed.layers) == 2
    assert pushed.config is None
    assert pushed.config_json is not None
    assert pushed.config_json["architecture"] == "amd64"


def test_schema1_push_is_refused_without_compatibility(
    anon_registry: Registry, push_image: PushImage
) -> None:
    with pytest.raises(RuntimeError, match="500 Internal Server Error"):
        push_image(anon_registry, fmt="v2s1")


def test_oci_push(anon_registry: Registry, push_image: PushImage) -> None:
    pushed = push_image(
        anon_registry, tag="v1", labels={"app": "demo"}, env=["A=1"], cmd=["/app"], author="me"
    )
    assert pushed.media_type == OCI_MANIFEST
    assert pushed.digest == pushed.header_digest == pushed.bytes_digest
    assert [layer.media_type for layer in pushed.layers] == [OCI_LAYER_GZIP] * 2
    assert pushed.config_digest is not None
    assert pushed.config_size
    assert pushed.config_json is not None
    assert pushed.config_json["config"]["Labels"] == {"app": "demo"}
    assert pushed.config_json["config"]["Env"] == ["A=1"]
    assert pushed.config_json["author"] == "me"
    assert pushed.pull_spec == f"{anon_registry.host}/{pushed.repository}:v1"


def test_v2s2_push(htpasswd_registry: Registry, push_image: PushImage) -> None:
    pushed = push_image(htpasswd_registry, fmt="v2s2")
    assert pushed.media_type == DOCKER_MANIFEST
    assert pushed.digest == pushed.header_digest
    assert [layer.media_type for layer in pushed.layers] == [DOCKER_LAYER_GZIP] * 2


def test_multiarch_push_with_all(token_registry: Registry, push_image: PushImage) -> None:
    pushed = push_image(token_registry, multiarch=True)
    assert pushed.media_type == OCI_INDEX
    assert pushed.is_list
    assert pushed.digest == pushed.header_digest
    platforms = [child.platform for child in pushed.children]
    assert platforms == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
        {"architecture": "ppc64le", "os": "linux"},
    ]
    for child in pushed.children:
        assert child.media_type == OCI_MANIFEST
        assert child.image.digest == child.digest
        assert child.image.config_json is not None
        assert child.image.config_json["architecture"] == child.platform["architecture"]


def test_api_pushes_docker_manifest_lists(anon_registry: Registry, push_image: PushImage) -> None:
    pushed = push_image(anon_registry, multiarch=True, via="api", fmt="v2s2")
    assert pushed.media_type == DOCKER_LIST
    assert {child.media_type for child in pushed.children} == {DOCKER_MANIFEST}


def test_many_tags_share_layers(htpasswd_registry: Registry, push_tags: PushTags) -> None:
    pushed = push_tags(htpasswd_registry, 30)
    repository = pushed[0].repository
    client = RegistryClient.for_registry(htpasswd_registry)
    assert sorted(client.tags(repository)) == sorted(p.tag for p in pushed)
    assert len({p.digest for p in pushed}) == 30
    first = images.describe(client, htpasswd_registry.host, repository, pushed[0].tag)
    last = images.describe(client, htpasswd_registry.host, repository, pushed[-1].tag)
    assert first.layers == last.layers
    assert first.digest == pushed[0].digest


def test_many_tags_by_annotation(anon_registry: Registry, push_tags: PushTags) -> None:
    pushed = push_tags(anon_registry, 10, unique="annotation")
    assert len({p.digest for p in pushed}) == 10
    assert len({p.config_digest for p in pushed}) == 1


def test_delete_and_repush_a_tag(anon_registry: Registry, push_image: PushImage) -> None:
    first = push_image(anon_registry, via="api")
    client = RegistryClient.for_registry(anon_registry)

    assert images.delete_tag(anon_registry, first.repository, "latest") == first.digest
    with pytest.raises(images.RegistryError) as gone:
        client.get_manifest(first.repository, "latest")
    assert gone.value.status == 404

    second = images.repush_tag(anon_registry, first.repository, "latest")
    assert second.digest != first.digest
    assert client.manifest_digest(first.repository, "latest") == second.digest


def test_stopped_registry_refuses_connections(stopped_registry_host: str) -> None:
    address, port = stopped_registry_host.rsplit(":", 1)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address, int(port)), timeout=2).close()


def test_access_log_counts_requests(
    anon_registry: Registry, unique_repo: Callable[[str], str]
) -> None:
    mark = anon_registry.access_log_mark()
    repository = unique_repo("missing")
    for _ in range(3):
        HTTP.request("GET", f"{anon_registry.url}/v2/{repository}/manifests/latest")
    entries = [e for e in anon_registry.access_log(since=mark) if repository in e.path]
    assert [(e.method, e.status) for e in entries] == [("GET", 404)] * 3

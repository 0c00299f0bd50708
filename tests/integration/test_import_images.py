"""POST imagestreamimports end to end: real handler, real registries, moto.

Every image is pushed to a Debian ``docker-registry`` on loopback with skopeo
(or the registry-API helper) and imported through ``functions/api/app.py``.
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import boto3
import pytest

from testkit.api import Api, image_spec, import_body
from testkit.images import PushedImage
from testkit.proxy import Fault, RegistryProxy
from testkit.registry import Registry


def only_image(reply: Any) -> dict[str, Any]:
    assert reply.status == 201, reply.body
    [entry] = reply.body["status"]["images"]
    assert entry["status"]["status"] == "Success", entry["status"]
    image: dict[str, Any] = entry["image"]
    return image


def expected_size(pushed: PushedImage) -> int:
    unique = {layer.digest: layer.size for layer in pushed.layers}
    return (pushed.config_size or 0) + sum(unique.values())


# --- every manifest kind ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [
        ("oci", "application/vnd.oci.image.manifest.v1+json"),
        ("v2s2", "application/vnd.docker.distribution.manifest.v2+json"),
    ],
    ids=["oci", "docker-schema2"],
)
def test_single_image_is_described_as_the_registry_serves_it(
    api: Api, anon_registry: Registry, push_image: Any, fmt: str, media_type: str
) -> None:
    # Given an image pushed with skopeo, sharing one layer twice
    pushed = push_image(anon_registry, tag="v1", fmt=fmt, labels={"tier": "web"})

    # When it is imported
    reply = api.post_import("demo", import_body(image_spec(pushed.pull_spec)))

    # Then the Image is named by the served bytes and lists the layers in order
    image = only_image(reply)
    assert image["metadata"]["name"] == pushed.digest == pushed.bytes_digest
    assert image["dockerImageManifestMediaType"] == pushed.media_type == media_type
    assert [layer["name"] for layer in image["dockerImageLayers"]] == [
        layer.digest for layer in pushed.layers
    ]
    assert [layer["size"] for layer in image["dockerImageLayers"]] == [
        layer.size for layer in pushed.layers
    ]
    metadata = image["dockerImageMetadata"]
    assert metadata["Id"] == pushed.config_digest
    assert metadata["Size"] == expected_size(pushed)
    assert metadata["Config"]["Labels"]["tier"] == "web"
    assert metadata["Architecture"] == "amd64"
    assert image["dockerImageMetadataVersion"] == "1.0"
    assert image["metadata"]["annotations"]["image.openshift.io/dockerLayersOrder"] == "ascending"
    assert (
        image["dockerImageReference"] == f"{anon_registry.host}/{pushed.repository}@{pushed.digest}"
    )
    assert "dockerImageManifest" not in image
    assert reply.body["status"]["images"][0]["tag"] == "v1"


def test_repeated_layers_count_once_in_size(
    api: Api, anon_registry: Registry, push_image: Any
) -> None:
    from testkit.images import build_image, random_layer

    shared = random_layer()
    pushed = push_image(
        anon_registry, image=build_image(layers=[shared, random_layer(), shared]), via="api"
    )

    image = only_image(api.post_import("demo", import_body(image_spec(pushed.pull_spec))))

    assert len(image["dockerImageLayers"]) == 3
    assert image["dockerImageMetadata"]["Size"] == expected_size(pushed)
    assert expected_size(pushed) < (pushed.config_size or 0) + sum(x.size for x in pushed.layers)


def test_schema1_signed_manifest(api: Api, schema1_registry: Registry, push_image: Any) -> None:
    pushed = push_image(schema1_registry, tag="old", fmt="v2s1")
    assert pushed.schema1_signed

    image = only_image(api.post_import("demo", import_body(image_spec(pushed.pull_spec))))

    # The digest of a signed schema1 manifest is that of its JWS payload.
    assert image["metadata"]["name"] == pushed.digest != pushed.bytes_digest
    assert (
        image["dockerImageManifestMediaType"]
        == "application/vnd.docker.distribution.manifest.v1+prettyjws"
    )
    schema1_layers = [layer["blobSum"] for layer in pushed.manifest_json["fsLayers"]]
    assert [layer["name"] for layer in image["dockerImageLayers"]] == list(reversed(schema1_layers))
    assert image["dockerImageMetadata"]["Architecture"] == "amd64"


def test_include_manifest_returns_the_raw_documents(
    api: Api, anon_registry: Registry, push_image: Any
) -> None:
    pushed = push_image(anon_registry, fmt="v2s2")

    image = only_image(
        api.post_import("demo", import_body(image_spec(pushed.pull_spec, includeManifest=True)))
    )

    assert image["dockerImageManifest"].encode() == pushed.manifest
    config = image["dockerImageConfig"].encode()
    assert "sha256:" + hashlib.sha256(config).hexdigest() == pushed.config_digest


# --- manifest lists --------------------------------------------------------------


def test_multi_arch_legacy_picks_linux_amd64(
    api: Api, anon_registry: Registry, push_image: Any
) -> None:
    pushed = push_image(anon_registry, tag="multi", multiarch=True)
    amd64 = next(c for c in pushed.children if c.platform["architecture"] == "amd64")

    reply = api.post_import("demo", import_body(image_spec(pushed.pull_spec)))

    image = only_image(reply)
    assert image["metadata"]["name"] == amd64.digest
    assert image["dockerImageReference"].endswith(f"@{amd64.digest}")
    assert image["dockerImageMetadata"]["Architecture"] == "amd64"
    assert "manifests" not in reply.body["status"]["images"][0]


def test_multi_arch_legacy_honours_prefer_arch(
    api: Api, anon_registry: Registry, push_image: Any
) -> None:
    pushed = push_image(anon_registry, tag="multi", multiarch=True)
    arm64 = next(c for c in pushed.children if c.platform["architecture"] == "arm64")

    reply = api.post_import(
        "demo",
        import_body(
            image_spec(pushed.pull_spec),
            annotations={"importer.image.openshift.io/prefer-arch": "arm64"},
        ),
    )

    assert only_image(reply)["metadata"]["name"] == arm64.digest


@pytest.mark.parametrize("fmt", ["oci", "v2s2"], ids=["oci-index", "docker-list"])
def test_multi_arch_preserve_original_keeps_the_list(
    api: Api, anon_registry: Registry, push_image: Any, fmt: str
) -> None:
    pushed = push_image(anon_registry, tag="multi", multiarch=True, via="api", fmt=fmt)

    reply = api.post_import(
        "demo",
        import_body(image_spec(pushed.pull_spec, importPolicy={"importMode": "PreserveOriginal"})),
    )

    image = only_image(reply)
    assert image["metadata"]["name"] == pushed.digest
    assert "dockerImageLayers" not in image
    # Size 0 is left out (omitempty); Created is the import's time (manifestListToImage).
    assert "Size" not in image["dockerImageMetadata"]
    assert image["dockerImageMetadata"]["Created"] is not None
    listed = [(m["digest"], m["architecture"], m["os"]) for m in image["dockerImageManifests"]]
    assert listed == [
        (c.digest, c.platform["architecture"], c.platform["os"]) for c in pushed.children
    ]
    children = reply.body["status"]["images"][0]["manifests"]
    assert [child["metadata"]["name"] for child in children] == [c.digest for c in pushed.children]
    assert [child["dockerImageMetadata"]["Architecture"] for child in children] == [
        c.platform["architecture"] for c in pushed.children
    ]
    assert all(child["dockerImageLayers"] for child in children)


# --- failures inside a 201 -------------------------------------------------------


def test_unknown_tag_is_not_found(api: Api, anon_registry: Registry, push_image: Any) -> None:
    pushed = push_image(anon_registry, tag="v1")
    missing = f"{anon_registry.host}/{pushed.repository}:nope"

    reply = api.post_import("demo", import_body(image_spec(missing)))

    assert reply.status == 201
    status = reply.body["status"]["images"][0]["status"]
    assert status == {
        "metadata": {},
        "status": "Failure",
        "message": f'dockerimage.image.openshift.io "{missing}" not found',
        "reason": "NotFound",
        "details": {"name": missing, "group": "image.openshift.io", "kind": "dockerimage"},
        "code": 404,
    }
    assert "image" not in reply.body["status"]["images"][0]


def test_wrong_password_is_unauthorized(
    api: Api, htpasswd_registry: Registry, push_image: Any
) -> None:
    pushed = push_image(htpasswd_registry)
    api.put_pull_secret("demo", {htpasswd_registry.host: ("tester", "Zq9-not-the-password")})

    reply = api.post_import("demo", import_body(image_spec(pushed.pull_spec)))

    status = reply.body["status"]["images"][0]["status"]
    assert (status["reason"], status["code"]) == ("Unauthorized", 401)
    assert (
        status["message"] == f'you may not have access to the container image "{pushed.pull_spec}"'
    )
    assert "Zq9-not-the-password" not in str(reply.body)


def test_pull_secret_from_secrets_manager_unlocks_htpasswd(
    api: Api, htpasswd_registry: Registry, push_image: Any
) -> None:
    pushed = push_image(htpasswd_registry)
    api.put_pull_secret("demo", {htpasswd_registry.host: htpasswd_registry.credentials})

    image = only_image(api.post_import("demo", import_body(image_spec(pushed.pull_spec))))

    assert image["metadata"]["name"] == pushed.digest


def test_bearer_tokens_are_fetched_once_per_repository(
    api: Api, token_registry: Registry, push_image: Any, unique_repo: Any
) -> None:
    repository = unique_repo("tokens")
    first = push_image(token_registry, repository, tag="a")
    second = push_image(token_registry, repository, tag="b")
    api.put_pull_secret("demo", {token_registry.host: token_registry.credentials})
    token_registry.token_server.reset()

    reply = api.post_import(
        "demo", import_body(image_spec(first.pull_spec), image_spec(second.pull_spec))
    )

    assert [e["status"]["status"] for e in reply.body["status"]["images"]] == ["Success", "Success"]
    requests = token_registry.token_server.token_requests(user=token_registry.username)
    assert len(requests) == 1


def test_rejected_credentials_fall_back_to_anonymous(
    api: Api, token_registry: Registry, push_image: Any, unique_repo: Any
) -> None:
    # Given a public repository and a pull secret with a wrong password
    repository = unique_repo("public")
    pushed = push_image(token_registry, repository)
    token_registry.token_server.public_repositories.add(repository)
    api.put_pull_secret("demo", {token_registry.host: ("reader", "not-the-password")})

    # When importing, the token server refuses the credentials
    image = only_image(api.post_import("demo", import_body(image_spec(pushed.pull_spec))))

    # Then one anonymous retry still imports the public image
    assert image["metadata"]["name"] == pushed.digest


def test_private_repository_without_credentials_is_unauthorized(
    api: Api, token_registry: Registry, push_image: Any
) -> None:
    pushed = push_image(token_registry)

    reply = api.post_import("demo", import_body(image_spec(pushed.pull_spec)))

    assert reply.body["status"]["images"][0]["status"]["reason"] == "Unauthorized"


def test_registry_down_is_internal_error_within_budget(
    api: Api, stopped_registry_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMPORT_TIME_BUDGET", "3")
    api = Api()
    ref = f"{stopped_registry_host}/demo/app:v1"

    started = time.monotonic()
    reply = api.post_import("demo", import_body(image_spec(ref)))
    elapsed = time.monotonic() - started

    assert reply.status == 201
    status = reply.body["status"]["images"][0]["status"]
    assert (status["reason"], status["code"]) == ("InternalError", 500)
    assert status["message"].startswith(f"Internal error occurred: {ref}: ")
    # Not a speed target: proof that a dead registry cannot hang the request.
    assert elapsed < 20


def test_blobs_redirected_to_another_host_get_no_credentials(
    api: Api, redirect_registry: Registry, push_image: Any
) -> None:
    pushed = push_image(redirect_registry)
    api.put_pull_secret("demo", {redirect_registry.host: redirect_registry.credentials})
    redirect_registry.cdn.clear()

    image = only_image(api.post_import("demo", import_body(image_spec(pushed.pull_spec))))

    assert image["dockerImageMetadata"]["Id"] == pushed.config_digest
    served = redirect_registry.cdn.recorded()
    assert any(pushed.config_digest.split(":")[1] in r.path for r in served)
    assert all(r.header("Authorization") is None for r in served)


def test_same_reference_is_fetched_once(api: Api, anon_registry: Registry, push_image: Any) -> None:
    pushed = push_image(anon_registry)
    proxy = RegistryProxy(anon_registry.host)
    try:
        ref = f"{proxy.host}/{pushed.repository}:{pushed.tag}"

        reply = api.post_import(
            "demo", import_body(image_spec(ref), image_spec(ref, to={"name": "other"}))
        )

        assert [e["status"]["status"] for e in reply.body["status"]["images"]] == [
            "Success",
            "Success",
        ]
        assert proxy.count("GET", "/manifests/") == 1
        assert proxy.count("GET", "/blobs/") == 1
    finally:
        proxy.stop()


# --- transient failures through a proxy in front of the real registry -----------


def test_throttling_is_retried_after_the_delay_the_registry_asks(
    api: Api, anon_registry: Registry, push_image: Any
) -> None:
    pushed = push_image(anon_registry)
    proxy = RegistryProxy(anon_registry.host)
    proxy.rules.append(
        lambda method, path, nth: (
            Fault(429, {"Retry-After": "1"}) if "/manifests/" in path and nth == 1 else None
        )
    )
    proxy.rules.append(
        lambda method, path, nth: Fault(503) if "/blobs/" in path and nth == 1 else None
    )
    try:
        image = only_image(
            api.post_import(
                "demo", import_body(image_spec(f"{proxy.host}/{pushed.repository}:{pushed.tag}"))
            )
        )
        assert image["metadata"]["name"] == pushed.digest
        assert proxy.count("GET", "/manifests/") == 2
        assert proxy.count("GET", "/blobs/") == 2
    finally:
        proxy.stop()


def test_persistent_throttling_is_too_many_requests(
    api: Api, anon_registry: Registry, push_image: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGISTRY_MAX_ATTEMPTS", "2")
    api = Api()
    pushed = push_image(anon_registry)
    proxy = RegistryProxy(anon_registry.host)
    proxy.rules.append(
        lambda method, path, nth: (
            Fault(
                429,
                {"Retry-After": "1", "Content-Type": "application/json"},
                b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}',
            )
            if "/manifests/" in path
            else None
        )
    )
    try:
        reply = api.post_import(
            "demo", import_body(image_spec(f"{proxy.host}/{pushed.repository}:{pushed.tag}"))
        )
        status = reply.body["status"]["images"][0]["status"]
        assert (status["reason"], status["code"]) == ("TooManyRequests", 429)
        assert status["details"]["retryAfterSeconds"] == 1
        assert proxy.count(None, "/manifests/") == 2
    finally:
        proxy.stop()


def test_tampered_manifest_is_an_integrity_error(
    api: Api, anon_registry: Registry, push_image: Any
) -> None:
    pushed = push_image(anon_registry, fmt="v2s2")
    tampered = pushed.manifest.replace(b'"schemaVersion": 2', b'"schemaVersion":2 ')
    if tampered == pushed.manifest:
        tampered = pushed.manifest + b" "
    proxy = RegistryProxy(anon_registry.host)
    proxy.rules.append(
        lambda method, path, nth: (
            Fault(
                200,
                {"Content-Type": pushed.media_type, "Docker-Content-Digest": pushed.digest},
                tampered,
            )
            if "/manifests/" in path
            else None
        )
    )
    try:
        reply = api.post_import(
            "demo", import_body(image_spec(f"{proxy.host}/{pushed.repository}@{pushed.digest}"))
        )
        status = reply.body["status"]["images"][0]["status"]
        assert status["reason"] == "InternalError"
        assert "content integrity error" in status["message"]
    finally:
        proxy.stop()


@pytest.mark.parametrize("cached", [False, True], ids=["cold", "other-image-cached"])
def test_a_reference_by_digest_yields_only_that_digest(
    api: Api, anon_registry: Registry, push_image: Any, template_resources: Any, cached: bool
) -> None:
    # Given two images of one repository, and a registry whose HEAD for the
    # first answers with the second's digest
    wanted = push_image(anon_registry, tag="wanted", via="api")
    other = push_image(anon_registry, wanted.repository, tag="other", via="api")
    proxy = RegistryProxy(anon_registry.host)
    if cached:
        api.post_import("demo", import_body(image_spec(f"{proxy.host}/{other.repository}:other")))
    proxy.rules.append(
        lambda method, path, nth: (
            Fault(200, {"Content-Type": other.media_type, "Docker-Content-Digest": other.digest})
            if method == "HEAD" and path.endswith(f"/manifests/{wanted.digest}")
            else None
        )
    )
    # When the first is imported by digest
    try:
        reply = api.post_import(
            "demo", import_body(image_spec(f"{proxy.host}/{wanted.repository}@{wanted.digest}"))
        )
    finally:
        proxy.stop()
    # Then the image fails on content integrity, and nothing of the other is given or cached
    entry = reply.body["status"]["images"][0]
    assert entry["status"]["reason"] == "InternalError"
    assert "content integrity error" in entry["status"]["message"]
    assert "image" not in entry
    table = template_resources.name("ImageCacheTable")
    cached_digests = {
        i["digest"]["S"] for i in boto3.client("dynamodb").scan(TableName=table)["Items"]
    }
    assert wanted.digest not in cached_digests
    assert (other.digest in cached_digests) is cached


def test_oversized_manifest_is_refused(api: Api, anon_registry: Registry, push_image: Any) -> None:
    pushed = push_image(anon_registry)
    proxy = RegistryProxy(anon_registry.host)
    huge = b"{" + b" " * (4 * 1024 * 1024 + 10) + b"}"
    proxy.rules.append(
        lambda method, path, nth: (
            Fault(200, {"Content-Type": pushed.media_type}, huge) if "/manifests/" in path else None
        )
    )
    try:
        reply = api.post_import(
            "demo", import_body(image_spec(f"{proxy.host}/{pushed.repository}:{pushed.tag}"))
        )
        status = reply.body["status"]["images"][0]["status"]
        assert status["reason"] == "InternalError"
        assert "exceeds" in status["message"]
    finally:
        proxy.stop()


def test_loopback_registry_is_refused_unless_allowed(
    anon_registry: Registry,
    push_image: Any,
    api_environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pushed = push_image(anon_registry)
    # The deployed address policy: no private range allowed, loopback included.
    monkeypatch.setenv("ALLOW_PRIVATE_REGISTRIES", "false")
    monkeypatch.setenv("ALLOWED_PRIVATE_CIDRS", "")
    api = Api()

    reply = api.post_import("demo", import_body(image_spec(pushed.pull_spec)))

    status = reply.body["status"]["images"][0]["status"]
    assert (status["reason"], status["code"]) == ("Forbidden", 403)
    assert "is forbidden" in status["message"]
    assert anon_registry.host.split(":")[0] in status["message"]


def test_redirect_to_a_refused_address_is_not_followed(
    redirect_registry: Registry,
    push_image: Any,
    api_environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The registry (127.0.0.1) is allowed by network; its CDN (127.0.0.2) is not.
    pushed = push_image(redirect_registry)
    monkeypatch.setenv("ALLOW_PRIVATE_REGISTRIES", "false")
    monkeypatch.setenv("ALLOWED_PRIVATE_CIDRS", "127.0.0.1/32")
    api = Api()
    api.put_pull_secret("demo", {redirect_registry.host: redirect_registry.credentials})
    redirect_registry.cdn.clear()

    reply = api.post_import("demo", import_body(image_spec(pushed.pull_spec)))

    status = reply.body["status"]["images"][0]["status"]
    assert status["reason"] == "Forbidden"
    assert "127.0.0.2" in status["message"]
    assert redirect_registry.cdn.recorded() == []


# --- errors of the request itself -------------------------------------------------


def test_body_over_one_mebibyte_is_413(api: Api) -> None:
    body = import_body(image_spec("busybox"))
    body["metadata"]["annotations"] = {"padding": "x" * (1024 * 1024)}

    reply = api.post_import("demo", body)

    assert reply.status == 413
    assert reply.body["reason"] == "RequestEntityTooLarge"


def test_base64_body_is_decoded(api: Api, anon_registry: Registry, push_image: Any) -> None:
    import json

    pushed = push_image(anon_registry)
    encoded = base64.b64encode(
        json.dumps(import_body(image_spec(pushed.pull_spec))).encode()
    ).decode()
    event_reply = api.post_import("demo", None, raw=encoded, base64_body=True)

    assert only_image(event_reply)["metadata"]["name"] == pushed.digest


def test_unexpected_failure_is_a_500_without_internals(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagestreams.usecases.start import StartImport

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("password=hunter2 at /var/task/secret.py line 3")

    monkeypatch.setattr(StartImport, "create", explode)

    reply = api.post_import("demo", import_body(image_spec("busybox")))

    assert reply.status == 500
    assert reply.body["reason"] == "InternalError"
    assert reply.request_id in reply.body["message"]
    assert "hunter2" not in str(reply.body)
    assert "Traceback" not in str(reply.body)


# --- TLS -------------------------------------------------------------------------


def test_untrusted_certificate_is_refused(
    api: Api, tls_registry: Registry, push_image: Any
) -> None:
    pushed = push_image(tls_registry)

    reply = api.post_import("demo", import_body(image_spec(pushed.pull_spec)))

    status = reply.body["status"]["images"][0]["status"]
    assert status["reason"] == "InternalError"
    assert "certificate" in status["message"].lower()


def test_insecure_policy_skips_certificate_verification(
    api: Api, tls_registry: Registry, push_image: Any
) -> None:
    pushed = push_image(tls_registry)

    image = only_image(
        api.post_import(
            "demo", import_body(image_spec(pushed.pull_spec, importPolicy={"insecure": True}))
        )
    )

    assert image["metadata"]["name"] == pushed.digest


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured record with all its fields, and any traceback it carries."""
    parts = []
    for record in caplog.records:
        parts.append(repr(vars(record)))
        if record.exc_info:
            parts.append("Traceback")
    return "\n".join(parts)


def test_unexpected_failure_logs_no_trace_and_no_message(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from imagestreams.usecases.start import StartImport

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("token=Zk8-leaked-value")

    monkeypatch.setattr(StartImport, "create", explode)

    api.post_import("demo", import_body(image_spec("busybox")))

    logged = everything_logged(caplog)
    assert "unhandled error" in logged
    assert "RuntimeError" in logged
    assert "Zk8-leaked-value" not in logged
    assert "Traceback" not in logged


def test_credentials_never_reach_logs_or_response(
    api: Api,
    token_registry: Registry,
    push_image: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    api = Api()
    pushed = push_image(token_registry)
    username, password = token_registry.credentials
    api.put_pull_secret("demo", {token_registry.host: (username, password)})
    caplog.clear()

    reply = api.post_import("demo", import_body(image_spec(pushed.pull_spec)))

    logged = everything_logged(caplog)
    assert "import answered" in logged
    assert only_image(reply)["metadata"]["name"] == pushed.digest
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
    for secret in (password, encoded, "Bearer ", "Authorization"):
        assert secret not in logged
        assert secret not in str(reply.body)


def test_token_realm_at_a_refused_address_is_not_contacted(
    anon_registry: Registry,
    push_image: Any,
    api_environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The registry is reachable by network; the realm it names is the metadata service.
    pushed = push_image(anon_registry)
    monkeypatch.setenv("ALLOW_PRIVATE_REGISTRIES", "false")
    monkeypatch.setenv("ALLOWED_PRIVATE_CIDRS", "127.0.0.0/8")
    api = Api()
    challenge = 'Bearer realm="http://169.254.169.254/latest/meta-data",service="x"'
    proxy = RegistryProxy(anon_registry.host)
    proxy.rules.append(
        lambda method, path, nth: (
            Fault(401, {"WWW-Authenticate": challenge}) if path == "/v2/" else None
        )
    )
    try:
        reply = api.post_import(
            "demo", import_body(image_spec(f"{proxy.host}/{pushed.repository}:{pushed.tag}"))
        )
    finally:
        proxy.stop()

    status = reply.body["status"]["images"][0]["status"]
    assert (status["reason"], status["code"]) == ("Forbidden", 403)
    assert "169.254.169.254" in status["message"]

"""Manifest + config -> Image conversion, list children and the Legacy child choice.

Every manifest and config is built here; the expected values follow
OpenShift's importer (``Id`` is the config digest, ``Size`` counts the config
and each distinct layer once, schema1 layers are reversed to base first).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from imagestreams.errors import IntegrityError, UnsupportedContentError
from imagestreams.imports import images
from imagestreams.models import ImageManifest
from imagestreams.registry import media

LAYERS_ORDER = "image.openshift.io/dockerLayersOrder"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob(name: str) -> str:
    return digest(name.encode())


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=2).encode()


CONFIG_DOC: dict[str, Any] = {
    "architecture": "arm64",
    "os": "linux",
    "author": "someone@example.com",
    "created": "2024-05-06T07:08:09.123456789Z",
    "docker_version": "24.0.7",
    "container": "c0ffee",
    "config": {
        "User": "1001",
        "Env": ["PATH=/usr/bin"],
        "Cmd": ["/bin/sh"],
        "ExposedPorts": {"8080/tcp": {}},
        "WorkingDir": "/srv",
        "Labels": {"io.k8s.display-name": "demo"},
        "StopSignal": "SIGTERM",
        "Healthcheck": {"Test": ["CMD", "true"]},
    },
    "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) CMD"]},
    "rootfs": {"type": "layers", "diff_ids": []},
    "history": [{"created_by": "x"}],
}
CONFIG = encode(CONFIG_DOC)


def image_manifest(
    media_type: str | None,
    layers: list[tuple[str, int]],
    config: bytes = CONFIG,
    layer_type: str = DOCKER_LAYER,
) -> bytes:
    doc: dict[str, Any] = {"schemaVersion": 2}
    if media_type:
        doc["mediaType"] = media_type
    doc["config"] = {
        "mediaType": media.DOCKER_CONFIG,
        "digest": digest(config),
        "size": len(config),
    }
    doc["layers"] = [
        {"mediaType": layer_type, "digest": name, "size": size} for name, size in layers
    ]
    return encode(doc)


def manifest_list(media_type: str | None, entries: list[dict[str, Any]]) -> bytes:
    doc: dict[str, Any] = {"schemaVersion": 2}
    if media_type:
        doc["mediaType"] = media_type
    doc["manifests"] = entries
    return encode(doc)


def entry(name: str, platform: dict[str, str] | None, size: int = 500) -> dict[str, Any]:
    result: dict[str, Any] = {"mediaType": media.OCI_MANIFEST, "digest": blob(name), "size": size}
    if platform is not None:
        result["platform"] = platform
    return result


def schema1_manifest(entries: list[tuple[str, dict[str, Any] | str]]) -> bytes:
    """An unsigned schema1 manifest; ``entries`` are (blobSum, v1Compatibility), newest first."""
    return encode(
        {
            "schemaVersion": 1,
            "name": "library/demo",
            "tag": "latest",
            "architecture": "amd64",
            "fsLayers": [{"blobSum": name} for name, _ in entries],
            "history": [
                {"v1Compatibility": v1 if isinstance(v1, str) else json.dumps(v1)}
                for _, v1 in entries
            ],
        }
    )


A, B, C, EMPTY = blob("a"), blob("b"), blob("c"), blob("empty")

SCHEMA1 = schema1_manifest(
    [
        (
            C,
            {
                "id": "3" * 64,
                "parent": "2" * 64,
                "created": "2016-01-02T03:04:05.5+01:00",
                "container": "deadbeef",
                "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) CMD"]},
                "docker_version": "1.9.1",
                "author": "old@example.com",
                "config": {"Cmd": ["/bin/sh"], "Env": ["A=1"]},
                "architecture": "amd64",
                "os": "linux",
                "Size": 30,
            },
        ),
        (EMPTY, {"id": "2" * 64, "parent": "1" * 64, "Size": 0}),
        (B, {"id": "1" * 64, "parent": "0" * 64, "Size": 20}),
        (EMPTY, {"id": "0" * 64, "Size": 0}),
        (A, "this is not JSON"),  # unreadable entry: size 0, as in OpenShift
    ]
)


@dataclass
class Case:
    """One manifest and what its Image must look like."""

    raw: bytes
    media_type: str
    config: bytes | None
    layers: list[tuple[str, int, str]]
    size: int
    image_id: str
    created: str | None
    architecture: str
    manifests: list[ImageManifest] = field(default_factory=list)
    annotations: dict[str, str] | None = field(default_factory=lambda: {LAYERS_ORDER: "ascending"})


SCHEMA2 = image_manifest(media.DOCKER_SCHEMA2, [(A, 10), (B, 20), (A, 10)])
OCI = image_manifest(None, [(A, 10), (C, 30)], layer_type=OCI_LAYER)
DOCKER_LIST = manifest_list(
    media.DOCKER_MANIFEST_LIST,
    [
        entry("amd64", {"architecture": "amd64", "os": "linux"}, 528),
        entry("arm", {"architecture": "arm", "os": "linux", "variant": "v7"}, 529),
    ],
)
OCI_INDEX = manifest_list(
    None,
    [
        entry("amd64", {"architecture": "amd64", "os": "linux"}),
        entry("attestation", None, 840),
    ],
)

CASES = {
    "schema2": Case(
        raw=SCHEMA2,
        media_type=media.DOCKER_SCHEMA2,
        config=CONFIG,
        # The repeated layer is listed twice but counted once in Size.
        layers=[(A, 10, DOCKER_LAYER), (B, 20, DOCKER_LAYER), (A, 10, DOCKER_LAYER)],
        size=len(CONFIG) + 30,
        image_id=digest(CONFIG),
        created="2024-05-06T07:08:09Z",
        architecture="arm64",
    ),
    "oci": Case(
        raw=OCI,
        media_type=media.OCI_MANIFEST,
        config=CONFIG,
        layers=[(A, 10, OCI_LAYER), (C, 30, OCI_LAYER)],
        size=len(CONFIG) + 40,
        image_id=digest(CONFIG),
        created="2024-05-06T07:08:09Z",
        architecture="arm64",
    ),
    "schema1": Case(
        raw=SCHEMA1,
        media_type=media.DOCKER_SCHEMA1,
        config=None,
        # Base first; the empty layer appears twice and sizes come from v1Compatibility.
        layers=[
            (A, 0, media.DOCKER_SCHEMA1_LAYER),
            (EMPTY, 0, media.DOCKER_SCHEMA1_LAYER),
            (B, 20, media.DOCKER_SCHEMA1_LAYER),
            (EMPTY, 0, media.DOCKER_SCHEMA1_LAYER),
            (C, 30, media.DOCKER_SCHEMA1_LAYER),
        ],
        size=50,
        image_id="3" * 64,
        created="2016-01-02T02:04:05Z",
        architecture="amd64",
    ),
    "docker-list": Case(
        raw=DOCKER_LIST,
        media_type=media.DOCKER_MANIFEST_LIST,
        config=None,
        layers=[],
        size=0,
        image_id=digest(DOCKER_LIST),
        created=None,
        architecture="",
        manifests=[
            ImageManifest(
                digest=blob("amd64"),
                media_type=media.OCI_MANIFEST,
                manifest_size=528,
                architecture="amd64",
                os="linux",
            ),
            ImageManifest(
                digest=blob("arm"),
                media_type=media.OCI_MANIFEST,
                manifest_size=529,
                architecture="arm",
                os="linux",
                variant="v7",
            ),
        ],
        annotations=None,
    ),
    "oci-index": Case(
        raw=OCI_INDEX,
        media_type=media.OCI_INDEX,
        config=None,
        layers=[],
        size=0,
        image_id=digest(OCI_INDEX),
        created=None,
        architecture="",
        manifests=[
            ImageManifest(
                digest=blob("amd64"),
                media_type=media.OCI_MANIFEST,
                manifest_size=500,
                architecture="amd64",
                os="linux",
            ),
            # Entries without a platform are kept, as OpenShift keeps them.
            ImageManifest(
                digest=blob("attestation"),
                media_type=media.OCI_MANIFEST,
                manifest_size=840,
                architecture="",
                os="",
            ),
        ],
        annotations=None,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_image_from_manifest(name: str) -> None:
    # Given a manifest (and its config) as a registry serves them
    case = CASES[name]
    manifest_digest = media.digest_of(case.raw, case.media_type)

    # When it is converted
    image = images.image_from_manifest(
        digest=manifest_digest,
        raw=case.raw,
        media_type=case.media_type,
        config=case.config,
        include_manifest=False,
    )

    # Then the Image carries what OpenShift's importer would put there
    doc = image.to_json_dict()
    assert doc["kind"] == "Image"
    assert doc["metadata"]["name"] == manifest_digest
    assert doc["metadata"].get("annotations") == case.annotations
    assert "dockerImageReference" not in doc
    assert doc["dockerImageMetadataVersion"] == "1.0"
    assert doc["dockerImageManifestMediaType"] == case.media_type
    metadata = doc["dockerImageMetadata"]
    assert metadata["kind"] == "DockerImage"
    assert metadata["apiVersion"] == "image.openshift.io/1.0"
    assert metadata["Id"] == case.image_id
    # Size is omitempty in docker10.DockerImage: a list's 0 is left out.
    assert metadata.get("Size") == (case.size or None)
    assert metadata["Created"] == case.created
    assert metadata.get("Architecture", "") == case.architecture
    layers = [(x["name"], x["size"], x["mediaType"]) for x in doc.get("dockerImageLayers", [])]
    assert layers == case.layers
    assert image.docker_image_manifests == (case.manifests or None)
    assert "dockerImageManifest" not in doc
    assert "dockerImageConfig" not in doc


def test_schema2_metadata_comes_from_the_config() -> None:
    image = images.image_from_manifest(
        digest=digest(SCHEMA2),
        raw=SCHEMA2,
        media_type=media.DOCKER_SCHEMA2,
        config=CONFIG,
        include_manifest=False,
    )

    metadata = image.to_json_dict()["dockerImageMetadata"]
    assert metadata["Author"] == "someone@example.com"
    assert metadata["DockerVersion"] == "24.0.7"
    assert metadata["Container"] == "c0ffee"
    # Only the keys OpenShift's DockerConfig models survive (no StopSignal/Healthcheck).
    assert metadata["Config"] == {
        "User": "1001",
        "Env": ["PATH=/usr/bin"],
        "Cmd": ["/bin/sh"],
        "ExposedPorts": {"8080/tcp": {}},
        "WorkingDir": "/srv",
        "Labels": {"io.k8s.display-name": "demo"},
    }
    assert metadata["ContainerConfig"] == {"Cmd": ["/bin/sh", "-c", "#(nop) CMD"]}
    assert image.docker_image_metadata is not None
    assert image.docker_image_metadata.created == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_schema1_metadata_comes_from_the_newest_history_entry() -> None:
    image = images.image_from_manifest(
        digest=digest(SCHEMA1),
        raw=SCHEMA1,
        media_type=media.DOCKER_SCHEMA1,
        config=None,
        include_manifest=False,
    )

    metadata = image.to_json_dict()["dockerImageMetadata"]
    assert metadata["Parent"] == "2" * 64
    assert metadata["DockerVersion"] == "1.9.1"
    assert metadata["Author"] == "old@example.com"
    assert metadata["Config"] == {"Cmd": ["/bin/sh"], "Env": ["A=1"]}
    assert metadata["ContainerConfig"] == {"Cmd": ["/bin/sh", "-c", "#(nop) CMD"]}


def test_zero_created_time_is_null() -> None:
    config = encode({"architecture": "amd64", "created": "0001-01-01T00:00:00Z"})
    raw = image_manifest(media.OCI_MANIFEST, [], config=config)

    image = images.image_from_manifest(
        digest=digest(raw),
        raw=raw,
        media_type=media.OCI_MANIFEST,
        config=config,
        include_manifest=False,
    )

    metadata = image.to_json_dict()["dockerImageMetadata"]
    assert metadata["Created"] is None
    assert metadata["Size"] == len(config)
    assert metadata["ContainerConfig"] == {}
    assert "Config" not in metadata


@pytest.mark.parametrize("name", list(CASES))
def test_include_manifest_returns_the_raw_documents(name: str) -> None:
    case = CASES[name]

    image = images.image_from_manifest(
        digest=media.digest_of(case.raw, case.media_type),
        raw=case.raw,
        media_type=case.media_type,
        config=case.config,
        include_manifest=True,
    )

    assert image.docker_image_manifest == case.raw.decode()
    assert image.docker_image_config == (case.config.decode() if case.config else "")


def test_signed_schema1_is_named_by_its_payload_digest() -> None:
    # A minimal libtrust-style signature (the signature bytes are never checked here).
    payload = schema1_manifest([(A, {"id": "9" * 64, "Size": 3})])
    length = len(payload) - 2
    protected = {"formatLength": length, "formatTail": "Cn0"}
    header = base64.urlsafe_b64encode(json.dumps(protected).encode()).rstrip(b"=").decode()
    signature = {"header": {"alg": "ES256"}, "signature": "c2ln", "protected": header}
    signed = payload[:length] + b',\n"signatures": ' + json.dumps([signature]).encode() + b"\n}"

    image = images.image_from_manifest(
        digest=digest(payload),
        raw=signed,
        media_type=media.DOCKER_SCHEMA1_SIGNED,
        config=None,
        include_manifest=True,
    )

    assert image.metadata.name == digest(payload)
    assert image.docker_image_manifest == signed.decode()
    assert [layer.size for layer in image.docker_image_layers or []] == [3]


# --- failures ---------------------------------------------------------------------


def test_manifest_digest_mismatch_is_an_integrity_error() -> None:
    with pytest.raises(IntegrityError, match="content integrity error"):
        images.image_from_manifest(
            digest=blob("something else"),
            raw=SCHEMA2,
            media_type=media.DOCKER_SCHEMA2,
            config=CONFIG,
            include_manifest=False,
        )


def test_config_digest_mismatch_is_an_integrity_error() -> None:
    with pytest.raises(IntegrityError, match="the blob retrieved with digest"):
        images.image_from_manifest(
            digest=digest(SCHEMA2),
            raw=SCHEMA2,
            media_type=media.DOCKER_SCHEMA2,
            config=CONFIG + b" ",
            include_manifest=False,
        )


def _bad_layer(layer: dict[str, Any]) -> bytes:
    doc = json.loads(SCHEMA2)
    doc["layers"] = [layer]
    return encode(doc)


BAD_CONFIGS = {
    "config-not-json": b"{oops",
    "config-not-object": b"[]",
    "config-bad-created": encode({"created": "yesterday"}),
    "config-bad-env": encode({"config": {"Env": "A=1"}}),
}


@pytest.mark.parametrize(
    ("raw", "media_type", "config"),
    [
        pytest.param(b"{not json", media.DOCKER_SCHEMA2, CONFIG, id="manifest-not-json"),
        pytest.param(encode({"schemaVersion": 2}), media.DOCKER_SCHEMA2, CONFIG, id="no-config"),
        pytest.param(
            _bad_layer({"digest": "sha256:../../etc/passwd", "size": 1}),
            media.DOCKER_SCHEMA2,
            CONFIG,
            id="layer-digest-not-a-digest",
        ),
        pytest.param(
            _bad_layer({"digest": A, "size": -1}),
            media.DOCKER_SCHEMA2,
            CONFIG,
            id="negative-layer-size",
        ),
        pytest.param(
            _bad_layer({"digest": A, "size": "10"}),
            media.DOCKER_SCHEMA2,
            CONFIG,
            id="layer-size-not-a-number",
        ),
        pytest.param(SCHEMA2, media.DOCKER_SCHEMA2, None, id="config-missing"),
        *(
            pytest.param(
                image_manifest(media.DOCKER_SCHEMA2, [(A, 1)], config=bad),
                media.DOCKER_SCHEMA2,
                bad,
                id=name,
            )
            for name, bad in BAD_CONFIGS.items()
        ),
        pytest.param(
            encode({"schemaVersion": 1, "fsLayers": [{"blobSum": A}], "history": []}),
            media.DOCKER_SCHEMA1,
            None,
            id="schema1-cardinality",
        ),
        pytest.param(
            encode({"schemaVersion": 1, "fsLayers": [], "history": []}),
            media.DOCKER_SCHEMA1,
            None,
            id="schema1-no-history",
        ),
        pytest.param(
            schema1_manifest([(A, "not json")]),
            media.DOCKER_SCHEMA1,
            None,
            id="schema1-history0-not-json",
        ),
        pytest.param(
            manifest_list(media.OCI_INDEX, [{"digest": "nope", "size": 1}]),
            media.OCI_INDEX,
            None,
            id="child-digest-not-a-digest",
        ),
        pytest.param(SCHEMA2, "application/json", CONFIG, id="unknown-media-type"),
    ],
)
def test_malformed_content_is_unsupported(
    raw: bytes, media_type: str, config: bytes | None
) -> None:
    with pytest.raises(UnsupportedContentError):
        images.image_from_manifest(
            digest=digest(raw),
            raw=raw,
            media_type=media_type,
            config=config,
            include_manifest=False,
        )


# --- what to fetch next -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "media_type", "expected"),
    [
        pytest.param(SCHEMA2, media.DOCKER_SCHEMA2, (digest(CONFIG), len(CONFIG)), id="schema2"),
        pytest.param(OCI, media.OCI_MANIFEST, (digest(CONFIG), len(CONFIG)), id="oci"),
        pytest.param(SCHEMA1, media.DOCKER_SCHEMA1, None, id="schema1"),
        pytest.param(SCHEMA1, media.DOCKER_SCHEMA1_SIGNED, None, id="schema1-signed"),
        pytest.param(DOCKER_LIST, media.DOCKER_MANIFEST_LIST, None, id="docker-list"),
        pytest.param(OCI_INDEX, media.OCI_INDEX, None, id="oci-index"),
    ],
)
def test_config_descriptor(raw: bytes, media_type: str, expected: tuple[str, int] | None) -> None:
    assert images.config_descriptor(raw, media_type) == expected


@pytest.mark.parametrize(
    ("raw", "media_type"),
    [
        pytest.param(encode({"layers": []}), media.OCI_MANIFEST, id="no-config"),
        pytest.param(
            encode({"config": {"digest": "sha256:abc", "size": 1}}),
            media.OCI_MANIFEST,
            id="short-digest",
        ),
        pytest.param(SCHEMA2, "text/plain", id="not-a-manifest-type"),
    ],
)
def test_config_descriptor_rejects_malformed(raw: bytes, media_type: str) -> None:
    with pytest.raises(UnsupportedContentError):
        images.config_descriptor(raw, media_type)


def test_children_of_a_single_manifest_are_unsupported() -> None:
    with pytest.raises(UnsupportedContentError):
        images.children(SCHEMA2, media.DOCKER_SCHEMA2)


# --- the Legacy choice ----------------------------------------------------------------


def child(os: str, arch: str, variant: str = "") -> ImageManifest:
    name = "/".join(x for x in (os, arch, variant) if x)
    return ImageManifest(
        digest=blob(name),
        media_type=media.OCI_MANIFEST,
        manifest_size=1,
        architecture=arch,
        os=os,
        variant=variant,
    )


TYPICAL = [
    child("linux", "amd64"),
    child("linux", "arm", "v6"),
    child("linux", "arm", "v7"),
    child("linux", "arm64", "v8"),
    child("linux", "ppc64le"),
    child("windows", "amd64"),
]
NO_AMD64 = [child("windows", "arm64"), child("linux", "arm", "v7"), child("linux", "s390x")]
ARM64_WITHOUT_VARIANT = [child("linux", "amd64"), child("linux", "arm64")]
ARM_WITHOUT_EXACT = [child("linux", "arm", "v7"), child("linux", "arm"), child("linux", "amd64")]


@pytest.mark.parametrize(
    ("candidates", "prefer_arch", "prefer_os", "platform", "expected"),
    [
        pytest.param(TYPICAL, None, None, "linux/amd64", "linux/amd64", id="default"),
        pytest.param(TYPICAL, "arm64", None, "linux/amd64", "linux/arm64/v8", id="prefer-arch"),
        pytest.param(TYPICAL, None, "windows", "linux/amd64", "windows/amd64", id="prefer-os"),
        pytest.param(TYPICAL, "ppc64le", "linux", "linux/amd64", "linux/ppc64le", id="prefer-both"),
        pytest.param(
            TYPICAL, "riscv64", None, "linux/amd64", "linux/amd64", id="absent-preference"
        ),
        pytest.param(TYPICAL, "", "", "linux/arm64", "linux/arm64/v8", id="empty-annotations"),
        pytest.param(TYPICAL, None, None, "linux/arm/v6", "linux/arm/v6", id="variant-v6"),
        pytest.param(TYPICAL, None, None, "linux/arm/v7", "linux/arm/v7", id="variant-v7"),
        pytest.param(TYPICAL, None, None, "linux/arm", "linux/arm/v6", id="no-variant-first-arm"),
        pytest.param(
            TYPICAL, "arm", None, "linux/arm/v7", "linux/arm/v7", id="prefer-arch-keeps-variant"
        ),
        pytest.param(
            TYPICAL, "arm", None, "linux/amd64", "linux/arm/v6", id="prefer-arch-any-variant"
        ),
        pytest.param(
            ARM64_WITHOUT_VARIANT,
            None,
            None,
            "linux/arm64/v8",
            "linux/arm64",
            id="variant-missing-in-index",
        ),
        pytest.param(
            ARM_WITHOUT_EXACT, None, None, "linux/arm/v5", "linux/arm", id="inexact-prefers-plain"
        ),
        pytest.param(TYPICAL, None, None, "linux/s390x", "linux/amd64", id="fallback-amd64"),
        pytest.param(NO_AMD64, None, None, "linux/amd64", "windows/arm64", id="fallback-first"),
        pytest.param(NO_AMD64, "mips", "plan9", "linux/riscv64", "windows/arm64", id="nothing"),
    ],
)
def test_select_child(
    candidates: list[ImageManifest],
    prefer_arch: str | None,
    prefer_os: str | None,
    platform: str,
    expected: str,
) -> None:
    chosen = images.select_child(candidates, prefer_arch, prefer_os, platform)

    assert chosen.digest == blob(expected)


def test_select_child_defaults_to_linux_amd64() -> None:
    assert images.select_child(TYPICAL[::-1], None, None) == child("linux", "amd64")


def test_select_child_of_an_empty_list_is_unsupported() -> None:
    with pytest.raises(UnsupportedContentError, match="no manifests"):
        images.select_child([], None, None)


@pytest.mark.parametrize("platform", ["linux", "linux/", "/amd64", "linux/arm/v7/x", ""])
def test_select_child_rejects_a_bad_default_platform(platform: str) -> None:
    with pytest.raises(ValueError, match="platform"):
        images.select_child(TYPICAL, None, None, platform)

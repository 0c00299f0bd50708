"""The OpenShift JSON models: parsing requests, writing responses as OpenShift writes them.

Expected documents follow Go's encoding of openshift/api ``image/v1`` and
Kubernetes ``meta/v1``: ``omitempty`` drops zero scalars, empty slices and
maps and nil pointers, but never struct values (``importPolicy: {}``,
``metadata: {}``), and a zero ``metav1.Time`` is ``null``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from imagestreams.models import (
    DockerConfig,
    DockerImage,
    Image,
    ImageImportSpec,
    ImageImportStatus,
    ImageLayer,
    ImageManifest,
    ImageSignature,
    ImageStream,
    ImageStreamImport,
    ImageStreamImportSpec,
    ImageStreamImportStatus,
    ImageStreamSpec,
    ImageStreamStatus,
    ListMeta,
    LocalObjectReference,
    NamedTagEventList,
    ObjectMeta,
    ObjectReference,
    OpenShiftModel,
    RepositoryImportSpec,
    RepositoryImportStatus,
    Status,
    StatusCause,
    StatusDetails,
    TagEvent,
    TagEventCondition,
    TagImportPolicy,
    TagReference,
    TagReferencePolicy,
)

DIGEST = "sha256:" + "ab" * 32
CONFIG_DIGEST = "sha256:" + "cd" * 32
LAYER = "sha256:" + "ef" * 32
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

# What `oc import-image` sends, plus fields this service does not know about.
REQUEST: dict[str, Any] = {
    "kind": "ImageStreamImport",
    "apiVersion": "image.openshift.io/v1",
    "metadata": {
        "name": "mysql",
        "namespace": "demo",
        "creationTimestamp": None,
        "somethingNew": {"x": 1},
    },
    "spec": {
        "import": True,
        "images": [
            {
                "from": {"kind": "DockerImage", "name": "mysql:8", "futureField": True},
                "to": {"name": "8"},
                "importPolicy": {"insecure": False, "importMode": "PreserveOriginal"},
                "referencePolicy": {"type": "Local"},
                "includeManifest": True,
                "unknown": [1, 2],
            }
        ],
        "repository": {
            "from": {"kind": "DockerImage", "name": "quay.io/org/repo"},
            "importPolicy": {"scheduled": True},
            "referencePolicy": {"type": ""},
        },
        "brandNew": "ignored",
    },
    "status": {},
    "topLevelExtra": 42,
}


def test_request_round_trip_ignores_unknown_fields() -> None:
    # Given an OpenShift request with fields this service does not model
    # When it is parsed and written back
    isi = ImageStreamImport.model_validate(REQUEST)
    written = isi.to_json_dict()

    # Then the known fields survive, the unknown ones are gone, zero values are omitted
    assert written == {
        "kind": "ImageStreamImport",
        "apiVersion": "image.openshift.io/v1",
        "metadata": {"name": "mysql", "namespace": "demo", "creationTimestamp": None},
        "spec": {
            "import": True,
            "repository": {
                "from": {"kind": "DockerImage", "name": "quay.io/org/repo"},
                "importPolicy": {"scheduled": True},
                "referencePolicy": {"type": ""},
            },
            "images": [
                {
                    "from": {"kind": "DockerImage", "name": "mysql:8"},
                    "to": {"name": "8"},
                    "importPolicy": {"importMode": "PreserveOriginal"},
                    "referencePolicy": {"type": "Local"},
                    "includeManifest": True,
                }
            ],
        },
        "status": {},
    }
    # And it parses back to the same model
    assert ImageStreamImport.model_validate(written) == isi


def test_request_fields_are_reachable_by_python_name() -> None:
    isi = ImageStreamImport.model_validate(REQUEST)

    spec = isi.spec.images[0] if isi.spec.images else None
    assert isi.spec.import_ is True
    assert spec is not None
    assert spec.from_.name == "mysql:8"
    assert spec.to == LocalObjectReference(name="8")
    assert spec.import_policy.import_mode == "PreserveOriginal"
    assert spec.include_manifest is True
    assert isi.spec.repository is not None
    assert isi.spec.repository.import_policy.scheduled is True


def test_models_are_built_by_field_name() -> None:
    spec = ImageImportSpec(
        from_=ObjectReference(kind="DockerImage", name="busybox"),
        import_policy=TagImportPolicy(import_mode="Legacy"),
        reference_policy=TagReferencePolicy(type="Source"),
    )

    assert spec.to_json_dict() == {
        "from": {"kind": "DockerImage", "name": "busybox"},
        "importPolicy": {"importMode": "Legacy"},
        "referencePolicy": {"type": "Source"},
    }


def test_null_means_the_zero_value() -> None:
    # Go leaves a non-pointer field at its zero value when the JSON says null.
    isi = ImageStreamImport.model_validate(
        {
            "metadata": None,
            "spec": {
                "import": None,
                "images": [{"from": {"name": "x"}, "importPolicy": None, "to": None}],
            },
        }
    )

    assert isi.metadata == ObjectMeta()
    assert isi.spec.import_ is False
    assert isi.spec.images == [ImageImportSpec(from_=ObjectReference(name="x"))]


def test_an_empty_request_parses_to_zero_values() -> None:
    # Validation (not parsing) rejects it, with proper field causes.
    isi = ImageStreamImport.model_validate({})

    assert isi.spec == ImageStreamImportSpec()
    assert isi.to_json_dict()["spec"] == {"import": False}


def test_a_wrongly_typed_field_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        ImageStreamImport.model_validate({"spec": {"images": "mysql"}})


# --- omitempty ---------------------------------------------------------------------


OMITEMPTY_CASES: list[tuple[str, OpenShiftModel, dict[str, Any]]] = [
    ("object-meta-null-creation", ObjectMeta(), {"creationTimestamp": None}),
    (
        "object-meta-empty-maps",
        ObjectMeta(name="x", labels={}, annotations={}, finalizers=[], generation=0),
        {"name": "x", "creationTimestamp": None},
    ),
    (
        "object-meta-full",
        ObjectMeta(
            name="x",
            namespace="ns",
            uid="u",
            resource_version="7",
            generation=3,
            creation_timestamp=WHEN,
            labels={"a": "b"},
            annotations={"c": "d"},
        ),
        {
            "name": "x",
            "namespace": "ns",
            "uid": "u",
            "resourceVersion": "7",
            "generation": 3,
            "creationTimestamp": "2026-01-02T03:04:05Z",
            "labels": {"a": "b"},
            "annotations": {"c": "d"},
        },
    ),
    ("list-meta", ListMeta(), {}),
    ("list-meta-continue", ListMeta(continue_="tok"), {"continue": "tok"}),
    ("object-reference", ObjectReference(), {}),
    ("local-reference", LocalObjectReference(), {}),
    ("import-policy", TagImportPolicy(insecure=False, scheduled=False), {}),
    ("reference-policy-keeps-type", TagReferencePolicy(), {"type": ""}),
    (
        "image-import-spec-keeps-structs",
        ImageImportSpec(),
        {"from": {}, "importPolicy": {}, "referencePolicy": {"type": ""}},
    ),
    (
        "repository-import-spec",
        RepositoryImportSpec(include_manifest=False),
        {"from": {}, "importPolicy": {}, "referencePolicy": {"type": ""}},
    ),
    ("spec-keeps-import", ImageStreamImportSpec(images=[]), {"import": False}),
    ("status-empty", ImageStreamImportStatus(images=[]), {}),
    ("image-import-status-keeps-status", ImageImportStatus(), {"status": {"metadata": {}}}),
    (
        "image-import-status-full",
        ImageImportStatus(status=Status.success(type_meta=False), tag="8", manifests=[]),
        {"status": {"metadata": {}, "status": "Success"}, "tag": "8"},
    ),
    (
        "repository-import-status",
        RepositoryImportStatus(images=[], additional_tags=[]),
        {"status": {"metadata": {}}},
    ),
    (
        "layer-keeps-zero-size",
        ImageLayer(name=LAYER, size=0, media_type="x"),
        {"name": LAYER, "size": 0, "mediaType": "x"},
    ),
    (
        "manifest-omits-variant",
        ImageManifest(digest=DIGEST, media_type="m", manifest_size=0, architecture="", os=""),
        {"digest": DIGEST, "mediaType": "m", "manifestSize": 0, "architecture": "", "os": ""},
    ),
    (
        # docker10.DockerImage: Size is omitempty; Created and ContainerConfig are structs.
        "docker-image-keeps-id-created-containerconfig",
        DockerImage(),
        {
            "kind": "DockerImage",
            "apiVersion": "image.openshift.io/1.0",
            "Id": "",
            "Created": None,
            "ContainerConfig": {},
        },
    ),
    ("docker-config", DockerConfig(env=[], tty=False, labels={}), {}),
    (
        "image-minimal",
        Image(docker_image_layers=[], signatures=[], docker_image_manifests=[]),
        {
            "kind": "Image",
            "apiVersion": "image.openshift.io/v1",
            "metadata": {"creationTimestamp": None},
        },
    ),
    (
        "signature-keeps-type-and-content",
        ImageSignature(),
        {"metadata": {"creationTimestamp": None}, "type": "", "content": ""},
    ),
    (
        "tag-reference-writes-null-annotations-and-generation",
        TagReference(name="latest"),
        {
            "name": "latest",
            "annotations": None,
            "generation": None,
            "importPolicy": {},
            "referencePolicy": {"type": ""},
        },
    ),
    (
        "stream-spec-keeps-lookup-policy",
        ImageStreamSpec(tags=[]),
        {"lookupPolicy": {"local": False}},
    ),
    ("stream-status-keeps-repository", ImageStreamStatus(tags=[]), {"dockerImageRepository": ""}),
    (
        "tag-event-keeps-everything",
        TagEvent(created=WHEN, platforms=[]),
        {
            "created": "2026-01-02T03:04:05Z",
            "dockerImageReference": "",
            "image": "",
            "generation": 0,
        },
    ),
    (
        "tag-event-condition",
        TagEventCondition(type="ImportSuccess", status="False"),
        {"type": "ImportSuccess", "status": "False", "lastTransitionTime": None, "generation": 0},
    ),
    # image/v1 NamedTagEventList: items has no omitempty and is nil without history.
    (
        "named-tag-event-list-writes-null-items",
        NamedTagEventList(tag="t", conditions=[]),
        {"tag": "t", "items": None},
    ),
    (
        "image-stream",
        ImageStream(),
        {
            "kind": "ImageStream",
            "apiVersion": "image.openshift.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": {"lookupPolicy": {"local": False}},
            "status": {"dockerImageRepository": ""},
        },
    ),
]


@pytest.mark.parametrize(
    ("model", "expected"),
    [pytest.param(model, expected, id=name) for name, model, expected in OMITEMPTY_CASES],
)
def test_omitempty(model: OpenShiftModel, expected: dict[str, Any]) -> None:
    written = model.to_json_dict()

    assert written == expected
    assert json.loads(model.to_json()) == expected
    # Reading the output back writes the same document (Go, too, cannot tell [] from nil).
    assert type(model).model_validate(written).to_json_dict() == expected


def test_type_meta_of_nested_objects_can_be_left_out() -> None:
    # OpenShift writes nested images without kind/apiVersion; empty strings are omitted.
    image = Image(kind="", api_version="", metadata=ObjectMeta(name=DIGEST))

    assert image.to_json_dict() == {"metadata": {"name": DIGEST, "creationTimestamp": None}}


def test_full_response_document() -> None:
    # Given a dry-run response with one imported image and one failure
    image = Image(
        metadata=ObjectMeta(
            name=DIGEST, annotations={"image.openshift.io/dockerLayersOrder": "ascending"}
        ),
        docker_image_reference=f"registry.example.com/org/app@{DIGEST}",
        docker_image_metadata=DockerImage(
            id=CONFIG_DIGEST,
            created=WHEN,
            architecture="amd64",
            config=DockerConfig(env=["A=1"], exposed_ports={"80/tcp": {}}),
            size=1234,
        ),
        docker_image_metadata_version="1.0",
        docker_image_layers=[ImageLayer(name=LAYER, size=1000, media_type="layer")],
        docker_image_manifest_media_type="application/vnd.oci.image.manifest.v1+json",
    )
    isi = ImageStreamImport(
        metadata=ObjectMeta(name="app", namespace="demo"),
        spec=ImageStreamImportSpec(
            images=[ImageImportSpec(from_=ObjectReference(kind="DockerImage", name="app"))]
        ),
        status=ImageStreamImportStatus(
            images=[
                ImageImportStatus(
                    status=Status.success(type_meta=False), image=image, tag="latest"
                ),
                ImageImportStatus(
                    status=Status.failure(
                        404,
                        "NotFound",
                        'dockerimage.image.openshift.io "app:gone" not found',
                        StatusDetails(
                            name="app:gone", group="image.openshift.io", kind="dockerimage"
                        ),
                        type_meta=False,
                    )
                ),
            ]
        ),
    )

    # When it is written
    written = isi.to_json_dict()

    # Then it is the document OpenShift writes
    assert written["status"] == {
        "images": [
            {
                "status": {"metadata": {}, "status": "Success"},
                "image": {
                    "kind": "Image",
                    "apiVersion": "image.openshift.io/v1",
                    "metadata": {
                        "name": DIGEST,
                        "creationTimestamp": None,
                        "annotations": {"image.openshift.io/dockerLayersOrder": "ascending"},
                    },
                    "dockerImageReference": f"registry.example.com/org/app@{DIGEST}",
                    "dockerImageMetadata": {
                        "kind": "DockerImage",
                        "apiVersion": "image.openshift.io/1.0",
                        "Id": CONFIG_DIGEST,
                        "Created": "2026-01-02T03:04:05Z",
                        "ContainerConfig": {},
                        "Config": {"ExposedPorts": {"80/tcp": {}}, "Env": ["A=1"]},
                        "Architecture": "amd64",
                        "Size": 1234,
                    },
                    "dockerImageMetadataVersion": "1.0",
                    "dockerImageLayers": [{"name": LAYER, "size": 1000, "mediaType": "layer"}],
                    "dockerImageManifestMediaType": "application/vnd.oci.image.manifest.v1+json",
                },
                "tag": "latest",
            },
            {
                "status": {
                    "metadata": {},
                    "status": "Failure",
                    "message": 'dockerimage.image.openshift.io "app:gone" not found',
                    "reason": "NotFound",
                    "details": {
                        "name": "app:gone",
                        "group": "image.openshift.io",
                        "kind": "dockerimage",
                    },
                    "code": 404,
                }
            },
        ]
    }
    assert ImageStreamImport.model_validate_json(isi.to_json()) == isi


def test_python_dump_uses_field_names_and_still_omits() -> None:
    dumped = ImageImportSpec(to=LocalObjectReference(name="x")).model_dump()

    assert dumped == {
        "from_": {},
        "to": {"name": "x"},
        "import_policy": {},
        "reference_policy": {"type": ""},
    }


def test_docker_config_keeps_docker_keys_and_drops_unknown_ones() -> None:
    raw = {
        "Hostname": "h",
        "CpuShares": 2,
        "Cpuset": "0-1",
        "Dns": ["1.1.1.1"],
        "ExposedPorts": {"80/tcp": {"ignored": 1}},
        "Volumes": {"/data": {}},
        "Labels": {"a": None},
        "Healthcheck": {"Test": ["NONE"]},
        "StopSignal": "SIGTERM",
    }

    written = DockerConfig.model_validate(raw).to_json_dict()

    assert written == {
        "Hostname": "h",
        "CpuShares": 2,
        "Cpuset": "0-1",
        "ExposedPorts": {"80/tcp": {}},
        "Dns": ["1.1.1.1"],
        "Volumes": {"/data": {}},
        "Labels": {"a": ""},
    }


def test_signature_bytes_are_base64() -> None:
    image = Image(
        signatures=[ImageSignature(type="atomic", content=b"\x00\xffsig")],
        docker_image_signatures=[b"jws"],
    )

    written = image.to_json_dict()

    assert written["signatures"][0]["content"] == "AP9zaWc="
    assert written["dockerImageSignatures"] == ["andz"]
    assert Image.model_validate(written) == image


# --- Status helpers ---------------------------------------------------------------


def test_status_failure() -> None:
    status = Status.failure(
        422,
        "Invalid",
        'ImageStreamImport.image.openshift.io "x" is invalid: spec.images: Required value',
        StatusDetails(
            name="x",
            group="image.openshift.io",
            kind="ImageStreamImport",
            causes=[
                StatusCause(
                    reason="FieldValueRequired", message="Required value", field="spec.images"
                )
            ],
        ),
    )

    assert status.to_json_dict() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": (
            'ImageStreamImport.image.openshift.io "x" is invalid: spec.images: Required value'
        ),
        "reason": "Invalid",
        "details": {
            "name": "x",
            "group": "image.openshift.io",
            "kind": "ImageStreamImport",
            "causes": [
                {
                    "reason": "FieldValueRequired",
                    "message": "Required value",
                    "field": "spec.images",
                }
            ],
        },
        "code": 422,
    }
    assert not status.is_success


def test_status_failure_with_retry_after() -> None:
    status = Status.failure(
        429, "TooManyRequests", "slow down", StatusDetails(retry_after_seconds=30)
    )

    assert status.to_json_dict()["details"] == {"retryAfterSeconds": 30}


def test_status_success() -> None:
    assert Status.success().to_json_dict() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
    }
    assert Status.success().is_success


def test_status_without_type_meta() -> None:
    assert Status.failure(500, "InternalError", "boom", type_meta=False).to_json_dict() == {
        "metadata": {},
        "status": "Failure",
        "message": "boom",
        "reason": "InternalError",
        "code": 500,
    }


# --- times ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("2026-01-02T03:04:05Z", "2026-01-02T03:04:05Z", id="utc"),
        pytest.param("2026-01-02T03:04:05.999999999Z", "2026-01-02T03:04:05Z", id="nanoseconds"),
        pytest.param("2026-01-02T05:04:05+02:00", "2026-01-02T03:04:05Z", id="offset"),
        pytest.param("2026-01-01T23:04:05.5-04:00", "2026-01-02T03:04:05Z", id="negative-offset"),
        pytest.param("2026-01-02t03:04:05z", "2026-01-02T03:04:05Z", id="lowercase"),
        pytest.param(datetime(2026, 1, 2, 3, 4, 5, 123), "2026-01-02T03:04:05Z", id="naive-is-utc"),
        pytest.param(
            datetime(2026, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1))),
            "2026-01-02T03:04:05Z",
            id="aware",
        ),
        pytest.param("0001-01-01T00:00:00Z", None, id="go-zero-time"),
        pytest.param("", None, id="empty"),
    ],
)
def test_times(value: Any, expected: str | None) -> None:
    condition = TagEventCondition.model_validate({"lastTransitionTime": value})

    assert condition.to_json_dict()["lastTransitionTime"] == expected


@pytest.mark.parametrize(
    "value", ["yesterday", "2026-01-02", "2026-01-02 03:04:05Z", "2026-13-02T03:04:05Z", 17]
)
def test_invalid_times_are_rejected(value: Any) -> None:
    with pytest.raises(ValidationError):
        TagEventCondition.model_validate({"lastTransitionTime": value})


def test_tag_event_requires_a_time() -> None:
    with pytest.raises(ValidationError):
        TagEvent.model_validate({"image": DIGEST})
    with pytest.raises(ValidationError):
        TagEvent.model_validate({"created": "0001-01-01T00:00:00Z"})

"""Conformance with OpenShift's importer and ImageStreamImport storage, case by case.

Each row mirrors one case of openshift-apiserver (``pkg/image/apiserver/
importer/importer.go``, ``image.go``, ``importer_test.go``,
``pkg/image/apiserver/registry/imagestreamimport/rest.go``), of the
library-go and distribution code it calls, or of openshift/api ``image/v1``
and ``image/docker10``; a comment on each row names it. Every row runs
through the real api handler against the Debian ``docker-registry`` on
loopback, with AWS on moto.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from imagestreams.models.base import parse_time
from testkit.api import Api, Reply, image_spec, import_body
from testkit.events import load_event, with_body, with_name, with_namespace
from testkit.images import (
    Platform,
    PushedImage,
    build_image,
    build_index,
    delete_blob,
    repush_tag,
)
from testkit.registry import Registry

ABSENT_DIGEST = "sha256:" + "0" * 64
PREFER_ARCH = "importer.image.openshift.io/prefer-arch"
PREFER_OS = "importer.image.openshift.io/prefer-os"


def importing(
    *images: dict[str, Any], name: str = "app", annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    body = import_body(*images, name=name, annotations=annotations)
    body["spec"]["import"] = True
    return body


def only_entry(reply: Reply) -> dict[str, Any]:
    assert reply.status == 201, reply.body
    [entry] = reply.body["status"]["images"]
    result: dict[str, Any] = entry
    return result


def send(api: Api, event: str, *, name: str | None = None, body: Any = None) -> Reply:
    """The sample ``event`` for namespace ``demo`` (and object ``name``, with ``body``)."""
    sample = with_namespace(load_event(event), "demo")
    if name is not None:
        sample = with_name(sample, name)
    if body is not None:
        sample = with_body(sample, body)
    return api.invoke(sample)


# --- status.images[i].tag and the failure it reports ----------------------------------


@dataclass(frozen=True)
class Names:
    """The references one status row is built from."""

    repo: str
    digest: str
    missing: str


@dataclass(frozen=True)
class StatusRow:
    source: Callable[[Names], str]
    to: str | None
    tag: str | None
    # None: Success; else the NotFound failure for the reference this gives.
    not_found: Callable[[Names], str] | None = None


STATUS_ROWS = [
    # importer.go importImages: a success reports tag.Name, the source tag, not `to`
    # (importer_test.go TestImport "successful import by tag": tag "busybox").
    pytest.param(StatusRow(lambda n: f"{n.repo}:v1", "renamed", "v1"), id="tag-success-source-tag"),
    # importer.go importImages: DockerClientDefaults gives a reference without tag "latest".
    pytest.param(StatusRow(lambda n: n.repo, None, "latest"), id="no-tag-success-latest"),
    # importer_test.go TestImport "successfull import by tag and digest": expectedTags "".
    pytest.param(
        StatusRow(lambda n: f"{n.repo}@{n.digest}", None, None), id="digest-success-no-tag"
    ),
    # importer.go importImages: a reference with a digest takes the digest path, tag dropped.
    pytest.param(
        StatusRow(lambda n: f"{n.repo}:v1@{n.digest}", "pinned", None),
        id="tag-and-digest-success-no-tag",
    ),
    # importer.go setImageImportStatus(isi, index, tag.Name, err) and formatRepositoryError's
    # NotFound for ManifestUnknown.
    pytest.param(
        StatusRow(lambda n: f"{n.repo}:nope", "renamed", "nope", lambda n: f"{n.repo}:nope"),
        id="tag-failure-source-tag",
    ),
    # importer_test.go TestImport "missing tag, digest, and invalid image reference":
    # tag "latest", and the error names "<repository>:latest".
    pytest.param(
        StatusRow(lambda n: n.missing, None, "latest", lambda n: f"{n.missing}:latest"),
        id="no-tag-failure-latest",
    ),
    # importer_test.go TestImport "missing tag, digest, ...": a digest's failure has tag "".
    pytest.param(
        StatusRow(
            lambda n: f"{n.repo}@{ABSENT_DIGEST}", None, None, lambda n: f"{n.repo}@{ABSENT_DIGEST}"
        ),
        id="digest-failure-no-tag",
    ),
]


@pytest.mark.parametrize("row", STATUS_ROWS)
def test_image_status_reports_the_source_tag(
    api: Api, anon_registry: Registry, push_image: Any, unique_repo: Any, row: StatusRow
) -> None:
    # Given one image tagged latest and v1
    image = build_image()
    repository = unique_repo("statuses")
    pushed = push_image(anon_registry, repository, "latest", image=image, via="api")
    push_image(anon_registry, repository, "v1", image=image, via="api")
    repo = f"{anon_registry.host}/{repository}"
    names = Names(repo, pushed.digest, f"{anon_registry.host}/{unique_repo('absent')}")
    spec = image_spec(row.source(names))
    if row.to is not None:
        spec["to"] = {"name": row.to}

    # When it is imported
    entry = only_entry(api.post_import("demo", import_body(spec)))

    # Then the status reports the tag as OpenShift does, for a success and a failure alike
    assert entry.get("tag") == row.tag
    if row.not_found is None:
        assert entry["status"]["status"] == "Success", entry["status"]
        assert entry["image"]["metadata"]["name"] == pushed.digest
        return
    ref = row.not_found(names)
    assert entry["status"] == {
        "metadata": {},
        "status": "Failure",
        "message": f'dockerimage.image.openshift.io "{ref}" not found',
        "reason": "NotFound",
        "details": {"name": ref, "group": "image.openshift.io", "kind": "dockerimage"},
        "code": 404,
    }


# --- a missing config blob ------------------------------------------------------------


@dataclass(frozen=True)
class BlobRow:
    multiarch: bool
    mode: str
    # The reference the error names, from what was pushed and the child whose config is gone.
    named: Callable[[PushedImage, PushedImage], str]


BLOB_ROWS = [
    # importer.go importManifest: b.Get of the config fails; formatRepositoryError(ref, err) keeps
    # distribution's ErrBlobUnknown ("unknown blob") as an InternalError, not NotFound.
    pytest.param(BlobRow(False, "Legacy", lambda top, _: top.pull_spec), id="image"),
    # importer.go importManifest: a Legacy list's child is read with the tag's reference.
    pytest.param(BlobRow(True, "Legacy", lambda top, _: top.pull_spec), id="legacy-list-child"),
    # importer.go importSubManifests: each child is read, and named, by its digest.
    pytest.param(
        BlobRow(
            True,
            "PreserveOriginal",
            lambda top, child: f"{top.host}/{top.repository}@{child.digest}",
        ),
        id="preserved-list-child",
    ),
]


@pytest.mark.parametrize("row", BLOB_ROWS)
def test_missing_config_blob_is_an_internal_error(
    api: Api, anon_registry: Registry, push_image: Any, row: BlobRow
) -> None:
    # Given an image (or list) whose (amd64) config blob the registry no longer has
    pushed = push_image(anon_registry, tag="v1", multiarch=row.multiarch, via="api")
    child = pushed.children[0].image if row.multiarch else pushed
    assert child.config_digest is not None
    delete_blob(anon_registry, pushed.repository, child.config_digest)

    # When it is imported
    spec = image_spec(pushed.pull_spec, importPolicy={"importMode": row.mode})
    entry = only_entry(api.post_import("demo", import_body(spec)))

    # Then it fails as OpenShift's importer fails it
    cause = f"{row.named(pushed, child)}: unknown blob"
    assert entry["status"] == {
        "metadata": {},
        "status": "Failure",
        "message": f"Internal error occurred: {cause}",
        "reason": "InternalError",
        "details": {"causes": [{"message": cause}]},
        "code": 500,
    }
    assert entry["tag"] == "v1"
    assert "image" not in entry


# --- a manifest list kept whole ---------------------------------------------------------


@pytest.mark.parametrize(
    "fmt",
    [
        # image.go manifestListToImage with a Docker manifest list
        # (importer_manifestlist_test.go TestImportManifestList imports such lists whole).
        pytest.param("v2s2", id="docker-list"),
        # distribution's manifestlist.go registers the OCI image index as a manifest list,
        # so manifestListToImage builds an index the same way.
        pytest.param("oci", id="oci-index"),
    ],
)
def test_preserved_list_image_is_dated_by_the_import_and_has_no_size(
    api: Api, anon_registry: Registry, push_image: Any, fmt: str
) -> None:
    # Given a multi-arch image
    pushed = push_image(anon_registry, tag="multi", multiarch=True, via="api", fmt=fmt)
    spec = image_spec(pushed.pull_spec, importPolicy={"importMode": "PreserveOriginal"})

    # When it is imported whole
    before = datetime.now(UTC).replace(microsecond=0)
    entry = only_entry(api.post_import("demo", import_body(spec)))
    after = datetime.now(UTC)

    # Then the list's Image is what manifestListToImage builds: Id the digest, Created
    # metav1.Now(), Size unset and so left out (docker10 DockerImage `Size,omitempty`),
    # version 1.0 (conversion.go's default), no layers, no layer-order annotation
    image = entry["image"]
    metadata = image["dockerImageMetadata"]
    assert metadata["Id"] == pushed.digest
    created = parse_time(metadata["Created"])
    assert created is not None
    assert before <= created <= after + timedelta(seconds=1)
    assert "Size" not in metadata
    assert image["dockerImageMetadataVersion"] == "1.0"
    assert "dockerImageLayers" not in image
    assert "annotations" not in image["metadata"]
    # The children are whole images, with their own sizes.
    assert all(child["dockerImageMetadata"]["Size"] > 0 for child in entry["manifests"])


# --- an import that changes nothing -----------------------------------------------------


@dataclass(frozen=True)
class AgainRow:
    # Changes made between the two imports, to the registry or to the request.
    between: Callable[[Registry, PushedImage, dict[str, Any]], None]
    changes: bool


def nothing(registry: Registry, pushed: PushedImage, spec: dict[str, Any]) -> None:
    pass


def repush(registry: Registry, pushed: PushedImage, spec: dict[str, Any]) -> None:
    repush_tag(registry, pushed.repository, pushed.tag or "latest")


def schedule(registry: Registry, pushed: PushedImage, spec: dict[str, Any]) -> None:
    spec["importPolicy"] = {"scheduled": True}


def another_tag(registry: Registry, pushed: PushedImage, spec: dict[str, Any]) -> None:
    spec["to"] = {"name": "another"}


AGAIN_ROWS = [
    # rest.go importSuccessful: hasTagChanged is false for the same image; Create then
    # answers the original stream without an update (hasAnnotation && !hasChanges).
    pytest.param(AgainRow(nothing, False), id="same-image"),
    # rest.go hasTagChanged: another image is a change (a new TagEvent).
    pytest.param(AgainRow(repush, True), id="repushed-image"),
    # rest.go importSuccessful sets specTag.ImportPolicy each time: a new policy is a change.
    pytest.param(AgainRow(schedule, True), id="new-import-policy"),
    # rest.go createImages: a tag the stream lacks is a change.
    pytest.param(AgainRow(another_tag, True), id="another-tag"),
]


@pytest.mark.parametrize("row", AGAIN_ROWS)
def test_an_import_that_changes_nothing_leaves_the_stream(
    api: Api, anon_registry: Registry, push_image: Any, row: AgainRow
) -> None:
    # Given a tag imported once
    pushed = push_image(anon_registry, tag="v1", via="api")
    spec = image_spec(pushed.pull_spec)
    first = api.post_import("demo", importing(spec))
    assert first.status == 201, first.body
    before = first.body["status"]["import"]

    # When it is imported again (after the row's change)
    row.between(anon_registry, pushed, spec)
    second = api.post_import("demo", importing(spec))

    # Then the stream moves on only if the import changed it
    assert second.status == 201, second.body
    after = second.body["status"]["import"]
    stored = send(api, "api-get-stream.json", name="app").body
    if row.changes:
        assert after["metadata"]["generation"] == 2
        assert after["metadata"]["resourceVersion"] != before["metadata"]["resourceVersion"]
    else:
        assert after == before
    assert stored == after


def test_the_same_failure_again_leaves_the_stream(api: Api, anon_registry: Registry) -> None:
    # rest.go setFailureCondition: hasTagCondition finds the same condition, nothing changes,
    # so Create answers the original stream.
    spec = image_spec(f"{anon_registry.host}/nobody/here:v1")
    first = api.post_import("demo", importing(spec))

    second = api.post_import("demo", importing(spec))

    assert second.body["status"]["import"] == first.body["status"]["import"]
    assert first.body["status"]["import"]["metadata"]["generation"] == 1


def test_a_dry_run_that_changes_nothing_shows_the_stream_as_it_is(
    api: Api, anon_registry: Registry, push_image: Any
) -> None:
    # rest.go Create: the stream answered is the original one; a dry run shows the same.
    pushed = push_image(anon_registry, tag="v1", via="api")
    body = importing(image_spec(pushed.pull_spec))
    first = api.post_import("demo", body)
    event = with_body(with_namespace(load_event("api-import-single.json"), "demo"), body)
    event["queryStringParameters"] = {"dryRun": "All"}
    event["multiValueQueryStringParameters"] = {"dryRun": ["All"]}

    dry = api.invoke(event)

    assert dry.status == 201, dry.body
    assert dry.body["status"]["import"] == first.body["status"]["import"]


# --- importer.image.openshift.io/prefer-arch and prefer-os ------------------------------


@dataclass(frozen=True)
class PreferRow:
    tag_annotations: dict[str, str]
    request_annotations: dict[str, str] | None
    # How the list is named: by its tag, without a tag (it is "latest"), or by digest.
    source: str
    to: str | None
    platform: tuple[str, str]


PREFER_ROWS = [
    # importer.go importImages: preferArch from stream.Spec.Tags[spec.To.Name].Annotations.
    pytest.param(
        PreferRow({PREFER_ARCH: "arm64"}, None, "tag", "multi", ("linux", "arm64")),
        id="spec-tag-prefer-arch",
    ),
    # importer.go importImages and manifestFromManifestList: preferOS, the architecture
    # left to the server's own.
    pytest.param(
        PreferRow({PREFER_OS: "windows"}, None, "tag", "multi", ("windows", "amd64")),
        id="spec-tag-prefer-os",
    ),
    # importer.go importImages: without `to` the spec tag is the reference's defaulted tag.
    pytest.param(
        PreferRow({PREFER_ARCH: "arm64"}, None, "untagged", None, ("linux", "arm64")),
        id="no-to-reads-the-latest-spec-tag",
    ),
    # importer.go importImages: a reference by digest is imported with no preference.
    pytest.param(
        PreferRow({PREFER_ARCH: "arm64"}, None, "digest", "multi", ("linux", "amd64")),
        id="digest-ignores-the-spec-tag",
    ),
    # Our extension: the request's own annotations, when the spec tag has none.
    pytest.param(
        PreferRow({}, {PREFER_ARCH: "arm64"}, "tag", "multi", ("linux", "arm64")),
        id="request-annotations-extension",
    ),
    # Upstream reads only the spec tag, so the spec tag wins over our extension.
    pytest.param(
        PreferRow(
            {PREFER_ARCH: "arm64"}, {PREFER_OS: "windows"}, "tag", "multi", ("linux", "arm64")
        ),
        id="spec-tag-wins-over-request",
    ),
]

PLATFORMS = (Platform("amd64"), Platform("arm64", variant="v8"), Platform("amd64", os="windows"))


def stream_with_tags(name: str, from_name: str, annotations: dict[str, str]) -> dict[str, Any]:
    """An ImageStream whose tags ``multi`` and ``latest`` carry ``annotations``."""
    return {
        "apiVersion": "image.openshift.io/v1",
        "kind": "ImageStream",
        "metadata": {"name": name},
        "spec": {
            "tags": [
                {
                    "name": tag,
                    "annotations": annotations or None,
                    "from": {"kind": "DockerImage", "name": from_name},
                }
                for tag in ("multi", "latest")
            ]
        },
    }


def child_for(pushed: PushedImage, platform: tuple[str, str]) -> str:
    [digest] = [
        c.digest
        for c in pushed.children
        if (c.platform["os"], c.platform["architecture"]) == platform
    ]
    return digest


@pytest.mark.parametrize("row", PREFER_ROWS)
def test_legacy_list_import_prefers_what_the_spec_tag_says(
    api: Api, anon_registry: Registry, push_image: Any, unique_repo: Any, row: PreferRow
) -> None:
    # Given a stream whose spec tags carry the row's annotations (and point elsewhere)
    elsewhere = push_image(anon_registry, via="api")
    created = send(
        api,
        "api-create-stream.json",
        body=stream_with_tags("app", elsewhere.pull_spec, row.tag_annotations),
    )
    assert created.status == 201, created.body
    # and a three-platform list, tagged multi and latest
    index = build_index(PLATFORMS)
    repository = unique_repo("prefer")
    pushed = push_image(anon_registry, repository, "multi", image=index, via="api")
    push_image(anon_registry, repository, "latest", image=index, via="api")
    repo = f"{anon_registry.host}/{repository}"
    source = {"tag": f"{repo}:multi", "untagged": repo, "digest": f"{repo}@{pushed.digest}"}
    spec = image_spec(source[row.source])
    if row.to is not None:
        spec["to"] = {"name": row.to}

    # When the list is imported in Legacy mode into that stream
    reply = api.post_import("demo", import_body(spec, annotations=row.request_annotations))

    # Then the child is the one OpenShift would pick
    entry = only_entry(reply)
    assert entry["image"]["metadata"]["name"] == child_for(pushed, row.platform)


def test_a_spec_tag_written_with_prefer_arch_is_imported_as_it_prefers(
    api: Api, anon_registry: Registry, push_image: Any
) -> None:
    # importer.go importImages: OpenShift imports a new spec tag through the same importer,
    # which reads the tag's own annotations from the stream.
    pushed = push_image(anon_registry, tag="multi", multiarch=True, via="api")

    created = send(
        api,
        "api-create-stream.json",
        body=stream_with_tags("app", pushed.pull_spec, {PREFER_ARCH: "arm64"}),
    )

    assert created.status == 201, created.body
    tags = {t["tag"]: t for t in created.body["status"]["tags"]}
    assert tags["multi"]["items"][0]["image"] == child_for(pushed, ("linux", "arm64"))


def test_repository_import_takes_no_preference_from_spec_tags(
    api: Api, anon_registry: Registry, push_image: Any
) -> None:
    # importer.go importFromRepository: repository tags are imported with no PreferArch/PreferOS.
    elsewhere = push_image(anon_registry, via="api")
    send(
        api,
        "api-create-stream.json",
        body=stream_with_tags("app", elsewhere.pull_spec, {PREFER_ARCH: "arm64"}),
    )
    pushed = push_image(anon_registry, tag="multi", multiarch=True, via="api")
    body = import_body(name="app")
    body["spec"]["repository"] = {
        "from": {"kind": "DockerImage", "name": f"{pushed.host}/{pushed.repository}"}
    }

    reply = api.post_import("demo", body)

    assert reply.status == 201, reply.body
    [entry] = [e for e in reply.body["status"]["repository"]["images"] if e["tag"] == "multi"]
    assert entry["image"]["metadata"]["name"] == child_for(pushed, ("linux", "amd64"))


# --- a tag with conditions and no history writes "items": null --------------------------


def stored_tag(template_resources: Any, tag: str) -> dict[str, Any]:
    """The JSON document the streams table keeps for ``tag`` of stream demo/app."""
    table = template_resources.name("StreamsTable")
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    [item] = [
        i for i in items if i["pk"]["S"] == "stream#demo#app" and i["sk"]["S"] == f"tag#{tag}"
    ]
    doc: dict[str, Any] = json.loads(item["doc"]["S"])
    return doc["status"]


def answered_tags(api: Api, where: str, reply: Reply, template_resources: Any) -> Any:
    if where == "import-answer":
        return reply.body["status"]["import"]["status"]["tags"]
    if where == "get-stream":
        return send(api, "api-get-stream.json", name="app").body["status"]["tags"]
    if where == "get-import":
        return send(api, "api-get-import.json", name="app").body["status"]["import"]["status"][
            "tags"
        ]
    if where == "list-streams":
        [stream] = send(api, "api-list-streams.json").body["items"]
        return stream["status"]["tags"]
    return [stored_tag(template_resources, "gone")]


@pytest.mark.parametrize(
    "where",
    [
        # image/v1 types.go NamedTagEventList: `Items []TagEvent json:"items"`, no omitempty;
        # conversion.go Convert_image_TagEventListArray_to_v1_NamedTagEventListArray leaves it
        # nil without events, and rest.go setFailureCondition creates it so: JSON null.
        pytest.param("import-answer", id="import-answer"),
        pytest.param("get-stream", id="get-stream"),
        pytest.param("get-import", id="get-import-document"),
        pytest.param("list-streams", id="list-streams"),
        pytest.param("stored", id="stored-stream"),
    ],
)
def test_a_failure_only_tag_has_null_items(
    api: Api, anon_registry: Registry, template_resources: Any, where: str
) -> None:
    # Given a tag whose first import failed
    reply = api.post_import("demo", importing(image_spec(f"{anon_registry.host}/nobody/here:gone")))
    assert reply.status == 201, reply.body

    # Then wherever the stream is shown or kept, its history is null, as Go writes it
    [tag] = answered_tags(api, where, reply, template_resources)
    assert tag["tag"] == "gone"
    assert "items" in tag
    assert tag["items"] is None
    assert tag["conditions"][0]["reason"] == "NotFound"

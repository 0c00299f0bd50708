"""The API server's request errors and their ``details``, resource by resource.

Each row is one error OpenShift's storage of ImageStreams, ImageStreamTags,
ImageStreamImages or ImageStreamImports returns (the row's comment names
the upstream file and the apimachinery constructor: ``NewNotFound``,
``NewAlreadyExists``, ``NewConflict``, ``NewForbidden``), sent through the
real api handler: its code, reason, message and ``details`` (``name``,
``group``, ``kind``: the resource as the constructor was given it) must be
upstream's. No image is imported: the stream ``web`` holds one spec tag
recorded by reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from testkit.api import Api
from tests.integration.test_stream_tags import request

GROUP = "image.openshift.io"
DIGEST = "sha256:" + "a" * 64
# A registry port nothing listens on: never reached, the request fails first.
NOWHERE = "127.0.0.1:9/nowhere/app:1"
OPTIMISTIC_LOCK = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


@dataclass(frozen=True)
class Fails:
    """A request and the ``Status`` it must get; ``{rv}`` is the stream's resourceVersion."""

    resource: str
    name: str | None
    code: int
    reason: str
    message: str
    details: dict[str, str]
    method: str = "GET"
    body: dict[str, Any] | None = None
    grant: str = "path"
    namespace: str = "demo"


def details(kind: str, name: str = "") -> dict[str, str]:
    return {"group": GROUP, "kind": kind, **({"name": name} if name else {})}


def isi(name: str, *, writes: bool = True, **metadata: str) -> dict[str, Any]:
    return {
        "kind": "ImageStreamImport",
        "apiVersion": "image.openshift.io/v1",
        "metadata": {"name": name, **metadata},
        "spec": {"import": writes, "images": [{"from": {"kind": "DockerImage", "name": NOWHERE}}]},
    }


def stream(name: str, **metadata: str) -> dict[str, Any]:
    return {
        "kind": "ImageStream",
        "apiVersion": "image.openshift.io/v1",
        "metadata": {"name": name, **metadata},
        "spec": {
            "tags": [
                {"name": "ref", "reference": True, "from": {"kind": "DockerImage", "name": NOWHERE}}
            ]
        },
    }


def istag(name: str, **metadata: str) -> dict[str, Any]:
    return {
        "kind": "ImageStreamTag",
        "apiVersion": "image.openshift.io/v1",
        "metadata": {"name": name, **metadata},
        "tag": {"reference": True, "from": {"kind": "DockerImage", "name": NOWHERE}},
    }


def forbidden(resource: str, verb: str, name: str = "") -> str:
    target = f'{resource}.{GROUP} "{name}"' if name else f"{resource}.{GROUP}"
    return (
        f'{target} is forbidden: User "tester" cannot {verb} resource "{resource}" '
        f'in API group "{GROUP}" in the namespace "team-b"'
    )


FAILS = [
    # --- ImageStreams: the generic registry store (registry/generic/registry/store.go) ---
    # store.go Get: storeerr.InterpretGetError -> NewNotFound(imagestreams)
    pytest.param(
        Fails(
            "imagestreams",
            "missing",
            404,
            "NotFound",
            f'imagestreams.{GROUP} "missing" not found',
            details("imagestreams", "missing"),
        ),
        id="is-get-not-found",
    ),
    # store.go create: storeerr.InterpretCreateError -> NewAlreadyExists(imagestreams)
    pytest.param(
        Fails(
            "imagestreams",
            None,
            409,
            "AlreadyExists",
            f'imagestreams.{GROUP} "web" already exists',
            details("imagestreams", "web"),
            method="POST",
            body=stream("web"),
        ),
        id="is-create-already-exists",
    ),
    # store.go Update: a stale resourceVersion -> NewConflict(imagestreams, OptimisticLockErrorMsg)
    pytest.param(
        Fails(
            "imagestreams",
            "web",
            409,
            "Conflict",
            f'Operation cannot be fulfilled on imagestreams.{GROUP} "web": {OPTIMISTIC_LOCK}',
            details("imagestreams", "web"),
            method="PUT",
            body=stream("web", resourceVersion="1"),
        ),
        id="is-update-conflict",
    ),
    # the authorizer's denial: NewForbidden(imagestreams, name)
    pytest.param(
        Fails(
            "imagestreams",
            "web",
            403,
            "Forbidden",
            forbidden("imagestreams", "get", "web"),
            details("imagestreams", "web"),
            grant="team-a",
            namespace="team-b",
        ),
        id="is-get-forbidden",
    ),
    # --- ImageStreamTags: registry/imagestreamtag/rest.go --------------------------------
    # rest.go Get: the stream's own NotFound (GetImageStream)
    pytest.param(
        Fails(
            "imagestreamtags",
            "missing:latest",
            404,
            "NotFound",
            f'imagestreams.{GROUP} "missing" not found',
            details("imagestreams", "missing"),
        ),
        id="istag-get-stream-not-found",
    ),
    # rest.go imageFor: NewNotFound(imagestreamtags, JoinImageStreamTag(stream, tag))
    pytest.param(
        Fails(
            "imagestreamtags",
            "web:nope",
            404,
            "NotFound",
            f'imagestreamtags.{GROUP} "web:nope" not found',
            details("imagestreamtags", "web:nope"),
        ),
        id="istag-get-not-found",
    ),
    # rest.go Create: NewAlreadyExists(imagestreamtag, istag.Name), the resource singular
    pytest.param(
        Fails(
            "imagestreamtags",
            None,
            409,
            "AlreadyExists",
            f'imagestreamtag.{GROUP} "web:ref" already exists',
            details("imagestreamtag", "web:ref"),
            method="POST",
            body=istag("web:ref"),
        ),
        id="istag-create-already-exists",
    ),
    # rest.go update: NewConflict(imagestreamtags, name, "another caller has updated ...")
    pytest.param(
        Fails(
            "imagestreamtags",
            "web:ref",
            409,
            "Conflict",
            f'Operation cannot be fulfilled on imagestreamtags.{GROUP} "web:ref": '
            "another caller has updated the resource version to {rv}",
            details("imagestreamtags", "web:ref"),
            method="PUT",
            body=istag("web:ref", resourceVersion="1"),
        ),
        id="istag-update-conflict",
    ),
    # rest.go update: a version for a stream that does not exist -> NewNotFound(imagestreamtags)
    pytest.param(
        Fails(
            "imagestreamtags",
            "nope:ref",
            404,
            "NotFound",
            f'imagestreamtags.{GROUP} "nope:ref" not found',
            details("imagestreamtags", "nope:ref"),
            method="PUT",
            body=istag("nope:ref", resourceVersion="1"),
        ),
        id="istag-update-stream-not-found",
    ),
    # rest.go Delete: NewConflict(imagestreamtags, id, "the UID precondition was not met")
    pytest.param(
        Fails(
            "imagestreamtags",
            "web:ref",
            409,
            "Conflict",
            f'Operation cannot be fulfilled on imagestreamtags.{GROUP} "web:ref": '
            "the UID precondition was not met",
            details("imagestreamtags", "web:ref"),
            method="DELETE",
            body={"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "x"}},
        ),
        id="istag-delete-uid-conflict",
    ),
    # rest.go Delete: neither spec nor status tag -> NewNotFound(imagestreamtags, id)
    pytest.param(
        Fails(
            "imagestreamtags",
            "web:nope",
            404,
            "NotFound",
            f'imagestreamtags.{GROUP} "web:nope" not found',
            details("imagestreamtags", "web:nope"),
            method="DELETE",
        ),
        id="istag-delete-not-found",
    ),
    # the authorizer's denial: NewForbidden(imagestreamtags, name)
    pytest.param(
        Fails(
            "imagestreamtags",
            "web:ref",
            403,
            "Forbidden",
            forbidden("imagestreamtags", "get", "web:ref"),
            details("imagestreamtags", "web:ref"),
            grant="team-a",
            namespace="team-b",
        ),
        id="istag-get-forbidden",
    ),
    # --- ImageStreamImages: registry/imagestreamimage/rest.go ----------------------------
    # rest.go Get: GetImageStreamLayers is the stream store's Get -> NewNotFound(imagestreams)
    pytest.param(
        Fails(
            "imagestreamimages",
            f"missing@{DIGEST}",
            404,
            "NotFound",
            f'imagestreams.{GROUP} "missing" not found',
            details("imagestreams", "missing"),
        ),
        id="isimage-get-stream-not-found",
    ),
    # rest.go Get: NewNotFound(imagestreamimage, id), the resource singular
    pytest.param(
        Fails(
            "imagestreamimages",
            f"web@{DIGEST}",
            404,
            "NotFound",
            f'imagestreamimage.{GROUP} "web@{DIGEST}" not found',
            details("imagestreamimage", f"web@{DIGEST}"),
        ),
        id="isimage-get-not-found",
    ),
    # the authorizer's denial: NewForbidden(imagestreamimages, name)
    pytest.param(
        Fails(
            "imagestreamimages",
            f"web@{DIGEST}",
            403,
            "Forbidden",
            forbidden("imagestreamimages", "get", f"web@{DIGEST}"),
            details("imagestreamimages", f"web@{DIGEST}"),
            grant="team-a",
            namespace="team-b",
        ),
        id="isimage-get-forbidden",
    ),
    # --- ImageStreamImports: registry/imagestreamimport/rest.go --------------------------
    # rest.go Create: NewConflict(imagestream, name, "the image stream was updated from ...")
    pytest.param(
        Fails(
            "imagestreamimports",
            None,
            409,
            "Conflict",
            f'Operation cannot be fulfilled on imagestream.{GROUP} "web": '
            'the image stream was updated from "1" to "{rv}"',
            details("imagestream", "web"),
            method="POST",
            body=isi("web", resourceVersion="1"),
        ),
        id="isi-stale-resource-version",
    ),
    # rest.go Create: the same check when the import does not write (import: false)
    pytest.param(
        Fails(
            "imagestreamimports",
            None,
            409,
            "Conflict",
            f'Operation cannot be fulfilled on imagestream.{GROUP} "web": '
            'the image stream was updated from "1" to "{rv}"',
            details("imagestream", "web"),
            method="POST",
            body=isi("web", writes=False, resourceVersion="1"),
        ),
        id="isi-stale-resource-version-without-import",
    ),
    # rest.go Create: another uid -> NewNotFound(imagestream, name), the resource singular
    pytest.param(
        Fails(
            "imagestreamimports",
            None,
            404,
            "NotFound",
            f'imagestream.{GROUP} "web" not found',
            details("imagestream", "web"),
            method="POST",
            body=isi("web", uid="another-uid"),
        ),
        id="isi-uid-mismatch",
    ),
    # rest.go Create: a version for a missing stream -> GetImageStream's NotFound(imagestreams)
    pytest.param(
        Fails(
            "imagestreamimports",
            None,
            404,
            "NotFound",
            f'imagestreams.{GROUP} "missing" not found',
            details("imagestreams", "missing"),
            method="POST",
            body=isi("missing", resourceVersion="5"),
        ),
        id="isi-missing-stream-with-version",
    ),
    # the authorizer's denial of a create: NewForbidden(imagestreamimports, "")
    pytest.param(
        Fails(
            "imagestreamimports",
            None,
            403,
            "Forbidden",
            forbidden("imagestreamimports", "create"),
            details("imagestreamimports"),
            method="POST",
            body=isi("web"),
            grant="team-a",
            namespace="team-b",
        ),
        id="isi-create-forbidden",
    ),
]


@pytest.fixture
def web(api: Api) -> str:
    """Stream ``web`` of namespace demo, its tag ``ref`` recorded by reference; its version."""
    reply = request(api, "imagestreams", method="POST", body=stream("web"))
    assert reply.status == 201, reply.body
    version: str = reply.body["metadata"]["resourceVersion"]
    assert version != "1"  # so that "1" is a stale version
    return version


@pytest.mark.parametrize("case", FAILS)
def test_errors_are_the_api_servers_with_their_details(api: Api, web: str, case: Fails) -> None:
    # When the request is made
    reply = request(
        api,
        case.resource,
        case.name,
        method=case.method,
        body=case.body,
        grant=case.grant,
        namespace=case.namespace,
    )

    # Then the Status is the API server's, to its details
    assert reply.status == case.code, reply.body
    assert (reply.body["kind"], reply.body["status"]) == ("Status", "Failure")
    assert (reply.body["code"], reply.body["reason"]) == (case.code, case.reason)
    assert reply.body["message"] == case.message.replace("{rv}", web)
    assert reply.body["details"] == case.details
    # and nothing was written
    assert request(api, "imagestreams", "web").body["metadata"]["resourceVersion"] == web

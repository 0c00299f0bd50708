"""Managing ImageStreams declaratively, with the real kubectl and the Python client.

``kubectl apply -f imagestream.yaml`` creates a stream whose ``DockerImage``
spec tags are imported; applying it again with a tag added imports just
that tag (kubectl sends a JSON merge patch: the service has no strategic
merge patch, and its OpenAPI says so). The ``DynamicClient`` creates and
patches the same way.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from testkit.registry import Registry
from tests.e2e.test_kubectl_clients import kubectl_run
from tests.support.devserver import RunningServer, dynamic_client

pytestmark = pytest.mark.slow


def manifest(name: str, tags: dict[str, str]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "image.openshift.io/v1",
            "kind": "ImageStream",
            "metadata": {"name": name},
            "spec": {
                "tags": [
                    {"name": tag, "from": {"kind": "DockerImage", "name": pull}}
                    for tag, pull in tags.items()
                ]
            },
        }
    )


def status_items(stream: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {t["tag"]: t.get("items") or [] for t in stream["status"].get("tags", [])}


@pytest.fixture
def pulls(
    anon_registry: Registry, push_image: Callable[..., Any], unique_repo: Any
) -> dict[str, str]:
    """Pull specs of two tags, ``one`` and ``two``, pushed to the anonymous registry."""
    repository = unique_repo("apply")
    return {
        tag: push_image(anon_registry, repository, tag, via="api").pull_spec
        for tag in ("one", "two")
    }


def test_kubectl_apply_creates_then_imports_just_the_added_tag(
    https_devserver: RunningServer, kubectl: Path, pulls: dict[str, str], tmp_path: Path
) -> None:
    name = f"app-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "imagestream.yaml"

    # When a manifest with tag one is applied
    path.write_text(manifest(name, {"one": pulls["one"]}))
    created = kubectl_run(kubectl, https_devserver, "apply", "-f", str(path))

    # Then the stream is created and tag one imported
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == f"imagestream.image.openshift.io/{name} created"
    first = json.loads(
        kubectl_run(kubectl, https_devserver, "get", "is", name, "-o", "json").stdout
    )
    assert [i["image"][:7] for i in status_items(first)["one"]] == ["sha256:"]

    # When the manifest gains tag two and is applied again
    path.write_text(manifest(name, {"one": pulls["one"], "two": pulls["two"]}))
    again = kubectl_run(kubectl, https_devserver, "apply", "-f", str(path))

    # Then only two is imported; one's history is as it was
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"imagestream.image.openshift.io/{name} configured"
    second = json.loads(
        kubectl_run(kubectl, https_devserver, "get", "is", name, "-o", "json").stdout
    )
    assert status_items(second)["one"] == status_items(first)["one"]
    assert status_items(second)["two"][0]["generation"] == second["metadata"]["generation"] == 2

    # And applying the same manifest once more changes nothing (kubectl says
    # "configured": a merge patch resends the whole list of tags)
    same = kubectl_run(kubectl, https_devserver, "apply", "-f", str(path))
    assert same.returncode == 0, same.stderr
    third = json.loads(
        kubectl_run(kubectl, https_devserver, "get", "is", name, "-o", "json").stdout
    )
    assert third["metadata"]["resourceVersion"] == second["metadata"]["resourceVersion"]
    assert status_items(third) == status_items(second)


def test_kubectl_apply_of_an_invalid_tag_is_the_api_servers_422(
    https_devserver: RunningServer, kubectl: Path, tmp_path: Path
) -> None:
    path = tmp_path / "imagestream.yaml"
    name = f"bad-{uuid.uuid4().hex[:8]}"
    document = yaml.safe_load(manifest(name, {"x": "quay.io/x/y:1"}))
    document["spec"]["tags"][0]["from"]["kind"] = "Pod"
    path.write_text(yaml.safe_dump(document))

    result = kubectl_run(kubectl, https_devserver, "apply", "-f", str(path))

    assert result.returncode != 0
    assert (
        f'The ImageStream "{name}" is invalid: spec.tags[x].from.kind: Required value: '
        "valid values are 'DockerImage', 'ImageStreamImage', 'ImageStreamTag'"
    ) in result.stderr


def test_the_dynamic_client_creates_and_patches_a_stream(
    https_devserver: RunningServer, pulls: dict[str, str]
) -> None:
    client = dynamic_client(https_devserver)
    streams = client.resources.get(api_version="image.openshift.io/v1", kind="ImageStream")
    name = f"dyn-{uuid.uuid4().hex[:8]}"

    created = streams.create(
        body=yaml.safe_load(manifest(name, {"one": pulls["one"]})), namespace="demo"
    )
    assert created.status.tags[0].items[0].image.startswith("sha256:")

    patched = streams.patch(
        name=name,
        namespace="demo",
        body={
            "spec": {
                "lookupPolicy": {"local": True},
                "tags": [
                    {"name": "one", "from": {"kind": "DockerImage", "name": pulls["one"]}},
                    {"name": "two", "from": {"kind": "DockerImage", "name": pulls["two"]}},
                ],
            }
        },
        content_type="application/merge-patch+json",
    )
    assert patched.spec.lookupPolicy.local is True
    assert [t.tag for t in patched.status.tags] == ["one", "two"]
    assert patched.status.tags[1].items[0].generation == 2

    replaced = streams.replace(
        body=patched.to_dict()
        | {"spec": {**patched.to_dict()["spec"], "lookupPolicy": {"local": False}}},
        namespace="demo",
    )
    assert replaced.spec.lookupPolicy.local is False
    assert replaced.metadata.resourceVersion != patched.metadata.resourceVersion


def istag_manifest(name: str, pull: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "image.openshift.io/v1",
            "kind": "ImageStreamTag",
            "metadata": {"name": name},
            "tag": {"from": {"kind": "DockerImage", "name": pull}},
        }
    )


def test_kubectl_apply_of_an_istag_creates_then_moves_it(
    https_devserver: RunningServer, kubectl: Path, pulls: dict[str, str], tmp_path: Path
) -> None:
    name = f"tag-{uuid.uuid4().hex[:8]}:web"
    path = tmp_path / "istag.yaml"

    # When an ImageStreamTag of image one is applied, then the same tag of image two
    path.write_text(istag_manifest(name, pulls["one"]))
    created = kubectl_run(kubectl, https_devserver, "apply", "-f", str(path))
    first = json.loads(
        kubectl_run(kubectl, https_devserver, "get", "istag", name, "-o", "json").stdout
    )
    path.write_text(istag_manifest(name, pulls["two"]))
    moved = kubectl_run(kubectl, https_devserver, "apply", "-f", str(path))
    second = json.loads(
        kubectl_run(kubectl, https_devserver, "get", "istag", name, "-o", "json").stdout
    )

    # Then the tag was created with image one, then patched to image two (imported);
    # kubectl's record of what it applied is in both annotation places
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == f"imagestreamtag.image.openshift.io/{name} created"
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.strip() == f"imagestreamtag.image.openshift.io/{name} configured"
    assert second["tag"]["from"]["name"] == pulls["two"]
    assert second["image"]["metadata"]["name"] != first["image"]["metadata"]["name"]
    applied = "kubectl.kubernetes.io/last-applied-configuration"
    assert pulls["two"] in second["metadata"]["annotations"][applied]
    assert second["tag"]["annotations"] == second["metadata"]["annotations"]


def test_the_dynamic_client_patches_an_istag(
    https_devserver: RunningServer, pulls: dict[str, str]
) -> None:
    client = dynamic_client(https_devserver)
    tags = client.resources.get(api_version="image.openshift.io/v1", kind="ImageStreamTag")
    name = f"dyn-{uuid.uuid4().hex[:8]}:web"
    created = tags.create(body=yaml.safe_load(istag_manifest(name, pulls["one"])), namespace="demo")

    patched = tags.patch(
        name=name,
        namespace="demo",
        body=[{"op": "replace", "path": "/tag/from/name", "value": pulls["two"]}],
        content_type="application/json-patch+json",
    )

    assert "patch" in tags.verbs
    assert patched.tag["from"]["name"] == pulls["two"]
    assert patched.image.metadata.name != created.image.metadata.name
    assert int(patched.metadata.resourceVersion) > int(created.metadata.resourceVersion)

"""What an OpenShift user does with kubectl and the Python client, against the local server.

The real kubectl and the ``kubernetes`` package's ``DynamicClient``, set up
by nothing but the kubeconfig ``python -m devserver`` printed: discovery,
``explain``, ``get`` as a Table with ``oc``'s columns, ``-o yaml``, a
server-side dry-run delete, a namespace not granted, and the dynamic
client's create, get, list and delete.
"""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import threading
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from testkit.registry import Registry
from tests.support.devserver import RunningServer, dynamic_client, import_stream

pytestmark = pytest.mark.slow

TEAM_A_CONTEXT = "imagestreams-local-dev-2"
ADMIN_CONTEXT = "imagestreams-local-dev-3"


def kubectl_run(
    kubectl: Path, server: RunningServer, *args: str, context: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run kubectl with the server's kubeconfig and a cache of its own."""
    command = [str(kubectl), "--kubeconfig", str(server.kubeconfig)]
    command += ["--cache-dir", str(server.state_dir / "kube-cache"), "--request-timeout=30s"]
    if context:
        command += ["--context", context]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=90, check=False
    )


# --- kubectl ---------------------------------------------------------------------------


def test_kubectl_api_resources_lists_the_group(
    https_devserver: RunningServer, kubectl: Path
) -> None:
    result = kubectl_run(
        kubectl, https_devserver, "api-resources", "--api-group=image.openshift.io"
    )

    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert rows["imagestreams"] == [
        "imagestreams",
        "is",
        "image.openshift.io/v1",
        "true",
        "ImageStream",
    ]
    assert rows["imagestreamimports"][-1] == "ImageStreamImport"


def test_kubectl_explain_reads_the_openapi_schema(
    https_devserver: RunningServer, kubectl: Path
) -> None:
    result = kubectl_run(kubectl, https_devserver, "explain", "imagestreamimport.spec")

    assert result.returncode == 0, result.stderr
    assert "KIND:       ImageStreamImport" in result.stdout
    assert "image.openshift.io" in result.stdout
    for field in ("images", "import", "repository"):
        assert re.search(rf"^\s+{field}\s+<", result.stdout, re.MULTILINE), result.stdout


def test_kubectl_get_is_prints_ocs_columns(
    https_devserver: RunningServer, kubectl: Path, stream: str
) -> None:
    result = kubectl_run(kubectl, https_devserver, "get", "is")

    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["NAME", "IMAGE", "REPOSITORY", "TAGS", "UPDATED"]
    row = next(r for r in rows if r.split()[0] == stream)
    assert "latest" in row.split()
    assert row.rstrip().endswith("ago")


def test_kubectl_get_is_as_yaml_is_the_stream(
    https_devserver: RunningServer, kubectl: Path, stream: str
) -> None:
    result = kubectl_run(kubectl, https_devserver, "get", "is", stream, "-o", "yaml")

    assert result.returncode == 0, result.stderr
    document = yaml.safe_load(result.stdout)
    assert document["kind"] == "ImageStream"
    assert document["apiVersion"] == "image.openshift.io/v1"
    assert document["metadata"]["name"] == stream
    assert [t["tag"] for t in document["status"]["tags"]] == ["latest"]


def test_kubectl_delete_with_server_dry_run_deletes_nothing(
    https_devserver: RunningServer, kubectl: Path, stream: str
) -> None:
    result = kubectl_run(kubectl, https_devserver, "delete", "is", stream, "--dry-run=server")

    assert result.returncode == 0, result.stderr
    # kubectl 1.33 and later also name the namespace.
    assert re.fullmatch(
        rf'imagestream.image.openshift.io "{stream}" deleted( from demo namespace)? '
        r"\(server dry run\)",
        result.stdout.strip(),
    ), result.stdout
    still = kubectl_run(kubectl, https_devserver, "get", "is", stream, "-o", "name")
    assert still.returncode == 0, still.stderr
    assert still.stdout.strip() == f"imagestream.image.openshift.io/{stream}"


def test_kubectl_delete_deletes(https_devserver: RunningServer, kubectl: Path, stream: str) -> None:
    result = kubectl_run(kubectl, https_devserver, "delete", "is", stream)

    assert result.returncode == 0, result.stderr
    assert re.fullmatch(
        rf'imagestream.image.openshift.io "{stream}" deleted( from demo namespace)?',
        result.stdout.strip(),
    ), result.stdout
    gone = kubectl_run(kubectl, https_devserver, "get", "is", stream)
    assert gone.returncode == 1
    assert gone.stderr.strip() == (
        f'Error from server (NotFound): imagestreams.image.openshift.io "{stream}" not found'
    )


def test_kubectl_get_is_in_a_namespace_not_granted_is_forbidden(
    https_devserver: RunningServer, kubectl: Path
) -> None:
    result = kubectl_run(kubectl, https_devserver, "get", "is", "-n", "team-b")

    assert result.returncode == 1
    subject = https_devserver.subjects["demo"]
    assert result.stderr.strip() == (
        f"Error from server (Forbidden): imagestreams.image.openshift.io is forbidden: User "
        f'"{subject}" cannot list resource "imagestreams" in API group "image.openshift.io" '
        'in the namespace "team-b"'
    )


# --- the Python client's DynamicClient -------------------------------------------------


def test_the_dynamic_client_discovers_creates_reads_and_deletes(
    https_devserver: RunningServer, anon_registry: Registry, push_image: Callable[..., Any]
) -> None:
    pushed = push_image(anon_registry, via="api")
    client = dynamic_client(https_devserver)
    name = f"dyn-{uuid.uuid4().hex[:8]}"

    # Discovery: both resources by kind
    imports = client.resources.get(api_version="image.openshift.io/v1", kind="ImageStreamImport")
    image_streams = client.resources.get(api_version="image.openshift.io/v1", kind="ImageStream")
    assert image_streams.short_names == ["is"]

    # Create an ImageStreamImport that imports into a stream
    body = {
        "kind": "ImageStreamImport",
        "apiVersion": "image.openshift.io/v1",
        "metadata": {"name": name},
        "spec": {
            "import": True,
            "images": [{"from": {"kind": "DockerImage", "name": pushed.pull_spec}}],
        },
    }
    created = imports.create(body=body, namespace="demo")
    assert created.status.images[0].status.status == "Success"

    # Get and list the stream
    got = image_streams.get(name=name, namespace="demo")
    assert got.metadata.name == name
    assert got.status.tags[0].tag == "latest"
    listed = image_streams.get(namespace="demo")
    assert name in [item.metadata.name for item in listed.items]

    # Delete it, and it is gone
    image_streams.delete(name=name, namespace="demo")
    from kubernetes.dynamic.exceptions import NotFoundError

    with pytest.raises(NotFoundError):
        image_streams.get(name=name, namespace="demo")


def test_kubectl_get_is_watch_shows_a_change_and_ends(
    https_devserver: RunningServer,
    kubectl: Path,
    stream: str,
    anon_registry: Registry,
    push_image: Callable[..., Any],
) -> None:
    # Given a stream that will be created while kubectl watches
    pushed = push_image(anon_registry, via="api")
    created = f"new-{uuid.uuid4().hex[:8]}"
    timer = threading.Timer(3.0, import_stream, (https_devserver, created, pushed.pull_spec))

    # When kubectl watches for 8 seconds (the watch is answered when it ends)
    timer.start()
    try:
        result = kubectl_run(kubectl, https_devserver, "get", "is", "-w", "--request-timeout=8s")
    finally:
        timer.join()

    # Then it printed the list, then the stream created meanwhile, and exited cleanly
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert stream in names
    assert created in names
    assert names.index(created) > names.index(stream)


def test_kubectl_get_is_in_every_namespace(
    https_devserver: RunningServer, kubectl: Path, stream: str
) -> None:
    # When a token granted every namespace lists them with -A
    result = kubectl_run(kubectl, https_devserver, "get", "is", "-A", context=ADMIN_CONTEXT)
    denied = kubectl_run(kubectl, https_devserver, "get", "is", "-A")

    # Then kubectl shows a NAMESPACE column first, and the stream of demo in it
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split()[:2] == ["NAMESPACE", "NAME"]
    assert ["demo", stream] in [row.split()[:2] for row in rows]
    # And a token of one namespace is told it cannot list at the cluster scope
    assert denied.returncode != 0
    assert 'cannot list resource "imagestreams"' in denied.stderr
    assert "at the cluster scope" in denied.stderr


def test_dynamic_client_watches_image_streams(
    https_devserver: RunningServer,
    stream: str,
    anon_registry: Registry,
    push_image: Callable[..., Any],
) -> None:
    # Given the dynamic client, the list's version, and then a re-import of the stream
    client = dynamic_client(https_devserver)
    image_streams = client.resources.get(api_version="image.openshift.io/v1", kind="ImageStream")
    version = image_streams.get(namespace="demo").metadata.resourceVersion
    pushed = push_image(anon_registry, via="api", tag="v2")
    import_stream(https_devserver, stream, pushed.pull_spec)

    # When it watches from that version with a timeout
    seen = [
        (
            event["type"],
            event["object"].metadata.name,
            [t.tag for t in event["object"].status.tags],
        )
        for event in image_streams.watch(namespace="demo", resource_version=version, timeout=3)
    ]

    # Then it sees the stream with its new tag (ADDED when it was created less than
    # the store's settling time before the list), and the watch ends
    [(kind, tags)] = [(t, tags) for t, name, tags in seen if name == stream]
    assert kind in ("ADDED", "MODIFIED")
    assert "v2" in tags


# --- imagestreamtags and imagestreamimages ---------------------------------------------


def _current_image(server: RunningServer, kubectl: Path, stream: str) -> str:
    result = kubectl_run(kubectl, server, "get", "is", stream, "-o", "json")
    assert result.returncode == 0, result.stderr
    image: str = json.loads(result.stdout)["status"]["tags"][0]["items"][0]["image"]
    return image


def test_kubectl_get_istag_prints_ocs_columns(
    https_devserver: RunningServer, kubectl: Path, stream: str
) -> None:
    result = kubectl_run(kubectl, https_devserver, "get", "istag")
    wide = kubectl_run(kubectl, https_devserver, "get", "istag", "-o", "wide")

    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["NAME", "IMAGE", "REFERENCE", "UPDATED"]
    row = next(r for r in rows if r.split()[0] == f"{stream}:latest")
    assert "@sha256:" in row.split()[1]
    assert row.rstrip().endswith("ago")
    assert wide.returncode == 0, wide.stderr
    assert wide.stdout.splitlines()[0].split()[-2:] == ["IMAGE", "NAME"]
    wide_row = next(r for r in wide.stdout.splitlines() if r.split()[0] == f"{stream}:latest")
    assert wide_row.split()[-1] == _current_image(https_devserver, kubectl, stream)


def test_kubectl_get_istag_as_yaml_is_the_tag_with_its_image(
    https_devserver: RunningServer, kubectl: Path, stream: str
) -> None:
    result = kubectl_run(kubectl, https_devserver, "get", "istag", f"{stream}:latest", "-o", "yaml")

    assert result.returncode == 0, result.stderr
    document = yaml.safe_load(result.stdout)
    assert document["kind"] == "ImageStreamTag"
    assert document["metadata"]["name"] == f"{stream}:latest"
    assert document["tag"]["from"]["kind"] == "DockerImage"
    assert document["image"]["metadata"]["name"].startswith("sha256:")
    assert document["image"]["dockerImageMetadata"]["kind"] == "DockerImage"
    assert document["image"]["dockerImageLayers"]


def test_kubectl_get_isimage_by_digest(
    https_devserver: RunningServer, kubectl: Path, stream: str
) -> None:
    digest = _current_image(https_devserver, kubectl, stream)

    result = kubectl_run(kubectl, https_devserver, "get", "isimage", f"{stream}@{digest}")
    as_yaml = kubectl_run(
        kubectl, https_devserver, "get", "isimage", f"{stream}@{digest}", "-o", "yaml"
    )

    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split() == ["NAME", "UPDATED"]
    assert row.split()[0] == f"{stream}@{digest}"
    assert as_yaml.returncode == 0, as_yaml.stderr
    assert yaml.safe_load(as_yaml.stdout)["image"]["metadata"]["name"] == digest


def test_kubectl_delete_istag_removes_the_tag(
    https_devserver: RunningServer, kubectl: Path, stream: str
) -> None:
    deleted = kubectl_run(kubectl, https_devserver, "delete", "istag", f"{stream}:latest")
    missing = kubectl_run(kubectl, https_devserver, "get", "istag", f"{stream}:latest")
    unnamed = kubectl_run(kubectl, https_devserver, "get", "istag", stream)

    assert deleted.returncode == 0, deleted.stderr
    assert f'imagestreamtag.image.openshift.io "{stream}:latest" deleted' in deleted.stdout
    assert missing.returncode != 0
    assert f'imagestreamtags.image.openshift.io "{stream}:latest" not found' in missing.stderr, (
        missing.stderr
    )
    assert unnamed.returncode != 0
    assert "ImageStreamTags must be retrieved with <name>:<tag>" in unnamed.stderr


def test_the_dynamic_client_reads_istags_and_isimages(
    https_devserver: RunningServer, stream: str
) -> None:
    client = dynamic_client(https_devserver)
    tags = client.resources.get(api_version="image.openshift.io/v1", kind="ImageStreamTag")
    images = client.resources.get(api_version="image.openshift.io/v1", kind="ImageStreamImage")
    assert tags.short_names == ["istag"]
    assert images.short_names == ["isimage"]

    tag = tags.get(name=f"{stream}:latest", namespace="demo")
    listed = tags.get(namespace="demo")
    digest = tag.image.metadata.name
    image = images.get(name=f"{stream}@{digest}", namespace="demo")

    assert tag.metadata.name == f"{stream}:latest"
    assert f"{stream}:latest" in [item.metadata.name for item in listed.items]
    assert image.metadata.name == f"{stream}@{digest}"
    assert image.image.dockerImageReference == tag.image.dockerImageReference


# --- ImageStreamTag writes: what `oc tag` does, through kubectl ----------------------------


def _istag(name: str, kind: str, source: str) -> dict[str, Any]:
    return {
        "apiVersion": "image.openshift.io/v1",
        "kind": "ImageStreamTag",
        "metadata": {"name": name, "namespace": "demo"},
        "tag": {"from": {"kind": kind, "name": source}},
    }


def test_kubectl_create_istag_of_an_image_then_an_alias_of_it(
    https_devserver: RunningServer,
    kubectl: Path,
    anon_registry: Registry,
    push_image: Callable[..., Any],
    tmp_path: Path,
) -> None:
    # Given an image on a registry, and two ImageStreamTag files: one tagging the image,
    # one tagging that tag (as `oc tag` would write them)
    pushed = push_image(anon_registry, via="api")
    name = f"app-{uuid.uuid4().hex[:8]}"
    source = tmp_path / "istag.yaml"
    source.write_text(yaml.safe_dump(_istag(f"{name}:v1", "DockerImage", pushed.pull_spec)))
    alias = tmp_path / "alias.yaml"
    alias.write_text(yaml.safe_dump(_istag(f"{name}:stable", "ImageStreamTag", f"{name}:v1")))

    # When kubectl creates both, then lists the tags
    created = kubectl_run(kubectl, https_devserver, "create", "-f", str(source))
    aliased = kubectl_run(kubectl, https_devserver, "create", "-f", str(alias))
    again = kubectl_run(kubectl, https_devserver, "create", "-f", str(alias))
    listed = kubectl_run(kubectl, https_devserver, "get", "istag", "-o", "wide")

    # Then the stream was made with the image imported, and both tags name the same image
    assert created.returncode == 0, created.stderr
    assert f"imagestreamtag.image.openshift.io/{name}:v1 created" in created.stdout
    assert aliased.returncode == 0, aliased.stderr
    assert again.returncode != 0
    # imagestreamtag/rest.go Create names the resource in the singular
    assert f'imagestreamtag.image.openshift.io "{name}:stable" already exists' in again.stderr
    assert listed.returncode == 0, listed.stderr
    rows = {r.split()[0]: r.split() for r in listed.stdout.splitlines()[1:]}
    assert rows[f"{name}:v1"][-1] == pushed.digest
    assert rows[f"{name}:stable"][-1] == pushed.digest


def test_kubectl_replace_istag_with_its_version(
    https_devserver: RunningServer, kubectl: Path, stream: str, tmp_path: Path
) -> None:
    # Given the tag as kubectl reads it, with an annotation added
    got = kubectl_run(kubectl, https_devserver, "get", "istag", f"{stream}:latest", "-o", "yaml")
    assert got.returncode == 0, got.stderr
    document = yaml.safe_load(got.stdout)
    document["metadata"]["annotations"] = {"description": "the web image"}
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(document))

    # When kubectl replaces it, then replaces it again from the same (now stale) file
    replaced = kubectl_run(kubectl, https_devserver, "replace", "-f", str(edited))
    stale = kubectl_run(kubectl, https_devserver, "replace", "-f", str(edited))
    after = kubectl_run(kubectl, https_devserver, "get", "istag", f"{stream}:latest", "-o", "yaml")

    # Then the first is applied, the second is refused as a conflict
    assert replaced.returncode == 0, replaced.stderr
    assert f"imagestreamtag.image.openshift.io/{stream}:latest replaced" in replaced.stdout
    assert stale.returncode != 0
    assert "another caller has updated the resource version" in stale.stderr
    shown = yaml.safe_load(after.stdout)
    assert shown["metadata"]["annotations"] == {"description": "the web image"}
    assert shown["image"]["metadata"]["name"] == document["image"]["metadata"]["name"]


def test_kubectl_get_istag_watch_shows_a_new_tag_and_ends(
    https_devserver: RunningServer, kubectl: Path, stream: str
) -> None:
    # Given an alias tag that will be created while kubectl watches
    alias = f"{stream}:alias"

    def create_alias() -> None:
        body = _istag(alias, "ImageStreamTag", f"{stream}:latest")
        request = urllib.request.Request(
            https_devserver.https_url
            + "/apis/image.openshift.io/v1/namespaces/demo/imagestreamtags",
            data=json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {https_devserver.token}",
                "Content-Type": "application/json",
            },
            method="POST",
        )
        context = ssl.create_default_context(cafile=str(https_devserver.certificate))
        with urllib.request.urlopen(request, timeout=60, context=context) as response:
            assert response.status == 201

    timer = threading.Timer(3.0, create_alias)

    # When kubectl watches the tags for 8 seconds
    timer.start()
    try:
        result = kubectl_run(kubectl, https_devserver, "get", "istag", "-w", "--request-timeout=8s")
    finally:
        timer.join()

    # Then it printed the list, then the tag created meanwhile, and exited cleanly
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert f"{stream}:latest" in names
    assert alias in names
    assert names.index(alias) > names.index(f"{stream}:latest")


def test_the_dynamic_client_creates_an_istag(https_devserver: RunningServer, stream: str) -> None:
    client = dynamic_client(https_devserver)
    tags = client.resources.get(api_version="image.openshift.io/v1", kind="ImageStreamTag")
    assert {"create", "update", "watch"} <= set(tags.verbs)

    created = tags.create(
        body=_istag(f"{stream}:copy", "ImageStreamTag", f"{stream}:latest"), namespace="demo"
    )
    read = tags.get(name=f"{stream}:copy", namespace="demo")
    latest = tags.get(name=f"{stream}:latest", namespace="demo")

    assert created.metadata.name == f"{stream}:copy"
    assert created.image.metadata.name == latest.image.metadata.name
    assert read.tag["from"]["kind"] == "ImageStreamTag"

"""The local server as Kubernetes clients reach it: HTTPS, the printed kubeconfig, a token.

A real kubectl (``get --raw``, and ``create -f``, which validates the
manifest against ``/openapi/v2`` first; kubectl's other workflows are in
``test_kubectl_clients.py``) and the Python ``kubernetes`` client, both
configured by nothing but the kubeconfig ``python -m devserver`` wrote.
Namespace isolation is the api function's: a token reaches every route,
and a namespace it was not granted is Kubernetes' own Forbidden.
"""

from __future__ import annotations

import base64
import json
import ssl
import stat
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.devserver import RunningServer, start_devserver

pytestmark = pytest.mark.slow

STREAMS = "/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams"
FORBIDDEN = (
    'imagestreams.image.openshift.io is forbidden: User "{subject}" cannot list resource '
    '"imagestreams" in API group "image.openshift.io" in the namespace "{namespace}"'
)
TEAM_A_CONTEXT = "imagestreams-local-dev-2"


def run_kubectl(kubectl: Path, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(kubectl), "--kubeconfig", str(kubeconfig), "--request-timeout=30s", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def https_get(server: RunningServer, path: str, token: str | None) -> tuple[int, Any]:
    """GET ``path`` over HTTPS, trusting only the server's own certificate."""
    context = ssl.create_default_context(cafile=str(server.certificate))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(server.https_url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# --- The kubeconfig -------------------------------------------------------------------


def test_the_kubeconfig_trusts_the_servers_certificate_and_holds_each_token(
    https_devserver: RunningServer,
) -> None:
    config = yaml.safe_load(https_devserver.kubeconfig.read_text())

    (cluster,) = config["clusters"]
    assert cluster["cluster"]["server"] == https_devserver.https_url
    assert "insecure-skip-tls-verify" not in cluster["cluster"]
    authority = base64.b64decode(cluster["cluster"]["certificate-authority-data"])
    assert authority == https_devserver.certificate.read_bytes()
    users = {user["name"]: user["user"]["token"] for user in config["users"]}
    assert sorted(users.values()) == sorted(https_devserver.tokens.values())
    contexts = {c["name"]: c["context"] for c in config["contexts"]}
    current = contexts[config["current-context"]]
    assert users[current["user"]] == https_devserver.tokens["demo"]
    assert current["namespace"] == "demo"
    assert contexts[TEAM_A_CONTEXT]["namespace"] == "team-a"
    assert stat.S_IMODE(https_devserver.kubeconfig.stat().st_mode) == 0o600


def test_the_banner_prints_the_kubeconfig_and_a_kubectl_example(
    https_devserver: RunningServer,
) -> None:
    printed = https_devserver.printed()

    assert https_devserver.https_url.startswith("https://127.0.0.1:")
    assert f"KUBECONFIG={https_devserver.kubeconfig} kubectl get is -n demo" in printed
    assert https_devserver.kubeconfig.parent == https_devserver.state_dir


# --- kubectl ----------------------------------------------------------------------------


def test_kubectl_lists_image_streams_over_https_with_the_token(
    https_devserver: RunningServer, kubectl: Path
) -> None:
    result = run_kubectl(
        kubectl, https_devserver.kubeconfig, "get", "--raw", STREAMS.format(namespace="demo")
    )

    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert listed["kind"] == "ImageStreamList"
    assert listed["apiVersion"] == "image.openshift.io/v1"


def test_kubectl_in_a_namespace_not_granted_is_kubernetes_forbidden(
    https_devserver: RunningServer, kubectl: Path
) -> None:
    result = run_kubectl(
        kubectl,
        https_devserver.kubeconfig,
        "--context",
        TEAM_A_CONTEXT,
        "get",
        "--raw",
        STREAMS.format(namespace="team-b"),
    )

    subject = https_devserver.subjects["team-a"]
    assert result.returncode != 0
    expected = FORBIDDEN.format(subject=subject, namespace="team-b")
    assert f"Error from server (Forbidden): {expected}" in result.stderr


def test_kubectl_refuses_a_server_it_cannot_verify(
    https_devserver: RunningServer, kubectl: Path, tmp_path: Path
) -> None:
    # Given the kubeconfig without its certificate authority (the system's apply)
    config = yaml.safe_load(https_devserver.kubeconfig.read_text())
    del config["clusters"][0]["cluster"]["certificate-authority-data"]
    untrusting = tmp_path / "kubeconfig"
    untrusting.write_text(yaml.safe_dump(config))

    result = run_kubectl(kubectl, untrusting, "get", "--raw", STREAMS.format(namespace="demo"))

    assert result.returncode != 0
    assert "certificate" in result.stderr


# --- kubectl create -f: validated against /openapi/v2 ---------------------------------

# An image on a loopback port where no registry listens: the import answers
# 201 with a per-image failure, which is all these tests need of it.
ABSENT_IMAGE = "127.0.0.1:1/pb/absent:latest"


def import_manifest(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "image.openshift.io/v1",
        "kind": "ImageStreamImport",
        "metadata": {"name": name},
        "spec": spec,
    }


def absent_image_spec() -> dict[str, Any]:
    return {"import": False, "images": [{"from": {"kind": "DockerImage", "name": ABSENT_IMAGE}}]}


def kubectl_create(
    server: RunningServer, kubectl: Path, tmp_path: Path, manifest: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    """``kubectl create -f`` with kubectl's default (strict) validation and a fresh cache."""
    path = tmp_path / "isi.yaml"
    path.write_text(yaml.safe_dump(manifest))
    cache = tmp_path / "kube-cache"
    return run_kubectl(
        kubectl, server.kubeconfig, "--cache-dir", str(cache), "create", "-f", str(path)
    )


def test_kubectl_create_validates_an_import_and_creates_it(
    https_devserver: RunningServer, kubectl: Path, tmp_path: Path
) -> None:
    manifest = import_manifest("pb-create", absent_image_spec())

    result = kubectl_create(https_devserver, kubectl, tmp_path, manifest)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imagestreamimport.image.openshift.io/pb-create created"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            {"surprise": 1},
            'ValidationError(ImageStreamImport.spec): unknown field "surprise" in '
            "com.github.openshift.api.image.v1.ImageStreamImportSpec",
            id="unknown-field",
        ),
        pytest.param(
            {"import": "yes"},
            "ValidationError(ImageStreamImport.spec.import): invalid type for "
            'com.github.openshift.api.image.v1.ImageStreamImportSpec.import: got "string", '
            'expected "boolean"',
            id="wrong-type",
        ),
    ],
)
def test_kubectl_create_refuses_a_manifest_its_schema_does_not_allow(
    https_devserver: RunningServer,
    kubectl: Path,
    tmp_path: Path,
    change: dict[str, Any],
    message: str,
) -> None:
    manifest = import_manifest("pb-refused", {**absent_image_spec(), **change})

    result = kubectl_create(https_devserver, kubectl, tmp_path, manifest)

    assert result.returncode != 0
    assert message in result.stderr
    assert "created" not in result.stdout


# --- The Python kubernetes client -------------------------------------------------------


def test_the_python_client_lists_image_streams_with_the_kubeconfig(
    https_devserver: RunningServer,
) -> None:
    from kubernetes import config

    client = config.new_client_from_config(config_file=str(https_devserver.kubeconfig))
    method, url, headers, body, post = client.param_serialize(
        "GET",
        STREAMS,
        path_params={"namespace": "demo"},
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
    )

    response = client.call_api(method, url, headers, body, post)
    response.read()
    listed = client.response_deserialize(response, {"200": "object"}).data

    assert url.startswith(https_devserver.https_url)
    assert listed["kind"] == "ImageStreamList"


def test_the_python_client_in_a_namespace_not_granted_gets_forbidden(
    https_devserver: RunningServer,
) -> None:
    from kubernetes import config
    from kubernetes.client.exceptions import ApiException

    client = config.new_client_from_config(
        config_file=str(https_devserver.kubeconfig), context=TEAM_A_CONTEXT
    )
    method, url, headers, body, post = client.param_serialize(
        "GET", STREAMS, path_params={"namespace": "team-b"}, auth_settings=["BearerToken"]
    )
    response = client.call_api(method, url, headers, body, post)
    response.read()

    with pytest.raises(ApiException) as raised:
        client.response_deserialize(response, {"200": "object"})

    assert raised.value.status == 403
    status = json.loads(raised.value.body)
    assert status["reason"] == "Forbidden"


# --- Through the local gateway: the function decides namespaces -------------------------


def test_a_namespace_not_granted_is_the_functions_forbidden_status(
    https_devserver: RunningServer,
) -> None:
    team_a = https_devserver.tokens["team-a"]

    code, status = https_get(https_devserver, STREAMS.format(namespace="team-b"), team_a)

    assert code == 403
    assert status["kind"] == "Status"
    assert status["reason"] == "Forbidden"
    assert status["code"] == 403
    subject = https_devserver.subjects["team-a"]
    assert status["message"] == FORBIDDEN.format(subject=subject, namespace="team-b")


@pytest.mark.parametrize(
    "path",
    ["/apis/no.such.group/v1/things", "/apis/image.openshift.io/v1/namespaces/team-a/frobnicators"],
    ids=["unknown-group", "unknown-resource"],
)
def test_an_unknown_path_is_404_for_a_valid_token(
    https_devserver: RunningServer, path: str
) -> None:
    code, status = https_get(https_devserver, path, https_devserver.tokens["team-a"])

    assert code == 404
    assert status["kind"] == "Status"
    assert status["reason"] == "NotFound"


def test_without_a_token_https_is_401(https_devserver: RunningServer) -> None:
    code, status = https_get(https_devserver, STREAMS.format(namespace="demo"), None)

    assert code == 401
    assert status["reason"] == "Unauthorized"


# --- What outlives a restart -------------------------------------------------------------


def test_tokens_webhook_secret_and_certificate_outlive_a_restart(
    tmp_path: Path, kubectl: Path
) -> None:
    # Given a server that ran once with two grants, and its state
    state = {"DEVSERVER_STATE_DIR": str(tmp_path / "state")}
    first = start_devserver(tmp_path, DEVSERVER_TOKENS="demo; team-a", **state)
    first_secret, first_certificate = first.webhook_secret(), first.certificate.read_bytes()
    first.stop()

    # When it starts again with the same grants, then with one pinned and one changed
    again = start_devserver(tmp_path, DEVSERVER_TOKENS="demo; team-a", **state)
    try:
        again_secret = again.webhook_secret()
        listed = run_kubectl(
            kubectl, again.kubeconfig, "get", "--raw", STREAMS.format(namespace="demo")
        )
    finally:
        again.stop()
    changed = start_devserver(
        tmp_path,
        DEVSERVER_TOKENS="demo; team-b=pinned-token-for-team-b",
        DEVSERVER_WEBHOOK_SECRET="pinned-webhook-secret",
        **state,
    )
    try:
        changed_secret = changed.webhook_secret()
    finally:
        changed.stop()

    # Then the same grants keep their tokens, secret and certificate, and the
    # rewritten kubeconfig works at the new address
    assert again.tokens == first.tokens
    assert again_secret == first_secret
    assert again.certificate.read_bytes() == first_certificate
    assert listed.returncode == 0, listed.stderr
    # A changed grant gets its pinned token; the unchanged one keeps its own
    assert changed.tokens == {"demo": first.tokens["demo"], "team-b": "pinned-token-for-team-b"}
    assert changed_secret == "pinned-webhook-secret"
    # Secrets are readable by their owner only
    for name in ("tokens.json", "webhook-secret", "kubeconfig", "tls/key.pem"):
        mode = stat.S_IMODE((tmp_path / "state" / name).stat().st_mode)
        assert mode == 0o600, name

"""Discovery and OpenAPI through the api handler, as API Gateway invokes it.

The documents' contents are tests/unit's; here: routes, authentication,
content negotiation, entity tags, compression, and the Python client's
dynamic discovery reading them over HTTP.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from imagestreams.api import discovery, openapi
from testkit.api import Api, FakeContext, Reply
from testkit.events import load_event

AGGREGATED_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)


@pytest.fixture(scope="module")
def api() -> Api:
    """The api function; discovery needs no AWS service."""
    return Api()


def get(
    api: Api, path: str, headers: dict[str, str] | None = None, grant: str | None = "*"
) -> Reply:
    event = load_event("api-list-streams.json")
    event.update(resource=path, path=path, pathParameters=None)
    event["requestContext"]["path"] = path
    for name, value in (headers or {}).items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    return api.invoke(event, grant=grant)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        pytest.param("/api", "APIVersions", id="api"),
        pytest.param("/api/v1", "APIResourceList", id="api-v1"),
        pytest.param("/apis", "APIGroupList", id="apis"),
        pytest.param("/apis/image.openshift.io", "APIGroup", id="group"),
        pytest.param("/apis/image.openshift.io/v1", "APIResourceList", id="group-version"),
    ],
)
def test_discovery_documents(api: Api, path: str, kind: str) -> None:
    reply = get(api, path)

    assert reply.status == 200
    assert reply.body["kind"] == kind
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["Vary"] == "Accept"


def test_version(api: Api) -> None:
    reply = get(api, "/version")

    assert reply.status == 200
    assert reply.body["major"] == discovery.KUBERNETES_MAJOR


@pytest.mark.parametrize("path", ["/api", "/apis"])
def test_aggregated_discovery_for_clients_that_ask(api: Api, path: str) -> None:
    reply = get(api, path, {"Accept": AGGREGATED_ACCEPT})

    assert reply.status == 200
    assert reply.headers["Content-Type"] == discovery.AGGREGATED_JSON
    assert reply.body["kind"] == "APIGroupDiscoveryList"


def test_openapi_documents(api: Api) -> None:
    index = get(api, "/openapi/v3")
    url = index.body["paths"]["apis/image.openshift.io/v1"]["serverRelativeURL"]
    path, _, _ = url.partition("?")
    document = get(api, path)
    swagger = get(api, "/openapi/v2", {"Accept": "application/json"})

    assert index.status == document.status == swagger.status == 200
    assert document.body["openapi"].startswith("3.0")
    assert url.endswith(openapi.v3_hash(openapi.v3_group_version()))
    assert swagger.body["swagger"] == "2.0"


@pytest.mark.parametrize("encoding", [None, "gzip"], ids=["identity", "gzip"])
def test_openapi_v2_as_protobuf_for_client_go(api: Api, encoding: str | None) -> None:
    # client-go's OpenAPISchema asks for the protobuf and nothing else
    headers = {"Accept": openapi.V2_PROTOBUF}
    if encoding:
        headers["Accept-Encoding"] = encoding

    reply = get(api, "/openapi/v2", headers)

    assert reply.status == 200
    assert reply.headers["Content-Type"] == openapi.V2_PROTOBUF_ANSWERED
    assert reply.headers["ETag"] == openapi.v2_protobuf().etag
    assert reply.headers["Vary"] == "Accept"
    assert reply.raw["isBase64Encoded"]
    assert reply.headers.get("Content-Encoding") == encoding
    assert reply.content == openapi.v2_protobuf().data


def test_openapi_v2_protobuf_is_not_sent_again(api: Api) -> None:
    first = get(api, "/openapi/v2", {"Accept": openapi.V2_PROTOBUF})

    again = get(
        api,
        "/openapi/v2",
        {"Accept": openapi.V2_PROTOBUF, "If-None-Match": first.headers["ETag"]},
    )

    assert again.status == 304
    assert again.raw["body"] == ""


def test_openapi_v2_refuses_a_form_it_does_not_serve(api: Api) -> None:
    reply = get(api, "/openapi/v2", {"Accept": "application/yaml"})

    assert reply.status == 406
    assert reply.body["reason"] == "NotAcceptable"
    assert openapi.V2_PROTOBUF in reply.body["message"]


def test_a_current_copy_is_not_sent_again(api: Api) -> None:
    first = get(api, "/apis/image.openshift.io/v1")
    again = get(api, "/apis/image.openshift.io/v1", {"If-None-Match": first.headers["ETag"]})

    assert again.status == 304
    assert again.raw["body"] == ""


def test_a_304_has_no_body_even_for_a_client_that_accepts_gzip(api: Api) -> None:
    # A gzip'd empty body is 20 bytes, which a client reads as an unsolicited response.
    first = get(api, "/apis/image.openshift.io/v1")
    headers = {"If-None-Match": first.headers["ETag"], "Accept-Encoding": "gzip"}

    again = get(api, "/apis/image.openshift.io/v1", headers)

    assert again.status == 304
    assert again.raw["body"] == ""
    assert not again.raw["isBase64Encoded"]
    assert "Content-Encoding" not in (again.raw.get("multiValueHeaders") or {})


def test_documents_are_compressed_for_clients_that_accept_it(api: Api) -> None:
    reply = get(api, "/openapi/v2", {"Accept-Encoding": "gzip"})

    assert reply.status == 200
    assert reply.headers.get("Content-Encoding") == "gzip"
    assert reply.body["swagger"] == "2.0"


@pytest.mark.parametrize(
    "path", ["/version", "/api", "/apis", "/apis/image.openshift.io/v1", "/openapi/v2"]
)
def test_discovery_needs_an_authenticated_caller(api: Api, path: str) -> None:
    reply = get(api, path, grant=None)

    assert reply.status == 401
    assert reply.body["kind"] == "Status"


def test_any_grant_may_read_discovery(api: Api) -> None:
    reply = get(api, "/apis/image.openshift.io/v1", grant="team-a")

    assert reply.status == 200


# --- the Python client over HTTP ---------------------------------------------------


class _Bridge(BaseHTTPRequestHandler):
    """Plain HTTP in, an API Gateway event with an authenticated caller to the handler."""

    api: Api

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        event = {
            "resource": "/{proxy+}",
            "path": url.path,
            "httpMethod": "GET",
            "headers": dict(self.headers.items()),
            "multiValueHeaders": {name: [value] for name, value in self.headers.items()},
            "queryStringParameters": {key: values[-1] for key, values in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": None,
            "body": None,
            "isBase64Encoded": False,
            "requestContext": {
                "authorizer": {"principalId": "tester", "subject": "tester", "namespaces": "*"},
                "path": url.path,
                "httpMethod": "GET",
            },
        }
        response = self.api.module.lambda_handler(event, FakeContext())
        raw = response.get("body") or ""
        data = base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()
        self.send_response(response["statusCode"])
        for name, values in (response.get("multiValueHeaders") or {}).items():
            for value in values:
                self.send_header(name, value)
        for name, value in (response.get("headers") or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def served(api: Api) -> Iterator[str]:
    handler = type("Bridge", (_Bridge,), {"api": api})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_python_dynamic_client_discovers_the_resources(served: str, tmp_path: Any) -> None:
    kubernetes = pytest.importorskip("kubernetes")
    from kubernetes.dynamic import DynamicClient

    # Given the Python client pointed at the API
    configuration = kubernetes.client.Configuration()
    configuration.host = served
    client = DynamicClient(
        kubernetes.client.ApiClient(configuration), cache_file=str(tmp_path / "discovery.json")
    )

    # When it looks resources up by group version and kind, and by kind alone
    streams = client.resources.get(api_version="image.openshift.io/v1", kind="ImageStream")
    imports = client.resources.get(kind="ImageStreamImport")
    short = client.resources.get(short_names=["is"])

    # Then it finds them as discovery declares them
    assert streams.name == "imagestreams"
    assert streams.namespaced
    assert set(streams.verbs) == {"create", "delete", "get", "list", "patch", "update", "watch"}
    assert imports.name == "imagestreamimports"
    assert short.kind == "ImageStream"
    assert json.loads(json.dumps(client.version))["kubernetes"]["major"] == "1"


@pytest.mark.parametrize(
    ("grant", "status"),
    [("demo", 200), ("*", 200), ("team-a,demo", 200), ("team-a", 403)],
)
def test_a_namespace_exists_for_the_callers_it_was_granted_to(
    api: Api, grant: str, status: int
) -> None:
    reply = get(api, "/api/v1/namespaces/demo", grant=grant)

    assert reply.status == status
    if status == 200:
        assert reply.body["kind"] == "Namespace"
        assert reply.body["metadata"]["name"] == "demo"
        assert reply.body["status"]["phase"] == "Active"
    else:
        assert reply.body["reason"] == "Forbidden"
        assert reply.body["message"] == (
            'namespaces "demo" is forbidden: User "tester" cannot get resource "namespaces" '
            'in API group "" in the namespace "demo"'
        )
        assert reply.body["details"] == {"name": "demo", "kind": "namespaces"}

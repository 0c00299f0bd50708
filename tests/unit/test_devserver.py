"""The local server's pieces: template reading, routing, events, responses, resources.

Handlers here are small fakes; the real handler behind the real server is
tested end to end in ``tests/e2e/test_devserver.py``.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from devserver.gateway import (
    MAX_PAYLOAD_BYTES,
    MAX_RESPONSE_BYTES,
    EventOptions,
    HttpRequest,
    LocalLambdaContext,
    MalformedResultError,
    RouteTable,
    build_event,
    gateway_response,
    parse_result,
)
from devserver.resources import CreatedResources, create_resources
from devserver.server import (
    DevServer,
    FunctionRuntime,
    HandlerLoadError,
    InvocationTimeoutError,
    LocalGateway,
    load_handler,
)
from devserver.template import (
    FunctionSpec,
    Route,
    Template,
    TemplateError,
    load_template,
    parse_template,
)

ROOT = Path(__file__).resolve().parents[2]
IMPORTS = "/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreamimports"

Handler = Callable[[dict[str, Any], Any], Any]


@pytest.fixture(scope="module")
def project() -> Template:
    return load_template(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def routes(project: Template) -> RouteTable:
    return RouteTable(project.routes())


def _template(text: str, tmp_path: Path) -> Template:
    path = tmp_path / "template.yaml"
    path.write_text(text, encoding="utf-8")
    return load_template(path)


# --- Reading the template -------------------------------------------------

SHORT_FORMS = """
Parameters:
  Prefix: {Type: String, Default: pre}
  Flag: {Type: String, Default: "yes"}
Conditions:
  IsYes: !Equals [!Ref Flag, "yes"]
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Thing:
    Type: Custom::Thing
    Properties:
      Joined: !Join ["-", [!Ref Prefix, !Select [1, !Split [",", "a,b,c"]]]]
      Sub: !Sub "${Prefix}/${AWS::Region}/${Queue.Arn}/${!Literal}"
      SubWithVars: !Sub ["${X}-${Prefix}", {X: !Ref Queue}]
      Chosen: !If [IsYes, chosen, other]
      Dropped: !Ref AWS::NoValue
      List: [one, !Ref AWS::NoValue, two]
"""


def test_short_form_tags_become_long_form() -> None:
    document = parse_template(SHORT_FORMS)
    props = document["Resources"]["Thing"]["Properties"]

    assert props["Dropped"] == {"Ref": "AWS::NoValue"}
    assert props["Sub"] == {"Fn::Sub": "${Prefix}/${AWS::Region}/${Queue.Arn}/${!Literal}"}
    assert document["Conditions"]["IsYes"] == {"Fn::Equals": [{"Ref": "Flag"}, "yes"]}


def test_intrinsics_resolve_parameters_pseudo_parameters_and_resources(tmp_path: Path) -> None:
    template = _template(SHORT_FORMS, tmp_path)
    values = template.intrinsics(
        refs={"Queue": "https://queue.local/q"},
        attributes={("Queue", "Arn"): "arn:aws:sqs:us-east-1:123456789012:q"},
    )

    props = values.resolve(template.properties("Thing"))

    assert props == {
        "Joined": "pre-b",
        "Sub": "pre/us-east-1/arn:aws:sqs:us-east-1:123456789012:q/${Literal}",
        "SubWithVars": "https://queue.local/q-pre",
        "Chosen": "chosen",
        "List": ["one", "two"],
    }


def test_parameter_overrides_win_over_defaults(tmp_path: Path) -> None:
    template = _template(SHORT_FORMS, tmp_path)
    template.parameter_overrides["Flag"] = "no"

    assert template.intrinsics().resolve({"Fn::If": ["IsYes", "a", "b"]}) == "b"


def test_reference_to_an_unknown_resource_is_an_error(tmp_path: Path) -> None:
    template = _template(SHORT_FORMS, tmp_path)

    with pytest.raises(TemplateError, match="Queue"):
        template.intrinsics().resolve({"Ref": "Queue"})


def test_functions_merge_globals(project: Template) -> None:
    (api,) = [spec for spec in project.functions() if spec.logical_id == "ApiFunction"]

    assert api.code_uri == ROOT / "functions" / "api"
    assert api.module_file == ROOT / "functions" / "api" / "app.py"
    assert api.handler_name == "lambda_handler"
    assert api.timeout == 29
    assert api.memory_size == 512
    assert api.environment["POWERTOOLS_SERVICE_NAME"] == "imagestreams"
    assert api.environment["IMAGE_CACHE_TABLE"] == {"Ref": "ImageCacheTable"}


# --- Routing --------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "resource", "parameters"),
    [
        pytest.param(
            "POST",
            "/apis/image.openshift.io/v1/namespaces/demo/imagestreamimports",
            IMPORTS,
            {"namespace": "demo"},
            id="imports",
        ),
        pytest.param(
            "POST",
            "/apis/image.openshift.io/v1/namespaces/demo/imagestreamimports/",
            IMPORTS,
            {"namespace": "demo"},
            id="imports-trailing-slash",
        ),
        pytest.param(
            "GET",
            "/apis/image.openshift.io/v1/namespaces/demo/imagestreamimports",
            IMPORTS,
            {"namespace": "demo"},
            id="other-method-same-resource",
        ),
        pytest.param(
            "GET",
            "/apis/image.openshift.io/v1/namespaces/demo/frobnicators",
            "/{proxy+}",
            {"proxy": "apis/image.openshift.io/v1/namespaces/demo/frobnicators"},
            id="unknown-route-to-catch-all",
        ),
        pytest.param("DELETE", "/x", "/{proxy+}", {"proxy": "x"}, id="one-segment"),
    ],
)
def test_route_matching(
    routes: RouteTable, method: str, path: str, resource: str, parameters: dict[str, str]
) -> None:
    match = routes.match(method, path)

    assert match is not None
    assert match.route.path == resource
    assert match.path_parameters == parameters


def test_root_path_matches_no_route(routes: RouteTable) -> None:
    assert routes.match("GET", "/") is None


def test_exact_method_wins_over_any_and_missing_method_is_not_looked_up_elsewhere() -> None:
    table = RouteTable(
        [
            Route("/items/{id}", "GET", "Get", None),
            Route("/items/{id}", "ANY", "Any", None),
            Route("/items/special", "POST", "Special", None),
            Route("/{proxy+}", "ANY", "CatchAll", None),
        ]
    )

    get = table.match("GET", "/items/7")
    put = table.match("PUT", "/items/7")
    assert get is not None
    assert get.route.function_id == "Get"
    assert put is not None
    assert put.route.function_id == "Any"
    # The literal resource is more specific than {id}; it lacks GET, and API
    # Gateway does not fall back to a less specific resource for it.
    assert table.match("GET", "/items/special") is None


# --- Events ---------------------------------------------------------------

OPTIONS = EventOptions(stage="v1", binary_media_types=["application/octet-stream"])


def _event(routes: RouteTable, request: HttpRequest) -> dict[str, Any]:
    match = routes.match(request.method, request.path)
    assert match is not None
    return build_event(request, match, OPTIONS, request_id="req-1")


def test_event_from_a_request_with_path_parameters_and_query(routes: RouteTable) -> None:
    request = HttpRequest(
        method="POST",
        target="/apis/image.openshift.io/v1/namespaces/demo/imagestreamimports"
        "?dryRun=All&fieldManager=a&fieldManager=b&empty=",
        headers=[
            ("Host", "127.0.0.1:3000"),
            ("Content-Type", "application/json"),
            ("X-Multi", "1"),
            ("X-Multi", "2"),
        ],
        body=b'{"kind": "ImageStreamImport"}',
        source_ip="127.0.0.9",
    )

    event = _event(routes, request)

    assert event["resource"] == IMPORTS
    assert event["path"] == "/apis/image.openshift.io/v1/namespaces/demo/imagestreamimports"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"namespace": "demo"}
    assert event["queryStringParameters"] == {"dryRun": "All", "fieldManager": "b", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {
        "dryRun": ["All"],
        "fieldManager": ["a", "b"],
        "empty": [""],
    }
    assert event["headers"]["X-Multi"] == "2"
    assert event["multiValueHeaders"]["X-Multi"] == ["1", "2"]
    assert event["body"] == '{"kind": "ImageStreamImport"}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "v1"
    assert context["resourcePath"] == IMPORTS
    assert context["httpMethod"] == "POST"
    assert context["requestId"] == "req-1"
    assert context["identity"]["sourceIp"] == "127.0.0.9"
    assert context["path"] == "/v1/apis/image.openshift.io/v1/namespaces/demo/imagestreamimports"


def test_event_without_query_body_or_parameters_uses_nulls() -> None:
    table = RouteTable([Route("/", "GET", "Root", None)])
    request = HttpRequest("GET", "/", [("Host", "localhost")])

    event = _event(table, request)

    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param("application/octet-stream", b"plain text", id="binary-media-type"),
        pytest.param("application/json", b"\xff\xfe not utf-8", id="not-utf8"),
    ],
)
def test_binary_bodies_are_base64_encoded(
    routes: RouteTable, content_type: str, body: bytes
) -> None:
    request = HttpRequest("POST", "/anything", [("Content-Type", content_type)], body)

    event = _event(routes, request)

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_sample_events_match_what_the_server_builds(routes: RouteTable) -> None:
    from testkit.events import event_names, load_event

    for name in (name for name in event_names() if name.startswith("api-")):
        sample = load_event(name)
        match = routes.match(sample["httpMethod"], sample["path"])
        assert match is not None, name
        assert sample["resource"] == match.route.path, name
        assert sample["pathParameters"] == match.path_parameters, name
        assert sample["requestContext"]["resourcePath"] == sample["resource"], name


# --- Results and gateway errors -------------------------------------------


def test_result_headers_merge_with_multi_value_headers_winning() -> None:
    result = {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json", "X-One": "single", "X-Both": "single"},
        "multiValueHeaders": {"X-Both": ["a", "b"], "Set-Cookie": ["c=1", "d=2"]},
        "body": '{"ok": true}',
    }

    response = parse_result(result, "req-1")

    assert response.status == 201
    assert response.body == b'{"ok": true}'
    pairs = list(response.headers)
    assert ("X-One", "single") in pairs
    assert [v for k, v in pairs if k == "X-Both"] == ["a", "b"]
    assert [v for k, v in pairs if k == "Set-Cookie"] == ["c=1", "d=2"]
    assert response.header("x-amzn-RequestId") == "req-1"


def test_result_base64_body_is_decoded_and_content_type_defaults_to_json() -> None:
    encoded = base64.b64encode(b"\x00\x01binary").decode()

    response = parse_result({"statusCode": 200, "body": encoded, "isBase64Encoded": True}, "r")

    assert response.body == b"\x00\x01binary"
    assert response.header("Content-Type") == "application/json"


@pytest.mark.parametrize(
    "result",
    [
        pytest.param(None, id="none"),
        pytest.param({"body": "x"}, id="no-status"),
        pytest.param({"statusCode": 200, "body": {"a": 1}}, id="body-not-string"),
        pytest.param({"statusCode": 200, "multiValueHeaders": {"a": "b"}}, id="multi-not-list"),
    ],
)
def test_malformed_results_are_rejected(result: Any) -> None:
    with pytest.raises(MalformedResultError):
        parse_result(result, "r")


def test_gateway_responses_render_the_template_status(project: Template) -> None:
    responses = project.gateway_responses()

    too_large = gateway_response(responses, "REQUEST_TOO_LARGE", "Request Too Long", "r")
    no_route = gateway_response(responses, "MISSING_AUTHENTICATION_TOKEN", "Missing", "r")

    assert too_large.status == 413
    assert json.loads(too_large.body) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Request Too Long",
        "reason": "RequestEntityTooLarge",
        "code": 413,
    }
    assert no_route.status == 404
    assert json.loads(no_route.body)["reason"] == "NotFound"


def test_gateway_response_without_customisation_is_api_gateways_own() -> None:
    response = gateway_response({}, "THROTTLED", "Too Many Requests", "r")

    assert response.status == 429
    assert json.loads(response.body) == {"message": "Too Many Requests"}


def test_lambda_context_counts_down_from_the_timeout() -> None:
    context = LocalLambdaContext(function_name="f", memory_limit_in_mb=512, timeout_seconds=29)

    first = context.get_remaining_time_in_millis()
    time.sleep(0.02)
    second = context.get_remaining_time_in_millis()

    assert 28_000 < first <= 29_000
    assert second < first
    assert context.invoked_function_arn.endswith(":function:f")
    assert context.aws_request_id


# --- The runtime and the HTTP front ---------------------------------------


def _spec(timeout: int = 29) -> FunctionSpec:
    return FunctionSpec(
        logical_id="Fn",
        code_uri=ROOT,
        handler="app.lambda_handler",
        timeout=timeout,
        memory_size=512,
        environment={},
        routes=(Route("/{proxy+}", "ANY", "Fn", None),),
    )


def _gateway(
    project: Template,
    handler: Handler,
    *,
    timeout: int = 29,
    log: Callable[[str], None] = lambda _: None,
) -> LocalGateway:
    spec = _spec(timeout)
    runtime = FunctionRuntime(spec, loader=lambda _: handler)
    return LocalGateway(
        RouteTable(list(spec.routes)),
        {"Fn": runtime},
        EventOptions(stage="v1"),
        project.gateway_responses(),
        log=log,
    )


def _echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    received = {
        "event": event,
        "remaining": context.get_remaining_time_in_millis(),
        "memory": context.memory_limit_in_mb,
        "function_name": context.function_name,
    }
    return {"statusCode": 200, "body": json.dumps(received)}


def test_handler_errors_and_timeouts_become_gateway_statuses(project: Template) -> None:
    def fail(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("boom")

    release = threading.Event()

    def hang(event: dict[str, Any], context: Any) -> Any:
        release.wait(10)
        return {"statusCode": 200}

    request = HttpRequest("GET", "/x")
    failed = _gateway(project, fail).handle(request)
    malformed = _gateway(project, lambda e, c: "not a dict").handle(request)
    timed_out = _gateway(project, hang, timeout=0).handle(request)
    release.set()

    assert failed.status == 502
    assert json.loads(failed.body)["reason"] == "InternalError"
    assert malformed.status == 502
    assert timed_out.status == 504
    assert json.loads(timed_out.body)["reason"] == "Timeout"


MB = 1024 * 1024
# The JSON around a body of n bytes: {"statusCode": 200, "body": "...", "isBase64Encoded": false}
ENVELOPE = len(json.dumps({"statusCode": 200, "body": "", "isBase64Encoded": False}))

# Body size, whether the function returns it as base64, and the status the client gets.
RESPONSE_SIZES = [
    pytest.param(5 * MB, False, 200, id="5MB-passes"),
    pytest.param(7 * MB, False, 502, id="7MB-is-502"),
    pytest.param(MAX_RESPONSE_BYTES - ENVELOPE, False, 200, id="json-of-exactly-6MB-passes"),
    pytest.param(MAX_RESPONSE_BYTES - ENVELOPE + 1, False, 502, id="json-one-byte-over-is-502"),
    pytest.param(5 * MB, True, 502, id="5MB-binary-is-over-6MB-as-base64"),
]


@pytest.mark.parametrize(("size", "binary", "status"), RESPONSE_SIZES)
def test_function_response_over_lambdas_6mb_limit_is_502(
    project: Template, size: int, binary: bool, status: int
) -> None:
    # Given a function that returns a body of `size` bytes, base64-encoded if binary
    body = base64.b64encode(b"\0" * size).decode() if binary else "x" * size
    result = {"statusCode": 200, "body": body, "isBase64Encoded": binary}
    logged: list[str] = []
    gateway = _gateway(project, lambda event, context: result, log=logged.append)

    # When a request reaches it
    response = gateway.handle(HttpRequest("GET", "/large"))

    # Then the client gets its body, or API Gateway's 502 naming the limit and the size
    assert response.status == status
    if status == 200:
        assert len(response.body) == size
        assert logged == []
    else:
        document = json.loads(response.body)
        assert (document["kind"], document["reason"]) == ("Status", "InternalError")
        measured = f"{len(json.dumps(result)):,} bytes"
        (line,) = logged
        for text in (document["message"], line):
            assert "6 MB function response limit" in text
            assert measured in text


def test_request_over_api_gateways_10mb_limit_is_413_before_the_function_runs(
    project: Template,
) -> None:
    # Given a function that records its calls
    calls: list[dict[str, Any]] = []

    def record(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(event)
        return {"statusCode": 200}

    body = b"x" * (11 * MB)

    # When a request with an 11 MB body reaches the gateway
    response = _gateway(project, record).handle(HttpRequest("POST", "/big", [], body))

    # Then API Gateway refuses it with a Status, and the function never runs
    assert MAX_PAYLOAD_BYTES == 10 * MB
    assert response.status == 413
    assert json.loads(response.body)["reason"] == "RequestEntityTooLarge"
    assert calls == []


def test_base64_gzip_body_is_decoded_and_its_content_encoding_passed_on(
    project: Template,
) -> None:
    # Given a function that returns a gzip body, base64-encoded
    document = json.dumps({"kind": "ImageStreamImport", "status": {}}).encode()
    result = {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        "body": base64.b64encode(gzip.compress(document)).decode(),
        "isBase64Encoded": True,
    }

    # When a request reaches it
    response = _gateway(project, lambda event, context: result).handle(HttpRequest("GET", "/z"))

    # Then the client gets the gzip bytes, marked as such
    assert response.status == 201
    assert response.header("Content-Encoding") == "gzip"
    assert gzip.decompress(response.body) == document


def test_an_invocation_waits_for_a_busy_slot_no_longer_than_its_timeout() -> None:
    # Given a function with one slot, held by a copy still running past its timeout
    release = threading.Event()

    def hang(event: dict[str, Any], context: Any) -> Any:
        release.wait(30)
        return {"statusCode": 200}

    runtime = FunctionRuntime(_spec(timeout=1), concurrency=1, loader=lambda _: hang)
    with pytest.raises(InvocationTimeoutError):
        runtime.invoke({})

    # When another invocation comes (on a thread, so the test ends either way)
    outcome: list[BaseException | Any] = []

    def invoke() -> None:
        try:
            outcome.append(runtime.invoke({}))
        except Exception as error:
            outcome.append(error)

    waiting = threading.Thread(target=invoke, daemon=True)
    waiting.start()
    waiting.join(timeout=20)
    release.set()

    # Then it times out like a slow function instead of waiting for the slot for ever
    assert len(outcome) == 1, "still waiting for a slot"
    assert isinstance(outcome[0], InvocationTimeoutError)


def test_load_handler_imports_by_file_path_as_separate_copies(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "COUNT = []\n"
        "def lambda_handler(event, context):\n"
        "    COUNT.append(1)\n"
        "    return {'statusCode': 200, 'body': str(len(COUNT))}\n",
        encoding="utf-8",
    )
    spec = FunctionSpec("Fn", tmp_path, "app.lambda_handler", 3, 128, {})

    first, second = load_handler(spec), load_handler(spec)
    first({}, None)

    assert first({}, None)["body"] == "2"
    assert second({}, None)["body"] == "1"


def test_load_handler_reports_a_missing_module(tmp_path: Path) -> None:
    spec = FunctionSpec("Fn", tmp_path, "missing.lambda_handler", 3, 128, {})

    with pytest.raises(HandlerLoadError, match="does not exist"):
        load_handler(spec)


def test_load_handler_imports_siblings_from_the_code_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a handler module that imports a module beside it, as the api's imports its routes
    sibling = f"sibling_{uuid.uuid4().hex}"
    (tmp_path / f"{sibling}.py").write_text("ANSWER = 'from the sibling'\n", encoding="utf-8")
    (tmp_path / "app.py").write_text(
        f"import {sibling}\ndef lambda_handler(event, context):\n    return {sibling}.ANSWER\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys, "path", list(sys.path))
    spec = FunctionSpec("Fn", tmp_path, "app.lambda_handler", 3, 128, {})

    # When it is loaded
    handler = load_handler(spec)
    sys.modules.pop(sibling, None)

    # Then the sibling was found in the code directory, as Lambda finds it
    assert handler({}, None) == "from the sibling"


def test_load_handler_reports_a_failed_import_and_forgets_the_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "app.py").write_text("raise RuntimeError('broken at import')\n", encoding="utf-8")
    monkeypatch.setattr(sys, "path", list(sys.path))
    spec = FunctionSpec("Broken", tmp_path, "app.lambda_handler", 3, 128, {})

    with pytest.raises(HandlerLoadError, match="broken at import"):
        load_handler(spec)

    assert not [name for name in sys.modules if name.startswith("_devserver_Broken_")]


@pytest.fixture
def echo_server(project: Template) -> Iterator[DevServer]:
    server = DevServer(("127.0.0.1", 0), _gateway(project, _echo))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _request(
    server: DevServer, method: str, target: str, body: Any = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=10)
    try:
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_http_request_reaches_the_handler_as_an_event(echo_server: DevServer) -> None:
    status, headers, body = _request(
        echo_server, "PUT", "/a/b?x=1&x=2", b"\xffbinary", **{"Content-Type": "text/plain"}
    )

    received = json.loads(body)
    event = received["event"]
    assert status == 200
    assert headers["x-amzn-RequestId"] == event["requestContext"]["requestId"]
    assert event["httpMethod"] == "PUT"
    assert event["resource"] == "/{proxy+}"
    assert event["pathParameters"] == {"proxy": "a/b"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xffbinary"
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert 0 < received["remaining"] <= 29_000
    assert received["memory"] == 512
    assert received["function_name"].endswith("-Fn")


def test_http_chunked_body_is_read_whole(echo_server: DevServer) -> None:
    chunks = iter([b'{"a":', b" 1}"])

    # http.client sends an iterable body of unknown length chunked.
    status, _, body = _request(echo_server, "POST", "/c", chunks)

    assert status == 200
    assert json.loads(body)["event"]["body"] == '{"a": 1}'


def test_http_body_over_the_api_gateway_limit_is_413(echo_server: DevServer) -> None:
    host, port = echo_server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=10)
    try:
        connection.putrequest("POST", "/big")
        connection.putheader("Content-Length", str(11 * 1024 * 1024))
        connection.endheaders()
        response = connection.getresponse()
        status, body = response.status, response.read()
    finally:
        connection.close()

    assert status == 413
    assert json.loads(body)["reason"] == "RequestEntityTooLarge"


def test_http_head_has_no_body(echo_server: DevServer) -> None:
    status, headers, body = _request(echo_server, "HEAD", "/h")

    assert status == 200
    assert body == b""
    assert int(headers["Content-Length"]) > 0


# --- Resources under moto -------------------------------------------------


def test_template_tables_are_created_as_defined(template_resources: CreatedResources) -> None:
    name = template_resources.name("ImageCacheTable")
    client = boto3.client("dynamodb")

    table = client.describe_table(TableName=name)["Table"]
    ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    backups = client.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]

    assert table["KeySchema"] == [
        {"AttributeName": "digest", "KeyType": "HASH"},
        {"AttributeName": "source", "KeyType": "RANGE"},
    ]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSEDescription"]["Status"] == "ENABLED"
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiresAt"}
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_function_environment_uses_created_names(template_resources: CreatedResources) -> None:
    environment = template_resources.environment("ApiFunction")

    assert environment["IMAGE_CACHE_TABLE"] == template_resources.name("ImageCacheTable")
    assert environment["PULL_SECRET_PREFIX"] == "imagestreams"
    assert environment["ALLOW_PRIVATE_REGISTRIES"] == "false"
    assert environment["POWERTOOLS_LOG_LEVEL"] == "INFO"


def test_api_environment_fixture_sets_the_variables(
    api_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    assert os.environ["IMAGE_CACHE_TABLE"] == api_environment["IMAGE_CACHE_TABLE"]
    assert os.environ["ALLOW_PRIVATE_REGISTRIES"] == "false"
    assert os.environ["ALLOWED_PRIVATE_CIDRS"] == "127.0.0.0/8,::1/128"


QUEUES_AND_INDEXES = """
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/worker/
      Handler: app.lambda_handler
      Environment:
        Variables:
          QUEUE_URL: !Ref ImportQueue
          QUEUE_ARN: !GetAtt ImportQueue.Arn
          JOBS_TABLE: !Ref JobsTable
  ImportQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 180
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DeadLetterQueue.Arn
        maxReceiveCount: 3
  DeadLetterQueue:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
  JobsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: S}
        - {AttributeName: status, AttributeType: S}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      GlobalSecondaryIndexes:
        - IndexName: by-status
          KeySchema: [{AttributeName: status, KeyType: HASH}]
          Projection: {ProjectionType: KEYS_ONLY}
      StreamSpecification: {StreamViewType: NEW_IMAGE}
"""


def test_queues_are_created_after_what_they_refer_to(aws: boto3.Session, tmp_path: Path) -> None:
    template = _template(QUEUES_AND_INDEXES, tmp_path)

    created = create_resources(template, session=aws)

    sqs = aws.client("sqs")
    url = created.refs["ImportQueue"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert attributes["VisibilityTimeout"] == "180"
    assert redrive["deadLetterTargetArn"] == created.attributes[("DeadLetterQueue", "Arn")]
    assert int(redrive["maxReceiveCount"]) == 3
    table = aws.client("dynamodb").describe_table(TableName=created.name("JobsTable"))["Table"]
    assert table["GlobalSecondaryIndexes"][0]["IndexName"] == "by-status"
    assert table["StreamSpecification"]["StreamEnabled"] is True
    environment = created.environment("Worker")
    assert environment == {
        "QUEUE_URL": url,
        "QUEUE_ARN": created.attributes[("ImportQueue", "Arn")],
        "JOBS_TABLE": created.name("JobsTable"),
    }


def test_concurrent_invocations_see_their_own_events() -> None:
    # Given a Powertools resolver whose route reads the event before and after a pause,
    # in a process the local server has isolated
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    from devserver.isolation import isolate_threads

    isolate_threads()
    app = APIGatewayRestResolver()
    read: dict[str, tuple[str, str]] = {}

    @app.get("/echo")
    def echo() -> dict[str, bool]:
        first = app.current_event.get_query_string_value("id") or ""
        time.sleep(0.2)
        read[first] = (first, app.current_event.get_query_string_value("id") or "")
        return {"ok": True}

    def invoke(request_id: str) -> None:
        event = {
            "httpMethod": "GET",
            "path": "/echo",
            "resource": "/echo",
            "queryStringParameters": {"id": request_id},
            "headers": {},
            "requestContext": {"requestId": request_id},
        }
        app.resolve(event, None)

    # When eight invocations overlap, each on a thread, as the server runs them
    threads = [threading.Thread(target=invoke, args=(str(n),)) for n in range(8)]
    for thread in threads:
        thread.start()
        time.sleep(0.01)
    for thread in threads:
        thread.join()

    # Then each read its own event throughout (in one shared process they would not)
    assert read == {str(n): (str(n), str(n)) for n in range(8)}

"""The local server's API Gateway authorizer emulation and its local secrets.

Policy evaluation, the checks on an authorizer's answer, the gateway's
401/403/500 decisions and its per-token cache are tested with small fake
authorizers; the real authorizer behind the real server is tested end to
end in ``tests/e2e/test_devserver.py``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from devserver.gateway import (
    EXPLICIT_DENY_MESSAGE,
    IMPLICIT_DENY_MESSAGE,
    EventOptions,
    HttpRequest,
    MalformedResultError,
    PolicyDecision,
    RouteTable,
    evaluate_policy,
    iam_pattern_matches,
    method_arn,
    parse_authorizer_result,
    token_event,
)
from devserver.resources import CreatedResources, create_resources
from devserver.seed import (
    DevToken,
    Grant,
    SeedError,
    load_pull_secrets,
    make_tokens,
    parse_grants,
    seed_pull_secrets,
    seed_tokens,
    token_document,
)
from devserver.server import FunctionRuntime, LocalAuthorizer, LocalGateway
from devserver.template import (
    AuthorizerSpec,
    FunctionSpec,
    Route,
    Template,
    TemplateError,
    load_template,
)

ROOT = Path(__file__).resolve().parents[2]
API = "arn:aws:execute-api:us-east-1:123456789012:local/v1"

Handler = Callable[[dict[str, Any], Any], Any]


@pytest.fixture(scope="module")
def project() -> Template:
    return load_template(ROOT / "template.yaml")


def _template(text: str, tmp_path: Path) -> Template:
    path = tmp_path / "template.yaml"
    path.write_text(text, encoding="utf-8")
    return load_template(path)


# --- IAM-style matching and policy evaluation -----------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        (f"{API}/GET/a", f"{API}/GET/a", True),
        (f"{API}/GET/a", f"{API}/GET/a/", False),
        (f"{API}/GET/a", f"{API}/GET/ab", False),
        (f"{API}/*", f"{API}/GET/a/b/c", True),
        (f"{API}/*/a/*", f"{API}/POST/a/b/c", True),
        (f"{API}/*/a/*", f"{API}/POST/b/a", False),
        # "*" runs across "/" in execute-api ARNs, as in every IAM resource.
        (f"{API}/*/ns/demo/*", f"{API}/GET/ns/other/x/ns/demo/y", True),
        (f"{API}/GET/ns/demo/*", f"{API}/GET/ns/other/x/ns/demo/y", False),
        (f"{API}/G?T/a", f"{API}/GET/a", True),
        (f"{API}/G?T/a", f"{API}/GEET/a", False),
        (f"{API}/???/a", f"{API}/PUT/a", True),
        (f"{API}/GET/a.b", f"{API}/GET/aXb", False),
        (f"{API}/GET/(a)+", f"{API}/GET/(a)+", True),
        (f"{API}/get/a", f"{API}/GET/a", False),
        ("*", "anything at all", True),
        ("", "", True),
    ],
)
def test_iam_pattern_matching(pattern: str, value: str, matches: bool) -> None:
    assert iam_pattern_matches(pattern, value) is matches


def _allow(*resources: str, action: Any = "execute-api:Invoke") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": list(resources)}


def _deny(*resources: str, action: Any = "execute-api:Invoke") -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": list(resources)}


TARGET = f"{API}/GET/apis/image.openshift.io/v1/namespaces/demo/imagestreams"


@pytest.mark.parametrize(
    ("statements", "decision"),
    [
        ([_allow(TARGET)], PolicyDecision.ALLOW),
        ([_allow(f"{API}/*/*")], PolicyDecision.ALLOW),
        ([_allow(f"{API}/GET/apis/*", f"{API}/POST/x")], PolicyDecision.ALLOW),
        ([_allow(f"{API}/POST/*")], PolicyDecision.IMPLICIT_DENY),
        ([_allow(TARGET.replace("/v1/", "/v2/", 1))], PolicyDecision.IMPLICIT_DENY),
        ([], PolicyDecision.IMPLICIT_DENY),
        ([_allow(f"{API}/*"), _deny(TARGET)], PolicyDecision.EXPLICIT_DENY),
        ([_deny(TARGET), _allow(f"{API}/*")], PolicyDecision.EXPLICIT_DENY),
        ([_deny(f"{API}/POST/*"), _allow(f"{API}/*")], PolicyDecision.ALLOW),
        ([_deny(f"{API}/*")], PolicyDecision.EXPLICIT_DENY),
        ([_allow(TARGET, action="execute-api:*")], PolicyDecision.ALLOW),
        ([_allow(TARGET, action="*")], PolicyDecision.ALLOW),
        ([_allow(TARGET, action="Execute-API:invoke")], PolicyDecision.ALLOW),
        ([_allow(TARGET, action=["s3:GetObject", "execute-api:Invoke"])], PolicyDecision.ALLOW),
        ([_allow(TARGET, action="execute-api:ManageConnections")], PolicyDecision.IMPLICIT_DENY),
        ([_deny(TARGET, action="s3:*"), _allow(TARGET)], PolicyDecision.ALLOW),
    ],
)
def test_policy_evaluation(statements: list[dict[str, Any]], decision: PolicyDecision) -> None:
    assert evaluate_policy(statements, TARGET) is decision


# --- The authorizer's event and answer ---------------------------------------------


def test_method_arn_and_token_event() -> None:
    options = EventOptions(stage="v1", api_id="local")

    arn = method_arn(options, "post", "/apis/x/y")

    assert arn == f"{API}/POST/apis/x/y"
    assert token_event("Bearer t", arn) == {
        "type": "TOKEN",
        "authorizationToken": "Bearer t",
        "methodArn": arn,
    }


def _answer(**changes: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "principalId": "alice",
        "policyDocument": {"Version": "2012-10-17", "Statement": [_allow(f"{API}/*")]},
        "context": {"subject": "alice", "namespaces": "demo"},
    }
    answer.update(changes)
    return {key: value for key, value in answer.items() if value is not ...}


def test_a_good_answer_is_parsed_with_context_values_as_strings() -> None:
    result = parse_authorizer_result(
        _answer(context={"s": "x", "n": 3, "f": 1.5, "yes": True, "no": False})
    )

    assert result.principal_id == "alice"
    assert result.context == {"s": "x", "n": "3", "f": "1.5", "yes": "true", "no": "false"}
    assert evaluate_policy(result.statements, TARGET) is PolicyDecision.ALLOW


def test_a_single_statement_object_and_no_context_are_accepted() -> None:
    statement = _allow(TARGET)
    result = parse_authorizer_result(_answer(policyDocument={"Statement": statement}, context=...))

    assert result.statements == (statement,)
    assert result.context == {}


@pytest.mark.parametrize(
    "answer",
    [
        None,
        "Allow",
        _answer(principalId=...),
        _answer(principalId=""),
        _answer(principalId=7),
        _answer(policyDocument=...),
        _answer(policyDocument={"Statement": []}),
        _answer(
            policyDocument={"Statement": [{"Effect": "allow", "Action": "*", "Resource": "*"}]}
        ),
        _answer(policyDocument={"Statement": [{"Effect": "Allow", "Resource": "*"}]}),
        _answer(policyDocument={"Statement": [{"Effect": "Allow", "Action": "*"}]}),
        _answer(policyDocument={"Statement": [{"Effect": "Allow", "Action": [], "Resource": "*"}]}),
        _answer(
            policyDocument={"Statement": [{"Effect": "Allow", "Action": "*", "Resource": [1]}]}
        ),
        _answer(context=["a"]),
        _answer(context={"nested": {"a": 1}}),
        _answer(context={"list": ["a"]}),
        _answer(context={"none": None}),
    ],
    ids=lambda answer: json.dumps(answer)[:70],
)
def test_malformed_answers_are_rejected(answer: Any) -> None:
    with pytest.raises(MalformedResultError):
        parse_authorizer_result(answer)


# --- Reading authorizers from a template ----------------------------------------------

AUTHORIZED = """
Globals:
  Api:
    Auth:
      DefaultAuthorizer: Tokens
      Authorizers:
        Tokens:
          FunctionArn: !GetAtt Auth.Arn
          Identity:
            Header: X-Token
            ReauthorizeEvery: 60
            ValidationExpression: "^Bearer .+$"
Resources:
  Auth:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: auth/, Handler: app.handler}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Events:
        Guarded: {Type: Api, Properties: {Path: /a, Method: GET}}
        Open: {Type: Api, Properties: {Path: /health, Method: GET, Auth: {Authorizer: NONE}}}
"""


def test_authorizers_and_route_guards_are_read_from_the_template(tmp_path: Path) -> None:
    template = _template(AUTHORIZED, tmp_path)

    guards = {route.path: route.authorizer for route in template.routes()}

    assert template.authorizers() == {
        "Tokens": AuthorizerSpec("Tokens", "Auth", "X-Token", 60, "^Bearer .+$")
    }
    assert guards == {"/a": "Tokens", "/health": None}


def test_the_projects_authorizer(project: Template) -> None:
    assert project.authorizers() == {
        "TokenAuthorizer": AuthorizerSpec("TokenAuthorizer", "AuthorizerFunction")
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("FunctionArn: !GetAtt Auth.Arn", "FunctionArn: arn:aws:lambda:x"), "only Lambda"),
        (("Identity:", "FunctionPayloadType: REQUEST\n          Identity:"), "REQUEST"),
        (("DefaultAuthorizer: Tokens", "DefaultAuthorizer: AWS_IAM"), "AWS_IAM"),
    ],
)
def test_authorizers_the_local_server_cannot_emulate_are_errors(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    template = _template(AUTHORIZED.replace(*change), tmp_path)

    with pytest.raises(TemplateError, match=message):
        LocalGateway.from_template(template, loader=lambda spec: _echo)


def test_a_route_naming_an_unknown_authorizer_is_an_error(tmp_path: Path) -> None:
    text = AUTHORIZED.replace(
        "Path: /a, Method: GET", "Path: /a, Method: GET, Auth: {Authorizer: X}"
    )

    with pytest.raises(TemplateError, match="unknown authorizer X"):
        LocalGateway.from_template(_template(text, tmp_path), loader=lambda spec: _echo)


# --- The gateway in front of a fake authorizer -----------------------------------------

GOOD = "Bearer good-token"
NAMESPACES = "/apis/image.openshift.io/v1/namespaces"


def _echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": json.dumps(event)}


class FakeAuthorizer:
    """Knows one token; grants ``demo`` by policy; counts its invocations."""

    def __init__(self, result: Any = None, error: Exception | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.result = result
        self.error = error

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.calls.append(event)
        if self.error is not None:
            raise self.error
        if event["authorizationToken"] != GOOD:
            raise Exception("Unauthorized")  # what API Gateway reads
        if self.result is not None:
            return self.result
        api = event["methodArn"].split("/", 2)
        return {
            "principalId": "alice",
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    _allow(f"{api[0]}/{api[1]}/*{NAMESPACES}/demo/*"),
                    _deny(f"{api[0]}/{api[1]}/DELETE/*"),
                ],
            },
            "context": {"subject": "alice", "namespaces": "demo", "admin": False},
        }


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _function(logical_id: str, timeout: int = 5, routes: tuple[Route, ...] = ()) -> FunctionSpec:
    return FunctionSpec(logical_id, ROOT, "app.lambda_handler", timeout, 128, {}, routes)


def _gateway(
    project: Template,
    authorizer: Handler,
    *,
    ttl: int = 300,
    clock: Clock | None = None,
    timeout: int = 5,
    validation: str | None = None,
) -> LocalGateway:
    route = Route("/{proxy+}", "ANY", "Fn", None, authorizer="Auth")
    open_route = Route("/health", "GET", "Fn", None)
    function = _function("Fn", routes=(route, open_route))
    spec = AuthorizerSpec("Auth", "AuthFn", "Authorization", ttl, validation)
    authorizer_runtime = FunctionRuntime(_function("AuthFn", timeout), loader=lambda _: authorizer)
    return LocalGateway(
        RouteTable([route, open_route]),
        {"Fn": FunctionRuntime(function, loader=lambda _: _echo)},
        EventOptions(stage="v1"),
        project.gateway_responses(),
        authorizers={
            "Auth": LocalAuthorizer(
                spec, authorizer_runtime, clock=clock or Clock(), log=lambda _: None
            )
        },
        log=lambda _: None,
    )


def _get(gateway: LocalGateway, path: str, token: str | None, method: str = "GET") -> Any:
    headers = [("Authorization", token)] if token is not None else []
    response = gateway.handle(HttpRequest(method, path, headers))
    return response.status, json.loads(response.body), response.header("x-amzn-ErrorType")


def test_an_allowed_request_carries_the_authorizers_context(project: Template) -> None:
    fake = FakeAuthorizer()

    status, event, _ = _get(_gateway(project, fake), f"{NAMESPACES}/demo/imagestreams", GOOD)

    assert status == 200
    assert event["requestContext"]["authorizer"] == {
        "principalId": "alice",
        "subject": "alice",
        "namespaces": "demo",
        "admin": "false",
        "integrationLatency": event["requestContext"]["authorizer"]["integrationLatency"],
    }
    assert fake.calls == [
        {
            "type": "TOKEN",
            "authorizationToken": GOOD,
            "methodArn": f"{API}/GET{NAMESPACES}/demo/imagestreams",
        }
    ]


@pytest.mark.parametrize(
    ("token", "method", "path", "code", "reason", "error_type"),
    [
        (None, "GET", "demo/imagestreams", 401, "Unauthorized", "UnauthorizedException"),
        ("", "GET", "demo/imagestreams", 401, "Unauthorized", "UnauthorizedException"),
        ("Bearer bad", "GET", "demo/imagestreams", 401, "Unauthorized", "UnauthorizedException"),
        (GOOD, "GET", "other/imagestreams", 403, "Forbidden", "AccessDeniedException"),
        (GOOD, "DELETE", "demo/imagestreams/x", 403, "Forbidden", "AccessDeniedException"),
    ],
)
def test_refusals_are_gateway_statuses(
    project: Template,
    token: str | None,
    method: str,
    path: str,
    code: int,
    reason: str,
    error_type: str,
) -> None:
    status, body, header = _get(
        _gateway(project, FakeAuthorizer()), f"{NAMESPACES}/{path}", token, method
    )

    assert (status, body["kind"], body["reason"], body["code"]) == (code, "Status", reason, code)
    assert header == error_type


def test_deny_messages_tell_explicit_from_implicit(project: Template) -> None:
    gateway = _gateway(project, FakeAuthorizer())

    _, implicit, _ = _get(gateway, f"{NAMESPACES}/other/imagestreams", GOOD)
    _, explicit, _ = _get(gateway, f"{NAMESPACES}/demo/imagestreams/x", GOOD, "DELETE")

    assert implicit["message"] == IMPLICIT_DENY_MESSAGE
    assert explicit["message"] == EXPLICIT_DENY_MESSAGE


def test_no_token_is_refused_without_invoking_the_authorizer(project: Template) -> None:
    fake = FakeAuthorizer()
    gateway = _gateway(project, fake)

    _get(gateway, f"{NAMESPACES}/demo/imagestreams", None)
    _get(gateway, f"{NAMESPACES}/demo/imagestreams", "   ")

    assert fake.calls == []


def test_a_token_failing_the_validation_expression_is_refused_without_invoking(
    project: Template,
) -> None:
    fake = FakeAuthorizer()
    gateway = _gateway(project, fake, validation=r"Bearer [a-z-]+")

    refused = _get(gateway, f"{NAMESPACES}/demo/imagestreams", "Bearer BAD!")
    allowed = _get(gateway, f"{NAMESPACES}/demo/imagestreams", GOOD)

    assert (refused[0], allowed[0]) == (401, 200)
    assert len(fake.calls) == 1


def test_an_open_route_needs_no_token(project: Template) -> None:
    fake = FakeAuthorizer()

    status, event, _ = _get(_gateway(project, fake), "/health", None)

    assert status == 200
    assert "authorizer" not in event["requestContext"]
    assert fake.calls == []


def test_answers_are_cached_per_token_for_the_ttl_and_reused_on_other_routes(
    project: Template,
) -> None:
    fake, clock = FakeAuthorizer(), Clock()
    gateway = _gateway(project, fake, ttl=300, clock=clock)

    first = _get(gateway, f"{NAMESPACES}/demo/imagestreams", GOOD)
    clock.now += 299
    other_route = _get(gateway, f"{NAMESPACES}/demo/imagestreamimports", GOOD, "POST")
    other_namespace = _get(gateway, f"{NAMESPACES}/other/imagestreams", GOOD)
    calls_within_ttl = len(fake.calls)
    clock.now += 2
    after_ttl = _get(gateway, f"{NAMESPACES}/demo/imagestreams", GOOD)

    assert [first[0], other_route[0], other_namespace[0], after_ttl[0]] == [200, 200, 403, 200]
    assert calls_within_ttl == 1
    assert len(fake.calls) == 2
    # A cached answer took no time to get.
    assert other_route[1]["requestContext"]["authorizer"]["integrationLatency"] == 0


def test_refusals_and_errors_are_not_cached(project: Template) -> None:
    fake = FakeAuthorizer()
    gateway = _gateway(project, fake)

    for _ in range(2):
        _get(gateway, f"{NAMESPACES}/demo/imagestreams", "Bearer bad")

    assert len(fake.calls) == 2


def test_a_zero_ttl_turns_the_cache_off(project: Template) -> None:
    fake = FakeAuthorizer()
    gateway = _gateway(project, fake, ttl=0)

    for _ in range(3):
        _get(gateway, f"{NAMESPACES}/demo/imagestreams", GOOD)

    assert len(fake.calls) == 3


@pytest.mark.parametrize(
    "fake",
    [
        FakeAuthorizer(error=RuntimeError("token store down")),
        FakeAuthorizer(error=Exception("unauthorized")),
        FakeAuthorizer(result={"principalId": "alice"}),
        FakeAuthorizer(result="Allow"),
    ],
    ids=["error", "other-message", "no-policy", "not-an-object"],
)
def test_a_failing_authorizer_is_a_500(project: Template, fake: FakeAuthorizer) -> None:
    status, body, header = _get(_gateway(project, fake), f"{NAMESPACES}/demo/imagestreams", GOOD)

    assert (status, body["reason"], body["code"]) == (500, "InternalError", 500)
    assert header == "AuthorizerConfigurationErrorException"


def test_a_slow_authorizer_is_a_500(project: Template) -> None:
    import threading

    release = threading.Event()

    def hang(event: dict[str, Any], context: Any) -> Any:
        release.wait(10)
        return None

    try:
        status, body, _ = _get(
            _gateway(project, hang, timeout=0), f"{NAMESPACES}/demo/imagestreams", GOOD
        )
    finally:
        release.set()

    assert (status, body["reason"]) == (500, "InternalError")


def test_the_token_is_not_logged_when_the_authorizer_fails(project: Template) -> None:
    lines: list[str] = []
    spec = AuthorizerSpec("Auth", "AuthFn")
    fake = FakeAuthorizer(error=RuntimeError(f"cannot check {GOOD}"))
    authorizer = LocalAuthorizer(
        spec, FunctionRuntime(_function("AuthFn"), loader=lambda _: fake), log=lines.append
    )

    verdict = authorizer.authorize(
        HttpRequest("GET", "/x", [("Authorization", GOOD)]), f"{API}/GET/x"
    )

    assert not verdict.allowed
    assert lines
    assert not any("good-token" in line for line in lines)


# --- Local secrets: dev tokens and pull secrets --------------------------------------


@pytest.mark.parametrize(
    ("text", "grants"),
    [
        (None, [("demo",)]),
        ("", [("demo",)]),
        ("  ", [("demo",)]),
        ("team-a", [("team-a",)]),
        ("demo,team-a", [("demo", "team-a")]),
        ("demo; team-a,team-b ;*", [("demo",), ("team-a", "team-b"), ("*",)]),
        ("demo team-a", [("demo",), ("team-a",)]),
        ("demo,,demo", [("demo",)]),
    ],
)
def test_dev_token_grants(text: str | None, grants: list[tuple[str, ...]]) -> None:
    assert parse_grants(text) == [Grant(namespaces) for namespaces in grants]


@pytest.mark.parametrize(
    ("text", "grants"),
    [
        ("demo=s3cret-Token_1", [Grant(("demo",), "s3cret-Token_1")]),
        ("demo,team-a=a=b,c", [Grant(("demo", "team-a"), "a=b,c")]),
        ("demo=one; team-a", [Grant(("demo",), "one"), Grant(("team-a",))]),
        ("*=admin-token demo", [Grant(("*",), "admin-token"), Grant(("demo",))]),
    ],
    ids=["one", "equals-and-commas-in-the-token", "pinned-and-not", "every-namespace"],
)
def test_dev_token_grants_may_pin_their_tokens(text: str, grants: list[Grant]) -> None:
    parsed = parse_grants(text)

    assert parsed == grants
    assert [g.pinned for g in parsed] == [g.pinned for g in grants]
    assert all(g.pinned is None or g.pinned not in repr(g) for g in parsed)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("demo=", "printable ASCII"),
        ("demo=caf\u00e9", "printable ASCII"),
        ("=token", "names no namespace"),
        ("demo=same; team-a=same", "same token"),
    ],
    ids=["empty", "not-ascii", "no-namespace", "twice"],
)
def test_bad_pinned_tokens_are_refused(text: str, reason: str) -> None:
    with pytest.raises(SeedError, match=reason):
        parse_grants(text)


def test_a_grant_keeps_its_token_while_its_subject_and_namespaces_stay() -> None:
    kept = [
        DevToken("kept-demo", "dev-1", ("demo",)),
        DevToken("kept-team-a", "dev-2", ("team-a",)),
        DevToken("kept-admin", "dev-3", ("*",)),
    ]
    fresh = iter(["fresh-1", "fresh-2"])

    tokens = make_tokens(
        parse_grants("demo; team-a,team-b; *=kept-demo-too"), kept, lambda: next(fresh)
    )

    assert [(t.subject, t.token) for t in tokens] == [
        ("dev-1", "kept-demo"),
        ("dev-2", "fresh-1"),  # its namespaces changed
        ("dev-3", "kept-demo-too"),  # pinned
    ]


def test_a_kept_token_now_pinned_elsewhere_is_not_reused() -> None:
    kept = [DevToken("shared", "dev-1", ("demo",))]

    tokens = make_tokens(parse_grants("demo; team-a=shared"), kept, lambda: "fresh")

    assert [t.token for t in tokens] == ["fresh", "shared"]


@pytest.mark.parametrize("text", ["Demo", "../etc", "demo,team_a", ",", "a" * 64])
def test_bad_dev_token_grants_are_refused(text: str) -> None:
    with pytest.raises(SeedError, match="DEVSERVER_TOKENS"):
        parse_grants(text)


def test_dev_tokens_are_fresh_and_stored_as_hashes_only() -> None:
    tokens = make_tokens([Grant(("demo",)), Grant(("*",))])
    again = make_tokens([Grant(("demo",))])

    document = json.loads(token_document(tokens))

    assert [t.subject for t in tokens] == ["dev-1", "dev-2"]
    assert tokens[0].token != again[0].token
    assert len(tokens[0].token) >= 32
    assert document == {
        "tokens": [
            {
                "sha256": hashlib.sha256(t.token.encode()).hexdigest(),
                "subject": t.subject,
                "namespaces": list(t.namespaces),
            }
            for t in tokens
        ]
    }
    assert all(t.token not in json.dumps(document) for t in tokens)
    assert tokens[0].token not in repr(tokens[0])


def test_the_dev_token_document_is_what_the_authorizer_reads() -> None:
    from imagestreams.auth.tokens import parse_token_document

    tokens = make_tokens(parse_grants("demo; team-a,team-b; *"))

    table = parse_token_document(token_document(tokens))

    assert table.skipped == ()
    for token in tokens:
        grant = table.find(token.token)
        assert grant is not None
        assert grant.namespaces == token.namespaces


def test_dev_tokens_and_pull_secrets_are_stored_in_secrets_manager(
    template_resources: CreatedResources, tmp_path: Path
) -> None:
    client = boto3.client("secretsmanager")
    secret = template_resources.refs["ApiTokensSecret"]
    tokens = [DevToken("t0ken", "dev-1", ("demo",))]
    pull_file = tmp_path / "pull-secrets.json"
    pull_file.write_text(
        json.dumps({"demo": {"auths": {"r.example": {"auth": "dTpw"}}}, "team-a": '{"auths": {}}'})
    )

    seed_tokens(client, secret, tokens)
    names = seed_pull_secrets(client, "imagestreams", load_pull_secrets(pull_file))
    seed_tokens(client, "elsewhere/api-tokens", tokens)  # created when missing

    stored = client.get_secret_value(SecretId="imagestreams/api-tokens")["SecretString"]
    assert json.loads(stored) == json.loads(token_document(tokens))
    assert names == ["imagestreams/demo/pull-secret", "imagestreams/team-a/pull-secret"]
    demo = client.get_secret_value(SecretId="imagestreams/demo/pull-secret")["SecretString"]
    assert json.loads(demo) == {"auths": {"r.example": {"auth": "dTpw"}}}
    assert client.get_secret_value(SecretId="elsewhere/api-tokens")["SecretString"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not JSON"),
        ("[]", "not an object of namespaces"),
        ('{"Demo": {}}', "not a namespace name"),
        ('{"*": {}}', "one namespace"),
        ('{"demo": 5}', "is not an object"),
    ],
)
def test_bad_pull_secret_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "pull-secrets.json"
    path.write_text(content)

    with pytest.raises(SeedError, match=message):
        load_pull_secrets(path)


def test_a_missing_pull_secret_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="cannot read"):
        load_pull_secrets(tmp_path / "missing.json")


# --- The token secret created from the template ------------------------------------------

SECRETS = """
Resources:
  Tokens:
    Type: AWS::SecretsManager::Secret
    Properties:
      Name: !Sub "${AWS::StackName}/tokens"
      Description: tokens
      SecretString: '{"tokens": []}'
  Generated:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString:
        SecretStringTemplate: '{"user": "robot"}'
        GenerateStringKey: password
        PasswordLength: 20
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Environment:
        Variables:
          TOKENS: !Ref Tokens
"""


def test_secrets_are_created_from_the_template(aws: boto3.Session, tmp_path: Path) -> None:
    created = create_resources(_template(SECRETS, tmp_path), session=aws)

    client = aws.client("secretsmanager")
    tokens = client.describe_secret(SecretId=created.refs["Tokens"])
    generated = json.loads(
        client.get_secret_value(SecretId=created.refs["Generated"])["SecretString"]
    )
    assert tokens["Name"] == "imagestreams-local/tokens"
    assert created.name("Tokens") == "imagestreams-local/tokens"
    assert created.environment("Fn") == {"TOKENS": tokens["ARN"]}
    assert generated["user"] == "robot"
    assert len(generated["password"]) == 20


def test_the_projects_token_secret_starts_empty(template_resources: CreatedResources) -> None:
    client = boto3.client("secretsmanager")

    value = client.get_secret_value(SecretId=template_resources.refs["ApiTokensSecret"])

    assert template_resources.name("ApiTokensSecret") == "imagestreams/api-tokens"
    assert json.loads(value["SecretString"]) == {"tokens": []}
    assert (
        template_resources.environment("AuthorizerFunction")["API_TOKENS_SECRET"]
        == (template_resources.refs["ApiTokensSecret"])
    )


# --- Sample events ------------------------------------------------------------------------


def test_sample_api_events_carry_what_the_authorizer_passes_on() -> None:
    from testkit.events import event_names, load_event

    token_event_sample = load_event("authorizer-token")
    names = [name for name in event_names() if name.startswith("api-")]

    assert names
    for name in names:
        sample = load_event(name)
        context = sample["requestContext"]["authorizer"]
        assert set(context) == {"principalId", "integrationLatency", "subject", "namespaces"}, name
        assert context["namespaces"] == sample["pathParameters"].get("namespace", "demo"), name
        assert isinstance(context["subject"], str), name
        # API Gateway passes the Authorization header on to the function too.
        assert sample["headers"]["Authorization"] == token_event_sample["authorizationToken"], name


def test_the_sample_token_event_is_what_the_gateway_sends(project: Template) -> None:
    from testkit.events import load_event

    sample = load_event("authorizer-token")
    options = EventOptions(stage=project.stage_name(), api_id="a1b2c3d4e5")
    arn = method_arn(options, "POST", f"{NAMESPACES}/demo/imagestreamimports")

    assert sample == token_event(sample["authorizationToken"], arn)


def test_with_authorizer_sets_or_removes_the_context() -> None:
    from testkit.events import load_event, with_authorizer

    event = load_event("api-list-streams")

    granted = with_authorizer(event, "demo,team-a", subject="alice")
    removed = with_authorizer(event, None)

    assert granted["requestContext"]["authorizer"]["namespaces"] == "demo,team-a"
    assert granted["requestContext"]["authorizer"]["principalId"] == "alice"
    assert "authorizer" not in removed["requestContext"]
    assert event["requestContext"]["authorizer"]["namespaces"] == "demo"

"""The token authorizer (functions/authorizer) on moto's Secrets Manager.

The handler is loaded by file as Lambda loads it, with the environment the
template gives it and the token secret the template creates; tests write
the token document and call it with TOKEN events from ``events/``. Log
records are captured with all their fields, for the check that no token or
hash is ever logged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import boto3
import pytest

from devserver.gateway import PolicyDecision, evaluate_policy
from devserver.resources import CreatedResources
from imagestreams import bootstrap
from testkit.api import FakeContext, load_function
from testkit.events import load_event
from tests.support.emf import read_emf

AUTHORIZER = "AuthorizerFunction"
SAMPLE = load_event("authorizer-token")
DEMO_TOKEN = SAMPLE["authorizationToken"].split()[1]
ADMIN_TOKEN = "admin-token-9f8e7d6c5b4a"
NOBODY_TOKEN = "token-without-namespaces-1234"
TOKENS = {
    DEMO_TOKEN: ("demo-user", ["demo", "team-a"]),
    ADMIN_TOKEN: ("admin", ["*"]),
    NOBODY_TOKEN: ("nobody", []),
}
API_ARN = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/v1"
NAMESPACES_ARN = API_ARN + "/{method}/apis/image.openshift.io/v1/namespaces/{namespace}/{rest}"


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def entries(tokens: dict[str, tuple[str, list[str]]]) -> list[dict[str, Any]]:
    return [
        {"sha256": sha256(token), "subject": subject, "namespaces": namespaces}
        for token, (subject, namespaces) in tokens.items()
    ]


@pytest.fixture
def token_secret(template_resources: CreatedResources) -> str:
    """The ARN of the template's token secret, created in moto."""
    return str(template_resources.refs["ApiTokensSecret"])


@pytest.fixture
def put_tokens(token_secret: str) -> Callable[[Any], None]:
    """Replace the token document (a list of entries, or raw text)."""
    client = boto3.client("secretsmanager")

    def put(document: Any) -> None:
        text = document if isinstance(document, str) else json.dumps({"tokens": document})
        client.put_secret_value(SecretId=token_secret, SecretString=text)

    return put


@pytest.fixture
def authorizer(
    template_resources: CreatedResources,
    put_tokens: Callable[[Any], None],
    monkeypatch: pytest.MonkeyPatch,
) -> ModuleType:
    """The authorizer handler with its deployed environment and the three tokens."""
    for name, value in template_resources.environment(AUTHORIZER).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("API_TOKENS_MAX_AGE", "0")  # every call reads the secret
    # Even if someone turns on event logging, the token must stay out of the logs.
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    put_tokens(entries(TOKENS))
    bootstrap.reset()  # a new Lambda process: settings are read again
    return load_function("authorizer")


def authorize(module: ModuleType, header: str | None, method_arn: str | None = None) -> Any:
    event = dict(SAMPLE)
    if header is None:
        event.pop("authorizationToken")
    else:
        event["authorizationToken"] = header
    if method_arn is not None:
        event["methodArn"] = method_arn
    return module.lambda_handler(event, FakeContext())


def records(caplog: pytest.LogCaptureFixture, message: str) -> list[dict[str, Any]]:
    """The fields of every captured record with ``message``."""
    return [vars(r) for r in caplog.records if r.getMessage() == message]


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured record with all its fields, and as formatted."""
    return "\n".join(f"{vars(r)!r} {caplog.handler.format(r)}" for r in caplog.records)


def arn(namespace: str, method: str = "GET", rest: str = "imagestreams") -> str:
    return NAMESPACES_ARN.format(method=method, namespace=namespace, rest=rest)


def test_loading_the_function_builds_no_client(authorizer: ModuleType) -> None:
    assert authorizer.bootstrap.container().built() == frozenset()


def test_a_known_token_gets_its_namespaces(authorizer: ModuleType) -> None:
    answer = authorize(authorizer, SAMPLE["authorizationToken"])

    assert answer["principalId"] == "demo-user"
    assert answer["context"] == {"subject": "demo-user", "namespaces": "demo,team-a"}
    statements = answer["policyDocument"]["Statement"]
    assert evaluate_policy(statements, SAMPLE["methodArn"]) is PolicyDecision.ALLOW
    # The answer is cached per token, so it covers the token's other routes too.
    for namespace in ("demo", "team-a"):
        for method, rest in [
            ("POST", "imagestreamimports"),
            ("GET", "imagestreamimports/app"),
            ("GET", "imagestreams"),
            ("GET", "imagestreams/app"),
            ("DELETE", "imagestreams/app"),
            ("GET", "frobnicators"),
        ]:
            assert evaluate_policy(statements, arn(namespace, method, rest)) is PolicyDecision.ALLOW


@pytest.mark.parametrize("namespace", ["other", "demo2", "team"])
def test_another_namespace_is_left_to_the_function(authorizer: ModuleType, namespace: str) -> None:
    # The api function answers it with Kubernetes' Forbidden, from the context.
    answer = authorize(authorizer, SAMPLE["authorizationToken"])

    statements = answer["policyDocument"]["Statement"]
    for method in ("GET", "POST", "DELETE"):
        assert evaluate_policy(statements, arn(namespace, method)) is PolicyDecision.ALLOW
    assert answer["context"]["namespaces"] == "demo,team-a"


@pytest.mark.parametrize("path", ["", "api", "apis", "apis/image.openshift.io/v1", "version"])
def test_discovery_and_unknown_paths_are_allowed(authorizer: ModuleType, path: str) -> None:
    answer = authorize(authorizer, SAMPLE["authorizationToken"])

    statements = answer["policyDocument"]["Statement"]
    assert evaluate_policy(statements, f"{API_ARN}/GET/{path}") is PolicyDecision.ALLOW


def test_an_admin_token_gets_every_namespace(authorizer: ModuleType) -> None:
    answer = authorize(authorizer, f"Bearer {ADMIN_TOKEN}")

    assert answer["context"] == {"subject": "admin", "namespaces": "*"}
    statements = answer["policyDocument"]["Statement"]
    assert evaluate_policy(statements, arn("anything")) is PolicyDecision.ALLOW


def test_a_token_without_namespaces_is_authenticated_with_no_namespace(
    authorizer: ModuleType,
) -> None:
    answer = authorize(authorizer, f"Bearer {NOBODY_TOKEN}")

    statements = answer["policyDocument"]["Statement"]
    assert evaluate_policy(statements, SAMPLE["methodArn"]) is PolicyDecision.ALLOW
    assert answer["context"]["namespaces"] == ""


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "Bearer",
        "Bearer wrong-token",
        f"Bearer {DEMO_TOKEN}x",
        f"Bearer {sha256(DEMO_TOKEN)}",
        f"Basic {DEMO_TOKEN}",
        f"Token {DEMO_TOKEN}",
        DEMO_TOKEN,
    ],
    ids=[
        "missing",
        "empty",
        "blank",
        "scheme-only",
        "wrong",
        "near-miss",
        "the-hash-itself",
        "basic-scheme",
        "token-scheme",
        "no-scheme",
    ],
)
def test_anything_but_a_known_bearer_token_is_unauthorized(
    authorizer: ModuleType, header: str | None
) -> None:
    with pytest.raises(Exception) as caught:
        authorize(authorizer, header)

    assert type(caught.value) is Exception
    assert str(caught.value) == "Unauthorized"


def test_the_scheme_is_case_insensitive(authorizer: ModuleType) -> None:
    answer = authorize(authorizer, f"bearer {DEMO_TOKEN}")

    assert answer["principalId"] == "demo-user"


def test_a_revoked_token_is_refused_once_the_secret_changes(
    authorizer: ModuleType, put_tokens: Callable[[Any], None]
) -> None:
    authorize(authorizer, SAMPLE["authorizationToken"])

    put_tokens(entries({ADMIN_TOKEN: TOKENS[ADMIN_TOKEN]}))

    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(authorizer, SAMPLE["authorizationToken"])
    assert authorize(authorizer, f"Bearer {ADMIN_TOKEN}")["principalId"] == "admin"


def test_a_malformed_entry_locks_nobody_else_out(
    authorizer: ModuleType, put_tokens: Callable[[Any], None], caplog: pytest.LogCaptureFixture
) -> None:
    put_tokens([{"sha256": "not-a-hash", "subject": "broken"}, *entries(TOKENS)])

    answer = authorize(authorizer, SAMPLE["authorizationToken"])

    assert answer["principalId"] == "demo-user"
    skipped = records(caplog, "token entry skipped")
    assert [(r["entry"], r["reason"]) for r in skipped] == [(0, "sha256 is not 64 hex digits")]
    assert "not-a-hash" not in everything_logged(caplog)
    assert "broken" not in everything_logged(caplog)


def test_a_missing_secret_lets_nobody_in(
    authorizer: ModuleType, token_secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    boto3.client("secretsmanager").delete_secret(
        SecretId=token_secret, ForceDeleteWithoutRecovery=True
    )

    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(authorizer, SAMPLE["authorizationToken"])
    assert records(caplog, "token secret missing")


def test_a_secret_that_is_not_a_token_document_is_an_error_not_a_401(
    authorizer: ModuleType, put_tokens: Callable[[Any], None], caplog: pytest.LogCaptureFixture
) -> None:
    put_tokens(f"not json, but a token: {DEMO_TOKEN}")

    with pytest.raises(Exception) as caught:
        authorize(authorizer, SAMPLE["authorizationToken"])

    assert str(caught.value) != "Unauthorized"
    assert DEMO_TOKEN not in str(caught.value)
    (failure,) = records(caplog, "token store unavailable")
    assert failure["reason"] == "not JSON"


def test_an_event_without_a_method_arn_is_an_error(authorizer: ModuleType) -> None:
    with pytest.raises(ValueError, match="execute-api"):
        authorize(authorizer, SAMPLE["authorizationToken"], method_arn="")


def test_no_token_or_hash_appears_in_the_logs(
    authorizer: ModuleType, put_tokens: Callable[[Any], None], caplog: pytest.LogCaptureFixture
) -> None:
    # Given every path through the function: allowed, denied, unknown, malformed, broken
    secrets = [DEMO_TOKEN, ADMIN_TOKEN, NOBODY_TOKEN, "wrong-token-5566"]
    authorize(authorizer, f"Bearer {DEMO_TOKEN}")
    authorize(authorizer, f"Bearer {ADMIN_TOKEN}")
    authorize(authorizer, f"Bearer {NOBODY_TOKEN}")
    for header in ("Bearer wrong-token-5566", f"Basic {DEMO_TOKEN}", DEMO_TOKEN):
        with pytest.raises(Exception, match=r"^Unauthorized$"):
            authorize(authorizer, header)
    put_tokens(f"garbage {DEMO_TOKEN}")
    with pytest.raises(Exception):  # noqa: B017 - any error but Unauthorized
        authorize(authorizer, f"Bearer {DEMO_TOKEN}")

    # When the logs are read
    logged = everything_logged(caplog)

    # Then decisions and subjects are there, and no token, hash or header
    decisions = [r["decision"] for r in records(caplog, "authorization")]
    assert decisions.count("unauthorized") == 3
    assert decisions.count("allow") == 3
    assert "demo-user" in logged
    for secret in secrets:
        assert secret not in logged
        assert sha256(secret) not in logged
    assert "Bearer" not in logged
    assert "Basic" not in logged


@pytest.mark.parametrize(
    ("header", "document", "decision"),
    [
        (f"Bearer {DEMO_TOKEN}", None, "allow"),
        ("Bearer wrong-token-5566", None, "deny"),
        (f"Basic {DEMO_TOKEN}", None, "deny"),
        (None, None, "deny"),
        (f"Bearer {DEMO_TOKEN}", "not a token document", "error"),
    ],
    ids=["known-token", "unknown-token", "not-bearer", "no-header", "broken-secret"],
)
def test_each_decision_is_counted_once(
    authorizer: ModuleType,
    put_tokens: Callable[[Any], None],
    capsys: pytest.CaptureFixture[str],
    header: str | None,
    document: str | None,
    decision: str,
) -> None:
    # Given the token document (or a broken one)
    if document is not None:
        put_tokens(document)
    capsys.readouterr()

    # When a request is authorized, or refused, or fails
    if decision == "allow":
        authorize(authorizer, header)
    else:
        with pytest.raises(Exception):  # noqa: B017 - refused (401) or failed (500)
            authorize(authorizer, header)

    # Then the decision is counted, whatever the answer, and nothing else is
    emitted = read_emf(capsys.readouterr().out)
    assert emitted.counts() == {f"Authorizations{{decision={decision}}}": 1}

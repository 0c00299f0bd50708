"""API tokens (imagestreams.auth.tokens): hashing, the token document, the policy."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from devserver.gateway import PolicyDecision, evaluate_policy
from imagestreams.auth.tokens import (
    MethodArn,
    SkippedEntry,
    TokenDocumentError,
    TokenGrant,
    bearer_token,
    build_policy,
    hash_token,
    parse_token_document,
)

ALICE_TOKEN = "alice-token-0123456789"
ALICE_HASH = hashlib.sha256(ALICE_TOKEN.encode()).hexdigest()
OTHER_HASH = "ab" * 32
API = "arn:aws:execute-api:eu-west-1:111122223333:abc123defg/v1"
METHOD_ARN = MethodArn.parse(
    f"{API}/POST/apis/image.openshift.io/v1/namespaces/demo/imagestreamimports"
)


def entry(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"sha256": ALICE_HASH, "subject": "alice", "namespaces": ["demo"]}
    base.update(fields)
    return {key: value for key, value in base.items() if value is not ...}


def document(*entries: Any) -> str:
    return json.dumps({"tokens": list(entries)})


# --- Hashing and the header ------------------------------------------------------


def test_hash_is_the_hex_sha256_of_the_utf8_bytes() -> None:
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert hash_token("jalapeño") == hashlib.sha256("jalapeño".encode()).hexdigest()


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.def-ghi_jkl~+/=", "abc.def-ghi_jkl~+/="),
        ("bearer abc", "abc"),
        ("BEARER abc", "abc"),
        ("Bearer   abc", "abc"),
        ("  Bearer abc  ", "abc"),
        ("Bearer", None),
        ("Bearer ", None),
        ("Basic dXNlcjpwYXNz", None),
        ("abc", None),
        ("Bearer abc def", None),
        ("Bearerabc", None),
        ("Bearer tökén", None),
        ("", None),
        (None, None),
    ],
    ids=repr,
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


# --- The document ------------------------------------------------------------------


def test_a_well_formed_document() -> None:
    table = parse_token_document(
        document(
            entry(),
            entry(sha256=OTHER_HASH.upper(), subject=" admin ", namespaces=["*"]),
        )
    )

    assert table.grants == (
        TokenGrant(ALICE_HASH, "alice", ("demo",)),
        TokenGrant(OTHER_HASH, "admin", ("*",)),
    )
    assert table.skipped == ()


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("not an object", "not an object"),
        (entry(sha256=...), "sha256 is not 64 hex digits"),
        (entry(sha256="abc"), "sha256 is not 64 hex digits"),
        (entry(sha256="g" * 64), "sha256 is not 64 hex digits"),
        (entry(sha256=ALICE_TOKEN), "sha256 is not 64 hex digits"),
        (entry(subject=...), "subject is missing"),
        (entry(subject="  "), "subject is missing"),
        (entry(subject=7), "subject is missing"),
        (entry(subject="a" * 257), "subject is too long or has control characters"),
        (entry(subject="evil\nforged log line"), "subject is too long or has control characters"),
        (entry(namespaces=...), "namespaces is not a list of strings"),
        (entry(namespaces="demo"), "namespaces is not a list of strings"),
        (entry(namespaces=[1]), "namespaces is not a list of strings"),
        (
            entry(namespaces=["Demo"]),
            'namespaces holds a name that is neither a DNS-1123 label nor "*"',
        ),
        (
            entry(namespaces=["../x"]),
            'namespaces holds a name that is neither a DNS-1123 label nor "*"',
        ),
        (
            entry(namespaces=["a" * 64]),
            'namespaces holds a name that is neither a DNS-1123 label nor "*"',
        ),
        (
            entry(namespaces=["demo*"]),
            'namespaces holds a name that is neither a DNS-1123 label nor "*"',
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else json.dumps(value)[:60],
)
def test_malformed_entries_are_skipped_with_a_fixed_reason(bad: Any, reason: str) -> None:
    good = entry(sha256=OTHER_HASH, subject="bob")

    table = parse_token_document(document(bad, good))

    assert [grant.subject for grant in table.grants] == ["bob"]
    assert table.skipped == (SkippedEntry(0, reason),)


def test_a_duplicated_hash_grants_nothing() -> None:
    table = parse_token_document(
        document(entry(), entry(subject="mallory", namespaces=["*"]), entry(sha256=OTHER_HASH))
    )

    assert [grant.sha256 for grant in table.grants] == [OTHER_HASH]
    assert table.skipped == (
        SkippedEntry(0, "duplicate sha256"),
        SkippedEntry(1, "duplicate sha256"),
    )
    assert table.find(ALICE_TOKEN) is None


def test_namespaces_are_deduplicated_and_star_stands_alone() -> None:
    table = parse_token_document(
        document(
            entry(namespaces=["demo", "team-a", "demo"]),
            entry(sha256=OTHER_HASH, namespaces=["demo", "*"]),
        )
    )

    assert [grant.namespaces for grant in table.grants] == [("demo", "team-a"), ("*",)]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "not JSON"),
        ("{", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ("[]", "not a JSON object"),
        ("{}", 'no "tokens" list'),
        ('{"tokens": {}}', 'no "tokens" list'),
    ],
    ids=repr,
)
def test_a_document_that_is_not_one_is_an_error(raw: str | bytes, reason: str) -> None:
    with pytest.raises(TokenDocumentError) as caught:
        parse_token_document(raw)

    assert caught.value.reason == reason


def test_an_empty_document_grants_nothing() -> None:
    table = parse_token_document(b'{"tokens": []}')

    assert table.grants == ()
    assert table.find(ALICE_TOKEN) is None


def test_find_matches_the_token_not_its_hash() -> None:
    table = parse_token_document(document(entry()))

    assert table.find(ALICE_TOKEN) == TokenGrant(ALICE_HASH, "alice", ("demo",))
    assert table.find(ALICE_HASH) is None
    assert table.find(ALICE_TOKEN + "x") is None
    assert table.find("") is None


def test_the_hash_is_kept_out_of_the_grants_repr() -> None:
    (grant,) = parse_token_document(document(entry())).grants

    assert ALICE_HASH not in repr(grant)


@pytest.mark.parametrize(
    ("grant", "namespace", "allowed"),
    [
        (("demo",), "demo", True),
        (("demo",), "demo2", False),
        (("demo", "team-a"), "team-a", True),
        (("*",), "anything", True),
        ((), "demo", False),
    ],
)
def test_grant_allows(grant: tuple[str, ...], namespace: str, allowed: bool) -> None:
    assert TokenGrant(ALICE_HASH, "alice", grant).allows(namespace) is allowed


# --- The method ARN and the policy ---------------------------------------------------


def test_method_arn_parts() -> None:
    arn = MethodArn.parse("arn:aws-cn:execute-api:cn-north-1:111122223333:abc123/prod/GET/a/b")

    assert arn == MethodArn("aws-cn", "cn-north-1", "111122223333", "abc123", "prod", "GET", "a/b")
    assert (
        arn.resource("*", "*") == "arn:aws-cn:execute-api:cn-north-1:111122223333:abc123/prod/*/*"
    )


@pytest.mark.parametrize(
    "arn",
    [
        "",
        "arn:aws:lambda:us-east-1:111122223333:function:f",
        "arn:aws:execute-api:us-east-1:111122223333:abc123/v1",
        "arn:aws:execute-api:us-east-1:1111:abc123/v1/GET/x",
    ],
)
def test_method_arn_rejects_other_arns(arn: str) -> None:
    with pytest.raises(ValueError, match="execute-api"):
        MethodArn.parse(arn)


def test_policy_for_a_grant() -> None:
    grant = TokenGrant(ALICE_HASH, "alice", ("demo", "team-a"))

    policy = build_policy(grant, METHOD_ARN)

    assert policy["principalId"] == "alice"
    assert policy["context"] == {"subject": "alice", "namespaces": "demo,team-a"}
    assert policy["policyDocument"]["Version"] == "2012-10-17"
    (statement,) = policy["policyDocument"]["Statement"]
    assert statement == {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": [f"{API}/*/*"],
    }
    assert all(isinstance(value, str) for value in policy["context"].values())
    assert ALICE_HASH not in json.dumps(policy)


@pytest.mark.parametrize(
    ("namespaces", "context"),
    [(("demo",), "demo"), (("*",), "*"), ((), "")],
    ids=["one", "every", "none"],
)
def test_every_grant_gets_the_same_policy_and_its_own_context(
    namespaces: tuple[str, ...], context: str
) -> None:
    policy = build_policy(TokenGrant(ALICE_HASH, "alice", namespaces), METHOD_ARN)

    (statement,) = policy["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == [f"{API}/*/*"]
    assert policy["context"]["namespaces"] == context


NS = f"{API}/{{method}}/apis/image.openshift.io/v1/namespaces"


@pytest.mark.parametrize(
    ("namespaces", "method", "path"),
    [
        (("demo",), "POST", "demo/imagestreamimports"),
        (("demo",), "GET", "demo/imagestreams"),
        (("demo",), "PUT", "demo/frobnicators"),
        # Namespaces not granted reach the function, which answers 403 itself.
        (("demo",), "GET", "other/imagestreams"),
        (("demo",), "DELETE", "demo2/imagestreams/web"),
        (("*",), "GET", "other/imagestreams"),
        ((), "GET", "demo/imagestreams"),
    ],
)
def test_policy_as_api_gateway_evaluates_it(
    namespaces: tuple[str, ...], method: str, path: str
) -> None:
    policy = build_policy(TokenGrant(ALICE_HASH, "alice", namespaces), METHOD_ARN)

    arn = f"{NS.format(method=method)}/{path}"

    assert evaluate_policy(policy["policyDocument"]["Statement"], arn) is PolicyDecision.ALLOW


def test_policy_reaches_discovery_and_unknown_paths_but_no_other_stage_or_api() -> None:
    policy = build_policy(TokenGrant(ALICE_HASH, "alice", ("demo",)), METHOD_ARN)
    statements = policy["policyDocument"]["Statement"]

    for path in ("", "api", "apis", "apis/image.openshift.io/v1", "version", "no/such/path"):
        assert evaluate_policy(statements, f"{API}/GET/{path}") is PolicyDecision.ALLOW
    path = "GET/apis/image.openshift.io/v1/namespaces/demo/imagestreams"
    other_stage = "arn:aws:execute-api:eu-west-1:111122223333:abc123defg/v2"
    other_api = "arn:aws:execute-api:eu-west-1:111122223333:zzz999/v1"
    assert evaluate_policy(statements, f"{other_stage}/{path}") is PolicyDecision.IMPLICIT_DENY
    assert evaluate_policy(statements, f"{other_api}/{path}") is PolicyDecision.IMPLICIT_DENY

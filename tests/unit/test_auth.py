"""Parsing of auth challenges and token responses; the token cache."""

from __future__ import annotations

import pytest

from imagestreams.credentials import Credential
from imagestreams.errors import ProtocolError
from imagestreams.registry.auth import (
    MIN_TOKEN_LIFETIME,
    TokenCache,
    basic_header,
    identity_of,
    parse_challenges,
    parse_token_response,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, []),
        ("", []),
        ('Basic realm="Registry Realm"', [("basic", {"realm": "Registry Realm"})]),
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"',
            [
                (
                    "bearer",
                    {"realm": "https://auth.docker.io/token", "service": "registry.docker.io"},
                )
            ],
        ),
        (
            'Bearer realm="https://a/token",service="s",scope="repository:x/y:pull",error="insufficient_scope"',
            [
                (
                    "bearer",
                    {
                        "realm": "https://a/token",
                        "service": "s",
                        "scope": "repository:x/y:pull",
                        "error": "insufficient_scope",
                    },
                )
            ],
        ),
        (
            "bearer realm=https://a/token, service=s",
            [("bearer", {"realm": "https://a/token", "service": "s"})],
        ),
        (
            'Basic realm="r", Bearer realm="https://t/", service="s"',
            [("bearer", {"realm": "https://t/", "service": "s"}), ("basic", {"realm": "r"})],
        ),
        ('Bearer realm="with \\"quote\\""', [("bearer", {"realm": 'with "quote"'})]),
    ],
    ids=[
        "none",
        "empty",
        "basic",
        "bearer",
        "bearer-scope-error",
        "unquoted",
        "two-bearer-first",
        "escaped",
    ],
)
def test_parse_challenges(header: str | None, expected: list[tuple[str, dict[str, str]]]) -> None:
    assert [(c.scheme, c.params) for c in parse_challenges(header)] == expected


@pytest.mark.parametrize(
    ("body", "token", "lifetime"),
    [
        (b'{"token": "abc", "expires_in": 300}', "abc", 300),
        (b'{"access_token": "xyz", "expires_in": 3600}', "xyz", 3600),
        (b'{"token": "abc", "access_token": "abc"}', "abc", MIN_TOKEN_LIFETIME),
        (b'{"token": "short", "expires_in": 5}', "short", MIN_TOKEN_LIFETIME),
    ],
    ids=["token", "access_token", "no-expiry", "short-expiry-raised"],
)
def test_parse_token_response(body: bytes, token: str, lifetime: float) -> None:
    parsed = parse_token_response(body, now=1000.0)
    assert parsed.value == token
    assert parsed.expires_at == 1000.0 + lifetime


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b"{}", b'{"token": ""}'], ids=["text", "list", "empty", "blank"]
)
def test_bad_token_responses(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_token_response(body, now=0.0)


def test_token_cache_expires() -> None:
    now = [0.0]
    cache = TokenCache(clock=lambda: now[0])
    key = ("realm", "svc", "scope", "anonymous")
    cache.put(key, parse_token_response(b'{"token": "t", "expires_in": 120}', cache.now()))
    assert cache.get(key) == "t"
    now[0] = 119.0
    assert cache.get(key) == "t"
    now[0] = 120.0
    assert cache.get(key) is None


def test_identity_and_basic_never_show_the_password_in_clear_keys() -> None:
    credential = Credential(username="user", password="s3cret-pass")
    assert "s3cret" not in identity_of(credential)
    assert identity_of(None) == "anonymous"
    assert basic_header(credential) == "Basic dXNlcjpzM2NyZXQtcGFzcw=="
    assert "s3cret" not in repr(credential)

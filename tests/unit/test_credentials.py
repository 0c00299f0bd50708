"""Pull-secret parsing and Kubernetes-keyring matching (imagestreams.credentials)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from imagestreams.credentials import (
    IDENTITY_TOKEN_USERNAME,
    Credential,
    Keyring,
    PullSecretError,
)
from imagestreams.errors import ImageStreamsError

SECRET = "s3cr3t-Pa55"


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def cred(username: str) -> Credential:
    """The credential ``keyring`` stores for ``username``."""
    return Credential(username, f"{username}-{SECRET}")


def keyring(entries: dict[str, str]) -> Keyring:
    """A keyring parsed from a .dockerconfigjson mapping key -> username."""
    auths = {key: {"auth": b64(f"{user}:{user}-{SECRET}")} for key, user in entries.items()}
    return Keyring.from_secret(json.dumps({"auths": auths}))


# --- matching ------------------------------------------------------------------

# (id, key -> username, registry, repository, expected usernames in order)
LOOKUP_CASES: list[tuple[str, dict[str, str], str, str, list[str]]] = [
    ("exact-host", {"quay.io": "a"}, "quay.io", "ns/app", ["a"]),
    ("other-host", {"quay.io": "a"}, "ghcr.io", "ns/app", []),
    ("suffix-host-is-not-a-match", {"quay.io": "a"}, "evilquay.io", "ns/app", []),
    ("https-scheme-stripped", {"https://quay.io": "a"}, "quay.io", "ns/app", ["a"]),
    ("http-scheme-stripped", {"http://quay.io": "a"}, "quay.io", "ns/app", ["a"]),
    ("v1-suffix-stripped", {"https://quay.io/v1/": "a"}, "quay.io", "ns/app", ["a"]),
    ("v2-suffix-stripped", {"https://quay.io/v2/": "a"}, "quay.io", "ns/app", ["a"]),
    ("v2-without-slash-stripped", {"quay.io/v2": "a"}, "quay.io", "ns/app", ["a"]),
    ("v2-then-path", {"https://quay.io/v2/team": "a"}, "quay.io", "team/app", ["a"]),
    ("v2-in-repository-kept", {"quay.io/v2/team": "a"}, "quay.io", "v2/team/app", []),
    ("trailing-slash", {"quay.io/": "a"}, "quay.io", "ns/app", ["a"]),
    ("wildcard-label", {"*.example.com": "a"}, "reg.example.com", "ns/app", ["a"]),
    ("wildcard-not-apex", {"*.example.com": "a"}, "example.com", "ns/app", []),
    ("wildcard-one-label-only", {"*.example.com": "a"}, "a.b.example.com", "ns/app", []),
    ("wildcard-middle-label", {"reg.*.example.com": "a"}, "reg.eu.example.com", "x", ["a"]),
    ("wildcard-partial-label", {"reg-*.example.com": "a"}, "reg-eu.example.com", "x", ["a"]),
    ("wildcard-partial-miss", {"reg-*.example.com": "a"}, "cache.example.com", "x", []),
    ("question-mark-glob", {"reg?.example.com": "a"}, "reg1.example.com", "x", ["a"]),
    ("wildcard-tld", {"example.*": "a"}, "example.org", "x", ["a"]),
    ("port-equal", {"registry.local:5000": "a"}, "registry.local:5000", "x", ["a"]),
    ("port-different", {"registry.local:5000": "a"}, "registry.local:5001", "x", []),
    ("key-without-port", {"registry.local": "a"}, "registry.local:5000", "x", []),
    ("key-with-default-port", {"registry.local:443": "a"}, "registry.local", "x", []),
    ("wildcard-with-port", {"*.local:5000": "a"}, "reg.local:5000", "x", ["a"]),
    ("ipv4-with-port", {"10.0.0.7:5000": "a"}, "10.0.0.7:5000", "x", ["a"]),
    ("ipv6-with-port", {"[fd00::7]:5000": "a"}, "[fd00::7]:5000", "x", ["a"]),
    ("path-prefix", {"quay.io/team": "a"}, "quay.io", "team/app", ["a"]),
    ("path-exact", {"quay.io/team/app": "a"}, "quay.io", "team/app", ["a"]),
    ("path-other", {"quay.io/team": "a"}, "quay.io", "other/app", []),
    ("path-whole-segments", {"quay.io/team": "a"}, "quay.io", "teammate/app", []),
    ("path-longer-than-repo", {"quay.io/team/app/x": "a"}, "quay.io", "team/app", []),
    (
        "most-specific-path-first",
        {"quay.io": "host", "quay.io/team": "team", "quay.io/team/app": "app"},
        "quay.io",
        "team/app",
        ["app", "team", "host"],
    ),
    (
        "exact-host-before-wildcard",
        {"*.example.com": "wild", "reg.example.com": "exact"},
        "reg.example.com",
        "x",
        ["exact", "wild"],
    ),
    (
        "longer-path-beats-exact-host",
        {"reg.example.com": "exact", "*.example.com/team": "wild"},
        "reg.example.com",
        "team/app",
        ["wild", "exact"],
    ),
    (
        "fewer-wildcards-first",
        {"*.*.example.com": "two", "*.eu.example.com": "one"},
        "reg.eu.example.com",
        "x",
        ["one", "two"],
    ),
    ("host-case-insensitive-key", {"Quay.IO": "a"}, "quay.io", "x", ["a"]),
    ("host-case-insensitive-target", {"quay.io": "a"}, "QUAY.io", "x", ["a"]),
    ("target-with-scheme", {"quay.io": "a"}, "https://quay.io", "x", ["a"]),
    (
        "same-credential-once",
        {"quay.io": "a", "https://quay.io/v1/": "a"},
        "quay.io",
        "x",
        ["a"],
    ),
    (
        "unusable-keys-skipped",
        {"": "empty", "quay.io:abc": "port", "me@quay.io": "userinfo", "quay.io": "ok"},
        "quay.io",
        "x",
        ["ok"],
    ),
    ("hub-key-path", {"docker.io/myorg": "a"}, "docker.io", "myorg/app", ["a"]),
    ("hub-key-path-other", {"docker.io/myorg": "a"}, "docker.io", "library/busybox", []),
    ("hub-with-port-is-not-hub", {"docker.io": "a"}, "docker.io:5000", "library/x", []),
    ("hub-wildcard-not-hub", {"*.docker.io": "a"}, "docker.io", "library/busybox", []),
    (
        "hub-aliases-keep-secret-order",
        {"https://index.docker.io/v1/": "legacy", "docker.io": "modern"},
        "registry-1.docker.io",
        "library/busybox",
        ["legacy", "modern"],
    ),
]


@pytest.mark.parametrize(
    ("entries", "registry", "repository", "expected"),
    [case[1:] for case in LOOKUP_CASES],
    ids=[case[0] for case in LOOKUP_CASES],
)
def test_lookup(
    entries: dict[str, str], registry: str, repository: str, expected: list[str]
) -> None:
    # Given a pull secret with these keys
    ring = keyring(entries)
    # When credentials are looked up for the repository
    found = ring.lookup(registry, repository)
    # Then the matching credentials come back, most specific first
    assert found == [cred(user) for user in expected]


HUB_KEYS = ["docker.io", "index.docker.io", "https://index.docker.io/v1/", "registry-1.docker.io"]
HUB_REGISTRIES = ["docker.io", "registry-1.docker.io", "index.docker.io"]


@pytest.mark.parametrize("registry", HUB_REGISTRIES)
@pytest.mark.parametrize("key", HUB_KEYS)
def test_docker_hub_aliases_match(key: str, registry: str) -> None:
    ring = keyring({key: "hub"})
    assert ring.lookup(registry, "library/busybox") == [cred("hub")]


def test_empty_keyring_is_anonymous() -> None:
    ring = Keyring.empty()
    assert len(ring) == 0
    assert ring.lookup("quay.io", "ns/app") == []


def test_keys_are_normalized_and_most_specific_first() -> None:
    ring = keyring(
        {
            "https://index.docker.io/v1/": "hub",
            "quay.io": "q",
            "*.example.com": "w",
            "quay.io/team/": "t",
        }
    )
    assert ring.keys == ("quay.io/team", "docker.io", "quay.io", "*.example.com")
    assert len(ring) == 4


def test_keyring_from_pairs() -> None:
    ring = Keyring([("quay.io", cred("a")), ("https://quay.io/", cred("b"))])
    assert ring.lookup("quay.io", "x") == [cred("a"), cred("b")]
    assert len(ring) == 2


# --- parsing -------------------------------------------------------------------

UNPADDED = b64("user:pw").rstrip("=")
assert len(b64("user:pw")) != len(UNPADDED)  # the case below really lacks padding
CONFIG_JSON = json.dumps({"auths": {"quay.io": {"auth": b64("user:pw")}}})

# (id, secret content, expected credentials for quay.io/ns/app)
PARSE_CASES: list[tuple[str, str | bytes, list[Credential]]] = [
    ("dockerconfigjson-auth", CONFIG_JSON, [Credential("user", "pw")]),
    (
        "username-password-fields",
        json.dumps({"auths": {"quay.io": {"username": "user", "password": "pw"}}}),
        [Credential("user", "pw")],
    ),
    (
        "auth-wins-over-fields",
        json.dumps(
            {"auths": {"quay.io": {"auth": b64("user:pw"), "username": "x", "password": "y"}}}
        ),
        [Credential("user", "pw")],
    ),
    (
        "auth-without-padding",
        json.dumps({"auths": {"quay.io": {"auth": UNPADDED}}}),
        [Credential("user", "pw")],
    ),
    (
        "password-with-colons",
        json.dumps({"auths": {"quay.io": {"auth": b64("user:p:w:")}}}),
        [Credential("user", "p:w:")],
    ),
    (
        "empty-password-kept",
        json.dumps({"auths": {"quay.io": {"username": "robot"}}}),
        [Credential("robot", "")],
    ),
    (
        "legacy-dockercfg",
        json.dumps({"https://quay.io": {"auth": b64("user:pw"), "email": "a@b.c"}}),
        [Credential("user", "pw")],
    ),
    (
        "secret-dockerconfigjson-text",
        json.dumps({".dockerconfigjson": CONFIG_JSON}),
        [Credential("user", "pw")],
    ),
    (
        "secret-dockerconfigjson-base64",
        json.dumps({".dockerconfigjson": b64(CONFIG_JSON)}),
        [Credential("user", "pw")],
    ),
    (
        "secret-dockerconfigjson-object",
        json.dumps({".dockerconfigjson": json.loads(CONFIG_JSON)}),
        [Credential("user", "pw")],
    ),
    (
        "secret-dockercfg",
        json.dumps({".dockercfg": b64(json.dumps({"quay.io": {"auth": b64("user:pw")}}))}),
        [Credential("user", "pw")],
    ),
    (
        "kubernetes-secret-data",
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": b64(CONFIG_JSON)},
            }
        ),
        [Credential("user", "pw")],
    ),
    (
        "kubernetes-secret-stringdata",
        json.dumps({"kind": "Secret", "stringData": {".dockerconfigjson": CONFIG_JSON}}),
        [Credential("user", "pw")],
    ),
    ("bytes", CONFIG_JSON.encode(), [Credential("user", "pw")]),
    ("bytes-with-bom", b"\xef\xbb\xbf" + CONFIG_JSON.encode(), [Credential("user", "pw")]),
    (
        "other-config-keys-ignored",
        json.dumps(
            {
                "auths": {"quay.io": {"auth": b64("user:pw")}},
                "credsStore": "desktop",
                "HttpHeaders": {"User-Agent": "x"},
            }
        ),
        [Credential("user", "pw")],
    ),
    (
        "identitytoken-alone",
        json.dumps({"auths": {"quay.io": {"identitytoken": "tok"}}}),
        [Credential(IDENTITY_TOKEN_USERNAME, "tok", identity_token=True)],
    ),
    (
        "identitytoken-keeps-username",
        json.dumps({"auths": {"quay.io": {"auth": b64("0000-guid:"), "identitytoken": "tok"}}}),
        [Credential("0000-guid", "tok", identity_token=True)],
    ),
    ("email-only-skipped", json.dumps({"auths": {"quay.io": {"email": "a@b.c"}}}), []),
    ("registrytoken-only-skipped", json.dumps({"auths": {"quay.io": {"registrytoken": "t"}}}), []),
    ("auths-null", json.dumps({"auths": None}), []),
    ("auths-empty", json.dumps({"auths": {}}), []),
    ("empty-object", "{}", []),
]


@pytest.mark.parametrize(
    ("content", "expected"),
    [case[1:] for case in PARSE_CASES],
    ids=[case[0] for case in PARSE_CASES],
)
def test_from_secret(content: str | bytes, expected: list[Credential]) -> None:
    ring = Keyring.from_secret(content)
    assert ring.lookup("quay.io", "ns/app") == expected
    assert len(ring) == len(expected)


def _entry(value: Any) -> str:
    return json.dumps({"auths": {"quay.io": value}})


# (id, malformed content (each holds SECRET somewhere), fragment of the reason)
MALFORMED_CASES: list[tuple[str, str | bytes, str]] = [
    ("empty", "", "is empty"),
    ("blank", " \n\t", "is empty"),
    ("not-json", f"password: {SECRET}", "not valid JSON"),
    ("truncated-json", '{"auths": {"quay.io": {"password": "' + SECRET + '"', "not valid JSON"),
    ("json-array", json.dumps([SECRET]), "expected a JSON object"),
    ("json-string", json.dumps(SECRET), "expected a JSON object"),
    ("not-utf8", b"\xff\xfe" + SECRET.encode(), "not UTF-8"),
    ("auths-not-object", json.dumps({"auths": [SECRET]}), '"auths" is not a JSON object'),
    ("entry-not-object", _entry(SECRET), "entry is not a JSON object"),
    ("legacy-entry-not-object", json.dumps({"quay.io": SECRET}), "entry is not a JSON object"),
    ("auth-not-base64", _entry({"auth": f"{SECRET}!!"}), "not base64(username:password)"),
    ("auth-without-colon", _entry({"auth": b64(SECRET)}), "not base64(username:password)"),
    ("auth-not-utf8", _entry({"auth": b64(b"\xff:" + SECRET.encode())}), "not base64"),
    ("password-not-string", _entry({"username": "u", "password": [SECRET]}), '"password"'),
    ("auth-not-string", _entry({"auth": {"v": SECRET}}), 'field "auth" is not a string'),
    (
        "embedded-garbage",
        json.dumps({".dockerconfigjson": f"{SECRET}!!"}),
        "neither JSON nor base64",
    ),
    ("embedded-base64-not-json", json.dumps({".dockerconfigjson": b64(SECRET)}), "not valid JSON"),
    ("embedded-number", json.dumps({".dockercfg": 7}), "not a JSON object or a string"),
    (
        "embedded-json-not-object",
        json.dumps({".dockerconfigjson": b64(json.dumps([SECRET]))}),
        "not a JSON object",
    ),
    (
        "userinfo-key-not-shown",
        json.dumps({"auths": {f"me:{SECRET}@quay.io": SECRET}}),
        'entry "quay.io"',
    ),
]


@pytest.mark.parametrize(
    ("content", "reason"),
    [case[1:] for case in MALFORMED_CASES],
    ids=[case[0] for case in MALFORMED_CASES],
)
def test_malformed_secret_is_refused_without_revealing_it(
    content: str | bytes, reason: str
) -> None:
    with pytest.raises(PullSecretError) as caught:
        Keyring.from_secret(content)
    error = caught.value
    assert isinstance(error, ImageStreamsError)
    assert reason in str(error)
    for text in (str(error), repr(error), error.reason, str(error.registry), repr(error.args)):
        assert SECRET not in text
    # The parser's own exception (which may quote the input) is not chained.
    assert error.__cause__ is None
    assert error.__suppress_context__ or error.__context__ is None


def test_error_names_the_entry() -> None:
    with pytest.raises(PullSecretError) as caught:
        Keyring.from_secret(_entry({"auth": "%%%"}))
    assert caught.value.registry == "quay.io"
    assert str(caught.value).startswith('invalid pull secret (entry "quay.io"): ')


# --- secrecy -------------------------------------------------------------------


@pytest.mark.parametrize(
    "credential",
    [Credential("user", SECRET), Credential(IDENTITY_TOKEN_USERNAME, SECRET, identity_token=True)],
    ids=["password", "identity-token"],
)
def test_credential_never_shows_its_secret(credential: Credential) -> None:
    assert SECRET not in repr(credential)
    assert SECRET not in str(credential)
    assert SECRET not in f"{credential}"
    assert credential.username in repr(credential)


def test_keyring_repr_shows_keys_only() -> None:
    ring = keyring({"quay.io": "a"})
    assert repr(ring) == "Keyring(keys=['quay.io'])"
    assert SECRET not in repr(ring)


def test_credential_is_immutable() -> None:
    credential = Credential("user", "pw")
    with pytest.raises(AttributeError):
        credential.password = "other"  # type: ignore[misc]

"""Pull secrets read from Secrets Manager (imagestreams.adapters.secrets), under moto."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.exceptions import ClientError
from moto import mock_aws

from imagestreams.adapters.secrets import PullSecretUnavailableError, SecretsManagerPullSecrets
from imagestreams.credentials import Credential

PREFIX = "imagestreams"
SECRET = "s3cr3t-Pa55"


def docker_config(user: str = "robot", password: str = SECRET) -> str:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return json.dumps({"auths": {"quay.io": {"auth": auth}}})


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A moto-backed Secrets Manager client, with fake credentials and region."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("secretsmanager")


@pytest.fixture
def put_secret(aws: Any) -> Callable[..., str]:
    """Create (or overwrite) a namespace's pull secret; returns its name."""

    def put(namespace: str, value: str | bytes) -> str:
        name = f"{PREFIX}/{namespace}/pull-secret"
        field = "SecretString" if isinstance(value, str) else "SecretBinary"
        try:
            aws.create_secret(Name=name, **{field: value})
        except aws.exceptions.ResourceExistsException:
            aws.put_secret_value(SecretId=name, **{field: value})
        return name

    return put


class CountingFactory:
    """A client factory that counts how many clients it built."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        return boto3.client("secretsmanager")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- naming --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("namespace", "expected"),
    [
        ("default", "imagestreams/default/pull-secret"),
        ("team-a", "imagestreams/team-a/pull-secret"),
        ("0", "imagestreams/0/pull-secret"),
        ("a" * 63, f"imagestreams/{'a' * 63}/pull-secret"),
    ],
    ids=["word", "dash", "digit", "max-length"],
)
def test_secret_name(namespace: str, expected: str) -> None:
    assert SecretsManagerPullSecrets(PREFIX).secret_name(namespace) == expected


INVALID_NAMESPACES = [
    ("empty", ""),
    ("upper-case", "Default"),
    ("dot-dot", ".."),
    ("traversal", "../other"),
    ("slash", "a/b"),
    ("dot", "a.b"),
    ("leading-dash", "-a"),
    ("trailing-dash", "a-"),
    ("too-long", "a" * 64),
    ("trailing-newline", "ns\n"),
    ("space", "ns "),
    ("percent", "ns%2fother"),
    ("wildcard", "*"),
]


@pytest.mark.parametrize(
    "namespace", [n for _, n in INVALID_NAMESPACES], ids=[i for i, _ in INVALID_NAMESPACES]
)
def test_invalid_namespace_is_refused_before_any_call(namespace: str) -> None:
    factory = CountingFactory()
    secrets = SecretsManagerPullSecrets(PREFIX, client_factory=factory)
    with pytest.raises(ValueError, match="namespace"):
        secrets.secret_name(namespace)
    with pytest.raises(ValueError, match="namespace"):
        secrets.for_namespace(namespace)
    assert factory.calls == 0


def test_prefix_trailing_slash_is_ignored() -> None:
    secrets = SecretsManagerPullSecrets("org/imagestreams/")
    assert secrets.secret_name("ns") == "org/imagestreams/ns/pull-secret"


@pytest.mark.parametrize(
    "prefix", ["", "/", "bad prefix", "a*b"], ids=["empty", "slash", "space", "star"]
)
def test_invalid_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        SecretsManagerPullSecrets(prefix)


def test_negative_max_age_is_refused() -> None:
    with pytest.raises(ValueError, match="max_age"):
        SecretsManagerPullSecrets(PREFIX, max_age=-1)


# --- reading -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        docker_config(),
        json.dumps({".dockerconfigjson": docker_config()}),
        json.dumps({".dockerconfigjson": base64.b64encode(docker_config().encode()).decode()}),
        docker_config().encode(),
    ],
    ids=["dockerconfigjson", "secret-like-text", "secret-like-base64", "secret-binary"],
)
def test_found_secret_becomes_a_keyring(put_secret: Callable[..., str], value: str | bytes) -> None:
    # Given a namespace with a pull secret
    put_secret("team-a", value)
    # When its keyring is read
    ring = SecretsManagerPullSecrets(PREFIX).for_namespace("team-a")
    # Then the credentials match their registry
    assert ring.lookup("quay.io", "team/app") == [Credential("robot", SECRET)]
    assert ring.lookup("ghcr.io", "team/app") == []


def test_missing_secret_is_anonymous(aws: Any) -> None:
    ring = SecretsManagerPullSecrets(PREFIX).for_namespace("no-secret")
    assert len(ring) == 0


def test_other_namespaces_secret_is_not_used(put_secret: Callable[..., str]) -> None:
    put_secret("team-a", docker_config())
    assert len(SecretsManagerPullSecrets(PREFIX).for_namespace("team-b")) == 0


@pytest.mark.parametrize(
    "value",
    [
        f"password={SECRET}",
        json.dumps({"auths": {"quay.io": {"auth": SECRET + "!"}}}),
        json.dumps({"auths": [SECRET]}),
    ],
    ids=["not-json", "bad-auth", "bad-auths"],
)
def test_malformed_secret_is_anonymous_and_logged_by_name_only(
    put_secret: Callable[..., str], caplog: pytest.LogCaptureFixture, value: str
) -> None:
    name = put_secret("team-a", value)
    with caplog.at_level(logging.WARNING):
        ring = SecretsManagerPullSecrets(PREFIX).for_namespace("team-a")
    assert len(ring) == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].__dict__.get("secret_name") == name
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in json.dumps(record.__dict__, default=str)
    assert SECRET not in caplog.text


# --- caching and laziness ----------------------------------------------------------


def test_secret_is_cached_for_max_age(put_secret: Callable[..., str]) -> None:
    # Given a secret read once
    put_secret("team-a", docker_config(user="old"))
    secrets = SecretsManagerPullSecrets(PREFIX, max_age=60)
    assert secrets.for_namespace("team-a").lookup("quay.io", "x")[0].username == "old"
    # When it changes within max_age
    put_secret("team-a", docker_config(user="new"))
    # Then the cached value is still used
    assert secrets.for_namespace("team-a").lookup("quay.io", "x")[0].username == "old"


def test_max_age_zero_reads_every_time(put_secret: Callable[..., str]) -> None:
    put_secret("team-a", docker_config(user="old"))
    secrets = SecretsManagerPullSecrets(PREFIX, max_age=0)
    assert secrets.for_namespace("team-a").lookup("quay.io", "x")[0].username == "old"
    put_secret("team-a", docker_config(user="new"))
    assert secrets.for_namespace("team-a").lookup("quay.io", "x")[0].username == "new"


def test_missing_secret_is_remembered_for_max_age(put_secret: Callable[..., str]) -> None:
    # Given a namespace found without a secret
    clock = FakeClock()
    secrets = SecretsManagerPullSecrets(PREFIX, max_age=60, clock=clock)
    assert len(secrets.for_namespace("team-a")) == 0
    # When the secret is created
    put_secret("team-a", docker_config())
    # Then it is picked up once max_age has passed, not before
    clock.now += 59
    assert len(secrets.for_namespace("team-a")) == 0
    clock.now += 2
    assert len(secrets.for_namespace("team-a")) == 1


def test_client_is_built_lazily_once(put_secret: Callable[..., str]) -> None:
    put_secret("team-a", docker_config())
    factory = CountingFactory()
    secrets = SecretsManagerPullSecrets(PREFIX, max_age=0, client_factory=factory)
    assert factory.calls == 0
    secrets.for_namespace("team-a")
    secrets.for_namespace("team-b")
    assert factory.calls == 1


def test_provider_can_be_passed_in(put_secret: Callable[..., str], aws: Any) -> None:
    put_secret("team-a", docker_config())
    factory = CountingFactory()
    secrets = SecretsManagerPullSecrets(
        PREFIX, provider=SecretsProvider(boto3_client=aws), client_factory=factory
    )
    assert len(secrets.for_namespace("team-a")) == 1
    assert factory.calls == 0


# --- failures --------------------------------------------------------------------


class DenyingClient:
    """A Secrets Manager client whose every read is refused."""

    def get_secret_value(self, **_: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "denied"}}, "GetSecretValue"
        )


def test_unreadable_secret_is_an_error_not_anonymous() -> None:
    secrets = SecretsManagerPullSecrets(PREFIX, client_factory=DenyingClient)
    with pytest.raises(PullSecretUnavailableError) as caught:
        secrets.for_namespace("team-a")
    assert caught.value.secret_name == "imagestreams/team-a/pull-secret"
    assert caught.value.error_code == "AccessDeniedException"
    assert "AccessDeniedException" in str(caught.value)

"""ECR registries, the account rule, and the role's tokens (moto's ECR, botocore's Stubber).

Token reuse is counted with an injected clock: moto dates every token
2015-01-01, so the clock is set before that.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from imagestreams.adapters.ecr_tokens import RENEW_BEFORE_SECONDS, EcrAuthorizationTokens
from imagestreams.credentials import Credential
from imagestreams.ecr import AccountPolicy, EcrRegistry, RoleCredentials, parse_registry
from imagestreams.errors import (
    CredentialsError,
    ForbiddenRegistryError,
    TooManyRequestsError,
    UnavailableError,
)
from imagestreams.imports.statuses import failure_status

ACCOUNT = "123456789012"
# moto's tokens expire at this moment.
MOTO_EXPIRY = datetime(2015, 1, 1, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com", EcrRegistry(ACCOUNT, "us-east-1")),
        (f"{ACCOUNT}.DKR.ECR.EU-WEST-3.AMAZONAWS.COM", EcrRegistry(ACCOUNT, "eu-west-3")),
        (
            f"{ACCOUNT}.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
            EcrRegistry(ACCOUNT, "us-gov-west-1", fips=True),
        ),
        (f"{ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn", EcrRegistry(ACCOUNT, "cn-north-1")),
        (f"{ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com", None),
        (f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com.cn", None),
        ("public.ecr.aws", None),
        ("12345.dkr.ecr.us-east-1.amazonaws.com", None),
        (f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com.evil.example", None),
        (f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com:443", None),
        ("quay.io", None),
    ],
    ids=[
        "standard",
        "any-case",
        "fips",
        "china",
        "china-region-wrong-suffix",
        "china-suffix-wrong-region",
        "ecr-public",
        "short-account",
        "suffix-trick",
        "with-port",
        "other-registry",
    ],
)
def test_private_ecr_hosts(host: str, expected: EcrRegistry | None) -> None:
    assert parse_registry(host) == expected
    if expected is not None:
        assert expected.host == host.lower()


@pytest.mark.parametrize(
    ("setting", "account", "allowed"),
    [
        ("", ACCOUNT, False),
        (ACCOUNT, ACCOUNT, True),
        (f"111111111111, {ACCOUNT}", ACCOUNT, True),
        ("111111111111", ACCOUNT, False),
        ("*", "999999999999", True),
    ],
    ids=["none", "own", "listed", "not-listed", "every"],
)
def test_account_policy(setting: str, account: str, allowed: bool) -> None:
    assert AccountPolicy.parse(setting).allows(account) is allowed


class Tokens:
    """Tokens handed out by registry, as the role's source would."""

    def __init__(self) -> None:
        self.asked: list[EcrRegistry] = []

    def credential(self, registry: EcrRegistry) -> Credential:
        self.asked.append(registry)
        return Credential("AWS", f"pw-{registry.account}")


def test_role_credentials_only_for_allowed_ecr_accounts() -> None:
    tokens = Tokens()
    role = RoleCredentials(tokens, AccountPolicy.parse(ACCOUNT))

    assert role.credential("quay.io") is None
    assert role.credential(f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com") == Credential(
        "AWS", f"pw-{ACCOUNT}"
    )
    with pytest.raises(ForbiddenRegistryError) as refused:
        role.credential("999999999999.dkr.ecr.us-east-1.amazonaws.com")
    assert "AWS account 999999999999 is not one" in str(refused.value)
    assert tokens.asked == [EcrRegistry(ACCOUNT, "us-east-1")]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ecr() -> Iterator[None]:
    with mock_aws():
        yield


def moto_client(region: str, fips: bool) -> Any:
    return boto3.client("ecr", region_name=region)


def test_a_token_is_the_basic_credential_ecr_gives_and_is_reused(ecr: None) -> None:
    # Given a clock long before moto's tokens expire
    clock = Clock(MOTO_EXPIRY - 6 * 3600)
    tokens = EcrAuthorizationTokens(client_factory=moto_client, clock=clock)
    here = EcrRegistry(ACCOUNT, "us-east-1")
    there = EcrRegistry("210987654321", "eu-west-1")

    # When 50 imports ask for each of two registries
    credentials = [tokens.credential(r) for _ in range(50) for r in (here, there)]

    # Then each registry cost one request, and its password is the one ECR encoded
    assert tokens.requests == 2
    assert credentials[0] == Credential("AWS", f"{ACCOUNT}-auth-token")
    assert credentials[1] == Credential("AWS", "210987654321-auth-token")


def test_a_token_near_its_expiry_is_renewed(ecr: None) -> None:
    clock = Clock(MOTO_EXPIRY - 3600)
    tokens = EcrAuthorizationTokens(client_factory=moto_client, clock=clock)
    registry = EcrRegistry(ACCOUNT, "us-east-1")
    tokens.credential(registry)

    clock.now = MOTO_EXPIRY - RENEW_BEFORE_SECONDS - 1
    tokens.credential(registry)
    before_renewal = tokens.requests
    clock.now = MOTO_EXPIRY - RENEW_BEFORE_SECONDS + 1
    tokens.credential(registry)

    assert before_renewal == 1
    assert tokens.requests == 2


@pytest.mark.parametrize(
    ("code", "status", "error", "reason"),
    [
        ("AccessDeniedException", 400, CredentialsError, "Unauthorized"),
        ("ThrottlingException", 400, TooManyRequestsError, "TooManyRequests"),
        ("ServerException", 500, UnavailableError, "InternalError"),
    ],
    ids=["access-denied", "throttled", "server-error"],
)
def test_a_refused_token_request_is_a_per_image_status_with_the_aws_code(
    code: str, status: int, error: type[Exception], reason: str
) -> None:
    client = boto3.client(
        "ecr", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stubber = Stubber(client)
    stubber.add_client_error(
        "get_authorization_token", service_error_code=code, http_status_code=status
    )
    tokens = EcrAuthorizationTokens(client_factory=lambda region, fips: client)
    ref = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/team/app:v1"

    with stubber, pytest.raises(error) as raised:
        tokens.credential(EcrRegistry(ACCOUNT, "us-east-1"))

    assert code in str(raised.value)
    shown = failure_status(ref, raised.value)  # type: ignore[arg-type]
    assert shown.reason == reason
    assert code in (shown.message or "")


def test_a_token_that_is_no_basic_credential_is_refused() -> None:
    client = boto3.client(
        "ecr", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stubber = Stubber(client)
    garbage = base64.b64encode(b"no-colon").decode()
    stubber.add_response(
        "get_authorization_token",
        {"authorizationData": [{"authorizationToken": garbage, "expiresAt": datetime.now(UTC)}]},
    )
    tokens = EcrAuthorizationTokens(client_factory=lambda region, fips: client)

    with stubber, pytest.raises(CredentialsError) as raised:
        tokens.credential(EcrRegistry(ACCOUNT, "us-east-1"))

    assert "answered no usable token" in str(raised.value)

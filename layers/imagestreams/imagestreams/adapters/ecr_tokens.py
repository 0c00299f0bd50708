"""ECR registry credentials from the function's IAM role (``ecr:GetAuthorizationToken``).

This adapter owns asking ECR for a registry password and keeping it: one
``GetAuthorizationToken`` per registry (its account, in its region, FIPS
endpoint included) whose answer, Basic credentials ``AWS:<password>``, is
reused by every import of every warm invocation until ``renew_before``
seconds before it expires (ECR's passwords last 12 hours). Concurrent
imports of one registry wait for one request. A failed request is the
per-image error OpenShift's statuses know, with the AWS error code in its
message: ``Unauthorized`` (access denied, no such registry), ``TooManyRequests``
(throttled), ``Unavailable`` (the endpoint could not be reached); never a 500.

Logs name the registry and the expiry, never the token. No client is built
before the first request, one per region and endpoint kind.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from imagestreams.adapters import aws
from imagestreams.credentials import Credential
from imagestreams.ecr import EcrRegistry
from imagestreams.errors import (
    CredentialsError,
    RegistryError,
    TooManyRequestsError,
    UnavailableError,
)
from imagestreams.observability import tracer

__all__ = ["EcrAuthorizationTokens", "ecr_client"]

logger = Logger(child=True)

# Renew this long before a password expires, so no import starts with one about to.
RENEW_BEFORE_SECONDS = 15 * 60
_THROTTLED = frozenset(
    {"ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "Throttling"}
)

ClientFactory = Callable[[str, bool], Any]


def ecr_client(region: str, fips: bool) -> Any:
    """An ECR client of ``region`` (its FIPS endpoint when ``fips``), short timeouts."""
    config = Config(
        connect_timeout=2,
        read_timeout=5,
        retries={"max_attempts": 3, "mode": "standard"},
        use_fips_endpoint=fips,
    )
    return aws.client("ecr", region_name=region, config=config)


@dataclass(frozen=True)
class _Token:
    credential: Credential
    renew_at: float


@tracer.trace_methods("ecr-tokens")
class EcrAuthorizationTokens:
    """Registry credentials of the role, one token request per registry and lifetime.

    ``client_factory(region, fips)`` builds a client; ``clock`` is wall-clock
    seconds (tokens expire at a wall-clock time). ``requests`` counts the
    token requests made, for the figures of token reuse.
    """

    def __init__(
        self,
        *,
        client_factory: ClientFactory = ecr_client,
        clock: Callable[[], float] = time.time,
        renew_before: float = RENEW_BEFORE_SECONDS,
    ) -> None:
        self._client_factory = client_factory
        self._clock = clock
        self._renew_before = renew_before
        self._clients: dict[tuple[str, bool], Any] = {}
        self._tokens: dict[EcrRegistry, _Token] = {}
        self._locks: dict[EcrRegistry, threading.Lock] = {}
        self._lock = threading.Lock()
        self.requests = 0

    def credential(self, registry: EcrRegistry) -> Credential:
        """The role's Basic credential for ``registry``, from the cache while it lasts."""
        token = self._tokens.get(registry)
        if token is not None and self._clock() < token.renew_at:
            return token.credential
        with self._lock_for(registry):
            token = self._tokens.get(registry)
            if token is not None and self._clock() < token.renew_at:
                return token.credential
            token = self._request(registry)
            self._tokens[registry] = token
            return token.credential

    def _lock_for(self, registry: EcrRegistry) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(registry, threading.Lock())

    def _client(self, registry: EcrRegistry) -> Any:
        key = (registry.region, registry.fips)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._client_factory(registry.region, registry.fips)
            return self._clients[key]

    def _request(self, registry: EcrRegistry) -> _Token:
        self.requests += 1
        try:
            answer = self._client(registry).get_authorization_token(registryIds=[registry.account])
        except ClientError as error:
            raise _token_error(registry, error) from None
        except BotoCoreError as error:
            raise UnavailableError(
                detail=f"{_asked(registry)} failed: {type(error).__name__}"
            ) from None
        data = (answer.get("authorizationData") or [{}])[0]
        credential = _basic(data.get("authorizationToken"), registry)
        expires = data.get("expiresAt")
        expires_at = expires.timestamp() if isinstance(expires, datetime) else self._clock()
        logger.info(
            "registry token obtained",
            registry=registry.host,
            expires_at=datetime.fromtimestamp(expires_at).isoformat() if expires else None,
        )
        # A token already at its end is used once and asked for again next time.
        return _Token(credential, expires_at - self._renew_before)


def _asked(registry: EcrRegistry) -> str:
    return f"ecr:GetAuthorizationToken for account {registry.account} in {registry.region}"


def _token_error(registry: EcrRegistry, error: ClientError) -> RegistryError:
    """The per-image error of a refused or failed token request."""
    code = str(error.response.get("Error", {}).get("Code") or "Unknown")
    detail = f"{_asked(registry)} failed: {code}"
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in _THROTTLED or status == 429:
        return TooManyRequestsError(detail=detail, registry_code=code)
    if isinstance(status, int) and status >= 500:
        return UnavailableError(detail=detail, registry_code=code)
    return CredentialsError(detail=detail, registry_code=code)


def _basic(token: object, registry: EcrRegistry) -> Credential:
    """The ``user:password`` a token encodes in base64."""
    try:
        text = base64.b64decode(str(token), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    username, sep, password = text.partition(":")
    if not sep or not username or not password:
        raise CredentialsError(detail=f"{_asked(registry)} answered no usable token")
    return Credential(username, password)

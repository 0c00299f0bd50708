"""Namespaces' pull secrets, read from AWS Secrets Manager.

This adapter owns where a namespace's pull secret lives (a name derived only
from the validated namespace: ``<prefix>/<namespace>/pull-secret``) and how
it is read: through Powertools Parameters, whose cache keeps a secret for
``max_age`` seconds across warm invocations; a missing secret is remembered
just as long. It turns what it reads into a :class:`~imagestreams.credentials.Keyring`
and leaves the meaning of the content to ``imagestreams.credentials``.

It must not log, raise or otherwise reveal secret content: logs and errors
name the secret, never its value. Nothing happens at import time and no
client is created before the first read.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.config import Config
from botocore.exceptions import ClientError

from imagestreams.adapters import aws
from imagestreams.credentials import Keyring, PullSecretError
from imagestreams.errors import ImageStreamsError
from imagestreams.observability import tracer

__all__ = ["PullSecretUnavailableError", "SecretsManagerPullSecrets"]

logger = Logger(child=True)

# A Kubernetes namespace name (DNS-1123 label): nothing else may shape the
# secret's name, so no "/", "..", or other path tricks reach Secrets Manager.
_NAMESPACE = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
# The characters Secrets Manager allows in a secret name.
_PREFIX = re.compile(r"[A-Za-z0-9/_+=.@-]+")
_NOT_FOUND = "ResourceNotFoundException"


class PullSecretUnavailableError(ImageStreamsError):
    """Secrets Manager failed to return a pull secret that may exist.

    Access denied, a KMS key that cannot decrypt, throttling or an outage
    after the client's retries; a missing secret is not an error.
    ``error_code`` is the AWS error code when there was one.
    """

    def __init__(self, secret_name: str, error_code: str | None) -> None:
        self.secret_name = secret_name
        self.error_code = error_code
        cause = error_code or "request failed"
        super().__init__(f'pull secret "{secret_name}" could not be read: {cause}')


def secrets_client(read_timeout: float = 5, attempts: int = 3) -> Any:
    """A Secrets Manager client with short timeouts and standard retries."""
    config = Config(
        connect_timeout=2,
        read_timeout=read_timeout,
        retries={"max_attempts": attempts, "mode": "standard"},
    )
    return aws.client("secretsmanager", config=config)


@tracer.trace_methods("pull-secrets")
class SecretsManagerPullSecrets:
    """Per-namespace pull secrets stored in Secrets Manager.

    ``provider`` (a Powertools ``SecretsProvider``) or ``client_factory``
    (called once, on first use) replace the default client; ``clock``
    (seconds, monotonic) dates the memory of missing secrets.
    """

    def __init__(
        self,
        prefix: str,
        *,
        max_age: int = 60,
        provider: SecretsProvider | None = None,
        client_factory: Callable[[], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        prefix = prefix.rstrip("/")
        if not _PREFIX.fullmatch(prefix):
            raise ValueError(f"invalid pull secret prefix: {prefix!r}")
        if max_age < 0:
            raise ValueError("max_age must not be negative")
        self._prefix = prefix
        self._max_age = max_age
        self._provider = provider
        self._client_factory = client_factory or secrets_client
        self._clock = clock
        self._missing: dict[str, float] = {}  # secret name -> when to ask again
        self._lock = threading.Lock()

    def secret_name(self, namespace: str) -> str:
        """The secret holding ``namespace``'s pull secret.

        Raises ``ValueError`` unless ``namespace`` is a DNS-1123 label.
        """
        if not _NAMESPACE.fullmatch(namespace):
            raise ValueError(f"not a valid namespace name: {namespace[:80]!r}")
        return f"{self._prefix}/{namespace}/pull-secret"

    def for_namespace(self, namespace: str) -> Keyring:
        """The keyring of ``namespace``; empty when it has no usable secret.

        Raises ``ValueError`` for an invalid namespace and
        :class:`PullSecretUnavailableError` when Secrets Manager fails.
        """
        name = self.secret_name(namespace)
        if self._known_missing(name):
            return Keyring.empty()
        try:
            value = self._get_provider().get(name, max_age=self._max_age)
        except Exception as exc:
            code = aws_error_code(exc)
            if code == _NOT_FOUND:
                self._remember_missing(name)
                return Keyring.empty()
            raise PullSecretUnavailableError(name, code) from exc
        if not isinstance(value, str | bytes):
            logger.warning("pull secret ignored", secret_name=name, reason="unexpected value type")
            return Keyring.empty()
        try:
            return Keyring.from_secret(value)
        except PullSecretError as exc:
            # exc.reason is a fixed description, free of secret content.
            logger.warning("pull secret ignored", secret_name=name, reason=exc.reason)
            return Keyring.empty()

    def _get_provider(self) -> SecretsProvider:
        with self._lock:
            if self._provider is None:
                self._provider = SecretsProvider(boto3_client=self._client_factory())
            return self._provider

    def _known_missing(self, name: str) -> bool:
        until = self._missing.get(name)
        if until is None:
            return False
        if self._clock() < until:
            return True
        self._missing.pop(name, None)
        return False

    def _remember_missing(self, name: str) -> None:
        if self._max_age > 0:
            self._missing[name] = self._clock() + self._max_age


def aws_error_code(exc: BaseException) -> str | None:
    """The AWS error code behind ``exc``, following its cause and context.

    Powertools wraps the botocore error in its own ``GetParameterError``
    (implicitly chained), so the code is looked up structurally rather than
    read from a message.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ClientError):
            code = current.response.get("Error", {}).get("Code")
            return code if isinstance(code, str) else None
        current = current.__cause__ or current.__context__
    return None


@tracer.trace_methods("secret")
class SecretValue:
    """One Secrets Manager secret read as text through Powertools Parameters.

    ``get`` answers None when the secret does not exist and raises
    :class:`PullSecretUnavailableError`'s sibling error for other failures;
    the value is cached for ``max_age`` seconds and never logged.
    """

    def __init__(
        self,
        name: str,
        *,
        max_age: int = 60,
        client_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.name = name
        self._max_age = max_age
        self._client_factory = client_factory or secrets_client
        self._provider: SecretsProvider | None = None
        self._lock = threading.Lock()

    def get(self) -> str | None:
        if not self.name:
            return None
        with self._lock:
            if self._provider is None:
                self._provider = SecretsProvider(boto3_client=self._client_factory())
            provider = self._provider
        try:
            value = provider.get(self.name, max_age=self._max_age)
        except Exception as exc:
            if aws_error_code(exc) == _NOT_FOUND:
                return None
            raise PullSecretUnavailableError(self.name, aws_error_code(exc)) from exc
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
        return value if isinstance(value, str) else None

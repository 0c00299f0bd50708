"""The API token document, read from AWS Secrets Manager.

This adapter owns reading the one secret that holds the token hashes and
their grants (by default ``<pull secret prefix>/api-tokens``): through
Powertools Parameters, whose cache keeps the value for ``max_age`` seconds
across warm invocations, so a new or revoked token takes effect within that
time. The document's meaning belongs to :mod:`imagestreams.auth.tokens`.

It must not log, raise or otherwise reveal the document: log lines name the
secret and, for a skipped entry, its index and a fixed reason; never a hash,
a token or a subject that did not match. Nothing happens at import time and
no client is created before the first read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parameters import SecretsProvider

from imagestreams.adapters.secrets import aws_error_code, secrets_client
from imagestreams.auth.tokens import (
    TokenDocumentError,
    TokenGrant,
    TokenTable,
    parse_token_document,
)
from imagestreams.errors import ImageStreamsError
from imagestreams.observability import tracer

__all__ = ["SecretsManagerTokens", "TokenStoreUnavailableError"]

logger = Logger(child=True)

_NOT_FOUND = "ResourceNotFoundException"


class TokenStoreUnavailableError(ImageStreamsError):
    """The token document could not be read or is not a token document.

    ``error_code`` is the AWS error code when there was one; ``reason`` a
    fixed description otherwise. Neither carries the secret's content.
    """

    def __init__(
        self, secret_name: str, *, error_code: str | None = None, reason: str = ""
    ) -> None:
        self.secret_name = secret_name
        self.error_code = error_code
        self.reason = reason or error_code or "request failed"
        super().__init__(f'token secret "{secret_name}" unusable: {self.reason}')


def _default_client() -> Any:
    """A Secrets Manager client whose timeouts fit inside an authorizer's few seconds."""
    return secrets_client(read_timeout=3, attempts=2)


@tracer.trace_methods("api-tokens")
class SecretsManagerTokens:
    """Looks tokens up in the token document stored in Secrets Manager.

    ``provider`` (a Powertools ``SecretsProvider``) or ``client_factory``
    (called once, on first use) replace the default client.
    """

    def __init__(
        self,
        secret_name: str,
        *,
        max_age: int = 60,
        provider: SecretsProvider | None = None,
        client_factory: Callable[[], Any] | None = None,
    ) -> None:
        if not secret_name:
            raise ValueError("the token secret needs a name")
        if max_age < 0:
            raise ValueError("max_age must not be negative")
        self.secret_name = secret_name
        self._max_age = max_age
        self._provider = provider
        self._client_factory = client_factory or _default_client
        self._lock = threading.Lock()
        # The last document read and what it parsed to: parsed once per change.
        self._parsed: tuple[str | bytes, TokenTable] | None = None

    def grant_for(self, token: str) -> TokenGrant | None:
        """The grant of ``token``, or None when no entry has its hash.

        A missing secret grants nothing. Raises
        :class:`TokenStoreUnavailableError` when Secrets Manager fails or the
        secret is not a token document, so a broken store is an error (500),
        not a wave of 401s.
        """
        return self.table().find(token)

    def table(self) -> TokenTable:
        """Every usable grant of the current document."""
        try:
            value = self._get_provider().get(self.secret_name, max_age=self._max_age)
        except Exception as exc:
            code = aws_error_code(exc)
            if code == _NOT_FOUND:
                logger.warning("token secret missing", secret_name=self.secret_name)
                return TokenTable()
            raise TokenStoreUnavailableError(self.secret_name, error_code=code) from exc
        if not isinstance(value, str | bytes):
            raise TokenStoreUnavailableError(self.secret_name, reason="unexpected value type")
        parsed = self._parsed
        if parsed is not None and parsed[0] == value:
            return parsed[1]
        try:
            table = parse_token_document(value)
        except TokenDocumentError as exc:
            raise TokenStoreUnavailableError(self.secret_name, reason=exc.reason) from exc
        for entry in table.skipped:
            logger.warning(
                "token entry skipped",
                secret_name=self.secret_name,
                entry=entry.index,
                reason=entry.reason,
            )
        self._parsed = (value, table)
        return table

    def _get_provider(self) -> SecretsProvider:
        with self._lock:
            if self._provider is None:
                self._provider = SecretsProvider(boto3_client=self._client_factory())
            return self._provider

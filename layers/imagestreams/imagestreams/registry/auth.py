"""Registry authentication: challenges, Basic headers and the token cache.

Pure apart from the clock: parsing ``WWW-Authenticate``, building the token
request's query, reading the token response, and caching bearer tokens per
(realm, service, scope, identity) until they expire. The HTTP exchange itself
is the transport's.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from imagestreams import jsondoc
from imagestreams.credentials import Credential
from imagestreams.errors import ProtocolError

MIN_TOKEN_LIFETIME = 60.0

_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


@dataclass(frozen=True)
class Challenge:
    """One parsed ``WWW-Authenticate`` challenge."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def service(self) -> str | None:
        return self.params.get("service")


def parse_challenges(header: str | None) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value into challenges (Bearer first)."""
    if not header:
        return []
    challenges: list[Challenge] = []
    rest = header.strip()
    while rest:
        match = re.match(r"([A-Za-z][A-Za-z0-9_-]*)\s*", rest)
        if not match:
            break
        scheme = match.group(1).lower()
        rest = rest[match.end() :]
        params: dict[str, str] = {}
        while True:
            param = _PARAM.match(rest)
            if not param or (param.group(2) is None and not param.group(3)):
                break
            value = param.group(2) if param.group(2) is not None else param.group(3)
            params[param.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
            rest = rest[param.end() :]
        challenges.append(Challenge(scheme, params))
        rest = rest.lstrip(", ")
    challenges.sort(key=lambda c: c.scheme != "bearer")
    return challenges


def basic_header(credential: Credential) -> str:
    """The ``Authorization`` value for Basic auth."""
    raw = f"{credential.username}:{credential.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def pull_scope(repository: str) -> str:
    """The token scope for pulling ``repository``."""
    return f"repository:{repository}:pull"


@dataclass(frozen=True)
class Token:
    """A bearer token and when it stops being usable."""

    value: str
    expires_at: float


def parse_token_response(body: bytes, now: float) -> Token:
    """Read ``token`` or ``access_token`` and ``expires_in`` from a token response."""
    try:
        document = jsondoc.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(detail="token endpoint returned a body that is not JSON") from None
    if not isinstance(document, dict):
        raise ProtocolError(detail="token endpoint returned an unexpected document")
    value = document.get("token") or document.get("access_token")
    if not isinstance(value, str) or not value:
        raise ProtocolError(detail="token endpoint returned no token")
    expires_in = document.get("expires_in")
    lifetime = float(expires_in) if isinstance(expires_in, int | float) else MIN_TOKEN_LIFETIME
    return Token(value, now + max(lifetime, MIN_TOKEN_LIFETIME))


def identity_of(credential: Credential | None) -> str:
    """A cache key part naming a credential without revealing it."""
    if credential is None:
        return "anonymous"
    digest = hashlib.sha256(f"{credential.username}\0{credential.password}".encode()).hexdigest()
    return digest[:32]


class TokenCache:
    """Bearer tokens shared by every request of the process, thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[tuple[str, str, str, str], Token] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str, str]) -> str | None:
        with self._lock:
            token = self._tokens.get(key)
            if token is None:
                return None
            if token.expires_at <= self._clock():
                del self._tokens[key]
                return None
            return token.value

    def put(self, key: tuple[str, str, str, str], token: Token) -> None:
        with self._lock:
            self._tokens[key] = token

    def now(self) -> float:
        return self._clock()

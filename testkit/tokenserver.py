"""A small token service for registries configured with ``auth.token``.

It plays the role of a registry's authorization service (the spec's "Docker
Registry v2 authentication via central service"): ``GET /token?service=..&scope=..``
with optional Basic credentials answers an RS256 JWT whose ``x5c`` header carries
a self-signed certificate that the registry trusts through ``rootcertbundle``.
``POST /token`` with an OAuth2 password grant is answered the same way.

Policy: a known user gets, for each requested repository scope, the requested
actions it is allowed (``pull`` for readers, ``pull``/``push`` for pushers, plus
``registry:catalog:*`` for pushers). Anonymous requests get a token too (as Docker
Hub's service does), with pull access only on ``public_repositories`` and none
elsewhere, so an anonymous pull of a private repository fails at the registry with
401 ``insufficient_scope``. Wrong credentials get 401 from the token service.
Every request is recorded so tests can count token fetches.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

TOKEN_LIFETIME = 300


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class Grant:
    """What a user may do on repositories."""

    password: str
    actions: frozenset[str]
    catalog: bool = False


@dataclass(frozen=True)
class TokenRequest:
    """One request the token service received."""

    method: str
    path: str
    service: str | None
    scopes: tuple[str, ...]
    user: str | None
    status: int
    granted: tuple[dict[str, Any], ...]
    at: float


@dataclass
class SigningKey:
    """An RSA key and the self-signed certificate the registry trusts."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @classmethod
    def generate(cls, common_name: str = "test token issuer") -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate)

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def sign_jwt(self, claims: dict[str, Any]) -> str:
        """Encode ``claims`` as an RS256 JWT with the certificate in ``x5c``."""
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64url(signature)


def parse_scope(scope: str) -> tuple[str, str, list[str]] | None:
    """Split a ``type:name:action,action`` scope; ``None`` if it is malformed."""
    resource_type, _, rest = scope.partition(":")
    name, sep, actions = rest.rpartition(":")
    if not resource_type or not sep or not name:
        return None
    resource_type = resource_type.split("(", 1)[0]  # drop a "(plugin)" class
    return resource_type, name, [a for a in actions.split(",") if a]


@dataclass
class TokenServer:
    """The token service: a ThreadingHTTPServer on a free loopback port in a thread."""

    issuer: str = "test-token-issuer"
    users: dict[str, Grant] = field(default_factory=dict)
    public_repositories: set[str] = field(default_factory=set)
    bind_host: str = "127.0.0.1"
    lifetime: int = TOKEN_LIFETIME
    signing_key: SigningKey = field(default_factory=SigningKey.generate)
    requests: list[TokenRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> TokenServer:
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer((self.bind_host, 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="token-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def port(self) -> int:
        assert self._server is not None, "token server not started"
        return int(self._server.server_address[1])

    @property
    def realm(self) -> str:
        return f"http://{self.bind_host}:{self.port}/token"

    def write_cert_bundle(self, path: Path) -> Path:
        path.write_bytes(self.signing_key.certificate_pem())
        return path

    # -- counting

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def token_requests(self, *, user: str | None = None) -> list[TokenRequest]:
        """Recorded requests, optionally only those made as ``user``."""
        with self._lock:
            return [r for r in self.requests if user is None or r.user == user]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    def _record(self, entry: TokenRequest) -> None:
        with self._lock:
            self.requests.append(entry)

    # -- policy

    def authenticate(self, user: str | None, password: str | None) -> bool:
        if user is None:
            return True
        grant = self.users.get(user)
        return grant is not None and secrets.compare_digest(grant.password, password or "")

    def grant(self, user: str | None, scopes: list[str]) -> list[dict[str, Any]]:
        access: list[dict[str, Any]] = []
        grant = self.users.get(user) if user else None
        for scope in scopes:
            parsed = parse_scope(scope)
            if parsed is None:
                continue
            resource_type, name, requested = parsed
            if resource_type == "repository":
                if grant is not None:
                    allowed = grant.actions
                elif name in self.public_repositories:
                    allowed = frozenset({"pull"})
                else:
                    allowed = frozenset()
            elif resource_type == "registry" and name == "catalog":
                allowed = frozenset({"*"}) if grant and grant.catalog else frozenset()
            else:
                allowed = frozenset()
            actions = [a for a in requested if a in allowed]
            access.append({"type": resource_type, "name": name, "actions": actions})
        return access

    def issue(
        self, user: str | None, service: str | None, scopes: list[str]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Return the token response body and the access it grants."""
        now = int(time.time())
        access = self.grant(user, scopes)
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": service or "",
            "exp": now + self.lifetime,
            "nbf": now - 5,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        token = self.signing_key.sign_jwt(claims)
        payload = {
            "token": token,
            "access_token": token,
            "expires_in": self.lifetime,
            "issued_at": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return payload, access


def _make_handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "test-token-server/1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, status: int, payload: dict[str, Any], extra: dict[str, str]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _basic_user(self) -> tuple[str | None, str | None, bool]:
            header = self.headers.get("Authorization")
            if not header:
                return None, None, True
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "basic":
                return None, None, False
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None, None, False
            return user, password, True

        def _handle(self, params: dict[str, list[str]], user: str | None, pw: str | None) -> None:
            path = urlsplit(self.path).path
            services = params.get("service") or []
            service = services[0] if services else None
            scopes = [s for value in params.get("scope", []) for s in value.split(" ") if s]
            granted: list[dict[str, Any]] = []
            headers: dict[str, str] = {}
            if path != "/token":
                status = HTTPStatus.NOT_FOUND
                payload: dict[str, Any] = {"errors": [{"code": "NOT_FOUND"}]}
            elif not server.authenticate(user, pw):
                status = HTTPStatus.UNAUTHORIZED
                payload = {"errors": [{"code": "UNAUTHORIZED", "message": "invalid credentials"}]}
                headers["WWW-Authenticate"] = 'Basic realm="test-token-server"'
            else:
                status = HTTPStatus.OK
                payload, granted = server.issue(user, service, scopes)
                headers["Cache-Control"] = "no-store"
            # Recorded before answering, so a client that has its answer sees the count.
            server._record(
                TokenRequest(
                    method=self.command,
                    path=path,
                    service=service,
                    scopes=tuple(scopes),
                    user=user,
                    status=int(status),
                    granted=tuple(granted),
                    at=time.time(),
                )
            )
            self._reply(status, payload, headers)

        def do_GET(self) -> None:
            user, password, well_formed = self._basic_user()
            if not well_formed:
                user, password = "", "\0invalid"
            self._handle(parse_qs(urlsplit(self.path).query), user, password)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode()) if length else {}
            user: str | None = None
            password: str | None = None
            if (form.get("grant_type") or [""])[0] == "password":
                user = (form.get("username") or [""])[0]
                password = (form.get("password") or [""])[0]
            self._handle(form, user, password)

    return Handler

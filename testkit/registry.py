"""Real Docker distribution registries on loopback for the tests and the benchmark.

This module owns the registry processes the test suite and ``bench`` talk to: each
``start_*`` function writes a config file into a work directory, runs
``docker-registry serve`` on a free 127.0.0.1 port, waits until ``/v2/``
answers and returns a :class:`Registry` whose ``stop()`` kills it. The
registry's application log goes to ``registry.log`` and its access log (one
Combined Log Format line per request) to ``access.log`` in the work directory;
:meth:`Registry.access_log` parses the latter so tests can count requests.

Configurations: anonymous, htpasswd (bcrypt), token auth (with
:mod:`testkit.tokenserver`), redirect (blob GETs answered with a 307 to a
static file server on 127.0.0.2 that records request headers; combined with
htpasswd) and schema 1 enabled. :func:`stopped_registry_host` gives an address
where nothing listens.
"""

from __future__ import annotations

import atexit
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import bcrypt
import urllib3
import yaml

from testkit.tokenserver import Grant, TokenServer

REGISTRY_BINARY = "docker-registry"
STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
CDN_HOST = "127.0.0.2"
TOKEN_SERVICE = "test-registry"
TOKEN_ISSUER = "test-token-issuer"

AuthKind = Literal["none", "basic", "bearer"]


def registry_binary() -> str | None:
    """The path of ``docker-registry`` (``$DOCKER_REGISTRY_BIN`` overrides), or ``None``."""
    return shutil.which(os.environ.get("DOCKER_REGISTRY_BIN", REGISTRY_BINARY))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- access log

_COMBINED = re.compile(
    r"^(?P<remote>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "
    r'"(?P<method>\S+) (?P<target>\S+) (?P<protocol>[^"]*)" (?P<status>\d{3}) (?P<size>\S+) '
    r'"(?P<referer>[^"]*)" "(?P<agent>[^"]*)"'
)


@dataclass(frozen=True)
class AccessLogEntry:
    """One request from the registry's access log."""

    remote: str
    method: str
    target: str
    status: int
    size: int
    user_agent: str

    @property
    def path(self) -> str:
        return urlsplit(self.target).path


def parse_access_log(text: str) -> list[AccessLogEntry]:
    """Parse Combined Log Format lines, skipping anything else."""
    entries = []
    for line in text.splitlines():
        match = _COMBINED.match(line)
        if match:
            size = match["size"]
            entries.append(
                AccessLogEntry(
                    remote=match["remote"],
                    method=match["method"],
                    target=match["target"],
                    status=int(match["status"]),
                    size=int(size) if size.isdigit() else 0,
                    user_agent=match["agent"],
                )
            )
    return entries


# --------------------------------------------------------------------------- static "CDN"


@dataclass(frozen=True)
class CdnRequest:
    """One request the static file server received, with all its headers."""

    method: str
    path: str
    headers: dict[str, str]
    status: int

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


class CdnServer:
    """A static file server for a registry's storage root that records each request.

    It stands for the storage backend or CDN a registry redirects blob downloads
    to. It listens on :data:`CDN_HOST` (not 127.0.0.1), so redirected requests go to
    a different host than the registry.
    """

    def __init__(self, root: Path, host: str = CDN_HOST) -> None:
        self.root = root.resolve()
        self.requests: list[CdnRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="cdn-server",
            daemon=True,
        )
        self._thread.start()

    @property
    def host(self) -> str:
        address, port = self._server.server_address[:2]
        return f"{address!s}:{port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}/"

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def recorded(self) -> list[CdnRequest]:
        with self._lock:
            return list(self.requests)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=STOP_TIMEOUT)

    def _record(self, entry: CdnRequest) -> None:
        with self._lock:
            self.requests.append(entry)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        cdn = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "test-cdn/1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self, with_body: bool) -> None:
                path = unquote(urlsplit(self.path).path)
                target = (cdn.root / path.lstrip("/")).resolve()
                body = b""
                if target.is_file() and target.is_relative_to(cdn.root):
                    status = 200
                    body = target.read_bytes()
                    content_type = "application/octet-stream"
                else:
                    status = 404
                    body = b"not found\n"
                    content_type = "text/plain"
                cdn._record(CdnRequest(self.command, path, dict(self.headers.items()), status))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def do_GET(self) -> None:
                self._serve(with_body=True)

            def do_HEAD(self) -> None:
                self._serve(with_body=False)

        return Handler


# --------------------------------------------------------------------------- registries


@dataclass(eq=False)
class Registry:
    """A running ``docker-registry`` process and what a test needs to reach it.

    ``username``/``password`` can pull (the credentials a service under test would
    be given); ``push_username``/``push_password`` can also push. Both are ``None``
    for an anonymous registry.
    """

    name: str
    host: str
    workdir: Path
    process: subprocess.Popen[bytes]
    auth: AuthKind = "none"
    username: str | None = None
    password: str | None = None
    push_username: str | None = None
    push_password: str | None = None
    token_server: TokenServer | None = None
    cdn: CdnServer | None = None
    realm: str | None = None
    service: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    scheme: str = "http"
    _owns_workdir: bool = False

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def port(self) -> int:
        return int(self.host.rsplit(":", 1)[1])

    @property
    def storage_dir(self) -> Path:
        return self.workdir / "storage"

    @property
    def config_path(self) -> Path:
        return self.workdir / "config.yml"

    @property
    def log_path(self) -> Path:
        return self.workdir / "registry.log"

    @property
    def access_log_path(self) -> Path:
        return self.workdir / "access.log"

    @property
    def credentials(self) -> tuple[str, str] | None:
        if self.username is None or self.password is None:
            return None
        return self.username, self.password

    @property
    def push_credentials(self) -> tuple[str, str] | None:
        if self.push_username is None or self.push_password is None:
            return self.credentials
        return self.push_username, self.push_password

    def access_log(self, since: int = 0) -> list[AccessLogEntry]:
        """Requests the registry logged, from entry number ``since`` on."""
        if not self.access_log_path.exists():
            return []
        return parse_access_log(self.access_log_path.read_text(errors="replace"))[since:]

    def wait_for_access_log(
        self, count: int, since: int = 0, timeout: float = 5.0
    ) -> list[AccessLogEntry]:
        """Entries from ``since`` on, once there are at least ``count`` (bounded wait)."""
        deadline = time.monotonic() + timeout
        entries = self.access_log(since)
        while len(entries) < count and time.monotonic() < deadline:
            time.sleep(0.02)
            entries = self.access_log(since)
        return entries

    def access_log_mark(self) -> int:
        """The number of logged requests so far (pass it to ``access_log(since=...)``)."""
        return len(self.access_log())

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Kill the registry (and its helper servers); idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        if self.token_server is not None:
            self.token_server.stop()
        if self.cdn is not None:
            self.cdn.stop()
        _running.discard(self)
        if self._owns_workdir and not os.environ.get("TEST_REGISTRY_KEEP"):
            shutil.rmtree(self.workdir, ignore_errors=True)


_running: set[Registry] = set()


@atexit.register
def _stop_leftovers() -> None:
    for registry in list(_running):
        registry.stop()


class RegistryStartError(RuntimeError):
    """``docker-registry`` did not come up."""


def _base_config(storage: Path, host: str) -> dict[str, Any]:
    return {
        "version": "0.1",
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": host, "secret": secrets.token_hex(16)},
    }


def _wait_ready(process: subprocess.Popen[bytes], url: str, deadline: float) -> bool:
    """Poll ``url`` until it answers (200 or 401); ``False`` if the process died."""
    http = urllib3.PoolManager(
        retries=False, timeout=urllib3.Timeout(connect=0.5, read=2.0), cert_reqs="CERT_NONE"
    )
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            try:
                response = http.request("GET", url + "/v2/")
                if response.status in (200, 401):
                    return True
            except urllib3.exceptions.HTTPError:
                pass
            time.sleep(0.05)
    finally:
        http.clear()
    raise RegistryStartError(f"registry at {url} not ready within {STARTUP_TIMEOUT}s")


def start_registry(
    name: str,
    *,
    workdir: Path | None = None,
    customise: Callable[[dict[str, Any], Path], None] | None = None,
    attempts: int = 5,
    **attributes: Any,
) -> Registry:
    """Start ``docker-registry`` with the base config changed by ``customise``.

    ``customise(config, workdir)`` edits the config dict in place before it is
    written. ``attributes`` are set on the returned :class:`Registry`. A port lost to
    a race with another process is retried on a new port.
    """
    binary = registry_binary()
    if binary is None:
        raise RegistryStartError(f"{REGISTRY_BINARY} is not installed")
    owns = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix=f"registry-{name}-")) if workdir is None else workdir
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "storage").mkdir(exist_ok=True)
    last_log = ""
    for _attempt in range(attempts):
        host = f"127.0.0.1:{free_port()}"
        config = _base_config(workdir / "storage", host)
        if customise is not None:
            customise(config, workdir)
        config_path = workdir / "config.yml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        with (
            (workdir / "access.log").open("ab") as access,
            (workdir / "registry.log").open("ab") as log,
        ):
            process = subprocess.Popen(
                [binary, "serve", str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=access,
                stderr=log,
                start_new_session=True,
            )
        registry = Registry(
            name=name,
            host=host,
            workdir=workdir,
            process=process,
            config=config,
            _owns_workdir=owns,
            **attributes,
        )
        _running.add(registry)
        try:
            ready = _wait_ready(process, registry.url, time.monotonic() + STARTUP_TIMEOUT)
        except BaseException:
            registry.process.kill()
            _running.discard(registry)
            raise
        if ready:
            return registry
        _running.discard(registry)
        last_log = registry.log_text()
        if "address already in use" not in last_log:
            break
    raise RegistryStartError(f"registry {name} did not start; log:\n{last_log[-4000:]}")


def _write_htpasswd(path: Path, users: dict[str, str]) -> None:
    # Cost 4 (the minimum): the registry checks the hash on every request, so a
    # realistic cost would make each request take a quarter of a second.
    lines = [
        f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()}"
        for user, pw in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")


def start_anonymous_registry(workdir: Path | None = None) -> Registry:
    """A registry without authentication."""
    return start_registry("anonymous", workdir=workdir)


def start_htpasswd_registry(
    workdir: Path | None = None, username: str = "tester", password: str | None = None
) -> Registry:
    """A registry with Basic auth from an htpasswd file holding one bcrypt user."""
    password = password or secrets.token_urlsafe(12)

    def customise(config: dict[str, Any], directory: Path) -> None:
        _write_htpasswd(directory / "htpasswd", {username: password})
        config["auth"] = {
            "htpasswd": {"realm": "test-registry", "path": str(directory / "htpasswd")}
        }

    return start_registry(
        "htpasswd",
        workdir=workdir,
        customise=customise,
        auth="basic",
        username=username,
        password=password,
        realm="test-registry",
    )


def start_token_registry(
    workdir: Path | None = None,
    *,
    public_repositories: set[str] | None = None,
) -> Registry:
    """A registry with ``auth.token`` and its token service.

    User ``reader`` may pull, ``pusher`` may pull and push (passwords random, on the
    returned object as ``password`` and ``push_password``).
    """
    reader_password = secrets.token_urlsafe(12)
    pusher_password = secrets.token_urlsafe(12)
    server = TokenServer(
        issuer=TOKEN_ISSUER,
        users={
            "reader": Grant(reader_password, frozenset({"pull"})),
            "pusher": Grant(pusher_password, frozenset({"pull", "push"}), catalog=True),
        },
        public_repositories=set(public_repositories or ()),
    ).start()

    def customise(config: dict[str, Any], directory: Path) -> None:
        bundle = server.write_cert_bundle(directory / "token-ca.pem")
        config["auth"] = {
            "token": {
                "realm": server.realm,
                "service": TOKEN_SERVICE,
                "issuer": TOKEN_ISSUER,
                "rootcertbundle": str(bundle),
            }
        }

    try:
        return start_registry(
            "token",
            workdir=workdir,
            customise=customise,
            auth="bearer",
            username="reader",
            password=reader_password,
            push_username="pusher",
            push_password=pusher_password,
            token_server=server,
            realm=server.realm,
            service=TOKEN_SERVICE,
        )
    except BaseException:
        server.stop()
        raise


def start_redirect_registry(
    workdir: Path | None = None, username: str = "tester", password: str | None = None
) -> Registry:
    """An htpasswd registry whose blob downloads redirect (307) to a static server.

    The ``redirect`` storage middleware makes the registry answer blob GETs with a
    redirect to ``<baseurl><storage path>``; the :class:`CdnServer` on 127.0.0.2
    serves the storage root and records each request's headers (``registry.cdn``).
    """
    password = password or secrets.token_urlsafe(12)
    holder: dict[str, CdnServer] = {}

    def customise(config: dict[str, Any], directory: Path) -> None:
        _write_htpasswd(directory / "htpasswd", {username: password})
        config["auth"] = {
            "htpasswd": {"realm": "test-registry", "path": str(directory / "htpasswd")}
        }
        if "cdn" not in holder:
            holder["cdn"] = CdnServer(directory / "storage")
        config["middleware"] = {
            "storage": [{"name": "redirect", "options": {"baseurl": holder["cdn"].url}}]
        }

    try:
        registry = start_registry(
            "redirect",
            workdir=workdir,
            customise=customise,
            auth="basic",
            username=username,
            password=password,
            realm="test-registry",
        )
    except BaseException:
        if "cdn" in holder:
            holder["cdn"].stop()
        raise
    registry.cdn = holder["cdn"]
    return registry


def start_tls_registry(workdir: Path | None = None) -> Registry:
    """An anonymous registry serving HTTPS with a self-signed certificate.

    The certificate names 127.0.0.1 and localhost but is signed by no trusted
    authority, so clients that verify TLS must refuse it.
    """

    def customise(config: dict[str, Any], directory: Path) -> None:
        certificate, key = self_signed_server_certificate()
        (directory / "tls.crt").write_bytes(certificate)
        (directory / "tls.key").write_bytes(key)
        config["http"]["tls"] = {
            "certificate": str(directory / "tls.crt"),
            "key": str(directory / "tls.key"),
        }

    return start_registry("tls", workdir=workdir, customise=customise, scheme="https")


def self_signed_server_certificate() -> tuple[bytes, bytes]:
    """A PEM certificate and key for 127.0.0.1 and localhost, self-signed."""
    import ipaddress
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test registry")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return (
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def start_schema1_registry(workdir: Path | None = None) -> Registry:
    """An anonymous registry that accepts schema 1 manifest pushes.

    ``compatibility.schema1.enabled`` is what allows the pushes; without a
    ``signingkeyfile`` the registry generates its own key at start-up (used only
    when it has to sign a manifest itself).
    """

    def customise(config: dict[str, Any], directory: Path) -> None:
        config["compatibility"] = {"schema1": {"enabled": True}}

    return start_registry("schema1", workdir=workdir, customise=customise)


# --------------------------------------------------------------------------- nothing there


@dataclass
class StoppedRegistry:
    """A loopback address where no registry listens (connections are refused).

    The port is held by a bound socket that never listens, so no other process can
    start listening on it while this object lives.
    """

    host: str
    _socket: socket.socket

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        self._socket.close()


def stopped_registry() -> StoppedRegistry:
    """Reserve a loopback port with nothing listening on it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return StoppedRegistry(f"127.0.0.1:{sock.getsockname()[1]}", sock)


_reserved: list[StoppedRegistry] = []


def stopped_registry_host() -> str:
    """``127.0.0.1:PORT`` where nothing listens, reserved until the process ends."""
    reserved = stopped_registry()
    _reserved.append(reserved)
    return reserved.host

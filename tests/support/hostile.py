"""A registry that misbehaves on purpose, for what a real one will not do.

It answers ``GET /v2/`` with 200 and every other request from a route
function: a canned :class:`~testkit.proxy.Fault` (tag lists whose
``Link`` loops, say), or a :class:`Trickle` that sends its headers or its
body one byte at a time. Nothing is forwarded anywhere.

Every trickle ends by itself: when the client hangs up, when the server is
stopped, or when its bytes run out. Requests are counted by path, and
:meth:`HostileRegistry.wait_idle` tells whether every trickle has ended, so a
test can check that a client really let go of a connection it gave up on.
"""

from __future__ import annotations

import json
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

from testkit.proxy import Fault
from testkit.registry import self_signed_server_certificate


@dataclass(frozen=True)
class Trickle:
    """An answer sent slowly: from ``start`` on, one byte every ``interval`` seconds."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    start: Literal["headers", "body"] = "headers"
    interval: float = 1.0

    def head(self) -> bytes:
        """The status line and headers, as sent on the wire."""
        lines = [f"HTTP/1.1 {self.status} Trickling"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def seconds(self) -> float:
        """How long the slow part takes to send in full."""
        slow = self.head() + self.body if self.start == "headers" else self.body
        return len(slow) * self.interval


Answer = Fault | Trickle
Route = Callable[[str, str], Answer | None]
"""(method, path with query) -> an answer, or None for 404."""


class HostileRegistry:
    """A ThreadingHTTPServer on a free loopback port, answering from ``route``.

    ``tls``: it serves HTTPS with a self-signed certificate (a client must
    import it as insecure).
    """

    def __init__(self, route: Route, *, tls: bool = False) -> None:
        self.route = route
        self.paths: list[str] = []
        self._stopping = threading.Event()
        self._active = 0
        self._idle = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        if tls:
            self._server.socket = _server_context().wrap_socket(
                self._server.socket, server_side=True
            )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="hostile-registry",
            daemon=True,
        )
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def count(self, contains: str) -> int:
        """How many requests had ``contains`` in their path."""
        with self._idle:
            return sum(1 for path in self.paths if contains in path)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no trickle is being sent; False if one still is after ``timeout``."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _trickle(self, write: Callable[[bytes], object], answer: Trickle) -> None:
        head = answer.head()
        fast, slow = (b"", head + answer.body) if answer.start == "headers" else (head, answer.body)
        with self._idle:
            self._active += 1
        try:
            write(fast)
            for byte in slow:
                if self._stopping.wait(answer.interval):
                    return
                write(bytes([byte]))
        except OSError:
            return  # the client hung up
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; Nagle would hold the second back.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                with registry._idle:
                    registry.paths.append(self.path)
                answer = registry.route(self.command, self.path)
                if answer is None and self.path == "/v2/":
                    answer = Fault(200, {"Content-Type": "application/json"}, b"{}")
                if answer is None:
                    body = json.dumps({"errors": [{"code": "NAME_UNKNOWN"}]}).encode()
                    answer = Fault(404, {"Content-Type": "application/json"}, body)
                if isinstance(answer, Fault) and answer.reset:
                    self.close_connection = True
                    return
                if isinstance(answer, Trickle):
                    self.close_connection = True
                    registry._trickle(self.wfile.write, answer)
                    return
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.body)

            do_HEAD = do_GET

        return Handler


def _server_context() -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1."""
    certificate, key = self_signed_server_certificate()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as directory:
        chain = f"{directory}/server.pem"
        with open(chain, "wb") as pem:
            pem.write(certificate + key)
        context.load_cert_chain(chain)
    return context

"""A test proxy in front of a real registry: counts, delays and injects faults.

The registry behind it is real; the proxy only adds what a real registry
will not do on demand (throttling with ``Retry-After``, a 503, a reset, a
slow answer) and counts every request by method and path, so tests can
assert how many requests an import made.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Fault:
    """A canned answer the proxy gives instead of forwarding."""

    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    reset: bool = False  # close the connection without answering


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]


Rule = Callable[[str, str, int], Fault | None]
"""(method, path, nth request matching so far) -> a fault, or None to forward."""


class RegistryProxy:
    """Forwards to ``upstream`` (host:port) unless a rule answers first."""

    def __init__(self, upstream: str, *, delay: float = 0.0) -> None:
        self.upstream = upstream
        self.delay = delay
        self.rules: list[Rule] = []
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def clear(self) -> None:
        with self._lock:
            self.seen.clear()
            self._counts.clear()

    def count(self, method: str | None = None, contains: str = "") -> int:
        """How many requests matched ``method`` and had ``contains`` in their path."""
        with self._lock:
            return sum(
                1
                for s in self.seen
                if (method is None or s.method == method) and contains in s.path
            )

    def _record(self, method: str, path: str, headers: dict[str, str]) -> int:
        with self._lock:
            self.seen.append(Seen(method, path, headers))
            key = (method, path)
            self._counts[key] += 1
            return self._counts[key]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                nth = proxy._record(self.command, self.path, dict(self.headers.items()))
                for rule in proxy.rules:
                    fault = rule(self.command, self.path, nth)
                    if fault is not None:
                        self._fault(fault)
                        return
                if proxy.delay:
                    time.sleep(proxy.delay)
                self._forward(body)

            def _fault(self, fault: Fault) -> None:
                if fault.reset:
                    self.close_connection = True
                    self.connection.close()
                    return
                self.send_response(fault.status)
                for name, value in fault.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(fault.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(fault.body)

            def _forward(self, body: bytes | None) -> None:
                upstream = http.client.HTTPConnection(proxy.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = proxy.upstream
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                payload = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() in ("transfer-encoding", "connection"):
                        continue
                    if name.lower() == "content-length" and self.command != "HEAD":
                        continue
                    if name.lower() == "location":
                        value = value.replace(proxy.upstream, proxy.host)
                    self.send_header(name, value)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                upstream.close()

            do_GET = _serve
            do_HEAD = _serve
            do_POST = _serve
            do_PUT = _serve
            do_PATCH = _serve
            do_DELETE = _serve

        return Handler

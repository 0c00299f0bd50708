"""A proxy in front of a real registry: adds latency, counts requests, injects faults.

The registry behind it is real; the proxy only adds what a real registry
will not do on demand (a delay per request, as a registry 20-100 ms away
has; throttling with ``Retry-After``; a 503; a reset) and counts every
request by method and path, so tests can assert how many requests an
import made.

It must not be what a benchmark measures: every client connection is kept
alive and served by a thread of its own, each with a persistent connection
to the registry, so a thousand-tag import through it costs one connection
per concurrent client, not one per request. A TLS handshake (a client
trying ``https`` first) is refused at once by closing the connection, as a
plain-HTTP registry port does, instead of waiting for a request line that
never comes.

:class:`RegistryProxy` runs in the caller's process (tests add fault rules
to it); ``python -m testkit.proxy UPSTREAM --delay SECONDS`` runs one in a
process of its own, which :class:`ProxyProcess` starts, so a benchmark can
read the proxy's CPU apart from its own.
"""

from __future__ import annotations

import argparse
import http.client
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# The first byte of a TLS record carrying a handshake (a ClientHello).
TLS_HANDSHAKE = 0x16
UPSTREAM_TIMEOUT = 60.0
# Pending connections the listening socket queues: a benchmark opens dozens at once.
BACKLOG = 256
# Hop-by-hop headers, and the length the proxy sets itself.
_NOT_FORWARDED = ("transfer-encoding", "connection", "keep-alive")


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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = BACKLOG


class RegistryProxy:
    """Forwards to ``upstream`` (host:port) after ``delay`` seconds, unless a rule answers first."""

    def __init__(self, upstream: str, *, delay: float = 0.0, port: int = 0) -> None:
        self.upstream = upstream
        self.delay = delay
        self.rules: list[Rule] = []
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._server = _Server(("127.0.0.1", port), self._handler())
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
            # Headers and body go out in separate writes: without this, a client's
            # delayed ACK holds the body back 40 ms.
            disable_nagle_algorithm = True
            # One per client connection: the registry connection it reuses.
            upstream: http.client.HTTPConnection | None = None

            def log_message(self, format: str, *args: object) -> None:
                return

            def handle_one_request(self) -> None:
                try:
                    first = self.rfile.peek(1)[:1]  # type: ignore[attr-defined]
                except OSError:
                    first = b""
                if not first or first[0] == TLS_HANDSHAKE:
                    self.close_connection = True
                    return
                super().handle_one_request()

            def finish(self) -> None:
                if self.upstream is not None:
                    self.upstream.close()
                super().finish()

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

            def _exchange(self, body: bytes | None) -> tuple[http.client.HTTPResponse, bytes]:
                # Sent as received: a header may come more than once (skopeo's Accept).
                headers = [(k, v) for k, v in self.headers.items() if k.lower() != "host"]
                # A kept connection the registry closed meanwhile fails once: open another.
                for attempt in (1, 2):
                    if self.upstream is None:
                        self.upstream = http.client.HTTPConnection(
                            proxy.upstream, timeout=UPSTREAM_TIMEOUT
                        )
                    try:
                        self.upstream.putrequest(
                            self.command, self.path, skip_host=True, skip_accept_encoding=True
                        )
                        self.upstream.putheader("Host", proxy.upstream)
                        for name, value in headers:
                            self.upstream.putheader(name, value)
                        self.upstream.endheaders(body)
                        answer = self.upstream.getresponse()
                        payload = answer.read()
                    except (ConnectionError, http.client.HTTPException):
                        self.upstream.close()
                        self.upstream = None
                        if attempt == 2:
                            raise
                        continue
                    if answer.will_close:
                        self.upstream.close()
                        self.upstream = None
                    return answer, payload
                raise AssertionError("unreachable")

            def _forward(self, body: bytes | None) -> None:
                answer, payload = self._exchange(body)
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    lowered = name.lower()
                    if lowered in _NOT_FORWARDED:
                        continue
                    if lowered == "content-length" and self.command != "HEAD":
                        continue
                    if lowered == "location":
                        value = value.replace(proxy.upstream, proxy.host)
                    self.send_header(name, value)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = _serve
            do_HEAD = _serve
            do_POST = _serve
            do_PUT = _serve
            do_PATCH = _serve
            do_DELETE = _serve

        return Handler


# --------------------------------------------------------------------------- own process

STARTUP_TIMEOUT = 30.0
LISTENING = "proxy listening on "


class ProxyProcess:
    """``python -m testkit.proxy`` in a process of its own: its ``pid`` tells its CPU."""

    def __init__(self, upstream: str, *, delay: float) -> None:
        self.upstream = upstream
        self.delay = delay
        self.process = subprocess.Popen(
            [sys.executable, "-m", "testkit.proxy", upstream, "--delay", str(delay)],
            cwd=Path(__file__).resolve().parents[1],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        line = ""
        while time.monotonic() < deadline and not line.startswith(LISTENING):
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                break
        if not line.startswith(LISTENING):
            self.stop()
            raise RuntimeError(f"the proxy to {upstream} did not start")
        self.host = line[len(LISTENING) :].strip()

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> ProxyProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testkit.proxy", description=__doc__)
    parser.add_argument("upstream", help="the registry, host:port")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds added per request")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    proxy = RegistryProxy(args.upstream, delay=args.delay, port=args.port)
    print(f"{LISTENING}{proxy.host}", flush=True)
    stopped.wait()
    proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

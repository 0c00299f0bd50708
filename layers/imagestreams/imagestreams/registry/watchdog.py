"""Cutting off an exchange with a registry when its deadline passes.

urllib3's timeouts bound each socket operation, so a server trickling its
headers or body a byte at a time never trips one. A :class:`Watchdog`
thread shuts an :class:`Exchange`'s socket down when its deadline passes,
whatever the exchange waits for (connect, TLS handshake, headers, body).
To see the socket at every stage, connections of the pool classes here
report it to the exchange running on their thread (:data:`WATCHED_POOLS`,
installed in the transport's ``PoolManager``).
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from imagestreams.errors import UnavailableError


class Exchange:
    """One ``send``: when it must end, whom it talks to, and the socket it uses now.

    A new connection's socket is held as a duplicate descriptor: shutting
    that down ends the connection even mid-handshake, when the TLS wrapper
    has taken the original, and it cannot be reused for another connection
    while held. A connected socket (a connection reused, or one past its
    handshake) is held as it is: shutting it down ends the connection, and
    once closed by its owner it refers to nothing, so holding it costs no
    descriptor and no system call per request.
    """

    def __init__(self, due: float) -> None:
        self.due = due
        self.host = ""
        self.expired = False
        self.finished = False
        self._socket: socket.socket | None = None
        self._duplicate = False
        self._lock = threading.Lock()

    def attach(self, sock: socket.socket, *, connected: bool = False) -> None:
        """Watch ``sock`` from now on (the connection in use changed or is reused).

        ``connected``: ``sock`` is the connection's final socket (past any
        TLS handshake), watched as it is rather than through a duplicate.
        """
        watched: socket.socket | None = sock
        if not connected:
            try:
                watched = socket.fromfd(sock.fileno(), sock.family, sock.type)
            except OSError:
                watched = None
        with self._lock:
            previous = self._socket if self._duplicate else None
            self._socket, self._duplicate = watched, not connected
            if self.finished:
                previous = watched if not connected else previous
                self._socket = None
            elif self.expired and watched is not None:
                _shut(watched)
        if previous is not None:
            previous.close()

    def expire(self) -> None:
        """The deadline passed: end the connection, whatever it is waiting for."""
        with self._lock:
            if self.finished:
                return
            self.expired = True
            if self._socket is not None:
                _shut(self._socket)

    def let_go(self) -> bool:
        """Stop watching the socket before its connection is pooled; False if cut off."""
        with self._lock:
            if self.expired:
                return False
            held = self._release()
        if held is not None:
            held.close()
        return True

    def finish(self) -> None:
        with self._lock:
            self.finished = True
            held = self._release()
        if held is not None:
            held.close()

    def _release(self) -> socket.socket | None:
        """Stop holding the socket; the duplicate to close, if it was one."""
        held = self._socket if self._duplicate else None
        self._socket, self._duplicate = None, False
        return held

    def timed_out(self) -> UnavailableError:
        return UnavailableError(
            detail=f"timed out reading from {self.host}: the import's time budget ran out"
        )


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by its peer or by us
        sock.shutdown(socket.SHUT_RDWR)


# The exchange the current thread is running; connections report their sockets to it.
_CURRENT: contextvars.ContextVar[Exchange | None] = contextvars.ContextVar(
    "imagestreams_exchange", default=None
)


def _attach(sock: socket.socket | None, *, connected: bool) -> None:
    exchange = _CURRENT.get()
    if exchange is not None and sock is not None:
        exchange.attach(sock, connected=connected)


class _WatchedHTTPConnection(HTTPConnection):
    """Reports its socket to the running exchange: when made and before every response."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _attach(sock, connected=False)
        return sock

    def getresponse(self) -> urllib3.HTTPResponse:  # type: ignore[override]
        _attach(self.sock, connected=True)
        return super().getresponse()


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    pass


class WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class Watchdog:
    """Expires exchanges at their due time (``time.monotonic``).

    One thread, started when an exchange is watched and none runs; it ends
    once every exchange it holds is finished or expired, so an idle process
    keeps no thread.
    """

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._pending: list[tuple[float, int, Exchange]] = []
        self._order = itertools.count()
        self._running = False

    @contextlib.contextmanager
    def watching(self, exchange: Exchange) -> Iterator[Exchange]:
        """Run the block as ``exchange``: its connections are watched, and it ends with it."""
        self.watch(exchange)
        token = _CURRENT.set(exchange)
        try:
            yield exchange
        finally:
            _CURRENT.reset(token)
            exchange.finish()

    def watch(self, exchange: Exchange) -> None:
        with self._wake:
            heapq.heappush(self._pending, (exchange.due, next(self._order), exchange))
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="transport-watchdog", daemon=True).start()
            elif self._pending[0][2] is exchange:
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._pending and self._pending[0][2].finished:
                    heapq.heappop(self._pending)
                if not self._pending:
                    self._running = False
                    return
                due, _, exchange = self._pending[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                heapq.heappop(self._pending)
            exchange.expire()


WATCHED_POOLS: dict[str, type[HTTPConnectionPool]] = {
    "http": WatchedHTTPConnectionPool,
    "https": WatchedHTTPSConnectionPool,
}
"""Pool classes whose connections show their sockets to the running exchange."""

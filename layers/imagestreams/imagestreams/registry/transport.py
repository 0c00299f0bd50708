"""The one HTTP choke point of the registry client.

Owns, for every request to a registry, token realm or redirect target:
resolving the host and checking the address (``addresses``), connecting to
that checked address with the right TLS settings, time-boxed timeouts,
retries of 429/5xx/connection failures that honour ``Retry-After`` within
the invocation's budget, redirects that never carry ``Authorization`` to
another host, and size caps on every body. It knows nothing of manifests or
auth flows; those are ``client``'s, which names the kind of each exchange.

Being the one way to a registry, it is also where registry work is measured
(``telemetry``: each exchange by kind and its latency, retries and 429s by
host) and traced (one subsegment per exchange when tracing is on).

The ``Deadline`` bounds a whole exchange, not each socket operation: the
``watchdog`` cuts off an exchange still running when it passes, and the
exchange fails with a timeout. The transport installs the watchdog's pool
classes in the ``PoolManager`` it is given; a connection an exchange gave up
on is closed, never pooled.
"""

from __future__ import annotations

import email.utils
import math
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util import Url, parse_url

from imagestreams.deadline import Deadline
from imagestreams.errors import (
    ContentTooLargeError,
    ForbiddenRegistryError,
    TLSError,
    UnavailableError,
)
from imagestreams.observability import annotate, tracer
from imagestreams.registry.addresses import AddressPolicy
from imagestreams.registry.watchdog import WATCHED_POOLS, Exchange, Watchdog
from imagestreams.telemetry import NO_TELEMETRY, RequestKind, Telemetry

Sleeper = Callable[[float], None]

MAX_REDIRECTS = 5
ERROR_BODY_LIMIT = 1024 * 1024
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
BACKOFF_BASE = 0.25
BACKOFF_CAP = 8.0
# How long a checked address is reused before the name is resolved again.
RESOLVED_TTL = 30.0


@dataclass
class HttpResponse:
    """A fully read (and size-capped) response."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return None if value is None else str(value)


@dataclass
class RetryPolicy:
    """How often and how patiently transient failures are retried."""

    max_attempts: int = 4
    sleeper: Sleeper = time.sleep
    jitter: Callable[[], float] = field(default=random.random)

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter in [0.5, 1.5) of the step."""
        step = min(BACKOFF_CAP, BACKOFF_BASE * (2**attempt))
        return float(step * (0.5 + self.jitter()))


def retry_after_seconds(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Parse ``Retry-After`` (seconds or an HTTP date) into seconds from now."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


def _is_retryable_status(status: int) -> bool:
    return status == 429 or (500 <= status <= 599 and status != 501)


class Transport:
    """Sends requests safely; one instance per process, shared by threads."""

    def __init__(
        self,
        pool: urllib3.PoolManager,
        policy: AddressPolicy,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
        retry: RetryPolicy | None = None,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self._pool = pool
        self._telemetry = telemetry
        self._policy = policy
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._retry = retry or RetryPolicy()
        self._resolved: dict[tuple[str, int], tuple[str, float]] = {}
        self._resolved_lock = threading.Lock()
        self._watchdog = Watchdog()
        # Connections of these classes show their sockets to the watchdog.
        pool.pool_classes_by_scheme = WATCHED_POOLS

    @property
    def policy(self) -> AddressPolicy:
        return self._policy

    def _resolve(self, host: str, port: int) -> str:
        """The checked address of ``host``, remembered briefly.

        A registry is asked thousands of times in one import; resolving and
        checking it each time costs a DNS query each. The address kept is the
        one that passed the policy, and it is what the connection uses.
        """
        key = (host, port)
        now = time.monotonic()
        with self._resolved_lock:
            known = self._resolved.get(key)
        if known is not None and known[1] > now:
            return known[0]
        address = self._policy.resolve(host, port)
        with self._resolved_lock:
            self._resolved[key] = (address, now + RESOLVED_TTL)
        return address

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        deadline: Deadline,
        insecure: bool,
        max_bytes: int,
        kind: RequestKind,
    ) -> HttpResponse:
        """Send with retries; returns the last response, raises on transport failure.

        A 429 or 5xx that survives the retries is returned for the caller to
        classify; connection failures that survive them raise
        :class:`UnavailableError`, and so does an exchange (redirects and
        retries included) still running when ``deadline`` passes. ``kind``
        names the exchange in metrics and traces.
        """
        started = time.monotonic()
        exchange = Exchange(started + deadline.remaining())
        host = _origin(url)
        with tracer.subsegment(f"registry {kind}") as subsegment:
            annotate(subsegment, registry=host, kind=kind)
            try:
                with self._watchdog.watching(exchange):
                    response = self._send(
                        method, url, headers, deadline, insecure, max_bytes, exchange
                    )
                annotate(subsegment, status=response.status)
                return response
            finally:
                self._telemetry.registry_request(kind, time.monotonic() - started)

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        deadline: Deadline,
        insecure: bool,
        max_bytes: int,
        exchange: Exchange,
    ) -> HttpResponse:
        attempt = 0
        while True:
            failure: str | None = None
            response: HttpResponse | None = None
            try:
                response = self._follow(
                    method, url, headers, deadline, insecure, max_bytes, exchange
                )
            except SSLError as exc:
                if exchange.expired:
                    raise exchange.timed_out() from None
                raise TLSError(
                    detail=f"TLS failure talking to {_origin(url)}: {_reason(exc)}"
                ) from None
            except (
                NewConnectionError,
                ConnectTimeoutError,
                ReadTimeoutError,
                ProtocolError,
            ) as exc:
                failure = f"{_origin(url)}: {_reason(exc)}"
            except HTTPError as exc:
                failure = f"{_origin(url)}: {_reason(exc)}"
            if exchange.expired:
                # Whatever the cut-off connection gave (an error, or a body that
                # looked complete at the forced end of file) is not an answer.
                raise exchange.timed_out()
            if response is not None and not _is_retryable_status(response.status):
                return response
            if response is not None and response.status == 429:
                self._telemetry.registry_throttled(_origin(url))
            delay = None
            if response is not None:
                delay = retry_after_seconds(response.header("Retry-After"))
            if delay is None:
                delay = self._retry.backoff(attempt)
            attempt += 1
            if attempt >= self._retry.max_attempts or delay >= deadline.remaining():
                if response is not None:
                    return response
                raise UnavailableError(detail=f"cannot reach {failure}")
            self._telemetry.registry_retry(_origin(url))
            self._retry.sleeper(delay)

    def _follow(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        deadline: Deadline,
        insecure: bool,
        max_bytes: int,
        exchange: Exchange,
    ) -> HttpResponse:
        current = parse_url(url)
        outgoing = dict(headers)
        for _ in range(MAX_REDIRECTS + 1):
            exchange.host = _origin(current)
            raw = self._open(method, current, outgoing, deadline, insecure)
            if raw.status in REDIRECT_CODES and raw.headers.get("Location"):
                location = parse_url(_join(current, raw.headers["Location"]))
                raw.drain_conn()
                _release(raw, exchange)
                if current.scheme == "https" and location.scheme == "http" and not insecure:
                    raise ForbiddenRegistryError(detail="refusing a redirect from https to http")
                if (location.host, location.port) != (current.host, current.port):
                    # Credentials are for the registry, never for a CDN or storage host.
                    outgoing = {k: v for k, v in outgoing.items() if k.lower() != "authorization"}
                if raw.status == 303:
                    method = "GET" if method != "HEAD" else "HEAD"
                current = location
                continue
            if method == "HEAD":
                # No body follows a HEAD: its connection serves the next request at once.
                _release(raw, exchange)
                return HttpResponse(raw.status, raw.headers, b"", current.url)
            limit = max_bytes if 200 <= raw.status < 300 else min(max_bytes, ERROR_BODY_LIMIT)
            body = _read_capped(raw, limit, current, exchange)
            return HttpResponse(raw.status, raw.headers, body, current.url)
        raise UnavailableError(detail=f"too many redirects from {_origin(url)}")

    def _open(
        self,
        method: str,
        url: Url,
        headers: dict[str, str],
        deadline: Deadline,
        insecure: bool,
    ) -> urllib3.BaseHTTPResponse:
        scheme = url.scheme or "https"
        if scheme not in ("http", "https"):
            raise ForbiddenRegistryError(detail=f"unsupported URL scheme {scheme!r}")
        host = url.host or ""
        port = url.port or (443 if scheme == "https" else 80)
        address = self._resolve(host, port)
        remaining = deadline.remaining()
        if remaining <= 0:
            raise UnavailableError(detail="the import's time budget is exhausted")
        timeout = urllib3.Timeout(
            connect=min(self._connect_timeout, remaining), read=min(self._read_timeout, remaining)
        )
        pool_kwargs: dict[str, object] = {}
        if scheme == "https":
            if insecure:
                pool_kwargs.update(cert_reqs="CERT_NONE", assert_hostname=False)
            else:
                pool_kwargs.update(cert_reqs="CERT_REQUIRED", assert_hostname=host)
            pool_kwargs["server_hostname"] = host
        connection = self._pool.connection_from_host(
            address, port=port, scheme=scheme, pool_kwargs=pool_kwargs
        )
        default_port = 443 if scheme == "https" else 80
        host_header = _bracket(host) if port == default_port else f"{_bracket(host)}:{port}"
        request_headers = {**headers, "Host": host_header}
        return connection.urlopen(
            method,
            url.request_uri,
            headers=request_headers,
            redirect=False,
            retries=False,
            preload_content=False,
            timeout=timeout,
            # A pool that blocks waits for a free connection about as long as the budget.
            pool_timeout=math.ceil(remaining),
            assert_same_host=False,
        )


def _read_capped(raw: urllib3.BaseHTTPResponse, limit: int, url: Url, exchange: Exchange) -> bytes:
    declared = raw.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        _discard(raw)
        raise ContentTooLargeError(detail=f"response from {url.host} exceeds {limit} bytes")
    chunks: list[bytes] = []
    total = 0
    try:
        while True:
            chunk = raw.read(65536)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise ContentTooLargeError(detail=f"response from {url.host} exceeds {limit} bytes")
            chunks.append(chunk)
    except BaseException:
        _discard(raw)
        raise
    _release(raw, exchange)
    return b"".join(chunks)


def _release(raw: urllib3.BaseHTTPResponse, exchange: Exchange) -> None:
    """Return a read response's connection to the pool, closed if it was cut off."""
    if exchange.let_go():
        raw.release_conn()
    else:
        _discard(raw)


def _discard(raw: urllib3.BaseHTTPResponse) -> None:
    """Give a response's connection back closed: a half-read one must not serve again."""
    raw.close()
    raw.release_conn()


def _join(base: Url, location: str) -> str:
    from urllib.parse import urljoin

    return urljoin(base.url, location)


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _origin(url: str | Url) -> str:
    parsed = parse_url(url) if isinstance(url, str) else url
    return f"{parsed.host}:{parsed.port}" if parsed.port else str(parsed.host)


_CONNECTION_PREFIX = re.compile(
    r"^(?:<[^>]*object at 0x[0-9a-f]+>|\w*Connection(?:Pool)?\([^)]*\)): "
)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    text = str(reason if reason is not None else exc)
    # urllib3 prefixes connection objects to messages; keep the human part.
    return _CONNECTION_PREFIX.sub("", text)

"""The registry client against a real registry, with an injected sleeper and clock.

Retries never sleep for real here: the sleeper records the delays asked for,
and the clock it advances is the one the deadline reads. Only the tests of a
budget running out mid-answer use the real clock, against a hostile registry
that trickles its answer; they are bounded by that budget, not by the trickle.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import urllib3

from imagestreams import reference
from imagestreams.credentials import Credential, Keyring
from imagestreams.deadline import Deadline
from imagestreams.errors import (
    NotFoundError,
    ProtocolError,
    TooManyRequestsError,
    UnauthorizedError,
    UnavailableError,
)
from imagestreams.imports.importer import Importer
from imagestreams.imports.plan import ImportOptions, SpecReferences
from imagestreams.models import ImageStreamImportSpec
from imagestreams.registry.addresses import AddressPolicy
from imagestreams.registry.client import RegistryClient
from imagestreams.registry.transport import RetryPolicy, Transport
from testkit.proxy import Fault, RegistryProxy
from testkit.registry import Registry
from tests.support.hostile import HostileRegistry, Route, Trickle


class FakeTime:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_client(fake: FakeTime, attempts: int = 4) -> RegistryClient:
    transport = Transport(
        urllib3.PoolManager(),
        AddressPolicy(allow_private=True),
        connect_timeout=2,
        read_timeout=5,
        retry=RetryPolicy(max_attempts=attempts, sleeper=fake.sleep, jitter=lambda: 0.5),
    )
    return RegistryClient(transport)


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def proxy(anon_registry: Registry) -> Any:
    front = RegistryProxy(anon_registry.host)
    yield front
    front.stop()


def repo(
    client: RegistryClient,
    host: str,
    repository: str,
    fake: FakeTime,
    budget: float = 20,
    **kw: Any,
) -> Any:
    return client.repository(
        host,
        repository,
        kw.get("credentials", []),
        insecure=False,
        deadline=Deadline(fake.now + budget, fake.clock),
    )


def test_retry_after_is_honoured(
    fake: FakeTime, proxy: RegistryProxy, anon_registry: Registry, push_image: Any
) -> None:
    pushed = push_image(anon_registry)
    proxy.rules.append(
        lambda m, path, nth: (
            Fault(429, {"Retry-After": "7"}) if "/manifests/" in path and nth == 1 else None
        )
    )

    manifest = repo(make_client(fake), proxy.host, pushed.repository, fake).get_manifest(pushed.tag)

    assert manifest.digest == pushed.digest
    assert fake.sleeps == [7.0]


def test_retry_after_beyond_the_budget_gives_up_at_once(
    fake: FakeTime, proxy: RegistryProxy, anon_registry: Registry, push_image: Any
) -> None:
    pushed = push_image(anon_registry)
    proxy.rules.append(
        lambda m, path, nth: Fault(429, {"Retry-After": "120"}) if "/manifests/" in path else None
    )

    with pytest.raises(TooManyRequestsError) as caught:
        repo(make_client(fake), proxy.host, pushed.repository, fake, budget=30).get_manifest(
            pushed.tag
        )

    assert caught.value.retry_after == 120
    assert fake.sleeps == []


@pytest.mark.parametrize(
    "fault",
    [Fault(500), Fault(502), Fault(503), Fault(504), Fault(reset=True)],
    ids=["500", "502", "503", "504", "reset"],
)
def test_transient_failures_are_retried_with_backoff(
    fake: FakeTime, proxy: RegistryProxy, anon_registry: Registry, push_image: Any, fault: Fault
) -> None:
    pushed = push_image(anon_registry)
    proxy.rules.append(lambda m, path, nth: fault if "/manifests/" in path and nth <= 2 else None)

    manifest = repo(make_client(fake), proxy.host, pushed.repository, fake).get_manifest(pushed.tag)

    assert manifest.digest == pushed.digest
    assert fake.sleeps == [0.25, 0.5]


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            404,
            b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}',
            NotFoundError,
        ),
        (
            401,
            b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
            UnauthorizedError,
        ),
        (
            403,
            b'{"errors":[{"code":"DENIED","message":"access to the resource is denied"}]}',
            UnauthorizedError,
        ),
        (400, b"", ProtocolError),
    ],
    ids=["404", "401", "403", "400"],
)
def test_client_errors_fail_fast(
    fake: FakeTime,
    proxy: RegistryProxy,
    anon_registry: Registry,
    push_image: Any,
    status: int,
    body: bytes,
    error: type[Exception],
) -> None:
    pushed = push_image(anon_registry)
    proxy.rules.append(
        lambda m, path, nth: (
            Fault(status, {"Content-Type": "application/json"}, body)
            if "/manifests/" in path
            else None
        )
    )

    with pytest.raises(error):
        repo(make_client(fake), proxy.host, pushed.repository, fake).get_manifest(pushed.tag)

    assert fake.sleeps == []
    assert proxy.count("GET", "/manifests/") == 1


def test_dead_registry_stops_after_the_attempts(fake: FakeTime, stopped_registry_host: str) -> None:
    with pytest.raises(UnavailableError, match="cannot reach"):
        repo(make_client(fake, attempts=3), stopped_registry_host, "x/y", fake).get_manifest(
            "latest"
        )

    assert fake.sleeps == [0.25, 0.5]


def test_dead_registry_stops_at_the_deadline(fake: FakeTime, stopped_registry_host: str) -> None:
    with pytest.raises(UnavailableError):
        repo(
            make_client(fake, attempts=10), stopped_registry_host, "x/y", fake, budget=1.0
        ).get_manifest("latest")

    assert sum(fake.sleeps) < 1.0


def test_head_resolves_the_tag_without_a_body(
    fake: FakeTime, proxy: RegistryProxy, anon_registry: Registry, push_image: Any
) -> None:
    pushed = push_image(anon_registry, fmt="v2s2")

    descriptor = repo(make_client(fake), proxy.host, pushed.repository, fake).head_manifest(
        pushed.tag
    )

    assert descriptor.digest == pushed.digest
    assert descriptor.media_type == pushed.media_type
    assert descriptor.size == len(pushed.manifest)
    assert proxy.count("GET", "/manifests/") == 0


@pytest.mark.parametrize("method", ["head_manifest", "get_manifest"])
def test_sequential_requests_reuse_one_connection(
    fake: FakeTime, anon_registry: Registry, push_image: Any, method: str
) -> None:
    # Given a registry client over one pool manager
    pushed = push_image(anon_registry, fmt="v2s2")
    pool = urllib3.PoolManager()
    transport = Transport(pool, AddressPolicy(allow_private=True))
    reader = repo(RegistryClient(transport), anon_registry.host, pushed.repository, fake)

    # When the tag's manifest is asked for 20 times, one after the other
    for _ in range(20):
        getattr(reader, method)(pushed.tag)

    # Then one plain-http connection served them all (a HEAD's goes back to the pool too)
    address, port = anon_registry.host.rsplit(":", 1)
    plain = pool.connection_from_host(address, port=int(port), scheme="http")
    assert plain.num_connections == 1


def test_a_blocking_pool_bounds_the_connections_to_a_registry(
    fake: FakeTime, anon_registry: Registry, push_image: Any
) -> None:
    # Given a client whose pools hold (and allow) 2 connections per registry, as deployed
    pushed = push_image(anon_registry, fmt="v2s2")
    pool = urllib3.PoolManager(maxsize=2, block=True)
    reader = repo(
        RegistryClient(Transport(pool, AddressPolicy(allow_private=True))),
        anon_registry.host,
        pushed.repository,
        fake,
    )

    # When 12 threads ask for the manifest 5 times each, at once
    with ThreadPoolExecutor(max_workers=12) as threads:
        digests = list(threads.map(lambda _: reader.get_manifest(pushed.tag).digest, range(60)))

    # Then every answer came, over no more than 2 connections
    assert set(digests) == {pushed.digest}
    address, port = anon_registry.host.rsplit(":", 1)
    plain = pool.connection_from_host(address, port=int(port), scheme="http")
    assert plain.num_connections <= 2


def test_ping_and_token_are_shared_across_repositories(
    fake: FakeTime, token_registry: Registry, push_image: Any, unique_repo: Any
) -> None:
    repository = unique_repo("shared")
    pushed = push_image(token_registry, repository)
    client = make_client(fake)
    credential = Credential(*token_registry.credentials)
    proxy = RegistryProxy(token_registry.host)
    try:
        token_registry.token_server.reset()
        for _ in range(3):
            repo(client, proxy.host, repository, fake, credentials=[credential]).get_manifest(
                pushed.tag
            )

        assert proxy.count("GET", "/v2/") - proxy.count("GET", f"/v2/{repository}") == 1
        assert len(token_registry.token_server.token_requests()) == 1
        assert proxy.count("GET", "/manifests/") == 3
    finally:
        proxy.stop()


def test_read_timeouts_are_retried_then_reported(
    fake: FakeTime, anon_registry: Registry, push_image: Any
) -> None:
    pushed = push_image(anon_registry)
    slow = RegistryProxy(anon_registry.host, delay=1.0)
    transport = Transport(
        urllib3.PoolManager(),
        AddressPolicy(allow_private=True),
        connect_timeout=1,
        read_timeout=0.2,
        retry=RetryPolicy(max_attempts=2, sleeper=fake.sleep, jitter=lambda: 0.5),
    )
    try:
        with pytest.raises(UnavailableError, match="timed out"):
            RegistryClient(transport).repository(
                slow.host,
                pushed.repository,
                [],
                insecure=False,
                deadline=Deadline(fake.now + 20, fake.clock),
            ).get_manifest(pushed.tag)
    finally:
        slow.stop()

    assert fake.sleeps == [0.25]


# --- a budget running out mid-answer -----------------------------------------------

BUDGET = 1.5
MANIFEST = (
    b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    b'"config":{},"layers":[]}'
)
SLOW_MANIFEST = {
    "headers": Trickle(headers={"Content-Type": "application/json"}, body=MANIFEST),
    "body": Trickle(headers={"Content-Type": "application/json"}, body=MANIFEST, start="body"),
}


def manifest_route(answer: Trickle) -> Route:
    return lambda method, path: answer if "/manifests/" in path else None


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
@pytest.mark.parametrize("part", list(SLOW_MANIFEST), ids=[f"trickled-{p}" for p in SLOW_MANIFEST])
def test_a_trickled_answer_is_cut_off_at_the_deadline(
    fake: FakeTime, hostile_registry: Callable[..., HostileRegistry], part: str, tls: bool
) -> None:
    # Given a registry (plain or TLS) sending the manifest's headers or body a byte
    # a second, for over a minute, and a request with a 1.5 s budget
    trickle = SLOW_MANIFEST[part]
    assert trickle.seconds() >= 60
    server = hostile_registry(manifest_route(trickle), tls=tls)
    client = make_client(fake).repository(
        server.host, "hostile/app", [], insecure=tls, deadline=Deadline.after(BUDGET)
    )

    # When the manifest is fetched
    started = time.monotonic()
    with pytest.raises(UnavailableError) as caught:
        client.get_manifest("latest")
    elapsed = time.monotonic() - started

    # Then it fails as timed out once the budget is spent, not when the trickle ends,
    # and the connection given up on is closed (the server stops trickling)
    assert str(caught.value) == (
        f"timed out reading from {server.host}: the import's time budget ran out"
    )
    assert elapsed < 10
    assert fake.sleeps == []
    assert server.wait_idle(timeout=5)


def test_a_trickling_registry_fails_the_image_not_the_import(
    fake: FakeTime, hostile_registry: Callable[[Route], HostileRegistry]
) -> None:
    # Given a registry trickling a manifest body, and an import with a 1.5 s budget
    server = hostile_registry(manifest_route(SLOW_MANIFEST["body"]))
    importer = Importer(make_client(fake), ImportOptions())
    name = f"{server.host}/hostile/app:latest"
    spec = ImageStreamImportSpec.model_validate(
        {"images": [{"from": {"kind": "DockerImage", "name": name}}]}
    )

    # When the image is imported
    started = time.monotonic()
    references = SpecReferences(images=(reference.parse(name),))
    fetcher = importer.fetcher(Keyring.empty(), Deadline.after(BUDGET))
    result = importer.import_spec(spec, references, fetcher)

    # Then the image's status is a failure saying the time budget ran out
    assert time.monotonic() - started < 10
    [image] = result.images
    assert image.image is None
    assert (image.status.status, image.status.reason, image.status.code) == (
        "Failure",
        "InternalError",
        500,
    )
    assert image.status.message == (
        f"Internal error occurred: {name}: timed out reading from {server.host}: "
        "the import's time budget ran out"
    )

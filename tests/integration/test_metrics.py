"""The metrics each path emits, read back from the EMF documents the real handlers print.

The api, worker and scheduler functions run as Lambda loads them, against
real registries (a counting proxy in front when throttling is wanted) and
moto; stdout is captured and every EMF document on it is checked and summed
(``tests.support.emf``). Count metrics are compared whole, so a path that
emits one metric too many fails as surely as one that emits too few.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from devserver.consumers import drain
from devserver.resources import CreatedResources
from imagestreams.adapters.jobs_store import DynamoJobStore
from ops.dead_letters import Stack, show
from testkit.api import Api, FakeContext, image_spec, import_body, load_function
from testkit.events import load_event
from testkit.images import repush_tag
from testkit.proxy import Fault, RegistryProxy
from testkit.registry import Registry
from tests.support.emf import Emitted, read_emf

THROTTLED = Fault(429, headers={"Retry-After": "0"})


@pytest.fixture
def proxy(anon_registry: Registry) -> Iterator[RegistryProxy]:
    """A counting proxy in front of the anonymous registry, faultless until told."""
    front = RegistryProxy(anon_registry.host)
    yield front
    front.stop()


@pytest.fixture
def emf(capsys: pytest.CaptureFixture[str]) -> Callable[[], Emitted]:
    """What was printed since the last call, read as EMF."""

    def read() -> Emitted:
        return read_emf(capsys.readouterr().out)

    return read


def throttle_manifests(times: int) -> Callable[[str, str, int], Fault | None]:
    """A proxy rule: the first ``times`` manifest requests, whichever, answer 429."""
    seen = itertools.count(1)

    def rule(method: str, path: str, nth: int) -> Fault | None:
        return THROTTLED if "/manifests/" in path and next(seen) <= times else None

    return rule


# --- one image, through the api function -------------------------------------------


@dataclass(frozen=True)
class ImagePath:
    """A single-image POST and the count metrics it must emit (latencies aside)."""

    id: str
    counts: dict[str, float]
    tag: str = "v1"
    throttled: int = 0
    warm: bool = False
    settings: dict[str, str] = field(default_factory=dict)


# Every exchange is named by kind. The registry is plain HTTP on loopback: the
# client tries https first (a TLS failure, one ping) and then http (a second).
PING = {"RegistryRequests{kind=ping}": 2}
COLD = {
    **PING,
    "Imports{operation=import}": 1,
    "TagsImported{operation=import}": 1,
    "CacheMisses": 1,
    # A tag new to the stream is resolved by its manifest GET: no HEAD first.
    "RegistryRequests{kind=manifest-get}": 1,
    "RegistryRequests{kind=blob-get}": 1,
}

IMAGE_PATHS = [
    ImagePath("cold import", COLD),
    ImagePath(
        "warm re-import",
        {
            "Imports{operation=import}": 1,
            "TagsImported{operation=import}": 1,
            "CacheHits": 1,
            # Not tagged into a stream: its manifest GET, then the cache.
            "RegistryRequests{kind=manifest-get}": 1,
        },
        warm=True,
    ),
    ImagePath(
        "failed tag",
        {
            **PING,
            "Imports{operation=import}": 1,
            "TagsFailed{operation=import,reason=NotFound}": 1,
            "RegistryRequests{kind=manifest-get}": 1,
        },
        tag="missing",
    ),
    ImagePath(
        "throttled, then served",
        {
            **COLD,
            "RegistryThrottles{host=PROXY}": 2,
            "RegistryRetries{host=PROXY}": 2,
        },
        throttled=2,
    ),
    ImagePath(
        "throttled past its retries",
        {
            **PING,
            "Imports{operation=import}": 1,
            "TagsFailed{operation=import,reason=TooManyRequests}": 1,
            "RegistryRequests{kind=manifest-get}": 1,
            "RegistryThrottles{host=PROXY}": 3,
            "RegistryRetries{host=PROXY}": 2,
        },
        throttled=10,
        settings={"REGISTRY_MAX_ATTEMPTS": "3"},
    ),
]


@pytest.mark.parametrize("path", IMAGE_PATHS, ids=[p.id for p in IMAGE_PATHS])
def test_an_image_import_emits_its_metrics(
    path: ImagePath,
    api_environment: dict[str, str],
    proxy: RegistryProxy,
    push_image: Any,
    anon_registry: Registry,
    emf: Callable[[], Emitted],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an image behind the proxy, throttled as the path says
    for name, value in path.settings.items():
        monkeypatch.setenv(name, value)
    pushed = push_image(anon_registry, tag="v1", via="api")
    reference = f"{proxy.host}/{pushed.repository}:{path.tag}"
    api = Api()
    if path.warm:
        assert api.post_import("demo", import_body(image_spec(reference))).status == 201
    proxy.rules.append(throttle_manifests(path.throttled))
    emf()

    # When it is imported
    reply = api.post_import("demo", import_body(image_spec(reference)))

    # Then the metrics say what happened, and every exchange has a latency
    assert reply.status == 201, reply.body
    emitted = emf()
    expected = {key.replace("PROXY", proxy.host): value for key, value in path.counts.items()}
    assert counts(emitted) == expected
    for kind in ("ping", "manifest-head", "manifest-get", "blob-get"):
        requests = emitted.total("RegistryRequests", kind=kind)
        assert len(emitted.samples("RegistryLatency", kind=kind)) == requests
    assert all(ms >= 0 for ms in emitted.samples("RegistryLatency"))


def counts(emitted: Emitted) -> dict[str, float]:
    """The Count metrics of ``emitted`` (latencies and durations are not counts)."""
    return {
        key: value
        for key, value in emitted.counts().items()
        if not key.startswith(("RegistryLatency", "JobDuration"))
    }


def test_registry_hosts_beyond_the_first_five_count_as_other(
    api_environment: dict[str, str],
    anon_registry: Registry,
    push_image: Any,
    emf: Callable[[], Emitted],
) -> None:
    # Given seven proxies, each throttling its first manifest request once
    pushed = push_image(anon_registry, tag="v1", via="api")
    proxies = [RegistryProxy(anon_registry.host) for _ in range(7)]
    try:
        for front in proxies:
            front.rules.append(throttle_manifests(1))
        images = [
            image_spec(f"{p.host}/{pushed.repository}:v1", to={"name": f"t{i}"})
            for i, p in enumerate(proxies)
        ]
        emf()

        # When one request imports through all of them
        reply = Api().post_import("demo", import_body(*images))
    finally:
        for front in proxies:
            front.stop()

    # Then five hosts are named and the other two share one series
    assert reply.status == 201, reply.body
    emitted = emf()
    hosts = {dict(dims)["host"] for name, dims in emitted.values if name == "RegistryThrottles"}
    assert len(hosts) == 6
    assert "other" in hosts
    assert emitted.total("RegistryThrottles", host="other") == 2
    assert emitted.total("RegistryThrottles") == 7


# --- a repository fanned out to the worker ---------------------------------------------


def repository_import(name: str, stream: str) -> dict[str, Any]:
    return {
        "kind": "ImageStreamImport",
        "apiVersion": "image.openshift.io/v1",
        "metadata": {"name": stream},
        "spec": {"import": True, "repository": {"from": {"kind": "DockerImage", "name": name}}},
    }


def drain_worker(environment: dict[str, str]) -> Any:
    worker = load_function("worker")
    return drain(
        environment["IMPORT_QUEUE_URL"],
        lambda event: worker.lambda_handler(event, FakeContext(120_000)),
        timeout=300,
    )


@pytest.fixture
def fanout(api_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A short inline budget (0.5 s), so a repository 200 ms away fans out to import jobs."""
    monkeypatch.setenv("IMPORT_TIME_BUDGET", "2")
    monkeypatch.setenv("INLINE_FRACTION", "0.25")
    monkeypatch.setenv("IMPORT_PARALLELISM", "32")
    return api_environment


def test_a_fanned_out_job_counts_its_chunks_and_completion(
    fanout: dict[str, str], anon_registry: Registry, push_tags: Any, emf: Callable[[], Emitted]
) -> None:
    # Given a repository of 80 tags 200 ms away: starting them all takes three
    # rounds of 32 requests, more than the inline budget
    pushed = push_tags(anon_registry, 80)
    proxy = RegistryProxy(anon_registry.host, delay=0.2)
    emf()

    # When it is imported: the api answers 202, the worker drains the queue
    try:
        reply = Api().post_import(
            "demo", repository_import(f"{proxy.host}/{pushed[0].repository}", "jobs")
        )
        assert reply.status == 202, reply.body
        inline = int(reply.body["metadata"]["annotations"]["imagestreams.io/import-tags-done"])
        api = emf()
        report = drain_worker(fanout)
    finally:
        proxy.stop()
    assert report.empty, report
    worker = emf()

    # Then the api counts the job and what it imported inline
    assert api.total("Imports", operation="import") == 1
    assert api.total("JobsStarted") == 1
    assert api.total("TagsImported", operation="import") == inline
    assert api.total("TagsImported", operation="job") == 0
    # And the worker counts each chunk, the rest of the tags, and one completion
    assert worker.total("Imports", operation="job") == report.delivered
    assert worker.total("TagsImported", operation="job") == 80 - inline
    assert worker.total("TagsFailed") == 0
    assert worker.total("JobsCompleted") == 1
    (duration,) = worker.samples("JobDuration")
    assert 0 <= duration < 300
    assert worker.total("ChunksDeadLettered") == 0
    assert worker.total("CacheMisses") == 80 - inline


def test_a_chunk_failing_every_delivery_counts_as_dead_lettered(
    fanout: dict[str, str],
    template_resources: CreatedResources,
    anon_registry: Registry,
    push_tags: Any,
    proxy: RegistryProxy,
    emf: Callable[[], Emitted],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given five tags the registry always fails with 503, among twenty good ones
    monkeypatch.setenv("REGISTRY_MAX_ATTEMPTS", "1")
    bad = [f"bad-{i}" for i in range(5)]
    pushed = push_tags(anon_registry, [*bad, *(f"good-{i:02d}" for i in range(20))])
    proxy.rules.append(lambda method, path, nth: Fault(503) if "/manifests/bad-" in path else None)
    emf()

    # When the repository is imported and the queue drained
    reply = Api().post_import(
        "demo", repository_import(f"{proxy.host}/{pushed[0].repository}", "dlq")
    )
    assert reply.status == 202, reply.body
    drain_worker(fanout)
    emitted = emf()

    # Then the bad tags fail once each (on the last delivery), as outages, and their
    # chunk is dead-lettered; good tags of that chunk count on each of its deliveries
    assert emitted.total("TagsFailed") == 5
    assert emitted.total("TagsFailed", operation="job", reason="InternalError") == 5
    assert emitted.total("TagsImported") >= 20
    assert emitted.total("ChunksDeadLettered", operation="job") == 1
    assert emitted.total("JobsCompleted") == 1
    # And the dead-letter tool says the job completed, so a redrive would change nothing
    printed: list[str] = []
    dead_letters = Stack(
        boto3.client("sqs").get_queue_url(
            QueueName=template_resources.name("ImportDeadLetterQueue")
        )["QueueUrl"],
        fanout["IMPORT_QUEUE_URL"],
        fanout["STREAMS_TABLE"],
    )
    assert (
        show(
            dead_letters,
            boto3.client("sqs"),
            DynamoJobStore(dead_letters.streams_table),
            printed.append,
        )
        == 1
    )
    assert "job Complete (25 of 25 tags, 5 failed)" in printed[1]


# --- re-imports: the scheduler queues, the worker re-imports -----------------------------


def test_a_scheduled_re_import_counts_what_it_queued_and_changed(
    api_environment: dict[str, str],
    anon_registry: Registry,
    push_image: Any,
    unique_repo: Any,
    emf: Callable[[], Emitted],
) -> None:
    # Given a scheduled tag, re-pushed since it was imported
    repository = unique_repo("metrics")
    push_image(anon_registry, repository, "v1", via="api")
    body = import_body(
        image_spec(f"{anon_registry.host}/{repository}:v1", importPolicy={"scheduled": True}),
        name="sched",
    )
    body["spec"]["import"] = True
    assert Api().post_import("demo", body).status == 201
    repush_tag(anon_registry, repository, "v1")
    scheduler = load_function("scheduler")
    emf()

    # When the schedule runs and the worker re-imports, twice
    scheduler.lambda_handler(load_event("scheduled-reimport.json"), FakeContext(60_000))
    queued = emf()
    drain_worker(api_environment)
    changed = emf()
    scheduler.lambda_handler(load_event("scheduled-reimport.json"), FakeContext(60_000))
    drain_worker(api_environment)
    unchanged = emf()

    # Then the first re-import changed the tag, the second found it as it was
    assert counts(queued) == {"ReimportsQueued{trigger=schedule}": 1}
    assert changed.total("Imports", operation="reimport") == 1
    assert changed.total("TagsImported", operation="reimport") == 1
    assert changed.total("ReimportTagsChanged") == 1
    assert changed.total("CacheMisses") == 1
    assert unchanged.total("ReimportsQueued", trigger="schedule") == 1
    assert unchanged.total("TagsImported", operation="reimport") == 1
    assert unchanged.total("ReimportTagsChanged") == 0
    assert unchanged.total("CacheHits") == 1

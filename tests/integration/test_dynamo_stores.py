"""The DynamoDB stores (image cache, streams, import records) on tables built from template.yaml.

Tables come from the template through the ``api_environment`` fixture, and
the stores are given the table names the api function's settings hold, so
keys, names and environment cannot drift apart. moto stands in for DynamoDB.
How import records are laid out is tested in ``test_import_records.py``.
"""

from __future__ import annotations

import base64
import copy
import gzip
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from imagestreams.adapters.cache import DynamoImageCache
from imagestreams.adapters.imports_store import DynamoImportRecords
from imagestreams.adapters.streams_store import DynamoStreamStore
from imagestreams.config import Settings, load_settings
from imagestreams.errors import ConflictError, NotFoundRequestError, ServiceUnavailableError
from imagestreams.imports.session import CacheKey
from imagestreams.models import Image, TagReference
from imagestreams.streams import StreamMeta, TagMutation, TagState
from tests.support.dynamo_calls import Calls

TTL = 30 * 24 * 3600
T0 = 1_750_000_000.0
NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
CHECK = "openshift.io/image.dockerRepositoryCheck"


# --- fixtures and helpers ---------------------------------------------------------


@pytest.fixture
def settings(api_environment: dict[str, str]) -> Settings:
    """The api function's settings, naming the tables created from the template."""
    return load_settings(api_environment)


@pytest.fixture
def calls(aws: boto3.Session) -> Calls:
    return Calls(aws)


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class Unprocessed:
    """A client that leaves part of its first ``times`` batch requests unprocessed.

    ``progress=True`` processes the first half of the keys (as when a
    response reaches its size cap); ``False`` processes nothing (throttling).
    """

    def __init__(self, client: Any, *, times: int, progress: bool) -> None:
        self._client = client
        self.remaining = times
        self.progress = progress

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_get_item(self, RequestItems: dict[str, Any]) -> Any:
        if self.remaining <= 0:
            return self._client.batch_get_item(RequestItems=RequestItems)
        self.remaining -= 1
        ((table, request),) = RequestItems.items()
        keys = request["Keys"]
        cut = len(keys) // 2 if self.progress else 0
        if cut:
            response = self._client.batch_get_item(
                RequestItems={table: {**request, "Keys": keys[:cut]}}
            )
        else:
            response = {"Responses": {table: []}}
        response["UnprocessedKeys"] = {table: {**request, "Keys": keys[cut:]}}
        return response

    def batch_write_item(self, RequestItems: dict[str, Any]) -> Any:
        if self.remaining <= 0:
            return self._client.batch_write_item(RequestItems=RequestItems)
        self.remaining -= 1
        ((table, requests),) = RequestItems.items()
        cut = len(requests) // 2 if self.progress else 0
        if cut:
            self._client.batch_write_item(RequestItems={table: requests[:cut]})
        return {"UnprocessedItems": {table: requests[cut:]}}


def digest(n: int) -> str:
    return "sha256:" + f"{n:064x}"


SOURCE = "quay.io/ns/app"
ITEM_KEY = {"digest": {"S": digest(1)}, "source": {"S": SOURCE}}


def key(n: int, source: str = SOURCE) -> CacheKey:
    """The cache key of image ``n`` verified at ``source``."""
    return CacheKey(source, digest(n))


def image_doc(n: int, **extra: Any) -> Image:
    """Converted image ``n``, with sizes beyond a float's exact range."""
    return Image.model_validate(
        {
            "metadata": {"name": digest(n)},
            "dockerImageReference": f"quay.io/ns/app@{digest(n)}",
            "dockerImageMetadata": {"Size": 123456789012345678, "Architecture": "amd64"},
            "dockerImageLayers": [
                {"name": digest(n + 1), "size": 2**53 + 1, "mediaType": "application/x"}
            ],
            **extra,
        }
    )


def noise(size: int) -> str:
    """Text that does not compress well (base64 of random bytes)."""
    return base64.b64encode(os.urandom(size * 3 // 4)).decode()


def raw_item(session: boto3.Session, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
    item: dict[str, Any] | None = (
        session.client("dynamodb").get_item(TableName=table, Key=key).get("Item")
    )
    return item


def items_under(session: boto3.Session, table: str, pk: str) -> list[str]:
    """The sort keys stored under ``pk``."""
    client = session.client("dynamodb")
    keys: list[str] = []
    params: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": pk}},
    }
    while True:
        page = client.query(**params)
        keys += [item["sk"]["S"] for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return keys
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# --- image cache ------------------------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(settings: Settings, calls: Calls, clock: Clock) -> DynamoImageCache:
    return DynamoImageCache(
        settings.image_cache_table,
        ttl_seconds=settings.image_cache_ttl_days * 86400,
        client_factory=calls.factory,
        clock=clock,
        sleep=Sleeps(),
    )


def test_cache_constructs_no_client_until_used(settings: Settings) -> None:
    built: list[int] = []

    def factory() -> Any:
        built.append(1)
        raise AssertionError("no client may be built")

    DynamoImageCache(settings.image_cache_table, ttl_seconds=TTL, client_factory=factory)
    DynamoStreamStore(settings.streams_table, client_factory=factory)
    DynamoImportRecords(settings.streams_table, client_factory=factory)

    assert built == []


def test_without_a_table_the_cache_is_empty_and_the_stores_refuse_on_use() -> None:
    def factory() -> Any:
        raise AssertionError("no client may be built")

    cache = DynamoImageCache("", ttl_seconds=TTL, client_factory=factory)
    cache.put_many({key(1): image_doc(1)})
    assert cache.get_many([key(1)]) == {}
    with pytest.raises(ValueError, match="no table name"):
        DynamoStreamStore("", client_factory=factory).get_meta("team-a", "app")
    with pytest.raises(ValueError, match="no table name"):
        DynamoImportRecords("", client_factory=factory).load("team-a", "app")


def test_cache_round_trip_keeps_documents_and_exact_numbers(cache: DynamoImageCache) -> None:
    # Given
    entries = {key(n): image_doc(n) for n in range(3)}
    # When
    cache.put_many(entries)
    found = cache.get_many([key(0), key(1), key(1), key(2), key(99)])
    # Then
    assert found == entries
    layers = found[key(0)].docker_image_layers
    assert layers is not None
    assert layers[0].size == 2**53 + 1


def test_cache_stores_gzip_binary_with_ttl(
    cache: DynamoImageCache, settings: Settings, aws: boto3.Session
) -> None:
    cache.put_many({key(1): image_doc(1)})

    item = raw_item(aws, settings.image_cache_table, ITEM_KEY)

    assert item is not None
    assert item["doc"]["B"][:2] == b"\x1f\x8b"
    assert item["expiresAt"] == {"N": str(int(T0) + TTL)}


def test_cache_entries_are_bound_to_their_source_repository(cache: DynamoImageCache) -> None:
    # Given image 1 cached as verified at one repository
    cache.put_many({key(1): image_doc(1)})
    # When the same digest is asked for at another repository or registry
    found = cache.get_many([key(1, "evil.example/ns/app"), key(1, "quay.io/ns/other"), key(1)])
    # Then only the repository it came from gets it
    assert set(found) == {key(1)}


@pytest.mark.parametrize(
    ("elapsed", "hit"),
    [(0, True), (TTL - 1, True), (TTL, True), (TTL + 1, False), (10 * TTL, False)],
    ids=["fresh", "last-second", "expires-now", "expired", "long-expired"],
)
def test_cache_treats_expired_entries_as_misses(
    cache: DynamoImageCache, clock: Clock, elapsed: int, hit: bool
) -> None:
    cache.put_many({key(1): image_doc(1)})
    clock.now = T0 + elapsed

    found = cache.get_many([key(1)])

    assert (key(1) in found) is hit


@pytest.mark.parametrize(
    ("elapsed", "refreshed"),
    [(0, False), (TTL // 2 - 1, False), (TTL // 2 + 1, True), (TTL - 1, True)],
    ids=["fresh", "before-half-life", "after-half-life", "about-to-expire"],
)
def test_cache_refreshes_ttl_only_after_half_life(
    cache: DynamoImageCache,
    clock: Clock,
    calls: Calls,
    settings: Settings,
    aws: boto3.Session,
    elapsed: int,
    refreshed: bool,
) -> None:
    # Given an entry written at T0
    cache.put_many({key(1): image_doc(1)})
    calls.clear()
    clock.now = T0 + elapsed
    # When it is read
    assert key(1) in cache.get_many([key(1)])
    # Then it is rewritten only in the second half of its life
    item = raw_item(aws, settings.image_cache_table, ITEM_KEY)
    assert item is not None
    expected = int(T0 + elapsed) + TTL if refreshed else int(T0) + TTL
    assert item["expiresAt"] == {"N": str(expected)}
    assert len(calls.of("UpdateItem")) == (1 if refreshed else 0)


def test_cache_batches_hundreds_of_digests(cache: DynamoImageCache, calls: Calls) -> None:
    # Given 250 cached images
    entries = {key(n): image_doc(n) for n in range(250)}
    cache.put_many(entries)
    writes = calls.of("BatchWriteItem")
    calls.clear()
    # When 260 are asked for, with repeats
    wanted = [key(n) for n in range(260)] + [key(5), key(7)]
    found = cache.get_many(wanted)
    # Then every cached one is found, in requests of at most 100 keys
    reads = calls.of("BatchGetItem")
    assert found == entries
    assert [len(r["RequestItems"][cache._table]["Keys"]) for r in reads] == [100, 100, 60]
    assert len(writes) == 10
    assert all(len(w["RequestItems"][cache._table]) <= 25 for w in writes)


def test_cache_trims_raw_manifest_and_config_when_too_large(cache: DynamoImageCache) -> None:
    # Given an image whose raw manifest and config do not fit, and one whose do
    raw = {"dockerImageManifest": noise(300_000), "dockerImageConfig": noise(300_000)}
    small = {"dockerImageManifest": "{}", "dockerImageConfig": "{}"}
    # When both are cached
    cache.put_many({key(1): image_doc(1, **raw), key(3): image_doc(3, **small)})
    found = cache.get_many([key(1), key(3)])
    # Then the large one is cached without the raw strings, everything else intact
    assert found[key(1)] == image_doc(1)
    assert found[key(3)] == image_doc(3, **small)


def test_cache_skips_documents_too_large_even_when_trimmed(
    cache: DynamoImageCache, caplog: pytest.LogCaptureFixture
) -> None:
    secret_looking = noise(600_000)
    document = image_doc(1, dockerImageMetadata={"Config": {"Env": [f"BLOB={secret_looking}"]}})

    with caplog.at_level(logging.WARNING):
        cache.put_many({key(1): document, key(2): image_doc(2)})

    assert set(cache.get_many([key(1), key(2)])) == {key(2)}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.__dict__.get("digest") for r in warnings] == [digest(1)]
    assert secret_looking[:100] not in caplog.text


@pytest.mark.parametrize(
    "doc",
    [
        b"not gzip",
        gzip.compress(b"{not json"),
        gzip.compress(b"[1, 2]"),
        gzip.compress(b'{"metadata": "not an object"}'),
    ],
    ids=["not-gzip", "not-json", "not-an-object", "not-an-image"],
)
def test_an_entry_that_does_not_read_as_an_image_is_a_miss(
    cache: DynamoImageCache, settings: Settings, aws: boto3.Session, doc: bytes
) -> None:
    # Given entries for images 1 and 2, the first one damaged in the table
    cache.put_many({key(1): image_doc(1), key(2): image_doc(2)})
    aws.client("dynamodb").update_item(
        TableName=settings.image_cache_table,
        Key=ITEM_KEY,
        UpdateExpression="SET #doc = :doc",
        ExpressionAttributeNames={"#doc": "doc"},
        ExpressionAttributeValues={":doc": {"B": doc}},
    )
    # When both are read, then only the intact one is found
    assert cache.get_many([key(1), key(2)]) == {key(2): image_doc(2)}


@pytest.mark.parametrize("progress", [True, False], ids=["partial", "throttled"])
def test_cache_retries_unprocessed_keys_and_items(
    settings: Settings, aws: boto3.Session, progress: bool
) -> None:
    # Given a table that leaves part of each of the first three batches unprocessed
    flaky = Unprocessed(aws.client("dynamodb"), times=3, progress=progress)
    sleeps = Sleeps()
    cache = DynamoImageCache(
        settings.image_cache_table,
        ttl_seconds=TTL,
        client_factory=lambda: flaky,
        clock=Clock(),
        sleep=sleeps,
    )
    entries = {key(n): image_doc(n) for n in range(40)}
    # When
    cache.put_many(entries)
    flaky.remaining = 3
    found = cache.get_many(list(entries))
    # Then nothing is lost, and only requests that made no progress waited
    assert found == entries
    assert flaky.remaining == 0
    assert (len(sleeps.waits) > 0) is not progress


def test_cache_failures_read_as_misses(settings: Settings, aws: boto3.Session) -> None:
    flaky = Unprocessed(aws.client("dynamodb"), times=1000, progress=False)
    cache = DynamoImageCache(
        settings.image_cache_table, ttl_seconds=TTL, client_factory=lambda: flaky, sleep=Sleeps()
    )

    cache.put_many({key(1): image_doc(1)})
    assert cache.get_many([key(1)]) == {}

    missing = DynamoImageCache(
        "no-such-table", ttl_seconds=TTL, client_factory=lambda: aws.client("dynamodb")
    )
    missing.put_many({key(1): image_doc(1)})
    assert missing.get_many([key(1)]) == {}


# --- image streams ----------------------------------------------------------------


@pytest.fixture
def streams(settings: Settings, calls: Calls) -> DynamoStreamStore:
    return DynamoStreamStore(settings.streams_table, client_factory=calls.factory, sleep=Sleeps())


def annotated(tag: str, **annotations: str) -> TagState:
    """A tag state told apart by the annotations of its spec tag."""
    return TagState(tag, spec=TagReference(name=tag, annotations=annotations))


def annotations_of(state: TagState | None) -> dict[str, str]:
    """The annotations of ``state``'s spec tag (none for no state)."""
    if state is None or state.spec is None:
        return {}
    return dict(state.spec.annotations or {})


def begin(
    store: DynamoStreamStore,
    name: str = "app",
    *,
    namespace: str = "team-a",
    rv: str | None = None,
    uid: str | None = None,
    now: datetime = NOW,
    annotation: tuple[str, str] | None = (CHECK, "2025-06-01T12:00:00Z"),
) -> StreamMeta:
    return store.begin_import(
        namespace,
        name,
        expected_resource_version=rv,
        expected_uid=uid,
        now=now,
        annotation=annotation,
    )


def test_begin_import_creates_then_increments(streams: DynamoStreamStore) -> None:
    # When a stream is imported into twice
    first = begin(streams)
    later = datetime(2025, 6, 2, tzinfo=UTC)
    second = begin(streams, now=later, annotation=(CHECK, "2025-06-02T00:00:00Z"))
    # Then it was created once, each import took the next generation and a newer version
    assert (first.generation, second.generation) == (1, 2)
    assert 0 < int(first.resource_version) < int(second.resource_version)
    assert first.uid
    assert second.uid == first.uid
    assert second.creation_timestamp == NOW
    assert (second.namespace, second.name) == ("team-a", "app")
    assert second.annotations == {CHECK: "2025-06-02T00:00:00Z"}
    assert streams.get_meta("team-a", "app") == second


def test_begin_import_keeps_other_annotations_and_may_set_none(streams: DynamoStreamStore) -> None:
    begin(streams, annotation=("a.example.com/one", "1"))
    begin(streams, annotation=("b.example.com/two", "2"))
    meta = begin(streams, annotation=None)

    assert meta.generation == 3
    assert meta.annotations == {"a.example.com/one": "1", "b.example.com/two": "2"}


def test_begin_import_with_matching_preconditions(streams: DynamoStreamStore) -> None:
    created = begin(streams)

    meta = begin(streams, rv=created.resource_version, uid=created.uid)

    assert meta.generation == 2


@pytest.mark.parametrize("expected", ["1", "7", "not-a-number"], ids=["stale", "future", "garbage"])
def test_begin_import_with_another_resource_version_conflicts(
    streams: DynamoStreamStore, expected: str
) -> None:
    begin(streams)
    current = begin(streams).resource_version

    with pytest.raises(ConflictError) as raised:
        begin(streams, rv=expected)

    assert raised.value.code == 409
    assert raised.value.reason == "Conflict"
    assert raised.value.message == (
        'Operation cannot be fulfilled on imagestream.image.openshift.io "app": '
        f'the image stream was updated from "{expected}" to "{current}"'
    )
    assert streams.get_meta("team-a", "app") is not None
    assert streams.get_meta("team-a", "app").generation == 2  # type: ignore[union-attr]


# imagestreamimport/rest.go Create: a stream that exists with another uid is its own
# NotFound (resource "imagestream"); a missing one is the stream storage's ("imagestreams").
@pytest.mark.parametrize(
    ("exists", "rv", "uid", "resource"),
    [
        (True, None, "other-uid", "imagestream"),
        (False, "1", None, "imagestreams"),
        (False, None, "some-uid", "imagestreams"),
        (False, "not-a-number", None, "imagestreams"),
    ],
    ids=["uid-mismatch", "missing-with-rv", "missing-with-uid", "missing-garbage-rv"],
)
def test_begin_import_not_found(
    streams: DynamoStreamStore, exists: bool, rv: str | None, uid: str | None, resource: str
) -> None:
    if exists:
        begin(streams)

    with pytest.raises(NotFoundRequestError) as raised:
        begin(streams, rv=rv, uid=uid)

    assert raised.value.code == 404
    assert raised.value.reason == "NotFound"
    assert raised.value.message == f'{resource}.image.openshift.io "app" not found'
    assert (streams.get_meta("team-a", "app") is not None) is exists


def test_begin_import_checks_the_version_before_the_uid(streams: DynamoStreamStore) -> None:
    # imagestreamimport/rest.go Create: a stale resourceVersion is a Conflict before the uid
    # is looked at.
    current = begin(streams).resource_version

    with pytest.raises(ConflictError) as raised:
        begin(streams, rv="1", uid="other-uid")

    assert raised.value.message == (
        'Operation cannot be fulfilled on imagestream.image.openshift.io "app": '
        f'the image stream was updated from "1" to "{current}"'
    )


def test_empty_preconditions_are_none(streams: DynamoStreamStore) -> None:
    assert begin(streams, rv="", uid="").generation == 1


def test_concurrent_imports_get_distinct_generations_and_keep_every_tag(
    settings: Settings, aws: boto3.Session
) -> None:
    # Given one store shared by 20 threads, each importing its own tag
    store = DynamoStreamStore(settings.streams_table, client_factory=lambda: aws.client("dynamodb"))
    start = threading.Barrier(20)

    def import_tag(n: int) -> int:
        start.wait()
        meta = begin(store)
        store.update_tag(
            "team-a", "app", f"v{n}", lambda _: annotated(f"v{n}", generation=str(meta.generation))
        )
        return meta.generation

    # When they run at once
    with ThreadPoolExecutor(max_workers=20) as pool:
        generations = list(pool.map(import_tag, range(20)))
    # Then no generation is shared and no tag is lost
    assert sorted(generations) == list(range(1, 21))
    tags = store.get_tags("team-a", "app")
    assert set(tags) == {f"v{n}" for n in range(20)}
    assert store.get_meta("team-a", "app").generation == 20  # type: ignore[union-attr]


def test_concurrent_updates_of_one_tag_lose_nothing(settings: Settings, aws: boto3.Session) -> None:
    # Given 10 threads appending to the history of the same tag
    store = DynamoStreamStore(settings.streams_table, client_factory=lambda: aws.client("dynamodb"))
    start = threading.Barrier(10)

    def append(n: int) -> None:
        start.wait()

        def mutate(state: TagState | None) -> TagState:
            state = state or annotated("latest")
            assert state.spec is not None
            state.spec.annotations = {**annotations_of(state), str(n): "appended"}
            return state

        store.update_tag("team-a", "app", "latest", mutate)

    # When
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(append, range(10)))
    # Then every append is there, each written once
    state = store.get_tags("team-a", "app", ["latest"])["latest"]
    assert sorted(map(int, annotations_of(state))) == list(range(10))
    item = raw_item(
        aws,
        settings.streams_table,
        {"pk": {"S": "stream#team-a#app"}, "sk": {"S": "tag#latest"}},
    )
    assert item is not None
    assert item["version"] == {"N": "10"}


@pytest.mark.parametrize(
    "mutate",
    [lambda state: None, lambda state: state, copy.deepcopy],
    ids=["none", "same-object", "equal-copy"],
)
def test_update_tag_without_change_writes_nothing(
    streams: DynamoStreamStore, calls: Calls, mutate: TagMutation
) -> None:
    streams.update_tag("team-a", "app", "v1", lambda _: annotated("v1"))
    calls.clear()

    result = streams.update_tag("team-a", "app", "v1", mutate)

    assert result == annotated("v1")
    assert calls.of("PutItem") == []


def test_update_tag_on_a_new_tag_that_stays_absent(streams: DynamoStreamStore) -> None:
    assert streams.update_tag("team-a", "app", "v1", lambda state: state) is None
    assert streams.get_tags("team-a", "app") == {}


def test_update_tag_in_place_mutation_is_written(streams: DynamoStreamStore) -> None:
    streams.update_tag("team-a", "app", "v1", lambda _: annotated("v1"))

    def add(state: TagState | None) -> TagState | None:
        assert state is not None
        assert state.spec is not None
        assert state.spec.annotations is not None
        state.spec.annotations["x"] = "added"
        return state

    assert streams.update_tag("team-a", "app", "v1", add) == annotated("v1", x="added")
    assert streams.get_tags("team-a", "app") == {"v1": annotated("v1", x="added")}


def test_update_tag_gives_up_with_a_conflict(settings: Settings, aws: boto3.Session) -> None:
    # Given a tag that another writer changes between every read and write
    factory = lambda: aws.client("dynamodb")  # noqa: E731
    other = DynamoStreamStore(settings.streams_table, client_factory=factory)
    sleeps = Sleeps()
    store = DynamoStreamStore(
        settings.streams_table, client_factory=factory, sleep=sleeps, max_attempts=4
    )
    other.update_tag("team-a", "app", "v1", lambda _: annotated("v1", n="0"))

    def bump(state: TagState | None) -> TagState:
        return annotated("v1", n=str(int(annotations_of(state).get("n", "0")) + 1))

    def racing(state: TagState | None) -> TagState:
        other.update_tag("team-a", "app", "v1", bump)
        return annotated("v1", n="-1")

    # When / Then
    with pytest.raises(ConflictError) as raised:
        store.update_tag("team-a", "app", "v1", racing)
    assert "the object has been modified" in raised.value.message
    assert len(sleeps.waits) == 4
    assert other.get_tags("team-a", "app") == {"v1": annotated("v1", n="4")}


def test_get_tags_all_paged_or_by_name(streams: DynamoStreamStore, calls: Calls) -> None:
    # Given 150 tags of about 10 KB each: more than one 1 MB query page
    for n in range(150):
        tag = f"t{n:03d}"
        streams.update_tag(
            "team-a", "app", tag, lambda _, t=tag, n=n: annotated(t, n=str(n), pad=noise(10_000))
        )
    streams.update_tag("team-a", "other", "t000", lambda _: annotated("t000", other="true"))
    calls.clear()
    # When
    every = streams.get_tags("team-a", "app")
    queries = len(calls.of("Query"))
    named = streams.get_tags(
        "team-a", "app", [f"t{n:03d}" for n in range(120)] + ["absent", "t001"]
    )
    # Then
    assert list(every) == [f"t{n:03d}" for n in range(150)]
    assert [int(annotations_of(state)["n"]) for state in every.values()] == list(range(150))
    assert queries > 1
    assert set(named) == {f"t{n:03d}" for n in range(120)}
    assert [len(r["RequestItems"][streams._table]["Keys"]) for r in calls.of("BatchGetItem")] == [
        100,
        21,
    ]


def test_get_tags_gives_up_when_always_unprocessed(settings: Settings, aws: boto3.Session) -> None:
    flaky = Unprocessed(aws.client("dynamodb"), times=1000, progress=False)
    store = DynamoStreamStore(settings.streams_table, client_factory=lambda: flaky, sleep=Sleeps())

    with pytest.raises(ServiceUnavailableError):
        store.get_tags("team-a", "app", ["v1"])


def test_list_and_delete_streams(
    streams: DynamoStreamStore, settings: Settings, aws: boto3.Session
) -> None:
    # Given three streams in one namespace (one with 30 tags) and one in another
    for name in ("web", "app", "db"):
        begin(streams, name)
    begin(streams, "app", namespace="team-b")
    for n in range(30):
        streams.update_tag("team-a", "app", f"v{n}", lambda _, n=n: annotated(f"v{n}", n=str(n)))
    streams.update_tag("team-b", "app", "v1", lambda _: annotated("v1", n="1"))
    # When / Then
    assert [m.name for m in streams.list_meta("team-a")] == ["app", "db", "web"]
    assert streams.delete_stream("team-a", "app") is True
    assert streams.delete_stream("team-a", "app") is False
    assert streams.get_meta("team-a", "app") is None
    assert streams.get_tags("team-a", "app") == {}
    assert items_under(aws, settings.streams_table, "stream#team-a#app") == []
    assert [m.name for m in streams.list_meta("team-a")] == ["db", "web"]
    assert streams.get_tags("team-b", "app") == {"v1": annotated("v1", n="1")}
    assert streams.list_meta("team-c") == []


def _tagged_image(digest: str, manifest: str = "") -> Image:
    return Image.model_validate(
        {
            "metadata": {"name": digest},
            "dockerImageReference": f"registry.example.com/team/app@{digest}",
            "dockerImageManifest": manifest,
            "dockerImageLayers": [{"name": "sha256:" + "1" * 64, "size": 12, "mediaType": "x"}],
        }
    )


def test_tagged_images_are_kept_once_without_raw_manifests(
    streams: DynamoStreamStore, calls: Calls, settings: Settings, aws: boto3.Session
) -> None:
    # Given a stream
    begin(streams, "app")
    one, two = "sha256:" + "a" * 64, "sha256:" + "b" * 64

    # When images are kept for it, one of them twice
    streams.save_images("team-a", "app", [_tagged_image(one, manifest="{}")])
    calls.clear()
    streams.save_images("team-a", "app", [_tagged_image(one), _tagged_image(two)])

    # Then each reads back without its manifest, the second save wrote only the new one,
    # and they go with the stream
    kept = streams.get_image("team-a", "app", one)
    assert kept is not None
    assert kept.docker_image_manifest == ""
    assert kept.docker_image_layers == _tagged_image(one).docker_image_layers
    [write] = calls.of("BatchWriteItem")
    assert len(write["RequestItems"][settings.streams_table]) == 1
    assert streams.get_image("team-a", "app", "sha256:" + "c" * 64) is None
    assert streams.get_tags("team-a", "app") == {}
    streams.delete_stream("team-a", "app")
    assert items_under(aws, settings.streams_table, "stream#team-a#app") == []


def test_delete_tag_moves_the_stream_on(streams: DynamoStreamStore) -> None:
    # Given a stream with a spec tag and a status-only tag
    before = begin(streams, "app")
    streams.update_tag("team-a", "app", "v1", lambda _: annotated("v1", n="1"))
    streams.update_tag("team-a", "app", "v2", lambda _: TagState("v2"))

    # When both are deleted, and one again
    deleted = streams.delete_tag("team-a", "app", "v1")
    after_spec = streams.get_meta("team-a", "app")
    streams.delete_tag("team-a", "app", "v2")
    after_status = streams.get_meta("team-a", "app")

    # Then each went, the version moved on each time (versions are ordered, not
    # counted), the generation only for the spec tag
    assert deleted == annotated("v1", n="1")
    assert streams.delete_tag("team-a", "app", "v1") is None
    assert streams.get_tags("team-a", "app") == {}
    assert after_spec is not None
    assert after_status is not None
    # Each delete takes the next version of the ordered counter.
    assert int(after_spec.resource_version) > int(before.resource_version)
    assert after_spec.generation == before.generation + 1
    assert int(after_status.resource_version) > int(after_spec.resource_version)
    assert after_status.generation == before.generation + 1
    assert streams.delete_tag("team-a", "gone", "v1") is None


def test_deleted_tags_are_remembered_at_the_version_of_their_delete(
    streams: DynamoStreamStore,
) -> None:
    # Given a stream with three tags, another namespace's stream with one, and a version
    begin(streams, "app")
    for tag in ("v1", "v2", "v3"):
        streams.update_tag("team-a", "app", tag, lambda _, tag=tag: annotated(tag, n=tag))
    begin(streams, "app", namespace="team-b")
    streams.update_tag("team-b", "app", "v1", lambda _: annotated("v1", n="b"))
    meta = streams.get_meta("team-a", "app")
    assert meta is not None
    start = int(meta.resource_version)

    # When one tag is deleted, then the stream with the others, and the other namespace's
    streams.delete_tag("team-a", "app", "v1")
    alone = streams.get_meta("team-a", "app")
    streams.delete_stream("team-a", "app")
    streams.delete_stream("team-b", "app")
    end = streams.settled_version() + 10**9

    # Then each tag of team-a is remembered, with its last state and its stream then,
    # in version order; a range before the deletions names none
    deletions = streams.deleted_tags("team-a", start, end)
    assert [(d.meta.name, d.state) for d in deletions] == [
        ("app", annotated("v1", n="v1")),
        ("app", annotated("v2", n="v2")),
        ("app", annotated("v3", n="v3")),
    ]
    assert alone is not None
    assert deletions[0].meta.resource_version == alone.resource_version
    assert deletions[1].meta.resource_version == deletions[2].meta.resource_version
    assert int(deletions[1].meta.resource_version) > int(alone.resource_version)
    assert deletions[0].meta.uid == meta.uid
    assert streams.deleted_tags("team-a", 0, start) == []
    assert [d.state.name for d in streams.deleted_tags("team-b", start, end)] == ["v1"]
    # They are tombstones with a TTL, beside the stream's own; the tags themselves are gone
    assert streams.get_tags("team-a", "app") == {}


def test_recreated_stream_starts_over(streams: DynamoStreamStore) -> None:
    old = begin(streams)
    begin(streams)
    streams.delete_stream("team-a", "app")

    new = begin(streams)

    assert new.generation == 1
    assert new.uid != old.uid


# --- import records beside streams ------------------------------------------------


@pytest.fixture
def records(settings: Settings, calls: Calls) -> DynamoImportRecords:
    return DynamoImportRecords(settings.streams_table, client_factory=calls.factory, sleep=Sleeps())


def test_import_records_and_streams_share_the_table_without_colliding(
    records: DynamoImportRecords, streams: DynamoStreamStore
) -> None:
    begin(streams)
    streams.update_tag("team-a", "app", "v1", lambda _: annotated("v1", n="1"))
    records.save("team-a", "app", {"metadata": {"name": "app"}, "status": {"images": [{}]}})

    assert [m.name for m in streams.list_meta("team-a")] == ["app"]
    assert streams.get_tags("team-a", "app") == {"v1": annotated("v1", n="1")}
    assert streams.delete_stream("team-a", "app") is True
    assert records.load("team-a", "app") is not None


def test_batched_tag_updates_lose_nothing_under_contention(streams: DynamoStreamStore) -> None:
    # Given ten writers, each appending its mark to the same ten tags in one batch
    tags = [f"t{n}" for n in range(10)]

    def writer(mark: int) -> None:
        def marking(tag: str) -> TagMutation:
            return lambda state: annotated(tag, **annotations_of(state), **{str(mark): "marked"})

        streams.update_tags("team-a", "busy", {tag: marking(tag) for tag in tags})

    threads = [threading.Thread(target=writer, args=(mark,)) for mark in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Then every tag holds every mark exactly once
    stored = streams.get_tags("team-a", "busy")
    assert sorted(stored) == tags
    assert all(sorted(map(int, annotations_of(s))) == list(range(10)) for s in stored.values())


def test_batched_tag_updates_write_in_few_requests(
    streams: DynamoStreamStore, calls: Calls
) -> None:
    def put(tag: str) -> TagMutation:
        return lambda state: annotated(tag, value="1")

    calls.made.clear()
    streams.update_tags("team-a", "many", {f"t{n}": put(f"t{n}") for n in range(250)})

    operations = [name for name, _ in calls.made]
    assert operations.count("BatchGetItem") == 3
    assert operations.count("TransactWriteItems") == 3
    assert "PutItem" not in operations
    assert len(streams.get_tags("team-a", "many")) == 250


@pytest.mark.parametrize(
    ("between", "known"),
    [
        (None, True),
        ("another-tag-written", False),
        ("stream-begun-again", False),
        ("nothing-to-write", False),
    ],
    ids=[
        "alone-gives-the-new-version",
        "another-write-in-between",
        "another-import-in-between",
        "no-write-no-version",
    ],
)
def test_batched_tag_updates_tell_the_version_they_moved_the_stream_to_from_since(
    streams: DynamoStreamStore, between: str | None, known: bool
) -> None:
    # Given a stream begun for an import (and an existing tag), then maybe another
    # writer's change before the import writes its tags
    started = begin(streams)
    streams.update_tag("team-a", "app", "kept", lambda _: annotated("kept", n="1"))
    since = streams.get_meta("team-a", "app")
    assert since is not None
    if between == "another-tag-written":
        streams.update_tag("team-a", "app", "other", lambda _: annotated("other", n="1"))
    elif between == "stream-begun-again":
        begin(streams)
    mutation: TagMutation = (
        (lambda state: state)
        if between == "nothing-to-write"
        else (lambda state: annotated("kept", **{**annotations_of(state), "n": "2"}))
    )

    # When the import writes its tag, telling the version it last saw
    written = streams.update_tags("team-a", "app", {"kept": mutation}, since=since.resource_version)

    # Then the written state is told, and the stream's new version only when the
    # stream was still at that version: else it must be read
    after = streams.get_meta("team-a", "app")
    assert after is not None
    assert written.states == {"kept": streams.get_tags("team-a", "app")["kept"]}
    assert written.version == (after.resource_version if known else None)
    assert int(after.resource_version) > int(started.resource_version)

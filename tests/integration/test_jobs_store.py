"""The import job store on the streams table built from template.yaml, moto for DynamoDB.

The table name comes from the functions' environments (api and worker both
use the store), so keys, names and environment cannot drift apart. The
counters must stay exact under what SQS does to chunks: deliver them again,
deliver them twice at once, and deliver them to many workers together.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devserver.resources import CreatedResources
from imagestreams.adapters.jobs_store import JOB_TTL_SECONDS, DynamoJobStore
from imagestreams.config import load_settings
from imagestreams.errors import ConflictError, NotFoundRequestError, ServiceUnavailableError
from imagestreams.imports.jobs import COMPLETE, RUNNING, Job
from imagestreams.models import Image, ImageImportStatus, ImageLayer, ObjectMeta, Status
from tests.support.dynamo_calls import Calls

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


# --- fixtures and helpers ---------------------------------------------------------


@pytest.fixture
def table(template_resources: CreatedResources) -> str:
    """The streams table, as both functions' settings name it."""
    names = {
        load_settings(template_resources.environment(function_id)).streams_table
        for function_id in ("ApiFunction", "WorkerFunction")
    }
    assert names == {template_resources.name("StreamsTable")}
    return names.pop()


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def calls(aws: boto3.Session) -> Calls:
    return Calls(aws)


@pytest.fixture
def store(table: str, calls: Calls) -> DynamoJobStore:
    return DynamoJobStore(table, client_factory=calls.factory, sleep=Sleeps())


def ok(tag: str, blob: str = "") -> ImageImportStatus:
    """A tag imported successfully; ``blob`` is its raw manifest (to make it large)."""
    return ImageImportStatus(
        tag=tag,
        status=Status(status="Success"),
        image=Image(
            metadata=ObjectMeta(name=f"sha256:{tag:0>64}"),
            docker_image_layers=[ImageLayer(name=f"sha256:{tag:1>64}", size=2**53 + 1)],
            docker_image_manifest=blob,
        ),
    )


def failed(tag: str) -> ImageImportStatus:
    """A tag whose import failed."""
    return ImageImportStatus(
        tag=tag, status=Status(status="Failure", reason="NotFound", code=404, message="gone")
    )


def stored(results: Mapping[str, ImageImportStatus]) -> dict[str, dict[str, Any]]:
    """Then: ``results`` as the store gives them back, the JSON they were recorded as."""
    return {tag: result.to_json_dict() for tag, result in results.items()}


def succeeded(result: Mapping[str, Any]) -> bool:
    """Whether a stored result reports success."""
    return bool(result["status"]["status"] == "Success")


def make_job(job_id: str = "job-1", total: int = 10, tags: int | None = None) -> Job:
    names = [f"t{n:05d}" for n in range(tags if tags is not None else total)]
    return Job(
        job_id=job_id,
        namespace="team-a",
        name="app",
        total=total,
        created=NOW,
        context={"spec": {"from": {"kind": "DockerImage", "name": "quay.io/a/b"}}, "tags": names},
    )


def statuses(
    *tags: str, failing: Callable[[str], bool] = lambda tag: False
) -> dict[str, ImageImportStatus]:
    return {tag: failed(tag) if failing(tag) else ok(tag) for tag in tags}


def noise(size: int) -> str:
    """Text that does not compress well."""
    return base64.b64encode(os.urandom(size * 3 // 4)).decode()


# --- create and get -----------------------------------------------------------------


def test_store_builds_no_client_until_used(table: str) -> None:
    def factory() -> Any:
        raise AssertionError("no client may be built")

    DynamoJobStore(table, client_factory=factory)
    with pytest.raises(ValueError, match="no table name"):
        DynamoJobStore("", client_factory=factory).get("job-1")


@pytest.mark.parametrize(
    ("results", "done", "failures"),
    [
        ({}, 0, 0),
        (statuses("a", "b", "c"), 3, 0),
        ({"a": ok("a"), "b": failed("b"), "c": failed("c")}, 3, 2),
        ({"a": ImageImportStatus(tag="a")}, 1, 1),  # no status at all is no success
    ],
    ids=["nothing-inline", "all-succeeded", "some-failed", "no-status"],
)
def test_create_counts_what_finished_inline(
    store: DynamoJobStore, results: dict[str, ImageImportStatus], done: int, failures: int
) -> None:
    # Given a job with some tags finished before it was queued
    job = make_job(total=10)
    # When it is created
    store.create(job, results)
    # Then it reads back with counters from the results, whatever the job said
    found = store.get("job-1")
    assert found == Job(
        job_id="job-1",
        namespace="team-a",
        name="app",
        total=10,
        done=done,
        failed=failures,
        state=RUNNING,
        created=NOW,
        context=job.context,
    )
    assert store.results("job-1") == stored(results)


def test_create_keeps_a_context_with_thousands_of_tags(store: DynamoJobStore, table: str) -> None:
    job = make_job(total=5000)

    store.create(job, {})

    found = store.get("job-1")
    assert found is not None
    assert found.context["tags"] == job.context["tags"]
    assert found.created == NOW


def test_create_twice_conflicts(store: DynamoJobStore) -> None:
    store.create(make_job(), {})

    with pytest.raises(ConflictError, match="already exists"):
        store.create(make_job(), {})


def test_get_of_an_unknown_job_is_none(store: DynamoJobStore) -> None:
    assert store.get("nope") is None


def test_create_refuses_a_result_larger_than_an_item(store: DynamoJobStore) -> None:
    with pytest.raises(ValueError, match="more than one item holds"):
        store.create(make_job(), {"a": ok("a", blob=noise(600 * 1024))})
    assert store.get("job-1") is None


# --- record -------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordCase:
    inline: Mapping[str, ImageImportStatus]
    deliveries: tuple[Mapping[str, ImageImportStatus], ...]
    done: int
    failed: int
    kept: Mapping[str, str]  # tag -> status.status as stored


RECORD_CASES = {
    "new-tags": RecordCase(
        inline={},
        deliveries=({"a": ok("a"), "b": failed("b")},),
        done=2,
        failed=1,
        kept={"a": "Success", "b": "Failure"},
    ),
    "redelivered-chunk": RecordCase(
        inline={},
        deliveries=({"a": ok("a"), "b": failed("b")},) * 3,
        done=2,
        failed=1,
        kept={"a": "Success", "b": "Failure"},
    ),
    "tags-finished-inline": RecordCase(
        inline={"a": ok("a")},
        deliveries=({"a": failed("a"), "b": ok("b")},),
        done=2,
        failed=0,
        kept={"a": "Success", "b": "Success"},
    ),
    "first-result-wins": RecordCase(
        inline={},
        deliveries=({"a": failed("a")}, {"a": ok("a")}),
        done=1,
        failed=1,
        kept={"a": "Failure"},
    ),
    "partial-overlap": RecordCase(
        inline={},
        deliveries=(statuses("a", "b", "c"), statuses("b", "c", "d", "e")),
        done=5,
        failed=0,
        kept=dict.fromkeys("abcde", "Success"),
    ),
    "nothing": RecordCase(inline={}, deliveries=({},), done=0, failed=0, kept={}),
}


@pytest.mark.parametrize("case", RECORD_CASES.values(), ids=RECORD_CASES.keys())
def test_record_counts_each_tag_once(store: DynamoJobStore, case: RecordCase) -> None:
    # Given
    store.create(make_job(total=10), case.inline)
    # When every delivery is recorded
    jobs = [store.record("job-1", delivery) for delivery in case.deliveries]
    # Then the counters count tags, not deliveries, and the first result stays
    assert (jobs[-1].done, jobs[-1].failed) == (case.done, case.failed)
    assert jobs[-1] == store.get("job-1")
    kept = {tag: result["status"]["status"] for tag, result in store.results("job-1").items()}
    assert kept == case.kept


def test_record_hundreds_of_tags_in_transactions_of_at_most_100_actions(
    store: DynamoJobStore, calls: Calls
) -> None:
    # Given
    store.create(make_job(total=250), {})
    tags = [f"t{n:05d}" for n in range(250)]
    # When all of them are recorded at once, then again
    first = store.record("job-1", statuses(*tags, failing=lambda t: t.endswith("7")))
    transactions = calls.count("TransactWriteItems")
    again = store.record("job-1", statuses(*tags))
    # Then three transactions (99 + 99 + 52 results) counted them once
    assert transactions == 3
    assert (first.done, first.failed) == (250, 25)
    assert (again.done, again.failed) == (250, 25)
    assert first.finished


def test_record_splits_transactions_by_size(store: DynamoJobStore, calls: Calls) -> None:
    # Given results of about 100 KB each, incompressible
    store.create(make_job(total=60), {})
    results = {f"t{n}": ok(f"t{n}", blob=noise(100 * 1024)) for n in range(60)}
    # When
    job = store.record("job-1", results)
    # Then no transaction neared DynamoDB's 4 MB, and every result is there
    assert calls.count("TransactWriteItems") >= 2
    assert job.done == 60
    assert store.results("job-1") == stored(results)


def test_record_for_an_unknown_job_writes_nothing(store: DynamoJobStore, table: str) -> None:
    with pytest.raises(NotFoundRequestError, match="job-9"):
        store.record("job-9", statuses("a", "b"))

    assert store.results("job-9") == {}
    assert store.get("job-9") is None


class CancelsFirst:
    """A client whose first ``times`` transactions are cancelled as given."""

    def __init__(self, client: Any, *, times: int, reason: str | None) -> None:
        self._client = client
        self.remaining = times
        self.reason = reason
        self.sizes: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, TransactItems: list[Any]) -> Any:
        self.sizes.append(len(TransactItems))
        if self.remaining <= 0:
            return self._client.transact_write_items(TransactItems=TransactItems)
        self.remaining -= 1
        response: dict[str, Any] = {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}
        }
        if self.reason is not None:
            response["CancellationReasons"] = [{"Code": self.reason}] * len(TransactItems)
        raise ClientError(response, "TransactWriteItems")  # type: ignore[arg-type]


def test_record_retries_transactions_that_conflict(table: str, aws: boto3.Session) -> None:
    # Given a job whose meta item two transactions fight over
    sleeps = Sleeps()
    client = CancelsFirst(aws.client("dynamodb"), times=3, reason="TransactionConflict")
    store = DynamoJobStore(table, client_factory=lambda: client, sleep=sleeps)
    store.create(make_job(), {})
    # When
    job = store.record("job-1", statuses("a", "b"))
    # Then it waited and tried again until the transaction went through
    assert job.done == 2
    assert len(sleeps.waits) == 3
    assert client.sizes == [3, 3, 3, 3]


def test_record_gives_up_when_conflicts_persist(table: str, aws: boto3.Session) -> None:
    client = CancelsFirst(aws.client("dynamodb"), times=1000, reason="TransactionConflict")
    store = DynamoJobStore(table, client_factory=lambda: client, sleep=Sleeps())
    store.create(make_job(), {})

    with pytest.raises(ServiceUnavailableError, match="too busy"):
        store.record("job-1", statuses("a"))
    assert store.get("job-1").done == 0  # type: ignore[union-attr]


def test_record_without_cancellation_reasons_goes_tag_by_tag(
    table: str, aws: boto3.Session
) -> None:
    # Given a client that cancels the first transaction without saying why
    client = CancelsFirst(aws.client("dynamodb"), times=1, reason=None)
    store = DynamoJobStore(table, client_factory=lambda: client, sleep=Sleeps())
    store.create(make_job(), {"a": ok("a")})
    # When
    job = store.record("job-1", statuses("a", "b", "c"))
    # Then each tag was tried on its own; the one recorded before is skipped
    assert client.sizes == [4, 2, 2, 2]
    assert (job.done, job.failed) == (3, 0)


def test_record_raises_reasons_it_cannot_get_past(table: str, aws: boto3.Session) -> None:
    client = CancelsFirst(aws.client("dynamodb"), times=1, reason="ValidationError")
    store = DynamoJobStore(table, client_factory=lambda: client, sleep=Sleeps())
    store.create(make_job(), {})

    with pytest.raises(ClientError):
        store.record("job-1", statuses("a"))


# --- complete, results, delete ------------------------------------------------------


@pytest.mark.parametrize(
    ("recorded", "expected"),
    [(0, False), (2, False), (3, True)],
    ids=["none-done", "some-done", "all-done"],
)
def test_complete_only_when_every_tag_is_done(
    store: DynamoJobStore, recorded: int, expected: bool
) -> None:
    store.create(make_job(total=3), {})
    store.record("job-1", statuses(*"abc"[:recorded]))

    assert store.complete("job-1") is expected
    assert store.get("job-1").state == (COMPLETE if expected else RUNNING)  # type: ignore[union-attr]


def test_complete_happens_once(store: DynamoJobStore) -> None:
    store.create(make_job(total=1), {"a": ok("a")})

    assert store.complete("job-1") is True
    assert store.complete("job-1") is False
    assert store.complete("unknown") is False


def test_results_are_read_page_by_page(store: DynamoJobStore, calls: Calls) -> None:
    # Given more than a Query page (1 MB) of results
    store.create(make_job(total=30), {})
    results = {f"t{n:02d}": ok(f"t{n:02d}", blob=noise(60 * 1024)) for n in range(30)}
    store.record("job-1", results)
    before = calls.count("Query")
    # When
    found = store.results("job-1")
    # Then
    assert calls.count("Query") - before >= 2
    assert found == stored(results)
    assert list(found) == sorted(results)
    assert all(succeeded(result) for result in found.values())


def test_delete_removes_the_job_and_its_results(store: DynamoJobStore) -> None:
    store.create(make_job(total=40), statuses(*(f"t{n}" for n in range(30))))

    store.delete("job-1")

    assert store.get("job-1") is None
    assert store.results("job-1") == {}
    with pytest.raises(NotFoundRequestError):
        store.record("job-1", statuses("late"))


def test_jobs_do_not_see_each_other(store: DynamoJobStore) -> None:
    store.create(make_job("job-1", total=2), {"a": ok("a")})
    store.create(make_job("job-10", total=2), {"b": failed("b")})

    store.record("job-1", statuses("b"))

    assert set(store.results("job-1")) == {"a", "b"}
    assert set(store.results("job-10")) == {"b"}
    assert store.get("job-10").done == 1  # type: ignore[union-attr]


# --- concurrency ---------------------------------------------------------------------


def test_concurrent_overlapping_chunks_count_every_tag_exactly_once(
    table: str, aws: boto3.Session
) -> None:
    # Given 200 tags and 20 workers whose chunks overlap: each worker records
    # 30 tags, 20 of them also recorded by its neighbours
    store = DynamoJobStore(table, client_factory=lambda: aws.client("dynamodb"))
    tags = [f"t{n:03d}" for n in range(200)]
    store.create(make_job(total=200), statuses(*tags[:5]))
    failing = {tag for n, tag in enumerate(tags) if n % 7 == 0}
    start = threading.Barrier(20)

    def work(worker: int) -> Job:
        chunk = tags[worker * 10 : worker * 10 + 30]
        start.wait()
        return store.record("job-1", statuses(*chunk, failing=lambda t: t in failing))

    # When they all record at once
    with ThreadPoolExecutor(max_workers=20) as pool:
        seen = list(pool.map(work, range(20)))
    # Then each tag is counted once, with its first result
    job = store.get("job-1")
    assert job is not None
    results = store.results("job-1")
    assert set(results) == set(tags)
    assert job.done == 200
    assert job.failed == sum(1 for result in results.values() if not succeeded(result))
    assert job.failed == len(failing - set(tags[:5]))
    assert max(j.done for j in seen) == 200


def test_concurrent_completion_has_exactly_one_winner(table: str, aws: boto3.Session) -> None:
    # Given a finished job and 10 workers that all saw its last tag done
    store = DynamoJobStore(table, client_factory=lambda: aws.client("dynamodb"))
    store.create(make_job(total=3), statuses("a", "b", "c"))
    start = threading.Barrier(10)

    def finish(_: int) -> bool:
        start.wait()
        return store.complete("job-1")

    # When they all try to complete it
    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(finish, range(10)))
    # Then exactly one of them did
    assert outcomes.count(True) == 1
    assert store.get("job-1").state == COMPLETE  # type: ignore[union-attr]


def test_every_job_item_expires_a_week_ahead(store: DynamoJobStore, table: str) -> None:
    # Given a job created with one result and recorded with another
    store.create(make_job(total=2), {"a": ok("a")})
    store.record("job-1", {"b": ok("b")})

    # Then each of its items carries a TTL about a week ahead
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    job_items = [item for item in items if item["pk"]["S"] == "job#job-1"]
    assert len(job_items) == 3
    now = time.time()
    for item in job_items:
        assert now + JOB_TTL_SECONDS - 60 < int(item["expiresAt"]["N"]) <= now + JOB_TTL_SECONDS + 1

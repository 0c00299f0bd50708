"""Import jobs in the streams table: one meta item, one item per finished tag.

This adapter owns the job items of the streams table and the rules that keep
their counters exact while chunks are delivered more than once:

- meta: ``pk = job#<jobId>``, ``sk = meta``; ``total``, ``done`` and
  ``failed`` (N), ``state`` (S: ``Running`` or ``Complete``), ``created``
  (S, ISO 8601), ``namespace`` and ``name`` (S), and ``context`` (B): the
  gzip'd JSON of :attr:`~imagestreams.imports.jobs.Job.context`, which may list
  thousands of tags;
- result: ``pk = job#<jobId>``, ``sk = tag#<tag>``; ``doc`` (B) is the gzip'd
  OpenShift JSON of the tag's ``ImageImportStatus``, ``success`` (BOOL)
  whether its status is ``Success``.

The first result recorded for a tag wins. A result item is only ever put
with ``attribute_not_exists(sk)``, in the same ``TransactWriteItems`` as the
``ADD`` to the meta item's counters, so a tag is counted exactly once however
often its chunk is delivered, and concurrent workers never lose an increment.
Completion is one conditional update, so exactly one caller finishes a job.

Results come in as ``ImageImportStatus`` models and go out as the JSON they
were stored as, which the finished import document holds verbatim. Logs
name jobs and counts, never item contents.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from imagestreams import errors
from imagestreams.adapters.dynamo import (
    Backoff,
    ClientFactory,
    Item,
    Sleeper,
    TableStore,
    batch_write,
    compress_json,
    decompress_json,
    error_code,
    is_condition_failure,
    query_all,
)
from imagestreams.errors import ServiceUnavailableError
from imagestreams.imports.jobs import COMPLETE, RUNNING, Job
from imagestreams.models import ImageImportStatus
from imagestreams.observability import tracer

__all__ = ["MAX_ITEM_BYTES", "TRANSACTION_ITEMS", "DynamoJobStore"]

logger = Logger(child=True)

META = "meta"
TAG_PREFIX = "tag#"
# TransactWriteItems takes at most 100 actions: the meta update and 99 results.
TRANSACTION_ITEMS = 100
# ... and at most 4 MB; stay clear of it, keys and attribute names included.
TRANSACTION_BYTES = 3 * 1024 * 1024
# A compressed result or context larger than this cannot be one item (400 KB).
MAX_ITEM_BYTES = 380 * 1024
CANCELLED = "TransactionCanceledException"
_CONDITION_FAILED = "ConditionalCheckFailed"
# Cancellation reasons that another attempt can get past; any other (a
# validation error, say) is raised as it is.
_RETRYABLE_REASONS = frozenset(
    {
        None,
        "None",
        _CONDITION_FAILED,
        "TransactionConflict",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
        "RequestLimitExceeded",
    }
)
# Concurrent chunks of one job all update its meta item: transactions conflict
# for milliseconds, so retry soon, with jitter.
_CONFLICT_BACKOFF = Backoff(base=0.02, cap=1.0, attempts=10)


def _pk(job_id: str) -> str:
    return f"job#{job_id}"


def _key(job_id: str, sk: str) -> Item:
    return {"pk": {"S": _pk(job_id)}, "sk": {"S": sk}}


@dataclass(frozen=True)
class _Result:
    """One tag's result, ready to be written."""

    tag: str
    doc: bytes
    success: bool

    def item(self, job_id: str) -> Item:
        return {
            **_key(job_id, TAG_PREFIX + self.tag),
            "doc": {"B": self.doc},
            "success": {"BOOL": self.success},
            "expiresAt": _expiry(),
        }

    @property
    def size(self) -> int:
        # Attribute names and keys included, roughly as DynamoDB counts them.
        return len(self.doc) + len(self.tag.encode("utf-8")) + 96


# A finished job's items are only needed while its final document is written;
# DynamoDB's TTL removes them a week after the job started.
JOB_TTL_SECONDS = 7 * 24 * 3600


def _expiry() -> dict[str, str]:
    return {"N": str(int(time.time()) + JOB_TTL_SECONDS)}


def _prepare(job_id: str, results: Mapping[str, ImageImportStatus]) -> list[_Result]:
    prepared = []
    for tag, result in results.items():
        doc = compress_json(result.to_json_dict())
        if len(doc) > MAX_ITEM_BYTES:
            raise ValueError(
                f"the result of tag {tag!r} of import job {job_id} is {len(doc)} bytes "
                f"compressed, more than one item holds"
            )
        prepared.append(_Result(tag, doc, result.status.is_success))
    return prepared


def _transactions(results: Sequence[_Result]) -> Iterator[list[_Result]]:
    """``results`` in groups that fit one transaction next to the meta update."""
    group: list[_Result] = []
    size = 0
    for result in results:
        if group and (
            len(group) >= TRANSACTION_ITEMS - 1 or size + result.size > TRANSACTION_BYTES
        ):
            yield group
            group, size = [], 0
        group.append(result)
        size += result.size
    if group:
        yield group


def _job_from_item(job_id: str, item: Item) -> Job:
    created = item.get("created", {}).get("S")
    context = item.get("context", {}).get("B")
    return Job(
        job_id=job_id,
        namespace=item["namespace"]["S"],
        name=item["name"]["S"],
        total=int(item["total"]["N"]),
        done=int(item.get("done", {}).get("N", "0")),
        failed=int(item.get("failed", {}).get("N", "0")),
        state=item.get("state", {}).get("S", RUNNING),
        created=datetime.fromisoformat(created) if created else None,
        context=decompress_json(context) if context else {},
    )


@tracer.trace_methods("jobs")
class DynamoJobStore(TableStore):
    """Import jobs: their counters, context and per-tag results.

    ``client_factory`` builds the DynamoDB client on first use; ``sleep`` is
    what retries wait with.
    """

    what = "job store"

    def __init__(
        self,
        table_name: str,
        *,
        client_factory: ClientFactory | None = None,
        sleep: Sleeper = time.sleep,
        backoff: Backoff = _CONFLICT_BACKOFF,
    ) -> None:
        super().__init__(table_name, client_factory, sleep)
        self._backoff = backoff

    def create(self, job: Job, results: Mapping[str, ImageImportStatus]) -> None:
        """Store a new job with the tags already finished (``results``, by tag).

        The results are written first and the meta item last, so a job that
        can be read is whole. ``done`` starts at ``len(results)`` and
        ``failed`` at those whose status is not ``Success``; ``job``'s own
        counters and state are not used. Raises :class:`ConflictError` if
        the job id exists already.
        """
        prepared = _prepare(job.job_id, results)
        context = compress_json(job.context)
        if len(context) > MAX_ITEM_BYTES:
            raise ValueError(
                f"the context of import job {job.job_id} is {len(context)} bytes compressed, "
                "more than one item holds"
            )
        writes = [{"PutRequest": {"Item": result.item(job.job_id)}} for result in prepared]
        batch_write(self._db(), self._table, writes, sleep=self._sleep)
        item: Item = {
            **_key(job.job_id, META),
            "namespace": {"S": job.namespace},
            "name": {"S": job.name},
            "total": {"N": str(job.total)},
            "done": {"N": str(len(prepared))},
            "failed": {"N": str(sum(1 for result in prepared if not result.success))},
            "state": {"S": RUNNING},
            "expiresAt": _expiry(),
            "context": {"B": context},
        }
        if job.created is not None:
            item["created"] = {"S": job.created.isoformat()}
        try:
            self._db().put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": "pk"},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                raise errors.job_exists(job.job_id) from exc
            raise
        logger.info("import job created", job=job.job_id, total=job.total, done=len(prepared))

    def get(self, job_id: str) -> Job | None:
        """The job (a consistent read), or None when there is none."""
        response = self._db().get_item(
            TableName=self._table, Key=_key(job_id, META), ConsistentRead=True
        )
        item = response.get("Item")
        return _job_from_item(job_id, item) if item else None

    def record(self, job_id: str, results: Mapping[str, ImageImportStatus]) -> Job:
        """Record finished tags once each and count them; the job as it is afterwards.

        A tag that already has a result keeps it and is not counted again,
        so a redelivered or duplicated chunk changes nothing. Raises
        :class:`NotFoundRequestError` when the job does not exist, and
        :class:`ServiceUnavailableError` when DynamoDB stays too contended.
        """
        written = 0
        for group in _transactions(_prepare(job_id, results)):
            written += self._record_group(job_id, group)
        job = self.get(job_id)
        if job is None:
            raise errors.job_not_found(job_id)
        logger.debug(
            "import job results recorded",
            job=job_id,
            given=len(results),
            written=written,
            done=job.done,
            total=job.total,
        )
        return job

    def _record_group(self, job_id: str, group: list[_Result]) -> int:
        """Write the results of ``group`` that are new and count them; how many were."""
        attempt = 0
        while group:
            try:
                self._db().transact_write_items(TransactItems=self._actions(job_id, group))
            except ClientError as exc:
                if error_code(exc) != CANCELLED:
                    raise
                response: Mapping[str, Any] = exc.response
                reasons = [r.get("Code") for r in response.get("CancellationReasons") or []]
                if len(reasons) != len(group) + 1:
                    if len(group) == 1:
                        raise
                    # No reason per action: find the recorded tags one at a time.
                    return sum(self._record_group(job_id, [result]) for result in group)
                if not set(reasons) <= _RETRYABLE_REASONS:
                    raise
            else:
                return len(group)
            if reasons[0] == _CONDITION_FAILED:
                raise errors.job_not_found(job_id)
            recorded = {i for i, code in enumerate(reasons[1:]) if code == _CONDITION_FAILED}
            if recorded:
                # Those tags have a result already: the rest go again at once.
                group = [result for i, result in enumerate(group) if i not in recorded]
                continue
            # Conflicts with concurrent transactions on the meta item, or throttling.
            attempt += 1
            if attempt >= self._backoff.attempts:
                logger.warning("import job update gave up", job=job_id, attempts=attempt)
                raise ServiceUnavailableError(
                    f'import job "{job_id}" is too busy to record results; try again later'
                )
            self._sleep(self._backoff.delay(attempt))
        return 0

    def _actions(self, job_id: str, group: Sequence[_Result]) -> list[Any]:
        failed = sum(1 for result in group if not result.success)
        update = {
            "Update": {
                "TableName": self._table,
                "Key": _key(job_id, META),
                "UpdateExpression": "ADD #done :done, #failed :failed",
                "ConditionExpression": "attribute_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": "pk", "#done": "done", "#failed": "failed"},
                "ExpressionAttributeValues": {
                    ":done": {"N": str(len(group))},
                    ":failed": {"N": str(failed)},
                },
            }
        }
        puts = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": result.item(job_id),
                    "ConditionExpression": "attribute_not_exists(#sk)",
                    "ExpressionAttributeNames": {"#sk": "sk"},
                }
            }
            for result in group
        ]
        return [update, *puts]

    def complete(self, job_id: str) -> bool:
        """Mark the job ``Complete`` if every tag is done; True only for the caller that did.

        False when the job is not finished yet, is complete already or does
        not exist.
        """
        try:
            self._db().update_item(
                TableName=self._table,
                Key=_key(job_id, META),
                UpdateExpression="SET #state = :complete",
                ConditionExpression="#state = :running AND #done >= #total",
                ExpressionAttributeNames={"#state": "state", "#done": "done", "#total": "total"},
                ExpressionAttributeValues={
                    ":complete": {"S": COMPLETE},
                    ":running": {"S": RUNNING},
                },
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        logger.info("import job complete", job=job_id)
        return True

    def results(self, job_id: str) -> dict[str, dict[str, Any]]:
        """Every recorded result of the job, by tag (in tag order), as the JSON stored."""
        items = query_all(
            self._db(),
            TableName=self._table,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": "pk", "#sk": "sk", "#doc": "doc"},
            ExpressionAttributeValues={":pk": {"S": _pk(job_id)}, ":prefix": {"S": TAG_PREFIX}},
            ProjectionExpression="#sk, #doc",
            ConsistentRead=True,
        )
        return {
            item["sk"]["S"].removeprefix(TAG_PREFIX): decompress_json(item["doc"]["B"])
            for item in items
        }

    def delete(self, job_id: str) -> None:
        """Delete the job and its results (once its document is saved elsewhere).

        The meta item goes first: the job is gone at once, and a chunk
        delivered meanwhile cannot count results into it. Results that an
        interrupted delete leaves behind go with the next one.
        """
        self._db().delete_item(TableName=self._table, Key=_key(job_id, META))
        keys = query_all(
            self._db(),
            TableName=self._table,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": "pk", "#sk": "sk"},
            ExpressionAttributeValues={":pk": {"S": _pk(job_id)}, ":prefix": {"S": TAG_PREFIX}},
            ProjectionExpression="#pk, #sk",
            ConsistentRead=True,
        )
        deletes = [{"DeleteRequest": {"Key": {"pk": k["pk"], "sk": k["sk"]}}} for k in keys]
        batch_write(self._db(), self._table, deletes, sleep=self._sleep)

"""Resource versions of image streams: the counter, the changes and the tombstones' expiry.

This module owns the version counter item of the streams table and the
reads of the ``ByVersion`` index that watches make. Versions order every
change of every stream: each write that changes a stream takes the next
version from the one counter (the clock in microseconds, or one more than
the last version when writes come faster) and sets it on the stream's meta
item, whose place in the index follows. A deleted stream or tag leaves a
tombstone there for ``retention`` seconds.

A version is visible to readers shortly after it is taken (the write follows
at once, then the index catches up): :meth:`StreamVersions.settled_version`
is the clock less ``settle`` seconds, and watches read no further.

Writing the meta, tag and tombstone items is the other stream modules'
business (their layout is ``stream_items``'s); this one only hands them
versions and expiry times, and moves a stream on after its tags changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from imagestreams.adapters.dynamo import (
    ClientFactory,
    Sleeper,
    TableStore,
    is_condition_failure,
    query_all,
)
from imagestreams.adapters.stream_items import (
    CHANGES_INDEX,
    STREAM_CHANGES,
    TAG_CHANGES,
    meta_from_item,
    meta_key,
    metas_pk,
    tag_tombstone_from_item,
    version_counter_key,
)
from imagestreams.usecases.ports import StreamChange, TagDeletion

__all__ = ["RETENTION_SECONDS", "SETTLE_SECONDS", "StreamVersions"]

# How long after a change every reader sees it (the write, then the index).
SETTLE_SECONDS = 1.0
# How long deletions are remembered for watches that resume.
RETENTION_SECONDS = 3600
_MICROSECONDS = 1_000_000
# DynamoDB's TTL removes an item some time after it expires; watches ignore
# tombstones older than the retention anyway, so they may linger.
_TOMBSTONE_GRACE = 3600


class StreamVersions(TableStore):
    """The streams table's version counter and its ``ByVersion`` index.

    ``clock`` gives the time in epoch seconds; ``settle`` and ``retention``
    are as the module says.
    """

    what = "stream store"

    def __init__(
        self,
        table_name: str,
        client_factory: ClientFactory | None,
        sleep: Sleeper,
        *,
        clock: Callable[[], float],
        settle: float,
        retention: int,
    ) -> None:
        super().__init__(table_name, client_factory, sleep)
        self._clock = clock
        self._settle = settle
        self._retention = retention

    def next_version(self) -> int:
        """A version greater than every one given out before: the clock, or the last plus one."""
        now = int(self._clock() * _MICROSECONDS)
        names = {"#value": "value"}
        try:
            response = self._db().update_item(
                TableName=self._table,
                Key=version_counter_key(),
                UpdateExpression="SET #value = :now",
                ConditionExpression="attribute_not_exists(#value) OR #value < :now",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":now": {"N": str(now)}},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
            response = self._db().update_item(
                TableName=self._table,
                Key=version_counter_key(),
                UpdateExpression="ADD #value :one",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="UPDATED_NEW",
            )
        return int(response["Attributes"]["value"]["N"])

    def settled_version(self) -> int:
        return int((self._clock() - self._settle) * _MICROSECONDS)

    def oldest_version(self) -> int:
        return int((self._clock() - self._retention) * _MICROSECONDS)

    def touch(self, namespace: str, name: str, since: str | None = None) -> str | None:
        """Give the stream a new version after its tags changed (unless it is gone).

        Returns that version when the stream was at version ``since`` until
        then, else None.
        """
        version = str(self.next_version())
        try:
            response = self._db().update_item(
                TableName=self._table,
                Key=meta_key(namespace, name),
                UpdateExpression="SET #rv = :next",
                ConditionExpression="attribute_exists(#pk) AND #rv < :next",
                ExpressionAttributeNames={"#pk": "pk", "#rv": "resourceVersion"},
                ExpressionAttributeValues={":next": {"N": version}},
                ReturnValues="UPDATED_OLD",
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
            return None
        previous = response.get("Attributes", {}).get("resourceVersion", {}).get("N")
        if since is None or previous is None or int(previous) != int(since):
            return None
        return version

    def changes(self, namespace: str | None, after: int, upto: int) -> list[StreamChange]:
        """Streams changed or deleted with a version in ``(after, upto]``, oldest first."""
        if upto <= after:
            return []
        names = {"#changes": "changes", "#rv": "resourceVersion"}
        values: dict[str, Any] = {
            ":kind": {"S": STREAM_CHANGES},
            ":after": {"N": str(after + 1)},
            ":upto": {"N": str(upto)},
        }
        extra: dict[str, Any] = {}
        if namespace is not None:
            names["#pk"] = "pk"
            values[":pk"] = {"S": metas_pk(namespace)}
            extra["FilterExpression"] = "#pk = :pk"
        items = query_all(
            self._db(),
            TableName=self._table,
            IndexName=CHANGES_INDEX,
            KeyConditionExpression="#changes = :kind AND #rv BETWEEN :after AND :upto",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            **extra,
        )
        return [
            StreamChange(
                meta_from_item(item),
                created=int(item.get("created", {}).get("N", "0")),
                deleted=bool(item.get("deleted", {}).get("BOOL", False)),
            )
            for item in items
        ]

    def deleted_tags(self, namespace: str, after: int, upto: int) -> list[TagDeletion]:
        """Tags of ``namespace`` deleted with a version in ``(after, upto]``, oldest first."""
        if upto <= after:
            return []
        items = query_all(
            self._db(),
            TableName=self._table,
            IndexName=CHANGES_INDEX,
            KeyConditionExpression="#changes = :kind AND #rv BETWEEN :after AND :upto",
            FilterExpression="#pk = :pk",
            ExpressionAttributeNames={"#changes": "changes", "#rv": "resourceVersion", "#pk": "pk"},
            ExpressionAttributeValues={
                ":kind": {"S": TAG_CHANGES},
                ":after": {"N": str(after + 1)},
                ":upto": {"N": str(upto)},
                ":pk": {"S": metas_pk(namespace)},
            },
        )
        return [TagDeletion(*tag_tombstone_from_item(item)) for item in items]

    def expires(self) -> int:
        """When a tombstone written now may go (DynamoDB's TTL, in epoch seconds)."""
        return int(self._clock()) + self._retention + _TOMBSTONE_GRACE

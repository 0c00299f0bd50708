"""Image stream tags: one item per tag state, written read-modify-write.

This module owns the tag items of the streams table (laid out by
``stream_items``) and the concurrency rules around them. Each tag is its own
item, so a stream with thousands of tags never meets the 400 KB item limit
and imports of different tags never contend. Tag states are written with a
condition on ``version`` and retried; a state is written only when its JSON
differs from the stored one. Tag writes move the stream's version once per
batch, after the tags; a tag deleted alone leaves its tombstone in the same
transaction. It also answers the tracking and schedule indexes of the tags.

What a state means is ``imagestreams.streams``'s business; the stream's meta
item is ``stream_metas``'s, which this module only moves on (with its
version and generation) when a tag goes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from imagestreams import errors
from imagestreams.adapters.dynamo import (
    Backoff,
    TableStore,
    batch_get,
    error_code,
    is_condition_failure,
    query_all,
)
from imagestreams.adapters.stream_items import (
    SCHEDULE_INDEX,
    TAG_PREFIX,
    TRACKING_INDEX,
    TagWrite,
    meta_key,
    tag_from_doc,
    tag_key,
    tag_name,
    tag_of,
    tag_put,
    tag_tombstone_item,
    tag_write,
    tags_pk,
    transaction_groups,
)
from imagestreams.adapters.stream_versions import StreamVersions
from imagestreams.observability import tracer
from imagestreams.streams import StreamMeta, TagMutation, TagState
from imagestreams.usecases.ports import TagsWritten

__all__ = ["TAG_BACKOFF", "StreamTags"]

logger = Logger(child=True)

# Contention on one tag clears in milliseconds: retry soon, with jitter.
TAG_BACKOFF = Backoff(base=0.01, cap=0.25)

_CANCELLED = "TransactionCanceledException"


@tracer.trace_methods("streams")
class StreamTags(TableStore):
    """The tag items of the streams table: a part of the stream store.

    The store that mixes it in sets ``_versions``, the counter tag writes
    move the stream on with; ``_max_attempts``, which bounds the optimistic
    retries of :meth:`update_tag` and :meth:`delete_tag`; and ``_backoff``,
    what they wait between attempts. A delete reads the stream's meta with
    :meth:`get_meta` (``stream_metas``'s) for the tag's tombstone.
    """

    _versions: StreamVersions
    _max_attempts: int
    _backoff: Backoff

    if TYPE_CHECKING:

        def get_meta(self, namespace: str, name: str) -> StreamMeta | None: ...

    def get_tags(
        self, namespace: str, name: str, tags: Sequence[str] | None = None
    ) -> dict[str, TagState]:
        """Tag states by tag, in tag order: all of the stream's, or the named ones that exist."""
        names = {"#sk": "sk", "#doc": "doc"}
        if tags is None:
            items: Any = query_all(
                self._db(),
                TableName=self._table,
                KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
                ExpressionAttributeNames={"#pk": "pk", **names},
                ExpressionAttributeValues={
                    ":pk": {"S": tags_pk(namespace, name)},
                    ":prefix": {"S": TAG_PREFIX},
                },
                ProjectionExpression="#sk, #doc",
                ConsistentRead=True,
            )
        else:
            wanted = list(dict.fromkeys(tags))
            items = batch_get(
                self._db(),
                self._table,
                [tag_key(namespace, name, tag) for tag in wanted],
                projection="#sk, #doc",
                names=names,
                consistent=True,
                sleep=self._sleep,
            )
        states = {tag_name(item): tag_from_doc(json.loads(item["doc"]["S"])) for item in items}
        return dict(sorted(states.items()))

    def update_tag(
        self, namespace: str, name: str, tag: str, mutate: TagMutation
    ) -> TagState | None:
        """Read-modify-write one tag state without losing concurrent writes.

        ``mutate`` gets the current state (None when the tag has none) and
        returns the new one; returning None, or a state whose JSON equals the
        stored one, writes nothing. It may run several times (once per
        attempt), so it must not have side effects. Returns the state as
        stored afterwards. Raises :class:`ConflictError` when the attempts run out.
        A write gives the stream a new version.
        """
        state, wrote = self._update_tag(namespace, name, tag, mutate)
        if wrote:
            self._versions.touch(namespace, name)
        return state

    def _update_tag(
        self, namespace: str, name: str, tag: str, mutate: TagMutation
    ) -> tuple[TagState | None, bool]:
        """:meth:`update_tag` without the new version; whether it wrote too."""
        key = tag_key(namespace, name, tag)
        for attempt in range(self._max_attempts):
            response = self._db().get_item(
                TableName=self._table,
                Key=key,
                ConsistentRead=True,
                ProjectionExpression="#doc, #version",
                ExpressionAttributeNames={"#doc": "doc", "#version": "version"},
            )
            item = response.get("Item")
            text = item["doc"]["S"] if item else None
            version = int(item["version"]["N"]) if item else None
            write = tag_write(tag, mutate, text, version)
            if write is None:
                return (tag_from_doc(json.loads(text)) if text is not None else None), False
            if self._write_tag(namespace, name, write):
                return write.state, True
            self._sleep(self._backoff.delay(attempt))
        logger.warning(
            "tag update gave up",
            namespace=namespace,
            stream=name,
            tag=tag,
            attempts=self._max_attempts,
        )
        raise errors.stream_modified(name)

    def update_tags(
        self,
        namespace: str,
        name: str,
        mutations: Mapping[str, TagMutation],
        *,
        since: str | None = None,
    ) -> TagsWritten:
        """:meth:`update_tag` for many tags at once, in few requests.

        All states are read with BatchGetItem, and the changed ones written
        with TransactWriteItems, each item conditional on the version read. A
        transaction that loses a race is not partly applied: its tags are then
        updated one by one, re-reading what the other writer stored. Any
        write gives the stream one new version, after the last; the answer
        has that version when the stream was at ``since`` until then.
        """
        tags = list(dict.fromkeys(mutations))
        if not tags:
            return TagsWritten({})
        items = batch_get(
            self._db(),
            self._table,
            [tag_key(namespace, name, tag) for tag in tags],
            projection="#sk, #doc, #version",
            names={"#sk": "sk", "#doc": "doc", "#version": "version"},
            consistent=True,
            sleep=self._sleep,
        )
        stored = {tag_name(item): (item["doc"]["S"], int(item["version"]["N"])) for item in items}
        states: dict[str, TagState] = {}
        writes: list[TagWrite] = []
        for tag in tags:
            text, version = stored.get(tag, (None, None))
            write = tag_write(tag, mutations[tag], text, version)
            if write is not None:
                writes.append(write)
                states[tag] = write.state
            elif text is not None:
                states[tag] = tag_from_doc(json.loads(text))
        retry: list[str] = []
        wrote = False
        for group in transaction_groups(writes):
            actions: list[Any] = [{"Put": tag_put(self._table, namespace, name, w)} for w in group]
            try:
                self._db().transact_write_items(TransactItems=actions)
            except ClientError as exc:
                if error_code(exc) != _CANCELLED:
                    raise
                retry.extend(write.tag for write in group)
            else:
                wrote = True
        for tag in retry:
            state, wrote_it = self._update_tag(namespace, name, tag, mutations[tag])
            wrote = wrote_it or wrote
            if state is None:
                states.pop(tag, None)
            else:
                states[tag] = state
        if not wrote:
            return TagsWritten(states)
        return TagsWritten(states, self._versions.touch(namespace, name, since))

    def delete_tag(self, namespace: str, name: str, tag: str) -> TagState | None:
        """Remove a tag's spec and history; the state it had, or None when it had none.

        The tag item goes and the stream's ``resourceVersion`` moves to the
        next version (its ``generation`` up by one when the tag had a spec) in
        one transaction, conditional on the tag as read, so a concurrent
        import of the tag is either removed with it or makes the delete read
        again. The same transaction leaves the tag's tombstone.
        """
        key = tag_key(namespace, name, tag)
        for attempt in range(self._max_attempts):
            meta = self.get_meta(namespace, name)
            if meta is None:
                return None
            item = (
                self._db()
                .get_item(
                    TableName=self._table,
                    Key=key,
                    ConsistentRead=True,
                    ProjectionExpression="#doc, #version",
                    ExpressionAttributeNames={"#doc": "doc", "#version": "version"},
                )
                .get("Item")
            )
            if not item:
                return None
            state = tag_from_doc(json.loads(item["doc"]["S"]))
            bump = "SET #rv = :next ADD #gen :one" if state.spec is not None else "SET #rv = :next"
            names = {"#pk": "pk", "#rv": "resourceVersion"}
            version = self._versions.next_version()
            values = {":next": {"N": str(version)}}
            if state.spec is not None:
                names["#gen"] = "generation"
                values[":one"] = {"N": "1"}
            try:
                self._db().transact_write_items(
                    TransactItems=[
                        {
                            "Delete": {
                                "TableName": self._table,
                                "Key": key,
                                "ConditionExpression": "#version = :version",
                                "ExpressionAttributeNames": {"#version": "version"},
                                "ExpressionAttributeValues": {":version": item["version"]},
                            }
                        },
                        {
                            "Update": {
                                "TableName": self._table,
                                "Key": meta_key(namespace, name),
                                "UpdateExpression": bump,
                                "ConditionExpression": "attribute_exists(#pk)",
                                "ExpressionAttributeNames": names,
                                "ExpressionAttributeValues": values,
                            }
                        },
                        {
                            "Put": {
                                "TableName": self._table,
                                "Item": tag_tombstone_item(
                                    meta, item["doc"]["S"], version, self._versions.expires()
                                ),
                            }
                        },
                    ]
                )
            except ClientError as exc:
                if error_code(exc) != _CANCELLED:
                    raise
                if self.get_meta(namespace, name) is None:
                    return None
                self._sleep(self._backoff.delay(attempt))
                continue
            logger.info("image stream tag deleted", namespace=namespace, stream=name, tag=tag)
            return state
        raise errors.stream_modified(name)

    def tracking(self, key: str) -> list[tuple[str, str, str]]:
        """(namespace, stream, tag) of every tag whose spec follows ``registry/repository:tag``."""
        items = query_all(
            self._db(),
            TableName=self._table,
            IndexName=TRACKING_INDEX,
            KeyConditionExpression="#tracks = :key",
            ExpressionAttributeNames={"#tracks": "tracks"},
            ExpressionAttributeValues={":key": {"S": key}},
        )
        return [tag_of(item) for item in items]

    def scheduled(self, shard: str) -> list[tuple[str, str, str, str]]:
        """(namespace, stream, tag, registry) of the scheduled tags in one index shard."""
        items = query_all(
            self._db(),
            TableName=self._table,
            IndexName=SCHEDULE_INDEX,
            KeyConditionExpression="#scheduled = :shard",
            ExpressionAttributeNames={"#scheduled": "scheduled"},
            ExpressionAttributeValues={":shard": {"S": shard}},
        )
        return [(*tag_of(item), item.get("registry", {}).get("S", "")) for item in items]

    def _write_tag(self, namespace: str, name: str, write: TagWrite) -> bool:
        """Write ``write`` if the tag is still at the version read; False if it moved on."""
        try:
            self._db().put_item(**tag_put(self._table, namespace, name, write))
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

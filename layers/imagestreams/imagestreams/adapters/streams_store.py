"""Image streams in DynamoDB: one meta item per stream, one item per tag.

This adapter owns reading and writing the stream and tag items of the
streams table (laid out by ``stream_items``) and the concurrency rules
around them. It takes and gives the domain's
:class:`~imagestreams.streams.StreamMeta` and
:class:`~imagestreams.streams.TagState`.

Each tag is its own item, so a stream with thousands of tags never meets the
400 KB item limit and imports of different tags never contend. Every import
takes a distinct generation from one atomic ``UpdateItem``; tag states are
written read-modify-write with a condition on ``version`` and retried. A
state is written only when its JSON differs from the stored one.

The images tagged into a stream are kept beside its tags, once per digest,
for ``ImageStreamTag`` and ``ImageStreamImage`` to show.

Resource versions order every change of every stream, for watches: each
write that changes a stream takes the next version from one counter item
(the clock in microseconds, or one more than the last version when writes
come faster) and sets it on the stream's meta item, whose place in the
``ByVersion`` index follows. Tag writes move the version once per batch,
after the tags. A delete leaves a tombstone there for ``retention`` seconds,
and so does each tag deleted, alone or with its stream.
A version is visible to readers shortly after it is taken (the write
follows at once, then the index catches up): :meth:`settled_version` is the
clock less ``settle`` seconds, and watches read no further.

What a state means is ``imagestreams.streams``'s business. Import documents
live in ``imports_store``. Logs name streams and tags, never item contents.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
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
    batch_get,
    batch_write,
    compress_json,
    decompress_json,
    error_code,
    is_condition_failure,
    query_all,
)
from imagestreams.adapters.stream_items import (
    CHANGES_INDEX,
    IMAGE_PREFIX,
    META_PREFIX,
    SCHEDULE_INDEX,
    STREAM_CHANGES,
    TAG_CHANGES,
    TAG_PREFIX,
    TRACKING_INDEX,
    TagWrite,
    image_key,
    meta_from_item,
    meta_item,
    meta_key,
    metas_pk,
    tag_from_doc,
    tag_key,
    tag_name,
    tag_of,
    tag_put,
    tag_tombstone_from_item,
    tag_tombstone_item,
    tag_write,
    tags_pk,
    tombstone_item,
    transaction_groups,
    version_counter_key,
)
from imagestreams.models import Image
from imagestreams.observability import tracer
from imagestreams.streams import StreamMeta, TagMutation, TagState
from imagestreams.usecases.ports import StreamChange, TagDeletion

__all__ = ["DynamoStreamStore"]

logger = Logger(child=True)

# A stream deleted between our create and our increment (each retry recreates it).
_BEGIN_ROUNDS = 3
# Contention on one tag clears in milliseconds: retry soon, with jitter.
_TAG_BACKOFF = Backoff(base=0.01, cap=0.25)

_CANCELLED = "TransactionCanceledException"
# An item may hold 400 KB; the rest is room for the key.
MAX_IMAGE_BYTES = 350 * 1024
# How long after a change every reader sees it (the write, then the index).
SETTLE_SECONDS = 1.0
# How long deletions are remembered for watches that resume.
RETENTION_SECONDS = 3600
_MICROSECONDS = 1_000_000
# DynamoDB's TTL removes an item some time after it expires; watches ignore
# tombstones older than the retention anyway, so they may linger.
_TOMBSTONE_GRACE = 3600


def _is_resource_version(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= 38


@tracer.trace_methods("streams")
class DynamoStreamStore(TableStore):
    """Stream meta and tag states in the streams table.

    ``client_factory`` builds the DynamoDB client on first use; ``sleep`` is
    what retries wait with, and ``max_attempts`` bounds the optimistic
    retries of :meth:`update_tag`.
    """

    what = "stream store"

    def __init__(
        self,
        table_name: str,
        *,
        client_factory: ClientFactory | None = None,
        sleep: Sleeper = time.sleep,
        max_attempts: int = 20,
        backoff: Backoff = _TAG_BACKOFF,
        clock: Callable[[], float] = time.time,
        settle: float = SETTLE_SECONDS,
        retention: int = RETENTION_SECONDS,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        super().__init__(table_name, client_factory, sleep)
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._clock = clock
        self._settle = settle
        self._retention = retention

    # --- versions ------------------------------------------------------------

    def _next_version(self) -> int:
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

    def _touch(self, namespace: str, name: str) -> None:
        """Give the stream a new version after its tags changed (unless it is gone)."""
        try:
            self._db().update_item(
                TableName=self._table,
                Key=meta_key(namespace, name),
                UpdateExpression="SET #rv = :next",
                ConditionExpression="attribute_exists(#pk) AND #rv < :next",
                ExpressionAttributeNames={"#pk": "pk", "#rv": "resourceVersion"},
                ExpressionAttributeValues={":next": {"N": str(self._next_version())}},
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise

    # --- streams -------------------------------------------------------------

    def begin_import(
        self,
        namespace: str,
        name: str,
        *,
        expected_resource_version: str | None,
        expected_uid: str | None,
        now: datetime,
        annotation: tuple[str, str] | None,
    ) -> StreamMeta:
        """Take the stream's next generation for an import; create the stream if missing.

        Increments ``generation`` and ``resourceVersion`` by one in one atomic
        update (concurrent callers get distinct generations) and sets
        ``annotation``. With ``expected_resource_version`` (an empty string
        is no precondition, as in Kubernetes) or ``expected_uid`` the stream
        must exist and match: a stale version raises :class:`ConflictError`,
        a missing stream or another uid :class:`NotFoundRequestError`.
        Returns the stream as updated.
        """
        expected_rv = expected_resource_version or None
        expected_uid = expected_uid or None
        if expected_rv is not None and not _is_resource_version(expected_rv):
            # No stored version can equal it; report what is there.
            current = self.get_meta(namespace, name)
            if current is None or (expected_uid is not None and current.uid != expected_uid):
                raise errors.not_found(errors.IMAGESTREAM, name)
            raise errors.stream_updated(name, expected_rv, current.resource_version)

        for _ in range(_BEGIN_ROUNDS):
            try:
                return self._increment(namespace, name, expected_rv, expected_uid, annotation)
            except ClientError as exc:
                if not is_condition_failure(exc):
                    raise
                # The item as it was, from ReturnValuesOnConditionCheckFailure.
                response: Mapping[str, Any] = exc.response
                old: Item | None = response.get("Item")
            if old:
                # It exists, so a precondition failed.
                if expected_uid is not None and old.get("uid", {}).get("S") != expected_uid:
                    raise errors.not_found(errors.IMAGESTREAM, name)
                actual = str(int(old["resourceVersion"]["N"]))
                raise errors.stream_updated(name, expected_rv or "", actual)
            if expected_rv is not None or expected_uid is not None:
                raise errors.not_found(errors.IMAGESTREAM, name)
            self._create(namespace, name, now)
        raise errors.stream_deleted_while_importing(name)

    def _increment(
        self,
        namespace: str,
        name: str,
        expected_rv: str | None,
        expected_uid: str | None,
        annotation: tuple[str, str] | None,
    ) -> StreamMeta:
        names = {
            "#pk": "pk",
            "#gen": "generation",
            "#rv": "resourceVersion",
            "#changes": "changes",
            "#created": "created",
        }
        values: dict[str, Any] = {
            ":one": {"N": "1"},
            ":next": {"N": str(self._next_version())},
            ":kind": {"S": STREAM_CHANGES},
        }
        update = (
            "ADD #gen :one SET #rv = :next, #changes = :kind,"
            " #created = if_not_exists(#created, :next)"
        )
        if annotation is not None:
            names.update({"#ann": "annotations", "#key": annotation[0]})
            values[":value"] = {"S": annotation[1]}
            update += ", #ann.#key = :value"
        condition = "attribute_exists(#pk)"
        if expected_rv is not None:
            condition += " AND #rv = :rv"
            values[":rv"] = {"N": expected_rv}
        if expected_uid is not None:
            names["#uid"] = "uid"
            condition += " AND #uid = :uid"
            values[":uid"] = {"S": expected_uid}
        response = self._db().update_item(
            TableName=self._table,
            Key=meta_key(namespace, name),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return meta_from_item(response["Attributes"])

    def _create(self, namespace: str, name: str, now: datetime) -> None:
        """Create the stream at generation 0 unless someone else just did."""
        meta = StreamMeta(
            namespace=namespace,
            name=name,
            uid=str(uuid.uuid4()),
            resource_version="0",
            generation=0,
            creation_timestamp=now,
        )
        try:
            self._db().put_item(
                TableName=self._table,
                Item=meta_item(meta),
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": "pk"},
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
            return
        logger.info("image stream created", namespace=namespace, stream=name)

    def create_stream(self, meta: StreamMeta) -> bool:
        """Store a new stream's meta, at the next version; False when the stream exists."""
        version = str(self._next_version())
        # In the ByVersion index from the start, as an import's creation puts it.
        item = {
            **meta_item(replace(meta, resource_version=version)),
            "changes": {"S": STREAM_CHANGES},
            "created": {"N": version},
        }
        try:
            self._db().put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": "pk"},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        logger.info("image stream created", namespace=meta.namespace, stream=meta.name)
        return True

    def update_meta(self, meta: StreamMeta, expected_resource_version: str) -> StreamMeta | None:
        """Replace a stream's own fields if it is still at ``expected_resource_version``.

        Labels, annotations, the lookup policy and ``generation`` are set
        from ``meta``; ``resourceVersion`` moves to the next version in the
        same atomic update. None when the stream is gone or at another version.
        """
        if not _is_resource_version(expected_resource_version):
            return None
        doc = {k: v for k, v in meta_item(meta).items() if k in ("doc", "annotations")}
        try:
            response = self._db().update_item(
                TableName=self._table,
                Key=meta_key(meta.namespace, meta.name),
                UpdateExpression=(
                    "SET #doc = :doc, #ann = :ann, #gen = :gen, #rv = :next,"
                    " #changes = :kind, #created = if_not_exists(#created, :next)"
                ),
                ConditionExpression="attribute_exists(#pk) AND #rv = :rv",
                ExpressionAttributeNames={
                    "#pk": "pk",
                    "#doc": "doc",
                    "#ann": "annotations",
                    "#gen": "generation",
                    "#rv": "resourceVersion",
                    "#changes": "changes",
                    "#created": "created",
                },
                ExpressionAttributeValues={
                    ":doc": doc["doc"],
                    ":ann": doc["annotations"],
                    ":gen": {"N": str(meta.generation)},
                    ":next": {"N": str(self._next_version())},
                    ":kind": {"S": STREAM_CHANGES},
                    ":rv": {"N": expected_resource_version},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return None
            raise
        return meta_from_item(response["Attributes"])

    def get_meta(self, namespace: str, name: str) -> StreamMeta | None:
        """The stream's meta (a consistent read), or None when it does not exist."""
        response = self._db().get_item(
            TableName=self._table, Key=meta_key(namespace, name), ConsistentRead=True
        )
        item = response.get("Item")
        return meta_from_item(item) if item else None

    def list_meta(self, namespace: str) -> list[StreamMeta]:
        """Every stream of ``namespace``, ordered by name."""
        items = query_all(
            self._db(),
            TableName=self._table,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": "pk", "#sk": "sk"},
            ExpressionAttributeValues={
                ":pk": {"S": metas_pk(namespace)},
                ":prefix": {"S": META_PREFIX},
            },
            ConsistentRead=True,
        )
        return [meta_from_item(item) for item in items]

    def list_all_meta(self) -> list[StreamMeta]:
        """Every stream of every namespace, from the ``ByVersion`` index (no table scan)."""
        items = query_all(
            self._db(),
            TableName=self._table,
            IndexName=CHANGES_INDEX,
            KeyConditionExpression="#changes = :kind",
            FilterExpression="attribute_not_exists(#deleted)",
            ExpressionAttributeNames={"#changes": "changes", "#deleted": "deleted"},
            ExpressionAttributeValues={":kind": {"S": STREAM_CHANGES}},
        )
        return [meta_from_item(item) for item in items]

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

    def _expires(self) -> int:
        """When a tombstone written now may go (DynamoDB's TTL, in epoch seconds)."""
        return int(self._clock()) + self._retention + _TOMBSTONE_GRACE

    def delete_stream(self, namespace: str, name: str) -> bool:
        """Delete the stream, its tags and its images; False when the stream did not exist.

        Items left behind by an interrupted delete go with the next one.
        """
        response = self._db().delete_item(
            TableName=self._table, Key=meta_key(namespace, name), ReturnValues="ALL_OLD"
        )
        old: Item | None = response.get("Attributes")
        existed = bool(old)
        version = self._next_version() if old else 0
        if old:
            self._db().put_item(
                TableName=self._table, Item=tombstone_item(old, version, self._expires())
            )
        items = list(
            query_all(
                self._db(),
                TableName=self._table,
                KeyConditionExpression="#pk = :pk",
                ExpressionAttributeNames={"#pk": "pk", "#sk": "sk", "#doc": "doc"},
                ExpressionAttributeValues={":pk": {"S": tags_pk(namespace, name)}},
                ProjectionExpression="#pk, #sk, #doc",
                ConsistentRead=True,
            )
        )
        writes: list[Any] = []
        if old:
            # Each tag is remembered deleted, at the stream's version of the delete.
            meta = meta_from_item(old)
            writes = [
                {
                    "PutRequest": {
                        "Item": tag_tombstone_item(meta, k["doc"]["S"], version, self._expires())
                    }
                }
                for k in items
                if k["sk"]["S"].startswith(TAG_PREFIX)
            ]
        deletes = [{"DeleteRequest": {"Key": {"pk": k["pk"], "sk": k["sk"]}}} for k in items]
        batch_write(self._db(), self._table, [*writes, *deletes], sleep=self._sleep)
        if existed:
            logger.info(
                "image stream deleted", namespace=namespace, stream=name, items=len(deletes)
            )
        return existed

    # --- tags ----------------------------------------------------------------

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
            self._touch(namespace, name)
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

    def update_tags(self, namespace: str, name: str, mutations: Mapping[str, TagMutation]) -> None:
        """:meth:`update_tag` for many tags at once, in few requests.

        All states are read with BatchGetItem, and the changed ones written
        with TransactWriteItems, each item conditional on the version read. A
        transaction that loses a race is not partly applied: its tags are then
        updated one by one, re-reading what the other writer stored. Any
        write gives the stream one new version, after the last.
        """
        tags = list(dict.fromkeys(mutations))
        if not tags:
            return
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
        writes = [
            write
            for tag in tags
            if (write := tag_write(tag, mutations[tag], *stored.get(tag, (None, None)))) is not None
        ]
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
            wrote = self._update_tag(namespace, name, tag, mutations[tag])[1] or wrote
        if wrote:
            self._touch(namespace, name)

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
            version = self._next_version()
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
                                    meta, item["doc"]["S"], version, self._expires()
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

    # --- images --------------------------------------------------------------

    def save_images(self, namespace: str, name: str, images: Sequence[Image]) -> None:
        """Keep the images tagged into a stream; those it already has are not written again.

        Raw manifests and configs are not kept. An image too large for an
        item even so is left out (its tags then show its name only).
        """
        by_digest = {image.metadata.name: image for image in images if image.metadata.name}
        if not by_digest:
            return
        present = batch_get(
            self._db(),
            self._table,
            [image_key(namespace, name, digest) for digest in by_digest],
            projection="#sk",
            names={"#sk": "sk"},
            sleep=self._sleep,
        )
        for item in present:
            by_digest.pop(item["sk"]["S"].removeprefix(IMAGE_PREFIX), None)
        puts = []
        for digest, image in by_digest.items():
            shown = image.model_copy(
                update={"docker_image_manifest": "", "docker_image_config": ""}
            )
            blob = compress_json(shown.to_json_dict())
            if len(blob) > MAX_IMAGE_BYTES:
                logger.warning("image too large to keep", digest=digest, compressed_bytes=len(blob))
                continue
            item = {**image_key(namespace, name, digest), "doc": {"B": blob}}
            puts.append({"PutRequest": {"Item": item}})
        batch_write(self._db(), self._table, puts, sleep=self._sleep)

    def get_image(self, namespace: str, name: str, digest: str) -> Image | None:
        """An image tagged into the stream, or None when none of that digest was kept."""
        item = (
            self._db()
            .get_item(TableName=self._table, Key=image_key(namespace, name, digest))
            .get("Item")
        )
        if not item:
            return None
        try:
            return Image.model_validate(decompress_json(item["doc"]["B"]))
        except (KeyError, ValueError, OSError, EOFError):
            logger.warning("kept image unreadable", digest=digest)
            return None

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

"""Image streams' own items: each stream's meta, its creation, update, listing and deletion.

This module owns the meta item of every stream in the streams table (laid
out by ``stream_items``): the atomic ``UpdateItem`` that gives an import the
stream's next generation, creating the stream when it is missing; creating
a stream as given; replacing its own fields under a ``resourceVersion``
precondition; reading and listing metas; and deleting a stream with every
item of its partition, leaving tombstones for the stream and each of its
tags. Every change takes its version from
:class:`~imagestreams.adapters.stream_versions.StreamVersions`.

Writing tag states is ``stream_tags``'s business, and images
``stream_images``'s; this module removes them only with their stream.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from imagestreams import errors
from imagestreams.adapters.dynamo import (
    Item,
    TableStore,
    batch_write,
    is_condition_failure,
    query_all,
)
from imagestreams.adapters.stream_items import (
    CHANGES_INDEX,
    META_PREFIX,
    STREAM_CHANGES,
    TAG_PREFIX,
    meta_from_item,
    meta_item,
    meta_key,
    metas_pk,
    tag_tombstone_item,
    tags_pk,
    tombstone_item,
)
from imagestreams.adapters.stream_versions import StreamVersions
from imagestreams.observability import tracer
from imagestreams.streams import StreamMeta

__all__ = ["StreamMetas"]

logger = Logger(child=True)

# A stream deleted between our create and our increment (each retry recreates it).
_BEGIN_ROUNDS = 3


def _is_resource_version(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= 38


@tracer.trace_methods("streams")
class StreamMetas(TableStore):
    """The meta items of the streams table: a part of the stream store.

    The store that mixes it in sets ``_versions``, the counter every change
    takes its version from.
    """

    _versions: StreamVersions

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
            if current is None:
                raise errors.not_found(errors.IMAGESTREAMS, name)
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
                # It exists, so a precondition failed: the version is checked first (rest.go).
                actual = str(int(old["resourceVersion"]["N"]))
                if expected_rv is not None and expected_rv != actual:
                    raise errors.stream_updated(name, expected_rv, actual)
                if expected_uid is not None and old.get("uid", {}).get("S") != expected_uid:
                    raise errors.not_found(errors.IMAGESTREAM, name)
                raise errors.stream_updated(name, expected_rv or "", actual)
            if expected_rv is not None or expected_uid is not None:
                raise errors.not_found(errors.IMAGESTREAMS, name)
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
            ":next": {"N": str(self._versions.next_version())},
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
        version = str(self._versions.next_version())
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
                    ":next": {"N": str(self._versions.next_version())},
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

    def delete_stream(self, namespace: str, name: str) -> bool:
        """Delete the stream, its tags and its images; False when the stream did not exist.

        Items left behind by an interrupted delete go with the next one.
        """
        response = self._db().delete_item(
            TableName=self._table, Key=meta_key(namespace, name), ReturnValues="ALL_OLD"
        )
        old: Item | None = response.get("Attributes")
        existed = bool(old)
        version = self._versions.next_version() if old else 0
        if old:
            self._db().put_item(
                TableName=self._table, Item=tombstone_item(old, version, self._versions.expires())
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
                        "Item": tag_tombstone_item(
                            meta, k["doc"]["S"], version, self._versions.expires()
                        )
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

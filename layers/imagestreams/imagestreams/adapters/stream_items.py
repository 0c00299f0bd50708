"""How image streams are laid out as items of the streams table (pure).

This module owns the items the stream store reads and writes, and how the
domain's stream objects become their JSON and back:

- meta: ``pk = ns#<namespace>``, ``sk = stream#<name>``; ``doc`` (S) is the
  JSON of a :class:`~imagestreams.streams.StreamMeta` without the fields kept
  as attributes of their own so that one ``UpdateItem`` can change them
  atomically: ``uid`` (S), ``resourceVersion`` (N), ``generation`` (N) and
  ``annotations`` (M of S);
- image: ``pk = stream#<namespace>#<name>``, ``sk = image#<digest>``; ``doc``
  (B) is the gzip'd OpenShift JSON of an ``Image`` tagged into the stream,
  without its raw manifest and config: what ``ImageStreamTag`` and
  ``ImageStreamImage`` show. Images are immutable, so an item is written
  once, and goes with its stream;
- tag: ``pk = stream#<namespace>#<name>``, ``sk = tag#<tag>``; ``doc`` (S) is
  the JSON of a :class:`~imagestreams.streams.TagState` (its name and the
  OpenShift JSON of its spec and status tags), ``version`` (N) counts its
  writes, and ``tracks``, ``registry`` and ``scheduled`` (S) are the sparse
  index attributes ``imagestreams.reimports.index_keys`` gives the state;
- versions: ``pk = version``, ``sk = counter``, ``value`` (N) the last
  ``resourceVersion`` given out (microseconds since the epoch, or one more
  than the last when writes come faster than the clock);
- changes: a meta item carries ``changes = imagestreams`` and ``created``
  (N, the version it was created at), which puts it in the sparse
  ``ByVersion`` index ordered by ``resourceVersion``; a deleted stream leaves
  a tombstone in its namespace's partition (``sk = deleted#<name>#<uid>``),
  its last meta at the version of the delete, ``deleted`` true and
  ``expiresAt`` for DynamoDB's TTL, in the same index;
- tag tombstones: a deleted tag (alone, or with its stream) leaves
  ``sk = deletedtag#<stream>#<tag>#<version>`` in its namespace's partition,
  with ``changes = imagestreamtags`` and ``resourceVersion`` the version of
  the delete (so it sits in ``ByVersion`` beside the stream changes),
  ``stream`` (S) the JSON of its stream's meta at that version, ``doc`` its
  last state, and ``expiresAt``: what a watch of ImageStreamTags resumed from
  an older version needs to tell the tag deleted.

What the states mean is ``imagestreams.streams``'s business; reading and
writing the items, conditionally and in batches, is the stream store's
(``streams_store`` and its parts ``stream_metas``, ``stream_tags``,
``stream_images`` and ``stream_versions``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from imagestreams.models import NamedTagEventList, TagReference, format_time, parse_time
from imagestreams.reimports import index_keys
from imagestreams.streams import StreamMeta, TagMutation, TagState

if TYPE_CHECKING:
    from imagestreams.adapters.dynamo import Item

__all__ = [
    "CHANGES_INDEX",
    "IMAGE_PREFIX",
    "META_PREFIX",
    "SCHEDULE_INDEX",
    "STREAM_CHANGES",
    "TAG_CHANGES",
    "TAG_PREFIX",
    "TOMBSTONE_PREFIX",
    "TRACKING_INDEX",
    "TagWrite",
    "image_key",
    "meta_doc",
    "meta_from_doc",
    "meta_from_item",
    "meta_item",
    "meta_key",
    "metas_pk",
    "tag_doc",
    "tag_from_doc",
    "tag_key",
    "tag_name",
    "tag_of",
    "tag_put",
    "tag_tombstone_from_item",
    "tag_tombstone_item",
    "tag_write",
    "tags_pk",
    "tombstone_item",
    "transaction_groups",
    "version_counter_key",
]

# Sparse indexes over tag items (see ``imagestreams.reimports.index_keys``).
TRACKING_INDEX = "ByTracked"
SCHEDULE_INDEX = "BySchedule"

# Sort-key prefixes: a stream's meta item in its namespace's partition, a tag in its stream's.
META_PREFIX = "stream#"
TAG_PREFIX = "tag#"
IMAGE_PREFIX = "image#"
# Sparse index of stream metas and tombstones by resourceVersion, for watches
# and cluster-wide lists; ``changes`` says which resource an item belongs to.
CHANGES_INDEX = "ByVersion"
STREAM_CHANGES = "imagestreams"
TOMBSTONE_PREFIX = "deleted#"
TAG_CHANGES = "imagestreamtags"
TAG_TOMBSTONE_PREFIX = "deletedtag#"
# Fields of ``meta_doc`` stored as attributes of their own, not in ``doc``.
_OWN_ATTRIBUTES = ("uid", "resourceVersion", "generation", "annotations")
# DynamoDB transactions take at most 100 items and 4 MB.
_TRANSACTION_ITEMS = 100
_TRANSACTION_BYTES = 3_500_000


# --- keys -------------------------------------------------------------------------


def metas_pk(namespace: str) -> str:
    """The partition holding the meta item of every stream of a namespace."""
    return f"ns#{namespace}"


def meta_key(namespace: str, name: str) -> Item:
    return {"pk": {"S": metas_pk(namespace)}, "sk": {"S": META_PREFIX + name}}


def tags_pk(namespace: str, name: str) -> str:
    """The partition holding every tag of a stream."""
    return f"stream#{namespace}#{name}"


def tag_key(namespace: str, name: str, tag: str) -> Item:
    return {"pk": {"S": tags_pk(namespace, name)}, "sk": {"S": TAG_PREFIX + tag}}


def image_key(namespace: str, name: str, digest: str) -> Item:
    """The item of an image tagged into a stream, in the partition of the stream's tags."""
    return {"pk": {"S": tags_pk(namespace, name)}, "sk": {"S": IMAGE_PREFIX + digest}}


def tag_name(item: Item) -> str:
    """The tag a tag item holds."""
    name: str = item["sk"]["S"].removeprefix(TAG_PREFIX)
    return name


def tag_of(item: Item) -> tuple[str, str, str]:
    """(namespace, stream, tag) of a tag item an index returned."""
    _, namespace, name = item["pk"]["S"].split("#", 2)
    return namespace, name, tag_name(item)


def version_counter_key() -> Item:
    """The item holding the last ``resourceVersion`` given out, for every namespace."""
    return {"pk": {"S": "version"}, "sk": {"S": "counter"}}


def tombstone_item(meta: Item, version: int, expires_at: int) -> Item:
    """What a deleted stream leaves: its last meta ``meta`` at ``version``, until ``expires_at``."""
    name = meta["sk"]["S"].removeprefix(META_PREFIX)
    return {
        **meta,
        "sk": {"S": f"{TOMBSTONE_PREFIX}{name}#{meta['uid']['S']}"},
        "resourceVersion": {"N": str(version)},
        "changes": {"S": STREAM_CHANGES},
        "created": meta.get("created", {"N": "0"}),
        "deleted": {"BOOL": True},
        "expiresAt": {"N": str(expires_at)},
    }


def tag_tombstone_item(meta: StreamMeta, text: str, version: int, expires_at: int) -> Item:
    """What a deleted tag leaves: its last state (JSON ``text``) in its stream at ``version``."""
    tag = str(json.loads(text)["name"])
    shown = replace(meta, resource_version=str(version))
    return {
        "pk": {"S": metas_pk(meta.namespace)},
        "sk": {"S": f"{TAG_TOMBSTONE_PREFIX}{meta.name}#{tag}#{version}"},
        "changes": {"S": TAG_CHANGES},
        "resourceVersion": {"N": str(version)},
        "stream": {"S": json.dumps(meta_doc(shown), separators=(",", ":"))},
        "doc": {"S": text},
        "expiresAt": {"N": str(expires_at)},
    }


def tag_tombstone_from_item(item: Item) -> tuple[StreamMeta, TagState]:
    """The stream meta and tag state a tag tombstone keeps."""
    return meta_from_doc(json.loads(item["stream"]["S"])), tag_from_doc(
        json.loads(item["doc"]["S"])
    )


# --- tags -------------------------------------------------------------------------


def tag_doc(state: TagState) -> dict[str, Any]:
    """``state`` as plain JSON data; absent parts are left out. :func:`tag_from_doc` reads it."""
    doc: dict[str, Any] = {"name": state.name}
    if state.spec is not None:
        doc["spec"] = state.spec.to_json_dict()
    if state.status is not None:
        doc["status"] = state.status.to_json_dict()
    return doc


def tag_from_doc(doc: Mapping[str, Any]) -> TagState:
    """The :class:`TagState` :func:`tag_doc` wrote (numbers may be ``Decimal``)."""
    spec = doc.get("spec")
    status = doc.get("status")
    return TagState(
        name=str(doc["name"]),
        spec=TagReference.model_validate(spec) if spec is not None else None,
        status=NamedTagEventList.model_validate(status) if status is not None else None,
    )


@dataclass(frozen=True)
class TagWrite:
    """A tag state to write, its JSON text, and the version it was read at (None: new)."""

    tag: str
    state: TagState
    text: str
    version: int | None


def tag_write(
    tag: str, mutate: TagMutation, text: str | None, version: int | None
) -> TagWrite | None:
    """What ``mutate`` makes of the tag stored as ``text``; None when nothing is to be written.

    Nothing is when ``mutate`` returns None or a state whose JSON equals the
    stored JSON. ``mutate`` gets a state parsed for it alone, so a change it
    makes to it in place is not missed.
    """
    stored = json.loads(text) if text is not None else None
    after = mutate(tag_from_doc(stored) if stored is not None else None)
    if after is None:
        return None
    doc = tag_doc(after)
    if doc == stored:
        return None
    return TagWrite(tag, after, json.dumps(doc, separators=(",", ":")), version)


def tag_put(table: str, namespace: str, name: str, write: TagWrite) -> dict[str, Any]:
    """A ``Put`` of ``write`` on the condition that the tag is still at the version read.

    The item carries the sparse index attributes its state calls for; absent
    ones leave the indexes.
    """
    indexed = index_keys(namespace, name, write.state)
    put: dict[str, Any] = {
        "TableName": table,
        "Item": {
            **tag_key(namespace, name, write.tag),
            "doc": {"S": write.text},
            "version": {"N": str((write.version or 0) + 1)},
            **{attribute: {"S": value} for attribute, value in indexed.items()},
        },
    }
    if write.version is None:
        put["ConditionExpression"] = "attribute_not_exists(#pk)"
        put["ExpressionAttributeNames"] = {"#pk": "pk"}
    else:
        put["ConditionExpression"] = "#version = :version"
        put["ExpressionAttributeNames"] = {"#version": "version"}
        put["ExpressionAttributeValues"] = {":version": {"N": str(write.version)}}
    return put


def transaction_groups(writes: list[TagWrite]) -> list[list[TagWrite]]:
    """``writes`` in order, in groups that fit one ``TransactWriteItems`` each."""
    groups: list[list[TagWrite]] = [[]]
    size = 0
    for write in writes:
        weight = len(write.text)
        if groups[-1] and (
            len(groups[-1]) >= _TRANSACTION_ITEMS or size + weight > _TRANSACTION_BYTES
        ):
            groups.append([])
            size = 0
        groups[-1].append(write)
        size += weight
    return [group for group in groups if group]


# --- meta -------------------------------------------------------------------------


def meta_doc(meta: StreamMeta) -> dict[str, Any]:
    """``meta`` as plain JSON data; :func:`meta_from_doc` reads it back."""
    return {
        "namespace": meta.namespace,
        "name": meta.name,
        "uid": meta.uid,
        "resourceVersion": meta.resource_version,
        "generation": meta.generation,
        "creationTimestamp": format_time(meta.creation_timestamp),
        "annotations": dict(meta.annotations),
        "labels": dict(meta.labels),
        "lookupPolicyLocal": meta.lookup_policy_local,
        "dockerImageRepository": meta.docker_image_repository,
        "publicDockerImageRepository": meta.public_docker_image_repository,
    }


def meta_from_doc(doc: Mapping[str, Any]) -> StreamMeta:
    """The :class:`StreamMeta` :func:`meta_doc` wrote."""
    created = parse_time(doc["creationTimestamp"])
    if created is None:
        raise ValueError("a stream needs a creationTimestamp")
    return StreamMeta(
        namespace=str(doc["namespace"]),
        name=str(doc["name"]),
        uid=str(doc["uid"]),
        resource_version=str(doc["resourceVersion"]),
        generation=int(doc["generation"]),
        creation_timestamp=created,
        annotations={str(k): str(v) for k, v in (doc.get("annotations") or {}).items()},
        labels={str(k): str(v) for k, v in (doc.get("labels") or {}).items()},
        lookup_policy_local=bool(doc.get("lookupPolicyLocal", False)),
        docker_image_repository=str(doc.get("dockerImageRepository", "")),
        public_docker_image_repository=str(doc.get("publicDockerImageRepository", "")),
    )


def meta_item(meta: StreamMeta) -> Item:
    """The meta item of a new stream: ``meta`` with its own attributes split out."""
    doc = {k: v for k, v in meta_doc(meta).items() if k not in _OWN_ATTRIBUTES}
    return {
        **meta_key(meta.namespace, meta.name),
        "doc": {"S": json.dumps(doc, separators=(",", ":"))},
        "uid": {"S": meta.uid},
        "resourceVersion": {"N": meta.resource_version},
        "generation": {"N": str(meta.generation)},
        "annotations": {"M": {key: {"S": value} for key, value in meta.annotations.items()}},
    }


def meta_from_item(item: Item) -> StreamMeta:
    """The :class:`StreamMeta` of a meta item, its own attributes included."""
    data: dict[str, Any] = json.loads(item["doc"]["S"])
    data["uid"] = item["uid"]["S"]
    data["resourceVersion"] = str(int(item["resourceVersion"]["N"]))
    data["generation"] = int(item["generation"]["N"])
    data["annotations"] = {
        key: value["S"] for key, value in item.get("annotations", {}).get("M", {}).items()
    }
    return meta_from_doc(data)

"""The latest ImageStreamImport document of each name, in the streams table.

A repository import's document holds an image status per tag and may run to
thousands of images, far beyond one 400 KB item, so this adapter owns how a
document is split into items under ``pk = import#<namespace>#<name>``:

- one *record* per save, with a fresh record id; its entries are
  ``sk = entry#<recordId>#<section>#<00000>``, each a gzip'd JSON binary
  ``doc``: section ``images`` holds ``status.images[i]``, ``repository``
  holds ``status.repository.images[i]`` and ``head`` holds the rest of the
  document. A value whose compressed form exceeds :data:`PART_BYTES`
  continues in ``...#<00000>#<001>``, ``#<002>``...; the first item says
  how many ``parts`` there are;
- ``sk = head`` points at the current record (``recordId``) and says how
  many entries each section has (``imagesCount``,
  ``repositoryImagesCount``; absent when the document had no such list).

A save writes the new record's entries first, then switches the head in one
``PutItem`` (readers see the old document or the new one, never a mix),
then deletes the previous record. A reader that loses a race with that
delete reads the head again. What the document means is the models'
business; this module never logs its contents.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from aws_lambda_powertools import Logger

from imagestreams.adapters.dynamo import (
    ClientFactory,
    Item,
    Sleeper,
    TableStore,
    batch_write,
    compress_json,
    decompress_json,
    query_all,
)
from imagestreams.errors import ServiceUnavailableError
from imagestreams.observability import tracer

__all__ = ["PART_BYTES", "DynamoImportRecords"]

logger = Logger(child=True)

# Compressed bytes per item: an item may hold 400 KB including its keys.
PART_BYTES = 350 * 1024
HEAD = "head"
IMAGES = "images"
REPOSITORY = "repository"
# Saves that replace the record between our reading its head and its entries.
_LOAD_ROUNDS = 5


def _pk(namespace: str, name: str) -> str:
    return f"import#{namespace}#{name}"


def _split(
    document: Mapping[str, Any],
) -> tuple[dict[str, Any], list[Any] | None, list[Any] | None]:
    """The document without its image lists, and the lists (None when absent)."""
    head = dict(document)
    images: list[Any] | None = None
    repository_images: list[Any] | None = None
    status = head.get("status")
    if isinstance(status, Mapping):
        status = dict(status)
        if isinstance(status.get("images"), list):
            images = status.pop("images")
        repository = status.get("repository")
        if isinstance(repository, Mapping) and isinstance(repository.get("images"), list):
            repository = dict(repository)
            repository_images = repository.pop("images")
            status["repository"] = repository
        head["status"] = status
    return head, images, repository_images


@tracer.trace_methods("import-records")
class DynamoImportRecords(TableStore):
    """The latest import document per namespace and name.

    ``client_factory`` builds the DynamoDB client on first use; ``sleep`` is
    what batch retries wait with.
    """

    what = "import records"

    def __init__(
        self,
        table_name: str,
        *,
        client_factory: ClientFactory | None = None,
        sleep: Sleeper = time.sleep,
        part_bytes: int = PART_BYTES,
    ) -> None:
        if part_bytes < 1:
            raise ValueError("part_bytes must be positive")
        super().__init__(table_name, client_factory, sleep)
        self._part_bytes = part_bytes

    def save(self, namespace: str, name: str, document: Mapping[str, Any]) -> None:
        """Replace the stored document of ``name`` with ``document``."""
        pk = _pk(namespace, name)
        head, images, repository_images = _split(document)
        record_id = uuid.uuid4().hex
        entries: list[tuple[str, int, Any]] = [(HEAD, 0, head)]
        entries += [(IMAGES, i, value) for i, value in enumerate(images or [])]
        entries += [(REPOSITORY, i, value) for i, value in enumerate(repository_images or [])]
        writes = [
            {"PutRequest": {"Item": item}} for item in self._entry_items(pk, record_id, entries)
        ]
        batch_write(self._db(), self._table, writes, sleep=self._sleep)

        pointer: Item = {"pk": {"S": pk}, "sk": {"S": HEAD}, "recordId": {"S": record_id}}
        if images is not None:
            pointer["imagesCount"] = {"N": str(len(images))}
        if repository_images is not None:
            pointer["repositoryImagesCount"] = {"N": str(len(repository_images))}
        response = self._db().put_item(TableName=self._table, Item=pointer, ReturnValues="ALL_OLD")
        previous = response.get("Attributes", {}).get("recordId", {}).get("S")
        if previous and previous != record_id:
            self._delete_under(pk, f"entry#{previous}#")
        logger.debug("import record saved", namespace=namespace, record=name, entries=len(entries))

    def _entry_items(
        self, pk: str, record_id: str, entries: Iterable[tuple[str, int, Any]]
    ) -> Iterable[Item]:
        size = self._part_bytes
        for section, index, value in entries:
            blob = compress_json(value)
            parts = [blob[start : start + size] for start in range(0, len(blob), size)]
            base = f"entry#{record_id}#{section}#{index:05d}"
            for number, part in enumerate(parts):
                item: Item = {
                    "pk": {"S": pk},
                    "sk": {"S": f"{base}#{number:03d}" if number else base},
                    "doc": {"B": part},
                }
                if number == 0:
                    item["parts"] = {"N": str(len(parts))}
                yield item

    def load(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored document of ``name``, or None when there is none."""
        pk = _pk(namespace, name)
        for _ in range(_LOAD_ROUNDS):
            pointer = (
                self._db()
                .get_item(
                    TableName=self._table,
                    Key={"pk": {"S": pk}, "sk": {"S": HEAD}},
                    ConsistentRead=True,
                )
                .get("Item")
            )
            if not pointer:
                return None
            record_id = pointer["recordId"]["S"]
            items = query_all(
                self._db(),
                TableName=self._table,
                KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
                ExpressionAttributeNames={"#pk": "pk", "#sk": "sk"},
                ExpressionAttributeValues={
                    ":pk": {"S": pk},
                    ":prefix": {"S": f"entry#{record_id}#"},
                },
                ConsistentRead=True,
            )
            document = _assemble(pointer, items)
            if document is not None:
                return document
            # A newer save replaced this record while we read it.
        raise ServiceUnavailableError(
            f'the import "{name}" changed too often while being read; try again'
        )

    def delete(self, namespace: str, name: str) -> bool:
        """Delete the stored document of ``name``; False when there was none."""
        pk = _pk(namespace, name)
        response = self._db().delete_item(
            TableName=self._table,
            Key={"pk": {"S": pk}, "sk": {"S": HEAD}},
            ReturnValues="ALL_OLD",
        )
        # Every record under the name: the current one and any a failed save left.
        self._delete_under(pk, "entry#")
        return bool(response.get("Attributes"))

    def _delete_under(self, pk: str, prefix: str) -> None:
        keys = query_all(
            self._db(),
            TableName=self._table,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": "pk", "#sk": "sk"},
            ExpressionAttributeValues={":pk": {"S": pk}, ":prefix": {"S": prefix}},
            ProjectionExpression="#pk, #sk",
            ConsistentRead=True,
        )
        deletes = [{"DeleteRequest": {"Key": {"pk": k["pk"], "sk": k["sk"]}}} for k in keys]
        batch_write(self._db(), self._table, deletes, sleep=self._sleep)


def _assemble(pointer: Item, items: Iterable[Item]) -> dict[str, Any] | None:
    """The document a record's entries make up, or None if any is missing."""
    parts: dict[tuple[str, int], dict[int, bytes]] = {}
    expected: dict[tuple[str, int], int] = {}
    for item in items:
        fields = item["sk"]["S"].split("#")  # entry, recordId, section, index[, part]
        key = (fields[2], int(fields[3]))
        number = int(fields[4]) if len(fields) > 4 else 0
        parts.setdefault(key, {})[number] = item["doc"]["B"]
        if number == 0:
            expected[key] = int(item["parts"]["N"])

    def value(section: str, index: int) -> Any:
        key = (section, index)
        have = parts.get(key, {})
        if key not in expected or len(have) != expected[key]:
            raise LookupError(key)
        return decompress_json(b"".join(have[n] for n in sorted(have)))

    counts = {
        section: int(pointer[attribute]["N"])
        for section, attribute in ((IMAGES, "imagesCount"), (REPOSITORY, "repositoryImagesCount"))
        if attribute in pointer
    }
    try:
        document: dict[str, Any] = value(HEAD, 0)
        sections = {s: [value(s, i) for i in range(n)] for s, n in counts.items()}
    except LookupError:
        return None
    if IMAGES in sections:
        document.setdefault("status", {})["images"] = sections[IMAGES]
    if REPOSITORY in sections:
        document.setdefault("status", {}).setdefault("repository", {})["images"] = sections[
            REPOSITORY
        ]
    return document

"""The latest ImageStreamImport document of each name, in the streams table.

A repository import's document holds an image status per tag and may run to
thousands of images, far beyond one 400 KB item, so this adapter owns how a
document is split into items under ``pk = import#<namespace>#<name>``.

A document is cut into three *sections*: ``images`` is ``status.images``,
``repository`` is ``status.repository.images`` and ``head`` is the rest of
the document. Each save writes a *record* with a fresh record id:

- ``sk = entry#<recordId>#<section>`` holds a whole section as a gzip'd JSON
  binary ``doc`` (the image statuses of one import are alike and compress far
  better together than apart, so a 1,000-image document takes a handful of
  items). A section whose compressed form exceeds :data:`PART_BYTES`
  continues in ``...#<section>#001``, ``#002``...; the first item says how
  many ``parts`` there are. A list absent from the document has no section;
- ``sk = head`` points at the current record (``recordId``), marks the
  layout (``layout = "sections"``) and maps each stored section to its
  number of parts (``parts``).

Records saved before sections were stored whole have a head without
``layout``: their entries hold one value per list element,
``sk = entry#<recordId>#<section>#<00000>`` (``head`` is element 0), with
parts in ``...#<00000>#<001>``..., and the head counts each list's elements
(``imagesCount``, ``repositoryImagesCount``; absent when the document had no
such list). They are still read, and the next save or delete removes them.

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
# The head's mark of a record whose sections are stored whole.
LAYOUT = "sections"
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
    what batch retries wait with; ``part_bytes`` caps an item's compressed bytes.
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
        sections = {HEAD: head, IMAGES: images, REPOSITORY: repository_images}
        record_id = uuid.uuid4().hex
        items: list[Item] = []
        parts: dict[str, int] = {}
        for section, value in sections.items():
            if value is not None:
                written = self._value_items(pk, f"entry#{record_id}#{section}", value)
                parts[section] = len(written)
                items += written
        puts = [{"PutRequest": {"Item": item}} for item in items]
        batch_write(self._db(), self._table, puts, sleep=self._sleep)

        pointer: Item = {
            "pk": {"S": pk},
            "sk": {"S": HEAD},
            "recordId": {"S": record_id},
            "layout": {"S": LAYOUT},
            "parts": {"M": {section: {"N": str(n)} for section, n in parts.items()}},
        }
        response = self._db().put_item(TableName=self._table, Item=pointer, ReturnValues="ALL_OLD")
        previous = response.get("Attributes")
        if previous and previous["recordId"]["S"] != record_id:
            self._delete_record(pk, previous)
        logger.debug("import record saved", namespace=namespace, record=name, items=len(items))

    def _value_items(self, pk: str, base: str, value: Any) -> list[Item]:
        """The items of one value: its compressed form cut into parts of ``part_bytes``."""
        blob = compress_json(value)
        size = self._part_bytes
        chunks = [blob[start : start + size] for start in range(0, len(blob), size)]
        items: list[Item] = [
            {"pk": {"S": pk}, "sk": {"S": _part_key(base, number)}, "doc": {"B": chunk}}
            for number, chunk in enumerate(chunks)
        ]
        items[0]["parts"] = {"N": str(len(chunks))}
        return items

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

    def _delete_record(self, pk: str, pointer: Item) -> None:
        """Delete the entries of the record ``pointer`` pointed at."""
        record_id = pointer["recordId"]["S"]
        if not _is_sections(pointer):
            self._delete_under(pk, f"entry#{record_id}#")
            return
        # The head says which items the record has: no query needed to find them.
        deletes = [
            {"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": _part_key(base, number)}}}}
            for section, count in pointer["parts"]["M"].items()
            for base in [f"entry#{record_id}#{section}"]
            for number in range(int(count["N"]))
        ]
        batch_write(self._db(), self._table, deletes, sleep=self._sleep)

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


def _part_key(base: str, number: int) -> str:
    """The sort key of part ``number`` of the value stored at ``base``."""
    return f"{base}#{number:03d}" if number else base


def _is_sections(pointer: Item) -> bool:
    return bool(pointer.get("layout", {}).get("S") == LAYOUT)


def _whole_values(items: Iterable[Item]) -> dict[str, bytes]:
    """The compressed values whose parts are all present, by their first part's key."""
    expected: dict[str, int] = {}
    parts: dict[str, dict[int, bytes]] = {}
    for item in items:
        key = item["sk"]["S"]
        if "parts" in item:
            base, number = key, 0
            expected[base] = int(item["parts"]["N"])
        else:
            base, _, suffix = key.rpartition("#")
            number = int(suffix)
        parts.setdefault(base, {})[number] = item["doc"]["B"]
    return {
        base: b"".join(have[n] for n in range(count))
        for base, count in expected.items()
        if sorted(have := parts[base]) == list(range(count))
    }


def _assemble(pointer: Item, items: Iterable[Item]) -> dict[str, Any] | None:
    """The document a record's entries make up, or None if any is missing."""
    blobs = _whole_values(items)
    prefix = f"entry#{pointer['recordId']['S']}#"

    def value(key: str) -> Any:
        if key not in blobs:
            raise LookupError(key)
        return decompress_json(blobs[key])

    sections: dict[str, Any]
    try:
        if _is_sections(pointer):
            sections = {section: value(prefix + section) for section in pointer["parts"]["M"]}
        else:
            sections = {HEAD: value(f"{prefix}{HEAD}#00000")}
            for section, attribute in (
                (IMAGES, "imagesCount"),
                (REPOSITORY, "repositoryImagesCount"),
            ):
                if attribute in pointer:
                    count = int(pointer[attribute]["N"])
                    sections[section] = [value(f"{prefix}{section}#{i:05d}") for i in range(count)]
    except LookupError:
        return None
    return _join(sections)


def _join(sections: Mapping[str, Any]) -> dict[str, Any]:
    """The document :func:`_split` took apart into ``sections``."""
    document: dict[str, Any] = sections[HEAD]
    if IMAGES in sections:
        document.setdefault("status", {})["images"] = sections[IMAGES]
    if REPOSITORY in sections:
        status = document.setdefault("status", {})
        status.setdefault("repository", {})["images"] = sections[REPOSITORY]
    return document

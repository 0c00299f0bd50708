"""The import record store on the streams table built from template.yaml, moto for DynamoDB.

The table name comes from the api function's settings, so keys, names and
environment cannot drift apart. Records written in the layout of earlier
releases (one item per image status) are written here item by item, as a
deployed table holds them, and must still load and be cleaned up.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import secrets
from typing import Any

import boto3
import pytest

from imagestreams.adapters.imports_store import PART_BYTES, DynamoImportRecords
from imagestreams.config import load_settings
from imagestreams.errors import ServiceUnavailableError
from tests.support.dynamo_calls import Calls

PK = "import#team-a#app"
OLD_RECORD = "0123456789abcdef0123456789abcdef"


# --- fixtures and helpers ---------------------------------------------------------


@pytest.fixture
def table(api_environment: dict[str, str]) -> str:
    """The streams table, as the api function's settings name it."""
    return load_settings(api_environment).streams_table


@pytest.fixture
def calls(aws: boto3.Session) -> Calls:
    return Calls(aws)


@pytest.fixture
def records(table: str, calls: Calls) -> DynamoImportRecords:
    return DynamoImportRecords(table, client_factory=calls.factory, sleep=lambda _: None)


def noise(size: int) -> str:
    """Text that does not compress well (base64 of random bytes)."""
    return base64.b64encode(os.urandom(size * 3 // 4)).decode()


def image_status(n: int) -> dict[str, Any]:
    """An ImageImportStatus as the API writes it, with incompressible digests."""
    layers = [{"name": "sha256:" + secrets.token_hex(32), "size": 2**40 + n} for _ in range(10)]
    return {
        "status": {"metadata": {}, "status": "Success"},
        "tag": f"v{n}",
        "image": {
            "metadata": {"name": "sha256:" + secrets.token_hex(32)},
            "dockerImageLayers": layers,
        },
    }


def import_document(
    name: str = "app", *, images: int = 0, repository: int | None = None
) -> dict[str, Any]:
    status: dict[str, Any] = {"import": {"metadata": {"name": name}, "status": {"tags": []}}}
    if images:
        status["images"] = [image_status(n) for n in range(images)]
    if repository is not None:
        status["repository"] = {
            "status": {"metadata": {}, "status": "Success"},
            "images": [image_status(n) for n in range(repository)],
            "additionalTags": ["old"],
        }
    return {
        "kind": "ImageStreamImport",
        "apiVersion": "image.openshift.io/v1",
        "metadata": {"name": name, "namespace": "team-a"},
        "spec": {"import": True, "repository": {"from": {"kind": "DockerImage", "name": "x/y"}}},
        "status": status,
    }


def stored(aws: boto3.Session, table: str, pk: str = PK) -> list[dict[str, Any]]:
    """The items stored under ``pk``, in sort key order."""
    paginator = aws.client("dynamodb").get_paginator("query")
    pages = paginator.paginate(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
    )
    return [item for page in pages for item in page["Items"]]


def sort_keys(aws: boto3.Session, table: str, pk: str = PK) -> list[str]:
    return [item["sk"]["S"] for item in stored(aws, table, pk)]


def head_of(aws: boto3.Session, table: str) -> dict[str, Any]:
    item: dict[str, Any] = aws.client("dynamodb").get_item(
        TableName=table, Key={"pk": {"S": PK}, "sk": {"S": "head"}}
    )["Item"]
    return item


def write_old_record(
    aws: boto3.Session,
    table: str,
    head: dict[str, Any],
    images: list[Any] | None = None,
    repository: list[Any] | None = None,
    *,
    part_bytes: int = PART_BYTES,
) -> None:
    """Write a record as earlier releases did: one item per value, counts on the head."""
    client = aws.client("dynamodb")
    values = [("head", 0, head)]
    values += [("images", i, value) for i, value in enumerate(images or [])]
    values += [("repository", i, value) for i, value in enumerate(repository or [])]
    for section, index, value in values:
        text = json.dumps(value, separators=(",", ":")).encode()
        blob = gzip.compress(text, mtime=0)
        parts = [blob[at : at + part_bytes] for at in range(0, len(blob), part_bytes)]
        base = f"entry#{OLD_RECORD}#{section}#{index:05d}"
        for number, part in enumerate(parts):
            item = {"pk": {"S": PK}, "sk": {"S": base}, "doc": {"B": part}}
            if number:
                item["sk"] = {"S": f"{base}#{number:03d}"}
            else:
                item["parts"] = {"N": str(len(parts))}
            client.put_item(TableName=table, Item=item)
    pointer = {"pk": {"S": PK}, "sk": {"S": "head"}, "recordId": {"S": OLD_RECORD}}
    if images is not None:
        pointer["imagesCount"] = {"N": str(len(images))}
    if repository is not None:
        pointer["repositoryImagesCount"] = {"N": str(len(repository))}
    client.put_item(TableName=table, Item=pointer)


# --- round trips ------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        {"kind": "ImageStreamImport", "metadata": {"name": "app"}},
        {"metadata": {"name": "app"}, "status": None},
        {"metadata": {"name": "app"}, "status": {}},
        {"metadata": {"name": "app"}, "status": {"images": []}},
        {"metadata": {"name": "app"}, "status": {"repository": {"status": {}}}},
        {"metadata": {"name": "app"}, "status": {"repository": {"images": []}, "images": None}},
        {"metadata": {"name": "app"}, "status": {"repository": {"images": None}}},
        {"metadata": {"name": "app"}, "status": {"images": [{"tag": "a"}, {}, {"tag": "c"}]}},
        import_document(images=3),
        import_document(repository=0),
        import_document(images=2, repository=5),
        {"status": {"images": [1, "two", None, {"n": 2**64 + 1}]}},
    ],
    ids=[
        "no-status",
        "null-status",
        "empty-status",
        "empty-images",
        "repository-no-images",
        "empty-and-null",
        "repository-null-images",
        "three",
        "images",
        "repository-empty",
        "images-and-repository",
        "odd-values",
    ],
)
def test_a_document_comes_back_as_saved(
    records: DynamoImportRecords, document: dict[str, Any]
) -> None:
    records.save("team-a", "app", document)

    assert records.load("team-a", "app") == document


def test_a_document_of_several_query_pages_comes_back_whole(
    records: DynamoImportRecords, calls: Calls
) -> None:
    # Given 2,500 incompressible image statuses: sections larger than a 1 MB query page
    document = import_document(images=500, repository=2000)
    records.save("team-a", "app", document)
    calls.clear()
    # When / Then
    assert records.load("team-a", "app") == document
    assert len(calls.of("Query")) > 1


@pytest.mark.parametrize(
    ("part_bytes", "images", "large"),
    [(1_000, 40, 0), (4_000, 3, 10_000), (PART_BYTES, 3, 2 * PART_BYTES + 10)],
    ids=["many-small-parts", "large-statuses", "default-parts"],
)
def test_a_section_larger_than_a_part_is_split(
    table: str, aws: boto3.Session, part_bytes: int, images: int, large: int
) -> None:
    # Given sections whose compressed form exceeds a part
    records = DynamoImportRecords(
        table, client_factory=lambda: aws.client("dynamodb"), part_bytes=part_bytes
    )
    document = import_document(images=images, repository=images)
    document["status"]["images"][1]["image"]["dockerImageConfig"] = noise(large)
    document["status"]["repository"]["images"][2]["image"]["dockerImageConfig"] = noise(large)
    document["spec"]["images"] = [{"from": {"kind": "DockerImage", "name": noise(2 * part_bytes)}}]
    # When
    records.save("team-a", "app", document)
    # Then every section is cut into parts no larger than part_bytes, and joined again
    assert records.load("team-a", "app") == document
    items = [item for item in stored(aws, table) if item["sk"]["S"] != "head"]
    assert all(len(item["doc"]["B"]) <= part_bytes for item in items)
    parts = {k: int(n["N"]) for k, n in head_of(aws, table)["parts"]["M"].items()}
    assert parts.keys() == {"head", "images", "repository"}
    assert all(n > 1 for n in parts.values())
    assert len(items) == sum(parts.values())


# --- how many items a save writes ------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [{"repository": 1000}, {"images": 1000}],
    ids=["repository-import", "tag-imports"],
)
def test_a_thousand_image_import_takes_a_handful_of_items(
    records: DynamoImportRecords, calls: Calls, table: str, aws: boto3.Session, shape: Any
) -> None:
    # Given a 1,000-image document saved once
    records.save("team-a", "app", import_document(**shape))
    assert len(sort_keys(aws, table)) <= 5
    calls.clear()
    # When another one replaces it
    document = import_document(**shape)
    records.save("team-a", "app", document)
    # Then the save wrote and deleted a handful of items, and a handful are stored
    assert calls.requests("PutRequest") + len(calls.of("PutItem")) <= 5
    assert calls.requests("DeleteRequest") <= 4
    assert len(sort_keys(aws, table)) <= 5
    assert records.load("team-a", "app") == document


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (import_document(images=500, repository=500), import_document(images=2, repository=1)),
        (import_document(images=2), import_document(images=300, repository=300)),
        (import_document(images=3, repository=3), {"metadata": {"name": "app"}}),
        ({"metadata": {"name": "app"}}, import_document(repository=4)),
    ],
    ids=["big-then-small", "small-then-big", "lists-then-none", "none-then-lists"],
)
def test_a_resave_leaves_only_the_new_record(
    table: str, aws: boto3.Session, first: dict[str, Any], second: dict[str, Any]
) -> None:
    records = DynamoImportRecords(
        table, client_factory=lambda: aws.client("dynamodb"), part_bytes=64 * 1024
    )
    records.save("team-a", "app", first)

    records.save("team-a", "app", second)

    assert records.load("team-a", "app") == second
    head = head_of(aws, table)
    entries = [key for key in sort_keys(aws, table) if key != "head"]
    assert {key.split("#")[1] for key in entries} == {head["recordId"]["S"]}
    assert len(entries) == sum(int(n["N"]) for n in head["parts"]["M"].values())


def test_save_does_not_change_its_argument(records: DynamoImportRecords) -> None:
    document = import_document(images=2, repository=2)
    before = json.loads(json.dumps(document))

    records.save("team-a", "app", document)

    assert document == before


# --- records of the earlier layout ------------------------------------------------

OLD_HEAD = {"kind": "ImageStreamImport", "metadata": {"name": "app"}}
STATUSES = [image_status(n) for n in range(3)]
LARGE = {"tag": "large", "image": {"dockerImageConfig": noise(2_500)}}


@pytest.mark.parametrize(
    ("head", "images", "repository", "document"),
    [
        (OLD_HEAD, None, None, OLD_HEAD),
        (
            {**OLD_HEAD, "status": {"import": {}}},
            STATUSES,
            None,
            {**OLD_HEAD, "status": {"import": {}, "images": STATUSES}},
        ),
        (
            {**OLD_HEAD, "status": {"repository": {"additionalTags": ["old"]}}},
            None,
            STATUSES[:1],
            {
                **OLD_HEAD,
                "status": {"repository": {"additionalTags": ["old"], "images": STATUSES[:1]}},
            },
        ),
        (
            {**OLD_HEAD, "status": {"repository": {}}},
            [],
            [],
            {**OLD_HEAD, "status": {"images": [], "repository": {"images": []}}},
        ),
        (
            {**OLD_HEAD, "status": {}},
            [LARGE, *STATUSES],
            STATUSES[1:],
            {
                **OLD_HEAD,
                "status": {
                    "images": [LARGE, *STATUSES],
                    "repository": {"images": STATUSES[1:]},
                },
            },
        ),
    ],
    ids=["no-lists", "images", "repository", "empty-lists", "split-values"],
)
def test_a_record_of_the_earlier_layout_still_loads(
    records: DynamoImportRecords,
    table: str,
    aws: boto3.Session,
    head: dict[str, Any],
    images: list[Any] | None,
    repository: list[Any] | None,
    document: dict[str, Any],
) -> None:
    # Given a record stored one item per value, large values in 1,000-byte parts
    write_old_record(aws, table, head, images, repository, part_bytes=1_000)
    # When / Then
    assert records.load("team-a", "app") == document


@pytest.mark.parametrize("replace", ["save", "delete"])
def test_a_record_of_the_earlier_layout_is_removed_by_a_save_or_delete(
    records: DynamoImportRecords, table: str, aws: boto3.Session, replace: str
) -> None:
    # Given a record of the earlier layout with 30 image statuses
    write_old_record(aws, table, OLD_HEAD, STATUSES * 10, STATUSES)
    assert len(sort_keys(aws, table)) == 1 + 1 + 30 + 3
    # When it is replaced or deleted
    document = import_document(images=30)
    if replace == "save":
        records.save("team-a", "app", document)
    else:
        assert records.delete("team-a", "app") is True
    # Then nothing of it is left
    assert not [key for key in sort_keys(aws, table) if OLD_RECORD in key]
    expected = document if replace == "save" else None
    assert records.load("team-a", "app") == expected


# --- races, absence and deletion --------------------------------------------------


@pytest.mark.parametrize("first_layout", ["sections", "earlier"])
def test_load_follows_a_concurrent_save(table: str, aws: boto3.Session, first_layout: str) -> None:
    # Given a reader whose first entry query comes after another save replaced the record
    client = aws.client("dynamodb")
    writer = DynamoImportRecords(table, client_factory=lambda: client)
    if first_layout == "sections":
        writer.save("team-a", "app", import_document(images=3))
    else:
        write_old_record(aws, table, OLD_HEAD, STATUSES)
    second = import_document(images=4)

    class SaveBeforeFirstQuery:
        def __init__(self) -> None:
            self.saved = False

        def __getattr__(self, name: str) -> Any:
            return getattr(client, name)

        def query(self, **params: Any) -> Any:
            if not self.saved:
                self.saved = True
                writer.save("team-a", "app", second)
            return client.query(**params)

    reader = DynamoImportRecords(table, client_factory=SaveBeforeFirstQuery)
    # When / Then it reads the new document, never a mix
    assert reader.load("team-a", "app") == second


def test_load_gives_up_when_every_read_loses_a_race(table: str, aws: boto3.Session) -> None:
    # Given a record whose entries vanish each time the head has been read
    client = aws.client("dynamodb")
    DynamoImportRecords(table, client_factory=lambda: client).save(
        "team-a", "app", import_document(images=2)
    )

    class EntriesGone:
        def __getattr__(self, name: str) -> Any:
            return getattr(client, name)

        def query(self, **params: Any) -> Any:
            return {"Items": []}

    reader = DynamoImportRecords(table, client_factory=EntriesGone)
    # When / Then
    with pytest.raises(ServiceUnavailableError, match="changed too often"):
        reader.load("team-a", "app")


def test_missing_and_delete(records: DynamoImportRecords, table: str, aws: boto3.Session) -> None:
    other = import_document("other", images=1)
    assert records.load("team-a", "app") is None
    records.save("team-a", "app", import_document(images=30))
    records.save("team-a", "other", other)

    assert records.delete("team-a", "app") is True
    assert records.delete("team-a", "app") is False
    assert records.load("team-a", "app") is None
    assert sort_keys(aws, table) == []
    assert records.load("team-a", "other") == other

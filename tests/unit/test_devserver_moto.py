"""The local AWS: a TransactWriteItems that fails changes nothing, and one that succeeds applies."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from testkit.aws import create_template_resources, fake_credentials, mocked_aws

STREAMS_TABLE = "StreamsTable"


def key(sk: str) -> dict[str, Any]:
    return {"pk": {"S": "test"}, "sk": {"S": sk}}


def item(sk: str, value: str) -> dict[str, Any]:
    return {**key(sk), "value": {"S": value}}


@pytest.fixture
def dynamodb() -> Iterator[tuple[Any, str]]:
    fake_credentials(os.environ)
    with mocked_aws() as session:
        table = create_template_resources(session).name(STREAMS_TABLE)
        client = session.client("dynamodb")
        client.put_item(TableName=table, Item=item("kept", "before"))
        client.put_item(TableName=table, Item=item("updated", "before"))
        client.put_item(TableName=table, Item=item("deleted", "before"))
        client.put_item(TableName=table, Item=item("elsewhere", "before"))
        yield client, table


def actions(table: str, condition_holds: bool) -> list[dict[str, Any]]:
    """A put over an item, a new item, an update, a delete, and a condition last."""
    return [
        {"Put": {"TableName": table, "Item": item("kept", "after")}},
        {"Put": {"TableName": table, "Item": item("new", "after")}},
        {
            "Update": {
                "TableName": table,
                "Key": key("updated"),
                "UpdateExpression": "SET #value = :value",
                "ExpressionAttributeNames": {"#value": "value"},
                "ExpressionAttributeValues": {":value": {"S": "after"}},
            }
        },
        {"Delete": {"TableName": table, "Key": key("deleted")}},
        {
            "ConditionCheck": {
                "TableName": table,
                "Key": key("elsewhere"),
                "ConditionExpression": "#value = :value",
                "ExpressionAttributeNames": {"#value": "value"},
                "ExpressionAttributeValues": {
                    ":value": {"S": "before" if condition_holds else "something else"}
                },
            }
        },
    ]


def stored(client: Any, table: str) -> dict[str, str]:
    items = client.scan(TableName=table)["Items"]
    return {entry["sk"]["S"]: entry["value"]["S"] for entry in items if entry["pk"]["S"] == "test"}


@pytest.mark.parametrize(
    ("condition_holds", "expected"),
    [
        (
            False,
            {"kept": "before", "updated": "before", "deleted": "before", "elsewhere": "before"},
        ),
        (True, {"kept": "after", "new": "after", "updated": "after", "elsewhere": "before"}),
    ],
    ids=["cancelled-changes-nothing", "applied-changes-all"],
)
def test_a_transaction_is_applied_whole_or_not_at_all(
    dynamodb: tuple[Any, str], condition_holds: bool, expected: dict[str, str]
) -> None:
    client, table = dynamodb

    if condition_holds:
        client.transact_write_items(TransactItems=actions(table, condition_holds))
    else:
        with pytest.raises(ClientError) as raised:
            client.transact_write_items(TransactItems=actions(table, condition_holds))
        assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"

    assert stored(client, table) == expected

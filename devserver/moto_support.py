"""moto as the local AWS: started for the process, one request at a time.

moto checks a DynamoDB condition and writes the item without a lock, so two
threads could both pass the same condition. DynamoDB applies each request
atomically; serializing whole requests gives the same guarantee while keeping
every interleaving *between* requests, which is what the service must survive.

moto also backs up a whole table once per *action* of a TransactWriteItems
call (a deep copy each, before any action runs), which makes a 100-item
transaction cost a hundred copies of a table of any size. A transaction can
only change the items its actions name, so here the backup is a copy of
those items alone, put back when moto rolls the transaction back.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_lock = threading.RLock()


@contextmanager
def local_aws() -> Iterator[None]:
    """moto for every AWS service, each request applied atomically."""
    from moto import mock_aws  # imported here: it is slow, and only local runs need it
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    dynamodb_models: Any = models  # patched below; moto declares no types for it

    original = BotocoreStubber.process_request
    original_transaction = dynamodb_models.DynamoDBBackend.transact_write_items

    def process_request(self: BotocoreStubber, request: Any) -> Any:
        with _lock:
            return original(self, request)

    def transact_write_items(self: Any, transact_items: Any) -> Any:
        # Requests run one at a time (above), so swapping the module's ``copy``
        # for the length of one transaction cannot affect another request:
        # moto's own table backups become the live tables (a rollback assigns
        # them back, a no-op), and the items named are restored instead. Any
        # other copy (an item's old image in an update) is a real one.
        real = dynamodb_models.copy
        saved = _named_items(self, transact_items, real.deepcopy)

        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else real.deepcopy(value, memo)

        dynamodb_models.copy = types.SimpleNamespace(deepcopy=deepcopy)
        try:
            return original_transaction(self, transact_items)
        except BaseException:
            _restore(saved)
            raise
        finally:
            dynamodb_models.copy = real

    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
    dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items
    try:
        with mock_aws():
            yield
    finally:
        BotocoreStubber.process_request = original  # type: ignore[method-assign]
        dynamodb_models.DynamoDBBackend.transact_write_items = original_transaction


def _named_items(backend: Any, transact_items: Any, deepcopy: Any) -> list[tuple[Any, ...]]:
    """A copy of each item a transaction's actions name (None where there is none)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    saved: list[tuple[Any, ...]] = []
    for action in transact_items:
        _, operation = next(iter(action.items()))
        table = backend.tables.get(operation.get("TableName"))
        attributes = operation.get("Key") or operation.get("Item") or {}
        if table is None or table.hash_key_attr not in attributes:
            continue  # moto refuses the transaction before changing anything
        hash_value = DynamoType(attributes[table.hash_key_attr])
        range_value = None
        if table.range_key_attr is not None:
            if table.range_key_attr not in attributes:
                continue
            range_value = DynamoType(attributes[table.range_key_attr])
        current = table.get_item(hash_value, range_value)
        saved.append((table, hash_value, range_value, deepcopy(current)))
    return saved


def _restore(saved: list[tuple[Any, ...]]) -> None:
    """Put the items :func:`_named_items` copied back as they were."""
    for table, hash_value, range_value, item in reversed(saved):
        if range_value is None:
            if item is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = item
        elif item is None:
            table.items[hash_value].pop(range_value, None)
        else:
            table.items[hash_value][range_value] = item

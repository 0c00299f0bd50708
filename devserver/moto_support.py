"""moto as the local AWS: started for the process, one request at a time.

moto checks a DynamoDB condition and writes the item without a lock, so two
threads could both pass the same condition. DynamoDB applies each request
atomically; serializing whole requests gives the same guarantee while keeping
every interleaving *between* requests, which is what the service must survive.

moto also backs up a whole table once per *action* of a TransactWriteItems
call (a deep copy each, before any action runs), which makes a 100-item
transaction cost a hundred table copies in time and memory. The backups are
identical, so one per table and transaction gives the same rollback.
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

    dynamodb_models: Any = models  # patched below; moto declares no types for it

    original = BotocoreStubber.process_request
    original_transaction = dynamodb_models.DynamoDBBackend.transact_write_items

    def process_request(self: BotocoreStubber, request: Any) -> Any:
        with _lock:
            return original(self, request)

    def transact_write_items(self: Any, transact_items: Any) -> Any:
        # Requests run one at a time (above), so swapping the module's ``copy``
        # for the length of one transaction cannot affect another request.
        real = dynamodb_models.copy
        backups: dict[int, Any] = {}

        def deepcopy(value: Any, memo: Any = None) -> Any:
            if id(value) not in backups:
                backups[id(value)] = real.deepcopy(value, memo)
            return backups[id(value)]

        dynamodb_models.copy = types.SimpleNamespace(deepcopy=deepcopy)
        try:
            return original_transaction(self, transact_items)
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

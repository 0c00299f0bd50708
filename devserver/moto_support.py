"""moto as the local AWS: started for the process, one request at a time.

moto checks a DynamoDB condition and writes the item without a lock, so two
threads could both pass the same condition. DynamoDB applies each request
atomically; serializing whole requests gives the same guarantee while keeping
every interleaving *between* requests, which is what the service must survive.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_lock = threading.RLock()


@contextmanager
def local_aws() -> Iterator[None]:
    """moto for every AWS service, each request applied atomically."""
    from moto import mock_aws  # imported here: it is slow, and only local runs need it
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.process_request

    def process_request(self: BotocoreStubber, request: Any) -> Any:
        with _lock:
            return original(self, request)

    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
    try:
        with mock_aws():
            yield
    finally:
        BotocoreStubber.process_request = original  # type: ignore[method-assign]

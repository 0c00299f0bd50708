"""DynamoDB clients that record each operation a store makes, for tests of the stores."""

from __future__ import annotations

from typing import Any

import boto3


class Calls:
    """Clients of ``session`` that record each DynamoDB operation and its parameters."""

    def __init__(self, session: boto3.Session) -> None:
        self.session = session
        self.made: list[tuple[str, dict[str, Any]]] = []

    def factory(self) -> Any:
        """A client factory for a store: each client it builds records its calls here."""
        client = self.session.client("dynamodb")
        client.meta.events.register("provide-client-params.dynamodb", self._record)
        return client

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.made.append((model.name, params))

    def of(self, operation: str) -> list[dict[str, Any]]:
        """The parameters of each call of ``operation``, in order."""
        return [params for name, params in self.made if name == operation]

    def count(self, operation: str) -> int:
        return len(self.of(operation))

    def requests(self, kind: str) -> int:
        """How many ``PutRequest`` or ``DeleteRequest`` entries batches sent."""
        return sum(
            1
            for params in self.of("BatchWriteItem")
            for entries in params["RequestItems"].values()
            for entry in entries
            if kind in entry
        )

    def clear(self) -> None:
        self.made.clear()

"""The import use case: what a POST of an ImageStreamImport does.

Owns the order of work for one request: refuse what is not served yet, take
the time budget from the invocation, read the namespace's pull secret, run
the importer and assemble the answer document. Adapters arrive through the
constructor (see ``bootstrap``); nothing here builds a client.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Protocol

from imagestreams.credentials import Keyring
from imagestreams.errors import NotImplementedYetError
from imagestreams.importer import Importer
from imagestreams.models import ImageStreamImport, ImageStreamImportStatus
from imagestreams.observability import logger
from imagestreams.registry.transport import Deadline
from imagestreams.validation import apply_defaults

# Time kept back from the Lambda deadline to write the response.
RESPONSE_RESERVE = 2.0


class PullSecrets(Protocol):
    """Where a namespace's registry credentials come from."""

    def for_namespace(self, namespace: str) -> Keyring: ...


class ImportService:
    """Runs ImageStreamImport requests."""

    def __init__(
        self,
        importer: Importer,
        pull_secrets: PullSecrets,
        *,
        time_budget: float,
        default_import_mode: str,
    ) -> None:
        self._importer = importer
        self._pull_secrets = pull_secrets
        self._time_budget = time_budget
        self._default_import_mode = default_import_mode

    def create(
        self, namespace: str, request: ImageStreamImport, remaining_seconds: float
    ) -> ImageStreamImport:
        """Import what ``request`` names; the returned document has ``status`` filled."""
        if request.spec.import_:
            raise NotImplementedYetError(
                "spec.import: true (tagging the results into an ImageStream) is not served yet; "
                "send spec.import: false to see the import results"
            )
        apply_defaults(request, self._default_import_mode)
        budget = max(0.5, min(self._time_budget, remaining_seconds - RESPONSE_RESERVE))
        deadline = Deadline.after(budget)
        keyring = self._pull_secrets.for_namespace(namespace)
        fetcher = self._importer.fetcher(keyring, deadline)
        statuses, repository = self._importer.import_spec(
            request.spec, fetcher, dict(request.metadata.annotations or {})
        )
        request.metadata.namespace = namespace
        request.metadata.uid = str(uuid.uuid4())
        request.metadata.creation_timestamp = datetime.now(UTC)
        request.status = ImageStreamImportStatus(images=statuses or None, repository=repository)
        failed = sum(1 for s in statuses if s.status.status != "Success")
        logger.info(
            "import finished",
            namespace=namespace,
            stream=request.metadata.name,
            images=len(statuses),
            failed=failed,
        )
        return request

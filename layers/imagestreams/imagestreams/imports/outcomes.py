"""What an import run gives: one target's outcome and its per-image status, and a spec's result.

Owns how an outcome is reported as OpenShift's ``ImageImportStatus``
(``importer.go``'s ``importImages`` and ``importFromRepository``): the tag
reported is the target's source tag (:attr:`Target.status_tag`), and a
failure names the reference that failed as distribution prints it. Pure: no
I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from imagestreams.errors import RegistryError, UnsupportedContentError
from imagestreams.imports.plan import Target
from imagestreams.imports.statuses import failure_status
from imagestreams.models import Image, ImageImportStatus, RepositoryImportStatus, Status
from imagestreams.reference import Reference


@dataclass
class Outcome:
    """What importing one target gave.

    ``failed_at`` is the reference an error is about when it is not the
    target's own (a child of a manifest list kept whole).
    """

    target: Target
    image: Image | None = None
    manifests: list[Image] = field(default_factory=list)
    error: RegistryError | None = None
    deferred: bool = False
    failed_at: Reference | None = None

    def status(self) -> ImageImportStatus:
        tag = self.target.status_tag
        if self.error is not None or self.image is None:
            error = self.error or UnsupportedContentError(detail="no image")
            where = self.failed_at or self.target.reported
            return ImageImportStatus(status=failure_status(where.normalized(), error), tag=tag)
        return ImageImportStatus(
            status=Status.success(type_meta=False),
            image=self.image,
            tag=tag,
            manifests=self.manifests or None,
        )


@dataclass
class SpecResult:
    """What importing a spec gave, and what it left for the import queue.

    ``ordered`` is every repository tag to import, in import order;
    ``finished`` the statuses of those imported now, by tag; ``deferred`` the
    tags left for later, in order.
    """

    images: list[ImageImportStatus] = field(default_factory=list)
    repository: RepositoryImportStatus | None = None
    ordered: list[str] = field(default_factory=list)
    finished: dict[str, ImageImportStatus] = field(default_factory=dict)
    deferred: list[str] = field(default_factory=list)
    additional: list[str] = field(default_factory=list)

"""Server-side printing (pure): ``meta.k8s.io/v1`` Tables, as ``kubectl get`` asks for them.

kubectl asks with ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``
and prints the columns the server chose; without a Table it falls back to
NAME and AGE. The columns and cells are those ``oc get`` prints for the
resource (OpenShift's image printers): for an ImageStream NAME, IMAGE
REPOSITORY, TAGS (as many of the most recently updated tags as fit about 40
characters, then ``+ N more...``) and UPDATED (the newest tag event, as a
relative time). Each row carries the object's metadata
(``PartialObjectMetadata``), or the whole object when
``includeObject=Object`` asks for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from imagestreams.models import ImageStream, ImageStreamImage, ImageStreamTag, NamedTagEventList

TABLE_MEDIA = "as=Table"
_NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although "
    "some resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated."
)
IMAGE_STREAM_COLUMNS = [
    {"name": "Name", "type": "string", "format": "name", "description": _NAME_DESCRIPTION},
    {
        "name": "Image Repository",
        "type": "string",
        "format": "",
        "description": "DockerImageRepository represents the effective location this stream "
        "may be accessed at.",
    },
    {"name": "Tags", "type": "string", "format": "", "description": "Human readable list of tags."},
    {"name": "Updated", "type": "string", "format": "", "description": "Last update time."},
]
_TAGS_WIDTH = 40


def wants_table(accept: str | None) -> bool:
    """Whether an ``Accept`` header asks for a ``meta.k8s.io`` Table first."""
    if not accept:
        return False
    first = accept.split(",")[0].replace(" ", "")
    return TABLE_MEDIA in first.split(";") and "g=meta.k8s.io" in first


def stream_table(
    streams: Sequence[ImageStream],
    now: datetime,
    *,
    include_object: str = "Metadata",
    list_meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``Table`` of ``streams``; ``include_object`` is the query's ``includeObject``."""
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta or {},
        "columnDefinitions": [{**c, "priority": 0} for c in IMAGE_STREAM_COLUMNS],
        "rows": [
            {"cells": _stream_cells(s, now), "object": _row_object(s, include_object)}
            for s in streams
        ],
    }


def _row_object(stream: ImageStream, include_object: str) -> dict[str, Any] | None:
    document = stream.to_json_dict()
    if include_object == "None":
        return None
    if include_object == "Object":
        return document
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": document.get("metadata", {}),
    }


def _stream_cells(stream: ImageStream, now: datetime) -> list[str]:
    tags = stream.status.tags or []
    latest = max((t.items[0].created for t in tags if t.items and t.items[0].created), default=None)
    updated = f"{human_duration(now - latest)} ago" if latest else ""
    repository = (
        stream.status.public_docker_image_repository or stream.status.docker_image_repository
    )
    return [stream.metadata.name, repository, tags_up_to_width(tags, _TAGS_WIDTH), updated]


def sort_status_tags(tags: Sequence[NamedTagEventList]) -> list[str]:
    """Tag names, most recently updated first (to the second), then by name."""
    epoch = datetime.min.replace(tzinfo=UTC)

    def updated(tag: NamedTagEventList) -> float:
        created = tag.items[0].created if tag.items else None
        return round((created or epoch).timestamp())

    return [t.tag for t in sorted(tags, key=lambda t: (-updated(t), t.tag))]


def tags_up_to_width(tags: Sequence[NamedTagEventList], width: int) -> str:
    """As many tags as fit ``width`` (at least one; a little more to even the edges), then
    ``+ N more...``."""
    names = sort_status_tags(tags)
    shown = names
    remaining = width
    for index, name in enumerate(names):
        remaining -= len(name) + 1
        if remaining >= 0:
            continue
        if index == 0:
            shown = names[:1]
            break
        margin = width // 4
        if margin < remaining + len(name) and margin >= -remaining:
            continue
        shown = names[:index]
        break
    hidden = len(names) - len(shown)
    joined = ",".join(shown)
    return f"{joined} + {hidden} more..." if hidden > 0 else joined


def human_duration(delta: timedelta) -> str:
    """A duration as Docker's ``HumanDuration`` words it (``5 minutes``, ``About an hour``)."""
    seconds = int(delta.total_seconds())
    if seconds < 1:
        return "Less than a second"
    if seconds == 1:
        return "1 second"
    if seconds < 60:
        return f"{seconds} seconds"
    minutes = seconds // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(seconds / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{seconds // 3600 // 24 // 365} years"


# --- ImageStreamTags and ImageStreamImages -------------------------------------------

_NAME_COLUMN = IMAGE_STREAM_COLUMNS[0]
_IMAGE_REFERENCE = "dockerImageReference is the string that can be used to pull this image."
_UPDATED = {"name": "Updated", "type": "string", "format": "", "description": "Last update time."}
IMAGE_STREAM_TAG_COLUMNS = [
    {**_NAME_COLUMN, "priority": 0},
    {
        "name": "Image Reference",
        "type": "string",
        "format": "",
        "description": _IMAGE_REFERENCE,
        "priority": 0,
    },
    {**_UPDATED, "priority": 0},
    {
        "name": "Image Name",
        "type": "string",
        "format": "",
        "description": "image associated with the ImageStream and tag.",
        "priority": 1,
    },
]
IMAGE_STREAM_IMAGE_COLUMNS = [
    {**_NAME_COLUMN, "priority": 0},
    {**_UPDATED, "priority": 0},
    {
        "name": "Image Reference",
        "type": "string",
        "format": "",
        "description": _IMAGE_REFERENCE,
        "priority": 1,
    },
    {
        "name": "Image Name",
        "type": "string",
        "format": "",
        "description": "image associated with the ImageStream and image name.",
        "priority": 1,
    },
]


def tag_table(
    tags: Sequence[ImageStreamTag],
    now: datetime,
    *,
    include_object: str = "Metadata",
    list_meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``Table`` of ``tags``: NAME, IMAGE REFERENCE, UPDATED and (wide) IMAGE NAME."""
    return _table(
        IMAGE_STREAM_TAG_COLUMNS,
        [
            (
                [
                    t.metadata.name,
                    t.image.docker_image_reference,
                    _ago(t, now),
                    t.image.metadata.name,
                ],
                t.to_json_dict(),
            )
            for t in tags
        ],
        include_object,
        list_meta,
    )


def image_table(
    image: ImageStreamImage, now: datetime, *, include_object: str = "Metadata"
) -> dict[str, Any]:
    """The ``Table`` of one ``ImageStreamImage``: NAME, UPDATED, then (wide) its image."""
    cells = [
        image.metadata.name,
        _ago(image, now),
        image.image.docker_image_reference,
        image.image.metadata.name,
    ]
    return _table(IMAGE_STREAM_IMAGE_COLUMNS, [(cells, image.to_json_dict())], include_object, None)


def _ago(obj: ImageStreamTag | ImageStreamImage, now: datetime) -> str:
    created = obj.metadata.creation_timestamp
    return f"{human_duration(now - created)} ago" if created else ""


def _table(
    columns: list[dict[str, Any]],
    rows: Sequence[tuple[list[str], dict[str, Any]]],
    include_object: str,
    list_meta: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta or {},
        "columnDefinitions": columns,
        "rows": [
            {"cells": cells, "object": _partial(document, include_object)}
            for cells, document in rows
        ],
    }


def _partial(document: dict[str, Any], include_object: str) -> dict[str, Any] | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return document
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": document.get("metadata", {}),
    }

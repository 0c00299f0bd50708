"""The images tagged into an image stream, kept beside its tags once per digest.

This module owns the image items of the streams table (laid out by
``stream_items``): what ``ImageStreamTag`` and ``ImageStreamImage`` show of
an image, without its raw manifest and config. Images are immutable, so an
item is written once; it goes with its stream (``stream_metas``).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_lambda_powertools import Logger

from imagestreams.adapters.dynamo import (
    TableStore,
    batch_get,
    batch_write,
    compress_json,
    decompress_json,
)
from imagestreams.adapters.stream_items import IMAGE_PREFIX, image_key
from imagestreams.models import Image
from imagestreams.observability import tracer

__all__ = ["MAX_IMAGE_BYTES", "StreamImages"]

logger = Logger(child=True)

# An item may hold 400 KB; the rest is room for the key.
MAX_IMAGE_BYTES = 350 * 1024


@tracer.trace_methods("streams")
class StreamImages(TableStore):
    """The image items of the streams table: a part of the stream store."""

    def save_images(self, namespace: str, name: str, images: Sequence[Image]) -> None:
        """Keep the images tagged into a stream; those it already has are not written again.

        Raw manifests and configs are not kept. An image too large for an
        item even so is left out (its tags then show its name only).
        """
        by_digest = {image.metadata.name: image for image in images if image.metadata.name}
        if not by_digest:
            return
        present = batch_get(
            self._db(),
            self._table,
            [image_key(namespace, name, digest) for digest in by_digest],
            projection="#sk",
            names={"#sk": "sk"},
            sleep=self._sleep,
        )
        for item in present:
            by_digest.pop(item["sk"]["S"].removeprefix(IMAGE_PREFIX), None)
        puts = []
        for digest, image in by_digest.items():
            shown = image.model_copy(
                update={"docker_image_manifest": "", "docker_image_config": ""}
            )
            blob = compress_json(shown.to_json_dict())
            if len(blob) > MAX_IMAGE_BYTES:
                logger.warning("image too large to keep", digest=digest, compressed_bytes=len(blob))
                continue
            item = {**image_key(namespace, name, digest), "doc": {"B": blob}}
            puts.append({"PutRequest": {"Item": item}})
        batch_write(self._db(), self._table, puts, sleep=self._sleep)

    def get_image(self, namespace: str, name: str, digest: str) -> Image | None:
        """An image tagged into the stream, or None when none of that digest was kept."""
        item = (
            self._db()
            .get_item(TableName=self._table, Key=image_key(namespace, name, digest))
            .get("Item")
        )
        if not item:
            return None
        try:
            return Image.model_validate(decompress_json(item["doc"]["B"]))
        except (KeyError, ValueError, OSError, EOFError):
            logger.warning("kept image unreadable", digest=digest)
            return None

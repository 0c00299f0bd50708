"""ImageStreamImages: an image of a stream's history, read as ``<stream>@<digest>``.

As openshift-apiserver's ``imagestreamimage`` REST storage: the image must be
one the stream's tags have had (by digest, or a prefix of one); it is shown
whole when the stream kept it. The object is made by :mod:`imagestreams.tagviews`.
"""

from __future__ import annotations

from dataclasses import dataclass

from imagestreams import errors, tagviews
from imagestreams.models import ImageStreamImage
from imagestreams.usecases.ports import StreamStore


@dataclass
class StreamImages:
    """Answers the imagestreamimages route."""

    store: StreamStore

    def get(self, namespace: str, name: str) -> ImageStreamImage:
        """The image ``<stream>@<id>``; 404 when the stream's history has no such image."""
        stream, image_id = tagviews.split_image_name(name)
        meta = self.store.get_meta(namespace, stream)
        if meta is None:
            raise errors.not_found(errors.IMAGESTREAMS, stream)
        event = tagviews.find_image(self.store.get_tags(namespace, stream).values(), image_id)
        if event is None:
            raise errors.not_found(errors.IMAGESTREAMIMAGE, name)
        image = self.store.get_image(namespace, stream, event.image)
        return tagviews.image_stream_image(meta, image_id, event, image)

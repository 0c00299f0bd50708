"""ImageStreamTags: reading a stream's tags as ``<stream>:<tag>`` objects, and deleting one.

As openshift-apiserver's ``imagestreamtag`` REST storage: a get shows the
tag's current image whole; a list shows every tag with a history of every
stream, naming each image only; a delete removes the tag from the stream's
spec and status (its images stay with the stream). A watch, which OpenShift
does not serve for tags, follows the streams' changes (``tag_watch``). The
objects themselves are made by :mod:`imagestreams.tagviews`.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from imagestreams import errors, listing, tagviews, watching
from imagestreams.errors import API_GROUP
from imagestreams.models import ImageStreamTag, Status
from imagestreams.streams import StreamMeta
from imagestreams.usecases.ports import StreamStore
from imagestreams.usecases.tag_watch import TagWatchSource
from imagestreams.usecases.watch import Watch

# Streams whose tags are read at once when listing a namespace.
READERS = 16


@dataclass
class StreamTags:
    """Answers the imagestreamtags routes."""

    store: StreamStore
    watch: Watch = field(default_factory=Watch)

    def get(self, namespace: str, name: str) -> ImageStreamTag:
        """The tag ``<stream>:<tag>`` with its current image; 404 when it has none."""
        stream, tag = tagviews.split_tag_name(name)
        meta = self._meta(namespace, stream)
        state = self.store.get_tags(namespace, stream, [tag]).get(tag)
        event = tagviews.current_event(state) if state is not None else None
        if state is None or event is None:
            raise errors.not_found(errors.IMAGESTREAMTAGS, name)
        image = self.store.get_image(namespace, stream, event.image)
        shown = tagviews.image_stream_tag(meta, state, image)
        assert shown is not None
        return shown

    def list(
        self, namespace: str, options: listing.ListOptions | None = None
    ) -> tuple[list[ImageStreamTag], listing.Page]:
        """The tags ``options`` selects, one page of them, in name order.

        Label selectors apply to the streams' labels (which every tag of a
        stream carries) before any tag is read. The page's ``resource_version``
        is one a watch of tags resumes from.
        """
        options = options or listing.ListOptions()
        # Read first: a watch from this version misses no change the list does not show.
        version = self.store.settled_version()
        metas = [
            m
            for m in self.store.list_meta(namespace)
            if all(r.matches(m.labels) for r in options.labels)
        ]
        if not metas:
            return [], replace(listing.paginate([], options), resource_version=str(version))
        with ThreadPoolExecutor(max_workers=min(READERS, len(metas))) as pool:
            tag_sets = list(pool.map(lambda m: self.store.get_tags(namespace, m.name), metas))
        tags = [
            shown
            for meta, states in zip(metas, tag_sets, strict=True)
            for state in states.values()
            if (shown := tagviews.image_stream_tag(meta, state)) is not None
        ]
        selected = listing.select(
            tags,
            options,
            lambda t: (t.metadata.name, t.metadata.namespace, t.metadata.labels or {}),
        )
        page = listing.paginate([t.metadata.name for t in selected], options)
        page = replace(page, resource_version=str(version))
        by_name = {t.metadata.name: t for t in selected}
        return [by_name[n] for n in page.names], page

    def watch_tags(
        self, namespace: str, options: listing.ListOptions, seconds: float
    ) -> Sequence[watching.Event]:
        """A finite watch of the namespace's tags ``options`` selects (see ``tag_watch``)."""

        def listed(namespace: str, everything: listing.ListOptions) -> Sequence[ImageStreamTag]:
            return self.list(namespace, everything)[0]

        source = TagWatchSource(self.store, namespace, options, listed)
        if watching.start_version(options.resource_version) is not None:
            source.learn()
        bookmark = watching.bookmarker(options.bookmarks, f"{API_GROUP}/v1", "ImageStreamTag")
        return self.watch.run(source, options.resource_version, seconds, bookmark)

    def delete(
        self,
        namespace: str,
        name: str,
        *,
        dry_run: bool = False,
        expected_uid: str | None = None,
        expected_rv: str | None = None,
    ) -> Status:
        """Remove ``<stream>:<tag>`` from the stream's spec and status.

        404 when the tag has neither; the preconditions are the stream's
        (a tag's uid and version are its stream's). A dry run checks the
        same and removes nothing.
        """
        stream, tag = tagviews.split_tag_name(name)
        meta = self._meta(namespace, stream)
        if expected_uid and meta.uid != expected_uid:
            raise errors.conflict(errors.IMAGESTREAMTAGS, name, "the UID precondition was not met")
        if expected_rv and meta.resource_version != expected_rv:
            raise errors.precondition_failed(
                errors.IMAGESTREAMTAGS,
                name,
                "ResourceVersion",
                expected_rv,
                meta.resource_version,
            )
        if not self.store.get_tags(namespace, stream, [tag]):
            raise errors.not_found(errors.IMAGESTREAMTAGS, name)
        if not dry_run and self.store.delete_tag(namespace, stream, tag) is None:
            raise errors.not_found(errors.IMAGESTREAMTAGS, name)
        # OpenShift answers a bare Success, without details.
        return Status(kind="Status", api_version="v1", status="Success")

    def _meta(self, namespace: str, stream: str) -> StreamMeta:
        meta = self.store.get_meta(namespace, stream)
        if meta is None:
            raise errors.not_found(errors.IMAGESTREAMS, stream)
        return meta

"""ImageStreamTags as a watch sees them: each stream change turned into events per tag.

OpenShift has no watch of ImageStreamTags; kubectl users expect
``kubectl get istag -w`` to work all the same. Tags are not stored on their
own, so this source reads the changes of streams (``StreamStore.changes``)
and tells, per tag of a changed stream:

- ``ADDED`` for a tag new to the watch (a watch resumed from a version
  learns the tags there are when it starts; one of those, changed since,
  is ``MODIFIED`` unless its stream is newer than that version);
- ``MODIFIED`` for a tag whose object changed (the stream's version alone
  moving does not count: every tag carries it);
- ``DELETED`` for a tag deleted (``StreamStore.deleted_tags``, alone or with
  its stream), shown as it was last sent or, for a watch resumed from a
  version, as it was when deleted between that version and the watch's
  start; and for a known tag its stream no longer shows (its image gone, or
  no longer selected). A tag created and deleted between two polls was never
  sent and is not named.

Changes are told in version order, so a tag deleted and created again is
told ``DELETED`` then ``ADDED``. A resumed watch cannot tell which of the
tags it learned changed since its version: those of a changed stream are
told ``MODIFIED`` (a harmless repeat for a client that had them).

Objects are shown as a list shows them (the image named only), as they are
now. It writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from imagestreams import listing, streams, tagviews, watching
from imagestreams.models import ImageStreamTag
from imagestreams.usecases.ports import StreamChange, StreamStore, TagDeletion

Key = tuple[str, str]
"""A tag's namespace and ``<stream>:<tag>`` name."""


@dataclass
class TagWatchSource:
    """The ImageStreamTags of one namespace that ``options`` selects, and their changes."""

    store: StreamStore
    namespace: str
    options: listing.ListOptions
    listed: Callable[[str, listing.ListOptions], Sequence[ImageStreamTag]]
    # The tags known, by stream then tag (their last object), and what was sent of each.
    _known: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    _sent: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # The version the tags were learned at: deletions up to it are of tags before the watch.
    _learned_at: int = 0

    def settled(self) -> int:
        return self.store.settled_version()

    def oldest(self) -> int:
        return self.store.oldest_version()

    def current(self) -> list[watching.Event]:
        events = []
        for document in self.learn():
            stream, tag = tagviews.split_tag_name(document["metadata"]["name"])
            self._sent[(stream, tag)] = _unversioned(document)
            events.append(self._event(watching.ADDED, document))
        return events

    def changes(self, after: int, upto: int) -> list[watching.Event]:
        deletions = self.store.deleted_tags(self.namespace, after, upto)
        # At equal versions the stream's change goes first: a deletion that is its latest
        # change is told from the tags it knows, the tombstone then names the others.
        timeline: list[tuple[int, int, str, TagDeletion | StreamChange]] = [
            *(
                (int(d.meta.resource_version), 1, tagviews.tag_name(d.meta.name, d.state.name), d)
                for d in deletions
            ),
            *(
                (int(c.meta.resource_version), 0, "", c)
                for c in self.store.changes(self.namespace, after, upto)
            ),
        ]
        events: list[watching.Event] = []
        for *_, happened in sorted(timeline, key=lambda entry: entry[:3]):
            if isinstance(happened, TagDeletion):
                events.extend(self._deleted(happened))
            else:
                events.extend(self._changed(happened, after))
        return events

    def _deleted(self, deletion: TagDeletion) -> list[watching.Event]:
        """``DELETED`` for a tag the watch knows, or one deleted before it started."""
        meta, state = deletion.meta, deletion.state
        version = int(meta.resource_version)
        known = self._known.setdefault(meta.name, {})
        gone = known.pop(state.name, None)
        self._sent.pop((meta.name, state.name), None)
        if gone is None:
            if version > self._learned_at:
                return []
            shown = tagviews.image_stream_tag(meta, state)
            if shown is None or not self._selects(meta, shown):
                return []
            gone = shown.to_json_dict()
        gone["metadata"] = {**gone["metadata"], "resourceVersion": str(version)}
        return [self._event(watching.DELETED, gone, version)]

    def _changed(self, change: StreamChange, after: int) -> list[watching.Event]:
        """The events of the tags of one changed (or deleted) stream."""
        events: list[watching.Event] = []
        meta = change.meta
        known = self._known.setdefault(meta.name, {})
        version = int(meta.resource_version)
        now: dict[str, dict[str, Any]] = {}
        if not change.deleted:
            for state in self.store.get_tags(meta.namespace, meta.name).values():
                shown = tagviews.image_stream_tag(meta, state)
                if shown is not None and self._selects(meta, shown):
                    now[state.name] = shown.to_json_dict()
        for tag, document in sorted(now.items()):
            key = (meta.name, tag)
            if self._sent.get(key) == _unversioned(document):
                continue
            if tag not in known:
                kind = watching.ADDED
            elif key in self._sent or change.created <= after:
                kind = watching.MODIFIED
            else:
                kind = watching.ADDED
            events.append(self._event(kind, document, version))
            known[tag] = document
            self._sent[key] = _unversioned(document)
        for tag in sorted(known.keys() - now.keys()):
            gone = known.pop(tag)
            self._sent.pop((meta.name, tag), None)
            gone["metadata"] = {**gone["metadata"], "resourceVersion": str(version)}
            events.append(self._event(watching.DELETED, gone, version))
        return events

    def learn(self) -> list[dict[str, Any]]:
        """The selected tags as they are now, remembered as known.

        A watch resumed from a version calls it first, so that the tags it
        did not send can still be told changed or deleted.
        """
        self._learned_at = self.store.settled_version()
        everything = replace(self.options, limit=0, after="")
        documents = [t.to_json_dict() for t in self.listed(self.namespace, everything)]
        for document in documents:
            stream, tag = tagviews.split_tag_name(document["metadata"]["name"])
            self._known.setdefault(stream, {})[tag] = document
        return documents

    def _selects(self, meta: streams.StreamMeta, tag: ImageStreamTag) -> bool:
        return self.options.selects(tag.metadata.name, meta.namespace, meta.labels)

    def _event(
        self, kind: str, document: Mapping[str, Any], version: int | None = None
    ) -> watching.Event:
        metadata = document["metadata"]
        at = version if version is not None else int(metadata.get("resourceVersion") or 0)
        return watching.Event(kind, at, (metadata["namespace"], metadata["name"]), document)


def _unversioned(document: Mapping[str, Any]) -> dict[str, Any]:
    metadata = {k: v for k, v in document["metadata"].items() if k != "resourceVersion"}
    return {**document, "metadata": metadata}

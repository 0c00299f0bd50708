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
- ``DELETED`` for a known tag the stream no longer has, and for every known
  tag of a deleted stream. Tags are not kept after a deletion (a stream's
  tombstone keeps its own fields only), so a tag removed between the version
  a watch resumes from and its start is not named.

Objects are shown as a list shows them (the image named only), as they are
now. It writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from imagestreams import listing, streams, tagviews, watching
from imagestreams.models import ImageStreamTag
from imagestreams.usecases.ports import StreamStore

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
        events: list[watching.Event] = []
        for change in self.store.changes(self.namespace, after, upto):
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

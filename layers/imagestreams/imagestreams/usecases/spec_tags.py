"""The ImageStream strategy's rules for the spec tags of a write (pure).

Owns what ``usecases.stream_writes`` decides per spec tag: whether a tag
asks for a new import or resolution (upstream's ``tagRefChanged``), the
change that writes a spec tag as a tag mutation, how specs compare, and the
names the API server's generator makes from ``metadata.generateName``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from imagestreams import streams
from imagestreams.models import NamedTagEventList, ObjectReference, TagEvent, TagReference
from imagestreams.usecases.tagging import Mutation

# names.SimpleNameGenerator: five characters after generateName (cut to 58), from an
# alphabet without vowels; the generic registry tries 8 names before it gives up.
_GENERATED = "bcdfghjklmnpqrstvwxz2456789"
GENERATE_NAME_ATTEMPTS = 8


def random_suffix() -> str:
    """Five random characters of the API server's name generator."""
    return "".join(random.choices(_GENERATED, k=5))


def tag_ref_changed(old: TagReference, new: TagReference, namespace: str) -> bool:
    """Whether a spec tag asks for a new import or resolution (upstream's ``tagRefChanged``)."""
    if new.from_ is None or not (new.from_.kind or new.from_.name):
        return False
    before = old.from_ or ObjectReference()
    if (before.namespace or namespace) != (new.from_.namespace or namespace):
        return True
    if before.name != new.from_.name or old.reference != new.reference:
        return True
    return (
        old.generation is not None
        and new.generation is not None
        and old.generation != new.generation
        and new.generation == 0
    )


def set_spec(tag: str, spec: TagReference | None, event: TagEvent | None) -> Mutation:
    """The change that makes ``spec`` the tag's spec (None: no spec tag), keeping its status."""
    written = spec.model_copy(deep=True) if spec is not None else None

    def mutate(state: streams.TagState | None) -> streams.TagState:
        status = state.status.model_copy(deep=True) if state and state.status else None
        if event is not None:
            status = status or NamedTagEventList(tag=tag)
            current = status.items[0] if status.items else None
            if current is None or (current.docker_image_reference, current.image) != (
                event.docker_image_reference,
                event.image,
            ):
                status.items.insert(0, event.model_copy())
            status.conditions = None
        spec_copy = written.model_copy(deep=True) if written is not None else None
        return streams.TagState(name=tag, spec=spec_copy, status=status)

    return mutate


def tag_json(tag: TagReference) -> dict[str, Any]:
    """A spec tag as written: what two specs are compared by."""
    return tag.to_json_dict()


def spec_json(tags: Mapping[str, TagReference]) -> list[dict[str, Any]]:
    """A whole spec as written, in tag order."""
    return [tag_json(tags[name]) for name in sorted(tags)]

"""Re-imports: which stream tags a schedule or a registry push concerns (pure).

Owns three things and no I/O:

- the index keys a stored tag carries, so the stores can find tags without a
  scan: ``tracks`` (the ``registry/repository:tag`` its spec follows, for push
  events) and ``scheduled`` (a shard of the sparse schedule index, only while
  ``importPolicy.scheduled`` is true; a tag imported by digest leaves the index
  after its first success);
- reading registry push events into tracking keys: Docker distribution's
  notification envelope and ECR's "ECR Image Action" event;
- turning found tags into re-import messages, grouped by stream and paced per
  registry so that one registry is not hammered.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from imagestreams import reference
from imagestreams.ecr import registry_host
from imagestreams.errors import InvalidReferenceError
from imagestreams.imports.jobs import CHUNK_TAGS
from imagestreams.reference import Reference
from imagestreams.streams import TagState

SCHEDULE_SHARDS = 8
# SQS delays a message at most 15 minutes.
MAX_DELAY_SECONDS = 900


def tracking_key(ref: Reference) -> str | None:
    """``registry/repository:tag`` for a reference by tag; None for one by digest."""
    if ref.digest:
        return None
    return f"{ref.domain}/{ref.repository}:{ref.tag_or_latest}"


def _stored_reference(name: str) -> Reference | None:
    # A stored spec tag's ``from`` is text from the table: an item written by
    # hand or by an older version may not parse, and then it has no index keys.
    try:
        return reference.parse(name)
    except InvalidReferenceError:
        return None


def index_keys(namespace: str, stream: str, state: TagState) -> dict[str, str]:
    """The index attributes a stored tag state carries (none for a tag not from a registry)."""
    spec = state.spec
    source = spec.from_ if spec is not None else None
    if spec is None or source is None or source.kind != "DockerImage" or not source.name:
        return {}
    ref = _stored_reference(source.name)
    if ref is None:
        return {}
    keys: dict[str, str] = {}
    tracked = tracking_key(ref)
    if tracked:
        keys["tracks"] = tracked
        keys["registry"] = ref.domain
    imported = state.status is not None and bool(state.status.items)
    by_digest = tracked is None
    if spec.import_policy.scheduled and not (by_digest and imported):
        shard = int(hashlib.sha256(f"{namespace}/{stream}".encode()).hexdigest(), 16)
        keys["scheduled"] = f"s{shard % SCHEDULE_SHARDS}"
        keys["registry"] = ref.domain
    return keys


@dataclass(frozen=True)
class Pushed:
    """One image pushed to a registry, as an event reports it."""

    registry: str
    repository: str
    tag: str

    @property
    def key(self) -> str | None:
        """The tracking key of the pushed tag; None when the event names no valid one."""
        try:
            return tracking_key(reference.parse(f"{self.registry}/{self.repository}:{self.tag}"))
        except InvalidReferenceError:
            return None


def distribution_pushes(envelope: Mapping[str, Any]) -> list[Pushed]:
    """Pushes of tagged manifests in a Docker distribution notification envelope."""
    pushed = []
    for event in envelope.get("events") or []:
        if not isinstance(event, Mapping) or event.get("action") != "push":
            continue
        target = event.get("target") or {}
        request = event.get("request") or {}
        tag, repository, host = target.get("tag"), target.get("repository"), request.get("host")
        if isinstance(tag, str) and tag and isinstance(repository, str) and isinstance(host, str):
            pushed.append(Pushed(host, repository, tag))
    return pushed


def ecr_pushes(event: Mapping[str, Any]) -> list[Pushed]:
    """The push an "ECR Image Action" event reports (successful pushes with a tag only)."""
    detail = event.get("detail") or {}
    if (
        event.get("source") != "aws.ecr"
        or detail.get("action-type") != "PUSH"
        or detail.get("result") != "SUCCESS"
        or not detail.get("image-tag")
        or not detail.get("repository-name")
    ):
        return []
    # The China partition's registries end in .com.cn (a FIPS host is another name of
    # the same registry; tags track the standard one).
    registry = registry_host(str(event.get("account")), str(event.get("region")))
    return [Pushed(registry, str(detail["repository-name"]), str(detail["image-tag"]))]


class ReimportMessage(BaseModel):
    """The body of a queue message re-importing some tags of one stream."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: Literal["reimport"] = "reimport"
    namespace: str = Field(min_length=1, max_length=63)
    name: str = Field(min_length=1, max_length=253)
    tags: list[str] = Field(min_length=1, max_length=100)
    reason: str = "schedule"

    def body(self) -> str:
        return self.model_dump_json()


@dataclass(frozen=True)
class Found:
    """A stream tag an index returned, and the registry it comes from."""

    namespace: str
    name: str
    tag: str
    registry: str


@dataclass(frozen=True)
class Planned:
    """A re-import message and how long the queue should hold it back."""

    message: ReimportMessage
    delay: int


def plan(found: Iterable[Found], reason: str, per_second: float) -> list[Planned]:
    """Messages for ``found`` tags: a stream's tags together, paced per registry.

    Each registry gets at most ``per_second`` messages a second (of up to
    ``CHUNK_TAGS`` tags); messages beyond the queue's longest delay are sent
    with that delay, and the next run of the schedule catches up.
    """
    by_stream: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for item in found:
        by_stream[(item.registry, item.namespace, item.name)].append(item.tag)
    sent_per_registry: dict[str, int] = defaultdict(int)
    planned = []
    for (registry, namespace, name), stream_tags in sorted(by_stream.items()):
        unique = sorted(set(stream_tags))
        for start in range(0, len(unique), CHUNK_TAGS):
            index = sent_per_registry[registry]
            sent_per_registry[registry] += 1
            delay = min(MAX_DELAY_SECONDS, int(index / per_second))
            message = ReimportMessage(
                namespace=namespace,
                name=name,
                tags=unique[start : start + CHUNK_TAGS],
                reason=reason,
            )
            planned.append(Planned(message, delay))
    return planned


def shards() -> Sequence[str]:
    """Every partition of the schedule index."""
    return [f"s{n}" for n in range(SCHEDULE_SHARDS)]

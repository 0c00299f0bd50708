"""Re-imports: queueing them (the schedule, registry pushes) and running them.

A re-import writes only what changed: the stream's generation moves on only
when a tag gains a history item or a new condition, so an unchanged registry
costs no write, and a failure already recorded is not written again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from imagestreams import reference, reimports, streams
from imagestreams.errors import ChunkRetryError
from imagestreams.imports import plan
from imagestreams.imports.importer import Importer
from imagestreams.models import ImageImportSpec, LocalObjectReference, ObjectReference
from imagestreams.observability import logger
from imagestreams.usecases.common import Delivery, Options, budget, fetcher
from imagestreams.usecases.ports import ImportQueue, PullSecrets, StreamStore
from imagestreams.usecases.tagging import Mutation, StreamTagger


class QueueReimports:
    """Finds the stream tags to re-import and queues them, paced per registry."""

    def __init__(self, store: StreamStore, queue: ImportQueue, options: Options) -> None:
        self._store = store
        self._queue = queue
        self._options = options

    def run_schedule(self) -> int:
        """Queue re-imports of every scheduled tag; how many messages."""
        found = [
            reimports.Found(namespace, name, tag, registry)
            for shard in reimports.shards()
            for namespace, name, tag, registry in self._store.scheduled(shard)
        ]
        planned = reimports.plan(found, "schedule", self._options.reimports_per_second)
        self._queue.send_reimports(planned)
        logger.info("scheduled re-imports queued", tags=len(found), messages=len(planned))
        return len(planned)

    def on_pushes(self, pushes: Sequence[reimports.Pushed], reason: str) -> int:
        """Queue re-imports of exactly the tags that track the pushed images; how many tags."""
        found: list[reimports.Found] = []
        for pushed in pushes:
            key = pushed.key
            if key is None:
                continue
            found.extend(
                reimports.Found(namespace, name, tag, key.split("/", 1)[0])
                for namespace, name, tag in self._store.tracking(key)
            )
        planned = reimports.plan(found, reason, self._options.reimports_per_second)
        self._queue.send_reimports(planned)
        logger.info("push re-imports queued", reason=reason, pushes=len(pushes), tags=len(found))
        return len(found)


class Reimport:
    """Re-imports some tags of one stream as their spec says (the worker's side)."""

    def __init__(
        self,
        importer: Importer,
        pull_secrets: PullSecrets,
        store: StreamStore,
        tagger: StreamTagger,
        options: Options,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._importer = importer
        self._pull_secrets = pull_secrets
        self._store = store
        self._tagger = tagger
        self._options = options
        self._clock = clock

    def process(
        self, message: reimports.ReimportMessage, receive_count: int, remaining_seconds: float
    ) -> None:
        """Re-import the message's tags; write only what changed.

        Tags that met retryable errors make the message fail so the queue
        delivers it again (on the last delivery they are recorded as failed).
        """
        states = self._store.get_tags(message.namespace, message.name, message.tags)
        specs = {
            tag: spec
            for tag, state in states.items()
            if (spec := state.spec) is not None
            and spec.from_ is not None
            and spec.from_.kind == "DockerImage"
        }
        if not specs:
            return
        meta = self._store.get_meta(message.namespace, message.name)
        if meta is None:
            return
        seconds = budget(self._options.worker_time_budget, remaining_seconds)
        session = fetcher(self._importer, self._pull_secrets, message.namespace, seconds)
        image_specs = {
            tag: ImageImportSpec(
                from_=ObjectReference(
                    kind="DockerImage", name=spec.from_.name if spec.from_ else ""
                ),
                to=LocalObjectReference(name=tag),
                import_policy=spec.import_policy,
                reference_policy=spec.reference_policy,
            )
            for tag, spec in specs.items()
        }
        # Stored spec tags were validated when written: each is parsed here once.
        targets = [
            plan.image_target(s, reference.parse(s.from_.name), self._importer.options)
            for s in image_specs.values()
        ]
        outcomes = self._importer.run(targets, session, {})
        kept, retry = Delivery(receive_count, self._options.chunk_max_receives).kept(outcomes)
        now = self._clock()

        def mutations(generation: int) -> dict[str, list[Mutation]]:
            return {
                o.target.tag: [
                    self._tagger.mutation(
                        o.status(), o.target.tag, generation, now, image=image_specs[o.target.tag]
                    )
                ]
                for o in kept
            }

        tentative = mutations(meta.generation + 1)
        if any(
            streams.changed(states[tag], changes[0](states[tag]))
            for tag, changes in tentative.items()
        ):
            started = self._tagger.begin_import(message.namespace, message.name, now)
            self._tagger.apply(message.namespace, message.name, mutations(started.generation))
        if retry:
            raise ChunkRetryError(
                f"{retry} tags of {message.namespace}/{message.name} will be tried again"
            )

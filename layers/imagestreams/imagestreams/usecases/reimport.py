"""Re-imports: queueing them (the schedule, registry pushes) and running them.

A re-import writes only what changed: the stream's generation moves on only
when a tag gains a history item or a new condition, so an unchanged registry
costs no write, and a failure already recorded is not written again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from imagestreams import reference, reimports, streams
from imagestreams.errors import ChunkRetryError
from imagestreams.imports import plan
from imagestreams.imports.importer import Importer
from imagestreams.models import ImageImportSpec, LocalObjectReference, ObjectReference
from imagestreams.observability import logger
from imagestreams.telemetry import NO_TELEMETRY, Telemetry
from imagestreams.usecases.common import Delivery, Options, budget, fetcher, now
from imagestreams.usecases.ports import ImportQueue, PullSecrets, StreamStore
from imagestreams.usecases.tagging import Mutation, StreamTagger


@dataclass
class QueueReimports:
    """Finds the stream tags to re-import and queues them, paced per registry."""

    store: StreamStore
    queue: ImportQueue
    options: Options
    telemetry: Telemetry = NO_TELEMETRY

    def run_schedule(self) -> int:
        """Queue re-imports of every scheduled tag; how many messages."""
        found = [
            reimports.Found(namespace, name, tag, registry)
            for shard in reimports.shards()
            for namespace, name, tag, registry in self.store.scheduled(shard)
        ]
        planned = reimports.plan(found, "schedule", self.options.reimports_per_second)
        self.queue.send_reimports(planned)
        self.telemetry.reimports_queued("schedule", len(found))
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
                for namespace, name, tag in self.store.tracking(key)
            )
        planned = reimports.plan(found, reason, self.options.reimports_per_second)
        self.queue.send_reimports(planned)
        self.telemetry.reimports_queued(reason, len(found))
        logger.info("push re-imports queued", reason=reason, pushes=len(pushes), tags=len(found))
        return len(found)


@dataclass
class Reimport:
    """Re-imports some tags of one stream as their spec says (the worker's side)."""

    importer: Importer
    pull_secrets: PullSecrets
    store: StreamStore
    tagger: StreamTagger
    options: Options
    clock: Callable[[], datetime] = field(default=now)
    telemetry: Telemetry = NO_TELEMETRY

    def process(
        self, message: reimports.ReimportMessage, receive_count: int, remaining_seconds: float
    ) -> None:
        """Re-import the message's tags; write only what changed.

        Tags that met retryable errors make the message fail so the queue
        delivers it again (on the last delivery they are recorded as failed,
        and the message counts as dead-lettered).
        """
        delivery = Delivery(receive_count, self.options.chunk_max_receives)
        try:
            self._process(message, delivery, remaining_seconds)
        except Exception:
            if delivery.last:
                self.telemetry.dead_lettered("reimport")
            raise

    def _process(
        self, message: reimports.ReimportMessage, delivery: Delivery, remaining_seconds: float
    ) -> None:
        states = self.store.get_tags(message.namespace, message.name, message.tags)
        specs = {
            tag: spec
            for tag, state in states.items()
            if (spec := state.spec) is not None
            and spec.from_ is not None
            and spec.from_.kind == "DockerImage"
        }
        if not specs:
            return
        meta = self.store.get_meta(message.namespace, message.name)
        if meta is None:
            return
        seconds = budget(self.options.worker_time_budget, remaining_seconds)
        session = fetcher(self.importer, self.pull_secrets, message.namespace, seconds)
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
        # The stream has every one of them: a HEAD tells whether each moved.
        targets = [
            replace(
                plan.image_target(s, reference.parse(s.from_.name), self.importer.options),
                known=True,
            )
            for s in image_specs.values()
        ]
        # As OpenShift's importer, a tag's own prefer-arch/prefer-os choose in a manifest list.
        outcomes = self.importer.run(
            targets, session, {}, tag_annotations=lambda tag: specs[tag].annotations or {}
        )
        kept, retry = delivery.kept(outcomes)
        self.telemetry.imported("reimport", [o.status() for o in kept])
        now = self.clock()

        def mutations(generation: int) -> dict[str, list[Mutation]]:
            return {
                o.target.tag: [
                    self.tagger.mutation(
                        o.status(), o.target.tag, generation, now, image=image_specs[o.target.tag]
                    )
                ]
                for o in kept
            }

        tentative = mutations(meta.generation + 1)
        changed = [
            tag
            for tag, changes in tentative.items()
            if streams.changed(states[tag], changes[0](states[tag]))
        ]
        self.telemetry.reimport_changed(len(changed))
        if changed:
            started = self.tagger.begin_import(message.namespace, message.name, now)
            self.tagger.apply(message.namespace, message.name, mutations(started.generation))
        if retry:
            raise ChunkRetryError(
                f"{retry} tags of {message.namespace}/{message.name} will be tried again"
            )

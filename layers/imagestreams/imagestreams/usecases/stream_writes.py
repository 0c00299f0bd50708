"""Writing ImageStreams: ``POST``, ``PUT`` and ``PATCH imagestreams``.

Owns what OpenShift's ImageStream strategy (openshift-apiserver
``registry/imagestream/strategy.go``) does to a written stream, and the
order of work of one write:

- ``status`` is the server's: a create starts without one, an update keeps
  the stored one;
- generations: a new stream and its spec tags are at generation 1; an update
  that changes the spec moves the stream's generation up by one and gives it
  to every new or changed spec tag (``tagRefChanged``: another ``from``
  name or namespace, another ``reference`` flag, or a generation set to 0 to
  ask for a new import); other spec tags keep theirs, whatever the client sent;
- a new or changed spec tag whose ``from`` is an ``ImageStreamTag`` or an
  ``ImageStreamImage`` records the image it points at, read from the store
  (``usecases.tag_sources``), without a registry call;
- a new or changed spec tag whose ``from`` is a ``DockerImage`` is imported
  at once, through the importer, pull secrets and tagging rules of
  ImageStreamImport (upstream leaves that to its import controller; the
  answer here is the stream after the import); a ``reference: true`` tag is
  recorded as it is, never imported; unchanged tags are not re-imported;
- an update needs the stream's current ``resourceVersion`` (a stale one is
  409 Conflict, an empty one the API server's 422); a patch applies to the
  stream as stored and is retried when another writer got there first.

The stream's own fields are written with one conditional update, each
changed tag with its own conditional write (``StreamStore``), so imports
running at the same time lose nothing.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from imagestreams import errors, streams
from imagestreams.api import stream_validation
from imagestreams.errors import ConflictError, FieldCause, ValidationError
from imagestreams.imports.importer import Importer
from imagestreams.imports.plan import SpecReferences, ValidImport
from imagestreams.models import (
    DOCKER_REPOSITORY_CHECK_ANNOTATION,
    ImageImportSpec,
    ImageStream,
    ImageStreamImport,
    ImageStreamImportSpec,
    ImageStreamImportStatus,
    LocalObjectReference,
    NamedTagEventList,
    ObjectMeta,
    ObjectReference,
    TagEvent,
    TagReference,
)
from imagestreams.models.base import format_time
from imagestreams.observability import logger
from imagestreams.reference import Reference
from imagestreams.registry.rules import RegistryRules
from imagestreams.telemetry import NO_TELEMETRY, Telemetry
from imagestreams.usecases.common import Options, budget, fetcher, now
from imagestreams.usecases.ports import PullSecrets, StreamStore
from imagestreams.usecases.tag_sources import TagSources
from imagestreams.usecases.tagging import Mutation, StreamTagger, Tagged

ReadableNamespaces = Callable[[str], bool]
"""Whether the caller may read image streams in a namespace (a tag's source may be there)."""

# Attempts of a patch whose stream another writer changed meanwhile (the API server retries too).
PATCH_ATTEMPTS = 5
# names.SimpleNameGenerator: five characters after generateName, from an alphabet without vowels.
_GENERATED = "bcdfghjklmnpqrstvwxz2456789"


@dataclass(frozen=True)
class _Plan:
    """What one write does: the stream's own fields, and per tag the changes to make."""

    meta: streams.StreamMeta
    spec_changes: dict[str, list[Mutation]]
    imports: list[TagReference]


@dataclass
class WriteStreams:
    """Creates, updates and patches ImageStreams, importing the spec tags that call for it."""

    importer: Importer
    pull_secrets: PullSecrets
    store: StreamStore
    tagger: StreamTagger
    options: Options
    rules: RegistryRules | None = None
    clock: Callable[[], datetime] = field(default=now)
    telemetry: Telemetry = NO_TELEMETRY

    # --- the verbs ----------------------------------------------------------------

    def create(
        self,
        namespace: str,
        stream: ImageStream,
        remaining_seconds: float,
        *,
        dry_run: bool = False,
        may_read: ReadableNamespaces | None = None,
    ) -> ImageStream:
        """A new stream from ``stream`` (its status ignored), its DockerImage tags imported."""
        if not stream.metadata.name and stream.metadata.generate_name:
            suffix = "".join(random.choices(_GENERATED, k=5))
            stream.metadata.name = stream.metadata.generate_name + suffix
        refs = self._valid(namespace, stream)
        at = self.clock()
        meta = streams.StreamMeta(
            namespace=namespace,
            name=stream.metadata.name,
            uid=str(uuid.uuid4()),
            resource_version="1",
            generation=1,
            creation_timestamp=at,
            annotations=dict(stream.metadata.annotations or {}),
            labels=dict(stream.metadata.labels or {}),
            lookup_policy_local=stream.spec.lookup_policy.local,
        )
        tags = {tag.name: tag for tag in stream.spec.tags or []}
        for tag in tags.values():
            tag.generation = 1
        plan = self._plan(meta, {}, tags, set(tags), at, may_read)
        if dry_run:
            if self.store.get_meta(namespace, meta.name) is not None:
                raise errors.already_exists(errors.IMAGESTREAMS, meta.name)
        elif not self.store.create_stream(plan.meta):
            raise errors.already_exists(errors.IMAGESTREAMS, meta.name)
        return self._finish(plan, refs, remaining_seconds, dry_run, "image stream created")

    def update(
        self,
        namespace: str,
        name: str,
        stream: ImageStream,
        remaining_seconds: float,
        *,
        dry_run: bool = False,
        may_read: ReadableNamespaces | None = None,
    ) -> ImageStream:
        """``stream`` replaces the stored spec, labels and annotations (not the status)."""
        if stream.metadata.name != name:
            raise errors.BadRequestError(
                f"the name of the object ({stream.metadata.name}) does not match the name on "
                f"the URL ({name})"
            )
        current = self.store.get_meta(namespace, name)
        if current is None:
            raise errors.not_found(errors.IMAGESTREAMS, name)
        expected = stream.metadata.resource_version
        if not expected:
            raise ValidationError(
                stream_validation.STREAM_KIND,
                "ImageStream",
                name,
                [
                    FieldCause(
                        "metadata.resourceVersion",
                        "FieldValueInvalid",
                        "Invalid value: 0x0: must be specified for an update",
                    )
                ],
            )
        if expected != current.resource_version:
            raise errors.object_modified(errors.IMAGESTREAMS, name)
        refs = self._valid(namespace, stream)
        stored = self.store.get_tags(namespace, name)
        old = {tag: state.spec for tag, state in stored.items() if state.spec is not None}
        new = {tag.name: tag for tag in stream.spec.tags or []}
        for tag, ref in new.items():
            # Only 0 may be written to a spec tag's generation: it asks for a new import.
            if ref.generation != 0 and tag in old:
                ref.generation = old[tag].generation
        spec_changed = current.lookup_policy_local != stream.spec.lookup_policy.local or (
            _spec_json(old) != _spec_json(new)
        )
        generation = (
            current.generation + 1
            if spec_changed or not current.generation
            else (current.generation)
        )
        changed = {
            tag
            for tag, ref in new.items()
            if tag not in old or tag_ref_changed(old[tag], ref, namespace)
        }
        for tag, ref in new.items():
            if tag in changed or not ref.generation:
                ref.generation = generation
        at = self.clock()
        meta = replace(
            current,
            generation=generation,
            annotations=dict(stream.metadata.annotations or {}),
            labels=dict(stream.metadata.labels or {}),
            lookup_policy_local=stream.spec.lookup_policy.local,
        )
        plan = self._plan(meta, stored, new, changed, at, may_read)
        if not plan.spec_changes and plan.meta == current:
            # As the API server, an update that changes nothing writes nothing.
            return self.tagger.stream(current)
        if dry_run:
            plan = replace(
                plan,
                meta=replace(plan.meta, resource_version=str(int(current.resource_version) + 1)),
            )
        else:
            updated = self.store.update_meta(plan.meta, expected)
            if updated is None:
                if self.store.get_meta(namespace, name) is None:
                    raise errors.not_found(errors.IMAGESTREAMS, name)
                raise errors.object_modified(errors.IMAGESTREAMS, name)
            plan = replace(plan, meta=updated)
        return self._finish(plan, refs, remaining_seconds, dry_run, "image stream updated")

    def patch(
        self,
        namespace: str,
        name: str,
        patched: Callable[[dict[str, Any]], ImageStream],
        remaining_seconds: float,
        *,
        dry_run: bool = False,
        may_read: ReadableNamespaces | None = None,
    ) -> ImageStream:
        """The stored stream changed by ``patched`` (its JSON in, the new stream out), updated.

        A patch that names no ``resourceVersion`` applies to the stream as it
        is; when another writer changes it first, the patch is applied again
        to the new one, as the API server does.
        """
        for attempt in range(PATCH_ATTEMPTS):
            meta = self.store.get_meta(namespace, name)
            if meta is None:
                raise errors.not_found(errors.IMAGESTREAMS, name)
            current = streams.assemble(meta, self.store.get_tags(namespace, name).values())
            stream = patched(current.to_json_dict())
            if not stream.metadata.resource_version:
                stream.metadata.resource_version = meta.resource_version
            try:
                return self.update(
                    namespace, name, stream, remaining_seconds, dry_run=dry_run, may_read=may_read
                )
            except ConflictError:
                own = stream.metadata.resource_version == meta.resource_version
                if not own or attempt + 1 == PATCH_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    # --- the steps ----------------------------------------------------------------

    def _valid(self, namespace: str, stream: ImageStream) -> dict[str, Reference]:
        stream_validation.default_stream(stream, self.options.default_import_mode)
        return stream_validation.validate_stream(stream, namespace, self.rules)

    def _plan(
        self,
        meta: streams.StreamMeta,
        stored: Mapping[str, streams.TagState],
        new: Mapping[str, TagReference],
        changed: set[str],
        at: datetime,
        may_read: ReadableNamespaces | None,
    ) -> _Plan:
        """The tag changes of a write; the repository check time when something is imported.

        Raises the API server's 422 when a tag's source in the streams is invalid.
        """
        old = {tag: state.spec for tag, state in stored.items() if state.spec is not None}
        readable = may_read or (lambda namespace: namespace == meta.namespace)
        sources = TagSources(self.store)
        causes: list[FieldCause] = []
        changes: dict[str, list[Mutation]] = {}
        imports: list[TagReference] = []
        for tag, ref in new.items():
            event = None
            image = None
            if tag in changed and ref.from_ is not None and ref.from_.kind != "DockerImage":
                source = sources.resolve(meta, stored, ref, at, readable, causes)
                if source is not None:
                    event, image = source.event, source.image
            elif tag in changed and ref.from_ is not None and ref.from_.kind == "DockerImage":
                if ref.reference:
                    event = TagEvent(
                        created=at,
                        docker_image_reference=ref.from_.name,
                        generation=ref.generation or meta.generation,
                    )
                else:
                    imports.append(ref)
            if event is not None or tag not in old or _json(old[tag]) != _json(ref):
                change = _set_spec(tag, ref, event)
                changes[tag] = [Tagged(image, change) if image is not None else change]
        if causes:
            raise ValidationError(stream_validation.STREAM_KIND, "ImageStream", meta.name, causes)
        for tag in old.keys() - new.keys():
            changes[tag] = [_set_spec(tag, None, None)]
        if imports:
            stamp = format_time(at) or ""
            meta = replace(
                meta, annotations={**meta.annotations, DOCKER_REPOSITORY_CHECK_ANNOTATION: stamp}
            )
        return _Plan(meta, changes, imports)

    def _finish(
        self,
        plan: _Plan,
        refs: Mapping[str, Reference],
        remaining_seconds: float,
        dry_run: bool,
        event: str,
    ) -> ImageStream:
        """Write the spec changes, import what calls for it, and answer the stream."""
        meta = plan.meta
        if not dry_run:
            self.tagger.apply(meta.namespace, meta.name, plan.spec_changes)
        imported = self._import(meta, plan.imports, refs, remaining_seconds)
        if dry_run:
            combined = {tag: list(changes) for tag, changes in plan.spec_changes.items()}
            for tag, changes in imported.items():
                combined.setdefault(tag, []).extend(changes)
            return self.tagger.preview(meta, combined)
        self.tagger.apply(meta.namespace, meta.name, imported)
        logger.info(
            event,
            namespace=meta.namespace,
            stream=meta.name,
            tags=len(plan.spec_changes),
            imported=len(plan.imports),
        )
        return self.tagger.stream(meta)

    def _import(
        self,
        meta: streams.StreamMeta,
        tags: list[TagReference],
        refs: Mapping[str, Reference],
        remaining_seconds: float,
    ) -> dict[str, list[Mutation]]:
        """Import ``tags`` as an ImageStreamImport of their ``from`` would; the changes to tag."""
        if not tags:
            return {}
        request = ImageStreamImport(
            metadata=ObjectMeta(name=meta.name, namespace=meta.namespace),
            spec=ImageStreamImportSpec(
                import_=True,
                images=[
                    ImageImportSpec(
                        from_=ObjectReference(kind="DockerImage", name=tag.from_.name),
                        to=LocalObjectReference(name=tag.name),
                        import_policy=tag.import_policy.model_copy(),
                        reference_policy=tag.reference_policy.model_copy(),
                    )
                    for tag in tags
                    if tag.from_ is not None
                ],
            ),
        )
        references = SpecReferences(tuple(refs[tag.name] for tag in tags))
        seconds = budget(self.options.time_budget, remaining_seconds)
        session = fetcher(self.importer, self.pull_secrets, meta.namespace, seconds)
        result = self.importer.import_spec(
            request.spec, references, session, dict(meta.annotations)
        )
        self.telemetry.imported("write", result.images)
        request.status = ImageStreamImportStatus(images=result.images or None)
        valid = ValidImport(request, references)
        return self.tagger.request_mutations(valid, meta.generation, self.clock())


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


def _set_spec(tag: str, spec: TagReference | None, event: TagEvent | None) -> Mutation:
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


def _json(tag: TagReference) -> dict[str, Any]:
    return tag.to_json_dict()


def _spec_json(tags: Mapping[str, TagReference]) -> list[dict[str, Any]]:
    return [_json(tags[name]) for name in sorted(tags)]

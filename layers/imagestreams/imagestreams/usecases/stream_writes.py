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
from imagestreams.usecases.spec_tags import (
    GENERATE_NAME_ATTEMPTS,
    random_suffix,
    set_spec,
    spec_json,
    tag_json,
    tag_ref_changed,
)
from imagestreams.usecases.tag_sources import TagSources
from imagestreams.usecases.tagging import Mutation, StreamTagger, Tagged

ReadableNamespaces = Callable[[str], bool]
"""Whether the caller may read image streams in a namespace (a tag's source may be there)."""

# Attempts of a patch whose stream another writer changed meanwhile (the API server retries too).
PATCH_ATTEMPTS = 5


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
    name_suffix: Callable[[], str] = field(default=random_suffix)
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
        """A new stream from ``stream`` (its status ignored), its DockerImage tags imported.

        Without a name, one is made from ``metadata.generateName`` as the
        generic registry makes it, and another when that one is taken.
        """
        base = "" if stream.metadata.name else stream.metadata.generate_name[:58]
        if base:
            stream.metadata.name = base + self.name_suffix()
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
        for attempt in range(GENERATE_NAME_ATTEMPTS if base else 1):
            if attempt:
                # Same base and alphabet: a name as valid as the first.
                plan = replace(plan, meta=replace(plan.meta, name=base + self.name_suffix()))
            if dry_run:
                taken = self.store.get_meta(namespace, plan.meta.name) is not None
            else:
                taken = not self.store.create_stream(plan.meta)
            if not taken:
                return self._finish(plan, refs, remaining_seconds, dry_run, "image stream created")
        if base:
            raise errors.generated_name_taken(errors.IMAGESTREAMS, plan.meta.name)
        raise errors.already_exists(errors.IMAGESTREAMS, meta.name)

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
            spec_json(old) != spec_json(new)
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
            if event is not None or tag not in old or tag_json(old[tag]) != tag_json(ref):
                change = set_spec(tag, ref, event)
                changes[tag] = [Tagged(image, change) if image is not None else change]
        if causes:
            raise ValidationError(stream_validation.STREAM_KIND, "ImageStream", meta.name, causes)
        for tag in old.keys() - new.keys():
            changes[tag] = [set_spec(tag, None, None)]
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
        # The tags' own prefer-arch/prefer-os annotations choose in a manifest list,
        # as OpenShift's importer reads them from the stream's spec tags.
        written = {tag.name: dict(tag.annotations or {}) for tag in tags}
        result = self.importer.import_spec(
            request.spec,
            references,
            session,
            tag_annotations=lambda name: written.get(name, {}),
        )
        self.telemetry.imported("write", result.images)
        request.status = ImageStreamImportStatus(images=result.images or None)
        valid = ValidImport(request, references)
        return self.tagger.request_mutations(valid, meta.generation, self.clock())

"""Writing ImageStreamTags: ``POST`` and ``PUT imagestreamtags`` (``oc tag``'s calls).

As openshift-apiserver's ``imagestreamtag`` REST storage (``Create``,
``Update``) and its validation (``ValidateImageStreamTag``): an
ImageStreamTag ``<stream>:<tag>`` is written as the spec tag ``<tag>`` of
its stream, through the ImageStream writes (:class:`WriteStreams`), so a
``DockerImage`` is imported and an ``ImageStreamTag``/``ImageStreamImage``
resolved exactly as a spec tag written into the stream would be.

- create: a stream that does not exist is created with the one tag; a tag
  already in the stream's spec is AlreadyExists;
- update: ``tag`` (else the stored spec tag) with the object's annotations
  replaces the spec tag (``tag.annotations`` are overwritten by the object's,
  as the strategy's ``PrepareForUpdate`` does, so a client need not set
  both); a stream that does not exist is created, unless the object names a
  ``resourceVersion`` (then NotFound); a stale one is a Conflict; without
  one, the write is retried when another writer got there first;
- patch: the API server's generic patch: the tag as a get shows it (404
  when it has no image), patched, then updated; a patch that names no
  ``resourceVersion`` is applied again when another writer got there first;
- the answer is the ImageStreamTag as a get shows it, or with an empty image
  while the tag has none.

It does not touch the stream's labels, other tags or status itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from imagestreams import errors, streams, tagviews
from imagestreams.api import stream_validation, validation
from imagestreams.errors import ConflictError, FieldCause, ValidationError
from imagestreams.models import (
    IMPORT_MODE_LEGACY,
    ImageStream,
    ImageStreamSpec,
    ImageStreamTag,
    ObjectMeta,
    TagReference,
)
from imagestreams.usecases.common import now
from imagestreams.usecases.ports import StreamStore
from imagestreams.usecases.stream_tags import StreamTags
from imagestreams.usecases.stream_writes import ReadableNamespaces, WriteStreams

# Attempts of a write whose stream other writers keep changing (upstream tries 10 times).
ATTEMPTS = 10
TAG_KIND = "ImageStreamTag.image.openshift.io"


@dataclass(frozen=True)
class Written:
    """The ImageStreamTag a write answers, and whether it made a new spec tag."""

    tag: ImageStreamTag
    created: bool


@dataclass
class WriteStreamTags:
    """Creates and updates ImageStreamTags as spec tags of their streams."""

    writes: WriteStreams
    store: StreamStore

    def create(
        self,
        namespace: str,
        istag: ImageStreamTag,
        remaining_seconds: float,
        *,
        dry_run: bool = False,
        may_read: ReadableNamespaces | None = None,
    ) -> ImageStreamTag:
        """A new spec tag ``<tag>`` in ``<stream>`` (made if missing) from ``istag.tag``."""
        name = istag.metadata.name
        stream_name, tag = _valid(istag, namespace)
        ref = _spec_tag(istag, tag, None)
        for _ in range(ATTEMPTS):
            meta = self.store.get_meta(namespace, stream_name)
            states = self.store.get_tags(namespace, stream_name) if meta is not None else {}
            if tag in states and states[tag].spec is not None:
                raise errors.already_exists(errors.IMAGESTREAMTAG, name)
            try:
                written = self._write(
                    namespace, stream_name, meta, states, ref, remaining_seconds, dry_run, may_read
                )
            except ConflictError:
                # Another writer made the stream or changed it first: read it again.
                continue
            return self._view(written, tag)
        raise errors.server_timeout(errors.IMAGESTREAMTAGS, "create")

    def update(
        self,
        namespace: str,
        name: str,
        istag: ImageStreamTag,
        remaining_seconds: float,
        *,
        dry_run: bool = False,
        may_read: ReadableNamespaces | None = None,
    ) -> Written:
        """``istag`` written over the spec tag ``name`` names (see the module's rules)."""
        tagviews.split_tag_name(name)
        if istag.metadata.name != name:
            raise errors.BadRequestError(
                f"the name of the object ({istag.metadata.name}) does not match the name on "
                f"the URL ({name})"
            )
        stream_name, tag = _valid(istag, namespace, updating=True)
        expected = istag.metadata.resource_version
        for _ in range(ATTEMPTS):
            meta = self.store.get_meta(namespace, stream_name)
            if meta is None and expected:
                raise errors.not_found(errors.IMAGESTREAMTAGS, name)
            if meta is not None and expected and expected != meta.resource_version:
                raise errors.conflict(
                    errors.IMAGESTREAMTAGS,
                    name,
                    f"another caller has updated the resource version to {meta.resource_version}",
                )
            states = self.store.get_tags(namespace, stream_name) if meta is not None else {}
            existing = states[tag].spec if tag in states else None
            if existing is None and istag.tag is None:
                raise errors.BadRequestError(
                    f"imagestreamtag {tag} is not a spec tag in imagestream "
                    f"{namespace}/{stream_name}, cannot be updated"
                )
            ref = _spec_tag(istag, tag, existing)
            try:
                written = self._write(
                    namespace, stream_name, meta, states, ref, remaining_seconds, dry_run, may_read
                )
            except ConflictError:
                # Only a write that named no version may be retried.
                if expected:
                    raise
                continue
            return Written(self._view(written, tag), created=existing is None)
        raise errors.server_timeout(errors.IMAGESTREAMTAGS, "update")

    def patch(
        self,
        namespace: str,
        name: str,
        patched: Callable[[dict[str, Any]], ImageStreamTag],
        remaining_seconds: float,
        *,
        dry_run: bool = False,
        may_read: ReadableNamespaces | None = None,
    ) -> ImageStreamTag:
        """The tag as a get shows it changed by ``patched`` (its JSON in, the tag out), updated."""
        for attempt in range(ATTEMPTS):
            current = StreamTags(self.store).get(namespace, name)
            istag = patched(current.to_json_dict())
            if not istag.metadata.resource_version:
                istag.metadata.resource_version = current.metadata.resource_version
            try:
                written = self.update(
                    namespace, name, istag, remaining_seconds, dry_run=dry_run, may_read=may_read
                )
            except ConflictError:
                own = istag.metadata.resource_version == current.metadata.resource_version
                if not own or attempt + 1 == ATTEMPTS:
                    raise
                continue
            return written.tag
        raise errors.server_timeout(errors.IMAGESTREAMTAGS, "patch")

    def _write(
        self,
        namespace: str,
        stream_name: str,
        meta: streams.StreamMeta | None,
        states: dict[str, streams.TagState],
        ref: TagReference | None,
        remaining_seconds: float,
        dry_run: bool,
        may_read: ReadableNamespaces | None,
    ) -> ImageStream:
        """The stream after ``ref`` is its spec tag: a new stream, or the stored one changed."""
        if meta is None:
            return self.writes.create(
                namespace,
                _new_stream(namespace, stream_name, ref),
                remaining_seconds,
                dry_run=dry_run,
                may_read=may_read,
            )
        return self._replace(meta, states, ref, remaining_seconds, dry_run, may_read)

    def _replace(
        self,
        meta: streams.StreamMeta,
        states: dict[str, streams.TagState],
        ref: TagReference | None,
        remaining_seconds: float,
        dry_run: bool,
        may_read: ReadableNamespaces | None,
    ) -> ImageStream:
        """The stream of ``meta`` updated with ``ref`` as its spec tag (None: as it is)."""
        if ref is None:
            return streams.assemble(meta, states.values())
        states = dict(states)
        before = states.get(ref.name)
        # The write defaults and renumbers the stream's spec tags in place, and a create
        # tries ``ref`` again after a conflict: the stream gets a copy.
        states[ref.name] = streams.TagState(
            ref.name,
            spec=ref.model_copy(deep=True),
            status=before.status if before is not None else None,
        )
        stream = streams.assemble(meta, states.values())
        return self.writes.update(
            meta.namespace,
            meta.name,
            stream,
            remaining_seconds,
            dry_run=dry_run,
            may_read=may_read,
        )

    def _view(self, stream: ImageStream, tag: str) -> ImageStreamTag:
        """The ImageStreamTag ``tag`` of the written ``stream``, as a get shows it."""
        meta = streams.StreamMeta(
            namespace=stream.metadata.namespace,
            name=stream.metadata.name,
            uid=stream.metadata.uid,
            resource_version=stream.metadata.resource_version,
            generation=stream.metadata.generation,
            creation_timestamp=stream.metadata.creation_timestamp or now(),
            labels=dict(stream.metadata.labels or {}),
            lookup_policy_local=stream.spec.lookup_policy.local,
            docker_image_repository=stream.status.docker_image_repository,
        )
        spec = next((t for t in stream.spec.tags or [] if t.name == tag), None)
        status = next((t for t in stream.status.tags or [] if t.tag == tag), None)
        state = streams.TagState(tag, spec=spec, status=status)
        event = tagviews.current_event(state)
        image = (
            self.store.get_image(meta.namespace, meta.name, event.image)
            if event is not None
            else None
        )
        shown = tagviews.image_stream_tag(meta, state, image, allow_empty=True)
        assert shown is not None
        return shown


def _valid(istag: ImageStreamTag, namespace: str, *, updating: bool = False) -> tuple[str, str]:
    """``(stream, tag)`` of a written ImageStreamTag; 422 when it is invalid.

    ``ValidateImageStreamTag``: the object's metadata (its name a path
    segment), the tag reference (its paths under ``tag``), and tag
    annotations equal to the object's when given (on a create: an update
    takes the object's). Ours besides: a name that is not ``<stream>:<tag>``
    is invalid here (upstream fails later, with a 500), and so are a stream
    name ``ValidateImageStreamName`` refuses (upstream refuses it when the
    stream is made) and a tag that is no image tag.
    """
    name = istag.metadata.name
    causes = validation.object_meta_causes(
        istag.metadata,
        namespace,
        validation.path_segment_problems,
        names_not_generated_for="ImageStreamTags",
    )
    stream_name, _, tag = name.partition(":")
    if name and not any(c.field == "metadata.name" for c in causes):
        causes.extend(FieldCause.invalid("metadata.name", name, p) for p in _name_problems(name))
    ref = istag.tag
    if ref is not None:
        mismatched = ref.annotations is not None and ref.annotations != (
            istag.metadata.annotations or {}
        )
        if mismatched and not updating:
            causes.append(
                FieldCause.invalid(
                    "tag.annotations",
                    "<map>",
                    "tag annotations must not be provided or must be equal to the object meta "
                    "annotations",
                )
            )
        # The spec tag's own rules, reported at the object's paths.
        probe = _spec_tag(istag, tag or "latest", None)
        assert probe is not None
        one = ImageStream(metadata=ObjectMeta(name="probe"), spec=ImageStreamSpec(tags=[probe]))
        # Defaults first, as the API server decodes: the stream write applies them again.
        stream_validation.default_stream(one, IMPORT_MODE_LEGACY)
        try:
            stream_validation.validate_stream(one, "probe")
        except ValidationError as error:
            prefix = f"spec.tags[{probe.name}]."
            causes.extend(
                FieldCause("tag." + c.field.removeprefix(prefix), c.reason, c.body)
                for c in error.causes
                if c.field.startswith(prefix) and not c.field.endswith("].name")
            )
    if causes:
        raise ValidationError(TAG_KIND, "ImageStreamTag", name, causes)
    return stream_name, tag


def _name_problems(name: str) -> list[str]:
    """Why ``name``, a path segment, does not name a tag ``<stream>:<tag>`` of a stream."""
    stream_name, _, tag = name.partition(":")
    if not stream_name or not tag or ":" in tag or "@" in name:
        return ["must be of the form <stream_name>:<tag>"]
    problems = validation.stream_name_problems(stream_name)
    if problem := validation.tag_problem(tag):
        problems.append(problem)
    return problems


def _spec_tag(
    istag: ImageStreamTag, tag: str, existing: TagReference | None
) -> TagReference | None:
    """The spec tag ``istag`` asks for: its ``tag`` (else ``existing``), named ``tag``."""
    base = istag.tag if istag.tag is not None else existing
    if base is None:
        return None
    ref = base.model_copy(deep=True)
    ref.name = tag
    ref.annotations = dict(istag.metadata.annotations) if istag.metadata.annotations else None
    return ref


def _new_stream(namespace: str, name: str, ref: TagReference | None) -> ImageStream:
    return ImageStream(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec=ImageStreamSpec(tags=[ref] if ref is not None else None),
    )

"""Tagging import results into an ImageStream.

Owns how a result becomes a change of one tag (a new history item, or a
failure condition written once per distinct error), in OpenShift's order,
and how the changes of one import are written: one conditional update per
tag, read and written in few requests, so concurrent imports lose nothing.
The images tagged are kept with the stream first, so that a tag read
afterwards can show its image whole.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from imagestreams import streams
from imagestreams.errors import ConflictError, NotFoundRequestError
from imagestreams.imports.plan import ValidImport
from imagestreams.models import (
    DOCKER_REPOSITORY_CHECK_ANNOTATION,
    Image,
    ImageImportSpec,
    ImageImportStatus,
    ImageStream,
    RepositoryImportSpec,
)
from imagestreams.models.base import format_time
from imagestreams.reference import Reference
from imagestreams.usecases.ports import StreamStore, TagsWritten

Mutation = Callable[[streams.TagState | None], streams.TagState]


@dataclass(frozen=True)
class Snapshot:
    """The stream as an import found it, before any registry work.

    ``meta`` is None when there is no stream. ``states`` are every tag's
    (``complete``) or those of the tags the import names.
    """

    meta: streams.StreamMeta | None
    states: dict[str, streams.TagState]
    complete: bool

    @property
    def tags(self) -> frozenset[str]:
        """The tags the stream had, of those read."""
        return frozenset(self.states)

    def annotations(self, tag: str) -> Mapping[str, str]:
        """The annotations of the spec tag ``tag`` (none when it was not read)."""
        state = self.states.get(tag)
        return dict(state.spec.annotations or {}) if state and state.spec else {}


@dataclass(frozen=True)
class Tagged:
    """A successful import's change of one tag, and the image it tags."""

    image: Image
    change: Mutation

    def __call__(self, state: streams.TagState | None) -> streams.TagState:
        return self.change(state)


class StreamTagger:
    """Writes import results into the streams of a :class:`StreamStore`."""

    def __init__(self, store: StreamStore, max_history: int) -> None:
        self._store = store
        self._max_history = max_history

    def begin_import(
        self,
        namespace: str,
        name: str,
        now: datetime,
        expected_rv: str | None = None,
        expected_uid: str | None = None,
    ) -> streams.StreamMeta:
        """Take the stream's next generation, marking the repository check time."""
        return self._store.begin_import(
            namespace,
            name,
            expected_resource_version=expected_rv,
            expected_uid=expected_uid,
            now=now,
            annotation=(DOCKER_REPOSITORY_CHECK_ANNOTATION, format_time(now) or ""),
        )

    def preview_import(self, namespace: str, name: str, now: datetime) -> streams.StreamMeta:
        """The stream's fields as :meth:`begin_import` would leave them, writing nothing.

        A stream that does not exist yet would be created at generation 1.
        """
        annotation = {DOCKER_REPOSITORY_CHECK_ANNOTATION: format_time(now) or ""}
        current = self._store.get_meta(namespace, name)
        if current is None:
            return streams.StreamMeta(
                namespace=namespace,
                name=name,
                uid="",
                resource_version="",
                generation=1,
                creation_timestamp=now,
                annotations=annotation,
            )
        return replace(
            current,
            generation=current.generation + 1,
            annotations={**current.annotations, **annotation},
        )

    def snapshot(self, namespace: str, name: str, tags: Collection[str] | None) -> Snapshot:
        """The stream as it is: every tag's state (``tags`` None) or the named tags'."""
        meta = self._store.get_meta(namespace, name)
        if meta is None:
            return Snapshot(None, {}, complete=True)
        states = self._store.get_tags(namespace, name, None if tags is None else list(tags))
        return Snapshot(meta, states, complete=tags is None)

    def unchanged(self, valid: ValidImport, now: datetime, found: Snapshot) -> ImageStream | None:
        """The stream as ``found`` when the import of ``valid`` would change none of its tags.

        OpenShift's ``imagestreamimport`` REST storage compares the results
        with the stream it read before importing, leaves the stream alone
        when nothing differs and answers it as read (``hasTagChanged``): no
        new generation, no new repository check time. None when something
        would change, or when the stream is missing or was never checked (it
        lacks the repository check annotation, which the import then writes).
        A snapshot of some tags only is completed with the others as stored.
        """
        meta = found.meta
        if meta is None or DOCKER_REPOSITORY_CHECK_ANNOTATION not in meta.annotations:
            return None
        mutations = self.request_mutations(valid, meta.generation + 1, now)
        for tag, changes in mutations.items():
            before = found.states.get(tag)
            after = _in_turn(changes)(before)
            if after is not None and streams.changed(before, after):
                return None
        states = found.states if found.complete else self._store.get_tags(meta.namespace, meta.name)
        return streams.assemble(meta, states.values())

    def preview(
        self, meta: streams.StreamMeta, mutations: Mapping[str, list[Mutation]]
    ) -> ImageStream:
        """The stream of ``meta`` as :meth:`apply` would leave it, writing nothing."""
        states = self._store.get_tags(meta.namespace, meta.name)
        for tag, changes in mutations.items():
            after = _in_turn(changes)(states.get(tag))
            if after is not None:
                states[tag] = after
        return streams.assemble(meta, states.values())

    def begin_found(
        self,
        found: Snapshot,
        namespace: str,
        name: str,
        now: datetime,
        expected_rv: str | None = None,
        expected_uid: str | None = None,
    ) -> tuple[streams.StreamMeta, Snapshot | None]:
        """:meth:`begin_import` after ``found`` was taken, and ``found`` again when the
        stream was still as found as the import began (nobody had changed it since).

        A stream found is expected at the version it was found at, unless the
        caller expects another; a stream not found is new when its first
        import is this one (generation 1).
        """
        if found.meta is None:
            meta = self.begin_import(namespace, name, now, expected_rv, expected_uid)
            return meta, found if meta.generation == 1 else None
        version = found.meta.resource_version
        if expected_rv or expected_uid:
            meta = self.begin_import(namespace, name, now, expected_rv, expected_uid)
            return meta, found if expected_rv == version else None
        try:
            return self.begin_import(namespace, name, now, version), found
        except (ConflictError, NotFoundRequestError):
            return self.begin_import(namespace, name, now), None

    def stream(
        self,
        meta: streams.StreamMeta,
        found: Snapshot | None = None,
        written: TagsWritten | None = None,
    ) -> ImageStream:
        """The stream of ``meta`` as stored now (at the version its last tag write gave it).

        Not read again when it is known: ``found`` has every tag as they were
        until ``meta`` was begun, and ``written`` are the tag writes that
        moved the stream on from ``meta`` with nothing else in between.
        """
        if found is not None and found.complete and written is not None and written.version:
            states = {**found.states, **written.states}
            current = replace(meta, resource_version=written.version)
            return streams.assemble(current, states.values())
        current = self._store.get_meta(meta.namespace, meta.name) or meta
        return streams.assemble(current, self._store.get_tags(meta.namespace, meta.name).values())

    def apply(
        self,
        namespace: str,
        name: str,
        mutations: Mapping[str, list[Mutation]],
        since: str | None = None,
    ) -> TagsWritten:
        """Keep the images tagged, then write each tag's changes in few conditional requests.

        ``since``: the version the stream was left at by :meth:`begin_import`.
        """
        images = [
            change.image
            for changes in mutations.values()
            for change in changes
            if isinstance(change, Tagged)
        ]
        if images:
            self._store.save_images(namespace, name, images)
        return self._store.update_tags(
            namespace,
            name,
            {tag: _in_turn(changes) for tag, changes in mutations.items()},
            since=since,
        )

    def request_mutations(
        self, valid: ValidImport, generation: int, now: datetime
    ) -> dict[str, list[Mutation]]:
        """Per tag, the changes an import makes, in OpenShift's order (repository first)."""
        request = valid.request
        status = request.status
        assert status is not None
        by_tag: dict[str, list[Mutation]] = {}
        repository, ref = request.spec.repository, valid.references.repository
        if repository is not None and ref is not None and status.repository is not None:
            # The importer names every repository result by its tag.
            for result in status.repository.images or []:
                if result.tag:
                    by_tag.setdefault(result.tag, []).append(
                        self.mutation(
                            result, result.tag, generation, now, repository=(repository, ref)
                        )
                    )
        for spec, result in zip(request.spec.images or [], status.images or [], strict=True):
            if spec.to is None or not spec.to.name:
                continue
            by_tag.setdefault(spec.to.name, []).append(
                self.mutation(result, spec.to.name, generation, now, image=spec)
            )
        return by_tag

    def mutation(
        self,
        result: ImageImportStatus,
        tag: str,
        generation: int,
        now: datetime,
        *,
        repository: tuple[RepositoryImportSpec, Reference] | None = None,
        image: ImageImportSpec | None = None,
    ) -> Mutation:
        """The change ``result`` makes to ``tag``, imported by ``image`` or ``repository``.

        A repository comes with its parsed reference: the spec tag's ``from``
        is that repository at ``tag``, written as the user wrote it.
        """
        if image is not None:
            source: ImageImportSpec | RepositoryImportSpec = image
            from_name: str | None = image.from_.name
        else:
            assert repository is not None
            source, ref = repository
            from_name = ref.with_tag(tag).exact()
        policy, reference_policy = source.import_policy, source.reference_policy
        max_history = self._max_history
        if streams.import_succeeded(result):
            assert result.image is not None
            success = result.image
            success_from = from_name or ""

            def succeed(state: streams.TagState | None) -> streams.TagState:
                return streams.apply_success(
                    state,
                    tag=tag,
                    image=success,
                    from_name=success_from,
                    generation=generation,
                    now=now,
                    import_policy=policy,
                    reference_policy=reference_policy,
                    max_history=max_history,
                )

            return Tagged(success, succeed)
        # OpenShift creates no spec tag for a repository tag that failed.
        failure_from = from_name if image is not None else None

        def fail(state: streams.TagState | None) -> streams.TagState:
            return streams.apply_failure(
                state,
                tag=tag,
                status=result.status,
                from_name=failure_from,
                generation=generation,
                now=now,
                import_policy=policy,
                reference_policy=reference_policy,
            )

        return fail


def _in_turn(changes: Sequence[Mutation]) -> streams.TagMutation:
    """One mutation making ``changes`` one after the other."""

    def mutate(state: streams.TagState | None) -> streams.TagState | None:
        for change in changes:
            state = change(state)
        return state

    return mutate

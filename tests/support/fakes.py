"""In-memory fakes of the ports the use cases depend on, for fast use-case tests.

One fake per port of ``imagestreams.usecases.ports``, plus the importer's
:class:`~imagestreams.imports.session.Registry` and
:class:`~imagestreams.imports.session.ImageCache`. Each keeps the semantics
the use cases rely on and nothing more:

- they hold domain objects, as the ports carry them (documents as JSON), and
  hand out copies, so a caller changing what it read changes nothing stored;
- :class:`FakeStreamStore` follows ``adapters/streams_store.py``: one atomic
  generation per import, a mutation that returns None or a state not
  ``streams.changed`` writes nothing, the tracking and schedule indexes
  are the ``reimports.index_keys`` of what was written, and every change
  takes the next version of one counter (changes are visible at once; a
  deletion is remembered until ``oldest`` passes it);
- :class:`FakeJobStore` follows ``adapters/jobs_store.py``: a tag's first
  result wins and is counted once, ``complete`` is true exactly once;
- :class:`FakeRegistry` serves images built with :mod:`testkit.images`, logs
  every request, and fails a tag with the typed error the real client raises
  for that HTTP answer (``registry.answers.error_for``).

No fake sleeps, reaches the network or starts a process. They are
thread-safe, because the importer and the queries use thread pools.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from imagestreams import errors, reimports, streams
from imagestreams.credentials import Credential, Keyring
from imagestreams.deadline import Deadline
from imagestreams.errors import RegistryError
from imagestreams.imports.jobs import COMPLETE, RUNNING, ChunkMessage, Job
from imagestreams.imports.session import CacheKey, RepositoryReader
from imagestreams.models import Image, ImageImportStatus
from imagestreams.registry.answers import Descriptor, Manifest, error_for
from imagestreams.registry.transport import HttpResponse
from imagestreams.usecases.ports import StreamChange, TagDeletion, TagsWritten
from testkit import images

J = TypeVar("J")


def _copy(value: J) -> J:
    """A JSON document as it comes back from storage: a fresh JSON round trip."""
    copied: J = json.loads(json.dumps(value))
    return copied


# --- pull secrets ------------------------------------------------------------------


class FakePullSecrets:
    """A keyring per namespace; namespaces without one import anonymously."""

    def __init__(self, keyrings: Mapping[str, Keyring] | None = None) -> None:
        self.keyrings: dict[str, Keyring] = dict(keyrings or {})

    def for_namespace(self, namespace: str) -> Keyring:
        return self.keyrings.get(namespace, Keyring.empty())


# --- streams -----------------------------------------------------------------------


@dataclass
class _StoredTag:
    state: streams.TagState
    indexed: dict[str, str]


class FakeStreamStore:
    """Stream metas and tag states, with the adapter's write rules.

    ``writes`` lists every tag state written, as ``(namespace, stream, tag)``.
    """

    def __init__(self) -> None:
        self._metas: dict[tuple[str, str], streams.StreamMeta] = {}
        self._tags: dict[tuple[str, str], dict[str, _StoredTag]] = {}
        self._images: dict[tuple[str, str], dict[str, Image]] = {}
        self._lock = threading.Lock()
        self.writes: list[tuple[str, str, str]] = []
        self._version = 0
        self._created: dict[tuple[str, str], int] = {}
        self._tombstones: list[StreamChange] = []
        self._tag_tombstones: list[TagDeletion] = []
        self.oldest = 0

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def set_labels(self, namespace: str, name: str, labels: dict[str, str]) -> None:
        """Arrange: give a stored stream ``labels``."""
        with self._lock:
            self._metas[(namespace, name)].labels = dict(labels)

    def begin_import(
        self,
        namespace: str,
        name: str,
        *,
        expected_resource_version: str | None,
        expected_uid: str | None,
        now: datetime,
        annotation: tuple[str, str] | None,
    ) -> streams.StreamMeta:
        expected_rv = expected_resource_version or None
        expected_uid = expected_uid or None
        with self._lock:
            meta = self._metas.get((namespace, name))
            if meta is None:
                if expected_rv is not None or expected_uid is not None:
                    raise errors.not_found(errors.IMAGESTREAM, name)
                meta = self._metas[(namespace, name)] = streams.StreamMeta(
                    namespace=namespace,
                    name=name,
                    uid=str(uuid.uuid4()),
                    resource_version="0",
                    generation=0,
                    creation_timestamp=now,
                )
            elif expected_uid is not None and meta.uid != expected_uid:
                raise errors.not_found(errors.IMAGESTREAM, name)
            elif expected_rv is not None and meta.resource_version != expected_rv:
                raise errors.stream_updated(name, expected_rv, meta.resource_version)
            meta.generation += 1
            meta.resource_version = self._next_version()
            self._created.setdefault((namespace, name), int(meta.resource_version))
            if annotation is not None:
                meta.annotations[annotation[0]] = annotation[1]
            return copy.deepcopy(meta)

    def create_stream(self, meta: streams.StreamMeta) -> bool:
        with self._lock:
            key = (meta.namespace, meta.name)
            if key in self._metas:
                return False
            stored = copy.deepcopy(meta)
            stored.resource_version = self._next_version()
            self._metas[key] = stored
            self._created[key] = int(stored.resource_version)
            return True

    def update_meta(
        self, meta: streams.StreamMeta, expected_resource_version: str
    ) -> streams.StreamMeta | None:
        with self._lock:
            stored = self._metas.get((meta.namespace, meta.name))
            if stored is None or stored.resource_version != expected_resource_version:
                return None
            updated = copy.deepcopy(meta)
            updated.uid = stored.uid
            updated.creation_timestamp = stored.creation_timestamp
            updated.resource_version = self._next_version()
            self._metas[(meta.namespace, meta.name)] = updated
            return copy.deepcopy(updated)

    def get_meta(self, namespace: str, name: str) -> streams.StreamMeta | None:
        with self._lock:
            return copy.deepcopy(self._metas.get((namespace, name)))

    def list_meta(self, namespace: str) -> list[streams.StreamMeta]:
        with self._lock:
            return [
                copy.deepcopy(m) for (ns, _), m in sorted(self._metas.items()) if ns == namespace
            ]

    def list_all_meta(self) -> list[streams.StreamMeta]:
        with self._lock:
            return [copy.deepcopy(m) for m in self._metas.values()]

    def changes(self, namespace: str | None, after: int, upto: int) -> list[StreamChange]:
        with self._lock:
            live = [
                StreamChange(copy.deepcopy(m), self._created[key]) for key, m in self._metas.items()
            ]
            found = [
                c
                for c in [*live, *copy.deepcopy(self._tombstones)]
                if after < int(c.meta.resource_version) <= upto
                and namespace in (None, c.meta.namespace)
            ]
            return sorted(found, key=lambda c: int(c.meta.resource_version))

    def deleted_tags(self, namespace: str, after: int, upto: int) -> list[TagDeletion]:
        with self._lock:
            return [
                copy.deepcopy(d)
                for d in self._tag_tombstones
                if d.meta.namespace == namespace and after < int(d.meta.resource_version) <= upto
            ]

    def settled_version(self) -> int:
        with self._lock:
            return self._version

    def oldest_version(self) -> int:
        return self.oldest

    def get_tags(
        self, namespace: str, name: str, tags: Sequence[str] | None = None
    ) -> dict[str, streams.TagState]:
        with self._lock:
            stored = self._tags.get((namespace, name), {})
            wanted = stored if tags is None else [t for t in tags if t in stored]
            return {tag: copy.deepcopy(stored[tag].state) for tag in sorted(wanted)}

    def update_tags(
        self,
        namespace: str,
        name: str,
        mutations: Mapping[str, streams.TagMutation],
        *,
        since: str | None = None,
    ) -> TagsWritten:
        with self._lock:
            stored = self._tags.setdefault((namespace, name), {})
            wrote = False
            for tag, mutate in mutations.items():
                current = stored.get(tag)
                before = current.state if current is not None else None
                # A copy of its own: a mutation may change its argument in place.
                proposed = mutate(copy.deepcopy(before))
                if proposed is None or not streams.changed(before, proposed):
                    continue
                state = copy.deepcopy(proposed)
                stored[tag] = _StoredTag(state, reimports.index_keys(namespace, name, state))
                self.writes.append((namespace, name, tag))
                wrote = True
            states = {tag: copy.deepcopy(stored[tag].state) for tag in mutations if tag in stored}
            meta = self._metas.get((namespace, name))
            if not wrote or meta is None:
                return TagsWritten(states)
            previous = meta.resource_version
            meta.resource_version = self._next_version()
            return TagsWritten(states, meta.resource_version if previous == since else None)

    def delete_stream(self, namespace: str, name: str) -> bool:
        with self._lock:
            tags = self._tags.pop((namespace, name), {})
            self._images.pop((namespace, name), None)
            meta = self._metas.pop((namespace, name), None)
            if meta is None:
                return False
            meta.resource_version = self._next_version()
            created = self._created.pop((namespace, name))
            self._tombstones.append(StreamChange(meta, created, deleted=True))
            self._tag_tombstones.extend(
                TagDeletion(copy.deepcopy(meta), stored.state) for stored in tags.values()
            )
            return True

    def delete_tag(self, namespace: str, name: str, tag: str) -> streams.TagState | None:
        with self._lock:
            meta = self._metas.get((namespace, name))
            stored = self._tags.get((namespace, name), {}).pop(tag, None)
            if meta is None or stored is None:
                return None
            meta.resource_version = self._next_version()
            if stored.state.spec is not None:
                meta.generation += 1
            self._tag_tombstones.append(TagDeletion(copy.deepcopy(meta), stored.state))
            return copy.deepcopy(stored.state)

    def save_images(self, namespace: str, name: str, images: Sequence[Image]) -> None:
        with self._lock:
            kept = self._images.setdefault((namespace, name), {})
            for image in images:
                kept.setdefault(
                    image.metadata.name,
                    image.model_copy(
                        update={"docker_image_manifest": "", "docker_image_config": ""}
                    ),
                )

    def get_image(self, namespace: str, name: str, digest: str) -> Image | None:
        with self._lock:
            return copy.deepcopy(self._images.get((namespace, name), {}).get(digest))

    def tracking(self, key: str) -> list[tuple[str, str, str]]:
        return [
            (ns, name, tag)
            for ns, name, tag, indexed in self._indexed()
            if indexed.get("tracks") == key
        ]

    def scheduled(self, shard: str) -> list[tuple[str, str, str, str]]:
        return [
            (ns, name, tag, indexed.get("registry", ""))
            for ns, name, tag, indexed in self._indexed()
            if indexed.get("scheduled") == shard
        ]

    def _indexed(self) -> list[tuple[str, str, str, dict[str, str]]]:
        with self._lock:
            return [
                (ns, name, tag, dict(stored.indexed))
                for (ns, name), tags in sorted(self._tags.items())
                for tag, stored in sorted(tags.items())
            ]


# --- import documents and jobs -------------------------------------------------------


class FakeImportRecords:
    """The latest import document per name."""

    def __init__(self) -> None:
        self._documents: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def save(self, namespace: str, name: str, document: dict[str, Any]) -> None:
        with self._lock:
            self._documents[(namespace, name)] = _copy(document)

    def load(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            document = self._documents.get((namespace, name))
            return _copy(document) if document is not None else None


class FakeJobStore:
    """Jobs and their per-tag results; a tag's first result wins and counts once."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._results: dict[str, dict[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def create(self, job: Job, results: Mapping[str, ImageImportStatus]) -> None:
        with self._lock:
            if job.job_id in self._jobs:
                raise errors.job_exists(job.job_id)
            self._jobs[job.job_id] = dataclasses.replace(
                job,
                done=len(results),
                failed=sum(1 for result in results.values() if not result.status.is_success),
                state=RUNNING,
                context=_copy(job.context),
            )
            self._results[job.job_id] = {tag: r.to_json_dict() for tag, r in results.items()}

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return dataclasses.replace(job, context=_copy(job.context)) if job else None

    def record(self, job_id: str, results: Mapping[str, ImageImportStatus]) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise errors.job_not_found(job_id)
            recorded = self._results[job_id]
            for tag, result in results.items():
                if tag in recorded:
                    continue
                recorded[tag] = result.to_json_dict()
                job.done += 1
                job.failed += 0 if result.status.is_success else 1
            return dataclasses.replace(job, context=_copy(job.context))

    def complete(self, job_id: str) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state != RUNNING or job.done < job.total:
                return False
            job.state = COMPLETE
            return True

    def results(self, job_id: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            recorded = self._results.get(job_id, {})
            return {tag: _copy(recorded[tag]) for tag in sorted(recorded)}


class FakeImportQueue:
    """Records what was sent, each message as a consumer would parse its body."""

    def __init__(self) -> None:
        self.chunks: list[ChunkMessage] = []
        self.reimports: list[reimports.Planned] = []

    def send(self, messages: Sequence[ChunkMessage]) -> None:
        self.chunks.extend(ChunkMessage.model_validate_json(m.body()) for m in messages)

    def send_reimports(self, planned: Sequence[reimports.Planned]) -> None:
        self.reimports.extend(
            reimports.Planned(
                reimports.ReimportMessage.model_validate_json(p.message.body()), p.delay
            )
            for p in planned
        )


# --- the importer's ports --------------------------------------------------------------


class FakeImageCache:
    """Converted images by cache key; ``entries`` is what was put."""

    def __init__(self) -> None:
        self.entries: dict[CacheKey, Image] = {}
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[CacheKey]) -> dict[CacheKey, Image]:
        with self._lock:
            return {
                key: self.entries[key].model_copy(deep=True) for key in keys if key in self.entries
            }

    def put_many(self, entries: Mapping[CacheKey, Image]) -> None:
        with self._lock:
            for key, image in entries.items():
                self.entries[key] = image.model_copy(deep=True)


@dataclass(frozen=True)
class Request:
    """One registry request: ``HEAD``/``GET``, ``host/repository``, and what was asked."""

    method: Literal["HEAD", "GET"]
    repository: str
    path: str

    @property
    def kind(self) -> str:
        """``HEAD manifests``, ``GET manifests``, ``GET blobs`` or ``GET tags``."""
        return f"{self.method} {self.path.split('/', 1)[0]}"


@dataclass
class _Repository:
    tags: dict[str, str] = field(default_factory=dict)
    manifests: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)


class FakeRegistry:
    """Repositories as dicts (tag -> digest -> manifest, digest -> blob), with faults.

    Repositories are named ``host/repository``. :meth:`fail` makes a tag's
    manifest answer an HTTP error status, and :meth:`require` a repository
    refuse callers without a given credential, each raised as the typed error
    the real client raises for that answer. ``requests`` logs every request.
    """

    def __init__(self) -> None:
        self._repositories: dict[str, _Repository] = {}
        self._faults: dict[str, int] = {}
        self._required: dict[str, Credential] = {}
        self._lock = threading.Lock()
        self.requests: list[Request] = []

    # --- arranging ---------------------------------------------------------------

    def push(
        self, name: str, tag: str, image: images.AnyImage, fmt: Literal["oci", "v2s2"] = "oci"
    ) -> str:
        """Serve ``image`` as ``name:tag`` (children of an index too); its digest."""
        with self._lock:
            repository = self._repositories.setdefault(name, _Repository())
            for blob in image.blobs():
                repository.blobs[blob.digest] = blob.data
            children = image.images if isinstance(image, images.ImageIndex) else ()
            for child in children:
                data, media_type = child.manifest(fmt)
                repository.manifests[images.manifest_digest(data)] = (data, media_type)
            data, media_type = image.manifest(fmt)
            digest = images.manifest_digest(data)
            repository.manifests[digest] = (data, media_type)
            repository.tags[tag] = digest
            return digest

    def fail(self, name: str, tag: str, status: int) -> None:
        """Answer ``status`` to every request for the manifest of ``name:tag``."""
        with self._lock:
            self._faults[f"{name}:{tag}"] = status

    def heal(self, name: str, tag: str) -> None:
        with self._lock:
            self._faults.pop(f"{name}:{tag}", None)

    def require(self, name: str, credential: Credential) -> None:
        """Refuse (401) every request for ``name`` made without ``credential``."""
        with self._lock:
            self._required[name] = credential

    def counts(self) -> Counter[str]:
        """How many requests of each :attr:`Request.kind` were made."""
        with self._lock:
            return Counter(request.kind for request in self.requests)

    # --- the Registry protocol -------------------------------------------------------

    def repository(
        self,
        host: str,
        repository: str,
        credentials: Sequence[Credential],
        *,
        insecure: bool,
        deadline: Deadline,
    ) -> RepositoryReader:
        return _Reader(self, f"{host}/{repository}", tuple(credentials))

    def answer(
        self,
        method: Literal["HEAD", "GET"],
        name: str,
        path: str,
        credentials: tuple[Credential, ...],
    ) -> tuple[int, _Repository]:
        """Log one request; the HTTP status it gets and the repository it reads."""
        with self._lock:
            self.requests.append(Request(method, name, path))
            repository = self._repositories.get(name, _Repository())
            required = self._required.get(name)
            if required is not None and required not in credentials:
                return 401, repository
            if path.startswith("manifests/"):
                fault = self._faults.get(f"{name}:{path.removeprefix('manifests/')}")
                if fault is not None:
                    return fault, repository
            return 200, repository


class _Reader:
    """One repository of a :class:`FakeRegistry`, as one caller reads it."""

    def __init__(
        self, registry: FakeRegistry, name: str, credentials: tuple[Credential, ...]
    ) -> None:
        self._registry = registry
        self._name = name
        self._credentials = credentials

    def head_manifest(self, reference: str) -> Descriptor:
        digest, (raw, media_type) = self._manifest("HEAD", reference)
        return Descriptor(digest, media_type, len(raw))

    def get_manifest(self, reference: str) -> Manifest:
        digest, (raw, media_type) = self._manifest("GET", reference)
        return Manifest(digest, media_type, raw)

    def get_blob(self, digest: str) -> bytes:
        status, repository = self._answer("GET", f"blobs/{digest}")
        if status == 200 and digest in repository.blobs:
            return repository.blobs[digest]
        raise _error(status if status != 200 else 404, f"blob {digest}")

    def list_tags(self) -> list[str]:
        status, repository = self._answer("GET", "tags/list")
        if status == 200 and repository.tags:
            return list(repository.tags)
        raise _error(status if status != 200 else 404, f"repository {self._path}")

    @property
    def _path(self) -> str:
        return self._name.split("/", 1)[1]

    def _answer(self, method: Literal["HEAD", "GET"], path: str) -> tuple[int, _Repository]:
        return self._registry.answer(method, self._name, path, self._credentials)

    def _manifest(
        self, method: Literal["HEAD", "GET"], reference: str
    ) -> tuple[str, tuple[bytes, str]]:
        status, repository = self._answer(method, f"manifests/{reference}")
        digest = repository.tags.get(reference, reference)
        if status == 200 and digest in repository.manifests:
            return digest, repository.manifests[digest]
        raise _error(status if status != 200 else 404, f"manifest {reference}")


def _error(status: int, what: str) -> RegistryError:
    """The error the real client raises when a registry answers ``status`` (empty body)."""
    return error_for(HttpResponse(status, {}, b"", ""), what)

"""The registry work of one request, and the image cache as that request sees it.

Every registry request is made at most once per request (a reference named
twice, or by an image and a repository, is fetched once), whichever thread
asks first; the others wait for its answer. Cache entries are read and
written in batches. The registry is reached
through the :class:`Registry` protocol, so the import logic can be run
against a fake.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, NamedTuple, Protocol, TypeVar

from imagestreams.credentials import Credential, Keyring
from imagestreams.deadline import Deadline
from imagestreams.models import Image
from imagestreams.observability import logger
from imagestreams.reference import Digest, Reference, is_digest
from imagestreams.registry.answers import Descriptor, Manifest

T = TypeVar("T")


class RepositoryReader(Protocol):
    """One repository as one caller may read it."""

    def head_manifest(self, reference: str | Digest) -> Descriptor: ...

    def get_manifest(self, reference: str | Digest) -> Manifest:
        """The manifest of a tag, or of a :class:`Digest`, verified to be that digest's."""
        ...

    def get_blob(self, digest: Digest) -> bytes: ...

    def list_tags(self) -> list[str]: ...


class Registry(Protocol):
    """What the importer needs of a registry client."""

    def repository(
        self,
        host: str,
        repository: str,
        credentials: Sequence[Credential],
        *,
        insecure: bool,
        deadline: Deadline,
    ) -> RepositoryReader: ...


class RoleCredential(Protocol):
    """The service's own credential for a registry no pull secret matches (ECR's role)."""

    def credential(self, host: str) -> Credential | None: ...


class CacheKey(NamedTuple):
    """A converted image's cache key: where it was verified, and its manifest digest.

    ``source`` is ``<registry host>/<repository>`` of the registry that served
    the manifest and config: an entry is a proof that this repository holds
    this content, and is only ever served for it.
    """

    source: str
    digest: str

    @classmethod
    def of(cls, ref: Reference, digest: str) -> CacheKey:
        return cls(f"{ref.api_host}/{ref.repository}", digest)


class ImageCache(Protocol):
    """Converted images by the repository they were verified at and their digest."""

    def get_many(self, keys: Sequence[CacheKey]) -> dict[CacheKey, Image]:
        """The cached images of ``keys``; a miss (or an unreadable entry) is absent."""
        ...

    def put_many(self, entries: Mapping[CacheKey, Image]) -> None:
        """Cache ``entries``; the cache may keep less (or nothing) of an image."""
        ...


class _Once:
    """Runs each keyed computation once per request; concurrent callers share it."""

    def __init__(self) -> None:
        self._futures: dict[object, Future[Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: object, compute: Callable[[], T]) -> T:
        with self._lock:
            future = self._futures.get(key)
            owner = future is None
            if future is None:
                future = self._futures[key] = Future()
        if owner:
            try:
                future.set_result(compute())
            except BaseException as exc:
                future.set_exception(exc)
        result: T = future.result()
        return result

    def put(self, key: object, value: object) -> None:
        """Record ``value`` as the result of ``key`` unless it has one (or one is underway)."""
        with self._lock:
            if key not in self._futures:
                done: Future[Any] = Future()
                done.set_result(value)
                self._futures[key] = done


# Keys looked up in one batch at most (DynamoDB's BatchGetItem takes 100).
LOOKUP_BATCH = 100
# New conversions are written back this many at a time (four BatchWriteItem requests).
WRITE_BATCH = 100


class CacheView:
    """The image cache as one request sees it: batched reads, batched writes.

    :meth:`prefetch` looks keys up in one batch, and the children of the
    manifest lists it finds in a second; :meth:`get` asks for a key alone
    only when no batch had it. New conversions are written back
    :data:`WRITE_BATCH` at a time by the thread that adds the last of a
    batch, the rest by :meth:`flush`. The cache is an optimization: a failed
    write costs only a later GET.
    """

    def __init__(self, cache: ImageCache | None) -> None:
        self._cache = cache
        self._known: dict[CacheKey, Image | None] = {}
        self._pending: dict[CacheKey, Image] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._cache is not None

    def prefetch(self, keys: Sequence[CacheKey]) -> None:
        """Look up every key not seen yet in one batch, then the children of lists found."""
        found = self._look_up(keys)
        children = [
            CacheKey(key.source, entry.digest)
            for key, image in found.items()
            for entry in image.docker_image_manifests or []
        ]
        self._look_up(children)

    def _look_up(self, keys: Sequence[CacheKey]) -> dict[CacheKey, Image]:
        if self._cache is None:
            return {}
        with self._lock:
            wanted = [k for k in dict.fromkeys(keys) if k not in self._known]
        if not wanted:
            return {}
        found = self._cache.get_many(wanted)
        with self._lock:
            self._known.update((key, found.get(key)) for key in wanted)
        return found

    def get(self, key: CacheKey) -> Image | None:
        """The cached image of ``key``, shared with every caller: never to be changed in place."""
        if self._cache is None:
            return None
        with self._lock:
            seen = key in self._known
        if not seen:
            self._look_up([key])
        with self._lock:
            image = self._known.get(key)
        return image

    def add(self, key: CacheKey, image: Image) -> None:
        if self._cache is None:
            return
        with self._lock:
            self._known[key] = image
            self._pending[key] = image
            full = len(self._pending) >= WRITE_BATCH
        if full:
            self.flush()

    def flush(self) -> None:
        """Write what this request converted and has not written yet."""
        if self._cache is None:
            return
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            self._cache.put_many(pending)
        except Exception as error:
            logger.warning("image cache write failed", error_type=type(error).__name__)


class Fetcher:
    """The registry work of one request, deduplicated and shared by its threads.

    Credentials of a repository are the namespace's pull secret's that match
    its registry, else ``role``'s (ECR through the function's role), else
    none. ``endpoints`` maps a registry host to the ``host[:port]`` to connect
    to instead (a mirror, or a local registry standing in for it); the
    registry keeps its name everywhere else.
    """

    def __init__(
        self,
        registry: Registry,
        keyring: Keyring,
        deadline: Deadline,
        cache: ImageCache | None = None,
        *,
        role: RoleCredential | None = None,
        endpoints: Mapping[str, str] | None = None,
    ) -> None:
        self._registry = registry
        self._keyring = keyring
        self.deadline = deadline
        self.cache = CacheView(cache)
        self._once = _Once()
        self._role = role
        self._endpoints = endpoints or {}

    def repository(self, ref: Reference, insecure: bool) -> RepositoryReader:
        key = ("repository", ref.api_host, ref.repository, insecure)

        def build() -> RepositoryReader:
            credentials = self._keyring.lookup(ref.domain, ref.repository)
            if not credentials and ref.api_host != ref.domain:
                credentials = self._keyring.lookup(ref.api_host, ref.repository)
            if not credentials and self._role is not None:
                own = self._role.credential(ref.api_host)
                credentials = [own] if own is not None else []
            host = self._endpoints.get(ref.api_host, ref.api_host)
            return self._registry.repository(
                host, ref.repository, credentials, insecure=insecure, deadline=self.deadline
            )

        return self._once.get(key, build)

    def head(self, ref: Reference, insecure: bool, tag_or_digest: str | Digest) -> Digest | None:
        """The digest a tag (or digest) resolves to, checked with the caller's credentials.

        None when the registry announced none, or something that is no digest.
        """
        key = ("head", ref.api_host, ref.repository, tag_or_digest, insecure)
        descriptor = self._once.get(
            key, lambda: self.repository(ref, insecure).head_manifest(tag_or_digest)
        )
        announced = descriptor.digest
        return Digest.parse(announced) if announced and is_digest(announced) else None

    def manifest(self, ref: Reference, insecure: bool, tag_or_digest: str | Digest) -> Manifest:
        key = ("manifest", ref.api_host, ref.repository, tag_or_digest, insecure)
        manifest = self._once.get(
            key, lambda: self.repository(ref, insecure).get_manifest(tag_or_digest)
        )
        if not isinstance(tag_or_digest, Digest) and is_digest(manifest.digest):
            # The same document by its digest: a later GET of that digest is this one.
            by_digest = ("manifest", ref.api_host, ref.repository, manifest.digest, insecure)
            self._once.put(by_digest, manifest)
        return manifest

    def blob(self, ref: Reference, insecure: bool, digest: Digest) -> bytes:
        key = ("blob", ref.api_host, ref.repository, digest, insecure)
        return self._once.get(key, lambda: self.repository(ref, insecure).get_blob(digest))

    def tags(self, ref: Reference, insecure: bool) -> list[str]:
        key = ("tags", ref.api_host, ref.repository, insecure)
        return self._once.get(key, lambda: self.repository(ref, insecure).list_tags())

    def converted(self, key: object, convert: Callable[[], Image]) -> Image:
        return self._once.get(("image", key), convert)

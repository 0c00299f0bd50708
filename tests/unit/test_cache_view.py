"""CacheView: one request's batched reads and writes of the image cache."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from imagestreams.imports.session import WRITE_BATCH, CacheKey, CacheView
from imagestreams.models import Image, ObjectMeta
from imagestreams.models.image import ImageManifest
from tests.support.fakes import FakeImageCache

SOURCE = "registry.example.com/team/app"


def image(digest: str, children: Sequence[str] = ()) -> Image:
    manifests = [ImageManifest(digest=child) for child in children] or None
    return Image(metadata=ObjectMeta(name=digest), docker_image_manifests=manifests)


def key(digest: str) -> CacheKey:
    return CacheKey(SOURCE, digest)


class CountingCache(FakeImageCache):
    """The fake cache, recording each batch read and written."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[list[CacheKey]] = []
        self.writes: list[int] = []

    def get_many(self, keys: Sequence[CacheKey]) -> dict[CacheKey, Image]:
        self.reads.append(list(keys))
        return super().get_many(keys)

    def put_many(self, entries: Mapping[CacheKey, Image]) -> None:
        self.writes.append(len(entries))
        super().put_many(entries)


@pytest.mark.parametrize(
    ("added", "writes_before_flush", "writes_after_flush"),
    [
        (0, [], []),
        (WRITE_BATCH - 1, [], [WRITE_BATCH - 1]),
        (WRITE_BATCH, [WRITE_BATCH], [WRITE_BATCH]),
        (2 * WRITE_BATCH + 7, [WRITE_BATCH, WRITE_BATCH], [WRITE_BATCH, WRITE_BATCH, 7]),
    ],
    ids=["nothing", "less-than-a-batch", "one-batch", "two-batches-and-the-rest"],
)
def test_conversions_are_written_a_batch_at_a_time_and_the_rest_on_flush(
    added: int, writes_before_flush: list[int], writes_after_flush: list[int]
) -> None:
    cache = CountingCache()
    view = CacheView(cache)

    for number in range(added):
        view.add(key(f"sha256:{number:064x}"), image(f"sha256:{number:064x}"))
    assert cache.writes == writes_before_flush
    view.flush()

    assert cache.writes == writes_after_flush
    assert len(cache.entries) == added


def test_a_prefetch_reads_the_keys_in_one_batch_then_the_children_of_lists_in_another() -> None:
    # Given a cached list with two children, one of them cached, and a cached image
    cache = CountingCache()
    cache.put_many(
        {
            key("sha256:list"): image("sha256:list", ["sha256:child-a", "sha256:child-b"]),
            key("sha256:child-a"): image("sha256:child-a"),
            key("sha256:single"): image("sha256:single"),
        }
    )
    view = CacheView(cache)

    # When the list, the image and a missing key are prefetched
    view.prefetch([key("sha256:list"), key("sha256:single"), key("sha256:missing")])

    # Then two reads were made: the keys, then the list's children
    assert cache.reads == [
        [key("sha256:list"), key("sha256:single"), key("sha256:missing")],
        [key("sha256:child-a"), key("sha256:child-b")],
    ]
    # And every answer is known without another read
    assert view.get(key("sha256:child-a")) is not None
    assert view.get(key("sha256:child-b")) is None
    assert view.get(key("sha256:missing")) is None
    assert len(cache.reads) == 2

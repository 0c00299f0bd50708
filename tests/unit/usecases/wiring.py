"""The use cases wired to in-memory fakes, as ``imagestreams.bootstrap`` wires the adapters.

Also the few builders the use-case tests share: requests, pushed tags, and
delivering what an import queued.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from imagestreams.api import validation
from imagestreams.imports.importer import Importer
from imagestreams.imports.jobs import ChunkMessage
from imagestreams.imports.plan import ImportOptions, ValidImport
from imagestreams.models import ImageStreamImport
from imagestreams.usecases.common import Options
from imagestreams.usecases.import_jobs import ImportJobs
from imagestreams.usecases.queries import Queries
from imagestreams.usecases.reimport import QueueReimports, Reimport
from imagestreams.usecases.start import StartImport
from imagestreams.usecases.stream_images import StreamImages
from imagestreams.usecases.stream_tags import StreamTags
from imagestreams.usecases.stream_writes import WriteStreams
from imagestreams.usecases.tag_writes import WriteStreamTags
from imagestreams.usecases.tagging import StreamTagger
from testkit import images
from testkit.api import image_spec, import_body
from tests.support.fakes import (
    FakeImageCache,
    FakeImportQueue,
    FakeImportRecords,
    FakeJobStore,
    FakePullSecrets,
    FakeRegistry,
    FakeStreamStore,
)

REGISTRY = "registry.example.com"
REPOSITORY = f"{REGISTRY}/team/app"
# What a Lambda invocation has left when the use case starts, in seconds.
REMAINING = 30.0
# Parallel imports: this machine is shared, and the fakes answer at once anyway.
PARALLELISM = 4


@dataclass
class Fakes:
    """One fake per port: what the tests arrange and inspect."""

    registry: FakeRegistry = field(default_factory=FakeRegistry)
    cache: FakeImageCache = field(default_factory=FakeImageCache)
    pull_secrets: FakePullSecrets = field(default_factory=FakePullSecrets)
    store: FakeStreamStore = field(default_factory=FakeStreamStore)
    records: FakeImportRecords = field(default_factory=FakeImportRecords)
    job_store: FakeJobStore = field(default_factory=FakeJobStore)
    queue: FakeImportQueue = field(default_factory=FakeImportQueue)


@dataclass(frozen=True)
class UseCases:
    """The use cases of one execution environment."""

    start: StartImport
    import_jobs: ImportJobs
    reimport: Reimport
    queue_reimports: QueueReimports
    queries: Queries
    stream_tags: StreamTags
    stream_images: StreamImages
    write_streams: WriteStreams
    write_stream_tags: WriteStreamTags


def wire(fakes: Fakes, options: Options | None = None) -> UseCases:
    """Build the use cases over ``fakes`` exactly as ``bootstrap.Container`` does."""
    options = options or Options()
    importer = Importer(
        fakes.registry,
        ImportOptions(default_import_mode=options.default_import_mode, parallelism=PARALLELISM),
        fakes.cache,
    )
    tagger = StreamTagger(fakes.store, options.max_tag_history)
    writes = WriteStreams(importer, fakes.pull_secrets, fakes.store, tagger, options)
    return UseCases(
        start=StartImport(
            importer,
            fakes.pull_secrets,
            fakes.store,
            tagger,
            fakes.records,
            fakes.job_store,
            fakes.queue,
            options,
        ),
        import_jobs=ImportJobs(
            importer,
            fakes.pull_secrets,
            fakes.store,
            tagger,
            fakes.records,
            fakes.job_store,
            options,
        ),
        reimport=Reimport(importer, fakes.pull_secrets, fakes.store, tagger, options),
        queue_reimports=QueueReimports(fakes.store, fakes.queue, options),
        queries=Queries(fakes.store, fakes.records, fakes.job_store),
        stream_tags=StreamTags(fakes.store),
        stream_images=StreamImages(fakes.store),
        write_streams=writes,
        write_stream_tags=WriteStreamTags(writes, fakes.store),
    )


def request(
    *specs: dict[str, Any],
    name: str = "app",
    imported: bool = True,
    repository: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> ValidImport:
    """A validated ImageStreamImport of ``specs`` (``spec.images``) and/or a ``repository``."""
    body = import_body(*specs, name=name)
    body["spec"]["import"] = imported
    body["metadata"].update(metadata or {})
    if repository is not None:
        body["spec"]["repository"] = {"from": {"kind": "DockerImage", "name": repository}}
    if not specs:
        body["spec"].pop("images")
    isi = ImageStreamImport.model_validate(body)
    return ValidImport(isi, validation.validate(isi, "demo"))


def images_of(*refs: str, **fields: Any) -> list[dict[str, Any]]:
    """``spec.images`` entries importing ``refs``, each with ``fields``."""
    return [image_spec(ref, **fields) for ref in refs]


def push_tags(registry: FakeRegistry, tags: list[str], name: str = REPOSITORY) -> dict[str, str]:
    """Serve a distinct small image under each tag (one shared layer); digests by tag."""
    layer = images.random_layer(files=1, file_size=64)
    return {
        tag: registry.push(name, tag, images.build_image(layers=[layer], labels={"tag": tag}))
        for tag in tags
    }


def deliver(
    use_cases: UseCases, chunks: list[ChunkMessage], receive_count: int = 1, times: int = 1
) -> None:
    """Run each chunk ``times`` in a row, as a worker receiving it ``receive_count``-th."""
    for chunk in chunks:
        for _ in range(times):
            use_cases.import_jobs.process_chunk(chunk, receive_count, REMAINING)

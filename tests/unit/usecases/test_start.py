"""StartImport: ``POST imagestreamimports`` against fakes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from imagestreams import streams
from imagestreams.api.validation import apply_defaults
from imagestreams.credentials import Credential, Keyring
from imagestreams.deadline import Deadline
from imagestreams.errors import ConflictError, NotFoundRequestError, RequestError
from imagestreams.imports import jobs
from imagestreams.models import DOCKER_REPOSITORY_CHECK_ANNOTATION, TagReference
from imagestreams.usecases.common import Options
from testkit import images
from tests.support.fakes import FakeStreamStore
from tests.unit.usecases.wiring import (
    REGISTRY,
    REMAINING,
    REPOSITORY,
    Fakes,
    UseCases,
    images_of,
    push_tags,
    request,
    wire,
)


def untimed(value: Any) -> Any:
    """``value`` without its ``created`` times."""
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k != "created"}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


def tags_of(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The stream's status tags in an import document, by tag."""
    return {entry["tag"]: entry for entry in document["status"]["import"]["status"]["tags"]}


def test_a_dry_run_stores_nothing_but_the_import_document(fakes: Fakes, app: UseCases) -> None:
    # Given an image in the registry
    push_tags(fakes.registry, ["v1"])

    # When it is imported without spec.import
    created = app.start.create(
        "demo", request(*images_of(f"{REPOSITORY}:v1"), imported=False), REMAINING
    )

    # Then the image is in the answer, the answer is stored, and no stream exists
    assert not created.accepted
    [image] = created.document["status"]["images"]
    assert image["status"]["status"] == "Success"
    assert "import" not in created.document["status"]
    assert fakes.records.load("demo", "app") == created.document
    assert fakes.store.get_meta("demo", "app") is None
    assert fakes.store.writes == []
    assert fakes.queue.chunks == []


def test_import_creates_a_stream_at_generation_one_with_one_event_per_tag(
    fakes: Fakes, app: UseCases
) -> None:
    # Given two tags in the registry
    digests = push_tags(fakes.registry, ["v1", "v2"])

    # When both are imported into a stream
    refs = [f"{REPOSITORY}:{tag}" for tag in digests]
    created = app.start.create("demo", request(*images_of(*refs)), REMAINING)

    # Then the stream is at generation 1 with one TagEvent per tag, and it is stored
    stream = created.document["status"]["import"]
    assert stream["metadata"]["generation"] == 1
    stored = fakes.store.get_meta("demo", stream["metadata"]["name"])
    assert stored is not None
    assert stream["metadata"]["resourceVersion"] == stored.resource_version
    assert DOCKER_REPOSITORY_CHECK_ANNOTATION in stream["metadata"]["annotations"]
    assert {
        tag: [(i["image"], i["generation"]) for i in t["items"]]
        for tag, t in tags_of(created.document).items()
    } == {tag: [(digest, 1)] for tag, digest in digests.items()}
    assert {t["name"]: t["from"]["name"] for t in stream["spec"]["tags"]} == {
        tag: f"{REPOSITORY}:{tag}" for tag in digests
    }
    assert app.queries.get_stream("demo", "app").to_json_dict() == stream


@pytest.mark.parametrize(
    ("repushed", "stream_generation", "generations", "requests", "writes"),
    [
        (False, 1, [1], Counter({"HEAD manifests": 1}), 1),
        (True, 2, [2, 1], Counter({"HEAD manifests": 1, "GET manifests": 1, "GET blobs": 1}), 2),
    ],
    ids=["unchanged-leaves-the-stream", "repushed-adds-one-item"],
)
def test_importing_again(
    fakes: Fakes,
    app: UseCases,
    repushed: bool,
    stream_generation: int,
    generations: list[int],
    requests: Counter[str],
    writes: int,
) -> None:
    # Given a tag imported once
    push_tags(fakes.registry, ["v1"])
    app.start.create("demo", request(*images_of(f"{REPOSITORY}:v1")), REMAINING)
    if repushed:
        push_tags(fakes.registry, ["v1"])
    fakes.registry.requests.clear()

    # When it is imported again
    second = app.start.create("demo", request(*images_of(f"{REPOSITORY}:v1")), REMAINING)

    # Then only a new image moves the stream to generation 2 and grows the history
    # (an unchanged import leaves the stream as it was, as rest.go does), and a
    # warm import of an unchanged tag costs one HEAD
    assert second.document["status"]["import"]["metadata"]["generation"] == stream_generation
    assert [i["generation"] for i in tags_of(second.document)["v1"]["items"]] == generations
    assert fakes.registry.counts() == requests
    assert len(fakes.store.writes) == writes


@pytest.mark.parametrize(
    ("statuses", "reason", "generation", "writes"),
    [
        ((404, 404), "NotFound", 1, 1),
        ((401, 401), "Unauthorized", 1, 1),
        ((503, 503), "InternalError", 1, 1),
        ((404, 401), "Unauthorized", 2, 2),
        ((429, 404), "NotFound", 2, 2),
    ],
    ids=["404-twice", "401-twice", "503-twice", "404-then-401", "429-then-404"],
)
def test_a_failing_tag_gets_one_condition_per_distinct_error(
    fakes: Fakes,
    app: UseCases,
    statuses: tuple[int, int],
    reason: str,
    generation: int,
    writes: int,
) -> None:
    # Given a tag the registry answers with an error, then maybe with another
    push_tags(fakes.registry, ["v1"])
    documents = []
    for status in statuses:
        fakes.registry.fail(REPOSITORY, "v1", status)

        # When it is imported each time
        created = app.start.create("demo", request(*images_of(f"{REPOSITORY}:v1")), REMAINING)
        documents.append(created.document)

    # Then the tag has one failure condition, written when that error first appeared
    [condition] = tags_of(documents[-1])["v1"]["conditions"]
    assert (condition["type"], condition["status"]) == ("ImportSuccess", "False")
    assert condition["reason"] == reason
    assert condition["generation"] == generation
    assert not tags_of(documents[-1])["v1"].get("items")
    assert len(fakes.store.writes) == writes


@pytest.mark.parametrize(
    ("name", "metadata", "error", "message"),
    [
        (
            "app",
            {"resourceVersion": "1"},
            ConflictError,
            'the image stream was updated from "1" to "',
        ),
        ("app", {"uid": "not-the-uid"}, NotFoundRequestError, '"app" not found'),
        ("absent", {"resourceVersion": "1"}, NotFoundRequestError, '"absent" not found'),
    ],
    ids=["stale-resource-version", "other-uid", "missing-stream"],
)
def test_a_failed_precondition_makes_no_registry_request(
    fakes: Fakes,
    app: UseCases,
    name: str,
    metadata: dict[str, str],
    error: type[RequestError],
    message: str,
) -> None:
    # Given a stream imported twice (so at a version newer than "1")
    push_tags(fakes.registry, ["v1"])
    for _ in range(2):
        app.start.create("demo", request(*images_of(f"{REPOSITORY}:v1")), REMAINING)
    fakes.registry.requests.clear()
    writes = list(fakes.store.writes)
    before = fakes.store.get_meta("demo", "app")

    # When an import names a stale version, another uid or a missing stream
    stale = request(*images_of(f"{REPOSITORY}:v1"), name=name, metadata=metadata)
    with pytest.raises(error) as raised:
        app.start.create("demo", stale, REMAINING)

    # Then it fails before any registry request, and nothing is written
    assert message in raised.value.message
    assert fakes.registry.requests == []
    assert fakes.store.writes == writes
    meta = fakes.store.get_meta("demo", "app")
    assert meta is not None
    assert before is not None
    assert meta.resource_version == before.resource_version


def test_the_namespace_pull_secret_reaches_the_registry(fakes: Fakes, app: UseCases) -> None:
    # Given a private repository, and a pull secret for it in team-a only
    credential = Credential("robot", "s3cret")
    push_tags(fakes.registry, ["v1"])
    fakes.registry.require(REPOSITORY, credential)
    fakes.pull_secrets.keyrings["team-a"] = Keyring([(REGISTRY, credential)])

    # When both namespaces import the image
    reasons = {
        namespace: app.start.create(
            namespace, request(*images_of(f"{REPOSITORY}:v1"), imported=False), REMAINING
        ).document["status"]["images"][0]["status"]
        for namespace in ("team-a", "team-b")
    }

    # Then only team-a gets it, though team-a's import cached it first
    assert reasons["team-a"]["status"] == "Success"
    assert reasons["team-b"]["reason"] == "Unauthorized"


TAGS = [f"t{n:02d}" for n in range(30)]


@pytest.mark.parametrize(
    ("inline_fraction", "failing", "deferred"),
    [
        (0.0, {}, TAGS),
        (0.6, {"t03": 429, "t17": 503}, ["t03", "t17"]),
    ],
    ids=["no-time-inline", "throttled-tags-deferred"],
)
def test_repository_tags_that_do_not_fit_inline_become_a_job(
    fakes: Fakes, inline_fraction: float, failing: dict[str, int], deferred: list[str]
) -> None:
    # Given a repository of 30 tags, some of which the registry may throttle now
    push_tags(fakes.registry, TAGS)
    for tag, status in failing.items():
        fakes.registry.fail(REPOSITORY, tag, status)
    app = wire(fakes, Options(inline_fraction=inline_fraction))

    # When the repository is imported
    created = app.start.create("demo", request(repository=REPOSITORY), REMAINING)

    # Then the answer is accepted (202) with the progress so far, and the rest is queued
    assert created.accepted
    annotations = created.document["metadata"]["annotations"]
    assert annotations[jobs.STATE_ANNOTATION] == jobs.RUNNING
    assert annotations[jobs.TOTAL_ANNOTATION] == "30"
    assert annotations[jobs.DONE_ANNOTATION] == str(30 - len(deferred))
    assert annotations[jobs.FAILED_ANNOTATION] == "0"
    repository = created.document["status"]["repository"]
    assert repository["status"]["reason"] == "Importing"
    assert repository["status"]["message"] == (
        f"{len(deferred)} of 30 tags are being imported asynchronously"
    )
    assert sorted(image["tag"] for image in repository.get("images", [])) == sorted(
        set(TAGS) - set(deferred)
    )
    job_id = annotations[jobs.JOB_ANNOTATION]
    queued = [tag for chunk in fakes.queue.chunks for tag in chunk.tags]
    assert sorted(queued) == sorted(deferred)
    assert {chunk.job_id for chunk in fakes.queue.chunks} == {job_id}
    assert [len(chunk.tags) for chunk in fakes.queue.chunks] == [
        len(deferred[i : i + jobs.CHUNK_TAGS]) for i in range(0, len(deferred), jobs.CHUNK_TAGS)
    ]
    assert fakes.records.load("demo", "app") == created.document


def test_a_manifest_list_is_imported_as_its_default_platform(fakes: Fakes, app: UseCases) -> None:
    # Given a multi-arch image
    index = images.build_index()
    fakes.registry.push(REPOSITORY, "multi", index)
    amd64 = images.manifest_digest(index.images[0].manifest()[0])

    # When it is imported in the default (Legacy) mode
    created = app.start.create("demo", request(*images_of(f"{REPOSITORY}:multi")), REMAINING)

    # Then the tag points at the linux/amd64 child
    assert tags_of(created.document)["multi"]["items"][0]["image"] == amd64


@pytest.mark.parametrize(
    ("include_manifest", "trimmed", "gets"),
    [(False, True, 0), (True, False, 0), (True, True, 2)],
    ids=["trimmed-serves-a-plain-import", "whole-serves-raw", "trimmed-is-fetched-again"],
)
def test_a_cache_entry_serves_an_import_only_if_it_holds_what_is_asked(
    fakes: Fakes, app: UseCases, include_manifest: bool, trimmed: bool, gets: int
) -> None:
    # Given an image in the cache, whole or without its raw documents (too large to store whole)
    push_tags(fakes.registry, ["v1"])
    app.start.create("demo", request(*images_of(f"{REPOSITORY}:v1")), REMAINING)
    [key] = fakes.cache.entries
    if trimmed:
        fakes.cache.entries[key] = fakes.cache.entries[key].model_copy(
            update={"docker_image_manifest": "", "docker_image_config": ""}
        )
    fakes.registry.requests.clear()

    # When it is imported again into its stream (known: a HEAD first), with or without
    # includeManifest
    spec = images_of(f"{REPOSITORY}:v1", includeManifest=include_manifest)
    created = app.start.create("demo", request(*spec), REMAINING)

    # Then the answer holds the raw manifest whenever it was asked for,
    # from the registry when the cache lacks it
    [image] = created.document["status"]["images"]
    assert bool(image["image"].get("dockerImageManifest")) is include_manifest
    assert bool(image["image"].get("dockerImageConfig")) is include_manifest
    assert fakes.registry.counts()["HEAD manifests"] == 1
    assert fakes.registry.counts()["GET manifests"] + fakes.registry.counts()["GET blobs"] == gets


@pytest.mark.parametrize("existing", [False, True], ids=["new-stream", "existing-stream"])
def test_a_dry_run_answers_the_stream_it_would_store_and_stores_nothing(
    fakes: Fakes, app: UseCases, existing: bool
) -> None:
    # Given an image, and perhaps a stream that imported an older one
    push_tags(fakes.registry, ["v1", "v2"])
    if existing:
        app.start.create("demo", request(*images_of(f"{REPOSITORY}:v1")), REMAINING)
        push_tags(fakes.registry, ["v1"])
    before = fakes.store.get_meta("demo", "app")
    before_tags = fakes.store.get_tags("demo", "app")
    writes, record = list(fakes.store.writes), fakes.records.load("demo", "app")
    refs = images_of(f"{REPOSITORY}:v1", f"{REPOSITORY}:v2")

    # When the import is a dry run
    dry = app.start.create("demo", request(*refs), REMAINING, dry_run=True)

    # Then it answers the stream the import would leave, and nothing was written
    stream = dry.document["status"]["import"]
    assert stream["metadata"]["generation"] == (2 if existing else 1)
    assert set(tags_of(dry.document)) == {"v1", "v2"}
    assert len(tags_of(dry.document)["v1"]["items"]) == (2 if existing else 1)
    assert fakes.store.get_meta("demo", "app") == before
    assert fakes.store.get_tags("demo", "app") == before_tags
    assert fakes.store.writes == writes
    assert fakes.records.load("demo", "app") == record
    # And the real import answers the same stream (but for what only a store assigns,
    # and the clock)
    real = app.start.create("demo", request(*refs), REMAINING).document["status"]["import"]
    assert real["spec"] == stream["spec"]
    assert untimed(real["status"]) == untimed(stream["status"])
    assert real["metadata"]["generation"] == stream["metadata"]["generation"]


def test_a_dry_run_of_a_large_repository_queues_nothing(fakes: Fakes) -> None:
    # Given a repository of 30 tags and no time to import them inline
    push_tags(fakes.registry, TAGS)
    app = wire(fakes, Options(inline_fraction=0.0))

    # When it is imported as a dry run
    dry = app.start.create("demo", request(repository=REPOSITORY), REMAINING, dry_run=True)

    # Then nothing is queued or stored, and the answer says what was left out
    assert not dry.accepted
    assert fakes.queue.chunks == []
    assert fakes.records.load("demo", "app") is None
    assert fakes.store.get_meta("demo", "app") is None
    status = dry.document["status"]["repository"]["status"]
    assert status["reason"] == "DryRun"
    assert status["message"].startswith("30 of 30 tags were not imported")


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        # A tag new to the namespace's stream: the manifest GET tells its digest, the cache
        # then spares the config GET.
        ("import-false", {"GET manifests": 1}),
        # A tag the stream has: a HEAD first, and nothing more while it has not moved.
        ("import-true", {"HEAD manifests": 1}),
        # A reference by digest: its digest is known, a HEAD proves access.
        ("by-digest", {"HEAD manifests": 1}),
    ],
    ids=["new-tag-get-first", "known-tag-head-first", "digest-head-first"],
)
def test_which_request_resolves_a_cached_image(
    fakes: Fakes, app: UseCases, second: str, expected: dict[str, int]
) -> None:
    # Given an image imported once, into a stream (so it is cached)
    digests = push_tags(fakes.registry, ["v1"])
    app.start.create("demo", request(*images_of(f"{REPOSITORY}:v1")), REMAINING)
    fakes.registry.requests.clear()

    # When it is imported again: as a new tag, a tag of the stream, or by digest
    if second == "by-digest":
        spec = images_of(f"{REPOSITORY}@{digests['v1']}")
        again = request(*spec, name="other", imported=False)
    else:
        again = request(*images_of(f"{REPOSITORY}:v1"), imported=second == "import-true")
    created = app.start.create("demo", again, REMAINING)

    # Then one request resolved it, and the cache served the rest
    assert created.document["status"]["images"][0]["status"]["status"] == "Success"
    assert fakes.registry.counts() == expected


def test_a_new_tag_costs_its_manifest_and_config_gets_only(fakes: Fakes, app: UseCases) -> None:
    push_tags(fakes.registry, ["v1"])

    app.start.create("demo", request(*images_of(f"{REPOSITORY}:v1")), REMAINING)

    assert fakes.registry.counts() == {"GET manifests": 1, "GET blobs": 1}


def test_a_tag_resolved_before_the_inline_budget_ran_out_is_finished_inline(
    fakes: Fakes, app: UseCases
) -> None:
    # Given 60 tags, and an inline budget that runs out after the registry
    # answered 25 requests (the clock counts requests)
    push_tags(fakes.registry, [f"t{n:02d}" for n in range(60)])
    valid = request(repository=REPOSITORY)
    spec = apply_defaults(valid.request, valid.references, "Legacy").spec
    budget = Deadline(25.0, clock=lambda: float(len(fakes.registry.requests)))
    importer = app.start.importer
    session = importer.fetcher(Keyring([]), Deadline.after(REMAINING))

    # When the repository is imported with that budget
    result = importer.import_spec(spec, valid.references, session, defer_after=budget)

    # Then the budget cut the import short, and every tag whose manifest was
    # fetched was finished: no manifest GET is left for the worker to repeat
    assert result.deferred
    fetched = {
        r.path.removeprefix("manifests/")
        for r in fakes.registry.requests
        if r.method == "GET" and r.path.startswith("manifests/t")
    }
    assert fetched <= set(result.finished)
    assert not fetched & set(result.deferred)
    assert sorted([*result.finished, *result.deferred]) == sorted(result.ordered)


def _pin(store: FakeStreamStore, tag: str) -> None:
    """Another client's write: a spec tag ``tag`` of the demo stream, made if missing."""
    reference = TagReference.model_validate(
        {"name": tag, "from": {"kind": "DockerImage", "name": f"example.com/pinned:{tag}"}}
    )
    store.create_stream(
        streams.StreamMeta(
            namespace="demo",
            name="app",
            uid="made-by-another",
            resource_version="",
            generation=1,
            creation_timestamp=datetime.now(UTC),
        )
    )
    store.update_tags("demo", "app", {tag: lambda _: streams.TagState(tag, spec=reference)})


@pytest.mark.parametrize(
    ("existing", "meddle", "reads"),
    [
        (False, None, 0),
        (True, None, 0),
        (True, "importing", 1),
        (False, "importing", 1),
        (True, "tagging", 1),
    ],
    ids=[
        "new-stream",
        "existing-stream",
        "another-write-while-importing",
        "stream-made-while-importing",
        "another-write-while-tagging",
    ],
)
def test_a_repository_import_answers_the_stream_as_stored_reading_it_again_only_after_another_write(
    fakes: Fakes,
    app: UseCases,
    monkeypatch: pytest.MonkeyPatch,
    existing: bool,
    meddle: str | None,
    reads: int,
) -> None:
    # Given a repository of three tags, the stream maybe imported before, and
    # maybe another client writing a tag of it while the registry is asked or
    # while the import's own tags are being written
    push_tags(fakes.registry, ["v1", "v2", "v3"])
    if existing:
        app.start.create(
            "demo", request(*images_of(f"{REPOSITORY}:v1", to={"name": "v1"})), REMAINING
        )
        push_tags(fakes.registry, ["v1"])
    store, importer = fakes.store, app.start.importer
    if meddle == "importing":
        import_spec = importer.import_spec

        def importing(*args: Any, **kwargs: Any) -> Any:
            _pin(store, "pinned")
            return import_spec(*args, **kwargs)

        monkeypatch.setattr(importer, "import_spec", importing)
    elif meddle == "tagging":
        save_images = store.save_images

        def tagging(*args: Any, **kwargs: Any) -> None:
            save_images(*args, **kwargs)
            _pin(store, "pinned")

        monkeypatch.setattr(store, "save_images", tagging)
    get_tags = store.get_tags
    read: list[str] = []

    def counted(namespace: str, name: str, tags: Any = None) -> Any:
        read.append("all" if tags is None else "some")
        return get_tags(namespace, name, tags)

    monkeypatch.setattr(store, "get_tags", counted)

    # When the repository is imported
    created = app.start.create("demo", request(repository=REPOSITORY), REMAINING)
    read_by_import = len(read)

    # Then the answer is the stream as stored, at its version, with the other
    # client's tag when there was one; the tags of a stream that existed were
    # read once before the import, and again only when another write came in
    # between
    answered = created.document["status"]["import"]
    assert answered == app.queries.get_stream("demo", "app").to_json_dict()
    assert {t["tag"] for t in answered["status"]["tags"]} == {"v1", "v2", "v3"}
    assert ("pinned" in {t["name"] for t in answered["spec"]["tags"]}) == (meddle is not None)
    assert read_by_import == int(existing) + reads

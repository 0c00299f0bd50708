"""Creating and updating ImageStreamTags, and spec tags pointing into the streams, against fakes.

OpenShift's ``imagestreamtag`` storage writes an ImageStreamTag as its
stream's spec tag; the stream strategy imports a ``DockerImage`` and resolves
an ``ImageStreamTag``/``ImageStreamImage`` from the store, with no registry call.
"""

from __future__ import annotations

from typing import Any

import pytest

from imagestreams import errors, listing
from imagestreams.errors import ConflictError, ValidationError
from imagestreams.models import ImageStream, ImageStreamTag
from imagestreams.usecases.watch import Watch
from tests.unit.usecases.wiring import REMAINING, REPOSITORY, Fakes, UseCases, push_tags


def istag(
    name: str, kind: str | None = "DockerImage", source: str = "", **fields: Any
) -> ImageStreamTag:
    """An ImageStreamTag ``name`` whose tag points at ``source`` of ``kind`` (None: no tag)."""
    body: dict[str, Any] = {"metadata": {"name": name, **fields.pop("metadata", {})}}
    if kind is not None:
        body["tag"] = {"from": {"kind": kind, "name": source, **fields.pop("from_", {})}}
    body.update(fields)
    return ImageStreamTag.model_validate(body)


@pytest.fixture
def digests(fakes: Fakes) -> dict[str, str]:
    return push_tags(fakes.registry, ["1.0", "2.0"])


def test_create_imports_a_docker_image_into_a_new_stream(
    app: UseCases, fakes: Fakes, digests: dict[str, str]
) -> None:
    # When an ImageStreamTag of a stream that does not exist points at a pushed image
    created = app.write_stream_tags.create(
        "demo", istag("web:one", source=f"{REPOSITORY}:1.0"), REMAINING
    )

    # Then the stream has that spec tag imported; the answer is the tag as a get shows it
    assert created.metadata.name == "web:one"
    assert created.image.metadata.name == digests["1.0"]
    assert created.tag is not None
    assert created.tag.generation == 1
    assert created.to_json_dict() == app.stream_tags.get("demo", "web:one").to_json_dict()
    stream = app.queries.get_stream("demo", "web")
    assert [t.name for t in stream.spec.tags or []] == ["one"]


def test_an_alias_tag_records_the_source_tag_image_without_a_registry_call(
    app: UseCases, fakes: Fakes, digests: dict[str, str]
) -> None:
    # Given web:one imported
    app.write_stream_tags.create("demo", istag("web:one", source=f"{REPOSITORY}:1.0"), REMAINING)
    before = fakes.registry.counts()

    # When web:alias points at it, and other:copy at web:one from another stream
    alias = app.write_stream_tags.create(
        "demo", istag("web:alias", "ImageStreamTag", "one"), REMAINING
    )
    copy = app.write_stream_tags.create(
        "demo", istag("other:copy", "ImageStreamTag", "web:one"), REMAINING
    )

    # Then both name the same image, shown whole, and the registry was not asked
    assert alias.image.metadata.name == digests["1.0"]
    assert copy.image.metadata.name == digests["1.0"]
    assert copy.image.docker_image_metadata is not None
    assert fakes.registry.counts() == before
    listed, _ = app.stream_tags.list("demo")
    assert {t.metadata.name: t.image.metadata.name for t in listed} == {
        "other:copy": digests["1.0"],
        "web:alias": digests["1.0"],
        "web:one": digests["1.0"],
    }


@pytest.mark.parametrize("prefix", [7, 71], ids=["short-id", "full-digest"])
def test_an_image_stream_image_source_names_one_image_of_the_history(
    app: UseCases, digests: dict[str, str], prefix: int
) -> None:
    app.write_stream_tags.create("demo", istag("web:one", source=f"{REPOSITORY}:1.0"), REMAINING)
    image_id = digests["1.0"] if prefix > 64 else digests["1.0"].split(":")[1][:prefix]

    pinned = app.write_stream_tags.create(
        "demo", istag("web:pinned", "ImageStreamImage", f"web@{image_id}"), REMAINING
    )

    assert pinned.image.metadata.name == digests["1.0"]


@pytest.mark.parametrize(
    ("kind", "source", "cause"),
    [
        ("ImageStreamTag", "missing:one", 'spec.tags[copy].from.name: Not found: "missing:one"'),
        (
            "ImageStreamImage",
            "web@sha256:abc",
            'spec.tags[copy].from.name: Invalid value: "web@sha256:abc": error generating tag '
            'event: imagestreamimage.image.openshift.io "sha256:abc" not found',
        ),
        (
            "ImageStreamTag",
            "a:b:c",
            'spec.tags[copy].from.name: Invalid value: "a:b:c": must be of the form <tag>, '
            "<repo>:<tag>, <id>, or <repo>@<id>",
        ),
    ],
    ids=["missing-stream", "unknown-image", "malformed"],
)
def test_an_invalid_source_is_the_stream_validation_error(
    app: UseCases, digests: dict[str, str], kind: str, source: str, cause: str
) -> None:
    app.write_stream_tags.create("demo", istag("web:one", source=f"{REPOSITORY}:1.0"), REMAINING)

    with pytest.raises(ValidationError) as raised:
        app.write_stream_tags.create("demo", istag("web:copy", kind, source), REMAINING)

    assert str(raised.value) == f'ImageStream.image.openshift.io "web" is invalid: {cause}'
    assert app.queries.get_stream("demo", "web").spec.tags is not None
    assert [t.name for t in app.queries.get_stream("demo", "web").spec.tags or []] == ["one"]


def test_a_source_in_another_namespace_must_be_readable(
    app: UseCases, digests: dict[str, str]
) -> None:
    app.write_stream_tags.create("team", istag("web:one", source=f"{REPOSITORY}:1.0"), REMAINING)
    shared = istag("web:copy", "ImageStreamTag", "web:one", from_={"namespace": "team"})

    with pytest.raises(ValidationError) as raised:
        app.write_stream_tags.create("demo", shared, REMAINING, may_read=lambda ns: ns == "demo")
    copied = app.write_stream_tags.create(
        "demo", shared, REMAINING, may_read=lambda ns: ns in ("demo", "team")
    )

    assert "spec.tags[copy].from: Forbidden: team/web" in str(raised.value)
    assert copied.image.metadata.name == digests["1.0"]


def test_a_spec_tag_of_an_image_stream_resolves_the_same_way(
    app: UseCases, digests: dict[str, str]
) -> None:
    app.write_stream_tags.create("demo", istag("web:one", source=f"{REPOSITORY}:1.0"), REMAINING)
    body = {
        "metadata": {"name": "copy"},
        "spec": {"tags": [{"name": "a", "from": {"kind": "ImageStreamTag", "name": "web:one"}}]},
    }

    created = app.write_streams.create("demo", ImageStream.model_validate(body), REMAINING)

    assert created.status.tags is not None
    assert created.status.tags[0].items[0].image == digests["1.0"]


def test_create_of_an_existing_spec_tag_is_already_exists(
    app: UseCases, digests: dict[str, str]
) -> None:
    app.write_stream_tags.create("demo", istag("web:one", source=f"{REPOSITORY}:1.0"), REMAINING)

    with pytest.raises(errors.AlreadyExistsError) as raised:
        app.write_stream_tags.create(
            "demo", istag("web:one", source=f"{REPOSITORY}:2.0"), REMAINING
        )

    # imagestreamtag/rest.go Create: NewAlreadyExists names the resource in the singular.
    assert str(raised.value) == 'imagestreamtag.image.openshift.io "web:one" already exists'


@pytest.mark.parametrize(
    ("name", "kind", "cause"),
    [
        (
            "web",
            "DockerImage",
            'metadata.name: Invalid value: "web": must be of the form <stream_name>:<tag>',
        ),
        (
            "web:one",
            "Other",
            "tag.from.kind: Required value: valid values are 'DockerImage', "
            "'ImageStreamImage', 'ImageStreamTag'",
        ),
    ],
    ids=["no-tag-in-name", "unsupported-kind"],
)
def test_an_invalid_image_stream_tag_is_422(
    app: UseCases, name: str, kind: str, cause: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        app.write_stream_tags.create("demo", istag(name, kind, "x:1"), REMAINING)

    assert str(raised.value) == f'ImageStreamTag.image.openshift.io "{name}" is invalid: {cause}'


def test_dry_run_create_answers_the_tag_and_writes_nothing(
    app: UseCases, digests: dict[str, str]
) -> None:
    shown = app.write_stream_tags.create(
        "demo", istag("web:one", source=f"{REPOSITORY}:1.0"), REMAINING, dry_run=True
    )

    assert shown.image.metadata.name == digests["1.0"]
    with pytest.raises(errors.NotFoundRequestError):
        app.queries.get_stream("demo", "web")


def test_update_replaces_the_spec_tag_and_checks_the_version(
    app: UseCases, fakes: Fakes, digests: dict[str, str]
) -> None:
    # Given web:one at 1.0
    created = app.write_stream_tags.create(
        "demo", istag("web:one", source=f"{REPOSITORY}:1.0"), REMAINING
    )

    # When it is replaced with 2.0 at its version, and again at that stale version
    replaced = istag(
        "web:one",
        source=f"{REPOSITORY}:2.0",
        metadata={"resourceVersion": created.metadata.resource_version},
    )
    written = app.write_stream_tags.update("demo", "web:one", replaced, REMAINING)
    with pytest.raises(ConflictError) as raised:
        app.write_stream_tags.update("demo", "web:one", replaced, REMAINING)

    # Then the tag moved to 2.0 (not a new spec tag), and the stale write was refused
    assert written.created is False
    assert written.tag.image.metadata.name == digests["2.0"]
    assert str(raised.value).startswith(
        'Operation cannot be fulfilled on imagestreamtags.image.openshift.io "web:one": '
        "another caller has updated the resource version to "
    )


def test_update_without_a_version_creates_the_stream_and_tag(
    app: UseCases, digests: dict[str, str]
) -> None:
    written = app.write_stream_tags.update(
        "demo", "web:one", istag("web:one", source=f"{REPOSITORY}:1.0"), REMAINING
    )

    assert written.created is True
    assert written.tag.image.metadata.name == digests["1.0"]


@pytest.mark.parametrize(
    ("given", "error", "message"),
    [
        (
            istag("web:one", source=f"{REPOSITORY}:1.0", metadata={"resourceVersion": "3"}),
            errors.NotFoundRequestError,
            'imagestreamtags.image.openshift.io "web:one" not found',
        ),
        (
            istag("web:one", None),
            errors.BadRequestError,
            "imagestreamtag one is not a spec tag in imagestream demo/web, cannot be updated",
        ),
        (
            istag("web:two", source=f"{REPOSITORY}:1.0"),
            errors.BadRequestError,
            "the name of the object (web:two) does not match the name on the URL (web:one)",
        ),
    ],
    ids=["version-of-a-missing-stream", "no-tag-to-update", "name-mismatch"],
)
def test_update_errors(
    app: UseCases, given: ImageStreamTag, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        app.write_stream_tags.update("demo", "web:one", given, REMAINING)

    assert str(raised.value) == message


def test_a_watch_of_tags_sends_each_tag_change_of_the_streams(
    app: UseCases, digests: dict[str, str]
) -> None:
    # Given web:one and web:gone, the version of their list, and a watch started with them
    app.write_stream_tags.create("demo", istag("web:one", source=f"{REPOSITORY}:1.0"), REMAINING)
    app.write_stream_tags.create("demo", istag("web:gone", "ImageStreamTag", "one"), REMAINING)
    _, page = app.stream_tags.list("demo")
    app.stream_tags.watch = Watch(clock=iter(range(0, 1000, 10)).__next__, sleep=lambda _: None)
    started = app.stream_tags.watch_tags("demo", listing.ListOptions(watch=True), 5.0)

    def meanwhile(_: float) -> None:
        # web:alias is added, web:one moves to 2.0, web:gone is deleted
        alias = istag("web:alias", "ImageStreamTag", "one")
        app.write_stream_tags.create("demo", alias, REMAINING)
        moved = istag("web:one", source=f"{REPOSITORY}:2.0")
        app.write_stream_tags.update("demo", "web:one", moved, REMAINING)
        app.stream_tags.delete("demo", "web:gone")

    # When a watch resumes from the list's version, and they change while it polls
    app.stream_tags.watch = Watch(clock=iter([0, 1, 10]).__next__, sleep=meanwhile)
    options = listing.ListOptions(watch=True, resource_version=page.resource_version)
    events = app.stream_tags.watch_tags("demo", options, 5.0)

    # Then the first watch sent both tags; the resumed one each change, tag by tag
    assert [(e.type, e.object["metadata"]["name"]) for e in started] == [
        ("ADDED", "web:gone"),
        ("ADDED", "web:one"),
    ]
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [
        ("ADDED", "web:alias"),
        ("MODIFIED", "web:one"),
        ("DELETED", "web:gone"),
    ]
    assert events[1].object["image"]["metadata"]["name"] == digests["2.0"]
    assert len({e.version for e in events}) == 1


def _delete_one(app: UseCases) -> None:
    app.stream_tags.delete("demo", "web:one")


def _delete_and_recreate(app: UseCases) -> None:
    app.stream_tags.delete("demo", "web:one")
    app.write_stream_tags.create("demo", istag("web:one", source=f"{REPOSITORY}:2.0"), REMAINING)


def _delete_the_stream(app: UseCases) -> None:
    app.queries.delete_stream("demo", "web")


def _create_and_delete(app: UseCases) -> None:
    app.write_stream_tags.create("demo", istag("web:brief", "ImageStreamTag", "one"), REMAINING)
    app.stream_tags.delete("demo", "web:brief")


@pytest.mark.parametrize(
    ("before_the_watch", "expected"),
    [
        # The stream changed: a resumed watch cannot tell its other tags did not.
        (_delete_one, [("MODIFIED", "web:alias", "1.0"), ("DELETED", "web:one", "1.0")]),
        (
            _delete_and_recreate,
            [
                ("DELETED", "web:one", "2.0"),
                ("MODIFIED", "web:alias", "1.0"),
                ("ADDED", "web:one", "2.0"),
            ],
        ),
        (
            _delete_the_stream,
            [("DELETED", "web:alias", "1.0"), ("DELETED", "web:one", "1.0")],
        ),
        # Created after the version and gone before the watch: deleted as it was last.
        (
            _create_and_delete,
            [
                ("MODIFIED", "web:alias", "1.0"),
                ("MODIFIED", "web:one", "1.0"),
                ("DELETED", "web:brief", "1.0"),
            ],
        ),
    ],
    ids=["tag-deleted", "deleted-then-created-again", "stream-deleted", "created-then-deleted"],
)
def test_a_resumed_watch_of_tags_tells_the_deletions_since_its_version(
    app: UseCases,
    digests: dict[str, str],
    before_the_watch: Any,
    expected: list[tuple[str, str, str]],
) -> None:
    # Given web:one and web:alias, and the version of their list
    app.write_stream_tags.create("demo", istag("web:one", source=f"{REPOSITORY}:1.0"), REMAINING)
    app.write_stream_tags.create("demo", istag("web:alias", "ImageStreamTag", "one"), REMAINING)
    _, page = app.stream_tags.list("demo")

    # When tags go (and come) before a watch resumes from that version
    before_the_watch(app)
    app.stream_tags.watch = Watch(clock=iter([0, 10]).__next__, sleep=lambda _: None)
    options = listing.ListOptions(watch=True, resource_version=page.resource_version)
    events = app.stream_tags.watch_tags("demo", options, 5.0)

    # Then the watch names each deleted tag, as it was, at the version of its deletion
    by_digest = {digest: tag for tag, digest in digests.items()}
    told = [
        (e.type, e.object["metadata"]["name"], by_digest[e.object["image"]["metadata"]["name"]])
        for e in events
    ]
    assert told == expected
    assert all(e.object["metadata"]["resourceVersion"] == str(e.version) for e in events)


def test_a_live_watch_tells_a_deleted_tag_once(app: UseCases, digests: dict[str, str]) -> None:
    # Given a watch started with web:one
    app.write_stream_tags.create("demo", istag("web:one", source=f"{REPOSITORY}:1.0"), REMAINING)

    def meanwhile(_: float) -> None:
        # web:one is deleted, and web:brief created and deleted within one poll
        _delete_one(app)
        _create_and_delete(app)

    # When it polls while they change
    app.stream_tags.watch = Watch(clock=iter([0, 1, 10]).__next__, sleep=meanwhile)
    events = app.stream_tags.watch_tags("demo", listing.ListOptions(watch=True), 5.0)

    # Then it was told web:one added, then deleted once; web:brief, never sent, is not named
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [
        ("ADDED", "web:one"),
        ("DELETED", "web:one"),
    ]

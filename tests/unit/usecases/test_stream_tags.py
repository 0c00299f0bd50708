"""StreamTags and StreamImages: a stream's images by tag and by digest, against fakes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from imagestreams import listing
from imagestreams.errors import BadRequestError, ConflictError, NotFoundRequestError
from tests.unit.usecases.wiring import (
    REMAINING,
    REPOSITORY,
    Fakes,
    UseCases,
    images_of,
    push_tags,
    request,
)


def _import(app: UseCases, name: str, *tags: str) -> dict[str, Any]:
    refs = [f"{REPOSITORY}:{tag}" for tag in tags]
    created = app.start.create("demo", request(*images_of(*refs), name=name), REMAINING)
    stream: dict[str, Any] = created.document["status"]["import"]
    return stream


def test_a_tag_shows_its_current_image_whole(fakes: Fakes, app: UseCases) -> None:
    # Given a stream with a tag imported from a registry
    digests = push_tags(fakes.registry, ["v1"])
    stream = _import(app, "web", "v1")

    # When the tag is read
    istag = app.stream_tags.get("demo", "web:v1").to_json_dict()

    # Then it is the stream's tag with the image as imported, raw manifest left out
    [event] = stream["status"]["tags"][0]["items"]
    assert istag["kind"] == "ImageStreamTag"
    assert istag["metadata"]["name"] == "web:v1"
    assert istag["metadata"]["namespace"] == "demo"
    assert istag["metadata"]["uid"] == stream["metadata"]["uid"]
    assert istag["metadata"]["resourceVersion"] == stream["metadata"]["resourceVersion"]
    assert istag["metadata"]["creationTimestamp"] == event["created"]
    assert istag["tag"] == stream["spec"]["tags"][0]
    assert istag["generation"] == event["generation"]
    assert istag["lookupPolicy"] == {"local": False}
    assert "conditions" not in istag
    image = istag["image"]
    assert image["metadata"]["name"] == digests["v1"]
    assert image["dockerImageReference"] == event["dockerImageReference"]
    assert image["dockerImageMetadata"]["Id"]
    assert image["dockerImageLayers"]
    assert "dockerImageManifest" not in image


def test_a_list_shows_every_tag_with_history_naming_images_only(
    fakes: Fakes, app: UseCases
) -> None:
    # Given two streams, one of them with a tag whose import failed
    digests = push_tags(fakes.registry, ["v1", "v2"])
    _import(app, "web", "v1", "v2")
    _import(app, "api", "v1", "missing")

    # When the namespace's tags are listed
    tags, page = app.stream_tags.list("demo")

    # Then each tag with an image is there, in name order, its image named
    assert [t.metadata.name for t in tags] == ["api:v1", "web:v1", "web:v2"]
    assert tags[2].image.metadata.name == digests["v2"]
    assert tags[2].image.docker_image_metadata is None
    assert page.continue_token == ""


def test_a_list_takes_selectors_and_pages(fakes: Fakes, app: UseCases) -> None:
    # Given two streams, one labelled
    push_tags(fakes.registry, ["v1", "v2", "v3"])
    _import(app, "web", "v1", "v2", "v3")
    _import(app, "api", "v1")
    fakes.store.set_labels("demo", "web", {"app": "web"})

    # When they are listed by label, by name, and a page at a time
    labelled = app.stream_tags.list("demo", listing.list_options({"labelSelector": "app=web"}))
    named = app.stream_tags.list(
        "demo", listing.list_options({"fieldSelector": "metadata.name=web:v2"})
    )
    first = app.stream_tags.list("demo", listing.list_options({"limit": "2"}))
    rest = app.stream_tags.list(
        "demo", listing.list_options({"limit": "2", "continue": first[1].continue_token})
    )

    # Then each answers what the API server would
    assert [t.metadata.name for t in labelled[0]] == ["web:v1", "web:v2", "web:v3"]
    assert labelled[0][0].metadata.labels == {"app": "web"}
    assert [t.metadata.name for t in named[0]] == ["web:v2"]
    assert [t.metadata.name for t in first[0]] == ["api:v1", "web:v1"]
    assert first[1].remaining == 2
    assert [t.metadata.name for t in rest[0]] == ["web:v2", "web:v3"]
    assert rest[1].continue_token == ""


def test_deleting_a_tag_removes_it_from_spec_and_status(fakes: Fakes, app: UseCases) -> None:
    # Given a stream of two tags
    push_tags(fakes.registry, ["v1", "v2"])
    before = _import(app, "web", "v1", "v2")

    # When one is deleted
    status = app.stream_tags.delete("demo", "web:v1").to_json_dict()

    # Then it is gone from the stream, whose version and generation moved on
    after = app.queries.get_stream("demo", "web").to_json_dict()
    assert status == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    assert [t["name"] for t in after["spec"]["tags"]] == ["v2"]
    assert [t["tag"] for t in after["status"]["tags"]] == ["v2"]
    assert int(after["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    with pytest.raises(NotFoundRequestError):
        app.stream_tags.get("demo", "web:v1")


def test_a_dry_run_delete_checks_and_keeps_the_tag(fakes: Fakes, app: UseCases) -> None:
    # Given a stream with a tag
    push_tags(fakes.registry, ["v1"])
    _import(app, "web", "v1")

    # When its deletion is a dry run, then with a stale precondition
    status = app.stream_tags.delete("demo", "web:v1", dry_run=True)
    with pytest.raises(ConflictError) as stale:
        app.stream_tags.delete("demo", "web:v1", expected_uid="other")

    # Then the tag is still there
    assert status.status == "Success"
    assert app.stream_tags.get("demo", "web:v1").metadata.name == "web:v1"
    assert str(stale.value) == (
        'Operation cannot be fulfilled on imagestreamtags.image.openshift.io "web:v1": '
        "the UID precondition was not met"
    )


def test_an_image_of_the_history_is_found_by_digest_or_prefix(fakes: Fakes, app: UseCases) -> None:
    # Given a stream with one image
    digests = push_tags(fakes.registry, ["v1"])
    stream = _import(app, "web", "v1")
    digest = digests["v1"]
    short = digest.removeprefix("sha256:")[:12]

    # When it is read by digest and by a prefix of its hex
    whole = app.stream_images.get("demo", f"web@{digest}").to_json_dict()
    by_prefix = app.stream_images.get("demo", f"web@{short}").to_json_dict()

    # Then both are the image, named as asked
    assert whole["kind"] == "ImageStreamImage"
    assert whole["metadata"]["name"] == f"web@{digest}"
    assert whole["metadata"]["annotations"] == stream["metadata"]["annotations"]
    assert whole["image"]["metadata"]["name"] == digest
    assert whole["image"]["dockerImageMetadata"]["Id"]
    assert (
        whole["metadata"]["creationTimestamp"] == stream["status"]["tags"][0]["items"][0]["created"]
    )
    assert by_prefix["metadata"]["name"] == f"web@{short}"
    assert by_prefix["image"] == whole["image"]


MISSING: list[tuple[str, Callable[[UseCases], Any], type[Exception], str]] = [
    (
        "tag-of-missing-stream",
        lambda app: app.stream_tags.get("demo", "gone:v1"),
        NotFoundRequestError,
        'imagestreams.image.openshift.io "gone" not found',
    ),
    (
        "missing-tag",
        lambda app: app.stream_tags.get("demo", "web:v9"),
        NotFoundRequestError,
        'imagestreamtags.image.openshift.io "web:v9" not found',
    ),
    (
        "tag-without-image",
        lambda app: app.stream_tags.get("demo", "web:missing"),
        NotFoundRequestError,
        'imagestreamtags.image.openshift.io "web:missing" not found',
    ),
    (
        "delete-missing-tag",
        lambda app: app.stream_tags.delete("demo", "web:v9"),
        NotFoundRequestError,
        'imagestreamtags.image.openshift.io "web:v9" not found',
    ),
    (
        "tag-name-without-colon",
        lambda app: app.stream_tags.get("demo", "web"),
        BadRequestError,
        "ImageStreamTags must be retrieved with <name>:<tag>",
    ),
    (
        "tag-name-of-an-image",
        lambda app: app.stream_tags.delete("demo", "web@sha256:abc"),
        BadRequestError,
        "ImageStreamTags must be retrieved with <name>:<tag>",
    ),
    (
        "image-not-in-history",
        lambda app: app.stream_images.get("demo", "web@sha256:" + "0" * 64),
        NotFoundRequestError,
        f'imagestreamimage.image.openshift.io "web@sha256:{"0" * 64}" not found',
    ),
    (
        "image-name-without-at",
        lambda app: app.stream_images.get("demo", "web"),
        BadRequestError,
        "ImageStreamImages must be retrieved with <name>@<id>",
    ),
]


@pytest.mark.parametrize(
    ("read", "error", "message"), [case[1:] for case in MISSING], ids=[c[0] for c in MISSING]
)
def test_what_is_not_there_is_worded_as_openshift_words_it(
    fakes: Fakes,
    app: UseCases,
    read: Callable[[UseCases], Any],
    error: type[Exception],
    message: str,
) -> None:
    # Given a stream with one tag imported and one that failed
    push_tags(fakes.registry, ["v1"])
    _import(app, "web", "v1", "missing")

    # When something that is not there is read
    with pytest.raises(error) as raised:
        read(app)

    # Then the error says what OpenShift says
    assert str(raised.value) == message

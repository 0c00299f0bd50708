"""Creating, updating and patching ImageStreams, against fakes.

OpenShift's stream strategy: status is the server's, generations move with
the spec, and only new or changed ``DockerImage`` spec tags are imported.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from imagestreams import errors
from imagestreams.api import patching
from imagestreams.errors import ConflictError, ValidationError
from imagestreams.models import ImageStream
from tests.unit.usecases.wiring import REMAINING, REPOSITORY, Fakes, UseCases, push_tags


def stream(*tags: tuple[str, str], name: str = "web", **fields: Any) -> ImageStream:
    """An ImageStream with spec tags ``(tag, from name)`` of kind DockerImage."""
    body: dict[str, Any] = {
        "metadata": {"name": name, **fields.pop("metadata", {})},
        "spec": {
            "tags": [{"name": t, "from": {"kind": "DockerImage", "name": f}} for t, f in tags],
            **fields.pop("spec", {}),
        },
        **fields,
    }
    return ImageStream.model_validate(body)


def status_tags(result: ImageStream) -> dict[str, Any]:
    return {t.tag: t for t in result.status.tags or []}


def test_create_imports_docker_image_tags_and_ignores_the_status(
    app: UseCases, fakes: Fakes
) -> None:
    # Given two pushed tags, and a stream naming them with a status of its own
    digests = push_tags(fakes.registry, ["1.0", "2.0"])
    given = stream(
        ("one", f"{REPOSITORY}:1.0"),
        ("two", f"{REPOSITORY}:2.0"),
        status={"dockerImageRepository": "made.up/x", "tags": [{"tag": "x", "items": []}]},
    )

    # When it is created
    created = app.write_streams.create("demo", given, REMAINING)

    # Then both tags were imported at generation 1, and the client's status is gone
    assert created.metadata.generation == 1
    # Each tag written moves the stream's version on; the answer is the stream as stored.
    assert int(created.metadata.resource_version) > 1
    assert [(t.name, t.generation) for t in created.spec.tags or []] == [("one", 1), ("two", 1)]
    tags = status_tags(created)
    assert set(tags) == {"one", "two"}
    assert tags["one"].items[0].image == digests["1.0"]
    assert tags["two"].items[0].generation == 1
    assert created.status.docker_image_repository == ""
    assert app.queries.get_stream("demo", "web").to_json_dict() == created.to_json_dict()


def test_create_of_an_existing_stream_is_already_exists(app: UseCases) -> None:
    app.write_streams.create("demo", stream(), REMAINING)

    with pytest.raises(errors.AlreadyExistsError) as raised:
        app.write_streams.create("demo", stream(), REMAINING)

    assert str(raised.value) == 'imagestreams.image.openshift.io "web" already exists'


def test_update_imports_only_new_or_changed_tags(app: UseCases, fakes: Fakes) -> None:
    # Given a stream with tag one imported
    push_tags(fakes.registry, ["1.0", "2.0", "3.0"])
    created = app.write_streams.create("demo", stream(("one", f"{REPOSITORY}:1.0")), REMAINING)
    before = fakes.registry.counts()

    # When tag two is added and the stream updated
    update = stream(
        ("one", f"{REPOSITORY}:1.0"),
        ("two", f"{REPOSITORY}:2.0"),
        metadata={"resourceVersion": created.metadata.resource_version},
    )
    updated = app.write_streams.update("demo", "web", update, REMAINING)

    # Then only two was imported, at the stream's new generation; one kept its own
    assert updated.metadata.generation == 2
    assert [(t.name, t.generation) for t in updated.spec.tags or []] == [("one", 1), ("two", 2)]
    assert status_tags(updated)["two"].items[0].generation == 2
    assert status_tags(updated)["one"].items[0].generation == 1
    # (one image fetched: two's manifest and config, a new tag needing no HEAD first)
    assert fakes.registry.counts() - before == {"GET manifests": 1, "GET blobs": 1}


def test_a_stale_resource_version_is_a_conflict(app: UseCases) -> None:
    app.write_streams.create("demo", stream(), REMAINING)

    with pytest.raises(ConflictError) as raised:
        app.write_streams.update(
            "demo", "web", stream(metadata={"resourceVersion": "7"}), REMAINING
        )

    assert str(raised.value) == (
        'Operation cannot be fulfilled on imagestreams.image.openshift.io "web": the object '
        "has been modified; please apply your changes to the latest version and try again"
    )


def test_an_update_without_resource_version_is_invalid(app: UseCases) -> None:
    app.write_streams.create("demo", stream(), REMAINING)

    with pytest.raises(ValidationError) as raised:
        app.write_streams.update("demo", "web", stream(), REMAINING)

    assert str(raised.value) == (
        'ImageStream.image.openshift.io "web" is invalid: metadata.resourceVersion: '
        "Invalid value: 0x0: must be specified for an update"
    )


def test_a_dry_run_stores_nothing(app: UseCases, fakes: Fakes) -> None:
    push_tags(fakes.registry, ["1.0"])

    answered = app.write_streams.create(
        "demo", stream(("one", f"{REPOSITORY}:1.0")), REMAINING, dry_run=True
    )

    assert status_tags(answered)["one"].items
    assert fakes.store.get_meta("demo", "web") is None
    assert fakes.store.writes == []


def test_a_merge_patch_adds_a_tag_and_keeps_lookup_policy(app: UseCases, fakes: Fakes) -> None:
    push_tags(fakes.registry, ["1.0", "2.0"])
    app.write_streams.create("demo", stream(("one", f"{REPOSITORY}:1.0")), REMAINING)
    patch = (
        b'{"spec": {"lookupPolicy": {"local": true}, "tags": [{"name": "one", "from": '
        b'{"kind": "DockerImage", "name": "' + REPOSITORY.encode() + b':2.0"}}]}}'
    )

    def patched(document: dict[str, Any]) -> ImageStream:
        return ImageStream.model_validate(patching.apply(document, patch, patching.MERGE_PATCH))

    result = app.write_streams.patch("demo", "web", patched, REMAINING)

    # The tag's from changed, so it was imported again: two history items now
    assert result.spec.lookup_policy.local is True
    assert len(status_tags(result)["one"].items) == 2
    assert result.metadata.generation == 2


def test_an_unsupported_from_kind_is_upstreams_422(app: UseCases) -> None:
    given = ImageStream.model_validate(
        {
            "metadata": {"name": "web"},
            "spec": {"tags": [{"name": "bad tag", "from": {"kind": "Pod", "name": "x"}}]},
        }
    )

    with pytest.raises(ValidationError) as raised:
        app.write_streams.create("demo", given, REMAINING)

    assert [(c.field, c.reason) for c in raised.value.causes] == [
        ("spec.tags[bad tag].name", "FieldValueInvalid"),
        ("spec.tags[bad tag].from.kind", "FieldValueRequired"),
    ]
    assert str(raised.value.causes[1]) == (
        "spec.tags[bad tag].from.kind: Required value: valid values are 'DockerImage', "
        "'ImageStreamImage', 'ImageStreamTag'"
    )


def test_a_reference_tag_is_recorded_not_imported(app: UseCases, fakes: Fakes) -> None:
    given = ImageStream.model_validate(
        {
            "metadata": {"name": "web"},
            "spec": {
                "tags": [
                    {
                        "name": "ext",
                        "reference": True,
                        "from": {"kind": "DockerImage", "name": "quay.io/x/y:1"},
                    }
                ]
            },
        }
    )

    created = app.write_streams.create("demo", given, REMAINING)

    assert status_tags(created)["ext"].items[0].docker_image_reference == "quay.io/x/y:1"
    assert fakes.registry.counts() == {}


def test_a_generated_name_that_is_taken_is_made_again(app: UseCases) -> None:
    # Given stream "webbbbbb", and a generator whose first name is that one
    app.write_streams.create("demo", stream(name="webbbbbb"), REMAINING)
    suffixes = iter(["bbbbb", "ccccc"])
    writes = replace(app.write_streams, name_suffix=lambda: next(suffixes))

    # When a stream is created from generateName "web"
    created = writes.create("demo", stream(name="", metadata={"generateName": "web"}), REMAINING)

    # Then it has the next name (the generic registry's createWithGenerateNameRetry)
    assert created.metadata.name == "webccccc"


def test_generated_names_all_taken_is_the_generate_name_conflict(app: UseCases) -> None:
    # Given every name the generator makes is taken
    app.write_streams.create("demo", stream(name="webbbbbb"), REMAINING)
    writes = replace(app.write_streams, name_suffix=lambda: "bbbbb")

    # When a stream is created from generateName "web"
    with pytest.raises(errors.AlreadyExistsError) as raised:
        writes.create("demo", stream(name="", metadata={"generateName": "web"}), REMAINING)

    # Then it is apimachinery's NewGenerateNameConflict, after eight names
    assert str(raised.value) == (
        'imagestreams.image.openshift.io "webbbbbb" already exists, the server was not able '
        "to generate a unique name for the object"
    )
    assert raised.value.details is not None
    assert raised.value.details.retry_after_seconds == 1

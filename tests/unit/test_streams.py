"""Tagging import results into a stream (imagestreams.streams).

The expected states follow OpenShift's ImageStreamImport storage
(``importSuccessful``, ``checkImportFailure``, ``ensureSpecTag``,
``AddTagEventToImageStream``) and the generations its stream strategy
stores. Each case starts from a tag state, applies one import result and
compares the OpenShift JSON of the result (how a state is stored, and read
back, is the store's: ``test_stream_items``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from imagestreams import streams
from imagestreams.models import (
    Image,
    ImageImportStatus,
    ImageManifest,
    NamedTagEventList,
    ObjectMeta,
    Status,
    TagEvent,
    TagEventCondition,
    TagImportPolicy,
    TagReference,
    TagReferencePolicy,
)
from imagestreams.streams import StreamMeta, TagState

TAG = "v1"
REPO = "quay.io/team/app"
FROM = f"{REPO}:{TAG}"
T1 = datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC)
T2 = datetime(2026, 1, 2, 10, 0, 0, tzinfo=UTC)
T3 = datetime(2026, 1, 3, 10, 0, 0, tzinfo=UTC)
TIME = {T1: "2026-01-01T10:00:00Z", T2: "2026-01-02T10:00:00Z", T3: "2026-01-03T10:00:00Z"}
LEGACY = TagImportPolicy(import_mode="Legacy")
SCHEDULED = TagImportPolicy(scheduled=True, import_mode="Legacy")
SOURCE = TagReferencePolicy(type="Source")
LOCAL = TagReferencePolicy(type="Local")
NOT_FOUND = Status.failure(
    404, "NotFound", f'dockerimage.image.openshift.io "{FROM}" not found', type_meta=False
)
UNAUTHORIZED = Status.failure(
    401, "Unauthorized", f'you may not have access to the container image "{FROM}"', type_meta=False
)


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


def image(n: int, repository: str = REPO) -> Image:
    """Image ``n`` as the importer returns it: named by its digest, and pinned to it."""
    return Image(metadata=ObjectMeta(name=digest(n)), docker_image_reference=pinned(n, repository))


def pinned(n: int, repository: str = REPO) -> str:
    return f"{repository}@{digest(n)}"


def success(
    n: int,
    generation: int,
    now: datetime,
    *,
    img: Image | None = None,
    import_policy: TagImportPolicy | None = LEGACY,
    reference_policy: TagReferencePolicy | None = SOURCE,
    max_history: int = streams.DEFAULT_MAX_HISTORY,
) -> Callable[[TagState | None], TagState]:
    """When: image ``n`` was imported for the tag."""

    def step(state: TagState | None) -> TagState:
        return streams.apply_success(
            state,
            tag=TAG,
            image=img or image(n),
            from_name=FROM,
            generation=generation,
            now=now,
            import_policy=import_policy,
            reference_policy=reference_policy,
            max_history=max_history,
        )

    return step


def failure(
    status: Status,
    generation: int,
    now: datetime,
    *,
    from_name: str | None = FROM,
    import_policy: TagImportPolicy | None = LEGACY,
) -> Callable[[TagState | None], TagState]:
    """When: the tag's import failed with ``status``."""

    def step(state: TagState | None) -> TagState:
        return streams.apply_failure(
            state,
            tag=TAG,
            status=status,
            from_name=from_name,
            generation=generation,
            now=now,
            import_policy=import_policy,
            reference_policy=SOURCE,
        )

    return step


def then(*steps: Callable[[TagState | None], TagState]) -> TagState | None:
    """Given: the state these imports leave behind (None: the tag was never imported)."""
    state: TagState | None = None
    for step in steps:
        state = step(state)
    return state


def spec_json(
    generation: int,
    *,
    import_policy: dict[str, Any] | None = None,
    reference_policy: str = "Source",
    from_name: str = FROM,
) -> dict[str, Any]:
    return {
        "name": TAG,
        "annotations": None,
        "from": {"kind": "DockerImage", "name": from_name},
        "generation": generation,
        "importPolicy": import_policy if import_policy is not None else {"importMode": "Legacy"},
        "referencePolicy": {"type": reference_policy},
    }


def event_json(n: int, generation: int, created: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "created": TIME[created],
        "dockerImageReference": pinned(n),
        "image": digest(n),
        "generation": generation,
        **extra,
    }


def condition_json(status: Status, generation: int, at: datetime) -> dict[str, Any]:
    return {
        "type": "ImportSuccess",
        "status": "False",
        "lastTransitionTime": TIME[at],
        "reason": status.reason,
        "message": status.message,
        "generation": generation,
    }


def item(
    spec: dict[str, Any] | None,
    items: list[dict[str, Any]] | None,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    result: dict[str, Any] = {"name": TAG}
    if spec is not None:
        result["spec"] = spec
    if items is not None:
        # NamedTagEventList.items has no omitempty: Go writes an empty history as null.
        result["status"] = {"tag": TAG, "items": items or None}
        if conditions:
            result["status"]["conditions"] = conditions
    return result


def shown(state: TagState) -> dict[str, Any]:
    """Then: what a reader sees of ``state``, shaped like :func:`item`."""
    result: dict[str, Any] = {"name": state.name}
    if state.spec is not None:
        result["spec"] = state.spec.to_json_dict()
    if state.status is not None:
        result["status"] = state.status.to_json_dict()
    return result


def with_spec(state: TagState | None, **changes: Any) -> TagState:
    """Given: ``state`` with its spec tag edited (as a user or an older import left it)."""
    assert state is not None
    assert state.spec is not None
    spec = state.spec.model_copy(update=changes)
    return TagState(name=state.name, spec=spec, status=state.status)


def with_custom_condition(state: TagState | None) -> TagState:
    """Given: ``state`` with a condition of another type than ImportSuccess."""
    assert state is not None
    assert state.status is not None
    status = state.status.model_copy(deep=True)
    status.conditions = [*(status.conditions or []), CUSTOM]
    return TagState(name=state.name, spec=state.spec, status=status)


def with_history(n: int) -> TagState:
    """Given: a tag whose history holds images n..1 (newest first), imported at T1."""
    return TagState(
        name=TAG,
        spec=TagReference.model_validate(spec_json(n)),
        status=NamedTagEventList(
            tag=TAG,
            items=[
                TagEvent(
                    created=T1, docker_image_reference=pinned(i), image=digest(i), generation=i
                )
                for i in range(n, 0, -1)
            ],
        ),
    )


CUSTOM = TagEventCondition(type="Mirrored", status="True", reason="Done", generation=1)
CUSTOM_JSON = {
    "type": "Mirrored",
    "status": "True",
    "lastTransitionTime": None,
    "reason": "Done",
    "generation": 1,
}

FIRST = then(success(1, 1, T1))
FAILED = then(success(1, 1, T1), failure(NOT_FOUND, 2, T2))
MANIFEST_LIST = Image(
    metadata=ObjectMeta(name=digest(9)),
    docker_image_reference=pinned(9),
    docker_image_manifests=[
        ImageManifest(digest=digest(10), os="linux", architecture="amd64"),
        ImageManifest(digest=digest(11), os="linux", architecture="arm64", variant="v8"),
    ],
)


@dataclass
class Case:
    id: str
    given: TagState | None
    when: Callable[[TagState | None], TagState]
    expected: dict[str, Any]
    changed: bool = True


CASES = [
    Case(
        "first-import-creates-spec-and-status",
        given=None,
        when=success(1, 1, T1),
        expected=item(spec_json(1), [event_json(1, 1, T1)]),
    ),
    Case(
        "reimport-of-same-image-changes-nothing",
        given=FIRST,
        when=success(1, 2, T2),
        expected=item(spec_json(1), [event_json(1, 1, T1)]),
        changed=False,
    ),
    Case(
        "new-image-is-prepended-with-new-generation",
        given=FIRST,
        when=success(2, 2, T2),
        expected=item(spec_json(2), [event_json(2, 2, T2), event_json(1, 1, T1)]),
    ),
    Case(
        "same-digest-from-another-repository-rewrites-current-entry",
        given=FIRST,
        when=success(1, 2, T2, img=image(1, repository="mirror.example.com/team/app")),
        expected=item(
            spec_json(2),
            [
                event_json(1, 2, T1)
                | {"dockerImageReference": pinned(1, "mirror.example.com/team/app")}
            ],
        ),
    ),
    Case(
        "failure-keeps-history-and-adds-condition",
        given=FIRST,
        when=failure(NOT_FOUND, 2, T2),
        expected=item(spec_json(2), [event_json(1, 1, T1)], [condition_json(NOT_FOUND, 2, T2)]),
    ),
    Case(
        "same-failure-again-keeps-first-time-and-generation",
        given=FAILED,
        when=failure(NOT_FOUND, 3, T3),
        expected=item(spec_json(2), [event_json(1, 1, T1)], [condition_json(NOT_FOUND, 2, T2)]),
        changed=False,
    ),
    Case(
        "different-failure-replaces-condition",
        given=FAILED,
        when=failure(UNAUTHORIZED, 3, T3),
        expected=item(spec_json(3), [event_json(1, 1, T1)], [condition_json(UNAUTHORIZED, 3, T3)]),
    ),
    Case(
        "same-reason-with-other-message-is-a-new-error",
        given=FAILED,
        when=failure(NOT_FOUND.model_copy(update={"message": "gone"}), 3, T3),
        expected=item(
            spec_json(3),
            [event_json(1, 1, T1)],
            [condition_json(NOT_FOUND, 3, T3) | {"message": "gone"}],
        ),
    ),
    Case(
        "failure-without-message-gets-openshift-text",
        given=FIRST,
        when=failure(Status.failure(500, "InternalError", "", type_meta=False), 2, T2),
        expected=item(
            spec_json(2),
            [event_json(1, 1, T1)],
            [
                {
                    "type": "ImportSuccess",
                    "status": "False",
                    "lastTransitionTime": TIME[T2],
                    "reason": "InternalError",
                    "message": "unknown error prevented import",
                    "generation": 2,
                }
            ],
        ),
    ),
    Case(
        "success-after-failure-clears-condition-and-catches-up-generation",
        given=FAILED,
        when=success(1, 3, T3),
        expected=item(spec_json(3), [event_json(1, 3, T1)]),
    ),
    Case(
        "success-after-failure-with-new-image-prepends-and-clears",
        given=FAILED,
        when=success(2, 3, T3),
        expected=item(spec_json(3), [event_json(2, 3, T3), event_json(1, 1, T1)]),
    ),
    Case(
        "failure-of-new-tag-creates-spec-tag-and-condition",
        given=None,
        when=failure(NOT_FOUND, 1, T1),
        expected=item(spec_json(1), [], [condition_json(NOT_FOUND, 1, T1)]),
    ),
    Case(
        "repository-failure-of-new-tag-creates-no-spec-tag",
        given=None,
        when=failure(NOT_FOUND, 1, T1, from_name=None),
        expected=item(None, [], [condition_json(NOT_FOUND, 1, T1)]),
    ),
    Case(
        "failure-leaves-existing-spec-policies-alone",
        given=FIRST,
        when=failure(NOT_FOUND, 2, T2, import_policy=SCHEDULED),
        expected=item(spec_json(2), [event_json(1, 1, T1)], [condition_json(NOT_FOUND, 2, T2)]),
    ),
    Case(
        "existing-reference-policy-is-kept",
        given=with_spec(FIRST, reference_policy=LOCAL),
        when=success(2, 2, T2, reference_policy=SOURCE),
        expected=item(
            spec_json(2, reference_policy="Local"), [event_json(2, 2, T2), event_json(1, 1, T1)]
        ),
    ),
    Case(
        "empty-reference-policy-takes-the-imports",
        given=with_spec(FIRST, reference_policy=TagReferencePolicy()),
        when=success(2, 2, T2, reference_policy=LOCAL),
        expected=item(
            spec_json(2, reference_policy="Local"), [event_json(2, 2, T2), event_json(1, 1, T1)]
        ),
    ),
    Case(
        "missing-policies-default-to-source-and-empty",
        given=None,
        when=success(1, 1, T1, import_policy=None, reference_policy=None),
        expected=item(spec_json(1, import_policy={}), [event_json(1, 1, T1)]),
    ),
    Case(
        "import-policy-updated-even-when-image-unchanged",
        given=FIRST,
        when=success(1, 2, T2, import_policy=SCHEDULED),
        expected=item(
            spec_json(1, import_policy={"scheduled": True, "importMode": "Legacy"}),
            [event_json(1, 1, T1)],
        ),
    ),
    Case(
        "spec-tag-newer-than-status-is-caught-up-in-place",
        given=with_spec(FIRST, generation=4),
        when=success(1, 5, T2),
        expected=item(spec_json(5), [event_json(1, 5, T1)]),
    ),
    Case(
        "spec-from-is-reset-but-annotations-survive",
        given=with_spec(
            FIRST, annotations={"openshift.io/imported-from": REPO}, from_=None, generation=1
        ),
        when=success(2, 2, T2),
        expected=item(
            spec_json(2) | {"annotations": {"openshift.io/imported-from": REPO}},
            [event_json(2, 2, T2), event_json(1, 1, T1)],
        ),
    ),
    Case(
        "other-condition-types-survive-a-failure",
        given=with_custom_condition(FIRST),
        when=failure(NOT_FOUND, 2, T2),
        expected=item(
            spec_json(2), [event_json(1, 1, T1)], [condition_json(NOT_FOUND, 2, T2), CUSTOM_JSON]
        ),
    ),
    Case(
        "other-condition-types-survive-a-success",
        given=with_custom_condition(FAILED),
        when=success(1, 3, T3),
        expected=item(spec_json(3), [event_json(1, 3, T1)], [CUSTOM_JSON]),
    ),
    Case(
        "manifest-list-records-its-platforms",
        given=None,
        when=success(9, 1, T1, img=MANIFEST_LIST),
        expected=item(
            spec_json(1), [event_json(9, 1, T1, platforms=["linux/amd64", "linux/arm64"])]
        ),
    ),
    Case(
        "history-is-capped-dropping-the-oldest",
        given=with_history(3),
        when=success(4, 4, T2, max_history=3),
        expected=item(
            spec_json(4),
            [event_json(4, 4, T2), event_json(3, 3, T1), event_json(2, 2, T1)],
        ),
    ),
    Case(
        "history-within-the-cap-is-kept",
        given=with_history(3),
        when=success(4, 4, T2, max_history=4),
        expected=item(
            spec_json(4),
            [
                event_json(4, 4, T2),
                event_json(3, 3, T1),
                event_json(2, 2, T1),
                event_json(1, 1, T1),
            ],
        ),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_tagging(case: Case) -> None:
    # Given the tag's stored state
    before = copy.deepcopy(case.given)

    # When the import result is applied
    after = case.when(case.given)

    # Then it is what OpenShift would hold, and the input is untouched
    assert shown(after) == case.expected
    assert streams.changed(case.given, after) is case.changed
    assert case.given == before


def test_first_success_sets_time_at_second_precision() -> None:
    # Given a clock with microseconds
    now = datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)

    # When a tag is first imported
    state = success(1, 1, now)(None)

    # Then the time kept is what the API writes, so a round trip is exact
    assert state.status is not None
    assert state.status.items[0].created == T1


def test_changed_for_a_new_tag() -> None:
    assert streams.changed(None, TagState(name=TAG))


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(success(2, 2, T2, max_history=0), id="history-cap-below-one"),
        pytest.param(
            lambda state: streams.apply_success(
                TagState(name="other"),
                tag=TAG,
                image=image(1),
                from_name=FROM,
                generation=1,
                now=T1,
                import_policy=None,
                reference_policy=None,
            ),
            id="success-state-of-another-tag",
        ),
        pytest.param(
            lambda state: streams.apply_failure(
                TagState(name="other"),
                tag=TAG,
                status=NOT_FOUND,
                from_name=FROM,
                generation=1,
                now=T1,
                import_policy=None,
                reference_policy=None,
            ),
            id="failure-state-of-another-tag",
        ),
    ],
)
def test_misuse_is_refused(call: Callable[[TagState | None], TagState]) -> None:
    with pytest.raises(ValueError):
        call(FIRST)


# (id, result, tagged as a success)
SUCCEEDED_CASES = [
    (
        "success-with-image",
        ImageImportStatus(status=Status.success(type_meta=False), image=image(1)),
        True,
    ),
    ("success-without-image", ImageImportStatus(status=Status.success(type_meta=False)), False),
    ("failure-with-image", ImageImportStatus(status=NOT_FOUND, image=image(1)), False),
    ("failure", ImageImportStatus(status=NOT_FOUND), False),
]


@pytest.mark.parametrize(
    ("result", "expected"),
    [c[1:] for c in SUCCEEDED_CASES],
    ids=[c[0] for c in SUCCEEDED_CASES],
)
def test_import_succeeded(result: ImageImportStatus, expected: bool) -> None:
    assert streams.import_succeeded(result) is expected


# --- the stream -------------------------------------------------------------------

META = StreamMeta(
    namespace="team",
    name="app",
    uid="0b9c2a4e-3f7d-4a51-9d0e-6a1f2b3c4d5e",
    resource_version="7",
    generation=3,
    creation_timestamp=T1,
    annotations={"openshift.io/image.dockerRepositoryCheck": TIME[T2]},
    labels={"app": "demo"},
)


def state_for(tag: str, *, spec: bool = True, status: bool = True) -> TagState:
    return TagState(
        name=tag,
        spec=TagReference(name=tag, generation=1) if spec else None,
        status=(
            NamedTagEventList(
                tag=tag,
                items=[TagEvent(created=T1, docker_image_reference=pinned(1), image=digest(1))],
            )
            if status
            else None
        ),
    )


def test_assemble_sorts_tags_like_openshift() -> None:
    # Given tag states in storage order, one without status, one without spec, one empty
    states = [
        state_for("latest"),
        state_for("1.0", status=False),
        state_for("2.0", spec=False),
        TagState(name="3.0", status=NamedTagEventList(tag="3.0")),
        state_for("10.0"),
    ]

    # When the stream is assembled
    stream = streams.assemble(META, states).to_json_dict()

    # Then spec and status list their tags sorted by name, empty status tags dropped
    assert [t["name"] for t in stream["spec"]["tags"]] == ["1.0", "10.0", "latest"]
    assert [t["tag"] for t in stream["status"]["tags"]] == ["10.0", "2.0", "latest"]


def test_assemble_writes_the_stream() -> None:
    # Given a stream with one imported tag
    state = FIRST
    assert state is not None

    # When it is assembled
    stream = streams.assemble(META, [state]).to_json_dict()

    # Then it is the ImageStream OpenShift returns, with no registry invented
    assert stream == {
        "kind": "ImageStream",
        "apiVersion": "image.openshift.io/v1",
        "metadata": {
            "name": "app",
            "namespace": "team",
            "uid": META.uid,
            "resourceVersion": "7",
            "generation": 3,
            "creationTimestamp": TIME[T1],
            "labels": {"app": "demo"},
            "annotations": {"openshift.io/image.dockerRepositoryCheck": TIME[T2]},
        },
        "spec": {"lookupPolicy": {"local": False}, "tags": [spec_json(1)]},
        "status": {
            "dockerImageRepository": "",
            "tags": [{"tag": TAG, "items": [event_json(1, 1, T1)]}],
        },
    }


def test_assemble_fills_repositories_only_when_given() -> None:
    # Given a deployment that knows where the stream can be pulled from
    meta = StreamMeta(
        namespace="team",
        name="app",
        uid="u",
        resource_version="1",
        generation=1,
        creation_timestamp=T1,
        annotations={},
        labels={},
        lookup_policy_local=True,
        docker_image_repository="registry.internal:5000/team/app",
        public_docker_image_repository="registry.example.com/team/app",
    )

    # When a stream without tags is assembled
    stream = streams.assemble(meta, []).to_json_dict()

    # Then those locations are the status's, and empty tag lists are omitted
    assert stream["spec"] == {"lookupPolicy": {"local": True}}
    assert stream["status"] == {
        "dockerImageRepository": "registry.internal:5000/team/app",
        "publicDockerImageRepository": "registry.example.com/team/app",
    }
    assert "annotations" not in stream["metadata"]
    assert "labels" not in stream["metadata"]


def test_assembled_stream_takes_the_states_uncopied() -> None:
    # Given a tag's state, as freshly read from the store
    state = copy.deepcopy(FIRST)
    assert state is not None

    # When a stream is assembled from it
    stream = streams.assemble(META, [state])

    # Then the stream holds its spec and status tags themselves: nothing is copied
    assert stream.spec.tags is not None
    assert stream.status.tags is not None
    assert stream.spec.tags[0] is state.spec
    assert stream.status.tags[0] is state.status

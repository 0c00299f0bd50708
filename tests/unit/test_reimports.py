"""Which tags a schedule or a push concerns, and how re-imports are paced (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from imagestreams import reference
from imagestreams.models import (
    NamedTagEventList,
    ObjectReference,
    TagEvent,
    TagImportPolicy,
    TagReference,
)
from imagestreams.reimports import (
    MAX_DELAY_SECONDS,
    Found,
    Pushed,
    distribution_pushes,
    ecr_pushes,
    index_keys,
    plan,
    tracking_key,
)
from imagestreams.streams import TagState
from testkit.events import load_event

CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def state(
    name: str, scheduled: bool = False, items: int = 0, kind: str = "DockerImage"
) -> TagState:
    return TagState(
        name="v1",
        spec=TagReference(
            name="v1",
            from_=ObjectReference(kind=kind, name=name),
            import_policy=TagImportPolicy(scheduled=scheduled),
        ),
        status=NamedTagEventList(
            tag="v1",
            items=[TagEvent(created=CREATED, image=f"sha256:{n}") for n in range(items)],
        ),
    )


DIGEST = "sha256:" + "a" * 64

INDEX_CASES = [
    (
        "tracked",
        state("quay.io/team/app:v1"),
        {"tracks": "quay.io/team/app:v1", "registry": "quay.io"},
        False,
    ),
    (
        "docker-hub-normalized",
        state("busybox"),
        {"tracks": "docker.io/library/busybox:latest", "registry": "docker.io"},
        False,
    ),
    (
        "scheduled",
        state("quay.io/a:v1", scheduled=True),
        {"tracks": "quay.io/a:v1", "registry": "quay.io"},
        True,
    ),
    (
        "by-digest-until-success",
        state(f"quay.io/a@{DIGEST}", scheduled=True),
        {"registry": "quay.io"},
        True,
    ),
    ("by-digest-after-success", state(f"quay.io/a@{DIGEST}", scheduled=True, items=1), {}, False),
    ("not-a-docker-image", state("other:tag", kind="ImageStreamTag"), {}, False),
    ("unparseable", state("Not A Ref"), {}, False),
]


@pytest.mark.parametrize(
    ("item", "expected", "scheduled"), [c[1:] for c in INDEX_CASES], ids=[c[0] for c in INDEX_CASES]
)
def test_index_keys(item: TagState, expected: dict[str, str], scheduled: bool) -> None:
    keys = index_keys("demo", "app", item)
    shard = keys.pop("scheduled", None)
    assert keys == expected
    assert (shard is not None) is scheduled


def test_scheduled_shard_is_stable_per_stream() -> None:
    first = index_keys("demo", "app", state("quay.io/a:v1", scheduled=True))["scheduled"]
    again = index_keys("demo", "app", state("quay.io/a:v2", scheduled=True))["scheduled"]
    assert first == again
    assert first.startswith("s")


def test_digest_reference_leaves_the_schedule_after_success() -> None:
    assert "scheduled" in index_keys("demo", "app", state(f"quay.io/a@{DIGEST}", scheduled=True))
    assert "scheduled" not in index_keys(
        "demo", "app", state(f"quay.io/a@{DIGEST}", scheduled=True, items=1)
    )


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("quay.io/team/app:v1", "quay.io/team/app:v1"),
        ("docker.io/library/busybox", "docker.io/library/busybox:latest"),
        ("index.docker.io/library/busybox:1", "docker.io/library/busybox:1"),
        ("127.0.0.1:5000/a/b:c", "127.0.0.1:5000/a/b:c"),
        (f"quay.io/a@{DIGEST}", None),
    ],
)
def test_tracking_key(name: str, key: str | None) -> None:
    assert tracking_key(reference.parse(name)) == key


def test_a_stored_name_that_does_not_parse_has_no_index_keys() -> None:
    assert index_keys("demo", "app", state("BAD", scheduled=True)) == {}


@pytest.mark.parametrize(
    ("registry", "repository", "tag", "key"),
    [
        ("quay.io", "team/app", "v1", "quay.io/team/app:v1"),
        ("index.docker.io", "library/busybox", "1", "docker.io/library/busybox:1"),
        ("quay.io", "Team/App", "v1", None),
        ("quay.io", "team/app", "-bad", None),
    ],
)
def test_pushed_key(registry: str, repository: str, tag: str, key: str | None) -> None:
    assert Pushed(registry, repository, tag).key == key


def test_distribution_envelope_sample() -> None:
    import json

    envelope = json.loads(load_event("webhook-distribution-push.json")["body"])
    assert distribution_pushes(envelope) == [Pushed("registry.example.com", "team/app", "v1")]


@pytest.mark.parametrize(
    "event",
    [
        {"action": "pull", "target": {"repository": "a", "tag": "v1"}, "request": {"host": "r"}},
        {
            "action": "push",
            "target": {"repository": "a", "digest": DIGEST},
            "request": {"host": "r"},
        },
        {"action": "push", "target": {"repository": "a", "tag": "v1"}, "request": {}},
        "not-an-object",
    ],
    ids=["pull", "blob-or-untagged", "no-host", "garbage"],
)
def test_distribution_events_that_are_not_tag_pushes(event: Any) -> None:
    assert distribution_pushes({"events": [event]}) == []


def test_ecr_sample_and_failures() -> None:
    event = load_event("ecr-image-push.json")
    assert ecr_pushes(event) == [
        Pushed("123456789012.dkr.ecr.us-east-1.amazonaws.com", "team/app", "v1")
    ]
    assert ecr_pushes({**event, "detail": {**event["detail"], "result": "FAILURE"}}) == []
    assert ecr_pushes({**event, "detail": {**event["detail"], "action-type": "DELETE"}}) == []
    assert ecr_pushes({**event, "source": "aws.s3"}) == []


def test_plan_groups_by_stream_and_paces_per_registry() -> None:
    found = [Found("a", "s1", f"t{i}", "quay.io") for i in range(30)]
    found += [Found("b", "s2", "t0", "quay.io"), Found("c", "s3", "t0", "ghcr.io")]

    planned = plan(found, "schedule", per_second=2)

    assert [(p.message.namespace, len(p.message.tags), p.delay) for p in planned] == [
        ("c", 1, 0),
        ("a", 25, 0),
        ("a", 5, 0),
        ("b", 1, 1),
    ]
    assert {p.message.reason for p in planned} == {"schedule"}


def test_plan_never_delays_past_what_sqs_allows() -> None:
    found = [Found("a", f"s{i}", "t", "quay.io") for i in range(2000)]
    assert max(p.delay for p in plan(found, "schedule", per_second=1)) == MAX_DELAY_SECONDS

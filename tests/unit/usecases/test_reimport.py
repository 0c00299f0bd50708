"""QueueReimports and Reimport: what is queued for re-import, and what a re-import writes."""

from __future__ import annotations

from collections import Counter

import pytest

from imagestreams.errors import ChunkRetryError
from imagestreams.reimports import Planned, Pushed, ReimportMessage
from imagestreams.usecases.common import Options
from tests.unit.usecases.wiring import (
    REGISTRY,
    REMAINING,
    REPOSITORY,
    Fakes,
    UseCases,
    images_of,
    push_tags,
    request,
)

LAST_DELIVERY = Options().chunk_max_receives


def track(app: UseCases, namespace: str, stream: str, tag: str, *, scheduled: bool = False) -> None:
    """Import ``REPOSITORY:tag`` into ``stream``, following it (on a schedule if asked)."""
    specs = images_of(f"{REPOSITORY}:{tag}", importPolicy={"scheduled": scheduled})
    app.start.create(namespace, request(*specs, name=stream), REMAINING)


def reimport(app: UseCases, stream: str, tag: str, receive_count: int = 1) -> None:
    message = ReimportMessage(namespace="demo", name=stream, tags=[tag])
    app.reimport.process(message, receive_count, REMAINING)


def queued(fakes: Fakes) -> list[tuple[str, str, list[str], str]]:
    return [
        (p.message.namespace, p.message.name, p.message.tags, p.message.reason)
        for p in fakes.queue.reimports
    ]


def test_the_schedule_queues_exactly_the_scheduled_tags(fakes: Fakes, app: UseCases) -> None:
    # Given a scheduled tag, and a tag of another stream that is not scheduled
    push_tags(fakes.registry, ["v1", "v2"])
    track(app, "demo", "sched", "v1", scheduled=True)
    track(app, "demo", "manual", "v2")

    # When the schedule runs
    messages = app.queue_reimports.run_schedule()

    # Then one re-import of the scheduled tag is queued, at once
    assert messages == 1
    assert fakes.queue.reimports == [
        Planned(ReimportMessage(namespace="demo", name="sched", tags=["v1"]), delay=0)
    ]


PUSH_CASES = [
    ("two-streams-track-v1", "v1", [("team-a", "app", ["v1"]), ("team-b", "app", ["v1"])]),
    ("one-stream-tracks-v2", "v2", [("team-a", "other", ["v2"])]),
    ("nobody-tracks-v3", "v3", []),
    ("not-a-tag", "-not-a-tag", []),
]


@pytest.mark.parametrize(
    ("pushed", "expected"), [c[1:] for c in PUSH_CASES], ids=[c[0] for c in PUSH_CASES]
)
def test_a_push_queues_exactly_the_tracking_tags(
    fakes: Fakes, app: UseCases, pushed: str, expected: list[tuple[str, str, list[str]]]
) -> None:
    # Given two namespaces tracking repo:v1 and another stream tracking repo:v2
    push_tags(fakes.registry, ["v1", "v2"])
    for namespace in ("team-a", "team-b"):
        track(app, namespace, "app", "v1")
    track(app, "team-a", "other", "v2")

    # When the registry reports a push
    tags = app.queue_reimports.on_pushes(
        [Pushed(REGISTRY, "team/app", pushed)], "distribution-push"
    )

    # Then exactly the tags that track it are queued
    assert tags == len(expected)
    assert queued(fakes) == [(*e, "distribution-push") for e in expected]


@pytest.mark.parametrize(
    ("repushed", "generation", "history", "requests", "writes"),
    [
        (False, 1, [1], Counter({"HEAD manifests": 1}), 0),
        (True, 2, [2, 1], Counter({"HEAD manifests": 1, "GET manifests": 1, "GET blobs": 1}), 1),
    ],
    ids=["unchanged-writes-nothing", "new-digest-adds-history"],
)
def test_a_reimport(
    fakes: Fakes,
    app: UseCases,
    repushed: bool,
    generation: int,
    history: list[int],
    requests: Counter[str],
    writes: int,
) -> None:
    # Given a tracked tag, re-pushed or not
    digests = push_tags(fakes.registry, ["v1"])
    track(app, "demo", "app", "v1", scheduled=True)
    if repushed:
        digests = push_tags(fakes.registry, ["v1"])
    fakes.registry.requests.clear()
    fakes.store.writes.clear()

    # When it is re-imported
    reimport(app, "app", "v1")

    # Then only a new digest is written, as a new history item at the next generation
    stream = app.queries.get_stream("demo", "app").to_json_dict()
    assert stream["metadata"]["generation"] == generation
    [tag] = stream["status"]["tags"]
    assert [item["generation"] for item in tag["items"]] == history
    assert tag["items"][0]["image"] == digests["v1"]
    assert fakes.registry.counts() == requests
    assert len(fakes.store.writes) == writes


def test_a_failure_already_recorded_is_not_written_again(fakes: Fakes, app: UseCases) -> None:
    # Given a tracked tag whose manifest has since gone
    push_tags(fakes.registry, ["v1"])
    track(app, "demo", "app", "v1")
    fakes.registry.fail(REPOSITORY, "v1", 404)

    # When it is re-imported twice
    reimport(app, "app", "v1")
    after_first = app.queries.get_stream("demo", "app").to_json_dict()
    reimport(app, "app", "v1")

    # Then the condition was written once, at the generation that found it
    stream = app.queries.get_stream("demo", "app").to_json_dict()
    assert stream == after_first
    assert stream["metadata"]["generation"] == 2
    [tag] = stream["status"]["tags"]
    [condition] = tag["conditions"]
    assert (condition["reason"], condition["generation"]) == ("NotFound", 2)
    assert len(tag["items"]) == 1
    assert len(fakes.store.writes) == 2


@pytest.mark.parametrize(
    ("receive_count", "reason"),
    [(1, None), (LAST_DELIVERY, "InternalError")],
    ids=["retried-first", "recorded-on-last-delivery"],
)
def test_an_outage_during_a_reimport(
    fakes: Fakes, app: UseCases, receive_count: int, reason: str | None
) -> None:
    # Given a tracked tag whose registry is down
    push_tags(fakes.registry, ["v1"])
    track(app, "demo", "app", "v1")
    fakes.registry.fail(REPOSITORY, "v1", 503)
    fakes.store.writes.clear()

    # When it is re-imported
    with pytest.raises(ChunkRetryError):
        reimport(app, "app", "v1", receive_count)

    # Then the message is retried, and the failure written only on its last delivery
    [tag] = app.queries.get_stream("demo", "app").to_json_dict()["status"]["tags"]
    assert [c["reason"] for c in tag.get("conditions", [])] == ([reason] if reason else [])
    assert len(fakes.store.writes) == (1 if reason else 0)


@pytest.mark.parametrize(
    ("stream", "tag"),
    [("app", "unknown"), ("missing", "v1")],
    ids=["tag-not-in-stream", "stream-not-stored"],
)
def test_a_reimport_of_nothing_stored_asks_nothing(
    fakes: Fakes, app: UseCases, stream: str, tag: str
) -> None:
    # Given a stream with tag v1
    push_tags(fakes.registry, ["v1"])
    track(app, "demo", "app", "v1")
    fakes.registry.requests.clear()
    fakes.store.writes.clear()

    # When a tag or stream that is not stored is re-imported
    reimport(app, stream, tag)

    # Then the registry is not asked and nothing is written
    assert fakes.registry.requests == []
    assert fakes.store.writes == []

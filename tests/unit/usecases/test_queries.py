"""Queries: reading and deleting what imports stored, against fakes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from imagestreams import listing
from imagestreams.errors import ConflictError, NotFoundRequestError, ObjectDetails
from imagestreams.imports import jobs
from imagestreams.usecases.common import Options
from imagestreams.usecases.watch import Watch
from tests.unit.usecases.wiring import (
    REMAINING,
    REPOSITORY,
    Fakes,
    UseCases,
    deliver,
    images_of,
    push_tags,
    request,
    wire,
)


def test_read_and_delete_streams(fakes: Fakes, app: UseCases) -> None:
    # Given two streams of one namespace
    push_tags(fakes.registry, ["v1"])
    created = {
        name: app.start.create(
            "demo", request(*images_of(f"{REPOSITORY}:v1"), name=name), REMAINING
        )
        for name in ("web", "worker")
    }

    # When they are read, and one is deleted
    listed = [s.metadata.name for s in app.queries.list_streams("demo")[0]]
    one = app.queries.get_stream("demo", "web").to_json_dict()
    latest = app.queries.get_import("demo", "web")
    deleted = app.queries.delete_stream("demo", "web").to_json_dict()

    # Then reads answer what the imports answered, and the deleted stream is gone
    assert listed == ["web", "worker"]
    assert one == created["web"].document["status"]["import"]
    assert latest == created["web"].document
    assert deleted["status"] == "Success"
    assert deleted["details"]["name"] == "web"
    assert deleted["details"]["uid"] == one["metadata"]["uid"]
    assert [s.metadata.name for s in app.queries.list_streams("demo")[0]] == ["worker"]
    assert fakes.store.get_tags("demo", "web") == {}
    assert app.queries.list_streams("other")[0] == []


NOT_FOUND: list[tuple[str, Callable[[UseCases], Any], str]] = [
    (
        "get-stream",
        lambda app: app.queries.get_stream("demo", "missing"),
        'imagestreams.image.openshift.io "missing" not found',
    ),
    (
        "delete-stream",
        lambda app: app.queries.delete_stream("demo", "missing"),
        'imagestreams.image.openshift.io "missing" not found',
    ),
    (
        "get-import",
        lambda app: app.queries.get_import("demo", "missing"),
        'imagestreamimports.image.openshift.io "missing" not found',
    ),
    (
        "stream-of-a-dry-run",
        lambda app: app.queries.get_stream("demo", "app"),
        'imagestreams.image.openshift.io "app" not found',
    ),
]


@pytest.mark.parametrize(
    ("query", "message"), [c[1:] for c in NOT_FOUND], ids=[c[0] for c in NOT_FOUND]
)
def test_what_is_not_stored_is_not_found(
    fakes: Fakes, app: UseCases, query: Callable[[UseCases], Any], message: str
) -> None:
    # Given only a dry-run import in the namespace
    push_tags(fakes.registry, ["v1"])
    app.start.create("demo", request(*images_of(f"{REPOSITORY}:v1"), imported=False), REMAINING)

    # When something else is read or deleted
    with pytest.raises(NotFoundRequestError) as raised:
        query(app)

    # Then it is Kubernetes' NotFound
    assert raised.value.message == message


def test_the_import_of_a_running_job_shows_its_progress(fakes: Fakes) -> None:
    # Given a repository import running as a job of two chunks, one of them done
    push_tags(fakes.registry, [f"t{n:02d}" for n in range(30)])
    app = wire(fakes, Options(inline_fraction=0.0))
    app.start.create("demo", request(repository=REPOSITORY), REMAINING)
    first, _ = fakes.queue.chunks
    deliver(app, [first])

    # When the import is read
    document = app.queries.get_import("demo", "app")

    # Then it shows the job's progress, which the stored document does not
    shown = document["metadata"]["annotations"]
    assert (shown[jobs.STATE_ANNOTATION], shown[jobs.DONE_ANNOTATION]) == ("Running", "25")
    stored = fakes.records.load("demo", "app")
    assert stored is not None
    assert stored["metadata"]["annotations"][jobs.DONE_ANNOTATION] == "0"


def test_a_dry_run_delete_checks_everything_and_deletes_nothing(
    fakes: Fakes, app: UseCases
) -> None:
    # Given a stream
    push_tags(fakes.registry, ["v1"])
    app.start.create("demo", request(*images_of(f"{REPOSITORY}:v1"), name="web"), REMAINING)
    before = app.queries.get_stream("demo", "web").to_json_dict()

    # When it is deleted with dryRun
    answer = app.queries.delete_stream("demo", "web", dry_run=True).to_json_dict()

    # Then the answer is the real one, and the stream is still there
    assert answer["status"] == "Success"
    assert answer["details"]["uid"] == before["metadata"]["uid"]
    assert app.queries.get_stream("demo", "web").to_json_dict() == before
    with pytest.raises(NotFoundRequestError):
        app.queries.delete_stream("demo", "missing", dry_run=True)


@pytest.mark.parametrize(
    ("uid", "rv", "message"),
    [
        ("other", None, "Precondition failed: UID in precondition: other, UID in object meta: "),
        (None, "99", "Precondition failed: ResourceVersion in precondition: 99, "),
    ],
    ids=["uid", "resource-version"],
)
def test_delete_preconditions_are_conflicts(
    fakes: Fakes, app: UseCases, uid: str | None, rv: str | None, message: str
) -> None:
    push_tags(fakes.registry, ["v1"])
    app.start.create("demo", request(*images_of(f"{REPOSITORY}:v1"), name="web"), REMAINING)

    with pytest.raises(ConflictError) as raised:
        app.queries.delete_stream("demo", "web", expected_uid=uid, expected_rv=rv)

    assert raised.value.message.startswith(
        f'Operation cannot be fulfilled on imagestreams.image.openshift.io "web": {message}'
    )
    assert raised.value.details == ObjectDetails("web", "image.openshift.io", "imagestreams")
    assert app.queries.get_stream("demo", "web").metadata.name == "web"


@pytest.mark.parametrize(
    ("query", "pages"),
    [
        ({}, [["a", "b", "c", "d"]]),
        ({"limit": "3"}, [["a", "b", "c"], ["d"]]),
        ({"limit": "2"}, [["a", "b"], ["c", "d"]]),
        ({"labelSelector": "tier=web"}, [["a", "c"]]),
        ({"labelSelector": "tier!=web"}, [["b", "d"]]),
        ({"labelSelector": "tier in (db,cache)"}, [["b"]]),
        ({"labelSelector": "!tier"}, [["d"]]),
        ({"labelSelector": "tier,tier notin (db)", "limit": "1"}, [["a"], ["c"]]),
        ({"fieldSelector": "metadata.name=c"}, [["c"]]),
        ({"fieldSelector": "metadata.name!=c", "limit": "2"}, [["a", "b"], ["d"]]),
        ({"fieldSelector": "metadata.namespace==other"}, [[]]),
    ],
)
def test_lists_select_and_page_by_name(
    fakes: Fakes, app: UseCases, query: dict[str, str], pages: list[list[str]]
) -> None:
    # Given four streams with labels
    push_tags(fakes.registry, ["v1"])
    labels = {"a": {"tier": "web"}, "b": {"tier": "db"}, "c": {"tier": "web"}, "d": {}}
    for name in ("d", "b", "a", "c"):
        body = request(*images_of(f"{REPOSITORY}:v1"), name=name)
        app.start.create("demo", body, REMAINING)
        fakes.store.set_labels("demo", name, labels[name])

    # When they are listed page by page
    seen, token = [], ""
    while True:
        options = listing.list_options({**query, "continue": token})
        items, page = app.queries.list_streams("demo", options)
        seen.append([s.metadata.name for s in items])
        assert [s.metadata.name for s in items] == page.names
        token = page.continue_token
        if not token:
            break

    # Then each page holds what the selectors select, in name order
    assert seen == pages


def no_wait(app: UseCases) -> None:
    """Watches over the fakes poll once: a clock that is always past the deadline."""
    app.queries.watch = Watch(clock=iter(range(0, 1000, 10)).__next__, sleep=lambda _: None)


def test_a_watch_from_a_list_sends_what_changed_since(fakes: Fakes, app: UseCases) -> None:
    # Given streams web and worker in demo, one in team-a, and the version of demo's list
    push_tags(fakes.registry, ["v1", "v2"])
    for namespace, name in (("demo", "web"), ("demo", "worker"), ("team-a", "web")):
        app.start.create(namespace, request(*images_of(f"{REPOSITORY}:v1"), name=name), REMAINING)
    _, page = app.queries.list_streams("demo")
    no_wait(app)

    # When web gets a new tag, worker is deleted, db is created, and team-a changes too
    app.start.create("demo", request(*images_of(f"{REPOSITORY}:v2"), name="web"), REMAINING)
    app.queries.delete_stream("demo", "worker")
    app.start.create("demo", request(*images_of(f"{REPOSITORY}:v1"), name="db"), REMAINING)
    app.start.create("team-a", request(*images_of(f"{REPOSITORY}:v2"), name="web"), REMAINING)
    options = listing.ListOptions(watch=True, resource_version=page.resource_version)
    events = app.queries.watch_streams("demo", options, 5.0)
    everywhere = app.queries.watch_streams(None, options, 5.0)

    # Then demo's watch sends those changes, in order, each object as it is now
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [
        ("MODIFIED", "web"),
        ("DELETED", "worker"),
        ("ADDED", "db"),
    ]
    assert [t["tag"] for t in events[0].object["status"]["tags"]] == ["v1", "v2"]
    # And a watch of every namespace sees team-a's change too
    assert [e.object["metadata"]["namespace"] for e in everywhere] == [
        "demo",
        "demo",
        "demo",
        "team-a",
    ]


def test_a_watch_with_selectors_sends_only_the_selected_streams(
    fakes: Fakes, app: UseCases
) -> None:
    push_tags(fakes.registry, ["v1"])
    for name in ("web", "worker"):
        app.start.create("demo", request(*images_of(f"{REPOSITORY}:v1"), name=name), REMAINING)
    no_wait(app)

    options = listing.list_options({"watch": "true", "fieldSelector": "metadata.name=worker"})
    events = app.queries.watch_streams("demo", options, 5.0)

    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [("ADDED", "worker")]


def test_a_watch_from_a_forgotten_version_is_expired(fakes: Fakes, app: UseCases) -> None:
    fakes.store.oldest = 10
    no_wait(app)

    options = listing.ListOptions(watch=True, resource_version="3")
    [event] = app.queries.watch_streams("demo", options, 5.0)

    assert (event.type, event.object["reason"]) == ("ERROR", "Expired")

"""Scheduled and event-driven re-imports through the real handlers.

The scheduler function (``functions/scheduler/app.py``) and the api's webhook
route queue re-imports; the worker function drains them from the template's
queue, under moto, as the local server does.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from devserver.consumers import drain
from imagestreams.adapters.streams_store import DynamoStreamStore
from imagestreams.models import ObjectReference, TagReference
from imagestreams.streams import TagState
from testkit.api import Api, FakeContext, image_spec, import_body, load_function
from testkit.events import load_event, with_body
from testkit.images import repush_tag
from testkit.proxy import Fault, RegistryProxy
from testkit.registry import Registry

WEBHOOK_SECRET = "Wh-3f9a2c-shared"


@pytest.fixture
def webhook_secret(api_environment: dict[str, str]) -> str:
    # The template creates the secret with a generated value; the test sets a known one.
    boto3.client("secretsmanager").put_secret_value(
        SecretId="imagestreams/webhook-secret", SecretString=WEBHOOK_SECRET
    )
    return WEBHOOK_SECRET


def track(api: Api, namespace: str, stream: str, ref: str, scheduled: bool = False) -> Any:
    body = import_body(image_spec(ref, importPolicy={"scheduled": scheduled}), name=stream)
    body["spec"]["import"] = True
    reply = api.post_import(namespace, body)
    assert reply.status == 201, reply.body
    return reply


def run_scheduler(event: str = "scheduled-reimport.json") -> Any:
    return load_function("scheduler").lambda_handler(load_event(event), FakeContext(60_000))


def drain_worker(environment: dict[str, str]) -> Any:
    worker = load_function("worker")
    report = drain(
        environment["IMPORT_QUEUE_URL"],
        lambda event: worker.lambda_handler(event, FakeContext(120_000)),
        timeout=120,
    )
    assert report.empty, report
    return report


def tag_status(api: Api, namespace: str, stream: str, tag: str) -> dict[str, Any]:
    event = load_event("api-get-stream.json")
    event["path"] = event["path"].replace("/namespaces/demo/", f"/namespaces/{namespace}/")
    event["path"] = event["path"].rsplit("/", 1)[0] + f"/{stream}"
    event["pathParameters"] = {"namespace": namespace, "name": stream}
    body = api.invoke(event).body
    return next(t for t in body["status"]["tags"] if t["tag"] == tag) | {
        "_generation": body["metadata"]["generation"]
    }


def test_scheduled_tag_follows_a_re_push(
    api: Api,
    anon_registry: Registry,
    push_image: Any,
    unique_repo: Any,
    api_environment: dict[str, str],
) -> None:
    # Given a scheduled tag and one that is not
    repository = unique_repo("scheduled")
    push_image(anon_registry, repository, "v1", via="api")
    push_image(anon_registry, repository, "v2", via="api")
    track(api, "demo", "sched", f"{anon_registry.host}/{repository}:v1", scheduled=True)
    track(api, "demo", "manual", f"{anon_registry.host}/{repository}:v2")

    # When both are re-pushed and the schedule runs
    repush_tag(anon_registry, repository, "v1")
    repush_tag(anon_registry, repository, "v2")
    assert run_scheduler() == {"queued": 1}
    drain_worker(api_environment)

    # Then the scheduled tag has one new history item, the other none
    assert len(tag_status(api, "demo", "sched", "v1")["items"]) == 2
    assert len(tag_status(api, "demo", "manual", "v2")["items"]) == 1

    # And running it again without a change adds nothing
    before = tag_status(api, "demo", "sched", "v1")
    run_scheduler()
    drain_worker(api_environment)
    assert tag_status(api, "demo", "sched", "v1") == before


def test_a_broken_registry_writes_one_condition(
    api: Api,
    anon_registry: Registry,
    push_image: Any,
    api_environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REGISTRY_MAX_ATTEMPTS", "1")
    pushed = push_image(anon_registry, via="api")
    proxy = RegistryProxy(anon_registry.host)
    api = Api()
    try:
        track(
            api, "demo", "flaky", f"{proxy.host}/{pushed.repository}:{pushed.tag}", scheduled=True
        )
        proxy.rules.append(lambda method, path, nth: Fault(500) if "/manifests/" in path else None)

        run_scheduler()
        drain_worker(api_environment)
        first = tag_status(api, "demo", "flaky", pushed.tag)
        run_scheduler()
        drain_worker(api_environment)
        second = tag_status(api, "demo", "flaky", pushed.tag)
    finally:
        proxy.stop()

    [condition] = first["conditions"]
    assert condition["reason"] == "InternalError"
    assert second["conditions"] == first["conditions"]
    assert len(second["items"]) == 1


def test_distribution_push_reimports_exactly_the_tracking_streams(
    api: Api,
    anon_registry: Registry,
    push_image: Any,
    unique_repo: Any,
    api_environment: dict[str, str],
    webhook_secret: str,
) -> None:
    # Given two namespaces tracking repo:v1 and a stream tracking repo:v2
    repository = unique_repo("pushed")
    push_image(anon_registry, repository, "v1", via="api")
    push_image(anon_registry, repository, "v2", via="api")
    for namespace in ("team-a", "team-b"):
        track(api, namespace, "app", f"{anon_registry.host}/{repository}:v1")
    track(api, "team-a", "other", f"{anon_registry.host}/{repository}:v2")

    # When v1 and v2 are re-pushed and the registry notifies the push of v1
    repush_tag(anon_registry, repository, "v1")
    repush_tag(anon_registry, repository, "v2")
    event = load_event("webhook-distribution-push.json")
    envelope = json.loads(event["body"])
    envelope["events"][0]["target"].update(repository=repository, tag="v1")
    envelope["events"][0]["request"]["host"] = anon_registry.host
    event = with_body(event, envelope)
    event["headers"]["Authorization"] = f"Bearer {webhook_secret}"
    reply = api.invoke(event, grant=None)
    drain_worker(api_environment)

    # Then both tracking streams moved on; the other is untouched
    assert reply.status == 202, reply.body
    assert reply.body["message"] == "2 stream tags queued for re-import"
    assert len(tag_status(api, "team-a", "app", "v1")["items"]) == 2
    assert len(tag_status(api, "team-b", "app", "v1")["items"]) == 2
    assert len(tag_status(api, "team-a", "other", "v2")["items"]) == 1


@pytest.mark.parametrize(
    ("authorization", "body", "status"),
    [
        (None, '{"events": []}', 401),
        ("Bearer wrong", '{"events": []}', 401),
        ("Basic Wh-3f9a2c-shared", '{"events": []}', 401),
        (f"Bearer {WEBHOOK_SECRET}", "not json", 400),
        (f"Bearer {WEBHOOK_SECRET}", '{"events": "nope"}', 400),
    ],
    ids=["no-secret", "wrong-secret", "wrong-scheme", "not-json", "not-an-envelope"],
)
def test_bad_webhook_calls_queue_nothing(
    api: Api,
    api_environment: dict[str, str],
    webhook_secret: str,
    authorization: str | None,
    body: str,
    status: int,
) -> None:
    event = load_event("webhook-distribution-push.json")
    event["body"] = body
    event["headers"].pop("Authorization", None)
    event["multiValueHeaders"].pop("Authorization", None)
    if authorization:
        event["headers"]["Authorization"] = authorization

    reply = api.invoke(event, grant=None)

    assert reply.status == status
    assert reply.body["kind"] == "Status"
    depth = boto3.client("sqs").get_queue_attributes(
        QueueUrl=api_environment["IMPORT_QUEUE_URL"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_ecr_push_event_queues_the_tracking_tags(api: Api, api_environment: dict[str, str]) -> None:
    # Given a stream tag tracking an ECR image (stored directly: no registry is contacted)
    ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v1"
    store = DynamoStreamStore(api_environment["STREAMS_TABLE"])
    store.begin_import(
        "team-a",
        "from-ecr",
        expected_resource_version=None,
        expected_uid=None,
        now=datetime.now(UTC),
        annotation=None,
    )
    spec = TagReference(name="v1", from_=ObjectReference(kind="DockerImage", name=ecr))
    store.update_tag("team-a", "from-ecr", "v1", lambda _: TagState("v1", spec=spec))

    # When ECR reports a push of that tag
    result = run_scheduler("ecr-image-push.json")

    # Then a re-import of exactly that tag is queued
    assert result == {"queued": 1}
    messages = boto3.client("sqs").receive_message(
        QueueUrl=api_environment["IMPORT_QUEUE_URL"], MaxNumberOfMessages=10
    )["Messages"]
    assert [json.loads(m["Body"]) for m in messages] == [
        {
            "kind": "reimport",
            "namespace": "team-a",
            "name": "from-ecr",
            "tags": ["v1"],
            "reason": "ecr-push",
        }
    ]

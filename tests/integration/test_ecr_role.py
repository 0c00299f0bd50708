"""Imports from ECR authenticated by the functions' own role, through the real handlers.

moto's ECR answers ``GetAuthorizationToken`` with the password
``<account>-auth-token`` for user ``AWS``; the Debian ``docker-registry``,
with exactly that htpasswd user, stands in for the ECR endpoint
(``REGISTRY_ENDPOINTS`` maps the ECR host name to it). The account allowed
is the template's default: the stack's own (moto's) account.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagestreams import bootstrap
from testkit.api import Api, image_spec, import_body
from testkit.registry import Registry, start_htpasswd_registry
from tests.conftest import require_registry
from tests.integration.test_reimports import drain_worker, run_scheduler, tag_status, track

ACCOUNT = "123456789012"
ECR = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
OTHER_ACCOUNT_ECR = "999999999999.dkr.ecr.us-east-1.amazonaws.com"


@pytest.fixture(scope="module")
def ecr_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry whose only user is the one moto's ECR token names."""
    require_registry()
    registry = start_htpasswd_registry(
        Path(tmp_path_factory.mktemp("registry-ecr")),
        username="AWS",
        password=f"{ACCOUNT}-auth-token",
    )
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture
def ecr_api(
    api: Api,
    api_environment: dict[str, str],
    ecr_registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
) -> Api:
    """The api function with both ECR hosts connecting to the stand-in registry."""
    assert api_environment["ECR_ACCOUNTS"] == ACCOUNT  # the template's default
    endpoints = f"{ECR}={ecr_registry.host},{OTHER_ACCOUNT_ECR}={ecr_registry.host}"
    monkeypatch.setenv("REGISTRY_ENDPOINTS", endpoints)
    return Api()


@pytest.fixture
def pushed(ecr_registry: Registry, push_image: Any) -> Any:
    return push_image(ecr_registry, via="api")


def import_one(api: Api, pull_spec: str, namespace: str = "demo") -> dict[str, Any]:
    reply = api.post_import(namespace, import_body(image_spec(pull_spec)))
    assert reply.status == 201, reply.body
    image: dict[str, Any] = reply.body["status"]["images"][0]
    return image


def token_requests() -> int:
    requests: int = bootstrap.container().registry_tokens().requests
    return requests


def test_an_import_from_ecr_signs_in_with_the_role(ecr_api: Api, pushed: Any) -> None:
    # When an image of the stack's own ECR registry is imported, with no pull secret
    image = import_one(ecr_api, f"{ECR}/{pushed.repository}:{pushed.tag}")

    # Then the role's token got it, and the image keeps its ECR name
    assert image["status"]["status"] == "Success", image["status"]
    assert image["image"]["metadata"]["name"] == pushed.digest
    assert image["image"]["dockerImageReference"] == f"{ECR}/{pushed.repository}@{pushed.digest}"
    assert token_requests() >= 1


def test_a_pull_secret_for_the_registry_wins_over_the_role(ecr_api: Api, pushed: Any) -> None:
    # Given the namespace's pull secret for the ECR host, with a wrong password
    ecr_api.put_pull_secret("demo", {ECR: ("AWS", "not-the-token")})

    # When the image is imported
    image = import_one(ecr_api, f"{ECR}/{pushed.repository}:{pushed.tag}")

    # Then the secret was used (and refused), the role never asked
    assert image["status"]["reason"] == "Unauthorized", image["status"]
    assert token_requests() == 0


def test_another_account_is_forbidden(ecr_api: Api, pushed: Any) -> None:
    image = import_one(ecr_api, f"{OTHER_ACCOUNT_ECR}/{pushed.repository}:{pushed.tag}")

    assert image["status"]["code"] == 403, image["status"]
    assert image["status"]["reason"] == "Forbidden"
    assert "AWS account 999999999999 is not one whose ECR registries" in image["status"]["message"]
    assert token_requests() == 0


def test_a_scheduled_re_import_signs_in_with_the_role(
    ecr_api: Api, pushed: Any, push_image: Any, ecr_registry: Registry, api_environment: Any
) -> None:
    # Given a scheduled tag of ECR
    track(ecr_api, "demo", "sched", f"{ECR}/{pushed.repository}:{pushed.tag}", scheduled=True)

    # When the tag is pushed anew and the schedule runs, the worker importing
    again = push_image(ecr_registry, pushed.repository, pushed.tag, via="api")
    assert run_scheduler() == {"queued": 1}
    drain_worker(api_environment)

    # Then the worker's import signed in with the role too
    status = tag_status(ecr_api, "demo", "sched", pushed.tag)
    assert [item["image"] for item in status["items"]] == [again.digest, pushed.digest]
    assert not status.get("conditions")


def test_an_ecr_push_event_re_imports_with_the_role(
    ecr_api: Api, push_image: Any, ecr_registry: Registry, api_environment: Any
) -> None:
    # Given a stream tag tracking team/app:v1 of the ECR registry the sample event names
    first = push_image(ecr_registry, "team/app", "v1", via="api")
    track(ecr_api, "demo", "from-ecr", f"{ECR}/team/app:v1")

    # When the tag is pushed anew and ECR's event arrives
    again = push_image(ecr_registry, "team/app", "v1", via="api")
    assert run_scheduler("ecr-image-push.json") == {"queued": 1}
    drain_worker(api_environment)

    # Then the re-import read the new image with the role's token
    status = tag_status(ecr_api, "demo", "from-ecr", "v1")
    assert [item["image"] for item in status["items"]] == [again.digest, first.digest]

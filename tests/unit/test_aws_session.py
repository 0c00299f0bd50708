"""The process's boto3 session: shared by every client until forgotten."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from imagestreams import bootstrap
from imagestreams.adapters import aws
from testkit.aws import fake_credentials


@pytest.fixture
def sessions_made(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every boto3 session made, in order."""
    fake_credentials(os.environ)
    made: list[Any] = []
    real = boto3.session.Session

    def session(*args: Any, **kwargs: Any) -> Any:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(boto3.session, "Session", session)
    aws.forget()
    yield made
    aws.forget()


def test_clients_of_several_services_share_one_session(sessions_made: list[Any]) -> None:
    clients = [aws.client(service) for service in ("dynamodb", "secretsmanager", "sqs")]

    assert len(sessions_made) == 1
    assert [c.meta.service_model.service_name for c in clients] == [
        "dynamodb",
        "secretsmanager",
        "sqs",
    ]


def test_clients_built_from_many_threads_at_once_share_one_session(
    sessions_made: list[Any],
) -> None:
    built: list[Any] = []
    threads = [
        threading.Thread(target=lambda: built.append(aws.client("dynamodb"))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(built) == 8
    assert len(sessions_made) == 1


@pytest.mark.parametrize(
    "forget", [aws.forget, bootstrap.reset], ids=["forget", "a-new-composition-root"]
)
def test_a_forgotten_session_is_made_again(sessions_made: list[Any], forget: Any) -> None:
    aws.client("dynamodb")
    forget()
    aws.client("dynamodb")

    assert len(sessions_made) == 2

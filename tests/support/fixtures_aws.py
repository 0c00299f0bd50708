"""pytest fixtures for AWS under moto; enable with ``pytest_plugins``.

- ``aws``: moto active for the test, fake credentials and region in the
  environment; yields a ``boto3.Session``.
- ``template_resources``: the template's tables and queues created in that
  mock; yields :class:`devserver.resources.CreatedResources` (``.name(id)``
  for a physical name, ``.environment(function_id)`` for a function's
  variables).
- ``api_environment``: the api function's environment variables set as
  deployed (with the local names), plus loopback in ``ALLOWED_PRIVATE_CIDRS``
  so registries on loopback can be reached, as under ``make run``, and no
  other private address; yields the variables.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from devserver.resources import CreatedResources
from testkit.aws import FAKE_ENVIRONMENT, create_template_resources, mocked_aws

API_FUNCTION = "ApiFunction"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """moto for every AWS service during the test, with fake credentials."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in FAKE_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with mocked_aws() as session:
        yield session


@pytest.fixture
def template_resources(aws: boto3.Session) -> CreatedResources:
    """The template's tables and queues, created in the test's moto."""
    return create_template_resources(aws)


@pytest.fixture
def api_environment(
    template_resources: CreatedResources, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The api function's environment, as deployed but for loopback registries."""
    variables = template_resources.environment(API_FUNCTION)
    variables["ALLOWED_PRIVATE_CIDRS"] = "127.0.0.0/8,::1/128"
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return variables

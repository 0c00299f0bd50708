"""AWS for tests and the benchmark: moto with fake credentials, resources from ``template.yaml``.

Tables and queues are created from the template's own definitions (through
:mod:`devserver.resources`), so a test cannot pass against a key schema the
deployed stack does not have.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path

import boto3

from devserver.moto_support import local_aws
from devserver.resources import CreatedResources, create_resources
from devserver.template import LOCAL_REGION, Template, load_template

TEMPLATE_PATH = Path(__file__).resolve().parents[1] / "template.yaml"

# Credentials only moto accepts: a test can never reach a real account.
FAKE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": LOCAL_REGION,
    "AWS_REGION": LOCAL_REGION,
}


def fake_credentials(environ: MutableMapping[str, str]) -> None:
    """Point ``environ`` at fake credentials and the local region."""
    environ.pop("AWS_PROFILE", None)
    environ.update(FAKE_ENVIRONMENT)


@contextmanager
def mocked_aws() -> Iterator[boto3.Session]:
    """moto for every AWS service; yields a session in the local region.

    Set the credentials first (:func:`fake_credentials`, or the ``aws``
    fixture that does both).
    """
    with local_aws():
        yield boto3.Session(region_name=LOCAL_REGION)


def project_template() -> Template:
    """The project's ``template.yaml``, parsed."""
    return load_template(TEMPLATE_PATH)


def create_template_resources(session: boto3.Session | None = None) -> CreatedResources:
    """Create the template's tables and queues in the active moto mock."""
    return create_resources(project_template(), session=session)

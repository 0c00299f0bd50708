"""Fixtures for tests that run the real handlers against real registries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from imagestreams import bootstrap
from testkit.api import Api


@pytest.fixture
def api(api_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """The api function on moto with the template's environment (loopback allowed)."""
    monkeypatch.setenv("PULL_SECRET_PREFIX", "imagestreams")
    monkeypatch.setenv("PULL_SECRET_MAX_AGE", "0")
    monkeypatch.setenv("IMPORT_TIME_BUDGET", "20")
    monkeypatch.setenv("WATCH_SETTLE_SECONDS", "0")
    yield Api()
    bootstrap.reset()

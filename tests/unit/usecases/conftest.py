"""Fixtures of the use-case tests: fresh fakes, and the use cases wired over them."""

from __future__ import annotations

import pytest

from tests.unit.usecases.wiring import Fakes, UseCases, wire


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
def app(fakes: Fakes) -> UseCases:
    """The use cases with the default options, over ``fakes``."""
    return wire(fakes)

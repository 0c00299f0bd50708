"""Allowed, blocked and insecure registry lists, matched as OpenShift matches them."""

from __future__ import annotations

import pytest

from imagestreams.reference import parse
from imagestreams.registry.rules import RegistryRules, registry_of

CASES = [
    ("no-lists", "", "", "quay.io/a/b", None),
    ("allowed-exact", "quay.io", "", "quay.io/a/b", None),
    ("allowed-wildcard-host", "*.example.com", "", "r.example.com/a", None),
    ("wildcard-needs-a-label", "*.example.com", "", "example.com/a", "not allowed"),
    ("allowed-port-default-443", "quay.io", "", "quay.io:5000/a", "not allowed"),
    ("allowed-port-wildcard", "quay.io:*", "", "quay.io:5000/a", None),
    ("docker-hub-is-docker-io", "docker.io", "", "busybox", None),
    ("not-allowed", "quay.io", "", "ghcr.io/a", "not allowed"),
    ("blocked-wins", "*", "ghcr.io", "ghcr.io/a", "is blocked"),
    ("blocked-other", "", "ghcr.io", "quay.io/a", None),
    ("case-insensitive", "QUAY.io", "", "quay.io/a", None),
]


@pytest.mark.parametrize(
    ("allowed", "blocked", "name", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_forbidden(allowed: str, blocked: str, name: str, problem: str | None) -> None:
    found = RegistryRules.from_settings(allowed, blocked, "").forbidden(parse(name))
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found
        assert found.startswith(
            f'importing images from registry "{registry_of(parse(name))}" is forbidden'
        )


def test_insecure_imports_default_to_port_80() -> None:
    assert registry_of(parse("r.example.com/a"), insecure=True) == "r.example.com:80"
    rules = RegistryRules.from_settings("r.example.com", "", "")
    assert rules.forbidden(parse("r.example.com/a"), insecure=True) is None


@pytest.mark.parametrize(
    ("insecure", "name", "expected"),
    [
        ("127.0.0.1:5000", "127.0.0.1:5000/a", True),
        ("127.0.0.1:5000", "127.0.0.1:5001/a", False),
        ("*.internal", "r.internal/a", True),
        ("*.internal", "r.internal:8443/a", True),
        ("", "r.internal/a", False),
    ],
)
def test_insecure(insecure: str, name: str, expected: bool) -> None:
    assert RegistryRules.from_settings("", "", insecure).is_insecure(parse(name)) is expected

"""Shared fixtures: real registries on loopback and factories that push images to them.

Registries are session-scoped and start lazily, the first time a test asks for
one (each takes well under a second). Without ``docker-registry`` or ``skopeo``
the tests that need them are skipped, except under ``CI=true`` where a missing
tool is a failure. Tests using a registry fixture get the ``registry`` marker.
A ``hostile_registry`` (per test) misbehaves on purpose where a real one will
not (``tests.support.hostile``).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import pytest

from testkit import images
from testkit.images import AnyImage, ImageFormat, PushedImage, TagPush, UniqueBy
from testkit.registry import (
    Registry,
    StoppedRegistry,
    registry_binary,
    start_anonymous_registry,
    start_htpasswd_registry,
    start_redirect_registry,
    start_schema1_registry,
    start_tls_registry,
    start_token_registry,
    stopped_registry,
)
from tests.support.hostile import HostileRegistry, Route

pytest_plugins = ["tests.support.fixtures_aws"]

REGISTRY_FIXTURES = frozenset(
    {
        "anon_registry",
        "htpasswd_registry",
        "tls_registry",
        "token_registry",
        "redirect_registry",
        "schema1_registry",
    }
)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_tool(name: str, found: str | None) -> None:
    """Skip (or, in CI, fail) the current test when a needed tool is missing."""
    if found:
        return
    message = f"{name} is not installed (Debian package {name}); real-registry tests need it"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_registry() -> None:
    require_tool("docker-registry", registry_binary())


def require_skopeo() -> None:
    require_tool("skopeo", images.skopeo_binary())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REGISTRY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.registry)


def _registry_fixture(
    tmp_path_factory: pytest.TempPathFactory, name: str, start: Callable[[Path], Registry]
) -> Iterator[Registry]:
    require_registry()
    registry = start(tmp_path_factory.mktemp(f"registry-{name}"))
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture(scope="session")
def anon_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry without authentication."""
    yield from _registry_fixture(tmp_path_factory, "anon", start_anonymous_registry)


@pytest.fixture(scope="session")
def htpasswd_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry with Basic auth (``.username``/``.password``)."""
    yield from _registry_fixture(tmp_path_factory, "htpasswd", start_htpasswd_registry)


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry with Bearer token auth; ``.token_server`` counts token requests."""
    yield from _registry_fixture(tmp_path_factory, "token", start_token_registry)


@pytest.fixture(scope="session")
def redirect_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """An htpasswd registry redirecting blob GETs to ``.cdn`` on 127.0.0.2."""
    yield from _registry_fixture(tmp_path_factory, "redirect", start_redirect_registry)


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Anonymous registry on HTTPS with a self-signed certificate."""
    yield from _registry_fixture(tmp_path_factory, "tls", start_tls_registry)


@pytest.fixture(scope="session")
def schema1_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """An anonymous registry that accepts schema 1 manifests."""
    yield from _registry_fixture(tmp_path_factory, "schema1", start_schema1_registry)


@pytest.fixture
def stopped_registry_host() -> Iterator[str]:
    """``127.0.0.1:PORT`` where nothing listens (connections are refused)."""
    reserved: StoppedRegistry = stopped_registry()
    try:
        yield reserved.host
    finally:
        reserved.stop()


@pytest.fixture
def hostile_registry() -> Iterator[Callable[[Route], HostileRegistry]]:
    """Start misbehaving registries: ``hostile_registry(route)``; all stop after the test."""
    started: list[HostileRegistry] = []

    def start(route: Route, *, tls: bool = False) -> HostileRegistry:
        started.append(HostileRegistry(route, tls=tls))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def _slug(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].strip("-") or "repo"


@pytest.fixture
def unique_repo(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Repository names unique to this test: ``unique_repo("app")`` is ``t/<test>-<hex>/app``."""
    base = f"t/{_slug(request.node.name)}-{secrets.token_hex(3)}"

    def make(name: str = "app") -> str:
        return f"{base}/{name}"

    return make


class PushImage(Protocol):
    """Signature of the ``push_image`` fixture."""

    def __call__(
        self,
        registry: images.RegistryLike,
        repository: str | None = None,
        tag: str = "latest",
        *,
        fmt: ImageFormat = "oci",
        image: AnyImage | None = None,
        multiarch: bool = False,
        via: Literal["skopeo", "api"] = "skopeo",
        **image_kwargs: Any,
    ) -> PushedImage: ...


@pytest.fixture
def push_image(tmp_path: Path, unique_repo: Callable[[str], str]) -> PushImage:
    """Push a fresh random image and return what the registry serves for it.

    ``via="skopeo"`` writes an OCI layout and runs ``skopeo copy`` (``--all`` for
    multi-arch; ``fmt`` may be ``oci``, ``v2s2`` or ``v2s1``); ``via="api"`` uses
    the Python registry client (``oci`` or ``v2s2``, lists included). Extra keyword
    arguments go to :func:`images.build_image` (labels, env, cmd, author, ...).
    """

    def push(
        registry: images.RegistryLike,
        repository: str | None = None,
        tag: str = "latest",
        *,
        fmt: ImageFormat = "oci",
        image: AnyImage | None = None,
        multiarch: bool = False,
        via: Literal["skopeo", "api"] = "skopeo",
        **image_kwargs: Any,
    ) -> PushedImage:
        repository = repository or unique_repo("app")
        if image is None:
            image = (
                images.build_index(**image_kwargs)
                if multiarch
                else images.build_image(**image_kwargs)
            )
        if via == "skopeo":
            require_skopeo()
            return images.push_with_skopeo(registry, repository, tag, image, tmp_path, fmt=fmt)
        if fmt == "v2s1":
            raise ValueError("schema 1 pushes go through skopeo")
        pushed = images.push_with_api(registry, repository, tag, image, fmt=fmt)
        assert pushed is not None
        return pushed

    return push


class PushTags(Protocol):
    """Signature of the ``push_tags`` fixture."""

    def __call__(
        self,
        registry: images.RegistryLike,
        tags: Sequence[str] | int,
        repository: str | None = None,
        *,
        fmt: Literal["oci", "v2s2"] = "oci",
        unique: UniqueBy = "config",
        workers: int = 4,
    ) -> list[TagPush]: ...


@pytest.fixture
def push_tags(unique_repo: Callable[[str], str]) -> PushTags:
    """Push many tags quickly through the registry API (see :func:`images.push_many_tags`)."""

    def push(
        registry: images.RegistryLike,
        tags: Sequence[str] | int,
        repository: str | None = None,
        *,
        fmt: Literal["oci", "v2s2"] = "oci",
        unique: UniqueBy = "config",
        workers: int = 4,
    ) -> list[TagPush]:
        return images.push_many_tags(
            registry,
            repository or unique_repo("many"),
            tags,
            fmt=fmt,
            unique=unique,
            workers=workers,
        )

    return push

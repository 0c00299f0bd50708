"""Measure: registry requests per imported tag, cold and warm, anonymous and with token auth.

This module owns how requests are counted: from the registry's access log
(and the token service's record), grouped by kind of request and by the tag
group (single-platform or multi-arch) each served. The anonymous counts come
from the wall-time runs (:mod:`bench.wall_time`); the token-auth ones from a
registry of their own, started here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bench.fixtures import (
    NAMESPACE,
    Repository,
    Stack,
    aws_stack,
    function_environment,
    log,
    push_repository,
)
from bench.imports import BenchError, ImportRun, import_repository
from testkit.api import Api
from testkit.registry import AccessLogEntry, Registry, start_token_registry

# Kinds of registry request, in report order.
KINDS = ("manifest HEAD", "manifest GET", "blob GET", "tags/list", "ping", "token", "401")


def request_kind(method: str, path: str, status: int) -> str | None:
    """The kind of a registry request, as the report groups them."""
    if status == 401:
        return "401"
    if path.rstrip("/") == "/v2":
        return "ping"
    if "/tags/list" in path:
        return "tags/list"
    if "/manifests/" in path and method in ("GET", "HEAD"):
        return f"manifest {method}"
    if "/blobs/" in path and method == "GET":
        return "blob GET"
    return None


def group_of(path: str, repository: Repository) -> str:
    """Which tag group a request served: ``single``, ``multi`` or ``repository``."""
    if "/manifests/" in path or "/blobs/" in path:
        return repository.groups.get(path.rsplit("/", 1)[-1], "other")
    return "repository"


@dataclass
class RequestCounts:
    """Registry requests of one import, by tag group and kind."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    tags: dict[str, int] = field(default_factory=dict)

    @classmethod
    def collect(
        cls, entries: Sequence[AccessLogEntry], repository: Repository, tokens: int = 0
    ) -> RequestCounts:
        counted: dict[str, Counter[str]] = {}
        for entry in entries:
            kind = request_kind(entry.method, entry.path, entry.status)
            if kind is None:
                continue
            group = "repository" if kind == "401" else group_of(entry.path, repository)
            counted.setdefault(group, Counter())[kind] += 1
        if tokens:
            counted.setdefault("repository", Counter())["token"] += tokens
        return cls(
            counts={group: dict(counter) for group, counter in counted.items()},
            tags={"single": repository.count("single"), "multi": repository.count("multi")},
        )

    def total(self, kind: str, groups: Sequence[str] = ("single", "multi", "repository")) -> int:
        return sum(self.counts.get(group, {}).get(kind, 0) for group in groups)

    def per_tag(self, kind: str, group: str) -> float:
        """Requests of ``kind`` per tag of ``group`` (``all``: every request, every tag)."""
        if group == "all":
            tags = sum(self.tags.values())
            return self.total(kind) / tags if tags else 0.0
        tags = self.tags.get(group, 0)
        return self.counts.get(group, {}).get(kind, 0) / tags if tags else 0.0


def counted_import(
    stack: Stack,
    registry: Registry,
    repository: Repository,
    overrides: Mapping[str, str] | None = None,
) -> tuple[ImportRun, RequestCounts]:
    """:func:`import_repository`, with the registry requests it made."""
    mark = registry.access_log_mark()
    token_mark = len(registry.token_server.token_requests()) if registry.token_server else 0
    run = import_repository(stack, repository, overrides)
    entries = registry.access_log(since=mark)
    tokens = (
        len(registry.token_server.token_requests()) - token_mark if registry.token_server else 0
    )
    return run, RequestCounts.collect(entries, repository, tokens)


def measure_token_counts(tags: int, multiarch: int) -> tuple[RequestCounts, RequestCounts]:
    """Cold and warm request counts against a registry with token auth and a pull secret."""
    registry = start_token_registry()
    try:
        log(f"token registry: pushing {tags} tags")
        repository = push_repository(registry, tags, multiarch)
        if registry.username is None or registry.password is None:
            raise BenchError("the token registry has no reader credentials")
        with aws_stack() as stack:
            with function_environment(stack.api):
                Api(reset=False).put_pull_secret(
                    NAMESPACE, {registry.host: (registry.username, registry.password)}
                )
            log("token registry: cold import, warm re-import")
            _, cold = counted_import(stack, registry, repository)
            _, warm = counted_import(stack, registry, repository)
    finally:
        registry.stop()
    return cold, warm

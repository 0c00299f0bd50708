"""What every measure stands on: paths, the pushed repository, moto, each function's environment.

This module owns the benchmark's setup: the repository pushed to a real
registry (:class:`Repository`, :func:`push_repository`), the template's tables
and queues in moto (:func:`aws_stack`), a function's environment around a
fresh composition root (:func:`function_environment`), and the settings as
deployed (read from ``template.yaml``). Registries, images and moto come from
:mod:`testkit`; nothing here measures anything.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devserver.template import FunctionSpec, QueueEvent, load_template
from imagestreams import bootstrap
from imagestreams.config import Settings
from testkit.aws import create_template_resources, fake_credentials, mocked_aws
from testkit.images import build_index, push_many_tags, push_with_api, random_layer, sha256_digest
from testkit.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
REPOSITORY = "bench/app"
NAMESPACE = "bench"
API_FUNCTION = "ApiFunction"
WORKER_FUNCTION = "WorkerFunction"
# The local server's one change to the template's settings: registries on
# loopback must be reachable.
LOCAL_OVERRIDES = {"ALLOW_PRIVATE_REGISTRIES": "true"}


def median(values: Sequence[float]) -> float:
    """The median, or NaN for no values."""
    return float(statistics.median(values)) if values else float("nan")


def log(message: str) -> None:
    """Progress on stderr, so stdout carries only the report."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


@dataclass
class Repository:
    """The pushed repository and which tag group each manifest or blob belongs to."""

    host: str
    name: str
    tags: list[str]
    groups: dict[str, str] = field(default_factory=dict)  # tag or digest -> "single"/"multi"

    @property
    def reference(self) -> str:
        return f"{self.host}/{self.name}"

    def count(self, group: str) -> int:
        return sum(1 for tag in self.tags if self.groups.get(tag) == group)

    def via(self, host: str) -> Repository:
        """The same repository reached at ``host`` (a proxy in front of its registry)."""
        return Repository(host, self.name, self.tags, self.groups)


def push_repository(registry: Registry, tags: int, multiarch: int) -> Repository:
    """Push ``tags`` tags: ``multiarch`` of them multi-arch, the rest single-platform.

    Every image shares the same layers; each single-platform tag has its own
    config (so its own manifest digest), as ``push_many_tags(unique="config")``
    builds them.
    """
    multiarch = min(multiarch, max(0, tags - 1))
    layers = [random_layer(), random_layer()]
    pushed = push_many_tags(
        registry, REPOSITORY, tags - multiarch, unique="config", shared_layers=layers, workers=8
    )
    repository = Repository(registry.host, REPOSITORY, [p.tag for p in pushed])
    for push in pushed:
        for key in (push.tag, push.digest, push.config_digest):
            repository.groups[key] = "single"
    for index in range(multiarch):
        tag = f"multi-{index}"
        image = build_index(layers=layers)
        push_with_api(registry, REPOSITORY, tag, image, describe_result=False)
        repository.tags.append(tag)
        repository.groups[tag] = "multi"
        repository.groups[sha256_digest(image.manifest("oci")[0])] = "multi"
        for child in image.images:
            repository.groups[sha256_digest(child.manifest("oci")[0])] = "multi"
            repository.groups[child.config.digest] = "multi"
    return repository


@contextlib.contextmanager
def function_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """One function's environment for the duration; a fresh composition root around it.

    ``bootstrap.reset()`` on entry and exit stands for a new Lambda process:
    settings, connection pools, tokens and clients are built again.
    """
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    bootstrap.reset()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        bootstrap.reset()


@dataclass
class Stack:
    """The template's tables and queues in a moto mock, and each function's environment."""

    api: dict[str, str]
    worker: dict[str, str]
    # The worker as the template runs it: its code, timeout and memory, and its
    # import-queue event (batch size, MaximumConcurrency).
    worker_spec: FunctionSpec

    @property
    def worker_event(self) -> QueueEvent:
        return self.worker_spec.queue_events[0]

    @property
    def worker_concurrency(self) -> int:
        """Worker invocations at once: the event's ``MaximumConcurrency``, as deployed."""
        return self.worker_event.maximum_concurrency or 1

    @property
    def queue_url(self) -> str:
        return self.api["IMPORT_QUEUE_URL"]


@contextlib.contextmanager
def aws_stack() -> Iterator[Stack]:
    """moto with fake credentials and the template's resources, for the duration."""
    fake_credentials(os.environ)
    with mocked_aws() as session:
        created = create_template_resources(session)
        template = created.template
        yield Stack(
            api={**created.environment(API_FUNCTION), **LOCAL_OVERRIDES},
            worker={**created.environment(WORKER_FUNCTION), **LOCAL_OVERRIDES},
            worker_spec=next(
                spec for spec in template.functions() if spec.logical_id == WORKER_FUNCTION
            ),
        )


def deployed_setting(variable: str) -> str:
    """An api function setting as deployed: the template's value, else the default."""
    configured = load_template(TEMPLATE).function_environment(API_FUNCTION)
    value = configured.get(variable)
    if isinstance(value, str | int | float):
        return str(value)
    for field_info in Settings.model_fields.values():
        if field_info.alias == variable:
            return str(field_info.default)
    raise KeyError(variable)


def import_parallelism() -> int:
    """The importer's parallelism as deployed."""
    return int(deployed_setting("IMPORT_PARALLELISM"))


def worker_max_concurrency() -> int:
    """The ``MaximumConcurrency`` of the worker's import-queue event, as deployed."""
    spec = next(s for s in load_template(TEMPLATE).functions() if s.logical_id == WORKER_FUNCTION)
    return spec.queue_events[0].maximum_concurrency or 1


def template_memory() -> tuple[int, int]:
    """The configured MemorySize of the worker and of the api function (MB)."""
    template = load_template(TEMPLATE)
    return (
        int(template.function_property(WORKER_FUNCTION, "MemorySize", 128)),
        int(template.function_property(API_FUNCTION, "MemorySize", 128)),
    )

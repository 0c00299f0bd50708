"""Metrics and tracing plumbing: the EMF provider, the recorder, the lazy tracer.

The provider is exercised through Powertools' own ``Metrics.log_metrics`` on a
handler, and what it prints is read back as EMF (``tests.support.emf``).
Tracing is checked off (nothing imported, subsegments are no-ops); the
traced path itself runs in ``tests/integration/test_tracing.py``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools import Metrics

from imagestreams import observability, telemetry
from imagestreams.models import ImageImportStatus, Status
from imagestreams.observability import InvocationMetrics, LazyTracer
from imagestreams.telemetry import CATALOGUE, Telemetry
from testkit.api import FakeContext
from tests.support.emf import read_emf

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "ImageStreams/test"


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[InvocationMetrics]:
    """A provider of its own (the process's is left alone), printing to stdout."""
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    fresh = InvocationMetrics()
    yield fresh
    fresh.clear_metrics()


def handler_recording(provider: InvocationMetrics, record: Any) -> Any:
    """A handler flushed by Powertools' ``log_metrics``, recording with ``record``."""
    metrics = Metrics(provider=provider)

    @metrics.log_metrics
    def handler(event: Any, context: Any) -> str:
        record(Telemetry(provider))
        return "done"

    return handler


def status(reason: str | None) -> ImageImportStatus:
    if reason is None:
        return ImageImportStatus(status=Status.success(type_meta=False), tag="t")
    return ImageImportStatus(status=Status.failure(500, reason, "x", type_meta=False), tag="t")


def test_an_invocation_prints_one_document_per_dimension_set(
    provider: InvocationMetrics, capsys: pytest.CaptureFixture[str]
) -> None:
    def record(recorder: Telemetry) -> None:
        recorder.imported("import", [status(None), status(None), status("NotFound")])
        recorder.registry_request("manifest-get", 0.012)
        recorder.registry_request("manifest-get", 0.020)
        recorder.cache_lookup(hit=False)

    assert handler_recording(provider, record)({}, FakeContext()) == "done"

    emitted = read_emf(capsys.readouterr().out)
    assert emitted.counts() == {
        "Imports{operation=import}": 1,
        "TagsImported{operation=import}": 2,
        "TagsFailed{operation=import,reason=NotFound}": 1,
        "RegistryRequests{kind=manifest-get}": 2,
        "RegistryLatency{kind=manifest-get}": pytest.approx(32.0),
        "CacheMisses": 1,
    }
    assert emitted.samples("RegistryLatency") == [pytest.approx(12.0), pytest.approx(20.0)]
    # Counts are summed before printing: one value each, whatever the volume.
    assert len(emitted.documents) == 4
    assert provider.recorded() == {}


def test_more_than_100_values_are_split_across_documents(
    provider: InvocationMetrics, capsys: pytest.CaptureFixture[str]
) -> None:
    def record(recorder: Telemetry) -> None:
        for _ in range(250):
            recorder.registry_request("blob-get", 0.001)

    handler_recording(provider, record)({}, FakeContext())

    emitted = read_emf(capsys.readouterr().out)
    assert len(emitted.samples("RegistryLatency", kind="blob-get")) == 250
    assert emitted.total("RegistryRequests", kind="blob-get") == 250
    assert len(emitted.documents) == 3  # 100 + 100 + 50 values, checked by read_emf


def test_registry_hosts_are_bounded_per_invocation(
    provider: InvocationMetrics, capsys: pytest.CaptureFixture[str]
) -> None:
    hosts = [f"registry-{n}.example" for n in range(8)]

    def record(recorder: Telemetry) -> None:
        for host in [*hosts, *hosts]:
            recorder.registry_throttled(host)

    handler_recording(provider, record)({}, FakeContext())
    first = read_emf(capsys.readouterr().out)
    handler_recording(provider, lambda recorder: recorder.registry_retry(hosts[7]))({}, None)
    second = read_emf(capsys.readouterr().out)

    named = {dict(dims)["host"] for _, dims in first.values}
    assert named == {*hosts[:5], "other"}
    assert first.total("RegistryThrottles", host="other") == 6
    # The next invocation starts afresh: the eighth host is named again.
    assert second.counts() == {f"RegistryRetries{{host={hosts[7]}}}": 1}


@pytest.mark.parametrize(
    ("reason", "dimension"),
    [
        ("NotFound", "NotFound"),
        ("Unauthorized", "Unauthorized"),
        ("Forbidden", "Forbidden"),
        ("TooManyRequests", "TooManyRequests"),
        ("InternalError", "InternalError"),
        ("SomethingNew", "Other"),
        ("", "Other"),
    ],
    ids=lambda value: value or "empty",
)
def test_failure_reasons_are_a_closed_set(reason: str, dimension: str) -> None:
    assert telemetry.failure_reason(status(reason)) == dimension


class BrokenSink:
    def record(self, *args: Any) -> None:
        raise RuntimeError("sink down")

    def bounded(self, *args: Any) -> str:
        raise RuntimeError("sink down")


def test_recording_never_fails_the_caller() -> None:
    recorder = Telemetry(BrokenSink())

    recorder.imported("job", [status(None)])
    recorder.registry_throttled("registry.example")
    recorder.authorization("deny")


@pytest.mark.parametrize(
    ("variables", "why"),
    [
        ({"POWERTOOLS_METRICS_NAMESPACE": ""}, "no namespace"),
        ({"POWERTOOLS_METRICS_DISABLED": "true"}, "disabled"),
        ({"POWERTOOLS_DEV": "true"}, "development mode"),
    ],
    ids=["no-namespace", "disabled", "dev-mode"],
)
def test_nothing_is_printed_when_metrics_cannot_or_must_not_be_emitted(
    provider: InvocationMetrics,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    why: str,
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    answer = handler_recording(provider, lambda recorder: recorder.job_started())({}, None)

    assert answer == "done", why
    assert read_emf(capsys.readouterr().out).documents == []
    assert provider.recorded() == {}


def test_an_output_that_fails_does_not_fail_the_invocation(provider: InvocationMetrics) -> None:
    def broken(documents: Any) -> None:
        raise OSError("stdout closed")

    provider.output = broken

    assert handler_recording(provider, lambda recorder: recorder.job_started())({}, None) == "done"


def test_a_failing_handler_still_flushes_what_it_recorded(
    provider: InvocationMetrics, capsys: pytest.CaptureFixture[str]
) -> None:
    def record(recorder: Telemetry) -> None:
        recorder.authorization("deny")
        raise PermissionError("Unauthorized")

    with pytest.raises(PermissionError):
        handler_recording(provider, record)({}, None)

    assert read_emf(capsys.readouterr().out).counts() == {"Authorizations{decision=deny}": 1}


def test_powertools_add_metric_lands_with_the_rest(
    provider: InvocationMetrics, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = Metrics(provider=provider)

    @metrics.log_metrics
    def handler(event: Any, context: Any) -> None:
        metrics.add_metric(name="Custom", unit="Count", value=2)
        metrics.add_metric(name="Custom", unit="Count", value=3)

    handler({}, None)

    assert read_emf(capsys.readouterr().out).counts() == {"Custom": 5}


def test_the_catalogue_names_each_metric_once() -> None:
    names = [metric.name for metric in CATALOGUE]

    assert len(names) == len(set(names))
    assert all(metric.unit in {"Count", "Milliseconds", "Seconds"} for metric in CATALOGUE)


def test_the_readme_documents_every_metric() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Operating it", 1)[1].split("\n## ", 1)[0]

    for metric in CATALOGUE:
        assert f"`{metric.name}`" in section, metric.name
        for dimension in metric.dimensions:
            assert f"`{dimension}`" in section, (metric.name, dimension)


# --- tracing, off -----------------------------------------------------------------


@pytest.mark.parametrize(
    "variables",
    [
        {"POWERTOOLS_TRACE_DISABLED": "true", "LAMBDA_TASK_ROOT": "/var/task"},
        {"POWERTOOLS_TRACE_DISABLED": "false"},  # outside Lambda
        {"POWERTOOLS_TRACE_DISABLED": "false", "LAMBDA_TASK_ROOT": "/t", "AWS_SAM_LOCAL": "true"},
    ],
    ids=["disabled", "outside-lambda", "sam-local"],
)
def test_tracing_off_builds_nothing(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]
) -> None:
    for name in ("LAMBDA_TASK_ROOT", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    lazy = LazyTracer()

    @lazy.capture_lambda_handler
    def handler(event: Any, context: Any) -> str:
        with lazy.subsegment("registry manifest-get") as subsegment:
            observability.annotate(subsegment, status=200)
            assert subsegment is None
        return "done"

    assert handler({}, None) == "done"
    assert lazy.tracer() is None
    assert lazy.carried(len) is len


def test_with_tracing_off_the_handlers_never_import_the_xray_sdk() -> None:
    code = (
        "import sys; sys.path[:0] = ['layers/imagestreams', 'functions/api']; import app; "
        "from imagestreams.observability import tracer; "
        "print(tracer.tracer(), 'aws_xray_sdk' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"POWERTOOLS_TRACE_DISABLED": "true", "LAMBDA_TASK_ROOT": str(ROOT)},
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None", "False"]


def test_traced_methods_keep_their_behaviour() -> None:
    lazy = LazyTracer()

    @lazy.trace_methods("store")
    class Store:
        def get(self, key: str) -> str:
            return key.upper()

        def _private(self) -> int:
            return 1

        def items(self) -> Iterator[int]:
            yield 1

    store = Store()
    assert store.get("a") == "A"
    assert Store.get.__name__ == "get"
    assert Store._private is Store.__dict__["_private"]
    assert list(store.items()) == [1]

"""The local server's SQS side: events, batch responses, the poller, per-function environments.

Handlers here are fakes; ``tests/integration/test_queue.py`` drains the
template's own queues with them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import SqsModel

from devserver.__main__ import LOCAL_DEFAULTS, _function_environments, local_overrides
from devserver.environment import (
    FunctionEnvironments,
    isolated_loader,
    private_modules,
    split_environments,
)
from devserver.queues import (
    MalformedBatchResponseError,
    QueuePoller,
    failed_message_ids,
    queue_depth,
    sqs_event,
)
from devserver.resources import create_resources
from devserver.template import FunctionSpec, QueueEvent, Template, load_template
from imagestreams.config import load_settings
from imagestreams.jobs import ChunkMessage
from imagestreams.registry.addresses import AddressPolicy
from testkit.events import event_names, load_event

ROOT = Path(__file__).resolve().parents[2]
ARN = "arn:aws:sqs:us-east-1:123456789012:imports"
RECORD_KEYS = [
    "messageId",
    "receiptHandle",
    "body",
    "attributes",
    "messageAttributes",
    "md5OfBody",
    "eventSource",
    "eventSourceARN",
    "awsRegion",
]


def _template(text: str, tmp_path: Path) -> Template:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_template(path)


def received(body: str = '{"a":1}', **extra: Any) -> dict[str, Any]:
    """A message as ReceiveMessage returns it with every attribute."""
    return {
        "MessageId": "m-1",
        "ReceiptHandle": "handle-1",
        "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "Body": body,
        "Attributes": {
            "SenderId": "AIDAEXAMPLE",
            "SentTimestamp": "1748779200123",
            "ApproximateReceiveCount": "2",
            "ApproximateFirstReceiveTimestamp": "1748779200456",
        },
        **extra,
    }


# --- Events ---------------------------------------------------------------------


def test_sqs_event_has_the_shape_lambda_gives() -> None:
    event = sqs_event([received(), {**received(), "MessageId": "m-2"}], ARN, "eu-west-1")

    assert list(event) == ["Records"]
    first = event["Records"][0]
    assert list(first) == RECORD_KEYS
    assert first["messageId"] == "m-1"
    assert first["receiptHandle"] == "handle-1"
    assert first["body"] == '{"a":1}'
    assert first["attributes"]["ApproximateReceiveCount"] == "2"
    assert set(first["attributes"]) == {
        "SenderId",
        "SentTimestamp",
        "ApproximateReceiveCount",
        "ApproximateFirstReceiveTimestamp",
    }
    assert first["messageAttributes"] == {}
    assert first["md5OfBody"] == hashlib.md5(b'{"a":1}').hexdigest()
    assert (first["eventSource"], first["eventSourceARN"], first["awsRegion"]) == (
        "aws:sqs",
        ARN,
        "eu-west-1",
    )
    assert [record["messageId"] for record in event["Records"]] == ["m-1", "m-2"]
    SqsModel.model_validate(event)


def test_sqs_event_message_attributes_are_camel_case_with_base64_binaries() -> None:
    message = received(
        MessageAttributes={
            "kind": {"StringValue": "chunk", "DataType": "String"},
            "blob": {"BinaryValue": b"\x00\xff", "DataType": "Binary"},
        },
        MD5OfMessageAttributes="0123456789abcdef0123456789abcdef",
    )

    record = sqs_event([message], ARN)["Records"][0]

    assert record["messageAttributes"] == {
        "kind": {
            "stringValue": "chunk",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "blob": {
            "binaryValue": base64.b64encode(b"\x00\xff").decode(),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        },
    }
    assert record["md5OfMessageAttributes"] == "0123456789abcdef0123456789abcdef"
    SqsModel.model_validate({"Records": [record]})


def test_sqs_event_from_a_message_moto_delivered(aws: boto3.Session) -> None:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    (message,) = sqs.receive_message(
        QueueUrl=url, MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"]
    )["Messages"]

    record = sqs_event([message], ARN)["Records"][0]

    assert list(record) == RECORD_KEYS
    assert record["md5OfBody"] == hashlib.md5(b"hello").hexdigest()
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    SqsModel.model_validate({"Records": [record]})


SQS_EVENTS = [name for name in event_names() if name.startswith("sqs-")]


def test_there_are_sample_sqs_events() -> None:
    assert set(SQS_EVENTS) >= {"sqs-import-chunk", "sqs-import-chunk-redelivered"}


@pytest.mark.parametrize("name", SQS_EVENTS)
def test_sample_sqs_events_match_what_the_server_builds(name: str) -> None:
    sample = load_event(name)
    (record,) = sample["Records"]
    message = {
        "MessageId": record["messageId"],
        "ReceiptHandle": record["receiptHandle"],
        "Body": record["body"],
        "Attributes": record["attributes"],
        "MessageAttributes": {},
    }

    assert sqs_event([message], record["eventSourceARN"], record["awsRegion"]) == sample
    assert ChunkMessage.model_validate_json(record["body"]).tags
    SqsModel.model_validate(sample)


def test_redelivered_sample_is_the_same_chunk_on_its_last_receive() -> None:
    first = load_event("sqs-import-chunk")["Records"][0]
    again = load_event("sqs-import-chunk-redelivered")["Records"][0]

    assert first["attributes"]["ApproximateReceiveCount"] == "1"
    assert again["attributes"]["ApproximateReceiveCount"] == "3"
    assert (again["messageId"], again["body"]) == (first["messageId"], first["body"])
    assert again["receiptHandle"] != first["receiptHandle"]


# --- Batch responses ----------------------------------------------------------------

IDS = ["a", "b", "c"]
ALL = set(IDS)


@pytest.mark.parametrize(
    ("result", "report", "failed"),
    [
        (None, True, set()),
        ({}, True, set()),
        ({"batchItemFailures": None}, True, set()),
        ({"batchItemFailures": []}, True, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, True, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": i} for i in IDS]}, True, ALL),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, False, set()),
        ("anything", False, set()),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, True, None),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, True, None),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, True, None),
        ({"batchItemFailures": [{"id": "b"}]}, True, None),
        ({"batchItemFailures": "b"}, True, None),
        ("not an object", True, None),
    ],
    ids=[
        "none",
        "empty-object",
        "null-list",
        "empty-list",
        "one-failed",
        "all-failed",
        "not-reporting",
        "not-reporting-any-result",
        "unknown-id",
        "empty-id",
        "null-id",
        "bad-key",
        "not-a-list",
        "not-an-object",
    ],
)
def test_batch_responses_read_as_lambda_reads_them(
    result: Any, report: bool, failed: set[str] | None
) -> None:
    if failed is None:
        with pytest.raises(MalformedBatchResponseError):
            failed_message_ids(result, IDS, report_batch_item_failures=report)
    else:
        assert failed_message_ids(result, IDS, report_batch_item_failures=report) == failed


# --- Queue events in the template ----------------------------------------------------


def test_project_worker_consumes_the_import_queue() -> None:
    template = load_template(ROOT / "template.yaml")
    specs = {spec.logical_id: spec for spec in template.functions()}

    assert specs["ApiFunction"].queue_events == ()
    assert specs["WorkerFunction"].queue_events == (
        QueueEvent(
            name="ImportChunks",
            function_id="WorkerFunction",
            queue={"Fn::GetAtt": ["ImportQueue", "Arn"]},
            batch_size=1,
            report_batch_item_failures=True,
            maximum_concurrency=5,
        ),
    )


QUEUE_TEMPLATE = """
Parameters:
  Most: {Type: Number, Default: 3}
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
  Other:
    Type: AWS::SQS::Queue
  Consumer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.handler
      Timeout: 10
      Environment:
        Variables:
          SHARED: same
          ONLY_CONSUMER: consumer
          DIFFERS: consumer
      Events:
        FromJobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 2
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig: {MaximumConcurrency: !Ref Most}
        Disabled:
          Type: SQS
          Properties:
            Queue: !GetAtt Other.Arn
            Enabled: false
  Plain:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.handler
      Environment:
        Variables:
          SHARED: same
          DIFFERS: plain
      Events:
        Defaults:
          Type: SQS
          Properties:
            Queue: !GetAtt Other.Arn
"""


def test_queue_events_resolve_parameters_and_take_sams_defaults(tmp_path: Path) -> None:
    specs = {spec.logical_id: spec for spec in _template(QUEUE_TEMPLATE, tmp_path).functions()}

    from_jobs, disabled = specs["Consumer"].queue_events
    (defaults,) = specs["Plain"].queue_events
    assert (from_jobs.batch_size, from_jobs.report_batch_item_failures) == (2, True)
    assert from_jobs.maximum_concurrency == 3
    assert from_jobs.enabled
    assert not disabled.enabled
    assert (defaults.batch_size, defaults.report_batch_item_failures) == (10, False)
    assert defaults.maximum_concurrency is None


# --- The background poller -------------------------------------------------------------


def test_poller_feeds_each_queue_to_its_function_and_retries_failures(
    aws: boto3.Session, tmp_path: Path
) -> None:
    # Given the consumer's queue and a handler failing one record on its first receive
    template = _template(QUEUE_TEMPLATE, tmp_path)
    created = create_resources(template, session=aws)
    seen: list[tuple[str, str, int]] = []
    lock = threading.Lock()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        failures = []
        with lock:
            for record in event["Records"]:
                count = record["attributes"]["ApproximateReceiveCount"]
                seen.append((record["body"], count, len(event["Records"])))
                if record["body"] == "flaky" and count == "1":
                    failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    def loader(spec: FunctionSpec) -> Any:
        return handler

    lines: list[str] = []
    poller = QueuePoller.from_template(
        template, created, loader=loader, retry_after=0, idle_wait=0.02, log=lines.append
    )
    sqs = aws.client("sqs")
    url = created.refs["Jobs"]
    for body in ("one", "flaky", "three"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    # When the poller runs until the queue is empty
    assert [(s.function_id, s.queue_id) for s in poller.subscriptions] == [
        ("Consumer", "Jobs"),
        ("Plain", "Other"),
    ]
    with poller:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
            queue_depth(sqs, url) or len([s for s in seen if s[0] == "flaky"]) < 2
        ):
            time.sleep(0.02)
    # Then every record was handled in batches of at most two, the flaky one twice
    assert sorted((body, count) for body, count, _ in seen) == [
        ("flaky", "1"),
        ("flaky", "2"),
        ("one", "1"),
        ("three", "1"),
    ]
    assert max(size for _, _, size in seen) <= 2
    assert queue_depth(sqs, url) == 0
    assert any("back on the queue" in line for line in lines)
    assert poller.runtimes["Consumer"].spec.timeout == 10


# --- Per-function environments -------------------------------------------------------------


def test_split_environments_keeps_what_all_share_apart() -> None:
    shared, own = split_environments(
        {
            "Api": {"SHARED": "1", "TABLE": "t", "QUEUE_URL": "q", "LEVEL": "a"},
            "Worker": {"SHARED": "1", "TABLE": "t", "RECEIVES": "3", "LEVEL": "b"},
        }
    )

    assert shared == {"SHARED": "1", "TABLE": "t"}
    assert own == {
        "Api": {"QUEUE_URL": "q", "LEVEL": "a"},
        "Worker": {"RECEIVES": "3", "LEVEL": "b"},
    }


@pytest.fixture
def environments() -> FunctionEnvironments:
    process = {"HOME": "/home/x", "QUEUE_URL": "from-the-shell"}
    return FunctionEnvironments(
        process, {"Api": {"QUEUE_URL": "q", "LEVEL": "a"}, "Worker": {"LEVEL": "b"}}
    )


def test_each_function_sees_its_own_variables(environments: FunctionEnvironments) -> None:
    # Given two threads, one running each function, at the same time
    views: dict[str, dict[str, str]] = {}
    both = threading.Barrier(2)

    def run(function_id: str) -> None:
        with environments.activate(function_id):
            both.wait()
            views[function_id] = dict(environments)

    threads = [threading.Thread(target=run, args=(f,)) for f in ("Api", "Worker")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then neither sees the other's variables, nor the shell's stand-in
    assert views["Api"] == {"HOME": "/home/x", "QUEUE_URL": "q", "LEVEL": "a"}
    assert views["Worker"] == {"HOME": "/home/x", "LEVEL": "b"}
    assert dict(environments) == {"HOME": "/home/x"}
    assert environments.current is None


def test_writes_stay_with_the_function_that_owns_the_name(
    environments: FunctionEnvironments,
) -> None:
    with environments.activate("Worker"):
        environments["LEVEL"] = "debug"
        environments["QUEUE_URL"] = "mine"
        environments["NEW"] = "shared"
        assert environments.get("QUEUE_URL") == "mine"
    with environments.activate("Api"):
        assert environments["LEVEL"] == "a"
        assert environments["QUEUE_URL"] == "q"
        assert environments["NEW"] == "shared"
        del environments["LEVEL"]
        assert "LEVEL" not in environments
    with environments.activate("Worker"):
        assert environments["LEVEL"] == "debug"
    with pytest.raises(KeyError):
        environments.activate("Unknown").__enter__()


def test_installed_environments_are_what_os_environ_and_getenv_read() -> None:
    environments = FunctionEnvironments(os.environ, {"Fn": {"DEVSERVER_TEST_ONLY": "yes"}})
    environments.install()
    try:
        assert os.environ is environments
        assert os.getenv("DEVSERVER_TEST_ONLY") is None
        with environments.activate("Fn"):
            assert os.getenv("DEVSERVER_TEST_ONLY") == "yes"
            assert os.environ.copy()["DEVSERVER_TEST_ONLY"] == "yes"
    finally:
        environments.uninstall()
    assert os.environ is not environments
    assert "DEVSERVER_TEST_ONLY" not in os.environ


@pytest.fixture
def package(tmp_path: Path) -> Iterator[str]:
    """A package ``devpkg`` whose ``root`` module caches the environment it first sees."""
    root = tmp_path / "lib" / "devpkg"
    root.mkdir(parents=True)
    (root / "__init__.py").write_text("", encoding="utf-8")
    (root / "root.py").write_text(
        "import functools, os\n"
        "@functools.cache\n"
        "def settings():\n"
        "    return os.environ.get('LEVEL')\n",
        encoding="utf-8",
    )
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(
        "from devpkg import root\n"
        "import os\n"
        "def handler(event, context):\n"
        "    return {'cached': root.settings(), 'now': os.environ.get('LEVEL'),\n"
        "            'module': id(root)}\n",
        encoding="utf-8",
    )
    sys.path.insert(0, str(tmp_path / "lib"))
    try:
        yield str(code)
    finally:
        sys.path.remove(str(tmp_path / "lib"))
        for name in [n for n in sys.modules if n == "devpkg" or n.startswith("devpkg.")]:
            del sys.modules[name]


def _function(logical_id: str, code: str) -> FunctionSpec:
    return FunctionSpec(logical_id, Path(code), "app.handler", 3, 128, {})


def test_isolated_loader_gives_each_function_its_environment_and_composition_root(
    package: str,
) -> None:
    # Given two functions whose handlers share a package with a cached setting
    environments = FunctionEnvironments(
        os.environ, {"Api": {"LEVEL": "api"}, "Worker": {"LEVEL": "w"}}
    )
    load = isolated_loader(environments, ["devpkg.root"])
    import devpkg.root  # type: ignore[import-not-found]  # the server's own copy

    # When each is loaded and called, the worker first
    environments.install()
    try:
        worker, api = load(_function("Worker", package)), load(_function("Api", package))
        from_worker, from_api = worker({}, None), api({}, None)
    finally:
        environments.uninstall()
    # Then each cached its own settings in its own copy, and the server's copy is untouched
    assert from_worker["cached"] == from_worker["now"] == "w"
    assert from_api["cached"] == from_api["now"] == "api"
    assert from_worker["module"] != from_api["module"]
    assert sys.modules["devpkg.root"] is devpkg.root
    assert sys.modules["devpkg"].root is devpkg.root
    assert id(devpkg.root) not in {from_worker["module"], from_api["module"]}


def test_private_modules_restore_what_was_not_imported_before(package: str) -> None:
    sys.path.insert(0, package)
    try:
        with private_modules(["devpkg.root"]):
            import app  # type: ignore[import-not-found]  # noqa: F401 - imports devpkg.root

            assert "devpkg.root" in sys.modules
        assert "devpkg.root" not in sys.modules
        assert not hasattr(sys.modules["devpkg"], "root")
    finally:
        sys.path.remove(package)
        sys.modules.pop("app", None)


def test_devserver_environment_is_per_function(aws: boto3.Session) -> None:
    template = load_template(ROOT / "template.yaml")
    created = create_resources(template, session=aws)
    values = {
        spec.logical_id: created.environment(spec.logical_id) for spec in template.functions()
    }
    saved = dict(os.environ)
    try:
        environments = _function_environments(values, LOCAL_DEFAULTS)
        with environments.activate("ApiFunction"):
            api = dict(environments)
        with environments.activate("WorkerFunction"):
            worker = dict(environments)
    finally:
        os.environ.clear()
        os.environ.update(saved)

    assert api["IMPORT_QUEUE_URL"] == created.refs["ImportQueue"]
    assert "IMPORT_QUEUE_URL" not in worker
    assert worker["CHUNK_MAX_RECEIVES"] == "3"
    assert "CHUNK_MAX_RECEIVES" not in api
    for name, value in LOCAL_DEFAULTS.items():
        assert api[name] == worker[name] == value
    assert api["STREAMS_TABLE"] == worker["STREAMS_TABLE"] == created.name("StreamsTable")
    assert json.dumps(api)  # plain strings only


# Addresses and whether the functions may reach them, for each environment
# `make run` may be started in. The template refuses every non-public one.
LOOPBACK, PRIVATE, METADATA, PUBLIC = "127.0.0.1", "10.0.0.1", "169.254.169.254", "8.8.8.8"
ADDRESS_POLICIES = [
    pytest.param(
        {},
        {LOOPBACK: True, "::1": True, PRIVATE: False, METADATA: False, PUBLIC: True},
        id="default-allows-loopback-only",
    ),
    pytest.param(
        {"ALLOW_PRIVATE_REGISTRIES": "false"},
        {LOOPBACK: False, "::1": False, PRIVATE: False, METADATA: False, PUBLIC: True},
        id="caller-false-is-the-deployed-policy",
    ),
    pytest.param(
        {"ALLOW_PRIVATE_REGISTRIES": "true"},
        {LOOPBACK: True, "::1": True, PRIVATE: True, METADATA: True, PUBLIC: True},
        id="caller-true-allows-private-ranges",
    ),
    pytest.param(
        {"ALLOWED_PRIVATE_CIDRS": "10.0.0.0/8"},
        {LOOPBACK: False, "::1": False, PRIVATE: True, METADATA: False, PUBLIC: True},
        id="caller-cidrs-replace-the-local-ones",
    ),
    pytest.param(
        {"ALLOWED_PRIVATE_CIDRS": ""},
        {LOOPBACK: False, "::1": False, PRIVATE: False, METADATA: False, PUBLIC: True},
        id="caller-empty-cidrs-count-as-set",
    ),
]


@pytest.mark.parametrize(("caller", "permitted"), ADDRESS_POLICIES)
def test_devserver_address_policy_is_the_callers_or_loopback_only(
    aws: boto3.Session,
    monkeypatch: pytest.MonkeyPatch,
    caller: dict[str, str],
    permitted: dict[str, bool],
) -> None:
    # Given the template's environments, and `make run` started with `caller` set
    template = load_template(ROOT / "template.yaml")
    created = create_resources(template, session=aws)
    values = {
        spec.logical_id: created.environment(spec.logical_id) for spec in template.functions()
    }
    for name in LOCAL_DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    for name, value in caller.items():
        monkeypatch.setenv(name, value)

    # When the local server composes each function's environment from them
    saved = dict(os.environ)
    try:
        environments = _function_environments(values, local_overrides(os.environ))
        settings = {}
        for function_id in values:
            with environments.activate(function_id):
                settings[function_id] = load_settings(environments)
    finally:
        os.environ.clear()
        os.environ.update(saved)

    # Then every function's address policy permits exactly what is expected
    for function_id, setting in settings.items():
        policy = AddressPolicy.from_settings(
            setting.allow_private_registries, setting.private_cidrs()
        )
        answers = {address: policy.permits(address) for address in permitted}
        assert answers == permitted, function_id

"""template.yaml: valid offline, and consistent with the code it deploys.

The linters run as subprocesses without AWS credentials or a region, as on a
fresh machine. The other checks read the template with the local server's
loader and compare it with what exists on disk and what the code expects.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devserver.gateway import DEFAULT_STATUS
from devserver.template import Template, load_template
from imagestreams.config import Settings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
IMPORTS_PATH = "/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreamimports"


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(TEMPLATE)


def _tool(name: str) -> str:
    path = Path(sys.executable).with_name(name)
    assert path.exists(), f"{name} is missing from the virtualenv (pip install -e '.[dev]')"
    return str(path)


def _offline_environment() -> dict[str, str]:
    """The environment without any AWS setting: no credentials, no region."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environ["SAM_CLI_TELEMETRY"] = "0"
    return environ


def test_cfn_lint_passes() -> None:
    result = subprocess.run(
        [_tool("cfn-lint"), str(TEMPLATE)],
        capture_output=True,
        text=True,
        env=_offline_environment(),
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_sam_validate_lint_passes_without_credentials_or_region(tmp_path: Path) -> None:
    environ = _offline_environment()
    environ["HOME"] = str(tmp_path)  # sam keeps its metadata in the home directory
    result = subprocess.run(
        [_tool("sam"), "validate", "--lint", "--template-file", str(TEMPLATE)],
        capture_output=True,
        text=True,
        env=environ,
        cwd=ROOT,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_cache_table_matches_what_the_code_expects(template: Template) -> None:
    props = template.properties("ImageCacheTable")

    assert props["KeySchema"] == [{"AttributeName": "digest", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "digest", "AttributeType": "S"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_streams_table_matches_what_the_stores_expect(template: Template) -> None:
    props = template.properties("StreamsTable")
    policies = template.properties("ApiFunction")["Policies"]

    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert props["AttributeDefinitions"] == [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert "TimeToLiveSpecification" not in props
    assert template.function_environment("ApiFunction")["STREAMS_TABLE"] == {"Ref": "StreamsTable"}
    assert {"DynamoDBCrudPolicy": {"TableName": {"Ref": "StreamsTable"}}} in policies


def test_api_function_environment_names_settings_the_code_reads(template: Template) -> None:
    variables = template.function_environment("ApiFunction")
    known = {field.alias for field in Settings.model_fields.values() if field.alias}
    powertools = {name for name in variables if name.startswith("POWERTOOLS_")}

    assert set(variables) - powertools <= known
    assert variables["IMAGE_CACHE_TABLE"] == {"Ref": "ImageCacheTable"}
    assert variables["ALLOW_PRIVATE_REGISTRIES"] == "false"
    assert variables["POWERTOOLS_SERVICE_NAME"] == "imagestreams"


def test_every_function_code_uri_and_handler_exist(template: Template) -> None:
    functions = template.functions()

    assert functions, "the template defines no function"
    for spec in functions:
        assert spec.code_uri.is_dir(), f"{spec.logical_id}: {spec.code_uri} is missing"
        assert spec.module_file.is_file(), f"{spec.logical_id}: {spec.module_file} is missing"
        source = spec.module_file.read_text(encoding="utf-8")
        assert f"def {spec.handler_name}(" in source, f"{spec.logical_id}: {spec.handler}"


def test_layer_content_and_requirements_exist(template: Template) -> None:
    layers = template.resources_of_type("AWS::Serverless::LayerVersion")

    assert layers
    for logical_id, layer in layers.items():
        content = ROOT / layer["Properties"]["ContentUri"]
        assert (content / "requirements.txt").is_file(), logical_id
        assert layer["Metadata"]["BuildMethod"] == "python3.12"


def test_routes_include_imports_and_catch_all(template: Template) -> None:
    routes = {(route.method, route.path) for route in template.routes()}

    assert ("POST", IMPORTS_PATH) in routes
    assert ("ANY", "/{proxy+}") in routes


def test_functions_behind_api_gateway_fit_its_timeout(template: Template) -> None:
    behind_api = [spec for spec in template.functions() if spec.routes]

    assert behind_api
    for spec in behind_api:
        # API Gateway gives up after 29 s; a longer function would be cut off unseen.
        assert spec.timeout <= 29, spec.logical_id


def _render(body_template: str) -> Any:
    message = json.dumps('a "quoted" message')
    return json.loads(body_template.replace("$context.error.messageString", message))


def test_gateway_responses_are_kubernetes_statuses(template: Template) -> None:
    responses = template.gateway_responses()

    assert {"DEFAULT_4XX", "DEFAULT_5XX", "REQUEST_TOO_LARGE", "THROTTLED", "UNAUTHORIZED"} <= set(
        responses
    )
    for response_type, response in responses.items():
        status = _render(response.templates["application/json"])
        expected_code = response.status_code or DEFAULT_STATUS.get(response_type)
        assert response.headers["Content-Type"] == "application/json", response_type
        assert status["kind"] == "Status", response_type
        assert status["apiVersion"] == "v1", response_type
        assert status["status"] == "Failure", response_type
        assert status["reason"], response_type
        assert status["message"], response_type
        if expected_code is not None:
            assert status["code"] == expected_code, response_type


# --- The import queue and the worker -------------------------------------------

WORKER = "WorkerFunction"
QUEUE = "ImportQueue"
DEAD_LETTERS = "ImportDeadLetterQueue"
SECRETS_POLICY = {
    "AWSSecretsManagerGetSecretValuePolicy": {
        "SecretArn": {
            "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:"
            "${AWS::AccountId}:secret:${PullSecretPrefix}/*"
        }
    }
}


def _resolved(template: Template, value: Any) -> Any:
    """``value`` with parameters (at their defaults) and pseudo parameters resolved."""
    return template.intrinsics().resolve(value)


def _sqs_events(template: Template, function_id: str) -> dict[str, dict[str, Any]]:
    events = template.properties(function_id).get("Events") or {}
    return {name: event for name, event in events.items() if event.get("Type") == "SQS"}


def _spec(template: Template, function_id: str) -> Any:
    return next(spec for spec in template.functions() if spec.logical_id == function_id)


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    """The template as CloudFormation gets it after the SAM transform (offline).

    Code locations become S3 URIs, as ``sam package`` makes them; nothing
    else changes. The translator needs a region, never credentials.
    """
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.yaml_helper import yaml_parse

    document = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
    for resource in document["Resources"].values():
        props = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if key in props:
                props[key] = "s3://bucket/key"
    translator = Translator({}, Parser(), boto_session=boto3.Session(region_name="us-east-1"))
    result: dict[str, Any] = translator.translate(document, parameter_values={})
    return result


def test_worker_consumes_the_import_queue_with_partial_batch_failures(
    template: Template,
) -> None:
    (event,) = _sqs_events(template, WORKER).values()
    props = event["Properties"]

    assert props["Queue"] == {"Fn::GetAtt": [QUEUE, "Arn"]}
    assert 1 <= props["BatchSize"] <= 10
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert int(_resolved(template, props["ScalingConfig"]["MaximumConcurrency"])) >= 2
    assert props["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "WorkerMaxConcurrency"}


def test_import_queue_visibility_is_six_times_the_worker_timeout(template: Template) -> None:
    timeout = _spec(template, WORKER).timeout  # the function's own, else Globals'
    visibility = int(_resolved(template, template.properties(QUEUE)["VisibilityTimeout"]))

    assert timeout <= 900
    assert visibility >= 6 * timeout


def test_transformed_template_keeps_visibility_six_times_the_worker_timeout(
    transformed: dict[str, Any],
) -> None:
    resources = transformed["Resources"]
    mappings = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and r["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [QUEUE, "Arn"]}
    ]

    assert len(mappings) == 1
    mapping = mappings[0]
    function = resources[mapping["FunctionName"]["Ref"]]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "MaximumConcurrency" in mapping["ScalingConfig"]
    assert resources[QUEUE]["Properties"]["VisibilityTimeout"] >= 6 * function["Timeout"]


def test_redrive_receive_count_equals_the_workers_chunk_max_receives(template: Template) -> None:
    redrive = template.properties(QUEUE)["RedrivePolicy"]
    variables = template.function_environment(WORKER)
    default = Settings.model_validate({}).chunk_max_receives

    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [DEAD_LETTERS, "Arn"]}
    assert int(redrive["maxReceiveCount"]) == int(variables["CHUNK_MAX_RECEIVES"]) == default


@pytest.mark.parametrize("queue", [QUEUE, DEAD_LETTERS])
def test_queues_are_encrypted(template: Template, queue: str) -> None:
    assert template.properties(queue)["SqsManagedSseEnabled"] is True


def test_dead_letters_outlive_the_messages_they_came_from(template: Template) -> None:
    # A standard queue's message keeps its first enqueue time in the DLQ.
    source = int(template.properties(QUEUE).get("MessageRetentionPeriod", 345600))
    dead = int(template.properties(DEAD_LETTERS)["MessageRetentionPeriod"])

    assert dead == 14 * 24 * 3600
    assert dead > source


def test_api_function_may_send_to_the_import_queue_only(template: Template) -> None:
    policies = template.properties("ApiFunction")["Policies"]
    sqs = [p for p in policies if any(name.startswith("SQS") for name in p)]

    assert sqs == [{"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": [QUEUE, "QueueName"]}}}]
    assert template.function_environment("ApiFunction")["IMPORT_QUEUE_URL"] == {"Ref": QUEUE}


def test_worker_policies_are_the_tables_and_pull_secrets_only(template: Template) -> None:
    policies = template.properties(WORKER)["Policies"]
    api_policies = template.properties("ApiFunction")["Policies"]

    assert policies == [
        {"DynamoDBCrudPolicy": {"TableName": {"Ref": "ImageCacheTable"}}},
        {"DynamoDBCrudPolicy": {"TableName": {"Ref": "StreamsTable"}}},
        SECRETS_POLICY,
    ]
    assert SECRETS_POLICY in api_policies


def test_worker_environment(template: Template) -> None:
    variables = template.function_environment(WORKER)
    literal = {name: value for name, value in variables.items() if isinstance(value, str)}
    settings = Settings.model_validate(literal)

    assert variables["IMAGE_CACHE_TABLE"] == {"Ref": "ImageCacheTable"}
    assert variables["STREAMS_TABLE"] == {"Ref": "StreamsTable"}
    assert variables["PULL_SECRET_PREFIX"] == {"Ref": "PullSecretPrefix"}
    assert variables["ALLOW_PRIVATE_REGISTRIES"] == "false"
    assert "IMPORT_QUEUE_URL" not in variables
    assert settings.worker_time_budget < _spec(template, WORKER).timeout


@pytest.mark.parametrize("function_id", ["ApiFunction", WORKER])
def test_function_environment_names_settings_the_code_reads(
    template: Template, function_id: str
) -> None:
    variables = template.function_environment(function_id)
    known = {field.alias for field in Settings.model_fields.values() if field.alias}
    powertools = {name for name in variables if name.startswith("POWERTOOLS_")}

    assert set(variables) - powertools <= known


@pytest.mark.parametrize("function_id", ["ApiFunction", WORKER])
def test_functions_have_their_own_log_group(template: Template, function_id: str) -> None:
    group = template.properties(f"{function_id}LogGroup")

    assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{function_id}}}"}
    assert group["RetentionInDays"] == 30


def test_outputs_name_the_queues(template: Template) -> None:
    outputs = template.document["Outputs"]

    assert outputs["ImportQueueUrl"]["Value"] == {"Ref": QUEUE}
    assert outputs["ImportDeadLetterQueueUrl"]["Value"] == {"Ref": DEAD_LETTERS}

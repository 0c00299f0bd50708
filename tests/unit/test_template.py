"""template.yaml: valid offline, and consistent with the code it deploys.

The linters run as subprocesses without AWS credentials or a region, as on a
fresh machine. The other checks read the template with the local server's
loader and compare it with what exists on disk and what the code expects.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devserver.gateway import DEFAULT_STATUS
from devserver.template import Template, load_template
from imagestreams.adapters.stream_items import CHANGES_INDEX, SCHEDULE_INDEX, TRACKING_INDEX
from imagestreams.config import Settings
from imagestreams.telemetry import AUTHORIZATIONS, CATALOGUE

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

    # Entries are bound to the repository they were verified at (digest + source).
    assert props["KeySchema"] == [
        {"AttributeName": "digest", "KeyType": "HASH"},
        {"AttributeName": "source", "KeyType": "RANGE"},
    ]
    assert props["AttributeDefinitions"] == [
        {"AttributeName": "digest", "AttributeType": "S"},
        {"AttributeName": "source", "AttributeType": "S"},
    ]
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
        {"AttributeName": "tracks", "AttributeType": "S"},
        {"AttributeName": "scheduled", "AttributeType": "S"},
        {"AttributeName": "changes", "AttributeType": "S"},
        {"AttributeName": "resourceVersion", "AttributeType": "N"},
    ]
    indexes = {index["IndexName"]: index for index in props["GlobalSecondaryIndexes"]}
    assert indexes[TRACKING_INDEX]["KeySchema"] == [{"AttributeName": "tracks", "KeyType": "HASH"}]
    assert indexes[SCHEDULE_INDEX]["KeySchema"] == [
        {"AttributeName": "scheduled", "KeyType": "HASH"}
    ]
    # Watches and cluster-wide lists read stream metas in version order.
    assert indexes[CHANGES_INDEX]["KeySchema"] == [
        {"AttributeName": "changes", "KeyType": "HASH"},
        {"AttributeName": "resourceVersion", "KeyType": "RANGE"},
    ]
    assert indexes[CHANGES_INDEX]["Projection"] == {"ProjectionType": "ALL"}
    # The scheduler paces per registry: the schedule index must carry it.
    assert indexes[SCHEDULE_INDEX]["Projection"]["NonKeyAttributes"] == ["registry"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    # Only job items and tombstones carry the TTL attribute; streams and records never expire.
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert template.function_environment("ApiFunction")["STREAMS_TABLE"] == {"Ref": "StreamsTable"}
    assert {"DynamoDBCrudPolicy": {"TableName": {"Ref": "StreamsTable"}}} in policies


def test_reimports_run_on_a_schedule_and_on_ecr_pushes(template: Template) -> None:
    events = template.properties("SchedulerFunction")["Events"]
    parameters = template.parameter_values()

    assert events["Schedule"]["Type"] == "ScheduleV2"
    assert events["Schedule"]["Properties"]["ScheduleExpression"] == {"Ref": "ReimportSchedule"}
    assert parameters["ReimportSchedule"] == "rate(15 minutes)"
    pattern = events["EcrPush"]["Properties"]["Pattern"]
    assert pattern == {
        "source": ["aws.ecr"],
        "detail-type": ["ECR Image Action"],
        "detail": {"action-type": ["PUSH"], "result": ["SUCCESS"]},
    }
    policies = template.properties("SchedulerFunction")["Policies"]
    assert {"DynamoDBReadPolicy": {"TableName": {"Ref": "StreamsTable"}}} in policies
    assert {
        "SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["ImportQueue", "QueueName"]}}
    } in policies
    assert not any("Crud" in next(iter(p)) for p in policies)


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
            "${AWS::AccountId}:secret:${PullSecretPrefix}/*/pull-secret-??????"
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


def test_worker_policies_are_the_tables_pull_secrets_and_ecr_reads_only(
    template: Template,
) -> None:
    policies = template.properties(WORKER)["Policies"]
    api_policies = template.properties("ApiFunction")["Policies"]

    assert policies == [
        {"DynamoDBCrudPolicy": {"TableName": {"Ref": "ImageCacheTable"}}},
        {"DynamoDBCrudPolicy": {"TableName": {"Ref": "StreamsTable"}}},
        SECRETS_POLICY,
        {"Ref": "EcrReadPolicy"},
    ]
    assert SECRETS_POLICY in api_policies
    assert {"Ref": "EcrReadPolicy"} in api_policies


def test_the_role_reads_ecr_images_of_the_allowed_accounts_only(template: Template) -> None:
    policy = template.resources["EcrReadPolicy"]["Properties"]["PolicyDocument"]
    token, reads = policy["Statement"]
    every, listed = reads["Fn::If"][1:]

    # A registry password has no resource; image reads are scoped to the accounts allowed
    assert (token["Action"], token["Resource"]) == ("ecr:GetAuthorizationToken", "*")
    for statement in (every, listed):
        assert sorted(statement["Action"]) == ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    assert reads["Fn::If"][0] == "EcrEveryAccount"
    assert "Condition" not in every
    accounts = listed["Condition"]["StringEquals"]["aws:ResourceAccount"]["Fn::If"]
    assert accounts == [
        "EcrOwnAccount",
        [{"Ref": "AWS::AccountId"}],
        {"Fn::Split": [",", {"Ref": "EcrAccounts"}]},
    ]
    # The setting the code reads follows the same parameter; nothing else has ECR rights
    assert template.function_environment(WORKER)["ECR_ACCOUNTS"] == {
        "Fn::If": ["EcrOwnAccount", {"Ref": "AWS::AccountId"}, {"Ref": "EcrAccounts"}]
    }
    others = {k: v for k, v in template.resources.items() if k != "EcrReadPolicy"}
    assert "ecr:" not in json.dumps(others)
    authorizer = template.properties("AuthorizerFunction")
    assert {"Ref": "EcrReadPolicy"} not in authorizer.get("Policies", [])


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


@pytest.mark.parametrize("function_id", ["ApiFunction", WORKER, "AuthorizerFunction"])
def test_function_environment_names_settings_the_code_reads(
    template: Template, function_id: str
) -> None:
    variables = template.function_environment(function_id)
    known = {field.alias for field in Settings.model_fields.values() if field.alias}
    powertools = {name for name in variables if name.startswith("POWERTOOLS_")}

    assert set(variables) - powertools <= known


@pytest.mark.parametrize("function_id", ["ApiFunction", WORKER, "AuthorizerFunction"])
def test_functions_have_their_own_log_group(template: Template, function_id: str) -> None:
    group = template.properties(f"{function_id}LogGroup")

    assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{function_id}}}"}
    assert group["RetentionInDays"] == 30


def test_outputs_name_the_queues(template: Template) -> None:
    outputs = template.document["Outputs"]

    assert outputs["ImportQueueUrl"]["Value"] == {"Ref": QUEUE}
    assert outputs["ImportDeadLetterQueueUrl"]["Value"] == {"Ref": DEAD_LETTERS}


# --- Authentication, secrets and throttling -------------------------------------

AUTHORIZER = "AuthorizerFunction"
TOKEN_SECRET = "ApiTokensSecret"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:"
# Secrets Manager appends "-" and six random characters to a secret's name.
TOKEN_SECRET_ARN = f"{SECRET_ARN}imagestreams/api-tokens-AbC123"
PULL_SECRET_ARNS = [
    f"{SECRET_ARN}imagestreams/demo/pull-secret-AbC123",
    f"{SECRET_ARN}imagestreams/api-tokens/pull-secret-AbC123",
    f"{SECRET_ARN}imagestreams/api-tokens-x/pull-secret-AbC123",
]
OTHER_SECRET_ARNS = [
    f"{SECRET_ARN}imagestreams/api-tokens-extra-AbC123",
    f"{SECRET_ARN}imagestreams/demo/pull-secret-old-AbC123",
    f"{SECRET_ARN}other/demo/pull-secret-AbC123",
    f"{SECRET_ARN}imagestreams-AbC123",
]


def _api_auth(template: Template) -> dict[str, Any]:
    auth: dict[str, Any] = template.properties("Api")["Auth"]
    return auth


# Routes that cannot carry an API token, each with its own check in the handler.
OPEN_ROUTES = {
    # Registry push notifications: the registry presents the webhook secret.
    ("POST", "/webhooks/distribution"),
}


def test_every_route_needs_the_token_authorizer(template: Template) -> None:
    auth = _api_auth(template)
    routes = template.routes()
    guarded = [route for route in routes if route.authorizer is not None]
    opened = {(route.method, route.path) for route in routes if route.authorizer is None}

    assert auth["DefaultAuthorizer"] == "TokenAuthorizer"
    assert {route.authorizer for route in guarded} == {"TokenAuthorizer"}
    # Only the routes listed above opt out (Auth: {Authorizer: NONE}); the
    # API's own routes, the catch-all included, never do.
    assert opened <= OPEN_ROUTES
    assert not any(path.startswith("/apis/") or "{proxy+}" in path for _, path in opened)
    assert ("ANY", "/{proxy+}") in {(route.method, route.path) for route in guarded}
    for spec in template.functions():
        for name, event in (template.properties(spec.logical_id).get("Events") or {}).items():
            chosen = ((event.get("Properties") or {}).get("Auth") or {}).get("Authorizer")
            assert chosen in (None, "NONE"), name


def test_the_token_authorizer_reads_the_bearer_header_and_caches_briefly(
    template: Template,
) -> None:
    raw = _api_auth(template)["Authorizers"]["TokenAuthorizer"]
    (spec,) = template.authorizers().values()

    assert raw["FunctionArn"] == {"Fn::GetAtt": [AUTHORIZER, "Arn"]}
    assert raw["FunctionPayloadType"] == "TOKEN"
    assert spec.function_id == AUTHORIZER
    assert spec.header == "Authorization"
    assert 1 <= spec.ttl <= 3600
    assert spec.validation_expression is None


def test_the_deployed_api_puts_the_authorizer_on_every_method(
    transformed: dict[str, Any],
) -> None:
    body = transformed["Resources"]["Api"]["Properties"]["Body"]
    authorizer = body["securityDefinitions"]["TokenAuthorizer"]["x-amazon-apigateway-authorizer"]
    methods = [
        (path, method, spec)
        for path, by_method in body["paths"].items()
        for method, spec in by_method.items()
    ]

    assert authorizer["type"] == "token"
    assert 1 <= authorizer["authorizerResultTtlInSeconds"] <= 3600
    assert ("/{proxy+}", "x-amazon-apigateway-any-method") in {(p, m) for p, m, _ in methods}
    for path, method, spec in methods:
        if (method.upper(), path) in OPEN_ROUTES:
            assert spec.get("security") in (None, [{"NONE": []}], []), (path, method)
        else:
            assert spec.get("security") == [{"TokenAuthorizer": []}], (path, method)


def test_the_authorizer_function_is_small_and_reads_only_the_token_secret(
    template: Template,
) -> None:
    spec = _spec(template, AUTHORIZER)
    props = template.properties(AUTHORIZER)

    assert spec.code_uri == ROOT / "functions" / "authorizer"
    assert (spec.code_uri / "requirements.txt").is_file()
    assert spec.memory_size <= 256
    assert spec.timeout <= 10
    assert not spec.routes
    assert template.function_environment(AUTHORIZER)["API_TOKENS_SECRET"] == {"Ref": TOKEN_SECRET}
    assert props["Policies"] == [
        {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": TOKEN_SECRET}}}
    ]


def test_the_token_secret_is_created_empty_where_the_settings_look(template: Template) -> None:
    from imagestreams.auth.tokens import parse_token_document

    resource = template.resources[TOKEN_SECRET]
    props = resource["Properties"]
    default_prefix = template.parameter_values()["PullSecretPrefix"]
    settings = Settings.model_validate({"PULL_SECRET_PREFIX": default_prefix})

    assert props["Name"] == {"Fn::Sub": "${PullSecretPrefix}/api-tokens"}
    assert _resolved(template, props["Name"]) == settings.tokens_secret_name()
    assert parse_token_document(props["SecretString"]).grants == ()
    assert template.document["Outputs"]["ApiTokensSecretArn"]["Value"] == {"Ref": TOKEN_SECRET}


def _secret_arns(template: Template) -> dict[str, str]:
    """A plausible ARN for each secret the template creates (what ``Ref`` gives)."""
    return {
        logical_id: f"{SECRET_ARN}{_resolved(template, resource['Properties']['Name'])}-AbC123"
        for logical_id, resource in template.resources_of_type(
            "AWS::SecretsManager::Secret"
        ).items()
    }


def _readable_secrets(template: Template, function_id: str) -> list[str]:
    """The secret ARN patterns a function's policies let it read."""
    patterns = []
    for policy in template.properties(function_id).get("Policies") or []:
        assert isinstance(policy, dict), policy
        ((name, value),) = policy.items()
        if name == "AWSSecretsManagerGetSecretValuePolicy":
            patterns.append(value["SecretArn"])
        else:
            # Only SAM's own templates, none of them about secrets.
            assert "Secret" not in name, (function_id, name)
            assert "Statement" not in json.dumps(value), (function_id, name)
    resolved = template.intrinsics(refs=_secret_arns(template)).resolve(patterns)
    return [str(pattern) for pattern in resolved]


def _can_read(patterns: list[str], arn: str) -> bool:
    from devserver.gateway import iam_pattern_matches

    return any(iam_pattern_matches(pattern, arn) for pattern in patterns)


def test_the_token_secret_is_readable_by_the_authorizer_only(template: Template) -> None:
    token_arn = _secret_arns(template)[TOKEN_SECRET]
    readers = {
        spec.logical_id
        for spec in template.functions()
        if _can_read(_readable_secrets(template, spec.logical_id), token_arn)
    }

    assert token_arn == TOKEN_SECRET_ARN
    assert readers == {AUTHORIZER}


def test_the_authorizer_reads_the_token_secret_and_nothing_else(template: Template) -> None:
    patterns = _readable_secrets(template, AUTHORIZER)
    others = [arn for name, arn in _secret_arns(template).items() if name != TOKEN_SECRET]

    assert patterns == [TOKEN_SECRET_ARN]
    for arn in [*PULL_SECRET_ARNS, *OTHER_SECRET_ARNS, *others]:
        assert not _can_read(patterns, arn), arn


@pytest.mark.parametrize("function_id", ["ApiFunction", WORKER])
def test_the_importing_functions_read_pull_secrets_only(
    template: Template, function_id: str
) -> None:
    patterns = _readable_secrets(template, function_id)

    for arn in PULL_SECRET_ARNS:
        assert _can_read(patterns, arn), arn
    for arn in [TOKEN_SECRET_ARN, *OTHER_SECRET_ARNS]:
        assert not _can_read(patterns, arn), arn


def test_no_function_reads_secrets_outside_the_conventions(template: Template) -> None:
    for spec in template.functions():
        patterns = _readable_secrets(template, spec.logical_id)
        for arn in OTHER_SECRET_ARNS:
            assert not _can_read(patterns, arn), (spec.logical_id, arn)


def test_api_throttling_applies_to_every_method(template: Template) -> None:
    settings = template.properties("Api")["MethodSettings"]
    parameters = template.document["Parameters"]
    values = template.parameter_values()

    assert {
        "ResourcePath": "/*",
        "HttpMethod": "*",
        "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
        "MetricsEnabled": True,
    } in settings
    assert parameters["ThrottlingRateLimit"]["MinValue"] >= 1
    assert parameters["ThrottlingBurstLimit"]["MinValue"] >= 1
    assert 1 <= int(values["ThrottlingRateLimit"]) <= int(values["ThrottlingBurstLimit"])


def test_the_deployed_stage_is_throttled(transformed: dict[str, Any]) -> None:
    stage = transformed["Resources"]["ApiStage"]["Properties"]
    (setting,) = stage["MethodSettings"]

    assert setting["ResourcePath"] == "/*"
    assert setting["HttpMethod"] == "*"
    assert setting["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "ThrottlingBurstLimit"}


@pytest.mark.parametrize(
    ("response_type", "code", "reason"),
    [
        ("UNAUTHORIZED", 401, "Unauthorized"),
        ("ACCESS_DENIED", 403, "Forbidden"),
        ("AUTHORIZER_FAILURE", 500, "InternalError"),
        ("AUTHORIZER_CONFIGURATION_ERROR", 500, "InternalError"),
        ("MISSING_AUTHENTICATION_TOKEN", 404, "NotFound"),
    ],
)
def test_authentication_errors_are_kubernetes_statuses(
    template: Template, response_type: str, code: int, reason: str
) -> None:
    response = template.gateway_responses()[response_type]

    status = _render(response.templates["application/json"])

    assert (status["kind"], status["code"], status["reason"]) == ("Status", code, reason)
    assert (response.status_code or DEFAULT_STATUS[response_type]) == code


# --- Operating it: tracing, metrics, alarms, the dashboard -----------------------

NAMESPACE = {"Fn::Sub": "ImageStreams/${AWS::StackName}"}
FUNCTIONS = ["ApiFunction", WORKER, "SchedulerFunction", AUTHORIZER]
NOTIFY = {
    "Fn::If": [
        "AlarmNotificationIsEmail",
        [{"Ref": "AlarmTopic"}],
        {
            "Fn::If": [
                "AlarmNotificationIsArn",
                [{"Ref": "AlarmNotification"}],
                {"Ref": "AWS::NoValue"},
            ]
        },
    ]
}


def _with_parameters(template: Template, **values: str) -> Template:
    return dataclasses.replace(template, parameter_overrides=values)


def _placeholders(template: Template) -> Any:
    """An evaluator with a stand-in for every resource: its id, ``arn:<id>``, ``<id>-queue``."""
    refs = {logical_id: logical_id for logical_id in template.resources}
    attributes = {
        (logical_id, attribute): value
        for logical_id in template.resources
        for attribute, value in (("Arn", f"arn:{logical_id}"), ("QueueName", f"{logical_id}-q"))
    }
    return template.intrinsics(refs, attributes)


@pytest.mark.parametrize(("tracing", "disabled"), [("Disabled", "true"), ("Active", "false")])
def test_tracing_is_a_parameter_off_by_default(
    template: Template, tracing: str, disabled: str
) -> None:
    chosen = _with_parameters(template, Tracing=tracing)
    globals_ = template.document["Globals"]["Function"]

    assert template.parameter_values()["Tracing"] == "Disabled"
    assert globals_["Tracing"] == {"Fn::If": ["TracingActive", "Active", "PassThrough"]}
    assert _resolved(chosen, globals_["Tracing"]) == (
        "Active" if tracing == "Active" else "PassThrough"
    )
    for function_id in FUNCTIONS:
        variables = _placeholders(chosen).resolve(chosen.function_environment(function_id))
        assert variables["POWERTOOLS_TRACE_DISABLED"] == disabled
    assert _resolved(chosen, template.properties("Api")["TracingEnabled"]) is (tracing == "Active")


def test_the_deployed_functions_trace_as_the_parameter_says(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    stages = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage"]

    for function_id in FUNCTIONS:
        config = resources[function_id]["Properties"]["TracingConfig"]
        assert config == {"Mode": {"Fn::If": ["TracingActive", "Active", "PassThrough"]}}
    assert [s["Properties"]["TracingEnabled"] for s in stages] == [
        {"Fn::If": ["TracingActive", True, False]}
    ]


def test_every_function_emits_metrics_to_the_stacks_own_namespace(template: Template) -> None:
    for function_id in FUNCTIONS:
        variables = template.function_environment(function_id)
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE
        assert variables["POWERTOOLS_SERVICE_NAME"] == "imagestreams"


# (alarm, namespace, metric, dimension, what the dimension names, statistic)
SINGLE_METRIC_ALARMS = [
    ("DeadLetterQueueAlarm", "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
     {"Fn::GetAtt": [DEAD_LETTERS, "QueueName"]}, "Maximum"),
    ("ImportQueueAgeAlarm", "AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName",
     {"Fn::GetAtt": [QUEUE, "QueueName"]}, "Maximum"),
    ("WorkerErrorsAlarm", "AWS/Lambda", "Errors", "FunctionName", {"Ref": WORKER}, "Sum"),
    ("SchedulerErrorsAlarm", "AWS/Lambda", "Errors", "FunctionName",
     {"Ref": "SchedulerFunction"}, "Sum"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("alarm", "namespace", "metric", "dimension", "value", "statistic"),
    SINGLE_METRIC_ALARMS,
    ids=[row[0] for row in SINGLE_METRIC_ALARMS],
)
def test_alarms_on_one_metric_watch_what_they_say(
    template: Template,
    alarm: str,
    namespace: str,
    metric: str,
    dimension: str,
    value: Any,
    statistic: str,
) -> None:
    props = template.properties(alarm)

    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == (
        namespace,
        metric,
        statistic,
    )
    assert props["Dimensions"] == [{"Name": dimension, "Value": value}]
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    assert props["TreatMissingData"] == "notBreaching"


def test_the_queue_age_alarm_allows_for_paced_re_imports(template: Template) -> None:
    props = template.properties("ImportQueueAgeAlarm")

    assert props["Threshold"] == {"Ref": "ImportQueueAgeAlarmSeconds"}
    # Re-imports are queued with delays of up to 15 minutes.
    assert int(template.parameter_values()["ImportQueueAgeAlarmSeconds"]) > 900


def _math(template: Template, alarm: str) -> tuple[str, dict[str, Any]]:
    """An alarm's expression and its metrics by id."""
    queries = template.properties(alarm)["Metrics"]
    (expression,) = [q["Expression"] for q in queries if q.get("ReturnData")]
    return expression, {q["Id"]: q["MetricStat"] for q in queries if "MetricStat" in q}


def test_the_api_5xx_alarm_is_a_rate_of_the_deployed_stage(template: Template) -> None:
    expression, stats = _math(template, "ApiServerErrorsAlarm")
    stage = [
        {"Name": "ApiName", "Value": {"Ref": "AWS::StackName"}},
        {"Name": "Stage", "Value": {"Ref": "StageName"}},
    ]

    assert expression == "IF(requests >= 10, errors / requests, 0)"
    assert stats["errors"]["Metric"] == {
        "Namespace": "AWS/ApiGateway", "MetricName": "5XXError", "Dimensions": stage
    }  # fmt: skip
    assert stats["requests"]["Metric"]["MetricName"] == "Count"
    assert stats["requests"]["Metric"]["Dimensions"] == stage
    # The metrics are found by the API's name, which is the stack's.
    assert template.properties("Api")["Name"] == {"Ref": "AWS::StackName"}
    assert template.properties("ApiServerErrorsAlarm")["Threshold"] == 0.05


def test_the_authorizer_alarm_leaves_refused_tokens_out(template: Template) -> None:
    expression, stats = _math(template, "AuthorizerErrorsAlarm")
    denials = stats["denials"]["Metric"]

    assert expression == "FILL(errors, 0) - FILL(denials, 0)"
    assert stats["errors"]["Metric"]["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": AUTHORIZER}}
    ]
    # The denials are the authorizer's own metric, as the code records it.
    assert denials["Namespace"] == NAMESPACE
    assert denials["MetricName"] == AUTHORIZATIONS.name
    assert denials["Dimensions"] == [
        {"Name": "service", "Value": "imagestreams"},
        {"Name": "decision", "Value": "deny"},
    ]
    assert AUTHORIZATIONS.dimensions == ("decision",)


def test_the_throttles_alarm_adds_up_every_function(template: Template) -> None:
    expression, stats = _math(template, "ThrottlesAlarm")
    watched = {
        stat["Metric"]["Dimensions"][0]["Value"]["Ref"]
        for stat in stats.values()
        if stat["Metric"]["MetricName"] == "Throttles"
    }

    assert watched == set(template.resources_of_type("AWS::Serverless::Function"))
    assert all(f"FILL({name}, 0)" in expression for name in stats)


def test_every_alarm_notifies_the_chosen_topic_on_alarm_and_recovery(template: Template) -> None:
    alarms = template.resources_of_type("AWS::CloudWatch::Alarm")

    assert len(alarms) == 7
    for logical_id, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == props["OKActions"] == NOTIFY, logical_id
        assert props["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-"), logical_id


@pytest.mark.parametrize(
    ("notification", "actions", "topic"),
    [
        ("", None, False),
        ("ops@example.com", ["AlarmTopic"], True),
        (
            "arn:aws:sns:us-east-1:123456789012:pager",
            ["arn:aws:sns:us-east-1:123456789012:pager"],
            False,
        ),
    ],
    ids=["none", "email", "topic-arn"],
)
def test_the_notification_parameter_takes_an_email_or_a_topic_arn(
    template: Template, notification: str, actions: list[str] | None, topic: bool
) -> None:
    chosen = _with_parameters(template, AlarmNotification=notification)
    props = _placeholders(chosen).resolve(template.properties("DeadLetterQueueAlarm"))

    assert props.get("AlarmActions") == actions
    assert props.get("OKActions") == actions
    assert chosen.intrinsics().condition("AlarmNotificationIsEmail") is topic
    assert template.resources["AlarmTopic"]["Condition"] == "AlarmNotificationIsEmail"
    assert template.properties("AlarmTopic")["Subscription"] == [
        {"Protocol": "email", "Endpoint": {"Ref": "AlarmNotification"}}
    ]


def _dashboard(template: Template) -> dict[str, Any]:
    body = _placeholders(template).resolve(template.properties("Dashboard")["DashboardBody"])
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def test_the_dashboard_shows_every_metric_and_alarm(template: Template) -> None:
    widgets = _dashboard(template)["widgets"]
    graphs = [w["properties"] for w in widgets if w["type"] == "metric"]
    shown = {
        (metric[0], metric[1])
        for graph in graphs
        for metric in graph["metrics"]
        if isinstance(metric[0], str)
    }
    searched = " ".join(
        str(metric[0]["expression"])
        for graph in graphs
        for metric in graph["metrics"]
        if isinstance(metric[0], dict)
    )
    (alarm_widget,) = [w["properties"] for w in widgets if w["type"] == "alarm"]

    for metric in CATALOGUE:
        assert (
            "ImageStreams/imagestreams-local",
            metric.name,
        ) in shown or f'MetricName="{metric.name}"' in searched, metric.name
    assert {("AWS/Lambda", "Duration"), ("AWS/Lambda", "ConcurrentExecutions")} <= shown
    assert {
        ("AWS/DynamoDB", "ReadThrottleEvents"),
        ("AWS/DynamoDB", "WriteThrottleEvents"),
    } <= shown
    assert sorted(alarm_widget["alarms"]) == sorted(
        f"arn:{logical_id}" for logical_id in template.resources_of_type("AWS::CloudWatch::Alarm")
    )
    assert all(graph["region"] == "us-east-1" for graph in graphs)


def test_the_dashboard_names_each_function_and_table(template: Template) -> None:
    graphs = [w["properties"] for w in _dashboard(template)["widgets"] if w["type"] == "metric"]
    dimensions = {
        (metric[1], metric[3])
        for graph in graphs
        for metric in graph["metrics"]
        if isinstance(metric[0], str) and metric[0].startswith("AWS/") and len(metric) > 3
    }

    for function_id in FUNCTIONS:
        for name in ("Duration", "ConcurrentExecutions", "Errors", "Throttles"):
            assert (name, function_id) in dimensions
    for table in template.resources_of_type("AWS::DynamoDB::Table"):
        assert ("ReadThrottleEvents", table) in dimensions
        assert ("WriteThrottleEvents", table) in dimensions

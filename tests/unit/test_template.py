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


def test_function_defaults_fit_api_gateway(template: Template) -> None:
    for spec in template.functions():
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

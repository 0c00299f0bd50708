"""Create a template's stateful resources with boto3, and the functions' environment.

moto's CloudFormation cannot run SAM templates, so the local server and the
tests create each ``AWS::DynamoDB::Table``, ``AWS::SQS::Queue`` and
``AWS::SecretsManager::Secret`` from the template's own ``Properties``
(keys, indexes, TTL, redrive policy, secret names and initial values),
which keeps them from drifting from what is deployed. ``Ref`` and ``Fn::GetAtt``
of those resources then resolve to the names, URLs and ARNs created here, so
each function's ``Environment.Variables`` can be computed as CloudFormation
would.

The caller chooses where the resources go: normally a moto mock that is
already active. This module never starts one and never reads credentials.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3

from devserver.template import (
    DEFAULT_STACK_NAME,
    FUNCTION_TYPE,
    LOCAL_ACCOUNT_ID,
    LOCAL_REGION,
    Intrinsics,
    Template,
    TemplateError,
)

TABLE_TYPE = "AWS::DynamoDB::Table"
QUEUE_TYPE = "AWS::SQS::Queue"
SECRET_TYPE = "AWS::SecretsManager::Secret"
CREATED_TYPES = (TABLE_TYPE, QUEUE_TYPE, SECRET_TYPE)

# CloudFormation queue properties that are SQS attributes of the same name.
_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)
_JSON_QUEUE_ATTRIBUTES = ("RedrivePolicy", "RedriveAllowPolicy")
_INDEX_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")


@dataclass
class CreatedResources:
    """What :func:`create_resources` made, and how the template refers to it."""

    template: Template
    stack_name: str = DEFAULT_STACK_NAME
    refs: dict[str, Any] = field(default_factory=dict)
    attributes: dict[tuple[str, str], Any] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def name(self, logical_id: str) -> str:
        """The physical name of a created table or queue."""
        try:
            return self.names[logical_id]
        except KeyError:
            raise KeyError(f"{logical_id} is not a resource created from the template") from None

    def intrinsics(self) -> Intrinsics:
        """An evaluator that knows every created resource."""
        return self.template.intrinsics(self.refs, self.attributes, self.stack_name)

    def environment(self, function_id: str) -> dict[str, str]:
        """A function's environment variables, as CloudFormation would set them."""
        if self.template.resources.get(function_id, {}).get("Type") != FUNCTION_TYPE:
            raise KeyError(f"{function_id} is not a function of the template")
        resolved = self.intrinsics().resolve(self.template.function_environment(function_id))
        return {str(name): _text(value) for name, value in resolved.items()}


def create_resources(
    template: Template,
    *,
    session: boto3.Session | None = None,
    stack_name: str = DEFAULT_STACK_NAME,
) -> CreatedResources:
    """Create every table, queue and secret of ``template``, dependencies first."""
    session = session or boto3.Session(region_name=LOCAL_REGION)
    created = CreatedResources(template=template, stack_name=stack_name)
    _placeholders(created)
    creators: dict[str, Callable[[CreatedResources, str, boto3.Session], None]] = {
        TABLE_TYPE: _create_table,
        QUEUE_TYPE: _create_queue,
        SECRET_TYPE: _create_secret,
    }
    pending = {
        logical_id: resource
        for logical_id, resource in template.resources.items()
        if resource.get("Type") in CREATED_TYPES
    }
    for logical_id in _creation_order(pending):
        creators[pending[logical_id]["Type"]](created, logical_id, session)
    return created


def _placeholders(created: CreatedResources) -> None:
    """Stand-in values for resources that are not created (functions, layers, APIs).

    A function's environment may name another function or the API; locally
    those resolve to stable, plausible names instead of failing.
    """
    prefix = f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function"
    for logical_id, resource in created.template.resources.items():
        if resource.get("Type") in CREATED_TYPES:
            continue
        name = f"{created.stack_name}-{logical_id}"
        created.refs[logical_id] = name
        created.attributes[(logical_id, "Arn")] = f"{prefix}:{name}"


def _creation_order(resources: Mapping[str, dict[str, Any]]) -> list[str]:
    """Logical ids ordered so that each comes after the resources it refers to."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(logical_id: str) -> None:
        if logical_id in order:
            return
        if logical_id in visiting:
            raise TemplateError(f"circular reference through {logical_id}")
        visiting.add(logical_id)
        for dependency in sorted(_references(resources[logical_id].get("Properties"))):
            if dependency in resources and dependency != logical_id:
                visit(dependency)
        visiting.discard(logical_id)
        order.append(logical_id)

    for logical_id in resources:
        visit(logical_id)
    return order


_SUB_NAME = re.compile(r"\$\{([^!}][^}.]*)")


def _references(value: Any) -> set[str]:
    """Logical ids named by ``Ref``, ``Fn::GetAtt`` or ``Fn::Sub`` inside ``value``."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _references(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt" and isinstance(item, list) and item:
                found.add(str(item[0]))
            elif key == "Fn::Sub":
                text = item[0] if isinstance(item, list) else item
                found |= set(_SUB_NAME.findall(str(text)))
                found |= _references(item)
            else:
                found |= _references(item)
    return found


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _tags(tags: Iterable[Mapping[str, Any]] | None) -> list[dict[str, str]]:
    return [{"Key": str(tag["Key"]), "Value": str(tag["Value"])} for tag in tags or []]


def _create_table(created: CreatedResources, logical_id: str, session: boto3.Session) -> None:
    props = created.intrinsics().resolve(created.template.properties(logical_id))
    name = str(props.get("TableName") or f"{created.stack_name}-{logical_id}")
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    for key in ("ProvisionedThroughput", "TableClass", "DeletionProtectionEnabled"):
        if key in props:
            request[key] = props[key]
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(key):
            request[key] = [
                {k: index[k] for k in _INDEX_KEYS if k in index} for index in props[key]
            ]
    if stream := props.get("StreamSpecification"):
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    if sse := props.get("SSESpecification"):
        request["SSESpecification"] = {"Enabled": bool(sse.get("SSEEnabled", False))}
        for key in ("SSEType", "KMSMasterKeyId"):
            if key in sse:
                request["SSESpecification"][key] = sse[key]
    if tags := _tags(props.get("Tags")):
        request["Tags"] = tags

    client = session.client("dynamodb")
    description = client.create_table(**request)["TableDescription"]
    if ttl := props.get("TimeToLiveSpecification"):
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={
                "Enabled": bool(ttl.get("Enabled", False)),
                "AttributeName": ttl["AttributeName"],
            },
        )
    pitr = props.get("PointInTimeRecoverySpecification") or {}
    if pitr.get("PointInTimeRecoveryEnabled"):
        client.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )

    created.names[logical_id] = name
    created.refs[logical_id] = name
    created.attributes[(logical_id, "Arn")] = description["TableArn"]
    if "LatestStreamArn" in description:
        created.attributes[(logical_id, "StreamArn")] = description["LatestStreamArn"]


def _create_queue(created: CreatedResources, logical_id: str, session: boto3.Session) -> None:
    props = created.intrinsics().resolve(created.template.properties(logical_id))
    fifo = bool(props.get("FifoQueue"))
    default_name = f"{created.stack_name}-{logical_id}" + (".fifo" if fifo else "")
    name = str(props.get("QueueName") or default_name)
    attributes = {key: _text(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
    for key in _JSON_QUEUE_ATTRIBUTES:
        if key in props:
            value = props[key]
            attributes[key] = value if isinstance(value, str) else json.dumps(value)

    client = session.client("sqs")
    request: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
    if tags := _tags(props.get("Tags")):
        request["tags"] = {tag["Key"]: tag["Value"] for tag in tags}
    url = client.create_queue(**request)["QueueUrl"]
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]

    created.names[logical_id] = name
    created.refs[logical_id] = url
    created.attributes[(logical_id, "Arn")] = arn
    created.attributes[(logical_id, "QueueName")] = name
    created.attributes[(logical_id, "QueueUrl")] = url


def _create_secret(created: CreatedResources, logical_id: str, session: boto3.Session) -> None:
    props = created.intrinsics().resolve(created.template.properties(logical_id))
    name = str(props.get("Name") or f"{created.stack_name}-{logical_id}")
    request: dict[str, Any] = {"Name": name}
    if "Description" in props:
        request["Description"] = str(props["Description"])
    if "SecretString" in props:
        request["SecretString"] = _text(props["SecretString"])
    elif generate := props.get("GenerateSecretString"):
        request["SecretString"] = _generated_secret(generate)
    if tags := _tags(props.get("Tags")):
        request["Tags"] = tags

    arn = session.client("secretsmanager").create_secret(**request)["ARN"]

    created.names[logical_id] = name
    created.refs[logical_id] = arn
    created.attributes[(logical_id, "Id")] = arn


def _generated_secret(spec: Mapping[str, Any]) -> str:
    """A random value in the shape ``GenerateSecretString`` asks for (length and key only)."""
    value = secrets.token_urlsafe(int(spec.get("PasswordLength", 32)))[
        : int(spec.get("PasswordLength", 32))
    ]
    template, key = spec.get("SecretStringTemplate"), spec.get("GenerateStringKey")
    if template and key:
        document = json.loads(str(template))
        document[str(key)] = value
        return json.dumps(document)
    return value

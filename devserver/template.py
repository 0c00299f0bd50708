"""Reading an AWS SAM template without AWS: YAML, ``Globals`` and intrinsics.

The loader accepts CloudFormation's short-form tags (``!Ref``, ``!GetAtt``,
``!Sub``, ...) and turns them into their long form (``{"Ref": ...}``,
``{"Fn::GetAtt": [...]}``), so the rest of the code sees one shape.
:class:`Intrinsics` evaluates those forms against known values (parameter
defaults, pseudo parameters, the names of resources created locally).

This module reads files only when asked to (:func:`load_template`); it never
talks to AWS.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FUNCTION_TYPE = "AWS::Serverless::Function"
API_TYPE = "AWS::Serverless::Api"

# Values of AWS pseudo parameters for local runs (moto's default account).
LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT_ID = "123456789012"
DEFAULT_STACK_NAME = "imagestreams-local"


class TemplateError(Exception):
    """The template is unreadable or uses what the local emulation lacks."""


class _NoValue:
    """``AWS::NoValue``: removes the key or list item it stands for."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()


# --- YAML ----------------------------------------------------------------


class _TemplateLoader(yaml.SafeLoader):
    """A safe YAML loader that knows CloudFormation's short-form tags."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise TemplateError(f"unsupported YAML node for !{suffix}")
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        logical_id, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [logical_id, attribute]}
    return {f"Fn::{suffix}": value}


_TemplateLoader.add_multi_constructor("!", _construct_tag)


def parse_template(text: str) -> dict[str, Any]:
    """Parse template text (YAML or JSON) into its long-form document."""
    try:
        document = yaml.load(text, Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        raise TemplateError(f"template is not valid YAML: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError("template has no Resources")
    return document


def load_template(path: str | Path) -> Template:
    """Read and parse the template at ``path``."""
    template_path = Path(path).resolve()
    try:
        text = template_path.read_text(encoding="utf-8")
    except OSError as error:
        raise TemplateError(f"cannot read template {template_path}: {error}") from error
    return Template(template_path, parse_template(text))


# --- The model ------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One ``Type: Api`` event of a function: a REST resource and method.

    ``authorizer`` names the API authorizer that guards the route (the
    event's ``Auth.Authorizer``, else the API's ``DefaultAuthorizer``), or
    is None for an open route.
    """

    path: str
    method: str  # upper case; ANY matches every method
    function_id: str
    api_id: str | None
    authorizer: str | None = None


@dataclass(frozen=True)
class AuthorizerSpec:
    """A Lambda TOKEN authorizer of the API (an entry of ``Auth.Authorizers``).

    ``header`` carries the token; API Gateway caches the function's answer
    per header value for ``ttl`` seconds (``ReauthorizeEvery``; 0 turns the
    cache off); a value not matching ``validation_expression`` is refused
    without invoking the function.
    """

    name: str
    function_id: str
    header: str = "Authorization"
    ttl: int = 300
    validation_expression: str | None = None


@dataclass(frozen=True)
class QueueEvent:
    """One ``Type: SQS`` event of a function: a queue whose messages invoke it.

    ``queue`` is the ``Queue`` property as written (usually
    ``!GetAtt SomeQueue.Arn``); it resolves once the queue exists. The other
    fields are resolved, with SAM's defaults.
    """

    name: str
    function_id: str
    queue: Any
    batch_size: int = 10
    report_batch_item_failures: bool = False
    maximum_concurrency: int | None = None
    enabled: bool = True


# EventBridge events of a function: on a schedule, or matched by a rule's pattern.
SCHEDULE_EVENT_TYPES = ("Schedule", "ScheduleV2")
RULE_EVENT_TYPES = ("EventBridgeRule", "CloudWatchEvent")


@dataclass(frozen=True)
class EventBridgeEvent:
    """One ``Schedule``/``ScheduleV2`` or ``EventBridgeRule``/``CloudWatchEvent`` event.

    ``properties`` are as written (a schedule's ``Input`` or a rule's
    ``Pattern`` may refer to resources); they resolve once the resources
    exist. ``enabled`` is resolved: ``Enabled: false`` or a ``State`` other
    than ``ENABLED`` turns the event off, as deployed.
    """

    name: str
    function_id: str
    type: str
    properties: Mapping[str, Any]
    enabled: bool = True

    @property
    def is_schedule(self) -> bool:
        return self.type in SCHEDULE_EVENT_TYPES


@dataclass(frozen=True)
class FunctionSpec:
    """What running one ``AWS::Serverless::Function`` locally needs."""

    logical_id: str
    code_uri: Path
    handler: str
    timeout: int
    memory_size: int
    environment: Mapping[str, Any]
    routes: tuple[Route, ...] = ()
    queue_events: tuple[QueueEvent, ...] = ()
    eventbridge_events: tuple[EventBridgeEvent, ...] = ()

    @property
    def schedule_events(self) -> tuple[EventBridgeEvent, ...]:
        """The function's enabled ``Schedule`` and ``ScheduleV2`` events."""
        return tuple(e for e in self.eventbridge_events if e.enabled and e.is_schedule)

    @property
    def rule_events(self) -> tuple[EventBridgeEvent, ...]:
        """The function's enabled ``EventBridgeRule`` and ``CloudWatchEvent`` events."""
        return tuple(e for e in self.eventbridge_events if e.enabled and not e.is_schedule)

    @property
    def module_file(self) -> Path:
        """The file that defines the handler (``app.lambda_handler`` -> ``app.py``)."""
        module, _, _ = self.handler.rpartition(".")
        return self.code_uri.joinpath(*module.split(".")).with_suffix(".py")

    @property
    def handler_name(self) -> str:
        """The handler's attribute name in its module."""
        return self.handler.rpartition(".")[2]


@dataclass(frozen=True)
class GatewayResponse:
    """One entry of an API's ``GatewayResponses``."""

    status_code: int | None
    headers: Mapping[str, str]
    templates: Mapping[str, str]


@dataclass
class Template:
    """A parsed SAM template and the facts the local server takes from it."""

    path: Path
    document: dict[str, Any]
    parameter_overrides: dict[str, str] = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        """Directory that ``CodeUri`` and ``ContentUri`` are relative to."""
        return self.path.parent

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.document["Resources"]
        return resources

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """The resources of one type, by logical id, in template order."""
        return {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if resource.get("Type") == resource_type
        }

    def properties(self, logical_id: str) -> dict[str, Any]:
        props: dict[str, Any] = self.resources[logical_id].get("Properties") or {}
        return props

    def parameter_values(self) -> dict[str, str]:
        """Each parameter's value: the override if given, else its default."""
        values: dict[str, str] = {}
        for name, spec in (self.document.get("Parameters") or {}).items():
            if name in self.parameter_overrides:
                values[name] = self.parameter_overrides[name]
            elif isinstance(spec, dict) and "Default" in spec:
                values[name] = _scalar_text(spec["Default"])
        return values

    def intrinsics(
        self,
        refs: Mapping[str, Any] | None = None,
        attributes: Mapping[tuple[str, str], Any] | None = None,
        stack_name: str = DEFAULT_STACK_NAME,
    ) -> Intrinsics:
        """An evaluator knowing the parameters plus the given resource values."""
        return Intrinsics(self, refs or {}, attributes or {}, stack_name)

    # Functions and their API events ------------------------------------

    def _function_globals(self) -> dict[str, Any]:
        globals_: dict[str, Any] = (self.document.get("Globals") or {}).get("Function") or {}
        return globals_

    def function_property(self, logical_id: str, name: str, default: Any = None) -> Any:
        """A function property, falling back to ``Globals.Function``."""
        props = self.properties(logical_id)
        if name in props:
            return props[name]
        return self._function_globals().get(name, default)

    def function_environment(self, logical_id: str) -> dict[str, Any]:
        """Environment variables of ``Globals.Function`` merged with the function's."""
        merged: dict[str, Any] = {}
        for source in (self._function_globals(), self.properties(logical_id)):
            variables = ((source.get("Environment") or {}).get("Variables")) or {}
            merged.update(variables)
        return merged

    def functions(self) -> list[FunctionSpec]:
        """Every ``AWS::Serverless::Function`` with its code, handler and routes."""
        values = self.intrinsics()
        specs = []
        for logical_id in self.resources_of_type(FUNCTION_TYPE):
            code_uri = values.resolve(self.function_property(logical_id, "CodeUri"))
            handler = values.resolve(self.function_property(logical_id, "Handler"))
            if not isinstance(code_uri, str) or not isinstance(handler, str) or "." not in handler:
                raise TemplateError(
                    f"{logical_id}: a local CodeUri path and a module.function Handler are needed"
                )
            specs.append(
                FunctionSpec(
                    logical_id=logical_id,
                    code_uri=(self.base_dir / code_uri).resolve(),
                    handler=handler,
                    timeout=int(values.resolve(self.function_property(logical_id, "Timeout", 3))),
                    memory_size=int(
                        values.resolve(self.function_property(logical_id, "MemorySize", 128))
                    ),
                    environment=self.function_environment(logical_id),
                    routes=tuple(self._routes_of(logical_id)),
                    queue_events=tuple(self._queue_events_of(logical_id, values)),
                    eventbridge_events=tuple(self._eventbridge_events_of(logical_id, values)),
                )
            )
        return specs

    def _eventbridge_events_of(
        self, logical_id: str, values: Intrinsics
    ) -> Iterator[EventBridgeEvent]:
        for name, event in (self.properties(logical_id).get("Events") or {}).items():
            kind = event.get("Type") if isinstance(event, dict) else None
            if kind not in SCHEDULE_EVENT_TYPES + RULE_EVENT_TYPES:
                continue
            props = event.get("Properties") or {}
            enabled = _scalar_text(values.resolve(props.get("Enabled", True))).lower() != "false"
            state = _scalar_text(values.resolve(props.get("State", "ENABLED"))).upper()
            yield EventBridgeEvent(
                name=str(name),
                function_id=logical_id,
                type=str(kind),
                properties=props,
                enabled=enabled and state == "ENABLED",
            )

    def _queue_events_of(self, logical_id: str, values: Intrinsics) -> Iterator[QueueEvent]:
        for name, event in (self.properties(logical_id).get("Events") or {}).items():
            if not isinstance(event, dict) or event.get("Type") != "SQS":
                continue
            props = event.get("Properties") or {}
            # Everything but the queue is known before any resource exists.
            known = values.resolve({key: value for key, value in props.items() if key != "Queue"})
            scaling = known.get("ScalingConfig") or {}
            maximum = scaling.get("MaximumConcurrency")
            yield QueueEvent(
                name=str(name),
                function_id=logical_id,
                queue=props["Queue"],
                batch_size=int(known.get("BatchSize", 10)),
                report_batch_item_failures="ReportBatchItemFailures"
                in (known.get("FunctionResponseTypes") or []),
                maximum_concurrency=int(maximum) if maximum is not None else None,
                enabled=_scalar_text(known.get("Enabled", True)).lower() != "false",
            )

    def _routes_of(self, logical_id: str) -> Iterator[Route]:
        default_authorizer = self.default_authorizer()
        for event in (self.properties(logical_id).get("Events") or {}).values():
            if not isinstance(event, dict) or event.get("Type") != "Api":
                continue
            props = event.get("Properties") or {}
            api = props.get("RestApiId")
            api_id = api.get("Ref") if isinstance(api, dict) else None
            chosen = (props.get("Auth") or {}).get("Authorizer", default_authorizer)
            yield Route(
                path=str(props["Path"]),
                method=str(props["Method"]).upper(),
                function_id=logical_id,
                api_id=api_id,
                authorizer=None if chosen in (None, "NONE") else str(chosen),
            )

    def routes(self) -> list[Route]:
        """Every REST API route of every function."""
        return [route for spec in self.functions() for route in spec.routes]

    # The API -------------------------------------------------------------

    def _api_properties(self) -> dict[str, Any]:
        apis = self.resources_of_type(API_TYPE)
        if len(apis) > 1:
            raise TemplateError("the local server emulates one AWS::Serverless::Api")
        globals_api: dict[str, Any] = (self.document.get("Globals") or {}).get("Api") or {}
        props = dict(globals_api)
        for logical_id in apis:
            props.update(self.properties(logical_id))
        return props

    def stage_name(self) -> str:
        """The API's stage name (``Prod`` for SAM's implicit API)."""
        stage = self.intrinsics().resolve(self._api_properties().get("StageName", "Prod"))
        return str(stage)

    def binary_media_types(self) -> list[str]:
        """Content types API Gateway passes to functions base64-encoded."""
        values = self.intrinsics().resolve(self._api_properties().get("BinaryMediaTypes") or [])
        # In templates a "/" is written "~1" (a JSON pointer escape).
        return [str(value).replace("~1", "/") for value in values]

    def _auth(self) -> dict[str, Any]:
        auth: dict[str, Any] = self._api_properties().get("Auth") or {}
        return auth

    def default_authorizer(self) -> str | None:
        """The authorizer of every route that names none (``Auth.DefaultAuthorizer``)."""
        name = self._auth().get("DefaultAuthorizer")
        if name is None or name == "NONE":
            return None
        if name == "AWS_IAM":
            raise TemplateError("AWS_IAM authorization is not emulated by the local server")
        return str(name)

    def authorizers(self) -> dict[str, AuthorizerSpec]:
        """The API's Lambda TOKEN authorizers by name.

        Other kinds (REQUEST payloads, Cognito user pools) are a
        :class:`TemplateError`: the local server would otherwise let every
        request through a route they guard.
        """
        specs = {}
        values = self.intrinsics()
        for name, raw in (self._auth().get("Authorizers") or {}).items():
            function_arn = raw.get("FunctionArn") if isinstance(raw, dict) else None
            target = function_arn.get("Fn::GetAtt") if isinstance(function_arn, dict) else None
            if not isinstance(target, list) or len(target) != 2 or target[1] != "Arn":
                raise TemplateError(
                    f"authorizer {name}: only Lambda authorizers of this template's "
                    "functions (FunctionArn: !GetAtt Function.Arn) are emulated"
                )
            payload = str(values.resolve(raw.get("FunctionPayloadType", "TOKEN"))).upper()
            if payload != "TOKEN":
                raise TemplateError(f"authorizer {name}: {payload} authorizers are not emulated")
            identity = values.resolve(raw.get("Identity") or {})
            expression = identity.get("ValidationExpression")
            specs[str(name)] = AuthorizerSpec(
                name=str(name),
                function_id=str(target[0]),
                header=str(identity.get("Header", "Authorization")),
                ttl=int(identity.get("ReauthorizeEvery", 300)),
                validation_expression=str(expression) if expression is not None else None,
            )
        return specs

    def gateway_responses(self) -> dict[str, GatewayResponse]:
        """The API's ``GatewayResponses`` by response type."""
        responses = {}
        raw = self.intrinsics().resolve(self._api_properties().get("GatewayResponses") or {})
        for response_type, spec in raw.items():
            headers = ((spec.get("ResponseParameters") or {}).get("Headers")) or {}
            status = spec.get("StatusCode")
            templates = spec.get("ResponseTemplates") or {}
            responses[str(response_type)] = GatewayResponse(
                status_code=int(status) if status is not None else None,
                headers={str(k): _unquote_header(str(v)) for k, v in headers.items()},
                templates={str(k): str(v) for k, v in templates.items()},
            )
        return responses


def _unquote_header(value: str) -> str:
    """Gateway response header values are static when single-quoted."""
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    return value


def _scalar_text(value: Any) -> str:
    """The text CloudFormation makes of a scalar (``true``, not ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- Intrinsic functions --------------------------------------------------

_SUB_VARIABLE = re.compile(r"\$\{(!?)([^}]*)\}")


class Intrinsics:
    """Evaluates intrinsic functions against known values.

    ``refs`` maps logical ids to what ``Ref`` returns; ``attributes`` maps
    ``(logical id, attribute)`` to what ``Fn::GetAtt`` returns. Parameters
    and pseudo parameters are known from the template itself. A reference to
    anything else is a :class:`TemplateError`, so a missing local resource is
    noticed at start, not at the first request.
    """

    def __init__(
        self,
        template: Template,
        refs: Mapping[str, Any],
        attributes: Mapping[tuple[str, str], Any],
        stack_name: str,
    ) -> None:
        self._template = template
        self._refs: dict[str, Any] = {
            "AWS::Region": LOCAL_REGION,
            "AWS::AccountId": LOCAL_ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:stack/{stack_name}/local"
            ),
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
            **template.parameter_values(),
            **refs,
        }
        self._attributes = attributes
        self._functions: dict[str, Callable[[Any], Any]] = {
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::If": self._if,
            "Fn::Equals": self._equals,
            "Fn::Not": lambda args: not self._condition_value(args[0]),
            "Fn::And": lambda args: all(self._condition_value(a) for a in args),
            "Fn::Or": lambda args: any(self._condition_value(a) for a in args),
            "Fn::FindInMap": self._find_in_map,
            "Fn::Base64": lambda arg: base64.b64encode(str(self.resolve(arg)).encode()).decode(),
            "Fn::GetAZs": lambda _: [f"{LOCAL_REGION}{zone}" for zone in "abc"],
        }

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function evaluated."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(str(argument))
            if key == "Condition":
                return self.condition(str(argument))
            if key in self._functions:
                return self._functions[key](argument)
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} is not supported by the local server")
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def ref(self, name: str) -> Any:
        if name not in self._refs:
            raise TemplateError(f"Ref to {name}, which the local server has not created")
        return self._refs[name]

    def condition(self, name: str) -> bool:
        conditions = self._template.document.get("Conditions") or {}
        if name not in conditions:
            raise TemplateError(f"unknown condition {name}")
        return self._condition_value(conditions[name])

    def _condition_value(self, value: Any) -> bool:
        return bool(self.resolve(value))

    def _get_att(self, argument: Any) -> Any:
        logical_id, attribute = (str(part) for part in self.resolve(argument))
        key = (logical_id, attribute)
        if key not in self._attributes:
            raise TemplateError(f"GetAtt {logical_id}.{attribute} is not known locally")
        return self._attributes[key]

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], self.resolve(argument[1])
        else:
            text, variables = argument, {}

        def substitute(match: re.Match[str]) -> str:
            literal, name = match.group(1), match.group(2)
            if literal:
                return "${" + name + "}"
            if name in variables:
                return _scalar_text(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, _, attribute = name.partition(".")
                return _scalar_text(self._get_att([logical_id, attribute]))
            return _scalar_text(self.ref(name))

        return _SUB_VARIABLE.sub(substitute, str(text))

    def _join(self, argument: Any) -> str:
        delimiter, items = argument
        return str(delimiter).join(_scalar_text(item) for item in self.resolve(items))

    def _select(self, argument: Any) -> Any:
        index, items = self.resolve(argument)
        return items[int(index)]

    def _split(self, argument: Any) -> list[str]:
        delimiter, text = self.resolve(argument)
        return str(text).split(str(delimiter))

    def _if(self, argument: Any) -> Any:
        name, when_true, when_false = argument
        return self.resolve(when_true if self.condition(str(name)) else when_false)

    def _equals(self, argument: Any) -> bool:
        left, right = (_scalar_text(item) for item in self.resolve(argument))
        return left == right

    def _find_in_map(self, argument: Any) -> Any:
        map_name, top, second = (str(item) for item in self.resolve(argument))
        try:
            return self._template.document["Mappings"][map_name][top][second]
        except KeyError as error:
            raise TemplateError(f"FindInMap {map_name}.{top}.{second} not found") from error

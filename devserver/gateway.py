"""API Gateway (REST API, Lambda proxy integration) emulated in pure functions.

- :class:`RouteTable` picks the resource and method a request reaches, the
  way API Gateway does: literal path parts before ``{variables}``, greedy
  ``{proxy+}`` last, and a method on the chosen resource (or ``ANY``).
- :func:`build_event` turns a request into the proxy event a function gets.
- :func:`parse_result` checks and decodes what the function returned,
  within Lambda's response limit.
- :func:`gateway_response` renders API Gateway's own errors from the
  template's ``GatewayResponses``.
- :func:`method_arn`, :func:`token_event`, :func:`parse_authorizer_result`
  and :func:`evaluate_policy` are a Lambda TOKEN authorizer's side of API
  Gateway: the event the function gets, the checks on its answer, and the
  IAM-style evaluation of the returned policy against the request.
- :class:`LocalLambdaContext` is the context object a handler receives.

No sockets and no AWS here, so all of it is tested directly.
"""

from __future__ import annotations

import base64
import binascii
import enum
import fnmatch
import hashlib
import json
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from devserver.template import LOCAL_ACCOUNT_ID, LOCAL_REGION, GatewayResponse, Route

# API Gateway's 10 MB payload limit for REST API requests.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
# Lambda's 6 MB limit on what a synchronously invoked function returns,
# measured on the JSON of its result (a proxy response, base64 body and all).
MAX_RESPONSE_BYTES = 6 * 1024 * 1024

# Status codes of gateway response types when the template sets none.
DEFAULT_STATUS = {
    "ACCESS_DENIED": 403,
    "API_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_FAILURE": 500,
    "BAD_REQUEST_BODY": 400,
    "BAD_REQUEST_PARAMETERS": 400,
    "EXPIRED_TOKEN": 403,
    "INTEGRATION_FAILURE": 504,
    "INTEGRATION_TIMEOUT": 504,
    "INVALID_API_KEY": 403,
    "INVALID_SIGNATURE": 403,
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "QUOTA_EXCEEDED": 429,
    "REQUEST_TOO_LARGE": 413,
    "RESOURCE_NOT_FOUND": 404,
    "THROTTLED": 429,
    "UNAUTHORIZED": 401,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "WAF_FILTERED": 403,
}

# Headers API Gateway computes itself instead of taking them from a function.
_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive"}


@dataclass(frozen=True)
class HttpRequest:
    """A request as received: raw target (path and query) and header pairs."""

    method: str
    target: str
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    source_ip: str = "127.0.0.1"

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.target).path) or "/"

    @property
    def query(self) -> str:
        return urlsplit(self.target).query

    def header(self, name: str) -> str | None:
        """The last value of a header, case-insensitively (as API Gateway keeps it)."""
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return values[-1] if values else None


@dataclass(frozen=True)
class HttpResponse:
    """A response to write: status, header pairs and body bytes."""

    status: int
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return values[-1] if values else None


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    path_parameters: dict[str, str]


class RouteTable:
    """The API's resources and methods, matched as API Gateway matches them."""

    def __init__(self, routes: Sequence[Route]) -> None:
        by_path: dict[str, list[Route]] = {}
        for route in routes:
            by_path.setdefault(_normalise(route.path), []).append(route)
        self._resources = sorted(by_path.items(), key=lambda item: _specificity(item[0]))

    def match(self, method: str, path: str) -> RouteMatch | None:
        """The route for ``method`` on ``path``, or None where API Gateway has none.

        The most specific matching resource is chosen first and the method
        second, as API Gateway does: a method missing on that resource is not
        looked for on a less specific one.
        """
        for resource, routes in self._resources:
            parameters = _match_path(resource, _normalise(path))
            if parameters is None:
                continue
            exact = [route for route in routes if route.method == method.upper()]
            fallback = [route for route in routes if route.method == "ANY"]
            chosen = exact or fallback
            return RouteMatch(chosen[0], parameters) if chosen else None
        return None


def _normalise(path: str) -> str:
    stripped = path.rstrip("/")
    return stripped if stripped.startswith("/") else "/" + stripped


def _segments(path: str) -> list[str]:
    return [segment for segment in path.split("/") if segment]


def _specificity(resource: str) -> list[int]:
    """Sort key: literal parts first, then ``{name}``, greedy ``{name+}`` last."""
    key = []
    for segment in _segments(resource):
        if segment.startswith("{") and segment.endswith("+}"):
            key.append(2)
        elif segment.startswith("{") and segment.endswith("}"):
            key.append(1)
        else:
            key.append(0)
    return key


def _match_path(resource: str, path: str) -> dict[str, str] | None:
    pattern, actual = _segments(resource), _segments(path)
    parameters: dict[str, str] = {}
    for index, segment in enumerate(pattern):
        if segment.startswith("{") and segment.endswith("+}"):
            rest = actual[index:]
            if not rest:
                return None
            parameters[segment[1:-2]] = "/".join(rest)
            return parameters
        if index >= len(actual):
            return None
        if segment.startswith("{") and segment.endswith("}"):
            parameters[segment[1:-1]] = actual[index]
        elif segment != actual[index]:
            return None
    return parameters if len(pattern) == len(actual) else None


# --- Events ---------------------------------------------------------------


@dataclass(frozen=True)
class EventOptions:
    """Facts about the API that shape every event."""

    stage: str
    binary_media_types: Sequence[str] = ()
    api_id: str = "local"


def build_event(
    request: HttpRequest,
    match: RouteMatch,
    options: EventOptions,
    *,
    request_id: str | None = None,
    now: datetime | None = None,
    authorizer: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The API Gateway REST proxy event for ``request`` reaching ``match``.

    ``authorizer`` is what an authorizer let through (see
    :func:`authorizer_context`); it becomes ``requestContext.authorizer``.
    """
    request_id = request_id or str(uuid.uuid4())
    now = now or datetime.now(UTC)
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(request.query, keep_blank_values=True):
        query[name] = value
        multi_query.setdefault(name, []).append(value)

    body, is_base64 = _event_body(request, options.binary_media_types)
    path = request.path
    resource_path = match.route.path
    event: dict[str, Any] = {
        "resource": resource_path,
        "path": path,
        "httpMethod": request.method.upper(),
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": match.path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": LOCAL_ACCOUNT_ID,
            "apiId": options.api_id,
            "domainName": request.header("Host") or "localhost",
            "domainPrefix": (request.header("Host") or "localhost").split(".")[0],
            "extendedRequestId": request_id,
            "httpMethod": request.method.upper(),
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": request.source_ip,
                "user": None,
                "userAgent": request.header("User-Agent"),
                "userArn": None,
            },
            "path": f"/{options.stage}{path}",
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "resourceId": hashlib.sha256(resource_path.encode()).hexdigest()[:6],
            "resourcePath": resource_path,
            "stage": options.stage,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }
    if authorizer is not None:
        event["requestContext"]["authorizer"] = dict(authorizer)
    return event


def _event_body(request: HttpRequest, binary_media_types: Sequence[str]) -> tuple[str | None, bool]:
    """The body as API Gateway passes it: text, or base64 for binary types.

    A body that is not UTF-8 is base64-encoded too: text could not carry it
    unchanged, and the handler must see exactly what the client sent.
    """
    if not request.body:
        return None, False
    content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
    binary = any(fnmatch.fnmatch(content_type, pattern.lower()) for pattern in binary_media_types)
    if not binary:
        try:
            return request.body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(request.body).decode("ascii"), True


# --- Results --------------------------------------------------------------


class MalformedResultError(ValueError):
    """The function's result is not a valid proxy response."""


class ResponseTooLargeError(Exception):
    """The function returned more than Lambda passes on, so API Gateway answers 502."""

    def __init__(self, size: int) -> None:
        super().__init__(
            f"the function's response is {size:,} bytes, over Lambda's 6 MB function "
            f"response limit ({MAX_RESPONSE_BYTES:,} bytes)"
        )
        self.size = size


def parse_result(result: Any, request_id: str) -> HttpResponse:
    """The HTTP response for a function's proxy result (Lambda's, then API Gateway's checks).

    :class:`ResponseTooLargeError` when the result's JSON is over
    :data:`MAX_RESPONSE_BYTES` (Lambda fails such an invocation);
    :class:`MalformedResultError` when it cannot be a proxy response.
    """
    try:
        size = len(json.dumps(result).encode("utf-8"))
    except (TypeError, ValueError) as error:
        raise MalformedResultError(f"result is not JSON: {error}") from error
    if size > MAX_RESPONSE_BYTES:
        raise ResponseTooLargeError(size)
    if not isinstance(result, Mapping):
        raise MalformedResultError(f"result is {type(result).__name__}, not an object")
    status = result.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedResultError(f"statusCode {status!r} is not an HTTP status")
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        raise MalformedResultError("body is not a string")
    single = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    if not isinstance(single, Mapping) or not isinstance(multi, Mapping):
        raise MalformedResultError("headers are not objects")

    headers: list[tuple[str, str]] = []
    # Where both name a header, multiValueHeaders wins, as in API Gateway.
    multi_names = {str(name).lower() for name in multi}
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedResultError(f"multiValueHeaders[{name!r}] is not a list")
        headers.extend((str(name), _header_text(value)) for value in values)
    for name, value in single.items():
        if str(name).lower() not in multi_names:
            headers.append((str(name), _header_text(value)))
    headers = [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP]
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json"))
    headers.append(("x-amzn-RequestId", request_id))

    raw = (body or "").encode("utf-8")
    if result.get("isBase64Encoded") and body:
        try:
            raw = base64.b64decode(body, validate=True)
        except binascii.Error as error:
            raise MalformedResultError("body is not valid base64") from error
    return HttpResponse(status, headers, raw)


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- Gateway responses ----------------------------------------------------


def gateway_response(
    responses: Mapping[str, GatewayResponse],
    response_type: str,
    message: str,
    request_id: str,
    *,
    status: int | None = None,
) -> HttpResponse:
    """API Gateway's own error ``response_type``, as the template customises it.

    The type's own entry wins, then ``DEFAULT_4XX``/``DEFAULT_5XX``, then
    API Gateway's built-in ``{"message": ...}``. ``status`` stands for the
    cases (a function error is a 502) that have no type of their own.
    """
    code = status or DEFAULT_STATUS.get(response_type, 500)
    default_type = "DEFAULT_5XX" if code >= 500 else "DEFAULT_4XX"
    spec = responses.get(response_type) or responses.get(default_type)
    headers: list[tuple[str, str]] = []
    body = json.dumps({"message": message})
    if spec is not None:
        if spec.status_code is not None and response_type in responses:
            code = spec.status_code
        headers.extend(spec.headers.items())
        template = spec.templates.get("application/json")
        if template is not None:
            body = _substitute(template, message, response_type, request_id)
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json"))
    headers.append(("x-amzn-RequestId", request_id))
    headers.append(("x-amzn-ErrorType", _error_type(response_type)))
    return HttpResponse(code, headers, body.encode("utf-8"))


def _substitute(template: str, message: str, response_type: str, request_id: str) -> str:
    # Longest names first: $context.error.messageString before $context.error.message.
    values = {
        "$context.error.messageString": json.dumps(message),
        "$context.error.message": message,
        "$context.error.responseType": response_type,
        "$context.requestId": request_id,
        "$context.extendedRequestId": request_id,
    }
    for name in sorted(values, key=len, reverse=True):
        template = template.replace(name, values[name])
    return template


def _error_type(response_type: str) -> str:
    words = response_type.lower().split("_")
    return "".join(word.capitalize() for word in words) + "Exception"


# --- Lambda TOKEN authorizers ----------------------------------------------

# API Gateway's messages for a policy that does not allow the request.
EXPLICIT_DENY_MESSAGE = "User is not authorized to access this resource with an explicit deny"
IMPLICIT_DENY_MESSAGE = "User is not authorized to access this resource"
INVOKE_ACTION = "execute-api:Invoke"


def method_arn(options: EventOptions, method: str, path: str) -> str:
    """The ``methodArn`` of a request: which API, stage, method and path it calls."""
    return (
        f"arn:aws:execute-api:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:"
        f"{options.api_id}/{options.stage}/{method.upper()}/{path.lstrip('/')}"
    )


def token_event(token: str, arn: str) -> dict[str, Any]:
    """The event a TOKEN authorizer gets: the header's value, as sent, and the method ARN."""
    return {"type": "TOKEN", "authorizationToken": token, "methodArn": arn}


@dataclass(frozen=True)
class AuthorizerResult:
    """An authorizer's checked answer: principal, policy, and context as strings."""

    principal_id: str
    statements: tuple[Mapping[str, Any], ...]
    context: Mapping[str, str]


def parse_authorizer_result(result: Any) -> AuthorizerResult:
    """Check an authorizer's answer as API Gateway does; :class:`MalformedResultError` if bad.

    The answer needs a ``principalId`` and a ``policyDocument`` whose
    statements each have an ``Effect`` (``Allow`` or ``Deny``), an
    ``Action`` and a ``Resource``; ``context`` values must be strings,
    numbers or booleans, and reach the function as strings.
    """
    if not isinstance(result, Mapping):
        raise MalformedResultError(f"authorizer result is {type(result).__name__}, not an object")
    principal = result.get("principalId")
    if not isinstance(principal, str) or not principal:
        raise MalformedResultError("authorizer result has no principalId")
    policy = result.get("policyDocument")
    if not isinstance(policy, Mapping):
        raise MalformedResultError("authorizer result has no policyDocument")
    raw_statements = policy.get("Statement")
    if isinstance(raw_statements, Mapping):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list) or not raw_statements:
        raise MalformedResultError("policyDocument has no Statement")
    for statement in raw_statements:
        if not isinstance(statement, Mapping) or statement.get("Effect") not in ("Allow", "Deny"):
            raise MalformedResultError("a statement's Effect is neither Allow nor Deny")
        for key in ("Action", "Resource"):
            if not _strings(statement.get(key)):
                raise MalformedResultError(f"a statement's {key} is not a string or a list of them")
    raw_context = result.get("context") or {}
    if not isinstance(raw_context, Mapping):
        raise MalformedResultError("authorizer context is not an object")
    context: dict[str, str] = {}
    for key, value in raw_context.items():
        if isinstance(value, bool):
            context[str(key)] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            context[str(key)] = str(value)
        else:
            raise MalformedResultError(f"authorizer context value {key!r} is not a scalar")
    return AuthorizerResult(principal, tuple(raw_statements), context)


def _strings(value: Any) -> list[str]:
    """``value`` as a list of strings; empty when it is neither a string nor such a list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return list(value)
    return []


class PolicyDecision(enum.Enum):
    """How an authorizer's policy answers one request."""

    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


def evaluate_policy(statements: Sequence[Mapping[str, Any]], arn: str) -> PolicyDecision:
    """Whether ``statements`` let a request for ``arn`` through, as IAM evaluates them.

    A statement applies when one of its actions matches ``execute-api:Invoke``
    (case-insensitively) and one of its resources matches ``arn``; ``*``
    matches any run of characters (``/`` included) and ``?`` any one. A
    matching ``Deny`` wins over everything; without a matching ``Allow``
    the request is denied too.
    """
    allowed = False
    for statement in statements:
        actions = _strings(statement.get("Action"))
        resources = _strings(statement.get("Resource"))
        if not any(iam_pattern_matches(a, INVOKE_ACTION, ignore_case=True) for a in actions):
            continue
        if not any(iam_pattern_matches(r, arn) for r in resources):
            continue
        if statement.get("Effect") == "Deny":
            return PolicyDecision.EXPLICIT_DENY
        allowed = True
    return PolicyDecision.ALLOW if allowed else PolicyDecision.IMPLICIT_DENY


def iam_pattern_matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """Whether ``value`` matches an IAM ``pattern`` (``*`` any run, ``?`` one character)."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.fullmatch("".join(parts), value, flags) is not None


def authorizer_context(result: AuthorizerResult, latency_ms: int = 0) -> dict[str, Any]:
    """``requestContext.authorizer`` of a request the authorizer let through."""
    return {**result.context, "principalId": result.principal_id, "integrationLatency": latency_ms}


# --- The Lambda context ---------------------------------------------------


@dataclass
class LocalLambdaContext:
    """The attributes and method of the Lambda runtime's context object."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: float
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout, never negative."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))

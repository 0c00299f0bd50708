"""API Gateway entry point: the resolver, its routers, errors as ``Status``.

Thin by design: the routes live in ``routes``, one router per resource
group, and each reads the request, calls one domain function and returns its
document. Here the resolver includes them and maps errors to Kubernetes
``Status`` responses through ``imagestreams.api.responses``; nothing here
talks to AWS or a registry directly.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagestreams import bootstrap
from imagestreams.api import responses
from imagestreams.errors import RequestError
from imagestreams.observability import logger, metrics, tracer
from routes import common, discovery, imports, streams, tags, webhooks

app = APIGatewayRestResolver()
for module in (common, imports, streams, tags, discovery, webhooks):
    app.include_router(module.router)


@app.not_found
def not_found(_: Exception) -> Response[str]:
    """Unknown routes get a 404 ``Status``, as the Kubernetes API server does."""
    return responses.status_response(
        404,
        "NotFound",
        f"the server could not find the requested resource ({app.current_event.path})",
    )


@app.exception_handler(RequestError)  # type: ignore[untyped-decorator]
def request_error(error: RequestError) -> Response[str]:
    """Errors of the request itself: 400, 401, 403, 404, 409, 413, 422, 503."""
    return responses.for_request_error(error)


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def unexpected(error: Exception) -> Response[str]:
    """Anything else is a 500 with the request id, never a stack trace."""
    request_id = app.lambda_context.aws_request_id
    logger.error(
        "unhandled error", error_type=type(error).__name__, where=responses.origin_of(error)
    )
    return responses.internal_error(request_id)


@bootstrap.settled
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Resolve one API Gateway REST proxy event.

    Documents are gzip'd for clients that accept it; an answer too large for
    a function's response is refused with a ``Status`` instead.
    """
    return responses.within_response_limit(
        responses.without_forbidden_body(app.resolve(event, context))
    )

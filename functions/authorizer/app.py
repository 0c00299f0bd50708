"""API Gateway TOKEN authorizer: a bearer token in, the caller's namespaces out.

API Gateway calls this with ``{"type": "TOKEN", "authorizationToken":
"Bearer <token>", "methodArn": ...}`` before any route runs, and caches
the answer per token for the API's ``ReauthorizeEvery`` seconds. It
authenticates; it does not decide namespaces. A known token gets a policy
allowing every route of the stage plus a context (``subject``,
``namespaces``) that reaches the api function as
``requestContext.authorizer``; a missing, malformed or unknown token raises
``Exception("Unauthorized")``, which API Gateway answers with 401.

Namespace isolation is the api function's: every namespaced route checks
the context's namespaces before any work (``imagestreams.api.access``) and
answers a namespace not granted with Kubernetes' own 403 ``Forbidden``
Status, while discovery and unknown paths answer every valid token (200
or 404), as the Kubernetes API server does. A policy limited to the
token's namespaces would have API Gateway answer those with its own 403
instead.

Thin and quick to start: it imports only the token model, gets its store
from the composition root (which imports nothing it does not build), builds
the Secrets Manager client on the first call, and never logs the
token or its hash (only the decision and, when known, the subject). The
event itself is never logged. Each decision is counted (``Authorizations``
by ``decision``: allow, deny, or error when the token store fails).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from imagestreams import bootstrap
from imagestreams.adapters.tokens_store import TokenStoreUnavailableError
from imagestreams.auth.tokens import MethodArn, bearer_token, build_policy
from imagestreams.observability import logger, metrics, tracer

# API Gateway answers 401 for exactly this error message; any other error is a 500.
UNAUTHORIZED = "Unauthorized"


def _deny(reason: str) -> Exception:
    logger.info("authorization", decision="unauthorized", reason=reason)
    bootstrap.container().telemetry().authorization("deny")
    return Exception(UNAUTHORIZED)


@bootstrap.settled
@logger.inject_lambda_context(clear_state=True, log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Authorize one request, or raise ``Exception("Unauthorized")``."""
    header = event.get("authorizationToken")
    if not isinstance(header, str) or not header.strip():
        raise _deny("missing token")
    token = bearer_token(header)
    if token is None:
        raise _deny("not a bearer token")
    method_arn = MethodArn.parse(str(event.get("methodArn", "")))
    try:
        grant = bootstrap.container().token_store().grant_for(token)
    except TokenStoreUnavailableError as error:
        # Not cached by API Gateway: the next request asks again.
        logger.error("token store unavailable", secret_name=error.secret_name, reason=error.reason)
        bootstrap.container().telemetry().authorization("error")
        raise
    if grant is None:
        raise _deny("unknown token")
    logger.info(
        "authorization",
        decision="allow",
        subject=grant.subject,
        namespaces=",".join(grant.namespaces),
    )
    bootstrap.container().telemetry().authorization("allow")
    return build_policy(grant, method_arn)

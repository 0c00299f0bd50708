"""What the routes read from their request besides its path: helpers they share.

Owns the re-check of the authorizer's grant (a namespace, every namespace,
any authenticated caller), the namespaces a caller may read, the request
of a PATCH, the 405 of a verb a resource lacks, ``includeObject`` and the
seconds left in the invocation. The request is read through ``router``,
which ``app`` includes like the route modules' routers. Nothing here
registers a route or calls a use case.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from imagestreams import bootstrap, errors
from imagestreams.api import access, bodies, decoding, discovery, patching, responses
from imagestreams.models import OpenShiftModel
from imagestreams.observability import logger

NAMESPACE = "/apis/image.openshift.io/v1/namespaces/<namespace>"

router = APIGatewayRouter()  # type: ignore[no-untyped-call]

M = TypeVar("M", bound=OpenShiftModel)
R = TypeVar("R")


def allow(namespace: str, verb: str, resource: str, name: str = "") -> None:
    """Check the authorizer's grant again before any work (401 or 403 Status)."""
    context = router.current_event.raw_event.get("requestContext") or {}
    subject = access.check(context.get("authorizer"), namespace, verb, resource, name)
    logger.append_keys(subject=subject, namespace=namespace)


def allow_cluster(verb: str, resource: str) -> None:
    """Check that the caller was granted every namespace (401 or 403 Status)."""
    context = router.current_event.raw_event.get("requestContext") or {}
    logger.append_keys(subject=access.check_cluster(context.get("authorizer"), verb, resource))


def authenticated() -> None:
    """Discovery is for every authenticated caller, whatever namespaces it is granted."""
    context = router.current_event.raw_event.get("requestContext") or {}
    logger.append_keys(subject=access.authenticated(context.get("authorizer")))


def readable() -> Callable[[str], bool]:
    """Whether the caller may read image streams in a namespace (a tag's source may be there)."""
    context = router.current_event.raw_event.get("requestContext") or {}
    granted = access.granted_namespaces(context.get("authorizer"))
    return lambda namespace: access.EVERY_NAMESPACE in granted or namespace in granted


def not_allowed(
    namespace: str, name: str, resource: str, *, check_name: bool = True
) -> Response[str]:
    """405 MethodNotAllowed, as the API server answers a verb a resource lacks.

    Authorization comes first, as in the API server: in a namespace the
    caller was not granted, the answer is the Forbidden of that verb.
    ``check_name=False`` for resources whose names are not object names
    (``<stream>:<tag>``).
    """
    responses.check_path(namespace, (name or None) if check_name else None)
    verb = access.verb_of(router.current_event.http_method, collection=not name)
    allow(namespace, verb, resource, name)
    raise errors.method_not_allowed()


def served(document: discovery.Document) -> Response[str | bytes]:
    """``document`` for an authenticated caller (304 when its copy is current)."""
    authenticated()
    return responses.served(document, router.current_event.headers.get("If-None-Match"))


def accept() -> str | None:
    return router.current_event.headers.get("Accept")


def include_object() -> str:
    query = router.current_event.query_string_parameters or {}
    return query.get("includeObject") or "Metadata"


def write_request(parse: Callable[..., R], namespace: str, options_kind: str) -> R:
    """A create's or update's body as ``parse`` (a ``decoding.parse_*_request``) reads it."""
    event = router.current_event
    return parse(
        event.body,
        namespace,
        content_type=event.headers.get("Content-Type"),
        query=event.multi_value_query_string_parameters,
        is_base64=bool(event.is_base64_encoded),
        max_bytes=bootstrap.container().settings.max_body_bytes,
        options_kind=options_kind,
    )


class PatchWrite(Protocol[M]):
    """A use case's patch: the stored object's JSON through ``patched``, then updated."""

    def __call__(
        self,
        namespace: str,
        name: str,
        patched: Callable[[dict[str, Any]], M],
        remaining_seconds: float,
        *,
        dry_run: bool = False,
        may_read: Callable[[str], bool] | None = None,
    ) -> M: ...


def patch(
    namespace: str,
    name: str,
    decode: Callable[[bytes, decoding.WriteOptions], tuple[M, Sequence[str]]],
    write: PatchWrite[M],
) -> Response[str]:
    """Answer a PATCH: its options, patch type and body read in the API server's order.

    ``decode`` reads the patched document (JSON) as the resource's object,
    with what decoding it warns about; ``write`` is the use case's patch.
    """
    event = router.current_event
    options = decoding.write_options(
        event.multi_value_query_string_parameters or {}, "PatchOptions"
    )
    media_type = patching.patch_type(event.headers.get("Content-Type"))
    raw = bodies.bounded_body(
        event.body,
        bool(event.is_base64_encoded),
        bootstrap.container().settings.max_body_bytes,
    )
    warnings: list[str] = []

    def patched(document: dict[str, Any]) -> M:
        changed = json.dumps(patching.apply(document, raw, media_type)).encode()
        written, found = decode(changed, options)
        warnings[:] = found
        return written

    written = write(
        namespace, name, patched, remaining(), dry_run=options.dry_run, may_read=readable()
    )
    return responses.with_warnings(responses.document(200, written.to_json_dict()), warnings)


def remaining() -> float:
    """Seconds left in this invocation."""
    return float(router.lambda_context.get_remaining_time_in_millis()) / 1000

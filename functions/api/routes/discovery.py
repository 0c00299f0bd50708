"""Discovery, OpenAPI, version and namespace routes: what every client reads first.

For any authenticated caller, whatever namespaces it is granted (a
namespace itself only for a caller granted it). The documents are
``imagestreams.api.discovery``'s and ``imagestreams.api.openapi``'s; the
routes only authenticate, pick by ``Accept`` and answer 304 for a current copy.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from imagestreams.api import access, discovery, openapi, responses
from routes.common import accept, authenticated, served

router = APIGatewayRouter()  # type: ignore[no-untyped-call]


@router.get("/version", compress=True)
def version() -> Response[str | bytes]:
    return served(discovery.version_info())


@router.get("/api", compress=True)
def legacy_api() -> Response[str | bytes]:
    return served(discovery.legacy(accept()))


@router.get("/api/v1/namespaces/<namespace>")
def get_namespace(namespace: str) -> Response[str]:
    """A namespace the caller was granted, as the core API shows one.

    Only ``get``: kubectl reads the namespace to tell a missing object from
    a missing namespace. There is no namespace object behind it: a granted
    namespace exists for its caller, and another is Forbidden.
    """
    responses.check_path(namespace)
    context = router.current_event.raw_event.get("requestContext") or {}
    access.check(context.get("authorizer"), namespace, "get", "namespaces", namespace, group="")
    return responses.document(200, responses.namespace(namespace))


@router.get("/api/v1", compress=True)
def legacy_resources() -> Response[str | bytes]:
    return served(discovery.legacy_resources())


@router.get("/apis", compress=True)
def api_groups() -> Response[str | bytes]:
    return served(discovery.groups(accept()))


@router.get(f"/apis/{discovery.GROUP}", compress=True)
def api_group() -> Response[str | bytes]:
    return served(discovery.group())


@router.get(f"/apis/{discovery.GROUP_VERSION}", compress=True)
def api_resources() -> Response[str | bytes]:
    return served(discovery.resource_list())


@router.get("/openapi/v2", compress=True)
def openapi_v2() -> Response[str] | Response[str | bytes]:
    """Swagger 2.0 as JSON, or as the protobuf client-go asks for; 406 for anything else."""
    authenticated()
    document = openapi.v2_for(accept())
    if document is None:
        return responses.not_acceptable(f"{discovery.JSON}, {openapi.V2_PROTOBUF}")
    return served(document)


@router.get("/openapi/v3", compress=True)
def openapi_v3() -> Response[str | bytes]:
    return served(openapi.v3_index())


@router.get(f"/openapi/v3/{openapi.V3_PATH}", compress=True)
def openapi_v3_group_version() -> Response[str | bytes]:
    return served(openapi.v3_group_version())

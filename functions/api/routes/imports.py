"""ImageStreamImport routes: create one, read the latest, 405 for the other verbs.

Each route checks its path and grant, calls one use case and returns its
document; reading the import request is ``imagestreams.api.decoding``'s job.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from imagestreams import bootstrap
from imagestreams.api import decoding, responses
from routes.common import NAMESPACE, allow, not_allowed, remaining

IMPORTS = f"{NAMESPACE}/imagestreamimports"

router = APIGatewayRouter()  # type: ignore[no-untyped-call]


@router.post(IMPORTS, compress=True)
def create_import(namespace: str) -> Response[str]:
    """POST an ImageStreamImport: 201 with the status, or 202 while a job finishes it."""
    allow(namespace, "create", "imagestreamimports")
    request = decoding.parse_import_request(
        router.current_event.body,
        namespace,
        content_type=router.current_event.headers.get("Content-Type"),
        query=router.current_event.multi_value_query_string_parameters,
        is_base64=bool(router.current_event.is_base64_encoded),
        max_bytes=bootstrap.container().settings.max_body_bytes,
        rules=bootstrap.container().registry_rules(),
        max_images=bootstrap.container().settings.max_import_images,
    )
    seconds = remaining()
    created = (
        bootstrap.container()
        .start_import()
        .create(namespace, request.valid, seconds, dry_run=request.options.dry_run)
    )
    answer = responses.document(202 if created.accepted else 201, created.document)
    return responses.with_warnings(answer, request.warnings)


@router.get(f"{IMPORTS}/<name>", compress=True)
def get_import(namespace: str, name: str) -> Response[str]:
    """The latest import document for ``name``."""
    responses.check_path(namespace, name)
    allow(namespace, "get", "imagestreamimports", name)
    return responses.document(200, bootstrap.container().queries().get_import(namespace, name))


@router.route(IMPORTS, method=["GET", "PUT", "PATCH", "DELETE"])
@router.route(f"{IMPORTS}/<name>", method=["POST", "PUT", "PATCH", "DELETE"])
def imports_not_allowed(namespace: str, name: str = "") -> Response[str]:
    """A verb imagestreamimports do not serve: 405."""
    return not_allowed(namespace, name, "imagestreamimports")

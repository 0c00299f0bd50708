"""ImageStream routes: list, watch and read; create, update, patch, delete.

Also the list and watch of every namespace's streams (``kubectl get -A``),
for a grant of every namespace, and the 405 of the verbs imagestreams lack.
Each route checks its path and grant, calls one use case and returns its
document; DockerImage spec tags of a write are imported by the use case.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from imagestreams import bootstrap, errors, listing, watching
from imagestreams.api import access, bodies, decoding, responses, tables
from imagestreams.models import ImageStream
from imagestreams.usecases.common import now
from routes.common import (
    NAMESPACE,
    accept,
    allow,
    allow_cluster,
    include_object,
    not_allowed,
    patch,
    readable,
    remaining,
    write_request,
)

STREAMS = f"{NAMESPACE}/imagestreams"

router = APIGatewayRouter()  # type: ignore[no-untyped-call]


@router.get(STREAMS, compress=True)
def list_streams(namespace: str) -> Response[str]:
    """The namespace's ImageStreams: a list, a Table, or a finite watch.

    Selectors apply to all three, ``limit`` and ``continue`` to lists and Tables.
    """
    responses.check_path(namespace)
    options = listing.list_options(router.current_event.query_string_parameters)
    allow(namespace, "watch" if options.watch else "list", "imagestreams")
    return _streams(namespace, options)


def _streams(namespace: str | None, options: listing.ListOptions) -> Response[str]:
    """The streams of ``namespace`` (of every namespace for None) ``options`` asks for."""
    if options.watch:
        seconds = watching.seconds(options.timeout_seconds, remaining(), options.client_timeout)
        events = bootstrap.container().queries().watch_streams(namespace, options, seconds)
        return responses.watch(watching.body(events))
    items, page = bootstrap.container().queries().list_streams(namespace, options)
    meta = responses.list_meta(items, page)
    if tables.wants_table(accept()):
        table = tables.stream_table(items, now(), include_object=include_object(), list_meta=meta)
        return responses.document(200, table)
    return responses.document(200, responses.stream_list(items, meta))


@router.get(f"{STREAMS}/<name>", compress=True)
def get_stream(namespace: str, name: str) -> Response[str]:
    """One ImageStream, or its Table row."""
    responses.check_path(namespace, name)
    allow(namespace, "get", "imagestreams", name)
    stream = bootstrap.container().queries().get_stream(namespace, name)
    if tables.wants_table(accept()):
        return responses.document(
            200, tables.stream_table([stream], now(), include_object=include_object())
        )
    return responses.document(200, stream.to_json_dict())


# --- every namespace's streams (kubectl get is -A), for a grant of every namespace

ALL_STREAMS = "/apis/image.openshift.io/v1/imagestreams"


@router.get(ALL_STREAMS, compress=True)
def list_all_streams() -> Response[str]:
    """Every namespace's ImageStreams: a list, a Table, or a finite watch."""
    options = listing.list_options(router.current_event.query_string_parameters)
    allow_cluster("watch" if options.watch else "list", "imagestreams")
    return _streams(None, options)


@router.route(ALL_STREAMS, method=["POST", "PUT", "PATCH", "DELETE"])
def all_streams_not_allowed() -> Response[str]:
    """Only lists and watches reach across namespaces: 405 once authorized."""
    allow_cluster(access.verb_of(router.current_event.http_method, collection=True), "imagestreams")
    raise errors.method_not_allowed()


@router.route(STREAMS, method=["PUT", "PATCH"])
@router.route(f"{STREAMS}/<name>", method=["POST"])
def streams_not_allowed(namespace: str, name: str = "") -> Response[str]:
    """A verb imagestreams do not serve: 405."""
    return not_allowed(namespace, name, "imagestreams")


# --- ImageStream writes: create, update, patch (DockerImage spec tags are imported)


@router.post(STREAMS, compress=True)
def create_stream(namespace: str) -> Response[str]:
    """POST an ImageStream: 201 with the stream after its spec tags were imported.

    The namespace is judged with the object's metadata (a 422), as an import's is.
    """
    allow(namespace, "create", "imagestreams")
    request = write_request(decoding.parse_stream_request, namespace, "CreateOptions")
    stream = (
        bootstrap.container()
        .write_streams()
        .create(
            namespace,
            request.stream,
            remaining(),
            dry_run=request.options.dry_run,
            may_read=readable(),
        )
    )
    return responses.with_warnings(responses.document(201, stream.to_json_dict()), request.warnings)


@router.put(f"{STREAMS}/<name>", compress=True)
def update_stream(namespace: str, name: str) -> Response[str]:
    """PUT an ImageStream: its ``metadata.resourceVersion`` must be the stored one."""
    responses.check_path(namespace, name)
    allow(namespace, "update", "imagestreams", name)
    request = write_request(decoding.parse_stream_request, namespace, "UpdateOptions")
    stream = (
        bootstrap.container()
        .write_streams()
        .update(
            namespace,
            name,
            request.stream,
            remaining(),
            dry_run=request.options.dry_run,
            may_read=readable(),
        )
    )
    return responses.with_warnings(responses.document(200, stream.to_json_dict()), request.warnings)


@router.patch(f"{STREAMS}/<name>", compress=True)
def patch_stream(namespace: str, name: str) -> Response[str]:
    """PATCH an ImageStream with a JSON merge patch or a JSON patch."""
    responses.check_path(namespace, name)
    allow(namespace, "patch", "imagestreams", name)

    def decode(raw: bytes, options: decoding.WriteOptions) -> tuple[ImageStream, Sequence[str]]:
        request = decoding.decode_stream(raw, bodies.JSON, namespace, options)
        return request.stream, request.warnings

    return patch(namespace, name, decode, bootstrap.container().write_streams().patch)


@router.delete(f"{STREAMS}/<name>")
def delete_stream(namespace: str, name: str) -> Response[str]:
    """Delete an ImageStream and all its tags; answers a ``Success`` Status.

    DeleteOptions (body or query) may make it a dry run or set preconditions.
    """
    responses.check_path(namespace, name)
    allow(namespace, "delete", "imagestreams", name)
    options = decoding.delete_options(
        router.current_event.body,
        router.current_event.headers.get("Content-Type"),
        router.current_event.multi_value_query_string_parameters,
        is_base64=bool(router.current_event.is_base64_encoded),
    )
    status = (
        bootstrap.container()
        .queries()
        .delete_stream(
            namespace,
            name,
            dry_run=options.dry_run,
            expected_uid=options.uid,
            expected_rv=options.resource_version,
        )
    )
    return responses.document(200, status.to_json_dict())

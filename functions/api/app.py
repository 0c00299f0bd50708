"""API Gateway entry point: routes, request checks, errors as ``Status``.

Thin by design: each route reads the request, calls one domain function and
returns its document. Errors are mapped to Kubernetes ``Status`` responses in
``imagestreams.api.responses``; nothing here talks to AWS or a registry directly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagestreams import bootstrap, errors, listing, reimports, watching
from imagestreams.api import (
    access,
    bodies,
    decoding,
    discovery,
    openapi,
    patching,
    responses,
    tables,
    webhooks,
)
from imagestreams.errors import RequestError
from imagestreams.models import ImageStream, ImageStreamTag, ImageStreamTagList, ListMeta
from imagestreams.observability import logger, metrics, tracer
from imagestreams.usecases.common import now

NAMESPACE = "/apis/image.openshift.io/v1/namespaces/<namespace>"
IMPORTS = f"{NAMESPACE}/imagestreamimports"
STREAMS = f"{NAMESPACE}/imagestreams"

app = APIGatewayRestResolver()


def allow(namespace: str, verb: str, resource: str, name: str = "") -> None:
    """Check the authorizer's grant again before any work (401 or 403 Status)."""
    context = app.current_event.raw_event.get("requestContext") or {}
    subject = access.check(context.get("authorizer"), namespace, verb, resource, name)
    logger.append_keys(subject=subject, namespace=namespace)


@app.post(IMPORTS, compress=True)
def create_import(namespace: str) -> Response[str]:
    """POST an ImageStreamImport: 201 with the status, or 202 while a job finishes it."""
    allow(namespace, "create", "imagestreamimports")
    request = decoding.parse_import_request(
        app.current_event.body,
        namespace,
        content_type=app.current_event.headers.get("Content-Type"),
        query=app.current_event.multi_value_query_string_parameters,
        is_base64=bool(app.current_event.is_base64_encoded),
        max_bytes=bootstrap.container().settings.max_body_bytes,
        rules=bootstrap.container().registry_rules(),
        max_images=bootstrap.container().settings.max_import_images,
    )
    remaining = app.lambda_context.get_remaining_time_in_millis() / 1000
    created = (
        bootstrap.container()
        .start_import()
        .create(namespace, request.valid, remaining, dry_run=request.options.dry_run)
    )
    answer = responses.document(202 if created.accepted else 201, created.document)
    return responses.with_warnings(answer, request.warnings)


@app.get(f"{IMPORTS}/<name>", compress=True)
def get_import(namespace: str, name: str) -> Response[str]:
    """The latest import document for ``name``."""
    responses.check_path(namespace, name)
    allow(namespace, "get", "imagestreamimports", name)
    return responses.document(200, bootstrap.container().queries().get_import(namespace, name))


@app.get(STREAMS, compress=True)
def list_streams(namespace: str) -> Response[str]:
    """The namespace's ImageStreams: a list, a Table, or a finite watch.

    Selectors apply to all three, ``limit`` and ``continue`` to lists and Tables.
    """
    responses.check_path(namespace)
    options = listing.list_options(app.current_event.query_string_parameters)
    allow(namespace, "watch" if options.watch else "list", "imagestreams")
    return _streams(namespace, options)


def _streams(namespace: str | None, options: listing.ListOptions) -> Response[str]:
    """The streams of ``namespace`` (of every namespace for None) ``options`` asks for."""
    if options.watch:
        remaining = app.lambda_context.get_remaining_time_in_millis() / 1000
        seconds = watching.seconds(options.timeout_seconds, remaining, options.client_timeout)
        events = bootstrap.container().queries().watch_streams(namespace, options, seconds)
        return responses.watch(watching.body(events))
    items, page = bootstrap.container().queries().list_streams(namespace, options)
    meta = responses.list_meta(items, page)
    if tables.wants_table(app.current_event.headers.get("Accept")):
        table = tables.stream_table(items, now(), include_object=_include_object(), list_meta=meta)
        return responses.document(200, table)
    return responses.document(200, responses.stream_list(items, meta))


@app.get(f"{STREAMS}/<name>", compress=True)
def get_stream(namespace: str, name: str) -> Response[str]:
    """One ImageStream, or its Table row."""
    responses.check_path(namespace, name)
    allow(namespace, "get", "imagestreams", name)
    stream = bootstrap.container().queries().get_stream(namespace, name)
    if tables.wants_table(app.current_event.headers.get("Accept")):
        return responses.document(
            200, tables.stream_table([stream], now(), include_object=_include_object())
        )
    return responses.document(200, stream.to_json_dict())


# --- every namespace's streams (kubectl get is -A), for a grant of every namespace

ALL_STREAMS = "/apis/image.openshift.io/v1/imagestreams"


def allow_cluster(verb: str, resource: str) -> None:
    """Check that the caller was granted every namespace (401 or 403 Status)."""
    context = app.current_event.raw_event.get("requestContext") or {}
    logger.append_keys(subject=access.check_cluster(context.get("authorizer"), verb, resource))


@app.get(ALL_STREAMS, compress=True)
def list_all_streams() -> Response[str]:
    """Every namespace's ImageStreams: a list, a Table, or a finite watch."""
    options = listing.list_options(app.current_event.query_string_parameters)
    allow_cluster("watch" if options.watch else "list", "imagestreams")
    return _streams(None, options)


@app.route(ALL_STREAMS, method=["POST", "PUT", "PATCH", "DELETE"])
def all_streams_not_allowed() -> Response[str]:
    """Only lists and watches reach across namespaces: 405 once authorized."""
    allow_cluster(access.verb_of(app.current_event.http_method, collection=True), "imagestreams")
    raise errors.method_not_allowed()


def _include_object() -> str:
    query = app.current_event.query_string_parameters or {}
    return query.get("includeObject") or "Metadata"


@app.route(STREAMS, method=["PUT", "PATCH"])
@app.route(f"{STREAMS}/<name>", method=["POST"])
def streams_not_allowed(namespace: str, name: str = "") -> Response[str]:
    """A verb imagestreams do not serve: 405."""
    return _not_allowed(namespace, name, "imagestreams")


@app.route(IMPORTS, method=["GET", "PUT", "PATCH", "DELETE"])
@app.route(f"{IMPORTS}/<name>", method=["POST", "PUT", "PATCH", "DELETE"])
def imports_not_allowed(namespace: str, name: str = "") -> Response[str]:
    """A verb imagestreamimports do not serve: 405."""
    return _not_allowed(namespace, name, "imagestreamimports")


def _not_allowed(
    namespace: str, name: str, resource: str, *, check_name: bool = True
) -> Response[str]:
    """405 MethodNotAllowed, as the API server answers a verb a resource lacks.

    Authorization comes first, as in the API server: in a namespace the
    caller was not granted, the answer is the Forbidden of that verb.
    ``check_name=False`` for resources whose names are not object names
    (``<stream>:<tag>``).
    """
    responses.check_path(namespace, (name or None) if check_name else None)
    verb = access.verb_of(app.current_event.http_method, collection=not name)
    allow(namespace, verb, resource, name)
    raise errors.method_not_allowed()


# --- ImageStream writes: create, update, patch (DockerImage spec tags are imported)


@app.post(STREAMS, compress=True)
def create_stream(namespace: str) -> Response[str]:
    """POST an ImageStream: 201 with the stream after its spec tags were imported."""
    responses.check_path(namespace)
    allow(namespace, "create", "imagestreams")
    request = _stream_request(namespace, "CreateOptions")
    stream = (
        bootstrap.container()
        .write_streams()
        .create(
            namespace,
            request.stream,
            _remaining(),
            dry_run=request.options.dry_run,
            may_read=_readable(),
        )
    )
    return responses.with_warnings(responses.document(201, stream.to_json_dict()), request.warnings)


@app.put(f"{STREAMS}/<name>", compress=True)
def update_stream(namespace: str, name: str) -> Response[str]:
    """PUT an ImageStream: its ``metadata.resourceVersion`` must be the stored one."""
    responses.check_path(namespace, name)
    allow(namespace, "update", "imagestreams", name)
    request = _stream_request(namespace, "UpdateOptions")
    stream = (
        bootstrap.container()
        .write_streams()
        .update(
            namespace,
            name,
            request.stream,
            _remaining(),
            dry_run=request.options.dry_run,
            may_read=_readable(),
        )
    )
    return responses.with_warnings(responses.document(200, stream.to_json_dict()), request.warnings)


@app.patch(f"{STREAMS}/<name>", compress=True)
def patch_stream(namespace: str, name: str) -> Response[str]:
    """PATCH an ImageStream with a JSON merge patch or a JSON patch."""
    responses.check_path(namespace, name)
    allow(namespace, "patch", "imagestreams", name)
    options, media_type, raw = _patch_request()
    warnings: list[str] = []

    def patched(document: dict[str, Any]) -> ImageStream:
        changed = json.dumps(patching.apply(document, raw, media_type)).encode()
        request = decoding.decode_stream(changed, bodies.JSON, namespace, options)
        warnings[:] = request.warnings
        return request.stream

    stream = (
        bootstrap.container()
        .write_streams()
        .patch(
            namespace, name, patched, _remaining(), dry_run=options.dry_run, may_read=_readable()
        )
    )
    return responses.with_warnings(responses.document(200, stream.to_json_dict()), warnings)


def _patch_request() -> tuple[decoding.WriteOptions, str, bytes]:
    """A PATCH's options, patch media type and body, in the API server's order."""
    event = app.current_event
    options = decoding.write_options(
        event.multi_value_query_string_parameters or {}, "PatchOptions"
    )
    media_type = patching.patch_type(event.headers.get("Content-Type"))
    raw = bodies.bounded_body(
        event.body,
        bool(event.is_base64_encoded),
        bootstrap.container().settings.max_body_bytes,
    )
    return options, media_type, raw


def _stream_request(namespace: str, options_kind: str) -> decoding.StreamRequest:
    return decoding.parse_stream_request(
        app.current_event.body,
        namespace,
        content_type=app.current_event.headers.get("Content-Type"),
        query=app.current_event.multi_value_query_string_parameters,
        is_base64=bool(app.current_event.is_base64_encoded),
        max_bytes=bootstrap.container().settings.max_body_bytes,
        options_kind=options_kind,
    )


def _remaining() -> float:
    """Seconds left in this invocation."""
    return float(app.lambda_context.get_remaining_time_in_millis()) / 1000


@app.delete(f"{STREAMS}/<name>")
def delete_stream(namespace: str, name: str) -> Response[str]:
    """Delete an ImageStream and all its tags; answers a ``Success`` Status.

    DeleteOptions (body or query) may make it a dry run or set preconditions.
    """
    responses.check_path(namespace, name)
    allow(namespace, "delete", "imagestreams", name)
    options = decoding.delete_options(
        app.current_event.body,
        app.current_event.headers.get("Content-Type"),
        app.current_event.multi_value_query_string_parameters,
        is_base64=bool(app.current_event.is_base64_encoded),
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


# --- imagestreamtags and imagestreamimages: a stream's images by tag and by digest

TAGS = f"{NAMESPACE}/imagestreamtags"
IMAGES = f"{NAMESPACE}/imagestreamimages"


@app.get(TAGS, compress=True)
def list_tags(namespace: str) -> Response[str]:
    """Every tag with a history of the namespace's streams: a list or a Table.

    Selectors, ``limit`` and ``continue`` apply as to streams; ``watch``
    follows the streams' changes tag by tag.
    """
    responses.check_path(namespace)
    options = listing.list_options(app.current_event.query_string_parameters)
    allow(namespace, "watch" if options.watch else "list", "imagestreamtags")
    if options.watch:
        remaining = app.lambda_context.get_remaining_time_in_millis() / 1000
        seconds = watching.seconds(options.timeout_seconds, remaining, options.client_timeout)
        events = bootstrap.container().stream_tags().watch_tags(namespace, options, seconds)
        return responses.watch(watching.body(events))
    items, page = bootstrap.container().stream_tags().list(namespace, options)
    meta = responses.list_meta(items, page)
    if tables.wants_table(app.current_event.headers.get("Accept")):
        table = tables.tag_table(items, now(), include_object=_include_object(), list_meta=meta)
        return responses.document(200, table)
    listed = ImageStreamTagList(metadata=ListMeta.model_validate(meta), items=items)
    return responses.document(200, listed.to_json_dict())


@app.get(f"{TAGS}/<name>", compress=True)
def get_tag(namespace: str, name: str) -> Response[str]:
    """``<stream>:<tag>``: the tag's current image, or its Table row."""
    responses.check_path(namespace)
    allow(namespace, "get", "imagestreamtags", name)
    tag = bootstrap.container().stream_tags().get(namespace, name)
    if tables.wants_table(app.current_event.headers.get("Accept")):
        return responses.document(
            200, tables.tag_table([tag], now(), include_object=_include_object())
        )
    return responses.document(200, tag.to_json_dict())


@app.delete(f"{TAGS}/<name>")
def delete_tag(namespace: str, name: str) -> Response[str]:
    """Remove ``<stream>:<tag>`` from its stream's spec and status; a ``Success`` Status."""
    responses.check_path(namespace)
    allow(namespace, "delete", "imagestreamtags", name)
    options = decoding.delete_options(
        app.current_event.body,
        app.current_event.headers.get("Content-Type"),
        app.current_event.multi_value_query_string_parameters,
        is_base64=bool(app.current_event.is_base64_encoded),
    )
    status = (
        bootstrap.container()
        .stream_tags()
        .delete(
            namespace,
            name,
            dry_run=options.dry_run,
            expected_uid=options.uid,
            expected_rv=options.resource_version,
        )
    )
    return responses.document(200, status.to_json_dict())


@app.post(TAGS, compress=True)
def create_tag(namespace: str) -> Response[str]:
    """POST an ImageStreamTag: its ``tag`` becomes the stream's spec tag; 201 with the tag."""
    responses.check_path(namespace)
    allow(namespace, "create", "imagestreamtags")
    request = _tag_request(namespace, "CreateOptions")
    tag = (
        bootstrap.container()
        .write_stream_tags()
        .create(
            namespace,
            request.tag,
            _remaining(),
            dry_run=request.options.dry_run,
            may_read=_readable(),
        )
    )
    return responses.with_warnings(responses.document(201, tag.to_json_dict()), request.warnings)


@app.put(f"{TAGS}/<name>", compress=True)
def update_tag(namespace: str, name: str) -> Response[str]:
    """PUT ``<stream>:<tag>``: 200 with the tag, 201 when it made a new spec tag."""
    responses.check_path(namespace)
    allow(namespace, "update", "imagestreamtags", name)
    request = _tag_request(namespace, "UpdateOptions")
    written = (
        bootstrap.container()
        .write_stream_tags()
        .update(
            namespace,
            name,
            request.tag,
            _remaining(),
            dry_run=request.options.dry_run,
            may_read=_readable(),
        )
    )
    code = 201 if written.created else 200
    return responses.with_warnings(
        responses.document(code, written.tag.to_json_dict()), request.warnings
    )


@app.patch(f"{TAGS}/<name>", compress=True)
def patch_tag(namespace: str, name: str) -> Response[str]:
    """PATCH ``<stream>:<tag>`` with a JSON merge patch or a JSON patch (``kubectl apply``)."""
    responses.check_path(namespace)
    allow(namespace, "patch", "imagestreamtags", name)
    options, media_type, raw = _patch_request()
    warnings: list[str] = []

    def patched(document: dict[str, Any]) -> ImageStreamTag:
        changed = json.dumps(patching.apply(document, raw, media_type)).encode()
        request = decoding.decode_tag(changed, bodies.JSON, namespace, options)
        warnings[:] = request.warnings
        return request.tag

    tag = (
        bootstrap.container()
        .write_stream_tags()
        .patch(
            namespace, name, patched, _remaining(), dry_run=options.dry_run, may_read=_readable()
        )
    )
    return responses.with_warnings(responses.document(200, tag.to_json_dict()), warnings)


def _tag_request(namespace: str, options_kind: str) -> decoding.TagRequest:
    return decoding.parse_tag_request(
        app.current_event.body,
        namespace,
        content_type=app.current_event.headers.get("Content-Type"),
        query=app.current_event.multi_value_query_string_parameters,
        is_base64=bool(app.current_event.is_base64_encoded),
        max_bytes=bootstrap.container().settings.max_body_bytes,
        options_kind=options_kind,
    )


def _readable() -> Callable[[str], bool]:
    """Whether the caller may read image streams in a namespace (a tag's source may be there)."""
    context = app.current_event.raw_event.get("requestContext") or {}
    granted = access.granted_namespaces(context.get("authorizer"))
    return lambda namespace: access.EVERY_NAMESPACE in granted or namespace in granted


@app.route(TAGS, method=["PUT", "PATCH", "DELETE"])
@app.route(f"{TAGS}/<name>", method=["POST"])
def tags_not_allowed(namespace: str, name: str = "") -> Response[str]:
    """A verb imagestreamtags do not serve (deletecollection, a collection's patch): 405."""
    return _not_allowed(namespace, name, "imagestreamtags", check_name=False)


@app.get(f"{IMAGES}/<name>", compress=True)
def get_image(namespace: str, name: str) -> Response[str]:
    """``<stream>@<digest>``: an image of the stream's history, or its Table row."""
    responses.check_path(namespace)
    allow(namespace, "get", "imagestreamimages", name)
    image = bootstrap.container().stream_images().get(namespace, name)
    if tables.wants_table(app.current_event.headers.get("Accept")):
        return responses.document(
            200, tables.image_table(image, now(), include_object=_include_object())
        )
    return responses.document(200, image.to_json_dict())


@app.route(IMAGES, method=["GET", "POST", "PUT", "PATCH", "DELETE"])
@app.route(f"{IMAGES}/<name>", method=["POST", "PUT", "PATCH", "DELETE"])
def images_not_allowed(namespace: str, name: str = "") -> Response[str]:
    """A verb imagestreamimages do not serve (all but get): 405."""
    return _not_allowed(namespace, name, "imagestreamimages", check_name=False)


# --- discovery and OpenAPI: what every client reads first, for any authenticated caller


def authenticated() -> None:
    """Discovery is for every authenticated caller, whatever namespaces it is granted."""
    context = app.current_event.raw_event.get("requestContext") or {}
    logger.append_keys(subject=access.authenticated(context.get("authorizer")))


def served(document: discovery.Document) -> Response[str | bytes]:
    """``document`` for an authenticated caller (304 when its copy is current)."""
    authenticated()
    return responses.served(document, app.current_event.headers.get("If-None-Match"))


def accept() -> str | None:
    return app.current_event.headers.get("Accept")


@app.get("/version", compress=True)
def version() -> Response[str | bytes]:
    return served(discovery.version_info())


@app.get("/api", compress=True)
def legacy_api() -> Response[str | bytes]:
    return served(discovery.legacy(accept()))


@app.get("/api/v1/namespaces/<namespace>")
def get_namespace(namespace: str) -> Response[str]:
    """A namespace the caller was granted, as the core API shows one.

    Only ``get``: kubectl reads the namespace to tell a missing object from
    a missing namespace. There is no namespace object behind it: a granted
    namespace exists for its caller, and another is Forbidden.
    """
    responses.check_path(namespace)
    context = app.current_event.raw_event.get("requestContext") or {}
    access.check(context.get("authorizer"), namespace, "get", "namespaces", namespace, group="")
    return responses.document(200, responses.namespace(namespace))


@app.get("/api/v1", compress=True)
def legacy_resources() -> Response[str | bytes]:
    return served(discovery.legacy_resources())


@app.get("/apis", compress=True)
def api_groups() -> Response[str | bytes]:
    return served(discovery.groups(accept()))


@app.get(f"/apis/{discovery.GROUP}", compress=True)
def api_group() -> Response[str | bytes]:
    return served(discovery.group())


@app.get(f"/apis/{discovery.GROUP_VERSION}", compress=True)
def api_resources() -> Response[str | bytes]:
    return served(discovery.resource_list())


@app.get("/openapi/v2", compress=True)
def openapi_v2() -> Response[str] | Response[str | bytes]:
    """Swagger 2.0 as JSON, or as the protobuf client-go asks for; 406 for anything else."""
    authenticated()
    document = openapi.v2_for(accept())
    if document is None:
        return responses.not_acceptable(f"{discovery.JSON}, {openapi.V2_PROTOBUF}")
    return served(document)


@app.get("/openapi/v3", compress=True)
def openapi_v3() -> Response[str | bytes]:
    return served(openapi.v3_index())


@app.get(f"/openapi/v3/{openapi.V3_PATH}", compress=True)
def openapi_v3_group_version() -> Response[str | bytes]:
    return served(openapi.v3_group_version())


@app.post("/webhooks/distribution")
def distribution_webhook() -> Response[str]:
    """A registry's push notifications: re-import exactly the stream tags that track them."""
    webhooks.authenticate(
        app.current_event.headers.get("Authorization"), bootstrap.container().webhook_secret().get()
    )
    pushes = reimports.distribution_pushes(webhooks.envelope(app.current_event.decoded_body))
    queued = bootstrap.container().queue_reimports().on_pushes(pushes, "distribution-push")
    return responses.accepted(f"{queued} stream tags queued for re-import")


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

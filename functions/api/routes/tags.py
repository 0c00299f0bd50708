"""ImageStreamTag and ImageStreamImage routes: a stream's images by tag and by digest.

ImageStreamTags are listed, watched, read, created, updated, patched and
deleted; ImageStreamImages are only read. The other verbs get a 405. Each
route checks its path and grant, calls one use case and returns its document.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from imagestreams import bootstrap, listing, watching
from imagestreams.api import bodies, decoding, responses, tables
from imagestreams.models import ImageStreamTag, ImageStreamTagList, ListMeta
from imagestreams.usecases.common import now
from routes.common import (
    NAMESPACE,
    accept,
    allow,
    include_object,
    not_allowed,
    patch,
    readable,
    remaining,
    write_request,
)

TAGS = f"{NAMESPACE}/imagestreamtags"
IMAGES = f"{NAMESPACE}/imagestreamimages"

router = APIGatewayRouter()  # type: ignore[no-untyped-call]


@router.get(TAGS, compress=True)
def list_tags(namespace: str) -> Response[str]:
    """Every tag with a history of the namespace's streams: a list or a Table.

    Selectors, ``limit`` and ``continue`` apply as to streams; ``watch``
    follows the streams' changes tag by tag.
    """
    responses.check_path(namespace)
    options = listing.list_options(router.current_event.query_string_parameters)
    allow(namespace, "watch" if options.watch else "list", "imagestreamtags")
    if options.watch:
        seconds = watching.seconds(options.timeout_seconds, remaining(), options.client_timeout)
        events = bootstrap.container().stream_tags().watch_tags(namespace, options, seconds)
        return responses.watch(watching.body(events))
    items, page = bootstrap.container().stream_tags().list(namespace, options)
    meta = responses.list_meta(items, page)
    if tables.wants_table(accept()):
        table = tables.tag_table(items, now(), include_object=include_object(), list_meta=meta)
        return responses.document(200, table)
    listed = ImageStreamTagList(metadata=ListMeta.model_validate(meta), items=items)
    return responses.document(200, listed.to_json_dict())


@router.get(f"{TAGS}/<name>", compress=True)
def get_tag(namespace: str, name: str) -> Response[str]:
    """``<stream>:<tag>``: the tag's current image, or its Table row."""
    responses.check_path(namespace)
    allow(namespace, "get", "imagestreamtags", name)
    tag = bootstrap.container().stream_tags().get(namespace, name)
    if tables.wants_table(accept()):
        return responses.document(
            200, tables.tag_table([tag], now(), include_object=include_object())
        )
    return responses.document(200, tag.to_json_dict())


@router.delete(f"{TAGS}/<name>")
def delete_tag(namespace: str, name: str) -> Response[str]:
    """Remove ``<stream>:<tag>`` from its stream's spec and status; a ``Success`` Status."""
    responses.check_path(namespace)
    allow(namespace, "delete", "imagestreamtags", name)
    options = decoding.delete_options(
        router.current_event.body,
        router.current_event.headers.get("Content-Type"),
        router.current_event.multi_value_query_string_parameters,
        is_base64=bool(router.current_event.is_base64_encoded),
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


@router.post(TAGS, compress=True)
def create_tag(namespace: str) -> Response[str]:
    """POST an ImageStreamTag: its ``tag`` becomes the stream's spec tag; 201 with the tag.

    The namespace is judged with the object's metadata (a 422), as an import's is.
    """
    allow(namespace, "create", "imagestreamtags")
    request = write_request(decoding.parse_tag_request, namespace, "CreateOptions")
    tag = (
        bootstrap.container()
        .write_stream_tags()
        .create(
            namespace,
            request.tag,
            remaining(),
            dry_run=request.options.dry_run,
            may_read=readable(),
        )
    )
    return responses.with_warnings(responses.document(201, tag.to_json_dict()), request.warnings)


@router.put(f"{TAGS}/<name>", compress=True)
def update_tag(namespace: str, name: str) -> Response[str]:
    """PUT ``<stream>:<tag>``: 200 with the tag, 201 when it made a new spec tag."""
    responses.check_path(namespace)
    allow(namespace, "update", "imagestreamtags", name)
    request = write_request(decoding.parse_tag_request, namespace, "UpdateOptions")
    written = (
        bootstrap.container()
        .write_stream_tags()
        .update(
            namespace,
            name,
            request.tag,
            remaining(),
            dry_run=request.options.dry_run,
            may_read=readable(),
        )
    )
    code = 201 if written.created else 200
    return responses.with_warnings(
        responses.document(code, written.tag.to_json_dict()), request.warnings
    )


@router.patch(f"{TAGS}/<name>", compress=True)
def patch_tag(namespace: str, name: str) -> Response[str]:
    """PATCH ``<stream>:<tag>`` with a JSON merge patch or a JSON patch (``kubectl apply``)."""
    responses.check_path(namespace)
    allow(namespace, "patch", "imagestreamtags", name)

    def decode(raw: bytes, options: decoding.WriteOptions) -> tuple[ImageStreamTag, Sequence[str]]:
        request = decoding.decode_tag(raw, bodies.JSON, namespace, options)
        return request.tag, request.warnings

    return patch(namespace, name, decode, bootstrap.container().write_stream_tags().patch)


@router.route(TAGS, method=["PUT", "PATCH", "DELETE"])
@router.route(f"{TAGS}/<name>", method=["POST"])
def tags_not_allowed(namespace: str, name: str = "") -> Response[str]:
    """A verb imagestreamtags do not serve (deletecollection, a collection's patch): 405."""
    return not_allowed(namespace, name, "imagestreamtags", check_name=False)


@router.get(f"{IMAGES}/<name>", compress=True)
def get_image(namespace: str, name: str) -> Response[str]:
    """``<stream>@<digest>``: an image of the stream's history, or its Table row."""
    responses.check_path(namespace)
    allow(namespace, "get", "imagestreamimages", name)
    image = bootstrap.container().stream_images().get(namespace, name)
    if tables.wants_table(accept()):
        return responses.document(
            200, tables.image_table(image, now(), include_object=include_object())
        )
    return responses.document(200, image.to_json_dict())


@router.route(IMAGES, method=["GET", "POST", "PUT", "PATCH", "DELETE"])
@router.route(f"{IMAGES}/<name>", method=["POST", "PUT", "PATCH", "DELETE"])
def images_not_allowed(namespace: str, name: str = "") -> Response[str]:
    """A verb imagestreamimages do not serve (all but get): 405."""
    return not_allowed(namespace, name, "imagestreamimages", check_name=False)

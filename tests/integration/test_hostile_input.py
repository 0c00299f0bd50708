"""Hostile request bodies and registry documents, through the real api handler.

A document nested far deeper than the interpreter's recursion limit, or text
that no UTF-8 encoder accepts, must end as a clear ``Status`` (for a body)
or a per-image failure (for a registry document), never a 500.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from testkit.api import Api, Reply, image_spec, import_body
from testkit.events import load_event, with_body, with_name, with_namespace
from testkit.proxy import Fault, RegistryProxy, Rule
from testkit.registry import Registry

DEEP = 100_000


def deep_object(depth: int = DEEP) -> bytes:
    return ('{"a":' * depth + "1" + "}" * depth).encode()


def test_a_request_body_nested_too_deep_is_a_400_status(api: Api) -> None:
    raw = '{"kind": "ImageStreamImport", "spec": ' + deep_object().decode() + "}"

    reply = api.post_import("demo", None, raw=raw)

    assert (reply.status, reply.body["kind"], reply.body["reason"]) == (400, "Status", "BadRequest")
    assert "nested more than 100 levels deep" in reply.body["message"]


def importing(*images: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    body = import_body(*images, name="hostile")
    body["metadata"].update(metadata)
    body["spec"]["import"] = True
    return body


@pytest.mark.parametrize(
    ("metadata", "to", "code", "field"),
    [
        ({"annotations": {"note": "\ud800"}}, None, 201, None),
        ({"annotations": {"\udfff": "x"}}, None, 422, "metadata.annotations"),
        ({"labels": {"team": "\ud800"}}, None, 422, "metadata.labels"),
        ({"resourceVersion": "\ud800"}, None, 409, None),
        ({}, "v\ud800", 422, "spec.images[0].to.name"),
        ({}, "t" * 2000, 422, "spec.images[0].to.name"),
    ],
    ids=[
        "annotation-value",
        "annotation-key",
        "label",
        "resource-version",
        "to-surrogate",
        "to-2000",
    ],
)
def test_text_that_cannot_be_stored_never_reaches_the_store(
    api: Api,
    anon_registry: Registry,
    push_image: Any,
    metadata: dict[str, Any],
    to: str | None,
    code: int,
    field: str | None,
) -> None:
    # Given a stream that exists, and a request carrying unencodable text
    pushed = push_image(anon_registry, via="api")
    assert api.post_import("demo", importing(image_spec(pushed.pull_spec))).status == 201
    spec = image_spec(pushed.pull_spec, **({"to": {"name": to}} if to else {}))
    # (json.dumps escapes lone surrogates as \ud800, as a hostile client would send them)
    raw = json.dumps(importing(spec, **metadata))
    # When it is posted
    reply = api.post_import("demo", None, raw=raw)
    # Then the answer is the request's own, a Status for a refusal, and never a 500
    assert reply.status == code, reply.body
    if field is not None:
        assert reply.body["reason"] == "Invalid"
        assert [c["field"] for c in reply.body["details"]["causes"]] == [field]
    if code == 201:
        assert reply.body["metadata"]["annotations"]["note"] == "\ufffd"
        read = api.invoke(
            with_name(with_namespace(load_event("api-get-import.json"), "demo"), "hostile")
        )
        assert read.status == 200, read.body


def answer_with(document: bytes, path_part: str, status: int = 200) -> Any:
    """A proxy rule answering every GET whose path has ``path_part`` with ``document``."""
    headers = {
        "Content-Type": "application/vnd.oci.image.manifest.v1+json",
        "Docker-Content-Digest": "sha256:" + hashlib.sha256(document).hexdigest(),
    }
    return lambda method, path, nth: (
        Fault(status, headers, document) if method == "GET" and path_part in path else None
    )


@pytest.mark.parametrize(
    ("path_part", "status", "reason"),
    [("/manifests/", 200, "InternalError"), ("/manifests/", 404, "NotFound")],
    ids=["manifest", "error-body"],
)
def test_a_registry_document_nested_too_deep_fails_only_its_image(
    api: Api,
    anon_registry: Registry,
    push_image: Any,
    unique_repo: Callable[[str], str],
    path_part: str,
    status: int,
    reason: str,
) -> None:
    # Given a registry answering one repository's manifests with a very deep document
    good = push_image(anon_registry, unique_repo("good"), via="api")
    bad = push_image(anon_registry, unique_repo("bad"), via="api")
    proxy = RegistryProxy(anon_registry.host)
    proxy.rules.append(answer_with(deep_object(), f"/{bad.repository}{path_part}", status))
    # When both are imported
    try:
        reply = api.post_import(
            "demo",
            import_body(
                image_spec(f"{proxy.host}/{bad.repository}:latest"),
                image_spec(f"{proxy.host}/{good.repository}:latest"),
            ),
        )
    finally:
        proxy.stop()
    # Then the deep one fails alone
    assert reply.status == 201, reply.body
    first, second = reply.body["status"]["images"]
    assert (first["status"]["status"], first["status"]["reason"]) == ("Failure", reason)
    assert second["status"]["status"] == "Success"


def import_repository_through(
    api: Api, registry: Registry, repository: str, rule: Rule, *, into_stream: bool = False
) -> Reply:
    """Import ``repository`` through a proxy in front of ``registry`` that applies ``rule``."""
    proxy = RegistryProxy(registry.host)
    proxy.rules.append(rule)
    body = importing() if into_stream else import_body()
    body["spec"]["repository"] = {
        "from": {"kind": "DockerImage", "name": f"{proxy.host}/{repository}"}
    }
    try:
        return api.post_import("demo", body)
    finally:
        proxy.stop()


def test_a_tag_list_nested_too_deep_fails_the_repository(
    api: Api, anon_registry: Registry, push_image: Any
) -> None:
    pushed = push_image(anon_registry, via="api")

    reply = import_repository_through(
        api, anon_registry, pushed.repository, answer_with(deep_object(), "/tags/list")
    )

    assert reply.status == 201, reply.body
    status = reply.body["status"]["repository"]["status"]
    assert status["status"] == "Failure"
    assert "tag list is not JSON" in status["message"]


# --- answers that cannot fit a function's response ------------------------------


def many_images(count: int) -> dict[str, Any]:
    """``count`` images on a loopback port where no registry listens."""
    return import_body(*(image_spec(f"127.0.0.1:9/none/image-{i}:v1") for i in range(count)))


def with_accept_encoding(event: dict[str, Any], value: str) -> dict[str, Any]:
    event.setdefault("headers", {})["Accept-Encoding"] = value
    event.setdefault("multiValueHeaders", {})["Accept-Encoding"] = [value]
    return event


def test_spec_images_beyond_the_limit_are_refused_before_any_work(api: Api) -> None:
    reply = api.post_import("demo", many_images(201))

    assert (reply.status, reply.body["reason"]) == (422, "Invalid")
    assert reply.body["details"]["causes"] == [
        {
            "reason": "FieldValueTooMany",
            "message": "Too many: 201: must have at most 200 items",
            "field": "spec.images",
        }
    ]


def test_an_answer_too_large_for_a_function_is_gzipped_or_refused(
    api: Api, anon_registry: Registry, push_image: Any
) -> None:
    # Given an image whose config carries a 1.5 MB label, asked for four times with
    # its raw documents: an answer of about 12 MB of JSON
    pushed = push_image(anon_registry, via="api", labels={"big": "x" * 1_500_000})
    spec = image_spec(pushed.pull_spec, includeManifest=True)
    body = import_body(*(dict(spec, to={"name": f"t{i}"}) for i in range(4)))
    event = with_body(with_namespace(load_event("api-import-single.json"), "demo"), body)
    # When it is sent without and with Accept-Encoding: gzip
    plain = api.invoke(event)
    gzipped = api.invoke(with_accept_encoding(event, "gzip, deflate"))
    # Then the plain answer is a clear refusal within the limit
    assert len(json.dumps(plain.raw)) <= 6 * 1024 * 1024
    assert (plain.status, plain.body["kind"], plain.body["reason"]) == (
        413,
        "Status",
        "RequestEntityTooLarge",
    )
    assert "Accept-Encoding: gzip" in plain.body["message"]
    # and the compressed one carries every image within the limit
    assert len(json.dumps(gzipped.raw)) <= 6 * 1024 * 1024
    assert gzipped.status == 201
    assert gzipped.headers["Content-Encoding"] == "gzip"
    labels = [
        entry["image"]["dockerImageMetadata"]["Config"]["Labels"]["big"]
        for entry in gzipped.body["status"]["images"]
    ]
    assert labels == ["x" * 1_500_000] * 4


def test_listed_names_that_are_no_tags_are_not_imported(
    api: Api, anon_registry: Registry, push_image: Any
) -> None:
    # Given a registry whose tag list names one real tag among names no tag may have
    pushed = push_image(anon_registry, tag="ok", via="api")
    listed = ["ok", "x" * 2000, "-dash", "a/b", "\ud800", "é"]
    tag_list = Fault(
        200, {"Content-Type": "application/json"}, json.dumps({"tags": listed}).encode()
    )
    # When the repository is imported into a stream
    reply = import_repository_through(
        api,
        anon_registry,
        pushed.repository,
        lambda method, path, nth: tag_list if "/tags/list" in path else None,
        into_stream=True,
    )
    # Then only the real tag is imported and stored
    assert reply.status == 201, reply.body
    repository = reply.body["status"]["repository"]
    assert [entry["tag"] for entry in repository["images"]] == ["ok"]
    assert repository["status"]["status"] == "Success"
    assert [tag["tag"] for tag in reply.body["status"]["import"]["status"]["tags"]] == ["ok"]

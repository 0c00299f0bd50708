"""``spec.repository`` imports: listing every page, ordering, limits, statuses."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from imagestreams.registry.client import MAX_TAG_PAGES
from testkit.api import Api, image_spec, import_body
from testkit.images import RegistryClient as PushClient
from testkit.proxy import Fault, RegistryProxy
from testkit.registry import Registry
from tests.support.hostile import HostileRegistry, Route


def repository_body(name: str, **fields: Any) -> dict[str, Any]:
    body = import_body()
    body["spec"].pop("images")
    body["spec"]["repository"] = {"from": {"kind": "DockerImage", "name": name}, **fields}
    return body


def paginate(registry: Registry, repository: str, page: int, absolute: bool) -> Any:
    """A proxy rule serving the real tag list in pages with ``Link`` headers."""
    everything = sorted(PushClient.for_registry(registry).tags(repository))

    def rule(method: str, path: str, nth: int) -> Fault | None:
        if method != "GET" or "/tags/list" not in path:
            return None
        query = parse_qs(urlsplit(path).query)
        last = query.get("last", [""])[0]
        remaining = [t for t in everything if t > last]
        chunk = remaining[:page]
        headers = {"Content-Type": "application/json"}
        if len(remaining) > page:
            target = f"/v2/{repository}/tags/list?n={page}&last={chunk[-1]}"
            if absolute:
                target = f"http://{proxy_host[0]}{target}"
            headers["Link"] = f'<{target}>; rel="next"'
        body = json.dumps({"name": repository, "tags": chunk}).encode()
        return Fault(200, headers, body)

    proxy_host: list[str] = []
    return rule, proxy_host


def test_120_tags_import_fully(api: Api, anon_registry: Registry, push_tags: Any) -> None:
    pushed = push_tags(anon_registry, 120)
    repository = pushed[0].repository

    reply = api.post_import("demo", repository_body(f"{anon_registry.host}/{repository}"))

    assert reply.status == 201, reply.body
    status = reply.body["status"]["repository"]
    assert status["status"] == {"metadata": {}, "status": "Success"}
    assert "additionalTags" not in status
    imported = {entry["tag"]: entry["image"]["metadata"]["name"] for entry in status["images"]}
    assert imported == {p.tag: p.digest for p in pushed}
    for entry in status["images"]:
        assert entry["image"]["dockerImageReference"] == (
            f"{anon_registry.host}/{repository}@{entry['image']['metadata']['name']}"
        )


@pytest.mark.parametrize("absolute", [False, True], ids=["relative-link", "absolute-link"])
def test_paginated_listing_gives_the_same_result(
    api: Api, anon_registry: Registry, push_tags: Any, absolute: bool
) -> None:
    pushed = push_tags(anon_registry, 120)
    repository = pushed[0].repository
    proxy = RegistryProxy(anon_registry.host)
    rule, host_holder = paginate(anon_registry, repository, page=25, absolute=absolute)
    host_holder.append(proxy.host)
    proxy.rules.append(rule)
    try:
        reply = api.post_import("demo", repository_body(f"{proxy.host}/{repository}"))
    finally:
        proxy.stop()

    status = reply.body["status"]["repository"]
    assert status["status"]["status"] == "Success"
    assert sorted(entry["tag"] for entry in status["images"]) == sorted(p.tag for p in pushed)
    assert proxy.count("GET", "/tags/list") == 5


def test_link_to_another_host_is_refused(api: Api, anon_registry: Registry, push_tags: Any) -> None:
    pushed = push_tags(anon_registry, 3)
    repository = pushed[0].repository
    proxy = RegistryProxy(anon_registry.host)
    elsewhere = f"http://{anon_registry.host}/v2/{repository}/tags/list?last=x"
    proxy.rules.append(
        lambda method, path, nth: (
            Fault(
                200,
                {"Link": f'<{elsewhere}>; rel="next"'},
                json.dumps({"tags": ["a"]}).encode(),
            )
            if "/tags/list" in path
            else None
        )
    )
    try:
        reply = api.post_import("demo", repository_body(f"{proxy.host}/{repository}"))
    finally:
        proxy.stop()

    status = reply.body["status"]["repository"]["status"]
    assert status["reason"] == "InternalError"
    assert "another host" in status["message"]


HOSTILE_TAGS = "/v2/hostile/app/tags/list"


def linked_pages(next_page: Callable[[int], int]) -> Route:
    """Tag list pages 0, 1, 2... (``?page=N``), page N linking to page ``next_page(N)``."""

    def page_path(number: int) -> str:
        return HOSTILE_TAGS if number == 0 else f"{HOSTILE_TAGS}?page={number}"

    def route(method: str, path: str) -> Fault | None:
        if urlsplit(path).path != HOSTILE_TAGS:
            return None
        number = int(parse_qs(urlsplit(path).query).get("page", ["0"])[0])
        headers = {
            "Content-Type": "application/json",
            "Link": f'<{page_path(next_page(number))}>; rel="next"',
        }
        body = json.dumps({"name": "hostile/app", "tags": [f"t{number}"]}).encode()
        return Fault(200, headers, body)

    return route


@pytest.mark.parametrize(
    ("next_page", "detail", "pages_read"),
    [
        (
            lambda n: n,
            f"the tag list of hostile/app links back to a page already read ({HOSTILE_TAGS})",
            1,
        ),
        (
            lambda n: 1 - n,
            f"the tag list of hostile/app links back to a page already read ({HOSTILE_TAGS})",
            2,
        ),
        (
            lambda n: n + 1,
            f"the tag list of hostile/app has more than {MAX_TAG_PAGES} pages",
            MAX_TAG_PAGES,
        ),
    ],
    ids=["links-to-itself", "two-page-cycle", "never-ending"],
)
def test_tag_list_links_that_never_end_fail_the_repository(
    api: Api,
    hostile_registry: Callable[[Route], HostileRegistry],
    next_page: Callable[[int], int],
    detail: str,
    pages_read: int,
) -> None:
    # Given a registry whose tag list pages link on in a loop, or on and on
    server = hostile_registry(linked_pages(next_page))
    name = f"{server.host}/hostile/app"

    # When the repository is imported
    reply = api.post_import("demo", repository_body(name))

    # Then the repository fails, saying why, after reading each page at most once
    assert reply.status == 201, reply.body
    repository = reply.body["status"]["repository"]
    status = repository["status"]
    assert (status["status"], status.get("reason"), status.get("code")) == (
        "Failure",
        "InternalError",
        500,
    )
    assert status["message"] == f"Internal error occurred: {name}: {detail}"
    assert "images" not in repository
    assert server.count("/tags/list") == pages_read


def test_tags_beyond_the_limit_are_additional(
    api: Api, anon_registry: Registry, push_tags: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tags = ["latest", "1.0", "1.1", "2.0", "1.0.1", "1.1.3", "edge", "alpine"]
    pushed = push_tags(anon_registry, tags)
    monkeypatch.setenv("MAX_REPOSITORY_TAGS", "5")
    api = Api()

    reply = api.post_import("demo", repository_body(f"{anon_registry.host}/{pushed[0].repository}"))

    status = reply.body["status"]["repository"]
    assert [entry["tag"] for entry in status["images"]] == ["latest", "2.0", "1.1", "1.0", "1.1.3"]
    assert status["additionalTags"] == ["1.0.1", "alpine", "edge"]


def test_failed_tags_make_the_repository_import_failed(
    api: Api, anon_registry: Registry, push_tags: Any
) -> None:
    pushed = push_tags(anon_registry, ["a", "b", "c"])
    repository = pushed[0].repository
    proxy = RegistryProxy(anon_registry.host)
    # Tags a and c are unknown to the registry whether asked by tag or by digest.
    broken = ("/manifests/a", "/manifests/c", pushed[0].digest, pushed[2].digest)
    proxy.rules.append(
        lambda method, path, nth: (
            Fault(404, {"Content-Type": "application/json"}, b"{}")
            if path.endswith(broken)
            else None
        )
    )
    try:
        reply = api.post_import("demo", repository_body(f"{proxy.host}/{repository}"))
    finally:
        proxy.stop()

    status = reply.body["status"]["repository"]["status"]
    assert status == {
        "metadata": {},
        "status": "Failure",
        "message": "2 of the images from this repository failed to import",
        "reason": "ImportFailed",
    }
    reasons = [
        entry["status"].get("reason") for entry in reply.body["status"]["repository"]["images"]
    ]
    assert reasons == ["NotFound", None, "NotFound"]


def test_listing_without_access_is_unauthorized(
    api: Api, token_registry: Registry, push_image: Any
) -> None:
    pushed = push_image(token_registry)
    name = f"{token_registry.host}/{pushed.repository}"

    reply = api.post_import("demo", repository_body(name))

    status = reply.body["status"]["repository"]["status"]
    assert (status["reason"], status["code"]) == ("Unauthorized", 401)
    assert status["message"] == f'you may not have access to the container image "{name}"'
    assert "images" not in reply.body["status"]["repository"]


def test_unknown_repository_on_an_open_registry_is_not_found(
    api: Api, anon_registry: Registry
) -> None:
    reply = api.post_import("demo", repository_body(f"{anon_registry.host}/nobody/here"))

    status = reply.body["status"]["repository"]["status"]
    assert (status["reason"], status["code"]) == ("NotFound", 404)
    assert (
        status["message"]
        == f'dockerimage.image.openshift.io "{anon_registry.host}/nobody/here" not found'
    )


def test_images_and_repository_share_fetches(
    api: Api, anon_registry: Registry, push_tags: Any
) -> None:
    pushed = push_tags(anon_registry, ["one", "two", "three"])
    repository = pushed[0].repository
    proxy = RegistryProxy(anon_registry.host)
    try:
        body = repository_body(f"{proxy.host}/{repository}")
        body["spec"]["images"] = [image_spec(f"{proxy.host}/{repository}:two")]

        reply = api.post_import("demo", body)

        assert reply.body["status"]["images"][0]["status"]["status"] == "Success"
        assert len(reply.body["status"]["repository"]["images"]) == 3
        manifest_gets = [
            s.path for s in proxy.seen if s.method == "GET" and "/manifests/" in s.path
        ]
        assert len(manifest_gets) == len(set(manifest_gets)) == 3
    finally:
        proxy.stop()

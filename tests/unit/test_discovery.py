"""The discovery documents: shapes as the API server writes them, built from the declarations."""

from __future__ import annotations

import json
from typing import Any

import pytest

from imagestreams.api import discovery
from imagestreams.api.discovery import RESOURCES, Resource
from imagestreams.models import ImageStream

KUBECTL_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)


def body(document: discovery.Document) -> Any:
    return json.loads(document.body)


@pytest.mark.parametrize(
    ("accept", "aggregated"),
    [
        pytest.param(KUBECTL_ACCEPT, True, id="kubectl-1.30+"),
        pytest.param(discovery.AGGREGATED_JSON, True, id="v2-only"),
        pytest.param(
            "application/json; as=APIGroupDiscoveryList; v=v2; g=apidiscovery.k8s.io",
            True,
            id="parameters-in-any-order",
        ),
        pytest.param(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
            "application/json",
            False,
            id="v2beta1-is-not-served",
        ),
        pytest.param("application/json, */*", False, id="plain-json"),
        pytest.param("*/*", False, id="anything"),
        pytest.param(None, False, id="no-accept"),
        pytest.param("", False, id="empty-accept"),
        pytest.param(
            "application/json,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
            False,
            id="plain-json-preferred",
        ),
    ],
)
def test_aggregated_discovery_is_served_to_clients_that_prefer_it(
    accept: str | None, aggregated: bool
) -> None:
    assert discovery.wants_aggregated(accept) is aggregated
    expected = discovery.AGGREGATED_JSON if aggregated else discovery.JSON
    assert discovery.groups(accept).content_type == expected
    assert discovery.legacy(accept).content_type == expected


def test_version_is_a_version_info() -> None:
    info = body(discovery.version_info())

    assert info["major"] == "1"
    assert info["minor"].isdigit()
    assert info["gitVersion"].startswith(f"v{info['major']}.{info['minor']}.")
    assert {"gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler", "platform"} <= set(
        info
    )
    assert "/" in info["platform"]


def test_legacy_api_has_no_core_group() -> None:
    versions = body(discovery.legacy(None))
    core = body(discovery.legacy_resources())

    assert versions == {"kind": "APIVersions", "versions": [], "serverAddressByClientCIDRs": []}
    assert core == {"kind": "APIResourceList", "groupVersion": "v1", "resources": []}
    assert body(discovery.legacy(KUBECTL_ACCEPT))["items"] == []


def test_group_list_prefers_v1_with_the_same_object_as_in_versions() -> None:
    groups = body(discovery.groups(None))

    assert groups["kind"] == "APIGroupList"
    assert groups["apiVersion"] == "v1"
    [group] = groups["groups"]
    assert group["name"] == "image.openshift.io"
    # The Python client compares the two objects for equality.
    assert group["versions"] == [group["preferredVersion"]]
    assert group["preferredVersion"] == {"groupVersion": "image.openshift.io/v1", "version": "v1"}
    assert body(discovery.group()) == {"kind": "APIGroup", "apiVersion": "v1", **group}


def _by_name(entries: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {entry[key]: entry for entry in entries}


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda resource: resource.plural)
def test_every_declared_resource_is_in_the_resource_list(resource: Resource) -> None:
    listed = body(discovery.resource_list())
    entry = _by_name(listed["resources"], "name")[resource.plural]

    assert listed["groupVersion"] == "image.openshift.io/v1"
    assert entry["singularName"] == resource.singular
    assert entry["kind"] == resource.kind
    assert entry["namespaced"] is resource.namespaced
    assert entry["verbs"] == sorted(resource.verbs)
    assert entry.get("shortNames", []) == list(resource.short_names)


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda resource: resource.plural)
def test_every_declared_resource_is_in_aggregated_discovery(resource: Resource) -> None:
    aggregated = body(discovery.groups(KUBECTL_ACCEPT))
    [group] = aggregated["items"]
    [version] = group["versions"]
    entry = _by_name(version["resources"], "resource")[resource.plural]

    assert aggregated["kind"] == "APIGroupDiscoveryList"
    assert aggregated["apiVersion"] == "apidiscovery.k8s.io/v2"
    assert group["metadata"]["name"] == "image.openshift.io"
    assert version["version"] == "v1"
    assert version["freshness"] == "Current"
    assert entry["responseKind"] == {
        "group": "image.openshift.io",
        "version": "v1",
        "kind": resource.kind,
    }
    assert entry["scope"] == ("Namespaced" if resource.namespaced else "Cluster")
    assert entry["singularResource"] == resource.singular
    assert entry["verbs"] == sorted(resource.verbs)
    assert entry.get("shortNames", []) == list(resource.short_names)


def test_openshift_short_names_and_verbs() -> None:
    resources = {resource.plural: resource for resource in RESOURCES}

    assert resources["imagestreams"].short_names == ("is",)
    assert set(resources["imagestreams"].verbs) == {
        "create",
        "delete",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    }
    assert resources["imagestreamtags"].short_names == ("istag",)
    assert set(resources["imagestreamtags"].verbs) == {
        "create",
        "delete",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    }
    assert resources["imagestreamimages"].short_names == ("isimage",)
    assert resources["imagestreamimages"].verbs == ("get",)
    assert set(resources["imagestreamimports"].verbs) == {"create", "get"}


def test_a_list_verb_needs_a_list_kind() -> None:
    with pytest.raises(ValueError, match="list kind"):
        Resource("things", "thing", "Thing", ImageStream, verbs=("list",))


def test_documents_are_built_once_and_tagged_by_content() -> None:
    first, second = discovery.resource_list(), discovery.resource_list()

    assert first is second
    assert first.etag.startswith('"')
    assert first.etag.endswith('"')
    assert first.etag != discovery.group_list().etag

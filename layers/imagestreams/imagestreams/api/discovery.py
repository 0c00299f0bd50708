"""The resources the API serves, and the Kubernetes discovery documents built from them.

Owns the one declaration of each resource (:data:`RESOURCES`: names, kind,
scope, verbs, short names, its model) and the documents clients read before
anything else: ``/version`` (``version.Info``), ``/api`` (``APIVersions``),
``/apis`` (``APIGroupList``), ``/apis/image.openshift.io`` (``APIGroup``),
``/apis/image.openshift.io/v1`` (``APIResourceList``), and the aggregated
form of ``/api`` and ``/apis`` (``apidiscovery.k8s.io/v2``
``APIGroupDiscoveryList``) that kubectl 1.30+ asks for first. Shapes and
field names are k8s.io/apimachinery's ``meta/v1`` and k8s.io/api's
``apidiscovery/v2``.

Pure: documents are functions of the code, built once per process on first
use, as text ready to send. Nothing here knows HTTP beyond reading an
``Accept`` header; the OpenAPI documents are ``imagestreams.api.openapi``'s.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import sys
from dataclasses import dataclass
from typing import Any

from imagestreams.errors import API_GROUP
from imagestreams.models import (
    ImageStream,
    ImageStreamImage,
    ImageStreamImport,
    ImageStreamTag,
    OpenShiftModel,
)

GROUP = API_GROUP
VERSION = "v1"
GROUP_VERSION = f"{API_GROUP}/{VERSION}"

#: The Kubernetes API level whose conventions the service follows (``/version``).
KUBERNETES_MAJOR = "1"
KUBERNETES_MINOR = "33"
GIT_VERSION = f"v{KUBERNETES_MAJOR}.{KUBERNETES_MINOR}.0+imagestreams"

JSON = "application/json"
#: The aggregated discovery media type, parameters in the order the API server writes them.
AGGREGATED_JSON = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


@dataclass(frozen=True)
class Resource:
    """One resource of ``image.openshift.io/v1``, as discovery and OpenAPI describe it.

    ``verbs`` are Kubernetes verbs (``create``, ``get``, ``list``, ``watch``,
    ``update``, ``patch``, ``delete``); each must have its route. ``list_kind``
    names the kind a ``list`` answers, when the resource has one.
    """

    plural: str
    singular: str
    kind: str
    model: type[OpenShiftModel]
    verbs: tuple[str, ...]
    namespaced: bool = True
    #: Also listed across every namespace (``/apis/<group>/<version>/<plural>``).
    cluster_list: bool = False
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    list_kind: str | None = None

    def __post_init__(self) -> None:
        if ("list" in self.verbs) != (self.list_kind is not None):
            raise ValueError(f"{self.plural}: a list kind goes with the list verb")


#: Every resource the API serves. Adding one here adds it to discovery and OpenAPI.
RESOURCES: tuple[Resource, ...] = (
    Resource(
        plural="imagestreamimports",
        singular="imagestreamimport",
        kind="ImageStreamImport",
        model=ImageStreamImport,
        # OpenShift's imports are create-only; ``get`` answers the latest import.
        verbs=("create", "get"),
    ),
    Resource(
        plural="imagestreams",
        singular="imagestream",
        kind="ImageStream",
        model=ImageStream,
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
        short_names=("is",),
        categories=("all",),
        list_kind="ImageStreamList",
        cluster_list=True,
    ),
    Resource(
        plural="imagestreamtags",
        singular="imagestreamtag",
        kind="ImageStreamTag",
        model=ImageStreamTag,
        # OpenShift's have no watch: this one follows the streams' changes.
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
        short_names=("istag",),
        list_kind="ImageStreamTagList",
    ),
    Resource(
        plural="imagestreamimages",
        singular="imagestreamimage",
        kind="ImageStreamImage",
        model=ImageStreamImage,
        verbs=("get",),
        short_names=("isimage",),
    ),
)


@dataclass(frozen=True)
class Document:
    """A discovery or OpenAPI document as sent: its text (or bytes), media type and entity tag."""

    body: str | bytes
    content_type: str

    @property
    def data(self) -> bytes:
        """The body as sent: text in UTF-8."""
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body

    @functools.cached_property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.data).hexdigest() + '"'


def _text(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


# --- content negotiation ----------------------------------------------------------


def media_ranges(accept: str | None) -> list[tuple[str, dict[str, str]]]:
    """The media ranges of an ``Accept`` header: type and lower-cased parameters, in order."""
    ranges = []
    for item in (accept or "").split(","):
        parts = [part.strip() for part in item.split(";")]
        if not parts[0]:
            continue
        params = {}
        for part in parts[1:]:
            key, _, value = part.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        ranges.append((parts[0].lower(), params))
    return ranges


def wants_aggregated(accept: str | None) -> bool:
    """Whether ``accept`` asks for ``apidiscovery.k8s.io/v2`` aggregated discovery.

    The API server serves the first acceptable range; a client that prefers
    plain JSON (or the v2beta1 form, which is not served) gets ``APIGroupList``.
    """
    for media_type, params in media_ranges(accept):
        if media_type in (JSON, "application/*", "*/*") and "as" not in params:
            return False
        if (
            media_type == JSON
            and params.get("g") == "apidiscovery.k8s.io"
            and params.get("v") == "v2"
            and params.get("as") == "APIGroupDiscoveryList"
        ):
            return True
    return False


# --- the documents ---------------------------------------------------------------


@functools.cache
def version_info() -> Document:
    """``/version``: a ``version.Info`` naming the Kubernetes level the API follows."""
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return Document(
        _text(
            {
                "major": KUBERNETES_MAJOR,
                "minor": KUBERNETES_MINOR,
                "gitVersion": GIT_VERSION,
                "gitCommit": "",
                "gitTreeState": "",
                "buildDate": "",
                "goVersion": "",
                "compiler": platform.python_implementation().lower(),
                "platform": f"{sys.platform}/{machine}",
            }
        ),
        JSON,
    )


@functools.cache
def legacy_versions() -> Document:
    """``/api``: ``APIVersions`` with no versions, since there is no core group.

    client-go turns an empty list into no legacy group at all.
    """
    return Document(
        _text({"kind": "APIVersions", "versions": [], "serverAddressByClientCIDRs": []}), JSON
    )


@functools.cache
def legacy_resources() -> Document:
    """``/api/v1``: an empty ``APIResourceList``.

    The Python client's dynamic discovery assumes core ``v1`` exists and
    reads it when a search names no group; an empty list tells it the truth.
    """
    return Document(_text({"kind": "APIResourceList", "groupVersion": "v1", "resources": []}), JSON)


def _group() -> dict[str, Any]:
    version = {"groupVersion": GROUP_VERSION, "version": VERSION}
    return {"name": API_GROUP, "versions": [version], "preferredVersion": version}


@functools.cache
def group_list() -> Document:
    """``/apis``: the one group, ``image.openshift.io``, preferring ``v1``."""
    return Document(_text({"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group()]}), JSON)


@functools.cache
def group() -> Document:
    """``/apis/image.openshift.io``: the ``APIGroup``."""
    return Document(_text({"kind": "APIGroup", "apiVersion": "v1", **_group()}), JSON)


def _api_resource(resource: Resource) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": resource.plural,
        "singularName": resource.singular,
        "namespaced": resource.namespaced,
        "kind": resource.kind,
        "verbs": sorted(resource.verbs),
    }
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    return entry


@functools.cache
def resource_list() -> Document:
    """``/apis/image.openshift.io/v1``: the ``APIResourceList`` of every declared resource."""
    return Document(
        _text(
            {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": GROUP_VERSION,
                "resources": [_api_resource(resource) for resource in RESOURCES],
            }
        ),
        JSON,
    )


def _discovered_resource(resource: Resource) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": resource.plural,
        "responseKind": {"group": API_GROUP, "version": VERSION, "kind": resource.kind},
        "scope": "Namespaced" if resource.namespaced else "Cluster",
        "singularResource": resource.singular,
        "verbs": sorted(resource.verbs),
    }
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    return entry


def _aggregated(items: list[dict[str, Any]]) -> Document:
    return Document(
        _text(
            {
                "kind": "APIGroupDiscoveryList",
                "apiVersion": "apidiscovery.k8s.io/v2",
                "metadata": {},
                "items": items,
            }
        ),
        AGGREGATED_JSON,
    )


@functools.cache
def aggregated_legacy() -> Document:
    """``/api`` in aggregated form: no groups (there is no core group), no resources."""
    return _aggregated([])


@functools.cache
def aggregated_groups() -> Document:
    """``/apis`` in aggregated form: the group, its version and every resource at once."""
    return _aggregated(
        [
            {
                "metadata": {"name": API_GROUP, "creationTimestamp": None},
                "versions": [
                    {
                        "version": VERSION,
                        "resources": [_discovered_resource(resource) for resource in RESOURCES],
                        "freshness": "Current",
                    }
                ],
            }
        ]
    )


def legacy(accept: str | None) -> Document:
    """``/api`` in the form ``accept`` asks for."""
    return aggregated_legacy() if wants_aggregated(accept) else legacy_versions()


def groups(accept: str | None) -> Document:
    """``/apis`` in the form ``accept`` asks for."""
    return aggregated_groups() if wants_aggregated(accept) else group_list()

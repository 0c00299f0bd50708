"""OpenAPI v2 and v3 documents of ``image.openshift.io/v1``, generated from the models.

Owns ``/openapi/v2`` (Swagger 2.0), the ``/openapi/v3`` index and
``/openapi/v3/apis/image.openshift.io/v1``. Schemas come from the same
pydantic models that decode requests and write answers
(``model_json_schema``), translated to the Kubernetes conventions: names as
upstream's (``com.github.openshift.api.image.v1.ImageStreamImport``,
``io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta``), no nullable unions,
``x-kubernetes-group-version-kind`` on every top-level kind. Paths come from
the resource declarations in ``imagestreams.api.discovery``: one operation
per declared verb, with the query parameters the routes honour and the
``x-kubernetes-action`` kubectl reads (``fieldValidation`` on a write is how
kubectl knows the server validates fields itself).

``/openapi/v2`` is also served as protobuf (``imagestreams.api.protobuf``),
the form client-go asks for: kubectl validates a manifest against it when
the kind's PATCH (which imports have not) does not take ``fieldValidation``.

Pure: each document is built once per process, on first use.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from imagestreams.api import protobuf
from imagestreams.api.discovery import (
    GROUP_VERSION,
    JSON,
    RESOURCES,
    VERSION,
    Document,
    Resource,
    media_ranges,
)
from imagestreams.errors import API_GROUP
from imagestreams.models import (
    DockerConfig,
    DockerImage,
    ListMeta,
    LocalObjectReference,
    ObjectMeta,
    ObjectReference,
    Status,
    StatusCause,
    StatusDetails,
)

#: What client-go asks ``/openapi/v2`` for (``OpenAPISchema``), and nothing else.
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
#: The same encoding under the name an API server answers with, whichever was asked for.
V2_PROTOBUF_ANSWERED = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
V3_PATH = f"apis/{GROUP_VERSION}"

META = "io.k8s.apimachinery.pkg.apis.meta.v1"
CORE = "io.k8s.api.core.v1"
IMAGE = "com.github.openshift.api.image.v1"
DOCKER10 = "com.github.openshift.api.image.docker10"

#: Definition names of the models not in ``image/v1``; every other model is ``IMAGE.<class>``.
_QUALIFIED: dict[str, str] = {
    model.__name__: f"{package}.{model.__name__}"
    for package, models in (
        (META, (ObjectMeta, ListMeta, Status, StatusCause, StatusDetails)),
        (CORE, (ObjectReference, LocalObjectReference)),
        (DOCKER10, (DockerImage, DockerConfig)),
    )
    for model in models
}

_STATUS = f"{META}.Status"
_TAG = f"{API_GROUP.replace('.', '_')}_{VERSION}"
_GROUP_WORD = "".join(part.capitalize() for part in API_GROUP.split("."))

_INFO = {"title": "OpenShift image API (image.openshift.io)", "version": VERSION}
_BEARER = {
    "type": "apiKey",
    "name": "authorization",
    "in": "header",
    "description": "Bearer Token authentication",
}


def definition_name(model_name: str) -> str:
    """The upstream definition name of the model class ``model_name``."""
    return _QUALIFIED.get(model_name, f"{IMAGE}.{model_name}")


def _kind_name(kind: str) -> str:
    return f"{IMAGE}.{kind}"


# --- schemas ----------------------------------------------------------------------

_PLACEHOLDER = "#/$defs/"


def _clean_description(text: str) -> str:
    return " ".join(text.replace("``", "").split())


def _translate(node: Any, prefix: str, v3: bool) -> Any:
    """A pydantic JSON schema node in the Kubernetes OpenAPI dialect."""
    if isinstance(node, list):
        return [_translate(item, prefix, v3) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    node.pop("title", None)
    node.pop("default", None)
    branches = node.pop("anyOf", None)
    if branches is not None:
        kept = [branch for branch in branches if branch != {"type": "null"}]
        if len(kept) == 1:
            node = {**kept[0], **node}
        else:
            node["anyOf"] = kept
    if node.get("additionalProperties") is True:
        del node["additionalProperties"]
    if node.get("format") == "binary":
        node["format"] = "byte"
    if "description" in node:
        node["description"] = _clean_description(node["description"])
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref":
            result[key] = prefix + definition_name(value.removeprefix(_PLACEHOLDER))
        elif key == "properties":
            result[key] = {name: _translate(item, prefix, v3) for name, item in value.items()}
        else:
            result[key] = _translate(value, prefix, v3)
    if v3 and "$ref" in result and len(result) > 1:
        # OpenAPI 3.0 ignores a $ref's siblings; kube-openapi wraps the $ref instead.
        result["allOf"] = [{"$ref": result.pop("$ref")}]
    return result


def _gvk(kind: str, group: str = API_GROUP) -> list[dict[str, str]]:
    return [{"group": group, "kind": kind, "version": VERSION}]


@functools.cache
def _raw_definitions() -> dict[str, Any]:
    # Request and answer bodies share one form: the schemas of what a client may send.
    mode: JsonSchemaMode = "validation"
    kinds: list[type[BaseModel]] = [resource.model for resource in RESOURCES]
    kinds.append(Status)
    models = [(model, mode) for model in kinds]
    _, schema = models_json_schema(models, by_alias=True, ref_template=_PLACEHOLDER + "{model}")
    definitions: dict[str, Any] = schema["$defs"]
    return definitions


def definitions(prefix: str, v3: bool) -> dict[str, Any]:
    """Every schema, named as upstream, with ``$ref``s to ``prefix``."""
    result = {
        definition_name(name): _translate(schema, prefix, v3)
        for name, schema in _raw_definitions().items()
    }
    for resource in RESOURCES:
        result[_kind_name(resource.kind)]["x-kubernetes-group-version-kind"] = _gvk(resource.kind)
        if resource.list_kind is not None:
            result[_kind_name(resource.list_kind)] = _list_schema(resource, prefix, v3)
    result[_STATUS]["x-kubernetes-group-version-kind"] = _gvk("Status", group="")
    return result


def _ref(prefix: str, name: str, v3: bool, description: str | None = None) -> dict[str, Any]:
    if description is None:
        return {"$ref": prefix + name}
    if v3:
        return {"allOf": [{"$ref": prefix + name}], "description": description}
    return {"$ref": prefix + name, "description": description}


def _list_schema(resource: Resource, prefix: str, v3: bool) -> dict[str, Any]:
    assert resource.list_kind is not None
    return {
        "description": f"{resource.list_kind} is a list of {resource.kind} objects.",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": "The versioned schema of the list."},
            "kind": {"type": "string", "description": "The kind of the list."},
            "metadata": _ref(prefix, f"{META}.ListMeta", v3, "Standard list metadata."),
            "items": {
                "type": "array",
                "description": f"The {resource.plural}.",
                "items": _ref(prefix, _kind_name(resource.kind), v3),
            },
        },
        "x-kubernetes-group-version-kind": _gvk(resource.list_kind),
    }


# --- paths ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Param:
    name: str
    type: str
    description: str
    where: str = "query"


_PRETTY = _Param("pretty", "string", "If 'true', the output is pretty printed.")
_DRY_RUN = _Param(
    "dryRun",
    "string",
    "When present (All), validate and compute the answer without storing anything.",
)
_FIELD_MANAGER = _Param("fieldManager", "string", "A name for the actor making the change.")
_FIELD_VALIDATION = _Param(
    "fieldValidation",
    "string",
    "What to do with unknown or duplicate fields in the body: Ignore, Warn (the default, "
    "a warning header per field) or Strict (400).",
)
_LIST_PARAMS = (
    _Param("limit", "integer", "The most items to answer; the rest follow with continue."),
    _Param("continue", "string", "The continue token of a previous, limited answer."),
    _Param("labelSelector", "string", "Only objects whose labels match this selector."),
    _Param("fieldSelector", "string", "Only objects whose fields match (metadata.name=...)."),
    _Param("watch", "boolean", "Stream changes (WatchEvent lines) instead of a list."),
    _Param("timeoutSeconds", "integer", "How long a list or a watch may last."),
)
_NAMESPACE = _Param("namespace", "string", "The namespace of the objects.", "path")


def _name_param(resource: Resource) -> _Param:
    return _Param("name", "string", f"The name of the {resource.kind}.", "path")


def _parameter(param: _Param, v3: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"name": param.name, "in": param.where}
    if param.where == "path":
        result["required"] = True
    result["description"] = param.description
    if v3:
        result["schema"] = {"type": param.type, "uniqueItems": True}
    else:
        result["type"] = param.type
        result["uniqueItems"] = True
    return result


@dataclass(frozen=True)
class _Operation:
    verb: str
    method: str
    action: str
    word: str
    item: bool
    params: tuple[_Param, ...]
    codes: tuple[str, ...]
    body: bool = False


_OPERATIONS = {
    "create": _Operation(
        "create",
        "post",
        "post",
        "create",
        False,
        (_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION),
        ("200", "201", "202"),
        body=True,
    ),
    "list": _Operation("list", "get", "list", "list", False, _LIST_PARAMS, ("200",)),
    "get": _Operation("get", "get", "get", "read", True, (), ("200",)),
    "update": _Operation(
        "update",
        "put",
        "put",
        "replace",
        True,
        (_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION),
        ("200", "201"),
        body=True,
    ),
    "patch": _Operation(
        "patch",
        "patch",
        "patch",
        "patch",
        True,
        (_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION),
        ("200", "201"),
        body=True,
    ),
    "delete": _Operation("delete", "delete", "delete", "delete", True, (_DRY_RUN,), ("200", "202")),
}
#: Verbs served by another verb's operation (``watch=true`` on a list).
_RIDES_ON = {"watch": "list"}
_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json")


def _paths_of(resource: Resource) -> tuple[str, str]:
    scope = "/namespaces/{namespace}" if resource.namespaced else ""
    collection = f"/apis/{GROUP_VERSION}{scope}/{resource.plural}"
    return collection, collection + "/{name}"


def _operation(
    resource: Resource, op: _Operation, prefix: str, v3: bool, every_namespace: bool = False
) -> dict[str, Any]:
    scope = "Namespaced" if resource.namespaced and not every_namespace else ""
    suffix = "ForAllNamespaces" if every_namespace else ""
    answer = resource.kind
    if op.verb == "list":
        assert resource.list_kind is not None
        answer = resource.list_kind
    answer_name = _STATUS if op.verb == "delete" else _kind_name(answer)
    produces = [JSON]
    if op.verb == "list" and "watch" in resource.verbs:
        produces.append("application/json;stream=watch")
    consumes = list(_PATCH_TYPES) if op.verb == "patch" else ["*/*"]
    body_schema: dict[str, Any] = (
        {"type": "object"} if op.verb == "patch" else {"$ref": prefix + _kind_name(resource.kind)}
    )
    result: dict[str, Any] = {
        "tags": [_TAG],
        "description": f"{op.verb} {'an' if resource.kind[0] in 'AEIOU' else 'a'} {resource.kind}",
        "operationId": (
            f"{op.word}{_GROUP_WORD}{VERSION.capitalize()}{scope}{resource.kind}{suffix}"
        ),
    }
    if not v3:
        result["consumes"] = consumes
        result["produces"] = produces
        result["schemes"] = ["https"]
    parameters = [_parameter(param, v3) for param in op.params]
    if op.body and not v3:
        parameters.insert(
            0, {"name": "body", "in": "body", "required": True, "schema": body_schema}
        )
    result["parameters"] = parameters
    if op.body and v3:
        result["requestBody"] = {
            "content": {media: {"schema": body_schema} for media in consumes},
            "required": True,
        }
    responses: dict[str, Any] = {}
    for code in op.codes:
        description = {"200": "OK", "201": "Created", "202": "Accepted"}[code]
        schema = {"$ref": prefix + answer_name}
        if v3:
            responses[code] = {
                "description": description,
                "content": {media: {"schema": schema} for media in produces},
            }
        else:
            responses[code] = {"description": description, "schema": schema}
    responses["401"] = {"description": "Unauthorized"}
    result["responses"] = responses
    result["x-kubernetes-action"] = op.action
    result["x-kubernetes-group-version-kind"] = _gvk(resource.kind)[0]
    return result


def paths(prefix: str, v3: bool) -> dict[str, Any]:
    """One path item per route of the declared resources, one operation per verb."""
    result: dict[str, Any] = {}
    for resource in RESOURCES:
        collection, item = _paths_of(resource)
        for verb in resource.verbs:
            op = _OPERATIONS.get(verb)
            if op is None:
                if verb not in _RIDES_ON:
                    raise ValueError(f"{resource.plural}: no operation for the verb {verb!r}")
                continue
            path = item if op.item else collection
            entry = result.setdefault(path, {})
            entry[op.method] = _operation(resource, op, prefix, v3)
            common = [_NAMESPACE] if resource.namespaced else []
            if op.item:
                common.insert(0, _name_param(resource))
            entry["parameters"] = [_parameter(param, v3) for param in (*common, _PRETTY)]
        if resource.cluster_list and "list" in resource.verbs:
            # kubectl get -A: the list of every namespace, for callers granted them all.
            every = result.setdefault(f"/apis/{GROUP_VERSION}/{resource.plural}", {})
            every["get"] = _operation(resource, _OPERATIONS["list"], prefix, v3, True)
            every["parameters"] = [_parameter(_PRETTY, v3)]
    return {path: result[path] for path in sorted(result)}


# --- the documents ----------------------------------------------------------------


def _text(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


@functools.cache
def v2() -> Document:
    """``/openapi/v2``: the Swagger 2.0 document of the API."""
    prefix = "#/definitions/"
    return Document(
        _text(
            {
                "swagger": "2.0",
                "info": dict(_INFO),
                "paths": paths(prefix, v3=False),
                "definitions": definitions(prefix, v3=False),
                "securityDefinitions": {"BearerToken": dict(_BEARER)},
                "security": [{"BearerToken": []}],
            }
        ),
        JSON,
    )


@functools.cache
def v3_group_version() -> Document:
    """``/openapi/v3/apis/image.openshift.io/v1``: the OpenAPI 3.0 document of the group version."""
    prefix = "#/components/schemas/"
    return Document(
        _text(
            {
                "openapi": "3.0.0",
                "info": dict(_INFO),
                "paths": paths(prefix, v3=True),
                "components": {
                    "schemas": definitions(prefix, v3=True),
                    "securitySchemes": {"BearerToken": copy.deepcopy(_BEARER)},
                },
                "security": [{"BearerToken": []}],
            }
        ),
        JSON,
    )


def v3_hash(document: Document) -> str:
    """The hash the index gives a document: SHA-512 of its text, upper-case hex, as upstream."""
    return hashlib.sha512(document.data).hexdigest().upper()


@functools.cache
def v3_index() -> Document:
    """``/openapi/v3``: where each group version's document is, with its content hash."""
    url = f"/openapi/v3/{V3_PATH}?hash={v3_hash(v3_group_version())}"
    return Document(_text({"paths": {V3_PATH: {"serverRelativeURL": url}}}), JSON)


@functools.cache
def v2_protobuf() -> Document:
    """``/openapi/v2`` as gnostic's ``openapi.v2.Document``: the JSON document re-encoded."""
    return Document(protobuf.encode(json.loads(v2().body)), V2_PROTOBUF_ANSWERED)


#: What ``/openapi/v2`` answers for each media range, as the API server's handler matches them.
_V2_FORMS: dict[str, Callable[[], Document]] = {
    JSON: v2,
    "application/*": v2,
    "*/*": v2,
    V2_PROTOBUF: v2_protobuf,
    V2_PROTOBUF_ANSWERED: v2_protobuf,
}


def v2_for(accept: str | None) -> Document | None:
    """``/openapi/v2`` in the first form ``accept`` takes (by quality, then order), or None.

    No ``Accept`` is JSON; a range of quality 0 is refused.
    """
    ranges = [(media, _quality(params)) for media, params in media_ranges(accept or "*/*")]
    for media, quality in sorted(ranges, key=lambda item: -item[1]):
        form = _V2_FORMS.get(media)
        if form is not None and quality > 0:
            return form()
    return None


def _quality(params: dict[str, str]) -> float:
    try:
        return float(params.get("q", "1"))
    except ValueError:
        return 0.0

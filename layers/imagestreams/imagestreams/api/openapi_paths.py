"""The paths of the OpenAPI documents, generated from the resource declarations.

Owns the ``paths`` ``imagestreams.api.openapi`` puts in ``/openapi/v2`` and
``/openapi/v3``: for each resource of ``imagestreams.api.discovery``, one
operation per declared verb, with the query parameters the routes honour
and the ``x-kubernetes-action`` kubectl reads (``fieldValidation`` on a
write is how kubectl knows the server validates fields itself). Answers
and bodies refer to the schemas of ``imagestreams.api.openapi_schemas``.

Pure; nothing here knows HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imagestreams.api.discovery import GROUP_VERSION, JSON, RESOURCES, VERSION, Resource
from imagestreams.api.openapi_schemas import STATUS, gvk, kind_name
from imagestreams.errors import API_GROUP

_TAG = f"{API_GROUP.replace('.', '_')}_{VERSION}"
_GROUP_WORD = "".join(part.capitalize() for part in API_GROUP.split("."))


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
    answer_name = STATUS if op.verb == "delete" else kind_name(answer)
    produces = [JSON]
    if op.verb == "list" and "watch" in resource.verbs:
        produces.append("application/json;stream=watch")
    consumes = list(_PATCH_TYPES) if op.verb == "patch" else ["*/*"]
    body_schema: dict[str, Any] = (
        {"type": "object"} if op.verb == "patch" else {"$ref": prefix + kind_name(resource.kind)}
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
    result["x-kubernetes-group-version-kind"] = gvk(resource.kind)[0]
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

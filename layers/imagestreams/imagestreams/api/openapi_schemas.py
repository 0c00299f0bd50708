"""The schemas of the OpenAPI documents, generated from the pydantic models.

Owns the definitions ``imagestreams.api.openapi`` puts in ``/openapi/v2``
and ``/openapi/v3``: each model's ``model_json_schema`` (the same models
that decode requests and write answers) translated to the Kubernetes
conventions: names as upstream's
(``com.github.openshift.api.image.v1.ImageStreamImport``,
``io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta``), no nullable unions,
``x-kubernetes-group-version-kind`` on every top-level kind, and a list
kind for each resource declared with one (``imagestreams.api.discovery``).

Pure; nothing here knows paths, documents or HTTP.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from imagestreams.api.discovery import RESOURCES, VERSION, Resource
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

#: The definition name of ``Status``, the answer of a delete.
STATUS = f"{META}.Status"


def definition_name(model_name: str) -> str:
    """The upstream definition name of the model class ``model_name``."""
    return _QUALIFIED.get(model_name, f"{IMAGE}.{model_name}")


def kind_name(kind: str) -> str:
    """The definition name of the ``image.openshift.io`` kind ``kind``."""
    return f"{IMAGE}.{kind}"


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


def gvk(kind: str, group: str = API_GROUP) -> list[dict[str, str]]:
    """The ``x-kubernetes-group-version-kind`` of ``kind`` in ``group``."""
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
        result[kind_name(resource.kind)]["x-kubernetes-group-version-kind"] = gvk(resource.kind)
        if resource.list_kind is not None:
            result[kind_name(resource.list_kind)] = _list_schema(resource, prefix, v3)
    result[STATUS]["x-kubernetes-group-version-kind"] = gvk("Status", group="")
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
                "items": _ref(prefix, kind_name(resource.kind), v3),
            },
        },
        "x-kubernetes-group-version-kind": gvk(resource.list_kind),
    }

"""A Swagger 2.0 document in gnostic's protobuf encoding (``openapi.v2.Document``).

client-go asks ``/openapi/v2`` for
``application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` and nothing
else; kubectl's client-side validation (``kubectl create -f``'s default for a
kind whose PATCH does not take ``fieldValidation``) reads the models from it.
An API server answers ``proto.Marshal`` of gnostic's ``openapi_v2.Document``
(google/gnostic ``openapiv2/OpenAPIv2.proto``), parsed from its JSON.

Owns that translation: :func:`encode` takes the JSON document (parsed) and
answers the message's bytes. The message layouts below are data: for each
JSON key its field number and kind, as the ``.proto`` declares them, read
as gnostic reads JSON (``imagestreams.api.gnostic``: ``x-`` keys as vendor
extensions, a key with no field a ``ValueError``). Oneofs choose their
branch as gnostic's parser does (``in: body`` is a ``BodyParameter``, a
``$ref`` a ``JsonReference``, ``type: apiKey`` an ``ApiKeySecurity``).

OAuth2 security definitions are not encoded (the API has none). Proto3
leaves scalars at their zero value out; messages, even empty ones, are
written (an empty ``properties`` still makes an object a kind).

Pure: the bytes are ``imagestreams.api.protowire``'s; nothing here knows HTTP.
"""

from __future__ import annotations

from typing import Any

from imagestreams.api.gnostic import Message, NamedMap, any_value, any_values
from imagestreams.api.protowire import (
    VARINT,
    Field,
    Payload,
    boolean,
    delimited,
    double,
    expect,
    int64,
    string,
    strings,
    tag,
    varint,
)


def _message(name: str) -> Field:
    """A field holding the message ``name`` (looked up when used: messages nest)."""

    def field(number: int, value: Any) -> bytes:
        return delimited(number, MESSAGES[name](value))

    return field


def _messages(name: str) -> Field:
    """A repeated field of the message ``name``, from a JSON list."""

    def field(number: int, value: Any) -> bytes:
        expect(value, (list,), number)
        return b"".join(delimited(number, MESSAGES[name](item)) for item in value)

    return field


def _validations(first: int) -> dict[str, tuple[int, Field]]:
    """The primitive-value keywords parameters, headers and items share, numbered from ``first``.

    The ``.proto`` lists them in this order in each of those messages.
    """
    kinds: list[tuple[str, Field]] = [
        ("type", string),
        ("format", string),
        ("items", _message("PrimitivesItems")),
        ("collectionFormat", string),
        ("default", any_value),
        ("maximum", double),
        ("exclusiveMaximum", boolean),
        ("minimum", double),
        ("exclusiveMinimum", boolean),
        ("maxLength", int64),
        ("minLength", int64),
        ("pattern", string),
        ("maxItems", int64),
        ("minItems", int64),
        ("uniqueItems", boolean),
        ("enum", any_values),
        ("multipleOf", double),
    ]
    return {key: (first + offset, field) for offset, (key, field) in enumerate(kinds)}


_PARAMETER_HEAD: dict[str, tuple[int, Field]] = {
    "required": (1, boolean),
    "in": (2, string),
    "description": (3, string),
    "name": (4, string),
}


_SCHEMA = Message(
    "Schema",
    {
        "$ref": (1, string),
        "format": (2, string),
        "title": (3, string),
        "description": (4, string),
        "default": (5, any_value),
        "multipleOf": (6, double),
        "maximum": (7, double),
        "exclusiveMaximum": (8, boolean),
        "minimum": (9, double),
        "exclusiveMinimum": (10, boolean),
        "maxLength": (11, int64),
        "minLength": (12, int64),
        "pattern": (13, string),
        "maxItems": (14, int64),
        "minItems": (15, int64),
        "uniqueItems": (16, boolean),
        "maxProperties": (17, int64),
        "minProperties": (18, int64),
        "required": (19, strings),
        "enum": (20, any_values),
        "additionalProperties": (21, _message("AdditionalPropertiesItem")),
        "type": (22, _message("TypeItem")),
        "items": (23, _message("ItemsItem")),
        "allOf": (24, _messages("Schema")),
        "properties": (25, _message("Properties")),
        "discriminator": (26, string),
        "readOnly": (27, boolean),
        "xml": (28, _message("Xml")),
        "externalDocs": (29, _message("ExternalDocs")),
        "example": (30, any_value),
    },
    extensions=31,
)


def _type_item(value: Any) -> bytes:
    """``TypeItem``: one type name or a list of them."""
    return strings(1, value if isinstance(value, list) else [value])


def _items_item(value: Any) -> bytes:
    """``ItemsItem``: one schema, or a list of them (a tuple's)."""
    return _messages("Schema")(1, value if isinstance(value, list) else [value])


def _additional_properties_item(value: Any) -> bytes:
    """``AdditionalPropertiesItem``: a schema (1) or a boolean (2, written even when false)."""
    if isinstance(value, bool):
        return tag(2, VARINT) + varint(int(value))
    return _message("Schema")(1, value)


def _parameters_item(value: Any) -> bytes:
    """``ParametersItem``: a ``JsonReference`` (2) for a ``$ref``, else a ``Parameter`` (1)."""
    if isinstance(value, dict) and "$ref" in value:
        return _message("JsonReference")(2, value)
    return _message("Parameter")(1, value)


def _parameter(value: Any) -> bytes:
    """``Parameter``: a ``BodyParameter`` (1) or a ``NonBodyParameter`` (2), by ``in``."""
    if isinstance(value, dict) and value.get("in") == "body":
        return _message("BodyParameter")(1, value)
    return _message("NonBodyParameter")(2, value)


_NON_BODY = {
    "header": (1, "HeaderParameterSubSchema"),
    "formData": (2, "FormDataParameterSubSchema"),
    "query": (3, "QueryParameterSubSchema"),
    "path": (4, "PathParameterSubSchema"),
}


def _non_body_parameter(value: Any) -> bytes:
    where = value.get("in") if isinstance(value, dict) else None
    if where not in _NON_BODY:
        raise ValueError(f"NonBodyParameter: no parameter in {where!r}")
    number, name = _NON_BODY[where]
    return _message(name)(number, value)


def _response_value(value: Any) -> bytes:
    """``ResponseValue``: a ``JsonReference`` (2) for a ``$ref``, else a ``Response`` (1)."""
    if isinstance(value, dict) and "$ref" in value:
        return _message("JsonReference")(2, value)
    return _message("Response")(1, value)


def _schema_item(value: Any) -> bytes:
    """``SchemaItem``: a ``Schema`` (1); gnostic tries it first, and it takes any type."""
    return _message("Schema")(1, value)


_SECURITY = {"basic": (1, "BasicAuthenticationSecurity"), "apiKey": (2, "ApiKeySecurity")}


def _security_definitions_item(value: Any) -> bytes:
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in _SECURITY:
        raise ValueError(f"SecurityDefinitionsItem: {kind!r} security is not encoded")
    number, name = _SECURITY[kind]
    return _message(name)(number, value)


def _string_array(value: Any) -> bytes:
    return strings(1, value)


#: Every message, by its ``.proto`` name.
MESSAGES: dict[str, Payload] = {
    "Document": Message(
        "Document",
        {
            "swagger": (1, string),
            "info": (2, _message("Info")),
            "host": (3, string),
            "basePath": (4, string),
            "schemes": (5, strings),
            "consumes": (6, strings),
            "produces": (7, strings),
            "paths": (8, _message("Paths")),
            "definitions": (9, _message("Definitions")),
            "parameters": (10, _message("ParameterDefinitions")),
            "responses": (11, _message("ResponseDefinitions")),
            "security": (12, _messages("SecurityRequirement")),
            "securityDefinitions": (13, _message("SecurityDefinitions")),
            "tags": (14, _messages("Tag")),
            "externalDocs": (15, _message("ExternalDocs")),
        },
        extensions=16,
    ),
    "Info": Message(
        "Info",
        {
            "title": (1, string),
            "version": (2, string),
            "description": (3, string),
            "termsOfService": (4, string),
            "contact": (5, _message("Contact")),
            "license": (6, _message("License")),
        },
        extensions=7,
    ),
    "Contact": Message(
        "Contact", {"name": (1, string), "url": (2, string), "email": (3, string)}, extensions=4
    ),
    "License": Message("License", {"name": (1, string), "url": (2, string)}, extensions=3),
    "ExternalDocs": Message(
        "ExternalDocs", {"description": (1, string), "url": (2, string)}, extensions=3
    ),
    "Tag": Message(
        "Tag",
        {
            "name": (1, string),
            "description": (2, string),
            "externalDocs": (3, _message("ExternalDocs")),
        },
        extensions=4,
    ),
    "Paths": NamedMap("Paths", entries=2, value=_message("PathItem"), extensions=1),
    "PathItem": Message(
        "PathItem",
        {
            "$ref": (1, string),
            "get": (2, _message("Operation")),
            "put": (3, _message("Operation")),
            "post": (4, _message("Operation")),
            "delete": (5, _message("Operation")),
            "options": (6, _message("Operation")),
            "head": (7, _message("Operation")),
            "patch": (8, _message("Operation")),
            "parameters": (9, _messages("ParametersItem")),
        },
        extensions=10,
    ),
    "Operation": Message(
        "Operation",
        {
            "tags": (1, strings),
            "summary": (2, string),
            "description": (3, string),
            "externalDocs": (4, _message("ExternalDocs")),
            "operationId": (5, string),
            "produces": (6, strings),
            "consumes": (7, strings),
            "parameters": (8, _messages("ParametersItem")),
            "responses": (9, _message("Responses")),
            "schemes": (10, strings),
            "deprecated": (11, boolean),
            "security": (12, _messages("SecurityRequirement")),
        },
        extensions=13,
    ),
    "ParametersItem": _parameters_item,
    "Parameter": _parameter,
    "JsonReference": Message("JsonReference", {"$ref": (1, string), "description": (2, string)}),
    "BodyParameter": Message(
        "BodyParameter",
        {
            "description": (1, string),
            "name": (2, string),
            "in": (3, string),
            "required": (4, boolean),
            "schema": (5, _message("Schema")),
        },
        extensions=6,
    ),
    "NonBodyParameter": _non_body_parameter,
    "HeaderParameterSubSchema": Message(
        "HeaderParameterSubSchema", {**_PARAMETER_HEAD, **_validations(5)}, extensions=22
    ),
    "PathParameterSubSchema": Message(
        "PathParameterSubSchema", {**_PARAMETER_HEAD, **_validations(5)}, extensions=22
    ),
    "QueryParameterSubSchema": Message(
        "QueryParameterSubSchema",
        {**_PARAMETER_HEAD, "allowEmptyValue": (5, boolean), **_validations(6)},
        extensions=23,
    ),
    "FormDataParameterSubSchema": Message(
        "FormDataParameterSubSchema",
        {**_PARAMETER_HEAD, "allowEmptyValue": (5, boolean), **_validations(6)},
        extensions=23,
    ),
    "PrimitivesItems": Message("PrimitivesItems", _validations(1), extensions=18),
    "Responses": NamedMap("Responses", entries=1, value=_message("ResponseValue"), extensions=2),
    "ResponseValue": _response_value,
    "Response": Message(
        "Response",
        {
            "description": (1, string),
            "schema": (2, _message("SchemaItem")),
            "headers": (3, _message("Headers")),
            "examples": (4, _message("Examples")),
        },
        extensions=5,
    ),
    "SchemaItem": _schema_item,
    "Headers": NamedMap("Headers", entries=1, value=_message("Header")),
    "Header": Message("Header", {**_validations(1), "description": (18, string)}, extensions=19),
    "Examples": NamedMap("Examples", entries=1, value=any_value),
    "Definitions": NamedMap("Definitions", entries=1, value=_message("Schema")),
    "ParameterDefinitions": NamedMap(
        "ParameterDefinitions", entries=1, value=_message("Parameter")
    ),
    "ResponseDefinitions": NamedMap("ResponseDefinitions", entries=1, value=_message("Response")),
    "Schema": _SCHEMA,
    "Properties": NamedMap("Properties", entries=1, value=_message("Schema")),
    "AdditionalPropertiesItem": _additional_properties_item,
    "TypeItem": _type_item,
    "ItemsItem": _items_item,
    "Xml": Message(
        "Xml",
        {
            "name": (1, string),
            "namespace": (2, string),
            "prefix": (3, string),
            "attribute": (4, boolean),
            "wrapped": (5, boolean),
        },
        extensions=6,
    ),
    "SecurityDefinitions": NamedMap(
        "SecurityDefinitions", entries=1, value=_message("SecurityDefinitionsItem")
    ),
    "SecurityDefinitionsItem": _security_definitions_item,
    "BasicAuthenticationSecurity": Message(
        "BasicAuthenticationSecurity",
        {"type": (1, string), "description": (2, string)},
        extensions=3,
    ),
    "ApiKeySecurity": Message(
        "ApiKeySecurity",
        {
            "type": (1, string),
            "name": (2, string),
            "in": (3, string),
            "description": (4, string),
        },
        extensions=5,
    ),
    "SecurityRequirement": NamedMap(
        "SecurityRequirement", entries=1, value=_message("StringArray")
    ),
    "StringArray": _string_array,
}


def encode(document: dict[str, Any]) -> bytes:
    """The Swagger 2.0 ``document`` (parsed JSON) as an ``openapi.v2.Document`` message."""
    return MESSAGES["Document"](document)

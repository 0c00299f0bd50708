"""A Swagger 2.0 document in gnostic's protobuf encoding (``openapi.v2.Document``).

client-go asks ``/openapi/v2`` for
``application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` and nothing
else; kubectl's client-side validation (``kubectl create -f``'s default for a
kind whose PATCH does not take ``fieldValidation``) reads the models from it.
An API server answers ``proto.Marshal`` of gnostic's ``openapi_v2.Document``
(google/gnostic ``openapiv2/OpenAPIv2.proto``), parsed from its JSON.

Owns that translation: :func:`encode` takes the JSON document (parsed) and
answers the message's bytes. The message layouts below are data: for each
JSON key its field number and kind, as the ``.proto`` declares them, with
``x-`` keys as ``NamedAny`` vendor extensions whose ``Any.yaml`` is the value
as YAML (JSON with spaces after ``:`` and ``,`` is YAML). Oneofs choose their
branch as gnostic's parser does (``in: body`` is a ``BodyParameter``, a
``$ref`` a ``JsonReference``, ``type: apiKey`` an ``ApiKeySecurity``).

A key with no field is a ``ValueError``, as it is a parse error in gnostic:
nothing the JSON says is dropped silently. OAuth2 security definitions are
not encoded (the API has none). Proto3 leaves scalars at their zero value
out; messages, even empty ones, are written (an empty ``properties`` still
makes an object a kind).

Pure: a protobuf writer (varints, length-delimited fields, doubles) and no
protobuf library; nothing here knows HTTP.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# Wire types.
_VARINT = 0
_FIXED64 = 1
_LENGTH_DELIMITED = 2

#: Encodes one JSON value as field ``number``: zero or more encoded fields.
Field = Callable[[int, Any], bytes]
#: Encodes one JSON value as a message's contents.
Payload = Callable[[Any], bytes]


# --- the writer -------------------------------------------------------------------


def varint(value: int) -> bytes:
    """``value`` as a base-128 varint; a negative one as its 64-bit two's complement."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def _delimited(number: int, payload: bytes) -> bytes:
    return _tag(number, _LENGTH_DELIMITED) + varint(len(payload)) + payload


def _expect(value: Any, kinds: tuple[type, ...], number: int) -> None:
    # JSON has no integer booleans: True is no int here.
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ValueError(f"field {number}: expected {kinds}, got {value!r}")


def _string(number: int, value: Any) -> bytes:
    return _text(number, value) if value != "" else b""


def _text(number: int, value: Any) -> bytes:
    """A string, written even when empty (an element of a repeated field)."""
    _expect(value, (str,), number)
    return _delimited(number, value.encode("utf-8"))


def _bool(number: int, value: Any) -> bytes:
    _expect(value, (bool,), number)
    return _tag(number, _VARINT) + varint(1) if value else b""


def _int64(number: int, value: Any) -> bytes:
    _expect(value, (int,), number)
    return _tag(number, _VARINT) + varint(value) if value else b""


def _double(number: int, value: Any) -> bytes:
    _expect(value, (int, float), number)
    return _tag(number, _FIXED64) + struct.pack("<d", value) if value else b""


def _strings(number: int, value: Any) -> bytes:
    _expect(value, (list,), number)
    return b"".join(_text(number, item) for item in value)


def yaml_text(value: Any) -> str:
    """``value`` as YAML: JSON with the spaces YAML's flow style needs after ``:`` and ``,``."""
    return json.dumps(value, separators=(", ", ": "))


def _any(number: int, value: Any) -> bytes:
    """An ``Any``: the value as YAML in field 2 (``value``, a protobuf Any, stays empty)."""
    return _delimited(number, _string(2, yaml_text(value)))


def _anys(number: int, value: Any) -> bytes:
    _expect(value, (list,), number)
    return b"".join(_any(number, item) for item in value)


def _message(name: str) -> Field:
    """A field holding the message ``name`` (looked up when used: messages nest)."""

    def field(number: int, value: Any) -> bytes:
        return _delimited(number, MESSAGES[name](value))

    return field


def _messages(name: str) -> Field:
    """A repeated field of the message ``name``, from a JSON list."""

    def field(number: int, value: Any) -> bytes:
        _expect(value, (list,), number)
        return b"".join(_delimited(number, MESSAGES[name](item)) for item in value)

    return field


# --- messages as data -------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """A message read from a JSON object: one field per key, ``x-`` keys as extensions.

    ``extensions`` is the number of the message's ``repeated NamedAny
    vendor_extension``, if it has one.
    """

    name: str
    fields: Mapping[str, tuple[int, Field]]
    extensions: int | None = None

    def __call__(self, value: Any) -> bytes:
        if not isinstance(value, dict):
            raise ValueError(f"{self.name}: expected an object, got {value!r}")
        out = bytearray()
        for key, item in value.items():
            if key in self.fields:
                number, field = self.fields[key]
                out += field(number, item)
            elif self.extensions is not None and key.startswith("x-"):
                out += _named_entry(self.extensions, key, _any, item)
            else:
                raise ValueError(f"{self.name}: no field for {key!r}")
        return bytes(out)


def _named_entry(number: int, name: str, field: Field, value: Any) -> bytes:
    """One ``Named<T>`` pair (``name`` = 1, ``value`` = 2) as field ``number``."""
    return _delimited(number, _string(1, name) + field(2, value))


@dataclass(frozen=True)
class NamedMap:
    """A JSON object as ``repeated Named<T>`` in field ``entries``, in the object's order.

    With ``extensions``, its ``x-`` keys are vendor extensions in that field
    instead (``Paths``, ``Responses``).
    """

    name: str
    entries: int
    value: Field
    extensions: int | None = None

    def __call__(self, value: Any) -> bytes:
        if not isinstance(value, dict):
            raise ValueError(f"{self.name}: expected an object, got {value!r}")
        out = bytearray()
        for key, item in value.items():
            if self.extensions is not None and key.startswith("x-"):
                out += _named_entry(self.extensions, key, _any, item)
            else:
                out += _named_entry(self.entries, key, self.value, item)
        return bytes(out)


def _validations(first: int) -> dict[str, tuple[int, Field]]:
    """The primitive-value keywords parameters, headers and items share, numbered from ``first``.

    The ``.proto`` lists them in this order in each of those messages.
    """
    kinds: list[tuple[str, Field]] = [
        ("type", _string),
        ("format", _string),
        ("items", _message("PrimitivesItems")),
        ("collectionFormat", _string),
        ("default", _any),
        ("maximum", _double),
        ("exclusiveMaximum", _bool),
        ("minimum", _double),
        ("exclusiveMinimum", _bool),
        ("maxLength", _int64),
        ("minLength", _int64),
        ("pattern", _string),
        ("maxItems", _int64),
        ("minItems", _int64),
        ("uniqueItems", _bool),
        ("enum", _anys),
        ("multipleOf", _double),
    ]
    return {key: (first + offset, field) for offset, (key, field) in enumerate(kinds)}


_PARAMETER_HEAD: dict[str, tuple[int, Field]] = {
    "required": (1, _bool),
    "in": (2, _string),
    "description": (3, _string),
    "name": (4, _string),
}


_SCHEMA = Message(
    "Schema",
    {
        "$ref": (1, _string),
        "format": (2, _string),
        "title": (3, _string),
        "description": (4, _string),
        "default": (5, _any),
        "multipleOf": (6, _double),
        "maximum": (7, _double),
        "exclusiveMaximum": (8, _bool),
        "minimum": (9, _double),
        "exclusiveMinimum": (10, _bool),
        "maxLength": (11, _int64),
        "minLength": (12, _int64),
        "pattern": (13, _string),
        "maxItems": (14, _int64),
        "minItems": (15, _int64),
        "uniqueItems": (16, _bool),
        "maxProperties": (17, _int64),
        "minProperties": (18, _int64),
        "required": (19, _strings),
        "enum": (20, _anys),
        "additionalProperties": (21, _message("AdditionalPropertiesItem")),
        "type": (22, _message("TypeItem")),
        "items": (23, _message("ItemsItem")),
        "allOf": (24, _messages("Schema")),
        "properties": (25, _message("Properties")),
        "discriminator": (26, _string),
        "readOnly": (27, _bool),
        "xml": (28, _message("Xml")),
        "externalDocs": (29, _message("ExternalDocs")),
        "example": (30, _any),
    },
    extensions=31,
)


def _type_item(value: Any) -> bytes:
    """``TypeItem``: one type name or a list of them."""
    return _strings(1, value if isinstance(value, list) else [value])


def _items_item(value: Any) -> bytes:
    """``ItemsItem``: one schema, or a list of them (a tuple's)."""
    return _messages("Schema")(1, value if isinstance(value, list) else [value])


def _additional_properties_item(value: Any) -> bytes:
    """``AdditionalPropertiesItem``: a schema (1) or a boolean (2, written even when false)."""
    if isinstance(value, bool):
        return _tag(2, _VARINT) + varint(int(value))
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
    return _strings(1, value)


#: Every message, by its ``.proto`` name.
MESSAGES: dict[str, Payload] = {
    "Document": Message(
        "Document",
        {
            "swagger": (1, _string),
            "info": (2, _message("Info")),
            "host": (3, _string),
            "basePath": (4, _string),
            "schemes": (5, _strings),
            "consumes": (6, _strings),
            "produces": (7, _strings),
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
            "title": (1, _string),
            "version": (2, _string),
            "description": (3, _string),
            "termsOfService": (4, _string),
            "contact": (5, _message("Contact")),
            "license": (6, _message("License")),
        },
        extensions=7,
    ),
    "Contact": Message(
        "Contact", {"name": (1, _string), "url": (2, _string), "email": (3, _string)}, extensions=4
    ),
    "License": Message("License", {"name": (1, _string), "url": (2, _string)}, extensions=3),
    "ExternalDocs": Message(
        "ExternalDocs", {"description": (1, _string), "url": (2, _string)}, extensions=3
    ),
    "Tag": Message(
        "Tag",
        {
            "name": (1, _string),
            "description": (2, _string),
            "externalDocs": (3, _message("ExternalDocs")),
        },
        extensions=4,
    ),
    "Paths": NamedMap("Paths", entries=2, value=_message("PathItem"), extensions=1),
    "PathItem": Message(
        "PathItem",
        {
            "$ref": (1, _string),
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
            "tags": (1, _strings),
            "summary": (2, _string),
            "description": (3, _string),
            "externalDocs": (4, _message("ExternalDocs")),
            "operationId": (5, _string),
            "produces": (6, _strings),
            "consumes": (7, _strings),
            "parameters": (8, _messages("ParametersItem")),
            "responses": (9, _message("Responses")),
            "schemes": (10, _strings),
            "deprecated": (11, _bool),
            "security": (12, _messages("SecurityRequirement")),
        },
        extensions=13,
    ),
    "ParametersItem": _parameters_item,
    "Parameter": _parameter,
    "JsonReference": Message("JsonReference", {"$ref": (1, _string), "description": (2, _string)}),
    "BodyParameter": Message(
        "BodyParameter",
        {
            "description": (1, _string),
            "name": (2, _string),
            "in": (3, _string),
            "required": (4, _bool),
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
        {**_PARAMETER_HEAD, "allowEmptyValue": (5, _bool), **_validations(6)},
        extensions=23,
    ),
    "FormDataParameterSubSchema": Message(
        "FormDataParameterSubSchema",
        {**_PARAMETER_HEAD, "allowEmptyValue": (5, _bool), **_validations(6)},
        extensions=23,
    ),
    "PrimitivesItems": Message("PrimitivesItems", _validations(1), extensions=18),
    "Responses": NamedMap("Responses", entries=1, value=_message("ResponseValue"), extensions=2),
    "ResponseValue": _response_value,
    "Response": Message(
        "Response",
        {
            "description": (1, _string),
            "schema": (2, _message("SchemaItem")),
            "headers": (3, _message("Headers")),
            "examples": (4, _message("Examples")),
        },
        extensions=5,
    ),
    "SchemaItem": _schema_item,
    "Headers": NamedMap("Headers", entries=1, value=_message("Header")),
    "Header": Message("Header", {**_validations(1), "description": (18, _string)}, extensions=19),
    "Examples": NamedMap("Examples", entries=1, value=_any),
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
            "name": (1, _string),
            "namespace": (2, _string),
            "prefix": (3, _string),
            "attribute": (4, _bool),
            "wrapped": (5, _bool),
        },
        extensions=6,
    ),
    "SecurityDefinitions": NamedMap(
        "SecurityDefinitions", entries=1, value=_message("SecurityDefinitionsItem")
    ),
    "SecurityDefinitionsItem": _security_definitions_item,
    "BasicAuthenticationSecurity": Message(
        "BasicAuthenticationSecurity",
        {"type": (1, _string), "description": (2, _string)},
        extensions=3,
    ),
    "ApiKeySecurity": Message(
        "ApiKeySecurity",
        {
            "type": (1, _string),
            "name": (2, _string),
            "in": (3, _string),
            "description": (4, _string),
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

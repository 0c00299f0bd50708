"""The Swagger document in gnostic's protobuf, read back by a reader written here.

The reader knows the wire format and, for the messages kubectl reads
(``Document``, ``Definitions``, ``Schema`` and what a schema holds), the
field numbers of google/gnostic's ``openapiv2/OpenAPIv2.proto``, written
down again independently of the encoder's tables. Its checks mirror what
k8s.io/kube-openapi's ``proto.NewOpenAPIData`` refuses, and kubectl's
lookup of a kind by its ``x-kubernetes-group-version-kind``.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest
import yaml

from imagestreams.api import gnostic, openapi, openapi_schemas, protobuf, protowire
from imagestreams.api.discovery import RESOURCES

VARINT, FIXED64, LENGTH_DELIMITED = 0, 1, 2
Fields = list[tuple[int, int, Any]]


# --- a reader ---------------------------------------------------------------------------


def read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def read(data: bytes) -> Fields:
    """Every field of a message: (number, wire type, int | raw 8 bytes | bytes), in order."""
    fields: Fields = []
    at = 0
    while at < len(data):
        key, at = read_varint(data, at)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == VARINT:
            value, at = read_varint(data, at)
        elif wire == FIXED64:
            value, at = data[at : at + 8], at + 8
        elif wire == LENGTH_DELIMITED:
            size, at = read_varint(data, at)
            value, at = data[at : at + size], at + size
        else:
            raise AssertionError(f"wire type {wire}")
        fields.append((number, wire, value))
    assert at == len(data)
    return fields


def text(value: bytes) -> str:
    return value.decode("utf-8")


def named(data: bytes) -> tuple[str, bytes]:
    """A ``Named<T>``: its name (1) and its value's bytes (2)."""
    name, value = "", b""
    for number, _, item in read(data):
        if number == 1:
            name = text(item)
        elif number == 2:
            value = item
    return name, value


def any_value(data: bytes) -> Any:
    """An ``Any``: the YAML of field 2, loaded."""
    (number, wire, item), *rest = read(data)
    assert (number, wire, rest) == (2, LENGTH_DELIMITED, [])
    return yaml.safe_load(text(item))


# Schema (OpenAPIv2.proto): JSON key and how to read it, by field number.
SCALARS = {1: "$ref", 2: "format", 3: "title", 4: "description", 13: "pattern"}
DOUBLES = {6: "multipleOf", 7: "maximum", 9: "minimum"}
INTEGERS = {11: "maxLength", 12: "minLength", 14: "maxItems", 15: "minItems"}
BOOLEANS = {8: "exclusiveMaximum", 10: "exclusiveMinimum", 16: "uniqueItems", 27: "readOnly"}


def schema(data: bytes) -> dict[str, Any]:
    """A ``Schema`` message back as JSON."""
    result: dict[str, Any] = {}
    for number, wire, value in read(data):
        if number in SCALARS:
            result[SCALARS[number]] = text(value)
        elif number in DOUBLES:
            assert wire == FIXED64
            (result[DOUBLES[number]],) = struct.unpack("<d", value)
        elif number in INTEGERS:
            assert wire == VARINT
            result[INTEGERS[number]] = value
        elif number in BOOLEANS:
            assert wire == VARINT
            result[BOOLEANS[number]] = bool(value)
        elif number == 19:
            result.setdefault("required", []).append(text(value))
        elif number == 20:
            result.setdefault("enum", []).append(any_value(value))
        elif number == 21:
            ((branch, _, item),) = read(value)
            result["additionalProperties"] = schema(item) if branch == 1 else bool(item)
        elif number == 22:
            types = [text(item) for _, _, item in read(value)]
            result["type"] = types[0] if len(types) == 1 else types
        elif number == 23:
            items = [schema(item) for _, _, item in read(value)]
            result["items"] = items[0] if len(items) == 1 else items
        elif number == 25:
            result["properties"] = named_schemas(value)
        elif number == 31:
            name, item = named(value)
            result[name] = any_value(item)
        else:
            raise AssertionError(f"Schema field {number} is not read here")
    return result


def named_schemas(data: bytes) -> dict[str, Any]:
    """``Definitions`` or ``Properties``: repeated ``NamedSchema`` (1)."""
    result = {}
    for number, _, entry in read(data):
        assert number == 1
        name, value = named(entry)
        result[name] = schema(value)
    return result


def document_fields(data: bytes) -> dict[int, list[Any]]:
    result: dict[int, list[Any]] = {}
    for number, _, value in read(data):
        result.setdefault(number, []).append(value)
    return result


def served() -> tuple[dict[str, Any], bytes]:
    """The JSON document ``/openapi/v2`` serves, and its encoding."""
    document = json.loads(openapi.v2().body)
    return document, protobuf.encode(document)


# --- the writer -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(0, b"\x00", id="zero"),
        pytest.param(1, b"\x01", id="one"),
        pytest.param(127, b"\x7f", id="one-byte-max"),
        pytest.param(128, b"\x80\x01", id="two-bytes"),
        pytest.param(300, b"\xac\x02", id="protobuf-docs-300"),
        pytest.param(-1, b"\xff" * 9 + b"\x01", id="negative-is-ten-bytes"),
    ],
)
def test_varints(value: int, expected: bytes) -> None:
    assert protowire.varint(value) == expected


def test_a_small_document_byte_for_byte() -> None:
    encoded = protobuf.encode({"swagger": "2.0", "info": {"title": "t", "version": "v1"}})

    # swagger = 1 ("2.0"), info = 2 { title = 1 ("t"), version = 2 ("v1") }
    assert encoded == b"\x0a\x032.0" + b"\x12\x07" + b"\x0a\x01t" + b"\x12\x02v1"


def test_schema_fields_have_their_numbers_and_wire_types() -> None:
    a = {
        "type": "object",
        "required": ["x"],
        "properties": {
            "x": {"type": "integer", "format": "int64", "maximum": 2.5, "maxLength": 3},
            "e": {"type": "string", "enum": ["a", "b"]},
        },
        "additionalProperties": False,
        "x-kubernetes-group-version-kind": [{"group": "g", "kind": "A", "version": "v1"}],
    }

    (definitions,) = document_fields(protobuf.encode({"definitions": {"A": a}}))[9]

    ((number, wire, entry),) = read(definitions)
    assert (number, wire) == (1, LENGTH_DELIMITED)
    name, value = named(entry)
    assert name == "A"
    assert [(number, wire) for number, wire, _ in read(value)] == [
        (22, LENGTH_DELIMITED),  # type: TypeItem
        (19, LENGTH_DELIMITED),  # required
        (25, LENGTH_DELIMITED),  # properties: Properties
        (21, LENGTH_DELIMITED),  # additionalProperties: AdditionalPropertiesItem
        (31, LENGTH_DELIMITED),  # vendor_extension: NamedAny
    ]
    fields = document_fields(value)
    assert fields[21] == [b"\x10\x00"]  # the boolean branch (2), false, still written
    x = document_fields(named(read(fields[25][0])[0][2])[1])
    assert x[7] == [struct.pack("<d", 2.5)]  # maximum: double
    assert x[11] == [3]  # maxLength: int64
    assert schema(value) == a


@pytest.mark.parametrize(
    "value",
    [
        pytest.param([{"group": "", "kind": "Status", "version": "v1"}], id="gvk-empty-group"),
        pytest.param("post", id="action"),
        pytest.param({"a: b": "yes", "c": ["no", None, True, 1.5]}, id="yaml-lookalikes"),
        pytest.param('quote " and \\ and é and \t', id="escapes"),
    ],
)
def test_any_values_are_yaml_that_loads_to_the_value(value: Any) -> None:
    assert yaml.safe_load(gnostic.yaml_text(value)) == value


@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param({"definitions": {"A": {"anyOf": []}}}, "Schema: no field for 'anyOf'"),
        pytest.param({"swagger": 2}, "field 1: expected"),
        pytest.param({"definitions": {"A": {"maxLength": True}}}, "field 11: expected"),
        pytest.param(
            {"securityDefinitions": {"o": {"type": "oauth2", "flow": "implicit"}}},
            "'oauth2' security is not encoded",
        ),
        pytest.param(
            {"paths": {"/p": {"get": {"parameters": [{"in": "cookie", "name": "c"}]}}}},
            "no parameter in 'cookie'",
        ),
    ],
    ids=["swagger-has-no-anyOf", "string-field", "no-bool-for-int", "oauth2", "cookie"],
)
def test_what_has_no_field_is_an_error_not_dropped(document: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        protobuf.encode(document)


# --- the served document ---------------------------------------------------------------


def test_every_definition_survives_the_round_trip() -> None:
    document, encoded = served()

    fields = document_fields(encoded)

    assert [text(value) for value in fields[1]] == ["2.0"]
    (definitions,) = fields[9]
    assert named_schemas(definitions) == document["definitions"]


def test_every_kind_is_found_by_its_group_version_kind() -> None:
    _, encoded = served()
    definitions = named_schemas(document_fields(encoded)[9][0])

    # kubectl's openapi.NewOpenAPIData: one model per GVK listed on a definition
    models = {
        (gvk["group"], gvk["version"], gvk["kind"]): name
        for name, schema in definitions.items()
        for gvk in schema.get("x-kubernetes-group-version-kind", [])
    }

    for resource in RESOURCES:
        kinds = [resource.kind, *([resource.list_kind] if resource.list_kind else [])]
        for kind in kinds:
            assert models[("image.openshift.io", "v1", kind)] == f"{openapi_schemas.IMAGE}.{kind}"
    assert models[("", "v1", "Status")] == f"{openapi_schemas.META}.Status"


def kube_openapi_refusals(node: dict[str, Any], where: str, names: set[str]) -> list[str]:
    """What k8s.io/kube-openapi's ``Definitions.ParseSchema`` would refuse in ``node``."""
    found = []
    types = node.get("type")
    if "$ref" in node:
        reference = node["$ref"].removeprefix("#/definitions/")
        if reference not in names or "type" in node or node.get("properties"):
            found.append(f"{where}: $ref {node['$ref']} with {sorted(node)}")
        return found
    if isinstance(types, list):
        found.append(f"{where}: several types")
    elif types == "array":
        if not isinstance(node.get("items"), dict):
            found.append(f"{where}: an array has exactly one item schema")
        else:
            found += kube_openapi_refusals(node["items"], f"{where}[]", names)
    elif types not in (None, "object", "string", "number", "integer", "boolean"):
        found.append(f"{where}: unknown type {types!r}")
    for name, field in (node.get("properties") or {}).items():
        found += kube_openapi_refusals(field, f"{where}.{name}", names)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        found += kube_openapi_refusals(extra, f"{where}{{}}", names)
    return found


def test_kube_openapi_parses_every_definition() -> None:
    _, encoded = served()
    definitions = named_schemas(document_fields(encoded)[9][0])

    refusals = [
        refusal
        for name, node in definitions.items()
        for refusal in kube_openapi_refusals(node, name, set(definitions))
    ]

    assert refusals == []


def test_paths_carry_every_operation_with_its_action() -> None:
    document, encoded = served()

    (paths,) = document_fields(encoded)[8]

    # Paths: path = 2 (NamedPathItem); PathItem: get 2, put 3, post 4, delete 5, patch 8
    methods = {2: "get", 3: "put", 4: "post", 5: "delete", 8: "patch"}
    actions = {}
    for number, _, entry in read(paths):
        assert number == 2
        path, item = named(entry)
        for method_number, _, operation in read(item):
            if method_number in methods:
                extensions = [named(value) for n, _, value in read(operation) if n == 13]
                actions[(path, methods[method_number])] = {
                    name: any_value(value) for name, value in extensions
                }["x-kubernetes-action"]
    expected = {
        (path, method): operation["x-kubernetes-action"]
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    }
    assert actions == expected

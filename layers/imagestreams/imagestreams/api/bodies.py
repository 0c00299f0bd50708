"""A request body up to its type meta, as k8s.io/apiserver reads it (pure, no I/O).

Owns what is read before the body is an object of some kind:

- the body's format from ``Content-Type``: ``application/json`` (any
  parameters, such as a charset) or ``application/yaml``; no header means
  JSON, as the API server takes its first media type; anything else is 415
  ``UnsupportedMediaType``;
- the body's bytes (base64 when API Gateway says so) and its size limit (413);
- JSON and YAML loaded as Go sees them: an object keeps its members in
  order, duplicates included, a number with a fraction keeps how it was
  written, and a YAML key given twice is remembered with its line;
- ``kind`` and ``apiVersion`` as apimachinery's ``Interpret`` reads them,
  and the create handler's wording of what cannot be read at all.

It knows no models and no routes: reading a body as the route's kind is
``imagestreams.api.strict``'s job, a request as a whole
``imagestreams.api.decoding``'s.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml

from imagestreams import jsondoc
from imagestreams.api.gowords import go_syntax_error, json_kind
from imagestreams.errors import BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError

JSON = "application/json"
YAML = "application/yaml"
MEDIA_TYPES = (JSON, YAML)
"""The request body formats read, in the API server's order (the first is the default)."""


def body_media_type(content_type: str | None) -> str:
    """The media type of a request body, or 415 with the API server's message."""
    if not content_type:
        return MEDIA_TYPES[0]
    essence = content_type.split(";", 1)[0].strip().lower()
    if essence in MEDIA_TYPES and _parameters_parse(content_type):
        return essence
    raise UnsupportedMediaTypeError(
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(MEDIA_TYPES)
    )


_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAMETER = re.compile(rf'\s*{_TOKEN}\s*=\s*(?:{_TOKEN}|"(?:[^"\\]|\\.)*")\s*')


def _parameters_parse(content_type: str) -> bool:
    # Go's mime.ParseMediaType refuses malformed parameters; so do we.
    _, _, rest = content_type.partition(";")
    return all(_PARAMETER.fullmatch(part) for part in rest.split(";") if part.strip())


def bounded_body(body: str | bytes | None, is_base64: bool, max_bytes: int) -> bytes:
    """:func:`body_bytes`, refused with a 413 beyond ``max_bytes``."""
    raw = body_bytes(body, is_base64)
    if len(raw) > max_bytes:
        raise PayloadTooLargeError(f"the request body exceeds the limit of {max_bytes} bytes")
    return raw


def body_bytes(body: str | bytes | None, is_base64: bool) -> bytes:
    """The bytes of an API Gateway body (base64 when the event says so)."""
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if is_base64:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequestError("the request body is not valid base64") from None
    return body.encode("utf-8", errors="surrogatepass")


class Problems:
    """The create handler's wording of decoding errors (``transformDecodeError``)."""

    def __init__(self, raw: bytes, kind: str, *, prefixed: bool = True) -> None:
        self.raw = raw
        self.kind = kind
        self.prefixed = prefixed
        self.yaml_duplicates: list[str] = []

    def unrecognized(self, problem: str) -> BadRequestError:
        if not self.prefixed:
            return BadRequestError(problem)
        return BadRequestError(
            f"the object provided is unrecognized (must be of type {self.kind}): "
            f"{problem} ({_summary(self.raw)})"
        )

    def cannot_handle(self, actual: Kind, problem: str) -> BadRequestError:
        return BadRequestError(
            f'{actual.kind} in version "{actual.version}" cannot be handled as a '
            f"{self.kind}: {problem}"
        )


def _summary(raw: bytes, limit: int = 30) -> str:
    # apiserver's summarizeData: an object's first bytes as text, anything else in hex.
    if not raw:
        return "<empty>"
    if raw[:1] == b"{":
        text = raw[:limit].decode("utf-8", errors="replace")
        return text + " ..." if len(raw) > limit else text
    return raw[:limit].hex() + (" ..." if len(raw) > limit else "")


_OBJECT = object()
"""Key under which a decoded JSON object keeps its members in order, duplicates included."""


def _object_pairs(pairs: list[tuple[str, Any]]) -> dict[object, Any]:
    return {_OBJECT: [[key, value] for key, value in pairs]}


def object_members(value: dict[Any, Any]) -> list[tuple[str, Any]]:
    """The members of a loaded JSON object in order, a repeated one each time."""
    if _OBJECT in value:
        return [(key, item) for key, item in value[_OBJECT]]
    return list(value.items())


class Float(float):
    """A JSON number with a fraction or exponent, remembering how it was written."""

    literal: str

    def __new__(cls, literal: str) -> Float:
        number = super().__new__(cls, literal)
        number.literal = literal
        return number


def load(raw: bytes, media_type: str, problems: Problems) -> Any:
    """The JSON value of a body, worded by ``problems`` when it cannot be read."""
    if media_type == YAML:
        return _load_yaml(raw, problems)
    # Go reads invalid UTF-8 as U+FFFD rather than refusing it.
    text = raw.decode("utf-8", errors="replace")
    try:
        return jsondoc.loads(text, object_pairs_hook=_object_pairs, parse_float=Float)
    except json.JSONDecodeError as error:
        raise problems.unrecognized(
            f"couldn't get version/kind; json parse error: {go_syntax_error(error)}"
        ) from None
    except ValueError as error:
        raise problems.unrecognized(
            f"couldn't get version/kind; json parse error: {error}"
        ) from None


class _YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the conversions of sigs.k8s.io/yaml's YAMLToJSON.

    Keys become strings, timestamps stay strings (Go's yaml.v2 gives
    ``interface{}`` a string), and a key given twice is remembered with its
    line, as yaml.v2's strict mode reports it.
    """

    duplicates: list[str]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            text = _yaml_key(key)
            if text in mapping:
                shown = json.dumps(key, ensure_ascii=False) if isinstance(key, str) else text
                self.duplicates.append(
                    f"line {key_node.start_mark.line + 1}: key {shown} already set in map"
                )
            mapping[text] = self.construct_object(value_node, deep=True)
        return mapping


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _yaml_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _load_yaml(raw: bytes, problems: Problems) -> Any:
    loader = _YamlLoader(raw.decode("utf-8", errors="replace"))
    loader.duplicates = []
    try:
        # yaml.v2 reads the first document of a stream.
        data = loader.get_data() if loader.check_data() else None  # type: ignore[no-untyped-call]
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f"line {mark.line + 1}: " if mark else ""
        raise problems.unrecognized(
            f"error converting YAML to JSON: yaml: {line}{error.problem or error.context}"
        ) from None
    except yaml.YAMLError as error:
        raise problems.unrecognized(f"error converting YAML to JSON: yaml: {error}") from None
    finally:
        loader.dispose()
    if loader.duplicates:
        problems.yaml_duplicates = loader.duplicates
    return _yaml_values(data)


def _yaml_values(value: Any) -> Any:
    # YAMLToJSON writes a float with no fraction as an integer ("1.0" -> 1).
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, float):
        return Float(repr(value))
    if isinstance(value, datetime | bytes):
        return str(value)
    if isinstance(value, list):
        return [_yaml_values(item) for item in value]
    if isinstance(value, dict):
        return {key: _yaml_values(item) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class Kind:
    """A group, version and kind (Go's ``schema.GroupVersionKind``)."""

    group: str
    version: str
    kind: str

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def not_registered(kind: Kind, scheme: str) -> str:
    """A scheme's error for a kind it does not know, naming the scheme."""
    version = kind.group_version
    return f'no kind "{kind.kind}" is registered for version "{version}" in scheme "{scheme}"'


def type_meta(data: Any, problems: Problems) -> tuple[str, str, str]:
    """Group, version and kind of ``data``, read as apimachinery's ``Interpret`` reads them."""
    if data is None:
        return "", "", ""
    if not isinstance(data, dict):
        raise problems.unrecognized(
            "couldn't get version/kind; json parse error: json: cannot unmarshal "
            f"{json_kind(data)} into Go value of type struct {{ APIVersion string "
            '"json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }'
        )
    found = {"kind": "", "apiVersion": ""}
    for key, value in object_members(data):
        if key in found and value is not None:
            if not isinstance(value, str):
                raise problems.unrecognized(
                    "couldn't get version/kind; json parse error: json: cannot unmarshal "
                    f"{json_kind(value)} into Go struct field .{key} of type string"
                )
            found[key] = value
    api_version = found["apiVersion"]
    if api_version in ("", "/"):
        return "", "", found["kind"]
    if api_version.count("/") > 1:
        raise problems.unrecognized(f"unexpected GroupVersion string: {api_version}")
    group, _, version = api_version.rpartition("/")
    return group, version, found["kind"]

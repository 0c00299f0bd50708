"""Reading requests as the Kubernetes API server reads them (pure, no I/O).

Owns what k8s.io/apiserver's handlers and k8s.io/apimachinery's serializers
decide before a request reaches its use case, with their codes and messages:

- the body's format from ``Content-Type``: ``application/json`` (any
  parameters, such as a charset) or ``application/yaml``; no header means
  JSON, as the API server takes its first media type; anything else is 415
  ``UnsupportedMediaType``;
- ``kind`` and ``apiVersion``, defaulted from the route when absent (the
  create handler decodes with the route's kind as the default), refused
  when they name another kind or version;
- strict types: a JSON value of the wrong type is a 400 naming the field as
  Go's decoder does (``json: cannot unmarshal string into Go struct field
  ImageStreamImportSpec.spec.import of type bool``), never coerced;
- unknown and duplicate fields under ``?fieldValidation=``: ``Ignore``,
  ``Warn`` (the default: one warning each, sent as ``Warning: 299``
  headers) or ``Strict`` (a 400 listing them);
- the write options of the query (``dryRun``, ``fieldValidation``) and the
  ``DeleteOptions`` of a DELETE, validated as the API server validates them.

It does not act on the options (dry runs are the use cases' business) and
does not validate what a document means (``imagestreams.api.validation``,
``imagestreams.api.stream_validation``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import NoneType, UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import pydantic
import yaml

from imagestreams import jsondoc
from imagestreams.api import validation
from imagestreams.errors import (
    API_GROUP,
    BadRequestError,
    FieldCause,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationError,
)
from imagestreams.imports.plan import ValidImport
from imagestreams.models import (
    DeleteOptions,
    Image,
    ImageStream,
    ImageStreamImport,
    ImageStreamTag,
    ObjectMeta,
    OpenShiftModel,
    Status,
    StatusDetails,
)
from imagestreams.registry.rules import RegistryRules

M = TypeVar("M", bound=OpenShiftModel)

JSON = "application/json"
YAML = "application/yaml"
MEDIA_TYPES = (JSON, YAML)
"""The request body formats read, in the API server's order (the first is the default)."""

META_GROUP = "meta.k8s.io"
DRY_RUN_ALL = "All"

# Where Go's scheme names itself in "no kind is registered" errors, its
# source file; ours is this module.
SCHEME = "imagestreams/api/decoding.py"
# The scheme of k8s.io/apimachinery's meta types, which decodes DeleteOptions.
META_SCHEME = "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme/register.go:27"

# Kinds the image.openshift.io/v1 scheme knows besides ImageStreamImport:
# naming one of them is a conversion error, any other kind is unregistered.
_IMAGE_KINDS = frozenset(
    {
        "Image",
        "ImageList",
        "ImageSignature",
        "ImageStream",
        "ImageStreamImage",
        "ImageStreamImport",
        "ImageStreamLayers",
        "ImageStreamList",
        "ImageStreamMapping",
        "ImageStreamTag",
        "ImageStreamTagList",
        "ImageTag",
        "ImageTagList",
        "SecretList",
        "CreateOptions",
        "DeleteOptions",
        "GetOptions",
        "ListOptions",
        "PatchOptions",
        "UpdateOptions",
        "WatchEvent",
    }
)
# Versions a DeleteOptions body may name: meta/v1, the legacy "v1", and
# the resource's own group (clients once sent per-group DeleteOptions).
_DELETE_OPTIONS_VERSIONS = frozenset({("", "v1"), (META_GROUP, "v1"), (API_GROUP, "v1")})

_INT64 = (-(1 << 63), (1 << 63) - 1)
_INT32 = (-(1 << 31), (1 << 31) - 1)


class FieldValidation(StrEnum):
    """The ``fieldValidation`` directive: what unknown and duplicate fields cause."""

    IGNORE = "Ignore"
    WARN = "Warn"
    STRICT = "Strict"


@dataclass(frozen=True)
class WriteOptions:
    """The options of a create or update, from the query (``CreateOptions``)."""

    dry_run: bool = False
    field_validation: FieldValidation = FieldValidation.WARN


@dataclass(frozen=True)
class Deletion:
    """The options of a DELETE: from its body when it has one, else from the query."""

    dry_run: bool = False
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    uid: str | None = None
    resource_version: str | None = None


@dataclass(frozen=True)
class ImportRequest:
    """A decoded, validated ImageStreamImport request and what decoding it warns about."""

    valid: ValidImport
    options: WriteOptions
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Kind:
    group: str
    version: str
    kind: str

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


IMAGE_STREAM_IMPORT = _Kind(API_GROUP, "v1", "ImageStreamImport")
IMAGE_STREAM = _Kind(API_GROUP, "v1", "ImageStream")
IMAGE_STREAM_TAG = _Kind(API_GROUP, "v1", "ImageStreamTag")


@dataclass(frozen=True)
class StreamRequest:
    """A decoded ImageStream of a create, update or patch, and what decoding it warns about.

    Its meaning (validation, defaults) is checked by the use case, which
    knows the stored stream an update or a patch applies to.
    """

    stream: ImageStream
    options: WriteOptions
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class TagRequest:
    """A decoded ImageStreamTag of a create, update or patch, and what decoding it warns about."""

    tag: ImageStreamTag
    options: WriteOptions
    warnings: tuple[str, ...] = ()


# --- the request of the create route -----------------------------------------


def parse_import_request(
    body: str | bytes | None,
    namespace: str,
    *,
    content_type: str | None = None,
    query: Mapping[str, Sequence[str]] | None = None,
    is_base64: bool = False,
    max_bytes: int,
    rules: RegistryRules | None = None,
    max_images: int | None = None,
) -> ImportRequest:
    """Decode and validate a POSTed ImageStreamImport, parsing its references once.

    In the API server's order: the query's options (422), the media type
    (415), the body's size (413), decoding (400), the namespace (400), then
    the rules of ``imagestreams.api.validation`` (422).
    """
    options = write_options(query or {})
    media_type = body_media_type(content_type)
    raw = bounded_body(body, is_base64, max_bytes)
    isi, warnings = decode_object(
        raw, media_type, ImageStreamImport, IMAGE_STREAM_IMPORT, options.field_validation
    )
    _check_namespace(isi.metadata.namespace, namespace)
    references = validation.validate(isi, namespace, rules, max_images)
    return ImportRequest(ValidImport(isi, references), options, warnings)


def parse_stream_request(
    body: str | bytes | None,
    namespace: str,
    *,
    content_type: str | None = None,
    query: Mapping[str, Sequence[str]] | None = None,
    is_base64: bool = False,
    max_bytes: int,
    options_kind: str = "CreateOptions",
) -> StreamRequest:
    """Decode a POSTed or PUT ImageStream, in the API server's order (see above)."""
    options = write_options(query or {}, options_kind)
    media_type = body_media_type(content_type)
    raw = bounded_body(body, is_base64, max_bytes)
    return decode_stream(raw, media_type, namespace, options)


def decode_stream(
    raw: bytes, media_type: str, namespace: str, options: WriteOptions
) -> StreamRequest:
    """The ImageStream in ``raw`` (a body, or a patched document as JSON)."""
    stream, warnings = decode_object(
        raw, media_type, ImageStream, IMAGE_STREAM, options.field_validation
    )
    _check_namespace(stream.metadata.namespace, namespace)
    return StreamRequest(stream, options, warnings)


def parse_tag_request(
    body: str | bytes | None,
    namespace: str,
    *,
    content_type: str | None = None,
    query: Mapping[str, Sequence[str]] | None = None,
    is_base64: bool = False,
    max_bytes: int,
    options_kind: str = "CreateOptions",
) -> TagRequest:
    """Decode a POSTed or PUT ImageStreamTag, in the API server's order (see above)."""
    options = write_options(query or {}, options_kind)
    media_type = body_media_type(content_type)
    raw = bounded_body(body, is_base64, max_bytes)
    return decode_tag(raw, media_type, namespace, options)


def decode_tag(raw: bytes, media_type: str, namespace: str, options: WriteOptions) -> TagRequest:
    """The ImageStreamTag in ``raw`` (a body, or a patched document as JSON)."""
    tag, warnings = decode_object(
        raw, media_type, ImageStreamTag, IMAGE_STREAM_TAG, options.field_validation
    )
    _check_namespace(tag.metadata.namespace, namespace)
    return TagRequest(tag, options, warnings)


def _check_namespace(given: str, namespace: str) -> None:
    """An object naming another namespace than its path is the API server's 400."""
    if given and given != namespace:
        raise BadRequestError(
            "the namespace of the provided object does not match the namespace sent on the request"
        )


# --- the query -----------------------------------------------------------------


def write_options(query: Mapping[str, Sequence[str]], kind: str = "CreateOptions") -> WriteOptions:
    """``dryRun`` and ``fieldValidation`` of a create (or update, with ``kind``).

    A value the API server does not know is its 422 ``Invalid`` on
    ``<kind>.meta.k8s.io``; ``dryRun=All`` is the only dry run.
    """
    dry_run = list(query.get("dryRun") or [])
    directive = _first(query, "fieldValidation")
    causes = _dry_run_causes(dry_run)
    if directive not in ("", *FieldValidation):
        supported = ", ".join(f'"{v}"' for v in sorted(["", *FieldValidation]))
        causes.append(
            FieldCause(
                "fieldValidation",
                "FieldValueNotSupported",
                f"Unsupported value: {_go_quote(directive)}: supported values: {supported}",
            )
        )
    if causes:
        raise ValidationError(f"{kind}.{META_GROUP}", kind, "", causes)
    return WriteOptions(bool(dry_run), FieldValidation(directive or FieldValidation.WARN))


def delete_options(
    body: str | bytes | None,
    content_type: str | None,
    query: Mapping[str, Sequence[str]],
    *,
    is_base64: bool = False,
) -> Deletion:
    """The options of a DELETE, as the API server reads them.

    A non-empty body is a ``DeleteOptions`` document (JSON or YAML, decoded
    leniently: unknown fields are ignored) and the query is then not read;
    without a body, ``dryRun``, ``gracePeriodSeconds`` and
    ``propagationPolicy`` come from the query. Invalid options are a 422 on
    ``DeleteOptions.meta.k8s.io``.
    """
    raw = body_bytes(body, is_base64)
    if raw:
        media_type = body_media_type(content_type)
        data = _load(raw, media_type, _AS_THEY_ARE)
        _check_delete_kind(data)
        try:
            options = _Decoder(FieldValidation.IGNORE).document(DeleteOptions, data)
        except _GoTypeError as error:
            raise BadRequestError(str(error)) from None
    else:
        options = DeleteOptions(
            dry_run=list(query.get("dryRun") or []) or None,
            grace_period_seconds=_query_int(query, "gracePeriodSeconds"),
            propagation_policy=_first(query, "propagationPolicy") or None,
        )
    causes = []
    if options.orphan_dependents is not None and options.propagation_policy is not None:
        causes.append(
            FieldCause.invalid(
                "propagationPolicy",
                options.propagation_policy,
                "orphanDependents and deletionPropagation cannot be both set",
            )
        )
    policies = ["Foreground", "Background", "Orphan"]
    if options.propagation_policy is not None and options.propagation_policy not in policies:
        causes.append(
            FieldCause.not_supported(
                "propagationPolicy", options.propagation_policy, [*policies, "nil"]
            )
        )
    causes.extend(_dry_run_causes(options.dry_run or []))
    if causes:
        raise ValidationError(f"DeleteOptions.{META_GROUP}", "DeleteOptions", "", causes)
    preconditions = options.preconditions
    return Deletion(
        dry_run=bool(options.dry_run),
        grace_period_seconds=options.grace_period_seconds,
        propagation_policy=options.propagation_policy,
        uid=preconditions.uid if preconditions else None,
        resource_version=preconditions.resource_version if preconditions else None,
    )


def _first(query: Mapping[str, Sequence[str]], name: str) -> str:
    # Go's query conversion gives a string field the first value.
    values = query.get(name) or []
    return values[0] if values else ""


def _query_int(query: Mapping[str, Sequence[str]], name: str) -> int | None:
    value = _first(query, name)
    if not value:
        return None
    if not re.fullmatch(r"[+-]?[0-9]+", value):
        raise BadRequestError(f"strconv.ParseInt: parsing {_go_quote(value)}: invalid syntax")
    number = int(value)
    if not _INT64[0] <= number <= _INT64[1]:
        raise BadRequestError(f"strconv.ParseInt: parsing {_go_quote(value)}: value out of range")
    return number


def _dry_run_causes(values: list[str]) -> list[FieldCause]:
    if all(value == DRY_RUN_ALL for value in values):
        return []
    listed = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return [
        FieldCause(
            "dryRun",
            "FieldValueNotSupported",
            f'Unsupported value: {listed}: supported values: "{DRY_RUN_ALL}"',
        )
    ]


def _check_delete_kind(data: Any) -> None:
    group, version, kind = _type_meta(data, _AS_THEY_ARE)
    if not kind:
        kind = "DeleteOptions"
    if not version and not group:
        group, version = META_GROUP, "v1"
    if kind != "DeleteOptions" or (group, version) not in _DELETE_OPTIONS_VERSIONS:
        raise BadRequestError(_not_registered(_Kind(group, version, kind), META_SCHEME))


# --- the body ------------------------------------------------------------------


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


def decode_object(
    raw: bytes,
    media_type: str,
    model: type[M],
    expected: _Kind,
    field_validation: FieldValidation = FieldValidation.WARN,
) -> tuple[M, tuple[str, ...]]:
    """The ``model`` document in ``raw`` and the warnings decoding it gave.

    Errors are the create handler's 400s: what cannot be read at all is
    "the object provided is unrecognized", what cannot be read as ``model``
    is "<kind> in version "<v>" cannot be handled as a <Kind>: ...".
    """
    problems = _Problems(raw, expected.kind)
    data = _load(raw, media_type, problems)
    group, version, kind = _type_meta(data, problems)
    # The route's kind fills what the body leaves out (apimachinery's gvkWithDefaults).
    if not kind:
        kind = expected.kind
    if not version and (not group or group == expected.group):
        group, version = expected.group, expected.version
    actual = _Kind(group, version, kind)
    legacy = (group, version) == ("", "v1")
    if (group, version) != (expected.group, expected.version) and not legacy:
        raise problems.cannot_handle(actual, _not_registered(actual, SCHEME))
    if kind not in _IMAGE_KINDS:
        raise problems.cannot_handle(actual, _not_registered(actual, SCHEME))
    if kind != expected.kind:
        raise problems.cannot_handle(
            actual,
            f"converting (v1.{kind}) to (image.{expected.kind}): unknown conversion",
        )
    decoder = _Decoder(field_validation, problems.yaml_duplicates)
    try:
        document = decoder.document(model, data)
    except _GoTypeError as error:
        raise problems.cannot_handle(actual, str(error)) from None
    if decoder.strict_errors and field_validation is FieldValidation.STRICT:
        raise problems.cannot_handle(
            actual, "strict decoding error: " + ", ".join(decoder.strict_errors)
        )
    if legacy:
        raise BadRequestError(
            f"the API version in the data ({actual.group_version}) does not match the "
            f"expected API version ({expected.group_version})"
        )
    warnings: tuple[str, ...] = ()
    if field_validation is FieldValidation.WARN:
        warnings = tuple(decoder.warnings())
    return document, warnings


def _not_registered(kind: _Kind, scheme: str) -> str:
    version = kind.group_version
    return f'no kind "{kind.kind}" is registered for version "{version}" in scheme "{scheme}"'


class _Problems:
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

    def cannot_handle(self, actual: _Kind, problem: str) -> BadRequestError:
        return BadRequestError(
            f'{actual.kind} in version "{actual.version}" cannot be handled as a '
            f"{self.kind}: {problem}"
        )


# The DELETE handler passes decoding errors on as they are.
_AS_THEY_ARE = _Problems(b"", "DeleteOptions", prefixed=False)


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


def _members(value: dict[Any, Any]) -> list[tuple[str, Any]]:
    if _OBJECT in value:
        return [(key, item) for key, item in value[_OBJECT]]
    return list(value.items())


class _Float(float):
    """A JSON number with a fraction or exponent, remembering how it was written."""

    literal: str

    def __new__(cls, literal: str) -> _Float:
        number = super().__new__(cls, literal)
        number.literal = literal
        return number


def _load(raw: bytes, media_type: str, problems: _Problems) -> Any:
    if media_type == YAML:
        return _load_yaml(raw, problems)
    # Go reads invalid UTF-8 as U+FFFD rather than refusing it.
    text = raw.decode("utf-8", errors="replace")
    try:
        return jsondoc.loads(text, object_pairs_hook=_object_pairs, parse_float=_Float)
    except json.JSONDecodeError as error:
        raise problems.unrecognized(
            f"couldn't get version/kind; json parse error: {_go_syntax_error(error)}"
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


def _load_yaml(raw: bytes, problems: _Problems) -> Any:
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
        return _Float(repr(value))
    if isinstance(value, datetime | bytes):
        return str(value)
    if isinstance(value, list):
        return [_yaml_values(item) for item in value]
    if isinstance(value, dict):
        return {key: _yaml_values(item) for key, item in value.items()}
    return value


def _type_meta(data: Any, problems: _Problems) -> tuple[str, str, str]:
    """Group, version and kind of ``data``, read as apimachinery's ``Interpret`` reads them."""
    if data is None:
        return "", "", ""
    if not isinstance(data, dict):
        raise problems.unrecognized(
            "couldn't get version/kind; json parse error: json: cannot unmarshal "
            f"{_json_kind(data)} into Go value of type struct {{ APIVersion string "
            '"json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }'
        )
    found = {"kind": "", "apiVersion": ""}
    for key, value in _members(data):
        if key in found and value is not None:
            if not isinstance(value, str):
                raise problems.unrecognized(
                    "couldn't get version/kind; json parse error: json: cannot unmarshal "
                    f"{_json_kind(value)} into Go struct field .{key} of type string"
                )
            found[key] = value
    api_version = found["apiVersion"]
    if api_version in ("", "/"):
        return "", "", found["kind"]
    if api_version.count("/") > 1:
        raise problems.unrecognized(f"unexpected GroupVersion string: {api_version}")
    group, _, version = api_version.rpartition("/")
    return group, version, found["kind"]


# --- strict types ----------------------------------------------------------------


class _GoTypeError(Exception):
    """The first value of the wrong type, worded as Go's ``json.UnmarshalTypeError``."""


@dataclass(frozen=True)
class _Where:
    struct: str = ""
    fields: tuple[str, ...] = ()
    path: str = ""

    def field(self, struct: str, name: str) -> _Where:
        return _Where(struct, (*self.fields, name), _join(self.path, name))

    def key(self, name: str) -> _Where:
        return _Where(self.struct, self.fields, _join(self.path, name))

    def index(self, i: int) -> _Where:
        return _Where(self.struct, self.fields, f"{self.path}[{i}]")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# Go types whose name the Python annotation does not carry.
_GO_TYPES: dict[tuple[type[OpenShiftModel], str], str] = {
    (ObjectMeta, "owner_references"): "[]v1.OwnerReference",
    (ObjectMeta, "managed_fields"): "[]v1.ManagedFieldsEntry",
    (Status, "code"): "int32",
    (StatusDetails, "retry_after_seconds"): "int32",
}
# Fields Go keeps as raw JSON (``runtime.RawExtension``): any value, nothing checked.
_RAW: frozenset[tuple[type[OpenShiftModel], str]] = frozenset({(Image, "docker_image_metadata")})


class _Decoder:
    """Walks decoded JSON against a model: Go's types, unknown and duplicate fields."""

    def __init__(
        self, field_validation: FieldValidation, yaml_duplicates: Sequence[str] = ()
    ) -> None:
        self.check_fields = field_validation is not FieldValidation.IGNORE
        self.strict_errors: list[str] = []
        if self.check_fields and yaml_duplicates:
            self.strict_errors.append(
                "error converting YAML to JSON: yaml: unmarshal errors:\n  "
                + "\n  ".join(yaml_duplicates)
            )
        self._yaml_lines = list(yaml_duplicates) if self.check_fields else []
        self._seen: set[str] = set()

    def warnings(self) -> list[str]:
        """One warning per problem (a YAML error's lines apart, as the API server splits them)."""
        out = list(self._yaml_lines)
        out.extend(self.strict_errors[1:] if self._yaml_lines else self.strict_errors)
        return out

    def document(self, model: type[M], data: Any) -> M:
        cleaned = self.value(data, model, _Where(), "")
        try:
            return model.model_validate(cleaned or {})
        except pydantic.ValidationError as error:
            name = ""
            if isinstance(cleaned, dict) and isinstance(cleaned.get("metadata"), dict):
                name = str(cleaned["metadata"].get("name") or "")
            raise ValidationError(
                f"{model.__name__}.{API_GROUP}", model.__name__, name, _pydantic_causes(error)
            ) from None

    def _strict(self, problem: str, path: str) -> None:
        if not self.check_fields or len(self.strict_errors) >= 100:
            return
        text = f"{problem} {_go_quote(path)}"
        if text not in self._seen:
            self._seen.add(text)
            self.strict_errors.append(text)

    def value(self, data: Any, annotation: Any, where: _Where, go_type: str) -> Any:
        if data is None:
            return None
        tp = _unwrap(annotation)
        origin = get_origin(tp)
        if tp is Any or (origin is None and not isinstance(tp, type)):
            return _plain(data)
        if origin is list:
            (item,) = get_args(tp)
            go = go_type or f"[]{_go_name(item)}"
            if not isinstance(data, list):
                raise _type_error(data, go, where)
            return [self.value(x, item, where.index(i), go[2:]) for i, x in enumerate(data)]
        if origin is dict:
            _, item = get_args(tp)
            go = go_type or f"map[string]{_go_name(item)}"
            if not isinstance(data, dict):
                raise _type_error(data, go, where)
            out: dict[str, Any] = {}
            for key, member in _members(data):
                if key in out:
                    self._strict("duplicate field", _join(where.path, key))
                out[key] = _merge(out.get(key), self.value(member, item, where.key(key), ""))
            return out
        if isinstance(tp, type) and issubclass(tp, OpenShiftModel):
            return self._struct(data, tp, where, go_type)
        return self._scalar(data, tp, where, go_type)

    def _struct(
        self, data: Any, model: type[OpenShiftModel], where: _Where, go_type: str
    ) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise _type_error(data, go_type or _go_name(model), where)
        fields = _fields(model)
        out: dict[str, Any] = {}
        for key, member in _members(data):
            field = fields.get(key)
            if field is None:
                self._strict("unknown field", _join(where.path, key))
                continue
            name, annotation = field
            if key in out:
                self._strict("duplicate field", _join(where.path, key))
            inner = where.field(model.__name__, key)
            if (model, name) in _RAW:
                value = _plain(member)
            else:
                value = self.value(member, annotation, inner, _GO_TYPES.get((model, name), ""))
            out[key] = _merge(out.get(key), value)
        return out

    def _scalar(self, data: Any, tp: type, where: _Where, go_type: str) -> Any:
        if tp is bool:
            ok = isinstance(data, bool)
        elif tp is str or tp is datetime or tp is bytes:
            ok = isinstance(data, str)
        elif tp is int:
            if isinstance(data, _Float) or (isinstance(data, int) and not isinstance(data, bool)):
                low, high = _INT32 if go_type == "int32" else _INT64
                if isinstance(data, _Float) or not low <= data <= high:
                    literal = data.literal if isinstance(data, _Float) else str(data)
                    raise _type_error(data, go_type or "int64", where, f"number {literal}")
                return data
            ok = False
        elif tp is float:
            if isinstance(data, int | float) and not isinstance(data, bool):
                return float(data)
            ok = False
        else:
            return _plain(data)
        if not ok:
            raise _type_error(data, go_type or _go_name(tp), where)
        return data


def _fields(model: type[OpenShiftModel]) -> dict[str, tuple[str, Any]]:
    """Each JSON name of ``model`` (its alias, never its Python name) -> (name, annotation)."""
    fields: dict[str, tuple[str, Any]] = {}
    for name, info in model.model_fields.items():
        alias = info.validation_alias if isinstance(info.validation_alias, str) else None
        fields[alias or info.alias or name] = (name, info.annotation)
    return fields


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin is Union or origin is UnionType:
            members = [a for a in get_args(annotation) if a is not NoneType]
            if len(members) != 1:
                return Any
            annotation = members[0]
        else:
            return annotation


def _go_name(annotation: Any) -> str:
    tp = _unwrap(annotation)
    origin = get_origin(tp)
    if origin is list:
        return f"[]{_go_name(get_args(tp)[0])}"
    if origin is dict:
        return f"map[string]{_go_name(get_args(tp)[1])}"
    names = {bool: "bool", str: "string", int: "int64", float: "float64", datetime: "string"}
    if tp in names:
        return names[tp]
    if tp is bytes:
        return "[]uint8"
    if isinstance(tp, type) and issubclass(tp, OpenShiftModel):
        return f"v1.{tp.__name__}"
    return "interface {}"


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_error(value: Any, go_type: str, where: _Where, shown: str = "") -> _GoTypeError:
    what = shown or _json_kind(value)
    if where.struct or where.fields:
        return _GoTypeError(
            f"json: cannot unmarshal {what} into Go struct field "
            f"{where.struct}.{'.'.join(where.fields)} of type {go_type}"
        )
    return _GoTypeError(f"json: cannot unmarshal {what} into Go value of type {go_type}")


def _plain(value: Any) -> Any:
    """``value`` with objects as plain dicts (a repeated member: the last one)."""
    if isinstance(value, _Float):
        return float(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in _members(value)}
    return value


def _merge(old: Any, new: Any) -> Any:
    # Go decodes a repeated object member into the value already there.
    if isinstance(old, dict) and isinstance(new, dict):
        merged = dict(old)
        for key, value in new.items():
            merged[key] = _merge(merged.get(key), value)
        return merged
    return new


def _pydantic_causes(error: pydantic.ValidationError) -> list[FieldCause]:
    causes = []
    for problem in error.errors(include_url=False, include_input=False):
        path = ""
        for part in problem["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        if problem["type"] == "missing":
            causes.append(FieldCause.required(path))
        else:
            causes.append(FieldCause(path, "FieldValueInvalid", f"Invalid value: {problem['msg']}"))
    return causes


# --- Go's words ------------------------------------------------------------------


def _go_quote(text: str) -> str:
    """``text`` as Go's ``%q`` writes it (for the printable text requests carry)."""
    return json.dumps(text, ensure_ascii=False)


def _go_char(char: str) -> str:
    # encoding/json's quoteChar of the byte at the error (a UTF-8 lead byte reads as Latin-1).
    byte = char.encode("utf-8")[0]
    if byte == ord("'"):
        return "'\\''"
    if byte == ord('"'):
        return "'\"'"
    special = {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}
    if byte in special:
        return f"'{special[byte]}'"
    if byte < 0x20 or byte == 0x7F:
        return f"'\\x{byte:02x}'"
    return f"'{chr(byte)}'"


def _go_syntax_error(error: json.JSONDecodeError) -> str:
    """Python's JSON syntax error in the words of Go's scanner."""
    text, pos = error.doc, error.pos
    if pos >= len(text) or error.msg.startswith("Unterminated string"):
        return "unexpected end of JSON input"
    char = _go_char(text[pos])
    context = {
        "Expecting value": "looking for beginning of value",
        "Expecting property name enclosed in double quotes": (
            "looking for beginning of object key string"
        ),
        "Expecting ':' delimiter": "after object key",
        "Extra data": "after top-level value",
        "Invalid control character at": "in string literal",
        "Invalid \\escape": "in string escape code",
        "Invalid \\uXXXX escape": "in \\u hexadecimal character escape",
    }
    if error.msg == "Expecting ',' delimiter":
        inside = _innermost(text, pos)
        where = "after object key:value pair" if inside == "{" else "after array element"
        return f"invalid character {char} {where}"
    for prefix, where in context.items():
        if error.msg.startswith(prefix):
            return f"invalid character {char} {where}"
    return error.msg


def _innermost(text: str, pos: int) -> str:
    stack: list[str] = []
    for token in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text[:pos], re.DOTALL):
        mark = token.group()
        if mark in "[{":
            stack.append(mark)
        elif mark in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else ""

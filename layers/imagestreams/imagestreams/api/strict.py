"""A loaded body read as one object of the route's kind, as strictly as Go reads it (pure).

Owns what k8s.io/apimachinery's serializers decide once a body is loaded:

- ``kind`` and ``apiVersion``, defaulted from the route when absent (the
  create handler decodes with the route's kind as the default), refused
  when they name another kind or version;
- strict types: a JSON value of the wrong type is a 400 naming the field as
  Go's decoder does (``json: cannot unmarshal string into Go struct field
  ImageStreamImportSpec.spec.import of type bool``), never coerced;
- unknown and duplicate fields under ``?fieldValidation=``: ``Ignore``,
  ``Warn`` (the default: one warning each, sent as ``Warning: 299``
  headers) or ``Strict`` (a 400 listing them).

Loading the bytes is ``imagestreams.api.bodies``' job; what a document
means is ``imagestreams.api.validation``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import NoneType, UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import pydantic

from imagestreams.api.bodies import (
    Float,
    Kind,
    Problems,
    load,
    not_registered,
    object_members,
    type_meta,
)
from imagestreams.api.gowords import go_quote, json_kind
from imagestreams.errors import API_GROUP, BadRequestError, FieldCause, ValidationError
from imagestreams.models import Image, ObjectMeta, OpenShiftModel, Status, StatusDetails

M = TypeVar("M", bound=OpenShiftModel)

# Where Go's scheme names itself in "no kind is registered" errors, its
# source file; ours names the module through which every request is read.
SCHEME = "imagestreams/api/decoding.py"

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

# The ranges of Go's int64 and int32.
INT64 = (-(1 << 63), (1 << 63) - 1)
_INT32 = (-(1 << 31), (1 << 31) - 1)


class FieldValidation(StrEnum):
    """The ``fieldValidation`` directive: what unknown and duplicate fields cause."""

    IGNORE = "Ignore"
    WARN = "Warn"
    STRICT = "Strict"


# --- the object of a route ---------------------------------------------------


def decode_object(
    raw: bytes,
    media_type: str,
    model: type[M],
    expected: Kind,
    field_validation: FieldValidation = FieldValidation.WARN,
) -> tuple[M, tuple[str, ...]]:
    """The ``model`` document in ``raw`` and the warnings decoding it gave.

    Errors are the create handler's 400s: what cannot be read at all is
    "the object provided is unrecognized", what cannot be read as ``model``
    is "<kind> in version "<v>" cannot be handled as a <Kind>: ...".
    """
    problems = Problems(raw, expected.kind)
    data = load(raw, media_type, problems)
    group, version, kind = type_meta(data, problems)
    # The route's kind fills what the body leaves out (apimachinery's gvkWithDefaults).
    if not kind:
        kind = expected.kind
    if not version and (not group or group == expected.group):
        group, version = expected.group, expected.version
    actual = Kind(group, version, kind)
    legacy = (group, version) == ("", "v1")
    if (group, version) != (expected.group, expected.version) and not legacy:
        raise problems.cannot_handle(actual, not_registered(actual, SCHEME))
    if kind not in _IMAGE_KINDS:
        raise problems.cannot_handle(actual, not_registered(actual, SCHEME))
    if kind != expected.kind:
        raise problems.cannot_handle(
            actual,
            f"converting (v1.{kind}) to (image.{expected.kind}): unknown conversion",
        )
    decoder = Decoder(field_validation, problems.yaml_duplicates)
    try:
        document = decoder.document(model, data)
    except GoTypeError as error:
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


# --- strict types ----------------------------------------------------------------


class GoTypeError(Exception):
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


class Decoder:
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
        text = f"{problem} {go_quote(path)}"
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
            for key, member in object_members(data):
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
        for key, member in object_members(data):
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
            if isinstance(data, Float) or (isinstance(data, int) and not isinstance(data, bool)):
                low, high = _INT32 if go_type == "int32" else INT64
                if isinstance(data, Float) or not low <= data <= high:
                    literal = data.literal if isinstance(data, Float) else str(data)
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


def _type_error(value: Any, go_type: str, where: _Where, shown: str = "") -> GoTypeError:
    what = shown or json_kind(value)
    if where.struct or where.fields:
        return GoTypeError(
            f"json: cannot unmarshal {what} into Go struct field "
            f"{where.struct}.{'.'.join(where.fields)} of type {go_type}"
        )
    return GoTypeError(f"json: cannot unmarshal {what} into Go value of type {go_type}")


def _plain(value: Any) -> Any:
    """``value`` with objects as plain dicts (a repeated member: the last one)."""
    if isinstance(value, Float):
        return float(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in object_members(value)}
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

"""The common base of every API model and the JSON conventions it follows.

This module owns how the models read and write Kubernetes-style JSON:

- camelCase aliases (``populate_by_name`` so Python code may use field
  names; a name the generator cannot derive, such as ``from`` for
  ``from_``, is given as ``validation_alias`` plus ``serialization_alias``
  so that type checkers keep the Python name in ``__init__``), unknown
  request fields ignored, and ``null`` for a non-pointer Go
  field read as "unset" (Go's decoder leaves the zero value in place);
- Go's ``omitempty``: a field annotated :data:`OMIT_EMPTY` is left out when
  it is ``None``, ``""``, ``0``, ``False`` or an empty list/map; one
  annotated :data:`OMIT_NIL` (a Go pointer to a struct) only when it is
  ``None``. Unannotated fields are always written, as Go writes struct
  values and fields without ``omitempty``; an empty list annotated
  :data:`NIL_SLICE` is written as ``null``, as Go writes a slice it never
  filled;
- times (:data:`Time`) as RFC 3339 UTC strings at second precision, with
  Go's zero time written as ``null``; byte strings (:data:`Base64Bytes`) as
  standard base64.

It knows nothing about images or registries.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel


class _Omit:
    """Marker placed in ``Annotated`` metadata to mirror Go's ``omitempty``."""

    def __init__(self, nil_only: bool) -> None:
        self.nil_only = nil_only

    def __repr__(self) -> str:
        return "OMIT_NIL" if self.nil_only else "OMIT_EMPTY"


#: Go ``omitempty`` on a scalar, slice or map: omitted when zero or empty.
OMIT_EMPTY = _Omit(nil_only=False)
#: Go ``omitempty`` on a pointer to a struct: omitted only when nil.
OMIT_NIL = _Omit(nil_only=True)


class _NilSlice:
    """Marker placed in ``Annotated`` metadata: an empty list is Go's nil slice."""

    def __repr__(self) -> str:
        return "NIL_SLICE"


#: A Go slice without ``omitempty`` that is nil whenever empty: ``null`` when empty.
NIL_SLICE = _NilSlice()


_JSON_TYPES = frozenset({str, int, float, bool, list, dict})


def _is_empty(value: Any) -> bool:
    if value is None or value is False:
        return True
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == 0
    if isinstance(value, str | bytes | list | tuple | dict):
        return len(value) == 0
    return False


# --- times -------------------------------------------------------------------

_RFC3339 = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<time>\d{2}:\d{2}:\d{2})(?:\.\d+)?"
    r"(?P<zone>[Zz]|[+-]\d{2}:\d{2})$"
)
_GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


def parse_time(value: Any) -> datetime | None:
    """Read a Kubernetes time: RFC 3339 text or a ``datetime``.

    Fractions of a second are dropped (``metav1.Time`` keeps seconds on the
    wire); naive datetimes are taken as UTC; ``""``, ``None`` and Go's zero
    time (``0001-01-01T00:00:00Z``) mean "unset" and give ``None``.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, str):
        match = _RFC3339.match(value)
        if not match:
            raise ValueError(f"invalid RFC 3339 time {value!r}")
        zone = match["zone"]
        try:
            moment = datetime.fromisoformat(f"{match['date']}T{match['time']}")
        except ValueError as exc:
            raise ValueError(f"invalid RFC 3339 time {value!r}") from exc
        if zone in ("Z", "z"):
            offset = UTC
        else:
            sign = 1 if zone[0] == "+" else -1
            hours, minutes = int(zone[1:3]), int(zone[4:6])
            offset = timezone(sign * timedelta(hours=hours, minutes=minutes))
        moment = moment.replace(tzinfo=offset)
    else:
        raise ValueError(f"expected an RFC 3339 time, got {type(value).__name__}")
    try:
        moment = moment.astimezone(UTC).replace(microsecond=0)
    except OverflowError as exc:
        raise ValueError(f"time out of range: {value!r}") from exc
    if moment == _GO_ZERO_TIME:
        return None
    return moment


def format_time(value: datetime | None) -> str | None:
    """Write a time the way ``metav1.Time`` does: ``2026-01-02T03:04:05Z``."""
    if value is None:
        return None
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _require_time(value: Any) -> datetime:
    moment = parse_time(value)
    if moment is None:
        raise ValueError("a time is required")
    return moment


#: A required ``metav1.Time``.
Time = Annotated[
    datetime,
    BeforeValidator(_require_time),
    PlainSerializer(format_time, return_type=str, when_used="json"),
]
#: A ``metav1.Time`` that may be unset (written as ``null`` unless also omitempty).
OptionalTime = Annotated[
    datetime | None,
    BeforeValidator(parse_time),
    PlainSerializer(format_time, return_type=str | None, when_used="json"),
]


# --- bytes -------------------------------------------------------------------


def _decode_base64(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("invalid base64") from exc
    return value


def _encode_base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


#: A Go ``[]byte``: standard base64 text in JSON, ``bytes`` in Python.
Base64Bytes = Annotated[
    bytes,
    BeforeValidator(_decode_base64),
    PlainSerializer(_encode_base64, return_type=str, when_used="json"),
]


# --- the base model ----------------------------------------------------------


class OpenShiftModel(BaseModel):
    """Base of every Kubernetes/OpenShift JSON model.

    ``to_json_dict()`` gives the wire form: aliases, omitempty applied,
    times and bytes as strings.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
    )

    # key -> omit only when nil; one map for aliases, one for field names.
    __omit_by_alias__: ClassVar[dict[str, bool]] = {}
    __omit_by_name__: ClassVar[dict[str, bool]] = {}
    # keys written as null when empty, by alias and by field name.
    __nil_by_alias__: ClassVar[frozenset[str]] = frozenset()
    __nil_by_name__: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        by_alias: dict[str, bool] = {}
        by_name: dict[str, bool] = {}
        nil_alias: set[str] = set()
        nil_name: set[str] = set()
        for name, info in cls.model_fields.items():
            alias = info.serialization_alias or info.alias or name
            for marker in info.metadata:
                if isinstance(marker, _Omit):
                    by_name[name] = marker.nil_only
                    by_alias[alias] = marker.nil_only
                elif isinstance(marker, _NilSlice):
                    nil_name.add(name)
                    nil_alias.add(alias)
        cls.__omit_by_alias__ = by_alias
        cls.__omit_by_name__ = by_name
        cls.__nil_by_alias__ = frozenset(nil_alias)
        cls.__nil_by_name__ = frozenset(nil_name)

    @model_validator(mode="before")
    @classmethod
    def _null_means_unset(cls, data: Any) -> Any:
        # Go's decoder leaves a field at its zero value when the JSON says null.
        if isinstance(data, dict) and None in data.values():
            return {key: value for key, value in data.items() if value is not None}
        return data

    @model_serializer(mode="wrap")
    def _omit_empty(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        data = handler(self)
        if not isinstance(data, dict):
            return data
        omit = self.__omit_by_alias__ if info.by_alias else self.__omit_by_name__
        for key, nil_only in omit.items():
            # An absent key reads as True: neither None nor empty. What
            # _is_empty calls empty is falsy, and a falsy value of a JSON type
            # is empty: only falsy values of other types need the call.
            value = data.get(key, True)
            if value is None or (
                not nil_only and not value and (type(value) in _JSON_TYPES or _is_empty(value))
            ):
                del data[key]
        for key in self.__nil_by_alias__ if info.by_alias else self.__nil_by_name__:
            if data.get(key) == []:
                data[key] = None
        return data

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON object as the OpenShift API server would write it."""
        result: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return result

    def to_json(self) -> str:
        """:meth:`to_json_dict` as compact JSON text."""
        return self.model_dump_json(by_alias=True)

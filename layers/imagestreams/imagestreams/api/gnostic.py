"""gnostic's conventions for a protobuf message read from a JSON object.

google/gnostic parses an OpenAPI document's JSON into messages the same way
throughout: a :class:`Message` takes each key as the field its layout names
and an ``x-`` key as a ``NamedAny`` vendor extension; a :class:`NamedMap` is
a JSON object as ``repeated Named<T>`` (``name`` = 1, ``value`` = 2), in the
object's order; an ``Any`` carries the value as YAML in its ``yaml`` field
(JSON with spaces after ``:`` and ``,`` is YAML).

A key with no field is a ``ValueError``, as it is a parse error in gnostic:
nothing the JSON says is dropped silently.

Pure: builds on ``imagestreams.api.protowire``; the OpenAPI v2 layouts that
use these are ``imagestreams.api.protobuf``'s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from imagestreams.api.protowire import Field, delimited, expect, string


def yaml_text(value: Any) -> str:
    """``value`` as YAML: JSON with the spaces YAML's flow style needs after ``:`` and ``,``."""
    return json.dumps(value, separators=(", ", ": "))


def any_value(number: int, value: Any) -> bytes:
    """An ``Any``: the value as YAML in field 2 (``value``, a protobuf Any, stays empty)."""
    return delimited(number, string(2, yaml_text(value)))


def any_values(number: int, value: Any) -> bytes:
    """A ``repeated Any`` field from a JSON list."""
    expect(value, (list,), number)
    return b"".join(any_value(number, item) for item in value)


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
                out += _named_entry(self.extensions, key, any_value, item)
            else:
                raise ValueError(f"{self.name}: no field for {key!r}")
        return bytes(out)


def _named_entry(number: int, name: str, field: Field, value: Any) -> bytes:
    """One ``Named<T>`` pair (``name`` = 1, ``value`` = 2) as field ``number``."""
    return delimited(number, string(1, name) + field(2, value))


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
                out += _named_entry(self.extensions, key, any_value, item)
            else:
                out += _named_entry(self.entries, key, self.value, item)
        return bytes(out)

"""Protobuf's wire format, written by hand: varints, tags and one writer per field kind.

Owns the bytes of a field: a base-128 :func:`varint`, a field's :func:`tag`,
:func:`delimited` payloads, and the scalar writers (:func:`string`,
:func:`boolean`, :func:`int64`, :func:`double`, :func:`strings`) that take a
JSON value, check its kind (a ``ValueError`` naming the field number) and
write it as field ``number``. As proto3 does, a scalar at its zero value is
left out; :func:`text` writes a string even when empty, for an element of a
repeated field.

Pure and generic: no protobuf library, no message layout and nothing of
OpenAPI or HTTP (``imagestreams.api.gnostic`` and ``imagestreams.api.protobuf``
build messages from these).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

# Wire types.
VARINT = 0
FIXED64 = 1
LENGTH_DELIMITED = 2

#: Encodes one JSON value as field ``number``: zero or more encoded fields.
Field = Callable[[int, Any], bytes]
#: Encodes one JSON value as a message's contents.
Payload = Callable[[Any], bytes]


def varint(value: int) -> bytes:
    """``value`` as a base-128 varint; a negative one as its 64-bit two's complement."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    """The key of field ``number`` with ``wire_type``."""
    return varint(number << 3 | wire_type)


def delimited(number: int, payload: bytes) -> bytes:
    """``payload`` as the length-delimited field ``number``."""
    return tag(number, LENGTH_DELIMITED) + varint(len(payload)) + payload


def expect(value: Any, kinds: tuple[type, ...], number: int) -> None:
    """Raise ``ValueError`` unless the JSON ``value`` of field ``number`` is of ``kinds``."""
    # JSON has no integer booleans: True is no int here.
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ValueError(f"field {number}: expected {kinds}, got {value!r}")


def string(number: int, value: Any) -> bytes:
    """A string field, left out when empty."""
    return text(number, value) if value != "" else b""


def text(number: int, value: Any) -> bytes:
    """A string, written even when empty (an element of a repeated field)."""
    expect(value, (str,), number)
    return delimited(number, value.encode("utf-8"))


def boolean(number: int, value: Any) -> bytes:
    """A ``bool`` field, left out when false."""
    expect(value, (bool,), number)
    return tag(number, VARINT) + varint(1) if value else b""


def int64(number: int, value: Any) -> bytes:
    """An ``int64`` field, left out when zero."""
    expect(value, (int,), number)
    return tag(number, VARINT) + varint(value) if value else b""


def double(number: int, value: Any) -> bytes:
    """A ``double`` field, left out when zero."""
    expect(value, (int, float), number)
    return tag(number, FIXED64) + struct.pack("<d", value) if value else b""


def strings(number: int, value: Any) -> bytes:
    """A ``repeated string`` field from a JSON list."""
    expect(value, (list,), number)
    return b"".join(text(number, item) for item in value)

"""Go's words for what a request gets wrong (pure).

Owns the pieces of Go's wording that the readers of a request share, so
that their messages read as the API server's do: ``%q`` quoting,
encoding/json's syntax errors in the words of Go's scanner, and the JSON
kinds that Go's type errors name. It decides nothing about a request; the
messages around these pieces belong to the modules that raise them.
"""

from __future__ import annotations

import json
import re
from typing import Any


def go_quote(text: str) -> str:
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


def go_syntax_error(error: json.JSONDecodeError) -> str:
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


def json_kind(value: Any) -> str:
    """The kind of a JSON value as Go's type errors name it."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    return "object"

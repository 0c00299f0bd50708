"""Decoding JSON that came from outside: request bodies and registry answers (pure).

Owns two bounds the standard library's decoder lacks, so that hostile input
is an error of that input and never a crash of the request:

- **Nesting depth.** ``json.loads`` recurses once per level and raises
  ``RecursionError`` (not a ``ValueError``) on a document nested some
  thousand levels deep. :func:`loads` measures the depth first, without
  recursion, and refuses anything deeper than ``max_depth`` with
  :class:`DocumentTooDeepError`, a ``ValueError`` like every other decoding
  failure. No document of the APIs spoken here comes near the default.
- **Text that cannot be stored.** JSON may escape lone UTF-16 surrogates
  (``"\\ud800"``), which decode into Python strings that no UTF-8 encoder
  accepts, so they fail later, far from the input. They are replaced with
  U+FFFD, as Go's ``encoding/json`` (and so the Kubernetes API server)
  decodes them.

It knows nothing of what a document means.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from imagestreams.errors import ImageStreamsError

__all__ = ["MAX_DEPTH", "DocumentTooDeepError", "loads"]

MAX_DEPTH = 100
"""Deepest nesting accepted: manifests and configs are under 10 levels deep."""

# A string token (escapes included) or one bracket; strings are skipped whole.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


class DocumentTooDeepError(ImageStreamsError, ValueError):
    """A JSON document nests deeper than the decoder accepts."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"the document is nested more than {max_depth} levels deep")
        self.max_depth = max_depth


def loads(
    data: str | bytes,
    *,
    max_depth: int = MAX_DEPTH,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
    parse_float: Callable[[str], Any] | None = None,
) -> Any:
    """Decode ``data`` (UTF-8 bytes or text) with bounded depth and storable strings.

    ``object_pairs_hook`` and ``parse_float`` are ``json.loads``'s; what the
    hook returns is kept if it is a dict (strings in it are made storable).

    Raises ``ValueError`` for anything that is not such a document:
    :class:`DocumentTooDeepError`, ``json.JSONDecodeError`` or
    ``UnicodeDecodeError``.
    """
    if isinstance(data, bytes | bytearray):
        # Strict decoding: encoded surrogates are invalid UTF-8, not text.
        text = bytes(data).decode(json.detect_encoding(data))
    else:
        text = data
    _check_depth(text, max_depth)
    value = json.loads(text, object_pairs_hook=object_pairs_hook, parse_float=parse_float)
    if _SURROGATE_ESCAPE.search(text) or _SURROGATE.search(text):
        value = _storable(value)
    return value


def _check_depth(text: str, max_depth: int) -> None:
    # A document cannot nest deeper than it has brackets: most need no scan.
    if text.count("[") + text.count("{") <= max_depth:
        return
    depth = 0
    for token in _TOKEN.finditer(text):
        char = token.group()
        if char in "[{":
            depth += 1
            if depth > max_depth:
                raise DocumentTooDeepError(max_depth)
        elif char in "]}":
            depth -= 1


def _storable(value: Any) -> Any:
    """``value`` with every lone surrogate, in keys and strings, replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_storable(item) for item in value]
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    return value

"""Patches of an object's JSON, as the API server's PATCH handler applies them (pure).

Owns the patch media types served and how a patch changes a document:

- ``application/merge-patch+json``: RFC 7386 (objects merge, ``null``
  removes a member, anything else replaces); what ``kubectl apply`` sends
  for a kind it has no Go type for, and ``kubectl patch --type=merge``;
- ``application/json-patch+json``: RFC 6902 operations (``add``,
  ``remove``, ``replace``, ``move``, ``copy``, ``test``), paths as RFC 6901
  pointers.

Strategic merge patch and server-side apply are not served: their media
types are the API server's 415 for a type that lacks them, listing what is
accepted. A patch that is not JSON, or not the shape its type requires, is
a 400; an operation that cannot apply (a missing path, a failed ``test``)
is the API server's 422 with the patch library's words.

What the patched document means (decoding, validation, the update) is the
caller's business.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from imagestreams import jsondoc
from imagestreams.errors import BadRequestError, RequestError, UnsupportedMediaTypeError

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH)
"""The patch media types served, in the order the API server lists them."""


class PatchNotApplicable(RequestError):
    """A JSON patch operation that cannot apply to the document (the API server's 422)."""

    code = 422
    reason = "Invalid"


def patch_type(content_type: str | None) -> str:
    """The patch media type of ``Content-Type``, or the API server's 415."""
    essence = (content_type or "").split(";", 1)[0].strip().lower()
    if essence in PATCH_TYPES:
        return essence
    raise UnsupportedMediaTypeError(
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(PATCH_TYPES)
    )


def apply(document: dict[str, Any], raw: bytes, media_type: str) -> dict[str, Any]:
    """``document`` changed by the patch ``raw`` of ``media_type``; ``document`` is kept."""
    try:
        patch = jsondoc.loads(raw.decode("utf-8", errors="replace"))
    except json.JSONDecodeError as error:
        raise BadRequestError(f"error decoding patch: {error.msg}") from None
    if media_type == MERGE_PATCH:
        if not isinstance(patch, dict):
            raise BadRequestError("error decoding patch: a merge patch must be a JSON object")
        merged = merge(document, patch)
        assert isinstance(merged, dict)
        return merged
    if not isinstance(patch, list) or not all(isinstance(op, dict) for op in patch):
        raise BadRequestError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    result: Any = copy.deepcopy(document)
    for operation in patch:
        result = _operate(result, operation)
    if not isinstance(result, dict):
        raise PatchNotApplicable("the patched document is not a JSON object")
    return result


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386's MergePatch(target, patch)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


# --- RFC 6902 ---------------------------------------------------------------------


def _operate(document: Any, operation: dict[str, Any]) -> Any:
    op = operation.get("op")
    path = operation.get("path")
    if not isinstance(path, str):
        raise PatchNotApplicable(f"Unable to get path for operation {op!r}")
    if op in ("add", "replace", "test") and "value" not in operation:
        raise PatchNotApplicable(f"missing value for operation {op!r}")
    value = copy.deepcopy(operation.get("value"))
    if op == "add":
        return _add(document, path, value)
    if op == "remove":
        return _remove(document, path)[0]
    if op == "replace":
        _get(document, path)
        return _add(_remove(document, path)[0], path, value, replace=True)
    if op in ("move", "copy"):
        source = operation.get("from")
        if not isinstance(source, str):
            raise PatchNotApplicable(f"Unable to get from path for operation {op!r}")
        if op == "move":
            if path.startswith(source + "/"):
                raise PatchNotApplicable("move operation: a path cannot be moved into itself")
            document, moved = _remove(document, source)
            return _add(document, path, moved)
        return _add(document, path, copy.deepcopy(_get(document, source)))
    if op == "test":
        if _get(document, path) != value:
            raise PatchNotApplicable(f"testing value {path} failed: test failed")
        return document
    raise PatchNotApplicable(f"Unexpected kind: {op}")


def _tokens(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchNotApplicable(f"JSON pointer must be empty or start with a '/': {path}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _index(container: list[Any], token: str, path: str, *, end: bool) -> int:
    if end and token == "-":
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchNotApplicable(f"invalid array index {token!r} in {path}")
    index = int(token)
    if index > len(container) or (index == len(container) and not end):
        raise PatchNotApplicable(f"Unable to access invalid index: {index}: {path}")
    return index


def _parent(document: Any, path: str) -> tuple[Any, str]:
    tokens = _tokens(path)
    if not tokens:
        raise PatchNotApplicable("the root cannot be a parent")
    node = document
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, path, end=False)]
        else:
            raise PatchNotApplicable(f"missing value at {path}: doc is missing path")
    return node, tokens[-1]


def _get(document: Any, path: str) -> Any:
    if path == "":
        return document
    node, last = _parent(document, path)
    if isinstance(node, dict) and last in node:
        return node[last]
    if isinstance(node, list):
        return node[_index(node, last, path, end=False)]
    raise PatchNotApplicable(f"doc is missing path: {path}: missing value")


def _add(document: Any, path: str, value: Any, *, replace: bool = False) -> Any:
    if path == "":
        return value
    node, last = _parent(document, path)
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list):
        index = _index(node, last, path, end=True)
        node.insert(index, value)
    else:
        verb = "replace" if replace else "add"
        raise PatchNotApplicable(f"{verb} operation does not apply: doc is missing path: {path}")
    return document


def _remove(document: Any, path: str) -> tuple[Any, Any]:
    if path == "":
        return None, document
    node, last = _parent(document, path)
    if isinstance(node, dict) and last in node:
        return document, node.pop(last)
    if isinstance(node, list):
        return document, node.pop(_index(node, last, path, end=False))
    raise PatchNotApplicable(
        f"remove operation does not apply: doc is missing path: {path}: missing value"
    )

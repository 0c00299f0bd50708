"""List conventions of the Kubernetes API (pure): selectors, pages, watch events.

Owns how a list request's query is read and applied, as the API server does:

- ``labelSelector``: Kubernetes' grammar (``a=b``, ``a==b``, ``a!=b``,
  ``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``, comma-separated, all must
  hold);
- ``fieldSelector``: ``metadata.name`` and ``metadata.namespace`` with
  ``=``, ``==`` and ``!=``; any other field is the API server's
  ``field label not supported`` error;
- ``limit`` and ``continue``: items in name order, a page at a time; the
  continue token is opaque to clients (the last name served, encoded), and
  one that does not decode is a 400;
- ``watch``, ``timeoutSeconds``, ``allowWatchBookmarks`` and
  ``resourceVersion`` are read here; what a watch sends is
  ``imagestreams.watching``'s business.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from imagestreams.errors import BadRequestError

T = TypeVar("T")

_KEY_RE = re.compile(
    r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9](/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
)
_VALUE_RE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_FIELDS = ("metadata.name", "metadata.namespace")
CONTINUE_VERSION = "meta.k8s.io/v1"


@dataclass(frozen=True)
class Requirement:
    """One requirement of a label selector."""

    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        # "!=" and "notin" hold for objects without the label, as in Kubernetes.
        return not present or value not in self.values


@dataclass(frozen=True)
class ListOptions:
    """A list request's query, read and checked."""

    labels: tuple[Requirement, ...] = ()
    fields: tuple[tuple[str, str, str], ...] = ()
    limit: int = 0
    after: str = ""
    watch: bool = False
    resource_version: str = ""
    timeout_seconds: int | None = None
    bookmarks: bool = False
    client_timeout: float | None = None

    def selects(self, name: str, namespace: str, labels: Mapping[str, str]) -> bool:
        """Whether an object with these name, namespace and labels is selected."""
        if not all(r.matches(labels) for r in self.labels):
            return False
        values = {"metadata.name": name, "metadata.namespace": namespace}
        for field, operator, value in self.fields:
            if (values[field] == value) != (operator == "="):
                return False
        return True


def list_options(query: Mapping[str, str] | None) -> ListOptions:
    """The list options of ``query`` (API Gateway's single-value query parameters)."""
    query = query or {}
    limit_text = query.get("limit") or "0"
    try:
        limit = int(limit_text)
    except ValueError:
        raise BadRequestError(f'invalid value "{limit_text}" for limit') from None
    timeout_text = query.get("timeoutSeconds") or ""
    try:
        timeout = int(timeout_text) if timeout_text else None
    except ValueError:
        raise BadRequestError(f'invalid value "{timeout_text}" for timeoutSeconds') from None
    return ListOptions(
        labels=parse_label_selector(query.get("labelSelector") or ""),
        fields=parse_field_selector(query.get("fieldSelector") or ""),
        limit=max(limit, 0),
        after=decode_continue(query.get("continue") or ""),
        watch=(query.get("watch") or "").lower() in ("1", "true"),
        resource_version=query.get("resourceVersion") or "",
        timeout_seconds=timeout,
        bookmarks=(query.get("allowWatchBookmarks") or "").lower() in ("1", "true"),
        client_timeout=go_duration(query.get("timeout") or ""),
    )


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def go_duration(text: str) -> float | None:
    """Seconds of a Go duration (``30s``, ``1m0s``), as client-go sends its request
    timeout in ``timeout``; None for none or one that does not parse."""
    if not text or not re.fullmatch(f"(?:{_DURATION_PART.pattern})+", text):
        return None
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


def parse_label_selector(text: str) -> tuple[Requirement, ...]:
    """The requirements of a label selector; 400 with the API server's message if malformed."""
    requirements = []
    for part in _split_top_level(text):
        part = part.strip()
        if not part:
            continue
        requirements.append(_requirement(part, text))
    return tuple(requirements)


def _split_top_level(text: str) -> list[str]:
    # Commas inside "in (a,b)" belong to the set, not between requirements.
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _requirement(part: str, whole: str) -> Requirement:
    set_match = re.fullmatch(r"\s*(\S+)\s+(in|notin)\s*\((.*)\)\s*", part)
    if set_match:
        key, operator, listed = set_match.groups()
        values = tuple(v.strip() for v in listed.split(",") if v.strip())
        _check_key(key, whole)
        for value in values:
            _check_value(value, whole)
        if not values:
            raise _selector_error(whole, "for 'in', 'notin' operators, values set can't be empty")
        return Requirement(key, operator, values)
    for operator in ("==", "!=", "="):
        if operator in part:
            key, value = (s.strip() for s in part.split(operator, 1))
            _check_key(key, whole)
            _check_value(value, whole)
            return Requirement(key, "!=" if operator == "!=" else "=", (value,))
    if part.startswith("!"):
        key = part[1:].strip()
        _check_key(key, whole)
        return Requirement(key, "!")
    _check_key(part, whole)
    return Requirement(part, "exists")


def _check_key(key: str, whole: str) -> None:
    name = key.rsplit("/", 1)[-1]
    if not key or len(name) > 63 or not _KEY_RE.fullmatch(key):
        raise _selector_error(whole, f'invalid label key "{key}"')


def _check_value(value: str, whole: str) -> None:
    if len(value) > 63 or not _VALUE_RE.fullmatch(value):
        raise _selector_error(whole, f'invalid label value: "{value}"')


def _selector_error(whole: str, detail: str) -> BadRequestError:
    return BadRequestError(f'unable to parse requirement: {detail} (selector "{whole}")')


def parse_field_selector(text: str) -> tuple[tuple[str, str, str], ...]:
    """``(field, "=" or "!=", value)`` per term; 400 for a field this API does not index."""
    terms = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        for operator in ("==", "!=", "="):
            if operator in part:
                field, value = (s.strip() for s in part.split(operator, 1))
                break
        else:
            raise BadRequestError(f"invalid selector: '{text}'; can't understand '{part}'")
        if field not in _FIELDS:
            raise BadRequestError(f"field label not supported: {field}")
        terms.append((field, "!=" if operator == "!=" else "=", value))
    return tuple(terms)


def encode_continue(last_name: str) -> str:
    """The opaque token that continues a list after ``last_name``."""
    document = json.dumps({"v": CONTINUE_VERSION, "start": last_name + "\x00"})
    return base64.urlsafe_b64encode(document.encode()).decode()


def decode_continue(token: str) -> str:
    """The name a continue token resumes after (``""`` for none)."""
    if not token:
        return ""
    try:
        document = json.loads(base64.urlsafe_b64decode(token.encode()))
        start = document["start"]
        if document.get("v") != CONTINUE_VERSION or not isinstance(start, str):
            raise ValueError(start)
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise BadRequestError("invalid continue token: it could not be decoded") from None
    return start.removesuffix("\x00")


@dataclass(frozen=True)
class Page:
    """One page of a list: the names to show, and the token of the next page."""

    names: list[str]
    continue_token: str = ""
    remaining: int | None = None
    resource_version: str = ""


def paginate(names: Sequence[str], options: ListOptions) -> Page:
    """The page of ``names`` (already selected) that ``options`` asks for, in name order."""
    ordered = sorted(n for n in names if not options.after or n > options.after)
    if not options.limit or len(ordered) <= options.limit:
        return Page(ordered)
    shown = ordered[: options.limit]
    return Page(shown, encode_continue(shown[-1]), len(ordered) - len(shown))


def select(
    items: Sequence[T],
    options: ListOptions,
    identity: Callable[[T], tuple[str, str, Mapping[str, str]]],
) -> list[T]:
    """The items ``options`` selects; ``identity`` gives an item's name, namespace and labels."""
    return [item for item in items if options.selects(*identity(item))]

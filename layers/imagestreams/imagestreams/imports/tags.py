"""Ordering of a repository's tags for import (pure).

OpenShift imports a repository's tags in priority order and reports those
beyond its limit as ``additionalTags``. The order:

1. ``latest``;
2. minor versions, ``X.Y`` and ``X.Y-suffix`` (``5.1``, ``v5.1``, ``v5.1-rc1``),
   newest first;
3. full semantic versions (``5.1.3``, ``v5.1.3-beta.1+build``), newest first;
4. every other tag, lexically.

Within a version group, equal versions sort without the ``v`` prefix first.
Versions compare by semantic-versioning precedence (a pre-release is older
than its release; build metadata is ignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_NUMBER = r"(?:0|[1-9]\d*)"
_IDENT = r"(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER = re.compile(
    rf"^(?P<major>{_NUMBER})\.(?P<minor>{_NUMBER})\.(?P<patch>{_NUMBER})"
    rf"(?:-(?P<pre>{_IDENT}(?:\.{_IDENT})*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_MINOR = re.compile(r"^(\d+)\.(\d+)$")
_MINOR_WITH_SUFFIX = re.compile(r"^(\d+\.\d+)-\w+$")

LATEST, MINOR, FULL, OTHER = range(4)


@dataclass(frozen=True)
class Version:
    """A parsed semantic version, ordered by precedence."""

    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()

    def key(self) -> tuple[object, ...]:
        # A release sorts after all of its pre-releases; numeric identifiers
        # sort before alphanumeric ones and compare as numbers.
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.pre)
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, pre)


def parse_semver(text: str) -> Version | None:
    """Parse ``MAJOR.MINOR.PATCH[-pre][+build]``; None if it is not one."""
    match = _SEMVER.match(text)
    if not match:
        return None
    pre = tuple(match["pre"].split(".")) if match["pre"] else ()
    return Version(int(match["major"]), int(match["minor"]), int(match["patch"]), pre)


def _classify(tag: str) -> tuple[int, Version | None, str]:
    if tag == "latest":
        return LATEST, None, ""
    prefix, short = ("v", tag[1:]) if tag.startswith("v") else ("", tag)
    if version := parse_semver(short):
        return FULL, version, prefix
    if _MINOR.match(short) and (version := parse_semver(short + ".0")):
        return MINOR, version, prefix
    suffixed = _MINOR_WITH_SUFFIX.match(short)
    if suffixed and (version := parse_semver(short.replace(suffixed[1], suffixed[1] + ".0", 1))):
        return MINOR, version, prefix
    return OTHER, None, prefix


def _sort_key(tag: str) -> tuple[object, ...]:
    priority, version, prefix = _classify(tag)
    if priority == OTHER or version is None:
        return (priority, (), "", tag)
    # Newest first: negate by sorting on the inverted precedence key.
    return (priority, _Descending(version.key()), prefix, tag)


@dataclass(frozen=True)
class _Descending:
    value: tuple[object, ...]

    def __lt__(self, other: _Descending) -> bool:
        return self.value > other.value


def prioritize(tags: Iterable[str]) -> list[str]:
    """The distinct ``tags`` in OpenShift's import order."""
    return sorted(dict.fromkeys(tags), key=_sort_key)

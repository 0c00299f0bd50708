"""Image references: the distribution grammar with OpenShift's defaults.

This module owns the parsing and printing of image references such as
``mysql:8``, ``quay.io/openshift/origin-cli@sha256:...`` or
``[::1]:5000/team/app:v1``. It is pure: no I/O, no environment, nothing but
regular expressions compiled at import.

Grammar (the distribution/reference grammar; ``?`` optional, ``*`` repeated)::

    reference       := name [ ":" tag ] [ "@" digest ]
    name            := [ registry "/" ] path
    registry        := host [ ":" port ]
    host            := domain-name | "[" ipv6-address "]"
    domain-name     := domain-label ( "." domain-label )*
    domain-label    := /[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]/
    ipv6-address    := /[a-fA-F0-9:]+/ [ipv4-tail]   ; no zone ids
    ipv4-tail       := /\\d{1,3}(\\.\\d{1,3}){3}/   ; RFC 4291 mixed notation, e.g. ::ffff:10.0.0.1
    port            := /[0-9]+/
    path            := path-component ( "/" path-component )*
    path-component  := alphanumeric ( separator alphanumeric )*
    alphanumeric    := /[a-z0-9]+/
    separator       := /[._]|__|[-]+/
    tag             := /[\\w][\\w.-]{0,127}/
    digest          := algorithm ":" hex
    algorithm       := algo-part ( /[-_+.]/ algo-part )*
    algo-part       := /[A-Za-z][A-Za-z0-9]*/
    hex             := /[0-9a-fA-F]{32,}/

Which first component is a registry (OpenShift's and Docker's rule): it is
the registry only when another component follows it and it contains ``.``
or ``:`` or is exactly ``localhost``. Otherwise the whole name is a path on
Docker Hub, so ``Foo/bar`` is an upper-case path, not a registry.

Beyond the grammar, as distribution checks them:

* the whole name (registry, ``/`` and path) is at most 255 characters;
* a digest of a known algorithm must have the right length (``sha256`` 64,
  ``sha384`` 96, ``sha512`` 128 hex digits); any other algorithm is
  unsupported (library-go's digest rules, which OpenShift's validation
  applies); and its hex must be lower case, as go-digest, the registries and
  OpenShift's importer require (library-go's validation lets upper case pass,
  and the import of it fails).

Error messages are distribution's and library-go's texts, in the order
distribution checks them: empty input, format (or upper case), length,
digest.

Defaults are applied by properties, never by parsing: a reference keeps
what the user wrote (``registry`` is ``""`` when none was written and
``tag`` is ``None`` when none was written), :attr:`Reference.domain`,
:attr:`Reference.api_host`, :attr:`Reference.repository` and
:attr:`Reference.tag_or_latest` apply Docker Hub's defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Final

from imagestreams.errors import InvalidReferenceError

__all__ = [
    "DEFAULT_TAG",
    "DOCKER_HUB",
    "DOCKER_HUB_ALIASES",
    "DOCKER_HUB_API_HOST",
    "DOCKER_HUB_OFFICIAL_NAMESPACE",
    "MAX_NAME_LENGTH",
    "Digest",
    "Reference",
    "is_digest",
    "is_tag",
    "parse",
]

DOCKER_HUB: Final = "docker.io"
"""Canonical Docker Hub domain, what references without a registry mean."""

DOCKER_HUB_API_HOST: Final = "registry-1.docker.io"
"""The host that actually serves Docker Hub's registry API."""

DOCKER_HUB_ALIASES: Final = frozenset({DOCKER_HUB, "index.docker.io", DOCKER_HUB_API_HOST})
"""Registry names that all mean Docker Hub (compared case-insensitively)."""

_LEGACY_DOCKER_HUB: Final = "index.docker.io"
"""The one other name distribution's normalization folds into :data:`DOCKER_HUB`."""

DOCKER_HUB_OFFICIAL_NAMESPACE: Final = "library"
"""Namespace of Docker Hub's one-component ("official") repositories."""

DEFAULT_TAG: Final = "latest"
"""Tag meant by a reference without tag and digest."""

MAX_NAME_LENGTH: Final = 255
"""Longest allowed name (registry, slash and path)."""

# --- messages (distribution/reference and go-digest texts) -------------------

_NAME_EMPTY: Final = "repository name must have at least one component"
_INVALID_FORMAT: Final = "invalid reference format"
_NAME_UPPERCASE: Final = "repository name must be lowercase"
_NAME_TOO_LONG: Final = f"repository name must not be more than {MAX_NAME_LENGTH} characters"
_INVALID_TAG: Final = "invalid tag format"
_INVALID_DIGEST: Final = "invalid digest format"
_DIGEST_BAD_ENCODING: Final = "invalid checksum digest format"
_DIGEST_BAD_LENGTH: Final = "invalid checksum digest length"
_DIGEST_UNSUPPORTED: Final = "unsupported digest algorithm"

# --- grammar, composed from named parts --------------------------------------

_ALPHANUMERIC: Final = r"[a-z0-9]+"
_SEPARATOR: Final = r"(?:[._]|__|-+)"
_PATH_COMPONENT: Final = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_PATH: Final = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"

_DOMAIN_LABEL: Final = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME: Final = rf"{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*"
# Mixed notation (``::ffff:169.254.169.254``) is accepted, unlike distribution's
# grammar, so that such a registry is refused by address policy with a clear
# per-image error rather than as a malformed reference.
_IPV6_ADDRESS: Final = r"\[[a-fA-F0-9:]+(?:\d{1,3}(?:\.\d{1,3}){3})?\]"
_HOST: Final = rf"(?:{_DOMAIN_NAME}|{_IPV6_ADDRESS})"
_PORT: Final = r"[0-9]+"
_REGISTRY: Final = rf"{_HOST}(?::{_PORT})?"

_NAME: Final = rf"(?:{_REGISTRY}/)?{_PATH}"

_TAG: Final = r"\w[\w.-]{0,127}"

_ALGORITHM_PART: Final = r"[A-Za-z][A-Za-z0-9]*"
_ALGORITHM: Final = rf"{_ALGORITHM_PART}(?:[-_+.]{_ALGORITHM_PART})*"
_HEX: Final = r"[0-9a-fA-F]{32,}"
_DIGEST: Final = rf"{_ALGORITHM}:{_HEX}"

_REFERENCE: Final = rf"(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?"

# Go's \w is ASCII-only; Python's is not unless told. Patterns are used with
# fullmatch, so "$" never accepts a trailing newline.
_REFERENCE_RE: Final = re.compile(_REFERENCE, re.ASCII)
_PATH_RE: Final = re.compile(_PATH, re.ASCII)
_REGISTRY_RE: Final = re.compile(_REGISTRY, re.ASCII)
_TAG_RE: Final = re.compile(_TAG, re.ASCII)
_DIGEST_RE: Final = re.compile(_DIGEST, re.ASCII)

# The algorithms digests may use, and the length of their hex encodings.
_DIGEST_HEX_LENGTHS: Final = {"sha256": 64, "sha384": 96, "sha512": 128}
_LOWER_HEX_RE: Final = re.compile(r"[a-f0-9]+")

_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class Digest(str):
    """A content digest (``sha256:<64 hex>``, ...), valid by construction.

    go-digest's checks run once, in :meth:`parse`; a value typed ``Digest``
    needs no check again, and "is this a digest?" is ``isinstance``. It is a
    ``str``, so it prints, compares and serialises as the text it is.
    """

    __slots__ = ()

    @classmethod
    def parse(cls, text: str) -> Digest:
        """``text`` as a digest; :class:`InvalidReferenceError` (go-digest's text) if not one."""
        if isinstance(text, Digest):
            return text
        if not _DIGEST_RE.fullmatch(text):
            raise InvalidReferenceError(_INVALID_DIGEST)
        _check_digest(text)
        return cls(text)

    @property
    def algorithm(self) -> str:
        return self.partition(":")[0]


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed image reference, exactly as written.

    Build one with :func:`parse`; the ``with_*`` methods derive new ones.
    """

    registry: str
    """Registry as written (``host[:port]``), ``""`` when none was written."""
    path: str
    """Repository path as written, e.g. ``mysql`` or ``openshift/origin``."""
    tag: str | None
    """Tag as written, ``None`` when none was written."""
    digest: Digest | None
    """Digest (``algorithm:hex``), ``None`` when none was written."""

    @property
    def domain(self) -> str:
        """The registry with Docker Hub's names folded into :data:`DOCKER_HUB`."""
        if not self.registry or self.registry.lower() in DOCKER_HUB_ALIASES:
            return DOCKER_HUB
        return self.registry

    @property
    def is_docker_hub(self) -> bool:
        """Whether the reference names an image on Docker Hub."""
        return self.domain == DOCKER_HUB

    @property
    def api_host(self) -> str:
        """``host[:port]`` to contact for the registry API."""
        return DOCKER_HUB_API_HOST if self.is_docker_hub else self.registry

    @property
    def repository(self) -> str:
        """Repository name for the registry API (``mysql`` is ``library/mysql`` on Hub)."""
        if self.is_docker_hub and "/" not in self.path:
            return f"{DOCKER_HUB_OFFICIAL_NAMESPACE}/{self.path}"
        return self.path

    @property
    def tag_or_latest(self) -> str:
        """The tag, or :data:`DEFAULT_TAG` when none was written."""
        return self.tag or DEFAULT_TAG

    def repository_string(self) -> str:
        """``[registry/]path`` as written, without tag or digest."""
        return f"{self.registry}/{self.path}" if self.registry else self.path

    def exact(self) -> str:
        """The reference as written: ``[registry/]path[:tag][@digest]``."""
        text = self.repository_string()
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def normalized(self) -> str:
        """The reference as distribution's ``ParseNormalizedNamed`` prints it.

        No registry (or ``index.docker.io``) is ``docker.io``, where a
        one-component path gains ``library/``; any other registry stays as
        written. Tag and digest are kept as written: ``mysql:8`` is
        ``docker.io/library/mysql:8``. OpenShift names an image this way in
        the per-image errors it reports.
        """
        domain = self.registry
        if not domain or domain == _LEGACY_DOCKER_HUB:
            domain = DOCKER_HUB
        path = self.path
        if domain == DOCKER_HUB and "/" not in path:
            path = f"{DOCKER_HUB_OFFICIAL_NAMESPACE}/{path}"
        return replace(self, registry=domain, path=path).exact()

    def without_tag(self) -> Reference:
        """The same reference with no tag (a digest is kept)."""
        return replace(self, tag=None)

    def with_digest(self, digest: str) -> Reference:
        """The repository at ``digest``, tag cleared: ``mysql:8`` -> ``mysql@sha256:...``.

        Raises :class:`InvalidReferenceError` when ``digest`` is not one.
        """
        return replace(self, tag=None, digest=Digest.parse(digest))

    def with_tag(self, tag: str) -> Reference:
        """The repository at ``tag``, digest cleared.

        Raises :class:`InvalidReferenceError` when ``tag`` is not one.
        """
        if not _TAG_RE.fullmatch(tag):
            raise InvalidReferenceError(_INVALID_TAG)
        return replace(self, tag=tag, digest=None)

    def __str__(self) -> str:
        return self.exact()


def is_digest(text: str) -> bool:
    """Whether ``text`` is a digest of a supported algorithm (``sha256:<64 hex>``, ...).

    The one test of "is this a digest?": references, registry answers and
    manifest descriptors are all judged by it.
    """
    try:
        Digest.parse(text)
    except InvalidReferenceError:
        return False
    return True


def is_tag(text: str) -> bool:
    """Whether ``text`` is a tag of the grammar (at most 128 characters)."""
    return _TAG_RE.fullmatch(text) is not None


def parse(text: str) -> Reference:
    """Parse ``text`` as an image reference.

    Raises :class:`InvalidReferenceError` with distribution's message when
    ``text`` is not a valid reference.
    """
    if not text:
        raise InvalidReferenceError(_NAME_EMPTY)

    match = _REFERENCE_RE.fullmatch(text)
    if match is None:
        raise InvalidReferenceError(_format_error(text, _REFERENCE_RE))
    name: str = match["name"]

    registry, path = _split_registry(name)
    if registry and not _REGISTRY_RE.fullmatch(registry):
        # Looks like a host ("." or ":") but is not one, e.g. "foo_bar.com/x".
        raise InvalidReferenceError(_INVALID_FORMAT)
    if not _PATH_RE.fullmatch(path):
        # The grammar let an upper-case first component through as a host,
        # but without "." or ":" it is a path component ("Foo/bar").
        raise InvalidReferenceError(_format_error(path, _PATH_RE))

    if len(name) > MAX_NAME_LENGTH:
        raise InvalidReferenceError(_NAME_TOO_LONG)

    digest = None if match["digest"] is None else Digest.parse(match["digest"])

    return Reference(registry=registry, path=path, tag=match["tag"], digest=digest)


def _split_registry(name: str) -> tuple[str, str]:
    """Split a name into ``(registry, path)``; registry ``""`` for Docker Hub."""
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "", name


def _format_error(text: str, pattern: re.Pattern[str]) -> str:
    """Distribution's message for text the grammar refused."""
    lowered = text.translate(_ASCII_LOWER)
    if lowered != text and pattern.fullmatch(lowered):
        return _NAME_UPPERCASE
    return _INVALID_FORMAT


def _check_digest(digest: str) -> None:
    """Apply the digest checks to a digest the grammar accepted."""
    algorithm, _, encoded = digest.partition(":")
    length = _DIGEST_HEX_LENGTHS.get(algorithm)
    if length is None:
        raise InvalidReferenceError(_DIGEST_UNSUPPORTED)
    if len(encoded) != length:
        raise InvalidReferenceError(_DIGEST_BAD_LENGTH)
    if not _LOWER_HEX_RE.fullmatch(encoded):
        raise InvalidReferenceError(_DIGEST_BAD_ENCODING)

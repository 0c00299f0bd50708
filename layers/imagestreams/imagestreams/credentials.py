"""Pull-secret credentials: parsing docker configs and matching them to registries.

This module owns the meaning of a pull secret: which formats are accepted,
how each entry becomes a :class:`Credential`, and which credentials apply to
a repository on a registry (:meth:`Keyring.lookup`). It is pure: no I/O, no
environment, no logging. Reading the secret is an adapter's job
(``imagestreams.adapters.secrets``); using a credential is the registry
client's. Nothing here may put secret material into a message, a ``repr`` or
an exception chain.

Accepted formats (JSON text, ``str`` or UTF-8 ``bytes``)::

    {"auths": {"<key>": <entry>, ...}}                 .dockerconfigjson
    {"<key>": <entry>, ...}                            legacy .dockercfg
    {".dockerconfigjson": <config>}                    Kubernetes Secret data
    {".dockercfg": <config>}
    {"data": {".dockerconfigjson": <config>}, ...}     a whole Secret object
    {"stringData": {".dockerconfigjson": <config>}, ...}

where ``<config>`` is one of the first two forms, as a JSON object, as JSON
text, or as base64-encoded JSON text (how ``data`` holds it), and ``<entry>``
is ``{"auth": base64("user:password")}`` or ``{"username": ..., "password":
...}``, optionally with ``"identitytoken"``. ``auth`` wins over ``username``
and ``password`` when both are present, as in Kubernetes. An entry with no
usable secret (only an ``email``, or only a ``registrytoken``) is skipped; so
is an entry whose key cannot be parsed (Kubernetes ignores those too).

Identity tokens (OAuth2 refresh tokens written by ``docker login`` for some
registries) become ``Credential(username, token, identity_token=True)``. The
username is the entry's own when it has one (Azure's fixed GUID, say, which
its token endpoint expects with Basic auth), otherwise Docker's placeholder
``"<token>"`` (:data:`IDENTITY_TOKEN_USERNAME`).

Matching follows the Kubernetes credential-provider keyring:

- A key is normalized: an ``http://`` or ``https://`` scheme is dropped, a
  leading ``/v1`` or ``/v2`` path segment is dropped, and so is a trailing
  ``/``; what remains is ``host[:port][/path]``.
- The host matches label by label, with the same number of labels; a label
  of the key may be a glob (``*``, ``?``, ``[...]``) and ``*`` never crosses
  a dot: ``*.example.com`` matches ``a.example.com`` but neither
  ``example.com`` nor ``a.b.example.com``. Hosts compare case-insensitively.
- The port must be equal, and a missing port is not a default port:
  ``registry:443`` does not match ``registry``.
- The key's path must be a prefix of the repository path. Unlike Kubernetes
  (a string prefix) the prefix is taken whole segments at a time, so
  credentials for ``quay.io/team`` are never sent for ``quay.io/teammate``.
- Every matching credential is returned, most specific key first: longer
  path, then fewer wildcard labels, then longer host; credentials under one
  key keep their order in the secret; duplicates are returned once.
- Docker Hub: the hosts ``docker.io``, ``index.docker.io`` and
  ``registry-1.docker.io`` (without a port) are one registry, both in keys
  and in look-ups. This generalizes Kubernetes' fallback to
  ``index.docker.io`` keys, and covers ``https://index.docker.io/v1/``, the
  key ``docker login`` writes.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from imagestreams import jsondoc
from imagestreams.errors import ImageStreamsError

__all__ = [
    "DOCKER_HUB",
    "DOCKER_HUB_ALIASES",
    "IDENTITY_TOKEN_USERNAME",
    "Credential",
    "Keyring",
    "PullSecretError",
]

#: The username Docker pairs with an identity token that has no username.
IDENTITY_TOKEN_USERNAME = "<token>"

#: The canonical name of Docker Hub, as references are normalized.
DOCKER_HUB = "docker.io"

#: Host names that all mean Docker Hub when they carry no port.
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

_CONFIG_KEYS = (".dockerconfigjson", ".dockercfg")
_SCHEME = re.compile(r"^https?://", re.IGNORECASE)
_API_VERSION = re.compile(r"^/v[12](?=/|$)")
_PORT = re.compile(r"[0-9]{1,5}")
_GLOB_CHARS = frozenset("*?[")
_MAX_SHOWN_KEY = 128


class PullSecretError(ImageStreamsError):
    """A pull secret that cannot be read as a docker config.

    ``reason`` says what is wrong; ``registry`` names the offending entry's
    key when there is one. Neither ever holds secret material, and the
    exception never chains the parser's own error (which may quote input).
    """

    def __init__(self, reason: str, *, registry: str | None = None) -> None:
        self.reason = reason
        self.registry = None if registry is None else _shown_key(registry)
        where = "" if self.registry is None else f' (entry "{self.registry}")'
        super().__init__(f"invalid pull secret{where}: {reason}")


@dataclass(frozen=True)
class Credential:
    """A username and password for one registry; the password never shows.

    ``identity_token`` marks a password that is an OAuth2 refresh token
    (``identitytoken`` in a docker config) rather than a password.
    """

    username: str
    password: str = field(repr=False)
    identity_token: bool = False


@dataclass(frozen=True)
class _Location:
    """A normalized ``host[:port][/path]``: a keyring key or a look-up target."""

    labels: tuple[str, ...]
    port: str
    path: str  # "" or "/segment[/segment...]", never a trailing "/"

    @classmethod
    def parse(cls, text: str, *, key: bool) -> _Location | None:
        """Normalize a key or a target; ``None`` if it has no usable host.

        Only keys lose a leading ``/v1`` or ``/v2``: in a target it is the
        start of a repository name.
        """
        rest = _SCHEME.sub("", text.strip(), count=1)
        slash = rest.find("/")
        hostport, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
        split = _split_host_port(hostport)
        if split is None:
            return None
        host, port = split
        if not port and host in DOCKER_HUB_ALIASES:
            host = DOCKER_HUB
        if key:
            path = _API_VERSION.sub("", path, count=1)
        path = re.sub(r"/{2,}", "/", path).rstrip("/")
        return cls(tuple(host.split(".")), port, path)

    @property
    def text(self) -> str:
        """The normalized form, for display and diagnostics."""
        host = ".".join(self.labels)
        if ":" in host:
            host = f"[{host}]"  # an IPv6 address
        port = f":{self.port}" if self.port else ""
        return host + port + self.path

    def matches(self, target: _Location) -> bool:
        """Whether this key (which may hold globs) applies to ``target``."""
        if self.port != target.port or len(self.labels) != len(target.labels):
            return False
        if self.path and not (target.path == self.path or target.path.startswith(self.path + "/")):
            return False
        return all(
            _label_matches(pattern, label)
            for pattern, label in zip(self.labels, target.labels, strict=True)
        )

    def specificity(self) -> tuple[int, int, int, str]:
        """Sort key: most specific first, ties broken by the text."""
        wildcards = sum(1 for label in self.labels if _GLOB_CHARS & set(label))
        host_length = len(".".join(self.labels))
        return (-len(self.path), wildcards, -host_length, self.text)


class Keyring:
    """The credentials of one pull secret, indexed by normalized key.

    Build one with :meth:`from_secret`, :meth:`empty`, or from
    ``(key, Credential)`` pairs; look credentials up with :meth:`lookup`.
    Immutable once built.
    """

    __slots__ = ("_entries",)

    def __init__(self, entries: Iterable[tuple[str, Credential]] = ()) -> None:
        """Index ``(key, credential)`` pairs; keys without a host are skipped."""
        grouped: dict[_Location, list[Credential]] = {}
        for key, credential in entries:
            location = _Location.parse(key, key=True)
            if location is not None:
                grouped.setdefault(location, []).append(credential)
        ordered = sorted(grouped.items(), key=lambda item: item[0].specificity())
        self._entries: tuple[tuple[_Location, tuple[Credential, ...]], ...] = tuple(
            (location, tuple(credentials)) for location, credentials in ordered
        )

    @classmethod
    def empty(cls) -> Keyring:
        """A keyring with no credentials: every look-up is anonymous."""
        return cls()

    @classmethod
    def from_secret(cls, text: str | bytes) -> Keyring:
        """Parse a pull secret in any accepted format (see the module docstring).

        Raises :class:`PullSecretError` when the content is not a docker
        config; the error never contains secret material.
        """
        document = _load_json(_as_text(text), what="the pull secret")
        config = _unwrap_secret(document)
        return cls(_credentials_of(config))

    @property
    def keys(self) -> tuple[str, ...]:
        """The normalized keys, most specific first (no secret material)."""
        return tuple(location.text for location, _ in self._entries)

    def lookup(self, registry: str, repository: str) -> list[Credential]:
        """Every credential that applies to ``repository`` on ``registry``.

        ``registry`` is the ``host[:port]`` the service contacts, or the
        normalized domain (``docker.io`` for Docker Hub); ``repository`` is
        the path inside it (``library/busybox``). Most specific first; an
        empty list means anonymous access.
        """
        target = _Location.parse(
            f"{registry.strip().rstrip('/')}/{repository.strip().strip('/')}", key=False
        )
        if target is None:
            return []
        found: list[Credential] = []
        for location, credentials in self._entries:
            if not location.matches(target):
                continue
            for credential in credentials:
                if credential not in found:
                    found.append(credential)
        return found

    def __len__(self) -> int:
        """The number of usable credential entries."""
        return sum(len(credentials) for _, credentials in self._entries)

    def __repr__(self) -> str:
        return f"Keyring(keys={list(self.keys)!r})"


# --- parsing -------------------------------------------------------------------


def _as_text(text: str | bytes) -> str:
    if isinstance(text, str):
        return text
    try:
        return text.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PullSecretError("content is not UTF-8 text") from None


def _load_json(text: str, *, what: str) -> Any:
    if not text.strip():
        raise PullSecretError(f"{what} is empty")
    try:
        return jsondoc.loads(text)
    except ValueError:
        # The decoder's error keeps the whole document; never chain it.
        raise PullSecretError(f"{what} is not valid JSON") from None


def _unwrap_secret(document: Any) -> Mapping[str, Any]:
    """The docker config inside ``document``, unwrapping Secret-like objects."""
    if not isinstance(document, dict):
        raise PullSecretError("expected a JSON object")
    for container in (document, document.get("stringData"), document.get("data")):
        if not isinstance(container, dict):
            continue
        for name in _CONFIG_KEYS:
            if name in container:
                return _embedded_config(container[name], name)
    return document


def _embedded_config(value: Any, name: str) -> Mapping[str, Any]:
    """A docker config held in a Secret key: object, JSON text or base64 JSON."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        raise PullSecretError(f'"{name}" is not a JSON object or a string')
    text = value.strip()
    if not text.startswith("{"):
        try:
            text = _b64decode(text).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise PullSecretError(f'"{name}" is neither JSON nor base64-encoded JSON') from None
    config = _load_json(text, what=f'"{name}"')
    if not isinstance(config, dict):
        raise PullSecretError(f'"{name}" is not a JSON object')
    return config


def _credentials_of(config: Mapping[str, Any]) -> list[tuple[str, Credential]]:
    """``(key, credential)`` pairs of a ``.dockerconfigjson`` or ``.dockercfg``."""
    if "auths" in config:
        auths = config["auths"]
        if auths is None:
            return []
        if not isinstance(auths, dict):
            raise PullSecretError('"auths" is not a JSON object')
    else:
        auths = config
    pairs: list[tuple[str, Credential]] = []
    for registry, entry in auths.items():
        credential = _credential(registry, entry)
        if credential is not None:
            pairs.append((registry, credential))
    return pairs


def _credential(registry: str, entry: Any) -> Credential | None:
    if not isinstance(entry, dict):
        raise PullSecretError("entry is not a JSON object", registry=registry)
    username = _string_field(entry, "username", registry)
    password = _string_field(entry, "password", registry)
    auth = _string_field(entry, "auth", registry)
    token = _string_field(entry, "identitytoken", registry)
    if auth.strip():
        username, password = _decode_auth(auth, registry)
    if token:
        return Credential(username or IDENTITY_TOKEN_USERNAME, token, identity_token=True)
    if not username and not password:
        return None
    return Credential(username, password)


def _string_field(entry: Mapping[str, Any], name: str, registry: str) -> str:
    value = entry.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PullSecretError(f'field "{name}" is not a string', registry=registry)
    return value


def _decode_auth(auth: str, registry: str) -> tuple[str, str]:
    """Split ``base64(username:password)``, with or without padding."""
    try:
        decoded = _b64decode(auth.strip()).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise PullSecretError(
            'field "auth" is not base64(username:password)', registry=registry
        ) from None
    username, colon, password = decoded.partition(":")
    if not colon:
        raise PullSecretError('field "auth" is not base64(username:password)', registry=registry)
    return username, password


def _b64decode(text: str) -> bytes:
    """Standard base64, padding optional (Kubernetes accepts both)."""
    stripped = text.rstrip("=")
    return base64.b64decode(stripped + "=" * (-len(stripped) % 4), validate=True)


# --- matching --------------------------------------------------------------------


def _split_host_port(hostport: str) -> tuple[str, str] | None:
    """``(host, port)`` in lower case; ``None`` when there is no usable host."""
    hostport = hostport.lower()
    if "@" in hostport:
        return None  # user information in a key: not a registry address
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            return None
        host, after = hostport[1:end], hostport[end + 1 :]
        if after and not after.startswith(":"):
            return None
        separator, port = after[:1], after[1:]
    else:
        host, separator, port = hostport.partition(":")
    if not host or (separator and not _PORT.fullmatch(port)):
        return None
    return host, port


def _label_matches(pattern: str, label: str) -> bool:
    if _GLOB_CHARS & set(pattern):
        return fnmatch.fnmatchcase(label, pattern)
    return pattern == label


def _shown_key(registry: str) -> str:
    """A key as it may appear in an error: shortened, user information dropped."""
    shown = registry.rpartition("@")[2] if "@" in registry else registry
    if len(shown) > _MAX_SHOWN_KEY:
        shown = shown[:_MAX_SHOWN_KEY] + "..."
    return shown

"""Secrets the local server puts into its Secrets Manager: dev API tokens and pull secrets.

- :func:`parse_grants` reads ``DEVSERVER_TOKENS`` (grants separated by
  ``;`` or spaces, each a comma-separated list of namespaces, ``*`` for
  every namespace, optionally followed by ``=<token>`` to pin that grant's
  token; default ``demo``); :func:`make_tokens` gives each grant its
  pinned token, else the one it had at the last start (same subject, same
  namespaces), else a fresh random one; :func:`seed_tokens` stores their
  SHA-256 hashes in the token secret, in the format the authorizer reads.
- :func:`load_pull_secrets` reads ``DEVSERVER_PULL_SECRETS`` (a JSON file
  ``{"<namespace>": {<.dockerconfigjson content>}}``) and
  :func:`seed_pull_secrets` stores each as ``<prefix>/<namespace>/pull-secret``.

Tokens are kept in this process's memory, on its console and in the state
directory (:mod:`devserver.state`), never their hashes outside the token
secret; nothing here runs outside ``python -m devserver``.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOKENS_VARIABLE = "DEVSERVER_TOKENS"
PULL_SECRETS_VARIABLE = "DEVSERVER_PULL_SECRETS"
DEFAULT_GRANTS = "demo"
ALL_NAMESPACES = "*"

_NAMESPACE = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
_GRANT_SEPARATOR = re.compile(r"[;\s]+")
# A pinned token: printable ASCII without the grant separators (as a bearer
# token, it must survive an Authorization header as it is).
_PINNED_TOKEN = re.compile(r"[!-:<-~]+")


class SeedError(ValueError):
    """A ``DEVSERVER_*`` setting cannot be used; the message says why."""


@dataclass(frozen=True)
class DevToken:
    """A token made for this run, and what it grants."""

    token: str = field(repr=False)
    subject: str
    namespaces: tuple[str, ...]

    def allows(self, namespace: str) -> bool:
        return ALL_NAMESPACES in self.namespaces or namespace in self.namespaces


@dataclass(frozen=True)
class Grant:
    """One grant of ``DEVSERVER_TOKENS``: its namespaces, and its token if pinned."""

    namespaces: tuple[str, ...]
    pinned: str | None = field(default=None, repr=False)


def _check_namespace(name: str, where: str) -> None:
    if name != ALL_NAMESPACES and not _NAMESPACE.fullmatch(name):
        raise SeedError(f"{where}: {name!r} is not a namespace name (a DNS-1123 label) or '*'")


def parse_grants(text: str | None) -> list[Grant]:
    """Grants from ``DEVSERVER_TOKENS``: ``"demo=<token>; team-a,team-b; *"`` is three tokens.

    ``=<token>`` after a grant's namespaces pins its token (printable ASCII,
    no ``;`` and no space); two grants may not pin the same token.
    """
    grants = []
    for part in _GRANT_SEPARATOR.split(text if text and text.strip() else DEFAULT_GRANTS):
        if not part:
            continue
        names, separator, pinned = part.partition("=")
        if separator and not _PINNED_TOKEN.fullmatch(pinned):
            raise SeedError(
                f"{TOKENS_VARIABLE}: a pinned token must be printable ASCII without ';' or spaces"
            )
        namespaces = tuple(dict.fromkeys(n for n in names.split(",") if n))
        if not namespaces:
            raise SeedError(f"{TOKENS_VARIABLE}: a grant names no namespace")
        for name in namespaces:
            _check_namespace(name, TOKENS_VARIABLE)
        grants.append(Grant(namespaces, pinned if separator else None))
    pins = [grant.pinned for grant in grants if grant.pinned is not None]
    if len(pins) != len(set(pins)):
        raise SeedError(f"{TOKENS_VARIABLE}: two grants pin the same token")
    return grants


def make_tokens(
    grants: Sequence[Grant],
    kept: Sequence[DevToken] = (),
    new_token: Callable[[], str] = lambda: secrets.token_urlsafe(32),
) -> list[DevToken]:
    """A token per grant; subjects ``dev-1``, ``dev-2``, ...

    A grant's token is its pinned one; else the ``kept`` token (the last
    start's) of the same subject and namespaces, unless a pinned token took
    it; else a fresh one. So unchanged grants keep their tokens across
    restarts, and a changed grant gets a new token.
    """
    pinned = {grant.pinned for grant in grants if grant.pinned is not None}
    earlier = {(t.subject, t.namespaces): t.token for t in kept if t.token not in pinned}
    tokens = []
    for index, grant in enumerate(grants, start=1):
        subject = f"dev-{index}"
        token = grant.pinned or earlier.get((subject, grant.namespaces)) or new_token()
        tokens.append(DevToken(token, subject, grant.namespaces))
    return tokens


def token_document(tokens: Sequence[DevToken]) -> str:
    """The token secret's content for ``tokens``: hashes, never the tokens."""
    entries = [
        {
            "sha256": hashlib.sha256(token.token.encode("utf-8")).hexdigest(),
            "subject": token.subject,
            "namespaces": list(token.namespaces),
        }
        for token in tokens
    ]
    return json.dumps({"tokens": entries})


def put_secret(client: Any, name: str, value: str) -> None:
    """Give the secret ``name`` (a name or an ARN) the value ``value``, creating it if needed."""
    try:
        client.put_secret_value(SecretId=name, SecretString=value)
    except client.exceptions.ResourceNotFoundException:
        client.create_secret(Name=name, SecretString=value)


def seed_tokens(client: Any, secret: str, tokens: Sequence[DevToken]) -> None:
    """Store the hashes of ``tokens`` as the whole token document."""
    put_secret(client, secret, token_document(tokens))


def load_pull_secrets(path: str | Path) -> dict[str, str]:
    """Pull secrets by namespace from a JSON file ``{"<namespace>": {"auths": {...}}}``.

    Each value is the ``.dockerconfigjson`` content, as an object (or as
    the JSON text of one).
    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise SeedError(f"{PULL_SECRETS_VARIABLE}: cannot read {path}: {error}") from error
    except ValueError as error:
        raise SeedError(f"{PULL_SECRETS_VARIABLE}: {path} is not JSON") from error
    if not isinstance(document, Mapping):
        raise SeedError(f"{PULL_SECRETS_VARIABLE}: {path} is not an object of namespaces")
    pull_secrets = {}
    for namespace, content in document.items():
        if namespace == ALL_NAMESPACES:
            raise SeedError(f"{PULL_SECRETS_VARIABLE}: pull secrets belong to one namespace")
        _check_namespace(str(namespace), PULL_SECRETS_VARIABLE)
        if isinstance(content, Mapping):
            pull_secrets[str(namespace)] = json.dumps(content)
        elif isinstance(content, str):
            pull_secrets[str(namespace)] = content
        else:
            raise SeedError(
                f"{PULL_SECRETS_VARIABLE}: the pull secret of {namespace!r} is not an object"
            )
    return pull_secrets


def seed_pull_secrets(client: Any, prefix: str, pull_secrets: Mapping[str, str]) -> list[str]:
    """Store each namespace's pull secret; the secret names, in order."""
    names = []
    for namespace, content in pull_secrets.items():
        name = f"{prefix.rstrip('/')}/{namespace}/pull-secret"
        put_secret(client, name, content)
        names.append(name)
    return names

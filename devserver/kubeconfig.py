"""The kubeconfig ``make run`` writes, so kubectl reaches the local server with no other step.

One cluster (the HTTPS address, trusting the server's self-signed
certificate as ``certificate-authority-data``, never
``insecure-skip-tls-verify``), one user and one context per dev token
(named after the token's subject, in the namespace it may use: ``demo``
when it may, else its first), and the ``demo`` token's context current::

    KUBECONFIG=.devserver/kubeconfig kubectl get is -n demo

The file holds the tokens, so it is written readable by its owner only.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from devserver.seed import DevToken
from devserver.state import write_private

CLUSTER = "imagestreams-local"
EXAMPLE_NAMESPACE = "demo"
_LOOPBACK_FOR = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "": "127.0.0.1"}  # noqa: S104


def context_name(token: DevToken) -> str:
    return f"{CLUSTER}-{token.subject}"


def context_namespace(token: DevToken) -> str:
    """The namespace a token's context starts in."""
    if token.allows(EXAMPLE_NAMESPACE):
        return EXAMPLE_NAMESPACE
    return token.namespaces[0]


def client_url(url: str) -> str:
    """``url`` as a client on this machine reaches it: a wildcard address becomes loopback."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    if shown in _LOOPBACK_FOR:
        netloc = f"{_LOOPBACK_FOR[shown]}:{parts.port}" if parts.port else _LOOPBACK_FOR[shown]
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def kubeconfig_document(
    server_url: str, certificate_pem: bytes, tokens: Sequence[DevToken], current: DevToken
) -> dict[str, Any]:
    """The kubeconfig for ``tokens`` at ``server_url``; ``current``'s context is current."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": CLUSTER,
                "cluster": {
                    "server": client_url(server_url),
                    "certificate-authority-data": base64.b64encode(certificate_pem).decode(),
                },
            }
        ],
        "users": [
            {"name": context_name(token), "user": {"token": token.token}} for token in tokens
        ],
        "contexts": [
            {
                "name": context_name(token),
                "context": {
                    "cluster": CLUSTER,
                    "user": context_name(token),
                    "namespace": context_namespace(token),
                },
            }
            for token in tokens
        ],
        "current-context": context_name(current),
    }


def write_kubeconfig(
    path: Path,
    server_url: str,
    certificate_pem: bytes,
    tokens: Sequence[DevToken],
    current: DevToken,
) -> None:
    """Write the kubeconfig (0600): it holds the tokens."""
    document = kubeconfig_document(server_url, certificate_pem, tokens, current)
    text = yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
    write_private(path, text.encode("utf-8"))

"""The local server's state directory: what must outlive a restart.

The directory is ``.devserver/`` in the project root (ignored by git), or
``DEVSERVER_STATE_DIR``. It holds::

    tls/cert.pem      the HTTPS port's self-signed certificate (devserver.tls)
    tls/key.pem       its private key
    tokens.json       the dev tokens, by subject and grant
    webhook-secret    the registry webhook's shared secret
    kubeconfig        for kubectl: the HTTPS address, one context per dev token

Every file is written whole (a temporary file renamed over the old one)
and readable by its owner only (0600; directories 0700): all but the
certificate are secrets. The tokens file holds the tokens themselves, as
the console shows them, because a kubeconfig or a script made from an
earlier start must keep working; it never holds their hashes, which only
the local token secret (in moto) does.

Reading and writing only: which token or secret to use is
:mod:`devserver.seed`'s decision, what the certificate holds
:mod:`devserver.tls`'s.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devserver.seed import DevToken

STATE_DIR_VARIABLE = "DEVSERVER_STATE_DIR"
DEFAULT_STATE_DIR = ".devserver"


class StateError(OSError):
    """A file of the state directory cannot be read or written; the message says which."""


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``, readable by its owner only.

    The parent directories are made (0700) when missing. The content goes
    to a temporary file beside ``path`` first, so a reader never sees half
    of it and an interrupted write leaves the old file.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class StateDir:
    """The files of one state directory (see the module docstring)."""

    root: Path

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], project_root: Path) -> StateDir:
        """``DEVSERVER_STATE_DIR`` if set, else ``.devserver`` in ``project_root``."""
        configured = environ.get(STATE_DIR_VARIABLE, "").strip()
        root = Path(configured).expanduser() if configured else project_root / DEFAULT_STATE_DIR
        return cls(root.resolve())

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def tokens_file(self) -> Path:
        return self.root / "tokens.json"

    @property
    def webhook_secret_file(self) -> Path:
        return self.root / "webhook-secret"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    def kept_tokens(self) -> list[DevToken]:
        """The tokens of the last start; none when there was none (or the file is unusable)."""
        try:
            document = json.loads(self.tokens_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        entries = document.get("tokens") if isinstance(document, dict) else None
        kept = []
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            token, subject = entry.get("token"), entry.get("subject")
            namespaces = entry.get("namespaces")
            if (
                isinstance(token, str)
                and token
                and isinstance(subject, str)
                and isinstance(namespaces, list)
                and all(isinstance(n, str) for n in namespaces)
            ):
                kept.append(DevToken(token, subject, tuple(namespaces)))
        return kept

    def keep_tokens(self, tokens: list[DevToken]) -> None:
        entries = [
            {"subject": t.subject, "namespaces": list(t.namespaces), "token": t.token}
            for t in tokens
        ]
        self._write(self.tokens_file, json.dumps({"tokens": entries}, indent=2) + "\n")

    def kept_webhook_secret(self) -> str | None:
        try:
            value = self.webhook_secret_file.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return value or None

    def keep_webhook_secret(self, value: str) -> None:
        self._write(self.webhook_secret_file, value + "\n")

    def _write(self, path: Path, text: str) -> None:
        try:
            write_private(path, text.encode("utf-8"))
        except OSError as error:
            raise StateError(f"cannot write {path}: {error.strerror or error}") from error

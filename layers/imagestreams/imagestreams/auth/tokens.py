"""API tokens: their hashes, the document that grants them namespaces, and the policy.

A bearer token (what ``kubectl --token`` or ``curl -H "Authorization:
Bearer ..."`` sends) is never stored: the token secret holds the hex SHA-256
of its UTF-8 bytes, with the subject it stands for and the namespaces it may
use::

    {"tokens": [
      {"sha256": "<64 hex digits>", "subject": "alice", "namespaces": ["demo", "team-a"]},
      {"sha256": "<64 hex digits>", "subject": "admin", "namespaces": ["*"]}
    ]}

A namespace is a DNS-1123 label; ``"*"`` grants every namespace. An entry
that does not have this shape is skipped (and reported by index and a fixed
reason, never by content), so one bad entry locks nobody else out; a hash
that appears twice is ambiguous and grants nothing.

For a known token, :func:`build_policy` answers API Gateway with an IAM
policy that allows every route of the stage, whatever the token's
namespaces, and a context that carries its subject and namespaces. API
Gateway only authenticates, then: discovery answers every valid token, an
unknown path is the api function's 404, and a namespace the token was not
granted is the api function's Kubernetes-worded 403
(``imagestreams.api.access``, checked by every route before any work),
which a gateway's policy denial could not word. One policy for the whole
stage also suits API Gateway's cache, which reuses the answer for a token
on every route.

Pure: no I/O, no logging, no environment. Reading the secret belongs to
``imagestreams.adapters.tokens_store``; the handler in
``functions/authorizer`` turns the result into API Gateway's answer.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from imagestreams import jsondoc
from imagestreams.errors import ImageStreamsError

__all__ = [
    "ALL_NAMESPACES",
    "MethodArn",
    "SkippedEntry",
    "TokenDocumentError",
    "TokenGrant",
    "TokenTable",
    "bearer_token",
    "build_policy",
    "hash_token",
    "parse_token_document",
]

ALL_NAMESPACES = "*"
MAX_SUBJECT_LENGTH = 256

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_NAMESPACE = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
# "Bearer" in any case, one or more spaces, then the token (RFC 6750 token68,
# plus anything else printable: what counts is whether its hash is known).
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([!-~]+)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# arn:<partition>:execute-api:<region>:<account>:<api id>/<stage>/<method>/<path>
_METHOD_ARN = re.compile(
    r"arn:(?P<partition>[a-z-]+):execute-api:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<api_id>[A-Za-z0-9]+)/(?P<stage>[^/]+)/(?P<method>[A-Z]+)/(?P<path>.*)",
    re.DOTALL,
)


class TokenDocumentError(ImageStreamsError, ValueError):
    """The token secret is not a token document at all.

    ``reason`` is a fixed description, free of the secret's content.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"token document rejected: {reason}")
        self.reason = reason


def hash_token(token: str) -> str:
    """The hex SHA-256 of ``token``'s UTF-8 bytes: what the token secret stores."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value; None if it is not one."""
    if not header:
        return None
    match = _BEARER.fullmatch(header.strip())
    return match.group(1) if match else None


@dataclass(frozen=True)
class TokenGrant:
    """What one token may do: who it stands for and which namespaces it may use."""

    sha256: str = field(repr=False)
    subject: str
    namespaces: tuple[str, ...]

    @property
    def all_namespaces(self) -> bool:
        """True when the token is granted every namespace (``"*"``)."""
        return ALL_NAMESPACES in self.namespaces

    def allows(self, namespace: str) -> bool:
        """Whether the token may use ``namespace``."""
        return self.all_namespaces or namespace in self.namespaces


@dataclass(frozen=True)
class SkippedEntry:
    """An entry of the document that was not used: its index and a fixed reason."""

    index: int
    reason: str


@dataclass(frozen=True)
class TokenTable:
    """The usable grants of a token document, and the entries that were skipped."""

    grants: tuple[TokenGrant, ...] = ()
    skipped: tuple[SkippedEntry, ...] = ()

    def find(self, token: str) -> TokenGrant | None:
        """The grant whose hash is ``token``'s, if any.

        Every entry is compared, in constant time each, so the time taken
        does not depend on where (or whether) a match is found.
        """
        digest = hash_token(token).encode("ascii")
        found: TokenGrant | None = None
        for grant in self.grants:
            if hmac.compare_digest(digest, grant.sha256.encode("ascii")):
                found = grant
        return found


def parse_token_document(raw: str | bytes) -> TokenTable:
    """The grants of a token document (see the module docstring for its format).

    Raises :class:`TokenDocumentError` when ``raw`` is not JSON or has no
    ``tokens`` list; malformed entries are skipped instead.
    """
    try:
        document = jsondoc.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise TokenDocumentError("not JSON") from None
    if not isinstance(document, Mapping):
        raise TokenDocumentError("not a JSON object")
    entries = document.get("tokens")
    if not isinstance(entries, list):
        raise TokenDocumentError('no "tokens" list')

    grants: list[tuple[int, TokenGrant]] = []
    skipped: list[SkippedEntry] = []
    for index, entry in enumerate(entries):
        grant_or_reason = _grant(entry)
        if isinstance(grant_or_reason, str):
            skipped.append(SkippedEntry(index, grant_or_reason))
        else:
            grants.append((index, grant_or_reason))

    counts: dict[str, int] = {}
    for _, grant in grants:
        counts[grant.sha256] = counts.get(grant.sha256, 0) + 1
    usable = []
    for index, grant in grants:
        if counts[grant.sha256] > 1:
            skipped.append(SkippedEntry(index, "duplicate sha256"))
        else:
            usable.append(grant)
    skipped.sort(key=lambda entry: entry.index)
    return TokenTable(tuple(usable), tuple(skipped))


def _grant(entry: Any) -> TokenGrant | str:
    """The grant an entry describes, or the (fixed) reason it is unusable."""
    if not isinstance(entry, Mapping):
        return "not an object"
    digest = entry.get("sha256")
    if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest.lower()):
        return "sha256 is not 64 hex digits"
    subject = entry.get("subject")
    if not isinstance(subject, str) or not subject.strip():
        return "subject is missing"
    subject = subject.strip()
    if len(subject) > MAX_SUBJECT_LENGTH or _CONTROL.search(subject):
        return "subject is too long or has control characters"
    namespaces = entry.get("namespaces")
    if not isinstance(namespaces, list) or not all(isinstance(n, str) for n in namespaces):
        return "namespaces is not a list of strings"
    if not all(n == ALL_NAMESPACES or _NAMESPACE.fullmatch(n) for n in namespaces):
        return 'namespaces holds a name that is neither a DNS-1123 label nor "*"'
    unique = tuple(dict.fromkeys(namespaces))
    if ALL_NAMESPACES in unique:
        unique = (ALL_NAMESPACES,)
    return TokenGrant(sha256=digest.lower(), subject=subject, namespaces=unique)


# --- The policy API Gateway gets -----------------------------------------------


@dataclass(frozen=True)
class MethodArn:
    """The parts of the ``methodArn`` API Gateway sends a TOKEN authorizer."""

    partition: str
    region: str
    account: str
    api_id: str
    stage: str
    method: str
    path: str

    @classmethod
    def parse(cls, arn: str) -> MethodArn:
        """Split ``arn``; ``ValueError`` unless it is an execute-api method ARN."""
        match = _METHOD_ARN.fullmatch(arn)
        if match is None:
            raise ValueError("not an execute-api method ARN")
        return cls(**match.groupdict())

    def resource(self, method: str, path: str) -> str:
        """The ARN of ``method`` on ``path`` (no leading slash) of the same API and stage."""
        return (
            f"arn:{self.partition}:execute-api:{self.region}:{self.account}:"
            f"{self.api_id}/{self.stage}/{method}/{path}"
        )


def build_policy(grant: TokenGrant, method_arn: MethodArn) -> dict[str, Any]:
    """API Gateway's answer for a known token: principal, policy and context.

    The policy allows every method and path of ``method_arn``'s stage, for
    every grant, a grant of no namespace included: which namespaces the
    caller may use is the api function's decision, made from the context.
    Context values are strings, as API Gateway passes them on:
    ``namespaces`` is the comma-separated list (empty for none), or ``"*"``.
    """
    statement = {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": [method_arn.resource("*", "*")],
    }
    return {
        "principalId": grant.subject,
        "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
        "context": {"subject": grant.subject, "namespaces": ",".join(grant.namespaces)},
    }

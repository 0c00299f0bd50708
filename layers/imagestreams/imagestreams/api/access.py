"""Which namespaces a caller may act in (pure).

The token authorizer authenticates and puts the caller's subject and
granted namespaces into the request's authorizer context; its policy lets
every valid token reach every route. This is where namespace isolation is
enforced: every namespaced route checks here, before any registry call or
store access, and a namespace not granted is a 403 whose message follows
Kubernetes' RBAC denials.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imagestreams import errors
from imagestreams.errors import API_GROUP, UnauthenticatedError

EVERY_NAMESPACE = "*"


def granted_namespaces(authorizer: Mapping[str, Any] | None) -> frozenset[str]:
    """The namespaces the authorizer context grants (``*`` for every one)."""
    if not authorizer:
        return frozenset()
    raw = authorizer.get("namespaces")
    if not isinstance(raw, str):
        return frozenset()
    return frozenset(n.strip() for n in raw.split(",") if n.strip())


def check(
    authorizer: Mapping[str, Any] | None,
    namespace: str,
    verb: str,
    resource: str,
    name: str = "",
    group: str = API_GROUP,
) -> str:
    """The caller's subject if it may ``verb`` ``resource`` (``name``) in ``namespace``; else raise.

    No authorizer context at all is a 401 (the request was not authenticated);
    a context without this namespace is a 403.
    """
    subject = authenticated(authorizer)
    granted = granted_namespaces(authorizer)
    if EVERY_NAMESPACE in granted or namespace in granted:
        return subject
    raise errors.forbidden(subject, verb, resource, namespace, name, group)


def check_cluster(authorizer: Mapping[str, Any] | None, verb: str, resource: str) -> str:
    """The caller's subject if it may ``verb`` ``resource`` in every namespace; else raise.

    Only a grant of every namespace (``*``) reaches across them; a caller
    granted some namespaces gets the API server's cluster-scope 403.
    """
    subject = authenticated(authorizer)
    if EVERY_NAMESPACE in granted_namespaces(authorizer):
        return subject
    raise errors.forbidden_at_cluster_scope(subject, verb, resource)


def authenticated(authorizer: Mapping[str, Any] | None) -> str:
    """The caller's subject if the authorizer authenticated the request, whatever it grants.

    For what every authenticated caller may read (discovery, OpenAPI); no
    context is a 401.
    """
    if not authorizer or "namespaces" not in authorizer:
        raise UnauthenticatedError("Unauthorized")
    return str(authorizer.get("subject") or authorizer.get("principalId") or "")


_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete", "GET": "get"}


def verb_of(method: str, *, collection: bool) -> str:
    """The Kubernetes verb of an HTTP method on an object or a collection (``list``,
    ``deletecollection``), as the API server's request info names it."""
    verb = _VERBS.get(method.upper(), method.lower())
    if collection and verb == "get":
        return "list"
    if collection and verb == "delete":
        return "deletecollection"
    return verb

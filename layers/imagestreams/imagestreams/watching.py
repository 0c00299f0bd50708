"""Watch conventions of the Kubernetes API (pure): how long, from where, what is sent.

Owns the parts of a ``watch=true`` list that do not depend on the resource,
as the API server's ``serveWatch`` and watch cache behave, within what API
Gateway allows:

- how long a watch lasts: ``timeoutSeconds``, capped at :data:`MAX_SECONDS`
  (API Gateway ends an integration at 29 s, and a buffered answer must be
  sent before that), and never past the function's remaining time, nor past
  the ``timeout`` client-go sends with its request timeout (``kubectl
  --request-timeout``): the API server lets a watch outlive it because it
  streams, but a buffered watch the client gave up on would reach nobody;
- where it starts: no ``resourceVersion`` (or ``0``) sends the current
  objects as ``ADDED`` first; a version (of a list or an event) sends only
  the changes after it; one older than the store still remembers is an
  ``ERROR`` event carrying the API server's 410 ``Expired`` Status (as its
  watch cache answers); one that is not a number is a 400;
- the ``WatchEvent`` lines and the closing ``BOOKMARK`` a client asking for
  bookmarks gets, so it can resume from where the watch ended.

What changed, and in which order, is the store's business
(``StreamStore.changes``); the polling loop is ``usecases.watch``'s.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from imagestreams.errors import BadRequestError

MAX_SECONDS = 25
"""Longest watch: API Gateway's 29 s integration timeout less time to read and answer."""

_ANSWER_MARGIN = 3.0
"""Seconds of the function's time kept for answering after the watch ends."""

_CLIENT_MARGIN = 1.5
"""Seconds before the client's own timeout the answer should reach it."""

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
BOOKMARK = "BOOKMARK"
ERROR = "ERROR"


@dataclass(frozen=True)
class Event:
    """One ``WatchEvent``: its type, the object, and the version it happened at.

    ``key`` names the object (namespace and name, say), so that an object sent
    at a version is not sent again for the same or an older one.
    """

    type: str
    version: int
    key: Hashable
    object: Mapping[str, Any]


def seconds(
    timeout_seconds: int | None, remaining: float, client_timeout: float | None = None
) -> float:
    """How long a watch may last: ``timeoutSeconds`` within the cap, the time left,
    and the client's own timeout."""
    wanted = MAX_SECONDS if timeout_seconds is None or timeout_seconds <= 0 else timeout_seconds
    bounds = [float(wanted), float(MAX_SECONDS), remaining - _ANSWER_MARGIN]
    if client_timeout is not None:
        bounds.append(client_timeout - _CLIENT_MARGIN)
    return max(0.0, min(bounds))


def start_version(resource_version: str) -> int | None:
    """The version a watch resumes after; None to start with the current objects."""
    if resource_version in ("", "0"):
        return None
    if not (resource_version.isascii() and resource_version.isdigit()):
        raise BadRequestError(f'invalid resource version "{resource_version}"')
    return int(resource_version)


def expired(version: int, oldest: int) -> Event:
    """The ``ERROR`` event of a watch from a version older than what is remembered."""
    status = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"too old resource version: {version} ({oldest})",
        "reason": "Expired",
        "code": 410,
    }
    return Event(ERROR, version, None, status)


def bookmarker(wanted: bool, api_version: str, kind: str) -> Callable[[int], Event] | None:
    """The ``BOOKMARK`` a watch ends with when ``allowWatchBookmarks`` asked for one, else None."""
    if not wanted:
        return None
    return lambda version: bookmark(version, api_version, kind)


def bookmark(version: int, api_version: str, kind: str) -> Event:
    """A ``BOOKMARK``: the version everything up to has been sent, in an empty object."""
    document = {
        "kind": kind,
        "apiVersion": api_version,
        "metadata": {"resourceVersion": str(version)},
    }
    return Event(BOOKMARK, version, None, document)


def body(events: Sequence[Event]) -> str:
    """The answer of a watch: one ``WatchEvent`` JSON document a line."""
    return "".join(
        json.dumps({"type": e.type, "object": e.object}, separators=(",", ":")) + "\n"
        for e in events
    )

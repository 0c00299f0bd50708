"""Authentication and reading of registry webhook calls (pure).

A registry's notification endpoint sends the shared secret as
``Authorization: Bearer <secret>`` (distribution's ``endpoints[].headers``);
the comparison takes constant time and neither value is ever logged.
"""

from __future__ import annotations

import hmac
from typing import Any

from imagestreams import jsondoc
from imagestreams.errors import BadRequestError, UnauthenticatedError


def authenticate(header: str | None, secret: str | None) -> None:
    """Raise 401 unless ``header`` carries the shared ``secret``."""
    scheme, _, presented = (header or "").strip().partition(" ")
    if not secret or scheme.lower() != "bearer" or not presented.strip():
        raise UnauthenticatedError("Unauthorized")
    if not hmac.compare_digest(presented.strip().encode(), secret.strip().encode()):
        raise UnauthenticatedError("Unauthorized")


def envelope(body: str | None) -> dict[str, Any]:
    """The notification envelope: a JSON object with an ``events`` list (else 400)."""
    try:
        document = jsondoc.loads(body or "")
    except ValueError:
        raise BadRequestError("the notification is not valid JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("events"), list):
        raise BadRequestError("the notification must be an envelope with an events list")
    return document
